//! `set_log(level [, fn])`, `log_level()`, `flush_log()`, `log(level, msg)`
//! (exposed as `mesos.*` by scheduler.lua):
//! the Lua face of [`crate::log`]. With a function, records are queued by
//! whatever thread logged them and handed to it here, on the Lua thread,
//! whenever a driver is polled or `flush_log` is called.

use mlua::prelude::*;

use crate::log;

const FN_KEY: &str = "mesos.log_fn";

/// Hands queued records to this state's log function, if it has one.
/// Errors from the function are written to stderr, never raised into the
/// driver's loop. Returns how many records were delivered.
pub fn deliver(lua: &Lua) -> LuaResult<usize> {
    if log::pending() == 0 {
        return Ok(0);
    }
    let f = match lua.named_registry_value::<LuaValue>(FN_KEY)? {
        LuaValue::Function(f) => f,
        _ => return Ok(0), // another Lua state in this process owns the sink
    };
    let records = log::drain();
    for r in &records {
        if let Err(e) = f.call::<()>((r.level.name(), r.message.as_str(), r.source)) {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            eprintln!("mesos: the log function failed: {first}");
        }
    }
    Ok(records.len())
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    m.set(
        "set_log",
        lua.create_function(|lua, (level, f): (LuaValue, LuaValue)| {
            match &level {
                LuaValue::Nil => {}
                LuaValue::String(s) => {
                    let l = log::parse_level(&s.to_str()?)
                        .map_err(|e| LuaError::runtime(format!("mesos.set_log: {e}")))?;
                    log::set_level(l);
                }
                other => {
                    return Err(LuaError::runtime(format!(
                        "mesos.set_log: level must be a string, got {}",
                        other.type_name()
                    )));
                }
            }
            match f {
                LuaValue::Function(f) => {
                    lua.set_named_registry_value(FN_KEY, f)?;
                    log::capture(true);
                }
                LuaValue::Nil | LuaValue::Boolean(false) => {
                    lua.set_named_registry_value(FN_KEY, LuaValue::Nil)?;
                    log::capture(false);
                }
                other => {
                    return Err(LuaError::runtime(format!(
                        "mesos.set_log: the sink must be a function (or nil for stderr), got {}",
                        other.type_name()
                    )));
                }
            }
            Ok(true)
        })?,
    )?;
    m.set(
        "log_level",
        lua.create_function(|_, ()| Ok(log::level().map_or("off", |l| l.name())))?,
    )?;
    m.set("flush_log", lua.create_function(|lua, ()| deliver(lua))?)?;
    // mesos.log(level, message): the same sink, for Lua code of ours
    // (mesolua, the Lua executor) and for applications.
    m.set(
        "log",
        lua.create_function(|_, (level, msg): (String, LuaValue)| {
            let l = log::parse_level(&level)
                .map_err(|e| LuaError::runtime(format!("mesos.log: {e}")))?
                .ok_or_else(|| LuaError::runtime("mesos.log: \"off\" is not a level"))?;
            if log::enabled(l) {
                let text = match msg {
                    LuaValue::String(s) => s.to_string_lossy(),
                    other => other.to_string()?,
                };
                log::emit(l, "lua", text);
            }
            Ok(())
        })?,
    )?;
    Ok(())
}
