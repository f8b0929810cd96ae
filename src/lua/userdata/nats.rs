//! `mesos.nats(url [, opts])`: the NATS client ([`crate::net::nats`]) as Lua
//! userdata. Failures of the connection or of the server come back as
//! `nil, err`; misuse (an argument of the wrong type) raises an error that
//! names the argument.

use std::time::Duration;

use mlua::prelude::*;

use crate::lua::convert::nil_err;
use crate::lua::opts::Opts;
use crate::net::nats::{Connection, Msg, NatsError, Options};

/// Default wait of `flush` and `request` when none is given.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

pub struct NatsClient(Connection);

fn type_error(who: &str, arg: &str, want: &str, got: &LuaValue) -> LuaError {
    // As Lua's type() says it: integers are numbers.
    let got = match got {
        LuaValue::Integer(_) => "number",
        v => v.type_name(),
    };
    LuaError::runtime(format!("{who}: {arg} must be {want}, got {got}"))
}

/// A required string argument (bytes, not necessarily UTF-8).
fn bytes_arg(who: &str, arg: &str, v: &LuaValue) -> LuaResult<Vec<u8>> {
    match v {
        LuaValue::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(type_error(who, arg, "a string", other)),
    }
}

/// A subject-like argument: raises unless a string; a string that is not
/// UTF-8 is an invalid subject (reported by the caller as `nil, err`).
fn subject_arg(who: &str, arg: &'static str, v: &LuaValue) -> LuaResult<Result<String, NatsError>> {
    let b = bytes_arg(who, arg, v)?;
    // Named as the encoder names them.
    let what = match arg {
        "queue_group" => "queue group",
        "reply" => "reply subject",
        _ => "subject",
    };
    Ok(String::from_utf8(b).map_err(|e| NatsError::InvalidSubject {
        what,
        value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

/// A subject and an optional second subject-like argument (a reply
/// subject, a queue group), both checked.
fn subjects_arg(
    who: &str,
    subject: &LuaValue,
    arg: &'static str,
    other: &LuaValue,
) -> LuaResult<Result<(String, Option<String>), NatsError>> {
    let subject = subject_arg(who, "subject", subject)?;
    let other = match other {
        LuaValue::Nil => Ok(None),
        v => subject_arg(who, arg, v)?.map(Some),
    };
    Ok(subject.and_then(|s| Ok((s, other?))))
}

fn number(v: &LuaValue) -> Option<f64> {
    match v {
        LuaValue::Integer(i) => Some(*i as f64),
        LuaValue::Number(n) => Some(*n),
        _ => None,
    }
}

/// Seconds; `nil` is `default`.
fn seconds_arg(who: &str, arg: &str, v: &LuaValue, default: Duration) -> LuaResult<Duration> {
    match (v, number(v)) {
        (LuaValue::Nil, _) => Ok(default),
        (_, Some(n)) if n >= 0.0 && !n.is_nan() => Ok(Duration::from_secs_f64(n.min(1e6))),
        (v, _) => Err(type_error(who, arg, "a non-negative number of seconds", v)),
    }
}

fn positive_integer(who: &str, arg: &str, v: &LuaValue) -> LuaResult<u64> {
    match number(v) {
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n < 9.0e15 => Ok(n as u64),
        _ => Err(type_error(who, arg, "a positive integer", v)),
    }
}

fn message_table(lua: &Lua, m: Msg) -> LuaResult<LuaTable> {
    let t = lua.create_table_with_capacity(0, 4)?;
    t.set("subject", m.subject)?;
    t.set("payload", lua.create_string(&m.payload)?)?;
    t.set("sid", m.sid)?;
    t.set("reply", m.reply)?;
    Ok(t)
}

impl LuaUserData for NatsClient {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // client:publish(subject, payload [, reply]) -> true | nil, err
        m.add_method(
            "publish",
            |_, this, (subject, payload, reply): (LuaValue, LuaValue, LuaValue)| {
                let who = "client:publish";
                let args = subjects_arg(who, &subject, "reply", &reply)?;
                let payload = bytes_arg(who, "payload", &payload)?;
                Ok(nil_err(args.and_then(|(s, r)| {
                    this.0.publish(&s, &payload, r.as_deref()).map(|()| true)
                })))
            },
        );
        // client:subscribe(subject [, queue_group]) -> sid | nil, err
        m.add_method(
            "subscribe",
            |_, this, (subject, queue): (LuaValue, LuaValue)| {
                let args = subjects_arg("client:subscribe", &subject, "queue_group", &queue)?;
                Ok(nil_err(
                    args.and_then(|(s, q)| this.0.subscribe(&s, q.as_deref())),
                ))
            },
        );
        // client:unsubscribe(sid [, max]) -> true | nil, err
        m.add_method(
            "unsubscribe",
            |_, this, (sid, max): (LuaValue, LuaValue)| {
                let who = "client:unsubscribe";
                let sid = positive_integer(who, "sid", &sid)?;
                let max = match max {
                    LuaValue::Nil => None,
                    v => Some(positive_integer(who, "max", &v)?),
                };
                Ok(nil_err(this.0.unsubscribe(sid, max).map(|()| true)))
            },
        );
        // client:flush([timeout]) -> true | nil, err
        m.add_method("flush", |_, this, timeout: LuaValue| {
            let t = seconds_arg("client:flush", "timeout", &timeout, DEFAULT_WAIT)?;
            Ok(nil_err(this.0.flush(t).map(|()| true)))
        });
        // client:poll([timeout]) -> msg | nil [, err]
        m.add_method("poll", |lua, this, timeout: LuaValue| {
            let t = seconds_arg("client:poll", "timeout", &timeout, Duration::ZERO)?;
            match this.0.poll(t) {
                Ok(Some(m)) => Ok((Some(message_table(lua, m)?), None)),
                Ok(None) => Ok((None, None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        });
        // client:request(subject, payload [, timeout]) -> payload | nil, err
        m.add_method(
            "request",
            |lua, this, (subject, payload, timeout): (LuaValue, LuaValue, LuaValue)| {
                let who = "client:request";
                let subject = subject_arg(who, "subject", &subject)?;
                let payload = bytes_arg(who, "payload", &payload)?;
                let t = seconds_arg(who, "timeout", &timeout, DEFAULT_WAIT)?;
                match subject.and_then(|s| this.0.request(&s, &payload, t)) {
                    Ok(p) => Ok((Some(lua.create_string(&p)?), None)),
                    Err(e) => Ok((None, Some(e.to_string()))),
                }
            },
        );
        m.add_method("fd", |_, this, ()| Ok(this.0.fd()));
        m.add_method("state", |_, this, ()| Ok(this.0.state().name()));
        m.add_method("stats", |lua, this, ()| {
            let s = this.0.stats();
            let t = lua.create_table()?;
            t.set("in_msgs", s.in_msgs)?;
            t.set("in_bytes", s.in_bytes)?;
            t.set("out_msgs", s.out_msgs)?;
            t.set("out_bytes", s.out_bytes)?;
            t.set("dropped", s.dropped)?;
            t.set("queued", s.queued)?;
            t.set("state", s.state.name())?;
            t.set("error", s.error)?;
            Ok(t)
        });
        m.add_method("info", |lua, this, ()| {
            let i = this.0.info();
            let t = lua.create_table()?;
            t.set("server_id", i.server_id.as_str())?;
            t.set("version", i.version.as_str())?;
            t.set("max_payload", this.0.max_payload())?;
            Ok(t)
        });
        // Idempotent; also on garbage collection.
        m.add_method("close", |_, this, ()| {
            this.0.close();
            Ok(true)
        });
        m.add_meta_method(LuaMetaMethod::ToString, |_, this, ()| {
            Ok(format!("mesos.nats client ({})", this.0.state().name()))
        });
    }
}

fn options(t: &LuaTable) -> LuaResult<Options> {
    let o = Opts::new(t, "mesos.nats");
    let mut opts = Options {
        name: o.string("name")?,
        ..Default::default()
    };
    if let Some(d) = o.duration("timeout")? {
        opts.connect_timeout = d;
    }
    if let Some(n) = o.integer("queue_size")? {
        opts.queue_size = usize::try_from(n.max(1)).unwrap_or(1);
    }
    if let Some(n) = o.integer("queue_bytes")? {
        opts.queue_bytes = usize::try_from(n.max(1)).unwrap_or(1);
    }
    if let Some(d) = o.duration("ping_interval")? {
        opts.ping_interval = d;
    }
    Ok(opts)
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    // mesos.nats(url [, opts]) -> client | nil, err
    m.set(
        "nats",
        lua.create_function(|_, (url, opts): (LuaValue, LuaValue)| {
            let url = match url {
                LuaValue::String(s) => s.to_str()?.to_string(),
                other => return Err(type_error("mesos.nats", "url", "a string", &other)),
            };
            let opts = match opts {
                LuaValue::Nil => Options::default(),
                LuaValue::Table(t) => options(&t)?,
                other => return Err(type_error("mesos.nats", "opts", "a table", &other)),
            };
            let (c, e) = nil_err(Connection::connect(&url, opts));
            Ok((c.map(NatsClient), e))
        })?,
    )
}
