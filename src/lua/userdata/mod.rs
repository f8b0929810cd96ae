//! What Lua gets as objects and functions: the drivers' cores
//! (`scheduler`, `executor`, wrapped by lua/mesos/driver/), the local
//! cluster, message channels between a task and its executor, NATS and TCP
//! clients, processes and zygotes, and shipping the library to agents.
//! May import: `crate::lua::{convert, opts, log}` and the layers below the
//! binding; one file here may use another's type (a process's channel).

mod channel;
mod cluster;
pub(crate) mod executor_core;
mod nats;
mod process;
pub(crate) mod scheduler_core;
mod ship;
mod tcp;

use mlua::prelude::*;

/// Puts the public Rust-written functions into `api`.
pub fn register(lua: &Lua, api: &LuaTable) -> LuaResult<()> {
    process::register(lua, api)?;
    channel::register(lua, api)?;
    nats::register(lua, api)?;
    tcp::register(lua, api)?;
    ship::register(lua, api)?;
    cluster::register(lua, api)?;
    Ok(())
}
