//! Message → Lua table through the raw C API, inside ONE protected call per
//! message. mlua's safe API protects every table operation with its own
//! `lua_pcall`, which dominated event intake (half the CPU in profiles); here
//! the whole tree is built under a single `exec_raw` protection instead.
//! The shape is exactly that of `convert::to_lua`.

use std::os::raw::c_int;

use mlua::ffi;
use mlua::prelude::*;
use prost_reflect::{DynamicMessage, Kind, MapKey, Value};

/// Lua stack slots one nesting level uses (table, key, value, spare).
const SLOTS_PER_LEVEL: c_int = 4;

/// Converts `m` into a new Lua table.
pub fn to_lua(lua: &Lua, m: &DynamicMessage) -> LuaResult<LuaTable> {
    // SAFETY: `push_message` only pushes values and leaves exactly one (the
    // table) on the stack; a Lua error (out of memory, stack overflow)
    // inside is caught by exec_raw's protected call.
    unsafe { lua.exec_raw((), |state| push_message(state, m)) }
}

unsafe fn push_str(state: *mut ffi::lua_State, s: &[u8]) {
    unsafe {
        ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
    }
}

unsafe fn push_message(state: *mut ffi::lua_State, m: &DynamicMessage) {
    unsafe {
        if ffi::lua_checkstack(state, SLOTS_PER_LEVEL) == 0 {
            ffi::luaL_error(state, c"message nested too deeply".as_ptr());
        }
        let fields: Vec<_> = m.fields().collect();
        ffi::lua_createtable(state, 0, fields.len() as c_int);
        for (f, v) in fields {
            push_str(state, f.name().as_bytes());
            push_field(state, &f.kind(), v);
            ffi::lua_rawset(state, -3);
        }
    }
}

unsafe fn push_field(state: *mut ffi::lua_State, kind: &Kind, v: &Value) {
    unsafe {
        match v {
            Value::List(items) => {
                ffi::lua_createtable(state, items.len() as c_int, 0);
                for (i, it) in items.iter().enumerate() {
                    push_value(state, kind, it);
                    ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
                }
            }
            Value::Map(map) => {
                let vk = match kind {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    k => k.clone(),
                };
                ffi::lua_createtable(state, 0, map.len() as c_int);
                for (k, it) in map {
                    match k {
                        MapKey::String(s) => push_str(state, s.as_bytes()),
                        MapKey::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
                        MapKey::I32(n) => ffi::lua_pushnumber(state, f64::from(*n)),
                        MapKey::I64(n) => ffi::lua_pushnumber(state, *n as f64),
                        MapKey::U32(n) => ffi::lua_pushnumber(state, f64::from(*n)),
                        MapKey::U64(n) => ffi::lua_pushnumber(state, *n as f64),
                    }
                    push_value(state, &vk, it);
                    ffi::lua_rawset(state, -3);
                }
            }
            other => push_value(state, kind, other),
        }
    }
}

unsafe fn push_value(state: *mut ffi::lua_State, kind: &Kind, v: &Value) {
    unsafe {
        match v {
            Value::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
            Value::I32(n) => ffi::lua_pushnumber(state, f64::from(*n)),
            Value::I64(n) => ffi::lua_pushnumber(state, *n as f64),
            Value::U32(n) => ffi::lua_pushnumber(state, f64::from(*n)),
            Value::U64(n) => ffi::lua_pushnumber(state, *n as f64),
            Value::F32(x) => ffi::lua_pushnumber(state, f64::from(*x)),
            Value::F64(x) => ffi::lua_pushnumber(state, *x),
            Value::String(s) => push_str(state, s.as_bytes()),
            Value::Bytes(b) => push_str(state, b),
            Value::EnumNumber(n) => match kind {
                Kind::Enum(e) => match e.get_value(*n) {
                    Some(ev) => push_str(state, ev.name().as_bytes()),
                    None => ffi::lua_pushnumber(state, f64::from(*n)),
                },
                _ => ffi::lua_pushnumber(state, f64::from(*n)),
            },
            Value::Message(m) => push_message(state, m),
            Value::List(_) | Value::Map(_) => push_field(state, kind, v),
        }
    }
}

