//! Fuzz harnesses for the Lua side of the binding, in a Rust program that
//! owns a Lua state (feature `lua-host`; the module itself never has one):
//!
//! - [`lua_to_call`]: a Lua table built from the fuzz bytes (out of the real
//!   field and enum names, odd numbers, bytes that are not UTF-8, nesting)
//!   goes through the conversions behind `driver:send`/`driver:update`:
//!   it must give a Call or a clear error, and a Call must encode and decode;
//! - [`event_to_lua`]: bytes that decode as an Event become a Lua table
//!   through the raw C API path (`fast.rs`) and must convert back.

use std::cell::RefCell;

use mlua::prelude::*;

use super::convert;
use crate::driver::Output;
use crate::fuzzing::{Bytes, vocabulary};
use crate::wire::codec::{self, Encoding};

struct State {
    lua: Lua,
    words: Vec<String>,
    runs: u32,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state(f: impl FnOnce(&Lua, &[String])) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            lua: Lua::new(),
            words: vocabulary(),
            runs: 0,
        });
        st.runs += 1;
        f(&st.lua, &st.words);
        if st.runs % 256 == 0 {
            let _ = st.lua.gc_collect();
        }
    });
}

fn word<'a>(b: &mut Bytes<'_>, words: &'a [String]) -> &'a str {
    let i = usize::from(b.byte()) << 8 | usize::from(b.byte());
    words.get(i % words.len().max(1)).map_or("", String::as_str)
}

