//! `mesos.channel_pair`, `mesos.channel_open`: message channels between the
//! Lua executor and its task processes (see `crate::os::channel`).

use std::cell::RefCell;
use std::time::Duration;

use mlua::prelude::*;

use crate::os::channel::{Channel, ChannelError};

/// A channel end as Lua sees it; `close` empties it.
pub struct ChannelHandle(RefCell<Option<Channel>>);

impl ChannelHandle {
    fn new(c: Channel) -> ChannelHandle {
        ChannelHandle(RefCell::new(Some(c)))
    }

    /// The raw fd, for handing the end to a child (`spawner:spawn`).
    pub fn raw_fd(&self) -> Option<i32> {
        self.0.borrow().as_ref().map(Channel::fd)
    }

    fn with<R>(&self, f: impl FnOnce(&Channel) -> R) -> Result<R, ChannelError> {
        self.0.borrow().as_ref().map(f).ok_or(ChannelError::Closed)
    }
}

fn timeout_of(t: Option<f64>) -> Option<Duration> {
    t.map(|s| {
        Duration::from_secs_f64(if s.is_finite() {
            s.clamp(0.0, 1e9)
        } else {
            1e9
        })
    })
}

impl LuaUserData for ChannelHandle {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // ch:send(bytes [, block]) -> true | nil, err   (err "full", "closed", ...)
        m.add_method(
            "send",
            |_, this, (msg, block): (LuaString, Option<bool>)| {
                let r = this.with(|c| c.send(&msg.as_bytes(), block.unwrap_or(false)));
                Ok(match r.and_then(|r| r) {
                    Ok(()) => (Some(true), None),
                    Err(ChannelError::Full) => (None, Some("full".to_string())),
                    Err(ChannelError::Closed) => (None, Some("closed".to_string())),
                    Err(e) => (None, Some(e.to_string())),
                })
            },
        );
        // ch:recv([timeout]) -> bytes | nil (timeout) | nil, err
        m.add_method("recv", |lua, this, timeout: Option<f64>| {
            let r = this.with(|c| c.recv(timeout_of(timeout)));
            match r.and_then(|r| r) {
                Ok(Some(b)) => Ok((Some(lua.create_string(&b)?), None)),
                Ok(None) => Ok((None, None)),
                Err(ChannelError::Closed) => Ok((None, Some("closed".to_string()))),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        });
        m.add_method("fd", |_, this, ()| Ok(this.raw_fd()));
        m.add_method("close", |_, this, ()| {
            this.0.borrow_mut().take();
            Ok(())
        });
    }
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    // mesos.channel_pair() -> parent, child
    m.set(
        "channel_pair",
        lua.create_function(|_, ()| match Channel::pair() {
            Ok((a, b)) => Ok((ChannelHandle::new(a), ChannelHandle::new(b))),
            Err(e) => Err(LuaError::runtime(format!("mesos.channel_pair: {e}"))),
        })?,
    )?;
    // mesos.channel_open([fd]) -> channel | nil, err  (default: the fd a
    // task process inherits)
    m.set(
        "channel_open",
        lua.create_function(|_, fd: Option<i32>| {
            match Channel::from_fd(fd.unwrap_or(crate::os::process::CHILD_CHANNEL_FD)) {
                Ok(c) => Ok((Some(ChannelHandle::new(c)), None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        })?,
    )?;
    m.set("CHANNEL_MAX_MESSAGE", crate::os::channel::MAX_MESSAGE)?;
    Ok(())
}
