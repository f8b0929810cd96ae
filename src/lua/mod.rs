//! The Lua module `mesos` (mlua, module mode). Thin: option parsing, table
//! conversion and userdata over the Rust core; the Lua face lives in
//! `lua/mesos/` (its root is `lua/mesos/root.lua`), embedded here.
//!
//! - `convert/`: Lua values <-> Mesos messages (all the raw C-API code);
//! - `userdata/`: the objects and functions Lua gets (drivers, the local
//!   cluster, channels, NATS, TCP, processes, shipping the library);
//! - `opts.rs` (option tables), `log.rs` (the log sink), `embedded.rs` (the
//!   Lua files), `host.rs` (fuzz harnesses in a Rust-owned Lua state).
//!
//! `luaopen_mesos` builds two tables: the internal core (`mesos._core`:
//! driver constructors, codecs, view readers, logging) and the public
//! Rust-written functions (`core.api`), then runs the root, which makes the
//! module from them. May import every layer below the binding.

// Built without `lua` (only `lua-host`), the module entry point is absent
// and much of the binding unused.
#![cfg_attr(not(feature = "lua"), allow(dead_code, unused_imports))]

mod convert;
mod embedded;
#[cfg(feature = "lua-host")]
pub mod host;
mod log;
mod opts;
mod userdata;

use mlua::prelude::*;

use crate::wire::Encoding;
use crate::wire::codec;

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
            LuaValue::Table(t) => userdata::scheduler_core::new_scheduler(lua, t),
            other => Err(LuaError::runtime(format!(
                "mesos.scheduler: opts must be a table, got {}",
                other.type_name()
            ))),
        })?,
    )?;

    core.set(
        "new_executor",
        lua.create_function(|lua, t: LuaValue| match t {
            LuaValue::Table(t) => userdata::executor_core::new_executor(lua, t),
            LuaValue::Nil => userdata::executor_core::new_executor(lua, lua.create_table()?),
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
                    && let Some(t) = convert::fast::decode_checked(lua, m, &bytes.as_bytes())?
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
    // mesos.view's readers of the schema and of views.
    convert::views::register(lua, &core)?;
    core.set("version", env!("CARGO_PKG_VERSION"))?;

    // The public functions written in Rust; the root puts them in the module.
    let api = lua.create_table()?;
    // mesos._unknown_option(t, {names}) -> message | nil: the check behind
    // every option table, for the Lua parts' own (mesos.jobs, mesos.router).
    api.set(
        "_unknown_option",
        lua.create_function(|_, (t, known): (LuaTable, Vec<String>)| {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            opts::unknown_option(&t, &known)
        })?,
    )?;
    userdata::register(lua, &api)?;
    // The FrameworkInfo.user default of the scheduler face.
    core.set("current_user", api.get::<LuaFunction>("current_user")?)?;
    core.set("api", api)?;

    embedded::register(lua, core)?;
    lua.globals()
        .get::<LuaFunction>("require")?
        .call("mesos.root")
}
