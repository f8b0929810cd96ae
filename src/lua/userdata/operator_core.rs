//! The operator API client as Lua userdata: `core.new_operator(opts)` gives
//! an `OperatorCore` whose `call(table)` sends one `mesos.v1.master.Call`
//! (or `mesos.v1.agent.Call`) and returns the Response as a table, and
//! whose `watch()` gives a `WatchCore`: the master's event stream with the
//! drivers' core face (start/next/fd/pending/state/stop/stats), which
//! `lua/mesos/operator.lua` wraps with handler dispatch and the call methods.
//!
//! May import: `crate::operator`, the network layer (master strings), the
//! wire layer and the binding's conversions and options.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlua::prelude::*;

use crate::lua::convert;
use crate::lua::opts::Opts;
use crate::net::transport::{MasterSpec, parse_endpoint, parse_master_spec};
use crate::operator::{Client, Options, Reply, Watch};
use crate::wire::Encoding;
use crate::wire::codec;

const WHO: &str = "mesos.operator";

/// The options of `mesos.operator`.
const OPERATOR_OPTIONS: &[&str] = &[
    "master",
    "agent",
    "encoding",
    "principal",
    "secret",
    "credential_file",
    "ca_file",
    "zk_https",
    "connect_timeout",
    "call_timeout",
    "backoff_min",
    "backoff_max",
    "heartbeat_timeout",
    "queue_size",
];

pub struct OperatorCore {
    client: RefCell<Client>,
    /// The messages' package: "mesos.v1.master" or "mesos.v1.agent".
    package: &'static str,
    /// Where it points, as given (for messages and `op:target()`).
    target: String,
}

fn bad(msg: impl std::fmt::Display) -> LuaError {
    LuaError::runtime(format!("{WHO}: {msg}"))
}

/// `core.new_operator(opts)`.
pub fn new_operator(t: LuaTable) -> LuaResult<OperatorCore> {
    let o = Opts::new(&t, WHO);
    o.only(OPERATOR_OPTIONS)?;
    let master = o.string("master")?;
    let agent = o.string("agent")?;
    let mut opts = Options::new(vec![]);
    let target = match (master, agent) {
        (Some(_), Some(_)) => return Err(bad("give opts.master or opts.agent, not both")),
        (None, None) => return Err(bad("opts.master or opts.agent is required")),
        (Some(m), None) => {
            if m.trim() == "local" {
                return Err(bad(
                    "opts.master = \"local\" is not supported: start a cluster with mesos.local_cluster() and give its master",
                ));
            }
            match parse_master_spec(&m).map_err(bad)? {
                MasterSpec::Endpoints(e) => opts.endpoints = e,
                MasterSpec::ZooKeeper(z) => opts.zk = Some(z),
            }
            m
        }
        (None, Some(a)) => {
            // An agent's pid, `slave(1)@host:port`: its API under /slave(1).
            let (id, addr) = match a.split_once('@') {
                Some((id, addr)) if !id.is_empty() && !id.contains('/') => (Some(id), addr),
                _ => (None, a.as_str()),
            };
            opts.endpoints = vec![parse_endpoint(addr, 5051).map_err(|_| {
                bad(format!(
                    "invalid agent {a:?}: expected host:port, http(s)://host:port or a pid (slave(1)@host:port)"
                ))
            })?];
            if let Some(id) = id {
                opts.path = format!("/{id}{}", crate::operator::OPERATOR_PATH);
            }
            opts.agent = true;
            a
        }
    };
    if let Some(enc) = o.string("encoding")? {
        opts.encoding = Encoding::from_name(&enc).ok_or_else(|| {
            bad(format!(
                "opts.encoding must be \"protobuf\" or \"json\", got {enc:?}"
            ))
        })?;
    }
    opts.credential = o.credential()?;
    opts.ca_file = o.ca_file()?;
    opts.zk_tls = o.boolean("zk_https")?.unwrap_or(false);
    if let Some(d) = o.duration("connect_timeout")? {
        opts.connect_timeout = d;
    }
    if let Some(d) = o.duration("call_timeout")? {
        opts.call_timeout = d;
    }
    if let Some(d) = o.duration("backoff_min")? {
        opts.backoff_min = d;
    }
    if let Some(d) = o.duration("backoff_max")? {
        opts.backoff_max = d;
    }
    if let Some(d) = o.duration("heartbeat_timeout")? {
        opts.heartbeat_timeout = d;
    }
    if let Some(n) = o.integer("queue_size")? {
        opts.queue_size = usize::try_from(n.max(1)).unwrap_or(1);
    }
    let package = if opts.agent {
        "mesos.v1.agent"
    } else {
        "mesos.v1.master"
    };
    let client = Client::new(opts).map_err(|e| bad(format!("cannot start: {e}")))?;
    Ok(OperatorCore {
        client: RefCell::new(client),
        package,
        target,
    })
}

impl OperatorCore {
    /// Encodes a Call table (misuse raises, naming the field).
    fn encode(&self, v: &LuaValue) -> LuaResult<(String, Vec<u8>)> {
        let ty = match v {
            LuaValue::Table(t) => t.get::<Option<String>>("type").ok().flatten(),
            _ => None,
        }
        .unwrap_or_else(|| "UNKNOWN".into());
        let desc = codec::descriptor(&format!("{}.Call", self.package)).map_err(bad)?;
        let m = convert::to_checked_message(&desc, v, &format!("{WHO}: bad {ty} call"))
            .map_err(LuaError::runtime)?;
        let enc = self.client.borrow().options().encoding;
        Ok((ty, codec::encode_dynamic(&m, enc)))
    }

