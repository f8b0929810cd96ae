//! The executor driver as Lua userdata (wrapped by
//! `lua/mesos/driver/executor.lua`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlua::prelude::*;

use crate::executor::driver::{Driver, Options};
use crate::executor::env::ExecutorEnv;
use crate::lua::convert;
use crate::lua::opts::Opts;
use crate::wire::Encoding;
use crate::wire::codec;
use crate::wire::pb::TaskStatus;

pub struct ExecutorCore {
    driver: RefCell<Driver>,
    started: Cell<bool>,
}

/// Option name → environment variable it overrides.
const OVERRIDES: &[(&str, &str)] = &[
    ("framework_id", "MESOS_FRAMEWORK_ID"),
    ("executor_id", "MESOS_EXECUTOR_ID"),
    ("agent_endpoint", "MESOS_AGENT_ENDPOINT"),
    ("agent_id", "MESOS_SLAVE_ID"),
    ("recovery_timeout", "MESOS_RECOVERY_TIMEOUT"),
    ("subscription_backoff_max", "MESOS_SUBSCRIPTION_BACKOFF_MAX"),
    (
        "shutdown_grace_period",
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
    ),
    ("token", "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
];

/// The options of `mesos.executor` besides the [`OVERRIDES`].
const EXECUTOR_OPTIONS: &[&str] = &[
    "checkpoint",
    "encoding",
    "queue_size",
    "ca_file",
    "shutdown_watchdog",
    "max_payload_bytes",
];

/// `core.new_executor(opts)`.
pub fn new_executor(_lua: &Lua, t: LuaTable) -> LuaResult<ExecutorCore> {
    let o = Opts::new(&t, "mesos.executor");
    let known: Vec<&str> = OVERRIDES
        .iter()
        .map(|(k, _)| *k)
        .chain(EXECUTOR_OPTIONS.iter().copied())
        .collect();
    o.only(&known)?;
    let mut over: HashMap<&str, String> = HashMap::new();
    for (opt, var) in OVERRIDES {
        let v = match t.get::<LuaValue>(*opt)? {
            LuaValue::Nil => continue,
            LuaValue::String(s) => s.to_str()?.to_string(),
            // Durations may be given as seconds.
            LuaValue::Integer(i) => format!("{i}secs"),
            LuaValue::Number(n) => format!("{n}secs"),
            other => {
                return Err(LuaError::runtime(format!(
                    "mesos.executor: opts.{opt} must be a string, got {}",
                    other.type_name()
                )));
            }
        };
        over.insert(var, v);
    }
    // An address given by the caller is the one to use: the agent's pid and
    // domain socket (which would win) no longer count.
    if over.contains_key("MESOS_AGENT_ENDPOINT") {
        over.insert("MESOS_SLAVE_PID", String::new());
        over.insert("MESOS_DOMAIN_SOCKET", String::new());
    }
    match t.get::<LuaValue>("checkpoint")? {
        LuaValue::Nil => {}
        LuaValue::Boolean(b) => {
            over.insert("MESOS_CHECKPOINT", if b { "1" } else { "0" }.into());
        }
        other => {
            return Err(LuaError::runtime(format!(
                "mesos.executor: opts.checkpoint must be a boolean, got {}",
                other.type_name()
            )));
        }
    }
    let env = ExecutorEnv::from_lookup(|k| over.get(k).cloned().or_else(|| std::env::var(k).ok()))
        .map_err(|e| LuaError::runtime(format!("mesos.executor: {e}")))?;
    let mut opts = Options::new(env);
    if let Some(enc) = o.string("encoding")? {
        opts.encoding = Encoding::from_name(&enc).ok_or_else(|| {
            LuaError::runtime(format!(
                "mesos.executor: opts.encoding must be \"protobuf\" or \"json\", got {enc:?}"
            ))
        })?;
    }
    if let Some(n) = o.integer("queue_size")? {
        opts.queue_size = usize::try_from(n.max(1)).unwrap_or(1);
    }
    if let Some(f) = o.ca_file()? {
        opts.ca_file = Some(f);
    }
    if let Some(b) = o.boolean("shutdown_watchdog")? {
        opts.shutdown_watchdog = b;
    }
    if let Some(n) = o.payload_limit()? {
        opts.max_payload = n;
    }
    let driver =
        Driver::new(opts).map_err(|e| LuaError::runtime(format!("mesos.executor: {e}")))?;
    Ok(ExecutorCore {
        driver: RefCell::new(driver),
        started: Cell::new(false),
    })
}

pub(crate) fn status_from_lua(lua: &Lua, v: &LuaValue) -> LuaResult<TaskStatus> {
    if let Some(st) = crate::lua::convert::direct(lua, "mesos.v1.TaskStatus", v)? {
        return Ok(st);
    }
    let desc = codec::descriptor("mesos.v1.TaskStatus").map_err(LuaError::external)?;
    let m =
        convert::to_checked_message(&desc, v, "mesos: bad update").map_err(LuaError::runtime)?;
    m.transcode_to::<TaskStatus>()
        .map_err(|e| LuaError::runtime(format!("mesos: bad update: {e}")))
}

impl LuaUserData for ExecutorCore {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("start", |_, this, ()| {
            Ok(convert::start_once(&this.started, || {
                this.driver.borrow_mut().start()
            }))
        });
        m.add_method("update", |lua, this, status: LuaValue| {
            let st = status_from_lua(lua, &status)?;
            match this.driver.borrow().update(st) {
                Ok(uuid) => Ok((Some(lua.create_string(&uuid)?), None)),
                Err(crate::executor::driver::ExecutorError::BadUpdate(e)) => {
                    Err(LuaError::runtime(format!("mesos: bad update: {e}")))
                }
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        });
        m.add_method("message", |_, this, data: LuaValue| {
            let LuaValue::String(s) = data else {
                return Err(LuaError::runtime(format!(
                    "mesos: message data must be a string, got {}",
                    data.type_name()
                )));
            };
            Ok(convert::nil_err(
                this.driver
                    .borrow()
                    .message(s.as_bytes().to_vec())
                    .map(|()| true),
            ))
        });
        m.add_method("next", |lua, this, timeout: Option<f64>| {
            let t = Duration::from_secs_f64(timeout.unwrap_or(0.0).clamp(0.0, 1e6));
            let out = this.driver.borrow().recv(t);
            crate::lua::log::deliver(lua)?;
            convert::output_to_lua(lua, out)
        });
        m.add_method("stop", |_, this, ()| {
            this.driver.borrow_mut().stop();
            Ok(true)
        });
        m.add_method("abort", |_, this, ()| {
            this.driver.borrow_mut().stop();
            Ok(true)
        });
        m.add_method("fd", |_, this, ()| Ok(this.driver.borrow().fd()));
        m.add_method("pending", |_, this, ()| Ok(this.driver.borrow().pending()));
        m.add_method("state", |_, this, ()| {
            if !this.started.get() {
                return Ok("idle");
            }
            Ok(this.driver.borrow().phase().name())
        });
        m.add_method("agent_id", |_, this, ()| {
            Ok(this.driver.borrow().agent_id())
        });
        m.add_method("shutdown_grace_period", |_, this, ()| {
            Ok(this.driver.borrow().shutdown_grace_period().as_secs_f64())
        });
        m.add_method("unacknowledged_updates", |lua, this, ()| {
            convert::messages_to_lua(lua, &this.driver.borrow().unacknowledged_updates())
        });
        m.add_method("unacknowledged_tasks", |lua, this, ()| {
            convert::messages_to_lua(lua, &this.driver.borrow().unacknowledged_tasks())
        });
        m.add_method("stats", |lua, this, ()| {
            let d = this.driver.borrow();
            let s = d.stats();
            let t = lua.create_table()?;
            t.set("events", s.events.load(Ordering::Relaxed))?;
            t.set("updates", s.updates.load(Ordering::Relaxed))?;
            t.set("reconnects", s.reconnects.load(Ordering::Relaxed))?;
            t.set("queue_depth", d.pending())?;
            Ok(t)
        });
    }
}
