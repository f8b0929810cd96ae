//! The batch of validated protobuf events that `core:next_raw_batch` hands
//! to views (lua/mesos/view.lua): written into the Lua queue with the raw C
//! API, four values per event (its offset in the staging area or its bytes,
//! its length, its message index and its type name).

use mlua::prelude::*;

use crate::driver::Output;

/// Writes `batch` (each event with its offset in the staging area, or None
/// when it goes as a string) into `q` at 1..4n.
pub(crate) fn push(lua: &Lua, q: &LuaTable, batch: &[(Option<usize>, Output)]) -> LuaResult<()> {
    // SAFETY: q is the one argument (index 1); only numbers and
    // strings are pushed and each is stored at once; `batch`
    // lives outside the protected call, so a Lua error (out of
    // memory) there leaves nothing undropped.
    unsafe {
        lua.exec_raw::<()>(q, |l| {
            for (i, (off, out)) in batch.iter().enumerate() {
                let Output::Event(ev) = out else {
                    continue;
                };
                let Some((bytes, _, m)) = ev.raw_bytes() else {
                    continue;
                };
                let k = 4 * i as mlua::ffi::lua_Integer;
                match off {
                    Some(o) => mlua::ffi::lua_pushinteger(l, *o as mlua::ffi::lua_Integer),
                    None => {
                        mlua::ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
                    }
                }
                mlua::ffi::lua_rawseti(l, 1, k + 1);
                mlua::ffi::lua_pushinteger(l, bytes.len() as mlua::ffi::lua_Integer);
                mlua::ffi::lua_rawseti(l, 1, k + 2);
                mlua::ffi::lua_pushinteger(l, mlua::ffi::lua_Integer::from(m));
                mlua::ffi::lua_rawseti(l, 1, k + 3);
                match ev.type_name() {
                    Some(t) => {
                        mlua::ffi::lua_pushlstring(l, t.as_ptr().cast(), t.len());
                    }
                    None => mlua::ffi::lua_pushnil(l),
                }
                mlua::ffi::lua_rawseti(l, 1, k + 4);
            }
        })?;
    }
    Ok(())
}