// ------------------------------------------------- wire bytes -> Lua tables

use crate::wire::direct::{Fallback, Scalar, Sink};
use crate::wire::schema::{self, Field};

/// Builds Lua tables on a Lua stack for `wire::direct`: slot k is stack
/// index `base + k`. Field and enum value names are pushed from `names`,
/// a table of every schema name as an interned Lua string (index
/// `id + 1`), so no key is hashed and looked up again.
struct LuaSink<const STRICT: bool> {
    state: *mut ffi::lua_State,
    base: c_int,
    names: c_int,
}

impl<const STRICT: bool> LuaSink<STRICT> {
    #[inline]
    fn idx(&self, slot: i32) -> c_int {
        self.base + slot
    }

    #[inline]
    unsafe fn push_name(&self, id: u32) {
        unsafe {
            ffi::lua_rawgeti(self.state, self.names, ffi::lua_Integer::from(id) + 1);
        }
    }

    #[inline]
    unsafe fn push(&self, v: Scalar<'_>) {
        unsafe {
            match v {
                Scalar::Num(x) => ffi::lua_pushnumber(self.state, x),
                Scalar::Bool(b) => ffi::lua_pushboolean(self.state, c_int::from(b)),
                Scalar::Str(s) => push_str(self.state, s),
                Scalar::Enum(name) => self.push_name(name.id),
            }
        }
    }
}

// SAFETY (all methods): `state` is the Lua state of the protected call
// `decode` runs in, the decoder only names slots it pushed, and `grow` has
// reserved the stack space each nesting level uses.
impl<const STRICT: bool> Sink for LuaSink<STRICT> {
    const STRICT: bool = STRICT;
    #[inline]
    fn top(&self) -> i32 {
        unsafe { ffi::lua_gettop(self.state) - self.base }
    }
    #[inline]
    fn settop(&mut self, slot: i32) {
        unsafe { ffi::lua_settop(self.state, self.base + slot) }
    }
    #[inline]
    fn grow(&mut self) -> Result<(), Fallback> {
        match unsafe { ffi::lua_checkstack(self.state, 2 * SLOTS_PER_LEVEL) } {
            0 => Err(Fallback),
            _ => Ok(()),
        }
    }
    #[inline]
    fn new_table(&mut self, narr: usize, nrec: usize) {
        unsafe { ffi::lua_createtable(self.state, size(narr), size(nrec)) }
    }
    #[inline]
    fn set(&mut self, t: i32, key: &'static Field, v: Scalar<'_>) {
        unsafe {
            self.push_name(key.name_id);
            self.push(v);
            ffi::lua_rawset(self.state, self.idx(t));
        }
    }
    #[inline]
    fn unset(&mut self, t: i32, key: &'static Field) {
        unsafe {
            self.push_name(key.name_id);
            ffi::lua_pushnil(self.state);
            ffi::lua_rawset(self.state, self.idx(t));
        }
    }
    #[inline]
    fn child(&mut self, t: i32, key: &'static Field, narr: usize, nrec: usize) -> usize {
        unsafe {
            let l = self.state;
            self.push_name(key.name_id);
            ffi::lua_rawget(l, self.idx(t));
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                return ffi::lua_rawlen(l, -1);
            }
            ffi::lua_settop(l, -2);
            ffi::lua_createtable(l, size(narr), size(nrec));
            self.push_name(key.name_id);
            ffi::lua_pushvalue(l, -2);
            ffi::lua_rawset(l, self.idx(t));
            0
        }
    }
    #[inline]
    fn new_child(&mut self, t: i32, key: &'static Field, narr: usize, nrec: usize) {
        unsafe {
            let l = self.state;
            ffi::lua_createtable(l, size(narr), size(nrec));
            self.push_name(key.name_id);
            ffi::lua_pushvalue(l, -2);
            ffi::lua_rawset(l, self.idx(t));
        }
    }
    #[inline]
    fn seti(&mut self, t: i32, i: usize, v: Scalar<'_>) {
        unsafe {
            self.push(v);
            ffi::lua_rawseti(self.state, self.idx(t), i as ffi::lua_Integer);
        }
    }
    #[inline]
    fn child_at(&mut self, t: i32, i: usize, nrec: usize) {
        unsafe {
            ffi::lua_createtable(self.state, 0, size(nrec));
            ffi::lua_pushvalue(self.state, -1);
            ffi::lua_rawseti(self.state, self.idx(t), i as ffi::lua_Integer);
        }
    }
    #[inline]
    fn set_kv(&mut self, t: i32, k: Scalar<'_>, v: Scalar<'_>) {
        unsafe {
            self.push(k);
            self.push(v);
            ffi::lua_rawset(self.state, self.idx(t));
        }
    }
    #[inline]
    fn set_k_top(&mut self, t: i32, k: Scalar<'_>) {
        unsafe {
            self.push(k);
            ffi::lua_pushvalue(self.state, -2);
            ffi::lua_rawset(self.state, self.idx(t));
            ffi::lua_settop(self.state, -2);
        }
    }
}

