//! The scheduler driver as Lua userdata (the "core" that
//! `lua/mesos/driver/scheduler.lua` wraps with handler dispatch and call
//! builders). Imports the Rust scheduler driver, the local cluster (for
//! `master = "local"`) and the binding's conversions and options.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlua::prelude::*;

use crate::local::LocalCluster;
use crate::lua::convert::{self, direct, reconcile::reconcile_call};
use crate::lua::opts::{Opts, parse_local_config};
use crate::net::transport::{MasterSpec, parse_master_spec, parse_masters};
use crate::scheduler::driver::{Driver, Options};
use crate::wire::Encoding;
use crate::wire::codec;
use crate::wire::pb::FrameworkInfo;
use crate::wire::pb::scheduler::Call;

pub struct SchedulerCore {
    driver: RefCell<Driver>,
    master: String,
    started: std::cell::Cell<bool>,
    /// Where `next_raw_batch` copies events for views (made on first use).
    staging: std::cell::OnceCell<crate::lua::convert::views::Staging>,
    // Declared last: dropped after the driver has stopped.
    cluster: RefCell<Option<LocalCluster>>,
}

fn framework_info(lua: &Lua, v: &LuaValue) -> LuaResult<FrameworkInfo> {
    if let Some(f) = direct(lua, "mesos.v1.FrameworkInfo", v)? {
        return Ok(f);
    }
    let desc = codec::descriptor("mesos.v1.FrameworkInfo").map_err(LuaError::external)?;
    let m = convert::to_checked_message(&desc, v, "mesos.scheduler: opts.framework")
        .map_err(LuaError::runtime)?;
    m.transcode_to::<FrameworkInfo>()
        .map_err(|e| LuaError::runtime(format!("mesos.scheduler: opts.framework: {e}")))
}

/// The options of `mesos.scheduler` (`implicit_acknowledgements` is read
/// by its Lua face).
const SCHEDULER_OPTIONS: &[&str] = &[
    "master",
    "framework",
    "encoding",
    "implicit_acknowledgements",
    "heartbeat_factor",
    "backoff_min",
    "backoff_max",
    "connect_timeout",
    "call_timeout",
    "queue_size",
    "views",
    "suppressed_roles",
    "ca_file",
    "principal",
    "secret",
    "credential_file",
    "zk_https",
    "give_up_after",
    "max_payload_bytes",
    "local_cluster",
    "local",
];

