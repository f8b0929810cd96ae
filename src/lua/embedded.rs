//! The Lua files of `lua/mesos/`, compiled into the library (the list is
//! made by build.rs) and all loaded one way: registered in
//! `package.preload` under their module names, so `require "mesos.x"` works
//! wherever the library loads (task processes and executors on agents need
//! only the `.so`). The internal core goes there too, as `mesos._core`.

use mlua::prelude::*;

include!(concat!(env!("OUT_DIR"), "/embedded_lua.rs"));

/// Registers every file, and `core` as `mesos._core`. A module the
/// application preloaded itself is not shadowed.
pub fn register(lua: &Lua, core: LuaTable) -> LuaResult<()> {
    let preload: LuaTable = lua.globals().get::<LuaTable>("package")?.get("preload")?;
    preload.set(
        "mesos._core",
        lua.create_function(move |_, ()| Ok(core.clone()))?,
    )?;
    for (name, src) in FILES {
        if !preload.get::<LuaValue>(*name)?.is_nil() {
            continue;
        }
        let chunk_name = format!("@{}.lua", name.replace('.', "/"));
        let loader = lua.create_function(move |lua, ()| {
            lua.load(*src)
                .set_name(chunk_name.as_str())
                .call::<LuaValue>(())
        })?;
        preload.set(*name, loader)?;
    }
    Ok(())
}
