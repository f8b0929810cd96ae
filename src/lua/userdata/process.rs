//! Child processes and fd waiting for Lua (`mesos.spawner`, `mesos.kill`,
//! `mesos.wait_readable`): what the Lua executor needs to run each task in
//! its own process and wait on the driver and its children together.

use std::cell::RefCell;
use std::time::Duration;

use mlua::prelude::*;

use super::channel::ChannelHandle;
use crate::lua::opts::Opts;
use crate::os::process::{self, Finished, SpawnOptions, Spawner};
use crate::os::zygote::{self, Forked, ZygoteSpawner};

pub struct SpawnerHandle(RefCell<Spawner>);

/// `mesos.zygote(opts)`: a spawner whose children a warm zygote forks.
pub struct ZygoteHandle(RefCell<ZygoteSpawner>);

fn spawn_options(t: &LuaTable) -> LuaResult<SpawnOptions> {
    let o = Opts::new(t, "spawner:spawn");
    let argv = o
        .string_list("argv")?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            LuaError::runtime("spawner:spawn: opts.argv must be a non-empty list of strings")
        })?;
    let mut s = child_options(t, "spawner:spawn")?;
    s.argv = argv;
    s.cwd = o.string("cwd")?.map(Into::into);
    Ok(s)
}

/// What a zygote's child takes: stdin, memory_mb, max_output, channel.
fn zygote_spawn_options(t: &LuaTable) -> LuaResult<SpawnOptions> {
    for key in ["argv", "env", "cwd"] {
        if !t.get::<LuaValue>(key)?.is_nil() {
            return Err(LuaError::runtime(format!(
                "zygote:spawn: opts.{key} is not supported (a zygote's children run the zygote's code, in its environment)"
            )));
        }
    }
    child_options(t, "zygote:spawn")
}

fn child_options(t: &LuaTable, who: &str) -> LuaResult<SpawnOptions> {
    let o = Opts::new(t, who);
    let mut s = SpawnOptions::default();
    if let Some(env) = o.table("env")? {
        for pair in env.pairs::<String, String>() {
            s.env.push(pair.map_err(|_| {
                LuaError::runtime(format!("{who}: opts.env must map strings to strings"))
            })?);
        }
    }
    match t.get::<LuaValue>("stdin")? {
        LuaValue::Nil => {}
        LuaValue::String(b) => s.stdin = b.as_bytes().to_vec(),
        other => {
            return Err(LuaError::runtime(format!(
                "{who}: opts.stdin must be a string, got {}",
                other.type_name()
            )));
        }
    }
    if let Some(mb) = o.number("memory_mb")? {
        if !(mb > 0.0 && mb.is_finite()) {
            return Err(LuaError::runtime(format!(
                "{who}: opts.memory_mb must be a positive number"
            )));
        }
        s.memory_limit = Some((mb * 1024.0 * 1024.0) as u64);
    }
    match t.get::<LuaValue>("channel")? {
        LuaValue::Nil => {}
        LuaValue::UserData(u) => {
            let h = u.borrow::<ChannelHandle>().map_err(|_| {
                LuaError::runtime(format!("{who}: opts.channel must be a channel end"))
            })?;
            s.channel = Some(
                h.raw_fd()
                    .ok_or_else(|| LuaError::runtime(format!("{who}: opts.channel is closed")))?,
            );
        }
        other => {
            return Err(LuaError::runtime(format!(
                "{who}: opts.channel must be a channel end, got {}",
                other.type_name()
            )));
        }
    }
    if let Some(n) = o.integer("max_output")? {
        s.max_output = usize::try_from(n.max(0)).unwrap_or(0);
    }
    Ok(s)
}

impl LuaUserData for SpawnerHandle {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // spawner:spawn{argv=..., stdin=..., env=..., cwd=..., memory_mb=..., max_output=...} -> id, pid | nil, err
        m.add_method("spawn", |_, this, t: LuaTable| {
            let o = spawn_options(&t)?;
            Ok(spawned(this.0.borrow_mut().spawn(o)))
        });
        // spawner:reap([timeout]) -> {id, pid, code, signal, stdout, stderr, truncated} | nil
        m.add_method("reap", |lua, this, timeout: Option<f64>| {
            finished_table(lua, this.0.borrow().reap(reap_timeout(timeout)))
        });
        m.add_method("fd", |_, this, ()| Ok(this.0.borrow().fd()));
    }
}

/// What `spawn` returns to Lua: `id, pid` or `nil, nil, err`.
fn spawned<I, P, E: std::fmt::Display>(
    r: Result<(I, P), E>,
) -> (Option<I>, Option<P>, Option<String>) {
    match r {
        Ok((id, pid)) => (Some(id), Some(pid), None),
        Err(e) => (None, None, Some(format!("cannot start process: {e}"))),
    }
}

fn reap_timeout(t: Option<f64>) -> Duration {
    Duration::from_secs_f64(t.unwrap_or(0.0).clamp(0.0, 1e6))
}

fn finished_table(lua: &Lua, f: Option<Finished>) -> LuaResult<Option<LuaTable>> {
    let Some(f) = f else {
        return Ok(None);
    };
    let r = lua.create_table()?;
    r.set("id", f.id)?;
    r.set("pid", f.pid)?;
    r.set("code", f.code)?;
    r.set("signal", f.signal)?;
    r.set("stdout", lua.create_string(&f.stdout)?)?;
    r.set("stderr", lua.create_string(&f.stderr)?)?;
    r.set("truncated", f.truncated)?;
    Ok(Some(r))
}

