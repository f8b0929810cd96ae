//! The Lua module `mesos` (mlua, module mode). Thin: option parsing, table
//! conversion and userdata wrappers over the Rust core; the handler dispatch
//! and call builders live in `lua/mesos/scheduler.lua`, embedded here.

// Built without `lua` (only `lua-host`), the module entry point is absent
// and much of the binding unused.
#![cfg_attr(not(feature = "lua"), allow(dead_code, unused_imports))]

mod channel;
mod convert;
mod encode;
mod executor;
mod fast;
#[cfg(feature = "lua-host")]
pub mod host;
mod log;
mod nats;
mod opts;
mod process;
mod scheduler;
mod ship;
mod tcp;
mod view;
mod view_header;

use mlua::prelude::*;

use crate::local::LocalCluster;
use crate::wire::Encoding;
use crate::wire::codec;

const COMMON_LUA: &str = include_str!("../../lua/mesos/common.lua");
const SCHEDULER_LUA: &str = include_str!("../../lua/mesos/scheduler.lua");
const EXECUTOR_LUA: &str = include_str!("../../lua/mesos/executor_driver.lua");
const RESOURCES_LUA: &str = include_str!("../../lua/mesos/resources.lua");
const VIEW_LUA: &str = include_str!("../../lua/mesos/view.lua");

/// Pure-Lua modules compiled into the library and registered in
/// `package.preload`, so `require "mesos.x"` works wherever `mesos` loads
/// (task processes and executors on agents only need the `.so`).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "mesos.serialize",
        include_str!("../../lua/mesos/serialize.lua"),
    ),
    ("mesos.sandbox", include_str!("../../lua/mesos/sandbox.lua")),
    ("mesos.task", include_str!("../../lua/mesos/task.lua")),
    (
        "mesos.executor",
        include_str!("../../lua/mesos/executor.lua"),
    ),
    ("mesos.jobs", include_str!("../../lua/mesos/jobs.lua")),
    ("mesos.events", include_str!("../../lua/mesos/events.lua")),
    (
        "mesos.openresty",
        include_str!("../../lua/mesos/openresty.lua"),
    ),
    ("mesos.luv", include_str!("../../lua/mesos/luv.lua")),
    ("mesos.cqueues", include_str!("../../lua/mesos/cqueues.lua")),
    ("mesos.copas", include_str!("../../lua/mesos/copas.lua")),
    (
        "mesos.debugger",
        include_str!("../../lua/mesos/debugger.lua"),
    ),
];

fn register_embedded(lua: &Lua, preload: &LuaTable) -> LuaResult<()> {
    for (name, src) in EMBEDDED {
        let chunk_name = format!("@{}.lua", name.replace('.', "/"));
        let loader = lua.create_function(move |lua, ()| {
            lua.load(*src)
                .set_name(chunk_name.as_str())
                .call::<LuaValue>(())
        })?;
        // Do not shadow a module the application preloaded itself.
        if preload.get::<LuaValue>(*name)?.is_nil() {
            preload.set(*name, loader)?;
        }
    }
    Ok(())
}

/// `mesos.local_cluster(opts)`: an embedded master and agents.
struct ClusterHandle(Option<LocalCluster>);

impl LuaUserData for ClusterHandle {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("url", |_, this, ()| Ok(this.0.as_ref().map(|c| c.url())));
        m.add_method("address", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.addr().to_string()))
        });
        m.add_method("port", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.addr().port()))
        });
        m.add_method("work_dir", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.work_dir().display().to_string()))
        });
        // Agents are numbered from 1 in Lua.
        m.add_method("agent_address", |_, this, i: usize| {
            Ok(this
                .0
                .as_ref()
                .and_then(|c| c.agent_addr(i.wrapping_sub(1)))
                .map(|a| a.to_string()))
        });
        m.add_method("agent_id", |_, this, i: usize| {
            Ok(this
                .0
                .as_ref()
                .and_then(|c| c.agent_id(i.wrapping_sub(1)))
                .map(str::to_string))
        });
        for (name, op) in [
            (
                "stop_agent",
                LocalCluster::stop_agent as fn(&mut LocalCluster, usize) -> _,
            ),
            ("start_agent", LocalCluster::start_agent),
            ("restart_agent", LocalCluster::restart_agent),
        ] {
            m.add_method_mut(name, move |_, this, i: usize| match this.0.as_mut() {
                None => Ok((None, Some("cluster is stopped".to_string()))),
                Some(c) => match op(c, i.wrapping_sub(1)) {
                    Ok(()) => Ok((Some(true), None)),
                    Err(e) => Ok((None, Some(e.to_string()))),
                },
            });
        }
        // Blocks until SIGINT/SIGTERM, then stops the cluster. Returns the signal.
        m.add_method_mut("wait_for_signal", |_, this, ()| {
            let sig = crate::os::signals::wait_for_termination().map_err(LuaError::external)?;
            if let Some(mut c) = this.0.take() {
                c.stop();
            }
            Ok(sig)
        });
        m.add_method_mut("stop", |_, this, ()| {
            if let Some(mut c) = this.0.take() {
                c.stop();
            }
            Ok(true)
        });
    }
}

fn encoding_arg(name: Option<String>) -> LuaResult<Encoding> {
    match name.as_deref() {
        None => Ok(Encoding::Protobuf),
        Some(n) => Encoding::from_name(n).ok_or_else(|| {
            LuaError::runtime(format!(
                "encoding must be \"protobuf\" or \"json\", got {n:?}"
            ))
        }),
    }
}