/// Builds a Lua value from the fuzz bytes.
fn value(lua: &Lua, b: &mut Bytes<'_>, words: &[String], depth: u32) -> LuaResult<LuaValue> {
    if b.is_empty() {
        return Ok(LuaValue::Nil);
    }
    Ok(match b.byte() % 10 {
        0 => LuaValue::Nil,
        1 => LuaValue::Boolean(b.byte() & 1 == 1),
        2 => LuaValue::Integer(b.u64() as i64),
        3 => LuaValue::Number(f64::from_bits(b.u64())),
        4 => LuaValue::Number(f64::from(b.byte()) - 8.0),
        5 | 6 => LuaValue::String(lua.create_string(word(b, words))?),
        7 => {
            let n = usize::from(b.byte() % 24);
            LuaValue::String(lua.create_string(b.take(n))?)
        }
        _ if depth > 12 => LuaValue::Nil,
        _ => {
            let t = lua.create_table()?;
            let n = b.byte() % 8;
            for _ in 0..n {
                let key = match b.byte() % 4 {
                    0 => LuaValue::Integer(i64::from(b.byte() % 5)),
                    1 => LuaValue::Boolean(true),
                    _ => LuaValue::String(lua.create_string(word(b, words))?),
                };
                let v = value(lua, b, words, depth + 1)?;
                t.raw_set(key, v)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// Lua table → scheduler Call and → TaskStatus.
pub fn lua_to_call(data: &[u8]) {
    with_state(|lua, words| {
        let mut b = Bytes::new(data);
        let Ok(v) = value(lua, &mut b, words, 0) else {
            return;
        };
        // The shape users write: a table with a call type.
        if let LuaValue::Table(t) = &v {
            let _ = t.raw_set("type", word(&mut b, words));
        }
        // The direct encoder agrees with the descriptor-based path whenever
        // it takes the table.
        let by_descriptor = super::userdata::scheduler_core::call_from_lua_by_descriptor(&v);
        match super::convert::direct::<crate::wire::pb::scheduler::Call>(
            lua,
            "mesos.v1.scheduler.Call",
            &v,
        ) {
            Ok(Some(fast)) => match &by_descriptor {
                Ok(slow) => assert_eq!(&fast, slow, "direct and descriptor-based Calls differ"),
                Err(e) => panic!("the direct encoder takes a table the other path rejects: {e}"),
            },
            Ok(None) => {}
            Err(e) => panic!("the direct encoder raised a Lua error: {e}"),
        }
        if let Ok(call) = super::userdata::scheduler_core::call_from_lua(lua, &v) {
            for enc in [Encoding::Protobuf, Encoding::Json] {
                let bytes = codec::encode(&call, enc);
                if let Err(e) =
                    codec::decode::<crate::wire::pb::scheduler::Call>(&bytes, enc, false)
                {
                    panic!("a Call built from Lua does not decode in {enc:?}: {e}");
                }
            }
        }
        if let Ok(st) = super::userdata::executor_core::status_from_lua(lua, &v) {
            let bytes = codec::encode(&st, Encoding::Json);
            if let Err(e) =
                codec::decode::<crate::wire::pb::TaskStatus>(&bytes, Encoding::Json, true)
            {
                panic!("a TaskStatus built from Lua does not decode: {e}");
            }
        }
    });
}

/// Event bytes (first byte: encoding) → Lua table (raw C API path) → back.
pub fn event_to_lua(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let enc = if sel & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let name = if sel & 2 == 0 {
        "mesos.v1.scheduler.Event"
    } else {
        "mesos.v1.executor.Event"
    };
    let Ok(desc) = codec::descriptor(name) else {
        panic!("{name} is not in the pool");
    };
    let Ok(msg) = codec::decode_dynamic(&desc, bytes, enc, true) else {
        return;
    };
    with_state(|lua, _| {
        let top = lua.globals().raw_len();
        let out = match convert::output_to_lua(lua, Some(Output::Event(msg.into()))) {
            Ok(out) => out,
            Err(e) => panic!("a decoded {name} does not become a Lua table: {e}"),
        };
        let Some(LuaValue::Table(t)) = out.get(1) else {
            panic!("no event table");
        };
        if let Err(e) = convert::to_message(&desc, &LuaValue::Table(t.clone()), "") {
            panic!("a {name} converted to Lua does not convert back: {e}");
        }
        assert_eq!(top, lua.globals().raw_len());
    });
}

/// Deep equality of two Lua values as the converters make them (tables of
/// strings, numbers, booleans and tables; NaN equals NaN).
fn same(a: &LuaValue, b: &LuaValue) -> bool {
    match (a, b) {
        (LuaValue::Table(x), LuaValue::Table(y)) => {
            let count = |t: &LuaTable| t.pairs::<LuaValue, LuaValue>().count();
            count(x) == count(y)
                && x.pairs::<LuaValue, LuaValue>().all(|kv| match kv {
                    Ok((k, v)) => y.raw_get::<LuaValue>(k).is_ok_and(|w| same(&v, &w)),
                    Err(_) => false,
                })
        }
        (LuaValue::Number(x), LuaValue::Number(y)) => x == y || (x.is_nan() && y.is_nan()),
        (LuaValue::Integer(x), LuaValue::Integer(y)) => x == y,
        (LuaValue::String(x), LuaValue::String(y)) => x.as_bytes() == y.as_bytes(),
        (LuaValue::Boolean(x), LuaValue::Boolean(y)) => x == y,
        _ => false,
    }
}

/// Bytes (first byte: encoding) → Lua tables straight (`fast::decode`, the
/// driver's event path) against the descriptor-based path
/// (`decode_dynamic`, then `fast::to_lua`), for each message type: whatever
/// the direct path accepts, the other accepts too, with deep-equal tables.
pub fn direct_to_lua(data: &[u8]) {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let enc = if sel & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    with_state(|lua, _| {
        for name in [
            "mesos.v1.scheduler.Event",
            "mesos.v1.executor.Event",
            "mesos.v1.scheduler.Call",
            "mesos.v1.executor.Call",
        ] {
            let (Ok(desc), Some(m)) = (codec::descriptor(name), crate::wire::schema::message(name))
            else {
                panic!("{name} is not in the schema");
            };
            let new = match super::convert::fast::decode(lua, m, data, enc) {
                Ok(new) => new,
                Err(e) => panic!("{name}: direct decode raised a Lua error: {e}"),
            };
            let Some(new) = new else { continue };
            let old = match codec::decode_dynamic(&desc, data, enc, false) {
                Ok(old) => old,
                Err(e) => panic!("{name}: direct accepts what the old path rejects: {e}"),
            };
            let old = match convert::to_lua(lua, &old) {
                Ok(t) => t,
                Err(e) => panic!("{name}: {e}"),
            };
            assert!(
                same(&LuaValue::Table(new), &LuaValue::Table(old)),
                "{name}: the direct Lua tables differ from the descriptor-based ones"
            );
        }
    });
}