/// `core.new_scheduler(opts)`.
pub fn new_scheduler(lua: &Lua, t: LuaTable) -> LuaResult<SchedulerCore> {
    let o = Opts::new(&t, "mesos.scheduler");
    o.only(SCHEDULER_OPTIONS)?;
    let master_spec = o.string("master")?.unwrap_or_else(|| "local".into());
    let framework = framework_info(lua, &t.get::<LuaValue>("framework")?)?;
    // Parse and check every option before starting anything.
    let spec = if master_spec == "local" {
        None
    } else {
        Some(
            parse_master_spec(&master_spec)
                .map_err(|e| LuaError::runtime(format!("mesos.scheduler: {e}")))?,
        )
    };
    let (endpoints, zk) = match spec {
        None => (None, None),
        Some(MasterSpec::Endpoints(e)) => (Some(e), None),
        Some(MasterSpec::ZooKeeper(z)) => (Some(vec![]), Some(z)),
    };
    let local_cfg = if endpoints.is_none() {
        Some(parse_local_config(&o)?)
    } else {
        None
    };
    let mut opts = Options::new(vec![], framework);
    if let Some(enc) = o.string("encoding")? {
        opts.encoding = Encoding::from_name(&enc).ok_or_else(|| {
            LuaError::runtime(format!(
                "mesos.scheduler: opts.encoding must be \"protobuf\" or \"json\", got {enc:?}"
            ))
        })?;
    }
    if let Some(f) = o.number("heartbeat_factor")? {
        opts.machine.heartbeat_factor = f;
    }
    if let Some(d) = o.duration("backoff_min")? {
        opts.machine.backoff_min = d;
    }
    if let Some(d) = o.duration("backoff_max")? {
        opts.machine.backoff_max = d;
    }
    if let Some(d) = o.duration("connect_timeout")? {
        opts.connect_timeout = d;
    }
    if let Some(d) = o.duration("call_timeout")? {
        opts.call_timeout = d;
    }
    opts.machine.give_up_after = o.duration("give_up_after")?;
    if let Some(n) = o.payload_limit()? {
        opts.max_payload = n;
    }
    if let Some(n) = o.integer("queue_size")? {
        opts.queue_size = usize::try_from(n.max(1)).unwrap_or(1);
    }
    // Lazy views (lua/mesos/view.lua) read protobuf: JSON events are then
    // transcoded on the I/O thread.
    opts.views = o.boolean("views")?.unwrap_or(false);
    if let Some(roles) = o.string_list("suppressed_roles")? {
        opts.suppressed_roles = roles;
    }
    if let Some(f) = o.ca_file()? {
        opts.ca_file = Some(f);
    }
    opts.credential = o.credential()?;
    opts.zk = zk;
    opts.zk_tls = o.boolean("zk_https")?.unwrap_or(false);
    let mut cluster = None;
    opts.masters = match (endpoints, local_cfg) {
        (Some(e), _) => e,
        (None, cfg) => {
            let cfg = cfg.unwrap_or_default();
            // Our own cluster: trust the CA it was given, and use the first
            // of its credentials unless the scheduler has its own.
            if opts.ca_file.is_none() {
                opts.ca_file = cfg.tls_ca_file.clone();
            }
            // (Driver::new defaults framework.principal from it.)
            if opts.credential.is_none() {
                opts.credential = cfg
                    .framework_credentials
                    .as_ref()
                    .and_then(|c| c.first().cloned());
            }
            let c = LocalCluster::start(cfg).map_err(|e| {
                LuaError::runtime(format!(
                    "mesos.scheduler: cannot start the local cluster: {e}"
                ))
            })?;
            let url = c.url();
            cluster = Some(c);
            parse_masters(&url).map_err(LuaError::external)?
        }
    };
    let master = match &opts.zk {
        Some(z) => z.to_string(),
        None => opts
            .masters
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    let driver =
        Driver::new(opts).map_err(|e| LuaError::runtime(format!("mesos.scheduler: {e}")))?;
    Ok(SchedulerCore {
        driver: RefCell::new(driver),
        master,
        started: std::cell::Cell::new(false),
        staging: std::cell::OnceCell::new(),
        cluster: RefCell::new(cluster),
    })
}

pub(crate) fn call_from_lua(lua: &Lua, v: &LuaValue) -> LuaResult<Call> {
    if let Some(c) = direct(lua, "mesos.v1.scheduler.Call", v)? {
        return Ok(c);
    }
    call_from_lua_by_descriptor(v)
}

/// `call_from_lua` through a `DynamicMessage` (what the direct encoder
/// leaves to it; it words every error).
pub(crate) fn call_from_lua_by_descriptor(v: &LuaValue) -> LuaResult<Call> {
    let desc = codec::descriptor("mesos.v1.scheduler.Call").map_err(LuaError::external)?;
    let ty = match v {
        LuaValue::Table(t) => t
            .get::<Option<String>>("type")
            .ok()
            .flatten()
            .unwrap_or_default(),
        _ => String::new(),
    };
    let what = format!(
        "mesos: bad {} call",
        if ty.is_empty() { "scheduler" } else { &ty }
    );
    // The driver fills in framework_id; don't require it from Lua.
    let m =
        convert::to_message(&desc, v, "").map_err(|e| LuaError::runtime(format!("{what}: {e}")))?;
    let missing: Vec<String> = crate::wire::json::missing_required(&m)
        .into_iter()
        .filter(|p| p != "update_framework.framework_info.id")
        .collect();
    if !missing.is_empty() {
        return Err(LuaError::runtime(format!(
            "{what}: missing required field {}",
            missing.join(", ")
        )));
    }
    m.transcode_to::<Call>()
        .map_err(|e| LuaError::runtime(format!("{what}: {e}")))
}

impl LuaUserData for SchedulerCore {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("start", |_, this, ()| {
            Ok(convert::start_once(&this.started, || {
                this.driver.borrow_mut().start()
            }))
        });
        // send_reconcile(tasks): RECONCILE straight from the list of
        // driver:reconcile (reconcile_call); false when the list needs the
        // general path, else as send.
        m.add_method("send_reconcile", |lua, this, list: LuaTable| {
            let Some(call) = reconcile_call(lua, &list)? else {
                return Ok((Some(false), None));
            };
            Ok(convert::nil_err(
                this.driver.borrow().send(call).map(|()| true),
            ))
        });
        m.add_method("send", |lua, this, call: LuaValue| {
            let call = call_from_lua(lua, &call)?;
            Ok(convert::nil_err(
                this.driver.borrow().send(call).map(|()| true),
            ))
        });
        m.add_method("next", |lua, this, timeout: Option<f64>| {
            let t = Duration::from_secs_f64(timeout.unwrap_or(0.0).clamp(0.0, 1e6));
            let out = this.driver.borrow().recv(t);
            crate::lua::log::deliver(lua)?;
            convert::output_to_lua(lua, out)
        });
        // staging() -> the address of the batch staging area (light
        // userdata) and its size, for lua/mesos/view.lua.
        m.add_method("staging", |_, this, ()| {
            let st = this
                .staging
                .get_or_init(crate::lua::convert::views::Staging::new);
            Ok((
                LuaLightUserData(st.address()),
                crate::lua::convert::views::Staging::CAPACITY,
            ))
        });
        // next_raw_batch(timeout, q [, limit]): the outputs that are queued
        // (waiting up to `timeout` for the first; at most `limit`, 256 by
        // default and at most). Each event received as validated protobuf
        // goes into q as 4 values: its offset in the staging area (or its
        // bytes as a string when they do not fit), length, message index
        // and type. Returns their count, then the first other output (as
        // `next` gives it), which ends the batch.
        m.add_method(
            "next_raw_batch",
            |lua, this, (timeout, q, limit): (Option<f64>, LuaTable, Option<usize>)| {
                let limit = limit.unwrap_or(256).clamp(1, 256);
                let mut wait = Duration::from_secs_f64(timeout.unwrap_or(0.0).clamp(0.0, 1e6));
                let staging = this
                    .staging
                    .get_or_init(crate::lua::convert::views::Staging::new);
                let d = this.driver.borrow();
                // The batch: each event with its offset in the staging area
                // (None: too big, it goes as a string).
                let mut batch: Vec<(Option<usize>, crate::driver::Output)> = Vec::new();
                let mut at = 0usize;
                let mut rest = None;
                while batch.len() < limit {
                    let Some(out) = d.recv(wait) else { break };
                    wait = Duration::ZERO;
                    let staged = match &out {
                        crate::driver::Output::Event(ev) => match ev.raw_bytes() {
                            Some((bytes, Encoding::Protobuf, _)) => Some(
                                staging
                                    .put(at, bytes)
                                    .map(|end| std::mem::replace(&mut at, end)),
                            ),
                            _ => None,
                        },
                        _ => None,
                    };
                    match staged {
                        Some(off) => batch.push((off, out)),
                        None => {
                            rest = Some(out);
                            break;
                        }
                    }
                }
                let n = batch.len();
                crate::lua::convert::event_batch::push(lua, &q, &batch)?;
                drop(d);
                crate::lua::log::deliver(lua)?;
                let mut vals = match rest {
                    Some(out) => convert::output_to_lua(lua, Some(out))?,
                    None => LuaMultiValue::new(),
                };
                vals.push_front(LuaValue::Integer(n as i64));
                Ok(vals)
            },
        );
        m.add_method("stop", |_, this, failover: Option<bool>| {
            this.driver.borrow_mut().stop(failover.unwrap_or(false));
            this.stop_cluster();
            Ok(true)
        });
        m.add_method("abort", |_, this, ()| {
            this.driver.borrow_mut().abort();
            this.stop_cluster();
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
        m.add_method("framework_id", |_, this, ()| {
            Ok(this.driver.borrow().framework_id())
        });
        m.add_method("master", |_, this, ()| Ok(this.master.clone()));
        m.add_method("stats", |lua, this, ()| {
            let d = this.driver.borrow();
            let s = d.stats();
            let t = lua.create_table()?;
            t.set("events", s.events.load(Ordering::Relaxed))?;
            t.set("calls", s.calls.load(Ordering::Relaxed))?;
            t.set("calls_failed", s.calls_failed.load(Ordering::Relaxed))?;
            t.set("reconnects", s.reconnects.load(Ordering::Relaxed))?;
            t.set("queue_depth", d.pending())?;
            t.set("queue_size", d.queue_size())?;
            let by_type = |m: &std::sync::Mutex<std::collections::BTreeMap<String, u64>>| {
                let t = lua.create_table()?;
                for (k, v) in crate::base::lock(m).iter() {
                    t.set(k.as_str(), *v)?;
                }
                Ok::<_, LuaError>(t)
            };
            t.set("events_by_type", by_type(&s.events_by_type)?)?;
            t.set("calls_by_type", by_type(&s.calls_by_type)?)?;
            t.set(
                "last_event_age",
                d.last_event_age().map(|a| a.as_secs_f64()),
            )?;
            t.set("master", d.leader().map(|e| e.to_string()))?;
            Ok(t)
        });
        m.add_method("cluster_url", |_, this, ()| {
            Ok(this.cluster.borrow().as_ref().map(|c| c.url()))
        });
    }
}

impl SchedulerCore {
    fn stop_cluster(&self) {
        if let Some(mut c) = self.cluster.borrow_mut().take() {
            c.stop();
        }
    }
}

impl Drop for SchedulerCore {
    fn drop(&mut self) {
        self.driver.get_mut().abort();
        if let Some(mut c) = self.cluster.get_mut().take() {
            c.stop();
        }
    }
}
