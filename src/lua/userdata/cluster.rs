//! `mesos.local_cluster(opts)`: an embedded master and its agents (the
//! local cluster of `crate::local`) as Lua userdata.

use mlua::prelude::*;

use crate::local::LocalCluster;
use crate::lua::opts;

/// `mesos.local_cluster(opts)`: an embedded master and agents.
struct ClusterHandle(Option<LocalCluster>);

impl LuaUserData for ClusterHandle {
    fn add_methods<M: LuaUserDataMethods<Self>>(m: &mut M) {
        m.add_method("url", |_, this, ()| Ok(this.0.as_ref().map(|c| c.url())));
        m.add_method("address", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.addr().to_string()))
        });
        m.add_method("port", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.addr().port()))
        });
        m.add_method("work_dir", |_, this, ()| {
            Ok(this.0.as_ref().map(|c| c.work_dir().display().to_string()))
        });
        // Agents are numbered from 1 in Lua.
        m.add_method("agent_address", |_, this, i: usize| {
            Ok(this
                .0
                .as_ref()
                .and_then(|c| c.agent_addr(i.wrapping_sub(1)))
                .map(|a| a.to_string()))
        });
        m.add_method("agent_id", |_, this, i: usize| {
            Ok(this
                .0
                .as_ref()
                .and_then(|c| c.agent_id(i.wrapping_sub(1)))
                .map(str::to_string))
        });
        for (name, op) in [
            (
                "stop_agent",
                LocalCluster::stop_agent as fn(&mut LocalCluster, usize) -> _,
            ),
            ("start_agent", LocalCluster::start_agent),
            ("restart_agent", LocalCluster::restart_agent),
            ("remove_agent", LocalCluster::remove_agent),
        ] {
            m.add_method_mut(name, move |_, this, i: usize| match this.0.as_mut() {
                None => Ok((None, Some("cluster is stopped".to_string()))),
                Some(c) => match op(c, i.wrapping_sub(1)) {
                    Ok(()) => Ok((Some(true), None)),
                    Err(e) => Ok((None, Some(e.to_string()))),
                },
            });
        }
        // One more agent; its number (from 1).
        m.add_method_mut("add_agent", |_, this, ()| match this.0.as_mut() {
            None => Ok((None, Some("cluster is stopped".to_string()))),
            Some(c) => match c.add_agent() {
                Ok(i) => Ok((Some(i + 1), None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            },
        });
        // Blocks until SIGINT/SIGTERM, then stops the cluster. Returns the signal.
        m.add_method_mut("wait_for_signal", |_, this, ()| {
            let sig = crate::os::signals::wait_for_termination().map_err(LuaError::external)?;
            if let Some(mut c) = this.0.take() {
                c.stop();
            }
            Ok(sig)
        });
        m.add_method_mut("stop", |_, this, ()| {
            if let Some(mut c) = this.0.take() {
                c.stop();
            }
            Ok(true)
        });
    }
}

/// Puts `local_cluster` into the module's Rust-written functions.
pub fn register(lua: &Lua, m: &LuaTable) -> LuaResult<()> {
    m.set(
        "local_cluster",
        lua.create_function(|_, t: Option<LuaTable>| {
            let t = match t {
                Some(t) => t,
                None => {
                    return Err(LuaError::runtime(
                        "mesos.local_cluster: expected an options table",
                    ));
                }
            };
            let cfg = opts::cluster_config(&opts::Opts::new(&t, "mesos.local_cluster"))?;
            match LocalCluster::start(cfg) {
                Ok(c) => Ok((Some(ClusterHandle(Some(c))), None)),
                Err(e) => Ok((None, Some(e.to_string()))),
            }
        })?,
    )?;
    Ok(())
}
