//! The scheduler driver as Lua userdata (the "core" that
//! `lua/mesos/scheduler.lua` wraps with handler dispatch and call builders).

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlua::prelude::*;

use super::convert;
use super::opts::{Opts, parse_local_config};
use crate::local::LocalCluster;
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
    staging: std::cell::OnceCell<super::view::Staging>,
    // Declared last: dropped after the driver has stopped.
    cluster: RefCell<Option<LocalCluster>>,
}

/// A Lua table as a generated message, straight through protobuf bytes
/// (`encode::encode_pb`), when the direct encoder takes it.
pub(crate) fn direct<M: prost::Message + Default>(
    lua: &Lua,
    name: &str,
    v: &LuaValue,
) -> LuaResult<Option<M>> {
    let Some(m) = crate::wire::schema::message(name) else {
        return Ok(None);
    };
    Ok(super::encode::encode_pb(lua, m, v)?.and_then(|b| M::decode(b.as_slice()).ok()))
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

/// The RECONCILE call for `driver:reconcile(tasks)`, read straight from the
/// Lua list (no table per task, no encoding and decoding on the way): each
/// item a task id (a string, `{value = ...}` or a TaskID view) or
/// `{task_id = id, agent_id = id}`. `None` for anything else, which the
/// general path then takes (and words the error for).
fn reconcile_call(lua: &Lua, list: &LuaTable) -> LuaResult<Option<Call>> {
    use crate::wire::pb::scheduler::call::{self, reconcile};
    let mut tasks: Vec<reconcile::Task> = Vec::new();
    let mut ok = false;
    // SAFETY: reads only (raw gets, no metamethods) of the list at index 1
    // and what it holds; `tasks` lives outside the protected call.
    unsafe {
        lua.exec_raw::<()>(list, |l| {
            ok = reconcile_tasks(l, &mut tasks).is_some();
            mlua::ffi::lua_settop(l, 0);
        })?;
    }
    if !ok {
        return Ok(None);
    }
    Ok(Some(Call {
        r#type: Some(call::Type::Reconcile as i32),
        reconcile: Some(call::Reconcile { tasks }),
        ..Default::default()
    }))
}

/// The id at `idx`: a string, a table whose `value` is a string, or a view
/// of message `view_type`.
unsafe fn id_at(l: *mut mlua::ffi::lua_State, idx: i32, view_type: &str) -> Option<String> {
    use mlua::ffi;
    unsafe {
        let text = |i: i32| -> Option<String> {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, i, &mut len);
            if p.is_null() {
                return None;
            }
            String::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()).ok()
        };
        match ffi::lua_type(l, idx) {
            ffi::LUA_TSTRING => text(idx),
            ffi::LUA_TTABLE => {
                ffi::lua_pushstring(l, c"value".as_ptr());
                ffi::lua_rawget(l, idx);
                let v = if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                    text(-1)
                } else {
                    None
                };
                ffi::lua_settop(l, -2);
                v
            }
            _ => {
                let (m, bytes) = super::view_header::at(l, idx)?;
                if crate::wire::schema::msg(m).name != view_type {
                    return None;
                }
                let id = <crate::wire::pb::TaskId as prost::Message>::decode(bytes).ok()?;
                Some(id.value)
            }
        }
    }
}

/// The tasks of the list at index 1, or None at the first item the fast
/// path does not take.
unsafe fn reconcile_tasks(
    l: *mut mlua::ffi::lua_State,
    tasks: &mut Vec<crate::wire::pb::scheduler::call::reconcile::Task>,
) -> Option<()> {
    use crate::wire::pb::{AgentId, TaskId, scheduler::call::reconcile::Task};
    use mlua::ffi;
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            return None;
        }
        let n = ffi::lua_rawlen(l, 1);
        tasks.reserve(n);
        for i in 1..=n {
            ffi::lua_rawgeti(l, 1, i as ffi::lua_Integer);
            let item = ffi::lua_gettop(l);
            let task = match id_at(l, item, "mesos.v1.TaskID") {
                Some(value) => Task {
                    task_id: TaskId { value },
                    agent_id: None,
                },
                None if ffi::lua_type(l, item) == ffi::LUA_TTABLE => {
                    ffi::lua_pushstring(l, c"task_id".as_ptr());
                    ffi::lua_rawget(l, item);
                    let task_id = id_at(l, item + 1, "mesos.v1.TaskID");
                    ffi::lua_pushstring(l, c"agent_id".as_ptr());
                    ffi::lua_rawget(l, item);
                    let agent_id = match ffi::lua_type(l, item + 2) {
                        ffi::LUA_TNIL => Some(None),
                        _ => id_at(l, item + 2, "mesos.v1.AgentID")
                            .map(|value| Some(AgentId { value })),
                    };
                    Task {
                        task_id: TaskId { value: task_id? },
                        agent_id: agent_id?,
                    }
                }
                None => return None,
            };
            tasks.push(task);
            ffi::lua_settop(l, item - 1);
        }
        Some(())
    }
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
            super::log::deliver(lua)?;
            convert::output_to_lua(lua, out)
        });
        // staging() -> the address of the batch staging area (light
        // userdata) and its size, for lua/mesos/view.lua.
        m.add_method("staging", |_, this, ()| {
            let st = this.staging.get_or_init(super::view::Staging::new);
            Ok((
                LuaLightUserData(st.address()),
                super::view::Staging::CAPACITY,
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
                let staging = this.staging.get_or_init(super::view::Staging::new);
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
                // SAFETY: q is the one argument (index 1); only numbers and
                // strings are pushed and each is stored at once; `batch`
                // lives outside the protected call, so a Lua error (out of
                // memory) there leaves nothing undropped.
                unsafe {
                    lua.exec_raw::<()>(q, |l| {
                        for (i, (off, out)) in batch.iter().enumerate() {
                            let crate::driver::Output::Event(ev) = out else {
                                continue;
                            };
                            let Some((bytes, _, m)) = ev.raw_bytes() else {
                                continue;
                            };
                            let k = 4 * i as mlua::ffi::lua_Integer;
                            match off {
                                Some(o) => {
                                    mlua::ffi::lua_pushinteger(l, *o as mlua::ffi::lua_Integer)
                                }
                                None => {
                                    mlua::ffi::lua_pushlstring(
                                        l,
                                        bytes.as_ptr().cast(),
                                        bytes.len(),
                                    );
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
                drop(d);
                super::log::deliver(lua)?;
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