impl LuaUserData for ZygoteHandle {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        // zygote:spawn{stdin=..., memory_mb=..., max_output=..., channel=...} -> id, pid | nil, err
        m.add_method("spawn", |_, this, t: LuaTable| {
            let o = zygote_spawn_options(&t)?;
            Ok(spawned(this.0.borrow_mut().spawn(o)))
        });
        m.add_method("reap", |lua, this, timeout: Option<f64>| {
            finished_table(lua, this.0.borrow().reap(reap_timeout(timeout)))
        });
        m.add_method("fd", |_, this, ()| Ok(this.0.borrow().fd()));
        m.add_method("pid", |_, this, ()| Ok(this.0.borrow().pid()));
        m.add_method("close", |_, this, ()| {
            this.0.borrow_mut().close();
            Ok(true)
        });
    }
}

pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    // The signal traps of driver:run() and mesos.jobs (lua/mesos/driver/common.lua):
    // mesos._trap(on), mesos._trapped() -> signal | nil, and
    // mesos._die(signal, line): writes the line to stderr, then dies of it.
    m.set(
        "_trap",
        lua.create_function(|_, on: bool| {
            crate::os::signals::trap(on)
                .map_err(|e| LuaError::runtime(format!("mesos: cannot trap signals: {e}")))
        })?,
    )?;
    m.set(
        "_trapped",
        lua.create_function(|_, ()| Ok(crate::os::signals::caught()))?,
    )?;
    m.set(
        "_die",
        lua.create_function(|_, (sig, line): (i32, Option<String>)| -> LuaResult<()> {
            if let Some(line) = line {
                use std::io::Write;
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{line}");
                let _ = e.flush();
            }
            crate::os::signals::die_of(sig)
        })?,
    )?;
    m.set(
        "spawner",
        lua.create_function(|_, cap: Option<i64>| {
            let cap = usize::try_from(cap.unwrap_or(1024).max(1)).unwrap_or(1024);
            Spawner::new(cap)
                .map(|s| SpawnerHandle(RefCell::new(s)))
                .map_err(|e| LuaError::runtime(format!("mesos.spawner: {e}")))
        })?,
    )?;
    // mesos.zygote{argv = {...} | fork = true [, capacity = n]}
    //   -> zygote | "zygote" (fork, in the new zygote) | nil, err
    m.set(
        "zygote",
        lua.create_function(|lua, t: LuaTable| {
            let o = Opts::new(&t, "mesos.zygote");
            let fork = o.boolean("fork")?.unwrap_or(false);
            let argv = o.string_list("argv")?.filter(|a| !a.is_empty());
            let cap = o.integer("capacity")?.unwrap_or(1024).max(1);
            let cap = usize::try_from(cap).unwrap_or(1024);
            let started = match (fork, argv) {
                (true, None) => match ZygoteSpawner::fork(cap) {
                    Ok(Forked::Parent(z)) => Ok(z),
                    Ok(Forked::Zygote) => {
                        return Ok((Some(LuaValue::String(lua.create_string("zygote")?)), None));
                    }
                    Err(e) => Err(e),
                },
                (false, Some(argv)) => ZygoteSpawner::start(&argv, cap),
                _ => {
                    return Err(LuaError::runtime(
                        "mesos.zygote: give either opts.argv (a non-empty list of strings) or opts.fork = true",
                    ));
                }
            };
            match started {
                Ok(z) => Ok((
                    Some(LuaValue::UserData(lua.create_userdata(ZygoteHandle(RefCell::new(z)))?)),
                    None,
                )),
                Err(e) => Ok((None, Some(format!("cannot start the zygote: {e}")))),
            }
        })?,
    )?;
    // mesos.zygote_serve() -> stdin bytes (in a forked child) | nil (the zygote, when done)
    m.set(
        "zygote_serve",
        lua.create_function(|lua, ()| match zygote::serve() {
            Ok(Some(stdin)) => Ok((Some(lua.create_string(&stdin)?), None)),
            Ok(None) => Ok((None, None)),
            Err(e) => Ok((None, Some(format!("mesos.zygote_serve: {e}")))),
        })?,
    )?;
    // mesos.kill(pid [, signal]) -> true | nil, err   (signals the process group)
    m.set(
        "kill",
        lua.create_function(|_, (pid, sig): (u32, Option<i32>)| {
            match process::kill_group(pid, sig.unwrap_or(libc::SIGKILL)) {
                Ok(()) => Ok((Some(true), None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        })?,
    )?;
    // mesos.executable() -> path of the running interpreter (for child tasks)
    m.set(
        "executable",
        lua.create_function(|_, ()| {
            Ok(std::env::current_exe()
                .ok()
                .map(|p| p.display().to_string()))
        })?,
    )?;
    // mesos.current_user() -> the name of the user this process runs as, or nil
    m.set(
        "current_user",
        lua.create_function(|_, ()| Ok(process::current_user()))?,
    )?;
    // mesos.monotonic() -> seconds on a clock that never goes back
    let start = std::time::Instant::now();
    m.set(
        "monotonic",
        lua.create_function(move |_, ()| Ok(start.elapsed().as_secs_f64()))?,
    )?;
    // mesos.wait_readable({fd, ...} [, timeout]) -> {ready fd, ...}
    m.set(
        "wait_readable",
        lua.create_function(|_, (fds, timeout): (Vec<i32>, Option<f64>)| {
            let t = timeout.map(|s| Duration::from_secs_f64(s.clamp(0.0, 1e6)));
            process::wait_readable(&fds, t)
                .map_err(|e| LuaError::runtime(format!("mesos.wait_readable: {e}")))
        })?,
    )?;
    Ok(())
}