/// A size hint as `lua_createtable` takes it (bounded: it is only a hint).
#[inline]
fn size(n: usize) -> c_int {
    n.min(1 << 16) as c_int
}

/// Every schema name as a Lua string, in a table kept in the Lua state's
/// app data (made once per state).
struct Names(LuaTable);

pub(crate) fn names(lua: &Lua) -> LuaResult<LuaTable> {
    if let Some(n) = lua.app_data_ref::<Names>() {
        return Ok(n.0.clone());
    }
    let t = lua.create_table_with_capacity(schema::NAME_COUNT, 0)?;
    for (i, name) in schema::NAMES.iter().enumerate() {
        t.raw_set(i + 1, *name)?;
    }
    lua.set_app_data(Names(t.clone()));
    Ok(t)
}

/// Decodes `bytes` of message `m` (a `schema` index) in `enc` straight into
/// a new Lua table; `None` when the bytes need the descriptor-based path
/// (`wire::direct::Fallback`).
pub fn decode(
    lua: &Lua,
    m: u16,
    bytes: &[u8],
    enc: crate::wire::Encoding,
) -> LuaResult<Option<LuaTable>> {
    decode_as::<false>(lua, m, bytes, enc)
}

/// `decode`, strictly for protobuf (`wire::direct::Sink::STRICT`): falls
/// back where the descriptor-based path with its required-field check
/// would read the bytes differently or reject them (for `mesos.decode`).
pub fn decode_checked(lua: &Lua, m: u16, bytes: &[u8]) -> LuaResult<Option<LuaTable>> {
    decode_as::<true>(lua, m, bytes, crate::wire::Encoding::Protobuf)
}

fn decode_as<const STRICT: bool>(
    lua: &Lua,
    m: u16,
    bytes: &[u8],
    enc: crate::wire::Encoding,
) -> LuaResult<Option<LuaTable>> {
    let names = names(lua)?;
    // SAFETY: the sink only pushes values and addresses slots it pushed; on
    // a fallback the stack is reset and nil returned; a Lua error (out of
    // memory) inside is caught by exec_raw's protected call, and the
    // decoder holds nothing that needs dropping. The names table is the
    // one argument, at index 1.
    unsafe {
        lua.exec_raw(names, |state| {
            let base = ffi::lua_gettop(state);
            let mut sink = LuaSink::<STRICT> {
                state,
                base,
                names: 1,
            };
            match crate::wire::direct::decode(&mut sink, m, bytes, enc) {
                Ok(()) => {
                    // Only the table is returned.
                    ffi::lua_replace(state, 1);
                    ffi::lua_settop(state, 1);
                }
                Err(Fallback) => {
                    ffi::lua_settop(state, 0);
                    ffi::lua_pushnil(state);
                }
            }
        })
    }
}
