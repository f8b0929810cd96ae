//! `mesos.tcp_connect(host, port [, timeout])`: a small blocking TCP client
//! with a LuaSocket-like face, for Lua code in processes that have
//! `mesos.so` but no LuaSocket (task processes on agents: the remote
//! debugger in `lua/mesos/tasks/debugger.lua` connects out with it).
//!
//! ```lua
//! local conn, err = mesos.tcp_connect("127.0.0.1", 8172, 5)  -- nil, err on failure
//! conn:settimeout(2)                 -- seconds for each call; nil or < 0: block
//! conn:send("STEP\n")                -- bytes sent | nil, "timeout" | "closed" | why
//! local line, err = conn:receive()   -- "*l" (default): one line, without "\n" ("\r\n" too)
//! local data = conn:receive(10)      -- exactly 10 bytes
//! local rest = conn:receive("*a")    -- everything until the peer closes
//! conn:fd(); conn:close()
//! ```
//!
//! `receive` returns `nil, "timeout"` when the time runs out; unlike
//! LuaSocket, bytes already read stay buffered for the next call (so a
//! non-blocking poll with `settimeout(0)` never loses half a line). When the
//! peer closes first it returns `nil, "closed", partial`. Runtime failures
//! are `nil, err`; wrong arguments raise.

use std::time::Duration;

use mlua::prelude::*;

use crate::net::tcp::{Conn, MAX_BUFFER, Pattern, TcpError};

/// Seconds from Lua: nil or negative means no limit; NaN is misuse.
fn timeout_arg(secs: Option<f64>, who: &str) -> LuaResult<Option<Duration>> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_nan() => Err(LuaError::runtime(format!(
            "{who}: timeout must be a number of seconds, got nan"
        ))),
        Some(s) if s < 0.0 => Ok(None),
        Some(s) => Ok(Some(Duration::from_secs_f64(s.min(1e9)))),
    }
}

fn pattern_arg(v: &LuaValue) -> LuaResult<Pattern> {
    let bad = || {
        LuaError::runtime(format!(
            "conn:receive: pattern must be \"*l\", \"*a\" or a byte count up to {MAX_BUFFER}, got {}",
            match v {
                LuaValue::String(s) => format!("{:?}", s.to_string_lossy()),
                other => other.type_name().to_string(),
            }
        ))
    };
    match v {
        LuaValue::Nil => Ok(Pattern::Line),
        LuaValue::String(s) => match &*s.as_bytes() {
            b"*l" | b"l" => Ok(Pattern::Line),
            b"*a" | b"a" => Ok(Pattern::All),
            _ => Err(bad()),
        },
        LuaValue::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|&n| n <= MAX_BUFFER)
            .map(Pattern::Bytes)
            .ok_or_else(bad),
        LuaValue::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= MAX_BUFFER as f64 => {
            Ok(Pattern::Bytes(*n as usize))
        }
        _ => Err(bad()),
    }
}

/// (value, nil) or (nil, err).
type Answer<T> = (Option<T>, Option<String>);

fn answer<T>(r: Result<T, TcpError>) -> Answer<T> {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.to_string())),
    }
}

impl LuaUserData for Conn {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("send", |_, this, data: LuaString| {
            Ok(answer(this.send(&data.as_bytes())))
        });
        m.add_method_mut("receive", |lua, this, p: LuaValue| {
            let p = pattern_arg(&p)?;
            match this.receive(p) {
                Ok(v) => Ok((Some(lua.create_string(&v)?), None, None)),
                Err((e, partial)) => {
                    let partial = if partial.is_empty() {
                        None
                    } else {
                        Some(lua.create_string(&partial)?)
                    };
                    Ok((None, Some(e.to_string()), partial))
                }
            }
        });
        m.add_method_mut("settimeout", |_, this, secs: Option<f64>| {
            this.set_timeout(timeout_arg(secs, "conn:settimeout")?);
            Ok(true)
        });
        m.add_method("fd", |_, this, ()| Ok(this.fd()));
        m.add_method_mut("close", |_, this, ()| {
            this.close();
            Ok(true)
        });
        m.add_meta_method(LuaMetaMethod::ToString, |_, this, ()| {
            let state = if this.is_open() {
                "connected"
            } else {
                "closed"
            };
            Ok(format!("tcp connection to {} ({state})", this.peer()))
        });
    }
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    // mesos.tcp_connect(host, port [, timeout]) -> conn | nil, err
    m.set(
        "tcp_connect",
        lua.create_function(|_, (host, port, secs): (String, LuaValue, Option<f64>)| {
            let port = match port {
                LuaValue::Integer(p) => u16::try_from(p).ok(),
                LuaValue::Number(p) if p.fract() == 0.0 && (0.0..=65535.0).contains(&p) => {
                    Some(p as u16)
                }
                LuaValue::String(s) => s.to_str()?.parse::<u16>().ok(),
                _ => None,
            }
            .filter(|&p| p != 0)
            .ok_or_else(|| {
                LuaError::runtime("mesos.tcp_connect: port must be a number from 1 to 65535")
            })?;
            let t = timeout_arg(secs, "mesos.tcp_connect")?;
            Ok(answer(Conn::connect(&host, port, t)))
        })?,
    )?;
    Ok(())
}