    /// Decodes a Response body into a table.
    fn response(
        &self,
        lua: &Lua,
        body: &[u8],
        enc: Encoding,
    ) -> LuaResult<Result<LuaTable, String>> {
        let desc = codec::descriptor(&format!("{}.Response", self.package)).map_err(bad)?;
        match codec::decode_dynamic(&desc, body, enc, false) {
            Ok(m) => Ok(Ok(convert::to_lua(lua, &m)?)),
            Err(e) => Ok(Err(format!("undecodable answer: {e}"))),
        }
    }
}

impl LuaUserData for OperatorCore {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // call(call_table) -> response table | true | nil, err
        m.add_method("call", |lua, this, v: LuaValue| {
            let (ty, body) = this.encode(&v)?;
            let r = this.client.borrow_mut().call(&ty, &body);
            let mut out = LuaMultiValue::new();
            match r {
                Ok(Reply::Accepted) => out.push_back(LuaValue::Boolean(true)),
                Ok(Reply::Body(b, enc)) => match this.response(lua, &b, enc)? {
                    Ok(t) => out.push_back(LuaValue::Table(t)),
                    Err(e) => {
                        out.push_back(LuaValue::Nil);
                        out.push_back(LuaValue::String(lua.create_string(format!("{ty}: {e}"))?));
                    }
                },
                Err(e) => {
                    out.push_back(LuaValue::Nil);
                    out.push_back(LuaValue::String(lua.create_string(e.to_string())?));
                }
            }
            Ok(out)
        });
        m.add_method("is_agent", |_, this, ()| {
            Ok(this.package.ends_with("agent"))
        });
        m.add_method("target", |_, this, ()| Ok(this.target.clone()));
        m.add_method("encoding", |_, this, ()| {
            Ok(this.client.borrow().options().encoding.name())
        });
        m.add_method("leader", |_, this, ()| {
            Ok(this.client.borrow().leader().map(ToString::to_string))
        });
        // watch() -> a WatchCore, not started.
        m.add_method("watch", |lua, this, ()| {
            if this.package.ends_with("agent") {
                return Err(bad(
                    "subscribe: an agent has no operator event stream (give opts.master)",
                ));
            }
            let t = lua.create_table()?;
            t.set("type", "SUBSCRIBE")?;
            let (_, body) = this.encode(&LuaValue::Table(t))?;
            Ok(WatchCore {
                body: RefCell::new(Some(body)),
                client: this.client.borrow().sibling(),
                watch: RefCell::new(None),
            })
        });
    }
}

/// The event stream's core: idle until `start()`.
pub struct WatchCore {
    body: RefCell<Option<Vec<u8>>>,
    client: Client,
    watch: RefCell<Option<Watch>>,
}

impl WatchCore {
    fn start(&self) -> Result<(), String> {
        let Some(body) = self.body.borrow_mut().take() else {
            return Err("already started".into());
        };
        let w = Watch::start(&self.client, body).map_err(|e| format!("cannot start: {e}"))?;
        *self.watch.borrow_mut() = Some(w);
        Ok(())
    }
}

impl LuaUserData for WatchCore {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("start", |_, this, ()| {
            Ok(convert::nil_err(this.start().map(|()| true)))
        });
        m.add_method("next", |lua, this, timeout: Option<f64>| {
            let t = Duration::from_secs_f64(timeout.unwrap_or(0.0).clamp(0.0, 1e6));
            let out = match &*this.watch.borrow() {
                Some(w) => w.recv(t),
                None => None,
            };
            crate::lua::log::deliver(lua)?;
            convert::output_to_lua(lua, out)
        });
        m.add_method("fd", |_, this, ()| {
            Ok(this.watch.borrow().as_ref().map(Watch::fd))
        });
        m.add_method("pending", |_, this, ()| {
            Ok(this.watch.borrow().as_ref().map_or(0, Watch::pending))
        });
        m.add_method("state", |_, this, ()| {
            Ok(match &*this.watch.borrow() {
                None if this.body.borrow().is_none() => "stopped",
                None => "idle",
                Some(w) => w.phase().name(),
            })
        });
        let stop = |_: &Lua, this: &WatchCore, ()| {
            this.body.borrow_mut().take();
            if let Some(w) = this.watch.borrow_mut().as_mut() {
                w.stop("stopped");
            }
            Ok(true)
        };
        m.add_method("stop", stop);
        m.add_method("abort", stop);
        m.add_method("stats", |lua, this, ()| {
            let t = lua.create_table()?;
            let w = this.watch.borrow();
            let Some(w) = w.as_ref() else {
                t.set("events", 0)?;
                t.set("reconnects", 0)?;
                t.set("queue_depth", 0)?;
                t.set("events_by_type", lua.create_table()?)?;
                return Ok(t);
            };
            let s = w.stats();
            t.set("events", s.events.load(Ordering::Relaxed))?;
            t.set("reconnects", s.reconnects.load(Ordering::Relaxed))?;
            t.set("queue_depth", w.pending())?;
            t.set("queue_size", w.queue_size())?;
            let by = lua.create_table()?;
            for (k, v) in crate::base::lock(&s.events_by_type).iter() {
                by.set(k.as_str(), *v)?;
            }
            t.set("events_by_type", by)?;
            t.set(
                "last_event_age",
                w.last_event_age().map(|a| a.as_secs_f64()),
            )?;
            t.set("master", w.leader().map(|e| e.to_string()))?;
            Ok(t)
        });
    }
}
