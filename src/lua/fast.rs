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