/// A message type name as Lua gives it (`TaskStatus` or a full name).
pub(crate) fn full_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("mesos.v1.{name}")
    }
}

fn message_type(name: &str) -> LuaResult<prost_reflect::MessageDescriptor> {
    codec::descriptor(&full_name(name)).map_err(|e| LuaError::runtime(e.to_string()))
}

#[cfg(feature = "lua")]
#[mlua::lua_module]
fn mesos(lua: &Lua) -> LuaResult<LuaTable> {
    let core = lua.create_table()?;
    core.set(
        "new_scheduler",
        lua.create_function(|lua, t: LuaValue| match t {
            LuaValue::Table(t) => scheduler::new_scheduler(lua, t),
            other => Err(LuaError::runtime(format!(
                "mesos.scheduler: opts must be a table, got {}",
                other.type_name()
            ))),
        })?,
    )?;

    core.set(
        "new_executor",
        lua.create_function(|lua, t: LuaValue| match t {
            LuaValue::Table(t) => executor::new_executor(lua, t),
            LuaValue::Nil => executor::new_executor(lua, lua.create_table()?),
            other => Err(LuaError::runtime(format!(
                "mesos.executor: opts must be a table, got {}",
                other.type_name()
            ))),
        })?,
    )?;

    // mesos.encode(type, table [, "protobuf"|"json"]) -> bytes
    core.set(
        "encode",
        lua.create_function(|lua, (ty, v, enc): (String, LuaValue, Option<String>)| {
            let desc = message_type(&ty)?;
            let msg = convert::to_checked_message(&desc, &v, &format!("mesos.encode({ty})"))
                .map_err(LuaError::runtime)?;
            lua.create_string(codec::encode_dynamic(&msg, encoding_arg(enc)?))
        })?,
    )?;
    // mesos.decode(type, bytes [, encoding]) -> table | nil, err
    core.set(
        "decode",
        lua.create_function(
            |lua, (ty, bytes, enc): (String, LuaString, Option<String>)| {
                let enc = encoding_arg(enc)?;
                let full = full_name(&ty);
                // Protobuf straight into tables when the strict direct
                // decoder takes it (same tables, same acceptance).
                if enc == Encoding::Protobuf
                    && let Some(m) = crate::wire::schema::message(&full)
                    && let Some(t) = fast::decode_checked(lua, m, &bytes.as_bytes())?
                {
                    return Ok((Some(t), None));
                }
                let desc = message_type(&ty)?;
                match codec::decode_dynamic(&desc, &bytes.as_bytes(), enc, true) {
                    Ok(msg) => Ok((Some(convert::to_lua(lua, &msg)?), None)),
                    Err(e) => Ok((None, Some(e.to_string()))),
                }
            },
        )?,
    )?;
    log::register(lua, &core)?;
    let resources: LuaTable = lua
        .load(RESOURCES_LUA)
        .set_name("@mesos/resources.lua")
        .call(())?;
    let preload: LuaTable = lua.globals().get::<LuaTable>("package")?.get("preload")?;
    let r2 = resources.clone();
    preload.set(
        "mesos.resources",
        lua.create_function(move |_, ()| Ok(r2.clone()))?,
    )?;

    register_embedded(lua, &preload)?;
    // mesos.view needs the internal core (schema tables, eager decoding).
    view::register(lua, &core)?;
    let view_core = core.clone();
    preload.set(
        "mesos.view",
        lua.create_function(move |lua, ()| {
            lua.load(VIEW_LUA)
                .set_name("@mesos/view.lua")
                .call::<LuaValue>(view_core.clone())
        })?,
    )?;
    let common: LuaTable = lua
        .load(COMMON_LUA)
        .set_name("@mesos/common.lua")
        .call(())?;
    let m: LuaTable = lua
        .load(SCHEDULER_LUA)
        .set_name("@mesos/scheduler.lua")
        .call((core.clone(), resources, common.clone()))?;
    let m: LuaTable = lua
        .load(EXECUTOR_LUA)
        .set_name("@mesos/executor_driver.lua")
        .call((core.clone(), common.clone(), m))?;
    m.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
    // mesos._unknown_option(t, {names}) -> message | nil: the check behind
    // every option table, for the Lua parts' own (mesos.jobs, mesos.router).
    m.set(
        "_unknown_option",
        lua.create_function(|_, (t, known): (LuaTable, Vec<String>)| {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            opts::unknown_option(&t, &known)
        })?,
    )?;
    process::register(lua, &m)?;
    // The FrameworkInfo.user default of the scheduler face (lua/mesos/scheduler.lua).
    core.set("current_user", m.get::<LuaFunction>("current_user")?)?;
    channel::register(lua, &m)?;
    nats::register(lua, &m)?;
    tcp::register(lua, &m)?;
    ship::register(lua, &m)?;

    m.set(
        "local_cluster",
        lua.create_function(|_, t: Option<LuaTable>| {
            let t = match t {
                Some(t) => t,
                None => {
                    return Err(LuaError::runtime(
                        "mesos.local_cluster: expected an options table",
                    ));
                }
            };
            let cfg = opts::cluster_config(&opts::Opts::new(&t, "mesos.local_cluster"))?;
            match LocalCluster::start(cfg) {
                Ok(c) => Ok((Some(ClusterHandle(Some(c))), None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        })?,
    )?;
    // Last: misuse errors of the Rust-written functions at the caller's line.
    common
        .get::<LuaFunction>("wrap_rust_functions")?
        .call::<()>(m.clone())?;

    Ok(m)
}
