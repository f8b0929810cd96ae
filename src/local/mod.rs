//! An embedded Mesos-compatible cluster: one master and its agents, in this
//! process, on loopback, speaking the real Mesos v1 scheduler HTTP API (so
//! third-party clients work unchanged) and running command tasks as local
//! processes.
//!
//! - [`resources`]: agent resources and their arithmetic;
//! - `master`: frameworks, subscriptions, scheduler calls, the master's view
//!   of tasks, timers; `master::offers`: offers, filters and the allocator;
//! - `agent`: executors (command, default, custom over the executor API)
//!   and task processes;
//! - `launcher`: fetching, spawning and signalling task processes;
//! - `updates`: the agent's status-update manager (reliable delivery);
//! - `validation`: Mesos's call, framework and task validation rules;
//! - `api`: HTTP routing, the HTTP rules of the scheduler and executor APIs;
//! - `state`: the `/master/state` JSON.
//!
//! ```no_run
//! use mesos::local::{ClusterConfig, LocalCluster};
//!
//! let mut cluster = LocalCluster::start(ClusterConfig::default())?;
//! // Any v1 scheduler can now use cluster.url() + "/api/v1/scheduler".
//! println!("master at {}", cluster.url());
//! cluster.stop();
//! # Ok::<(), mesos::local::LocalError>(())
//! ```
//!
//! What differs from a real cluster: tasks run as plain processes on this
//! host (no containers, images, cgroups or user switching; `ContainerInfo`
//! is ignored), resources are unreserved only (no RESERVE/CREATE operations),
//! offer constraints and `min_allocatable_resources` are accepted but not
//! applied, there are no health checks, no inverse offers, no operator API
//! and no agent or master failover.
//!
//! Concurrency: all cluster state sits behind one mutex. HTTP connections
//! (the server's threads), one ticker thread (allocation, heartbeats,
//! status-update retries, failover timeouts, kill escalation) and one thread
//! per task process (waiting on the child) take the lock briefly.

mod agent;
mod api;
mod launcher;
mod master;
pub mod resources;
mod state;
mod updates;
mod validation;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use thiserror::Error;

use crate::http::server::Server;
use master::Master;
use resources::{ResourceError, Resources};

/// What the embedded cluster looks like.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Address the master (and the agents' executor API) listens on.
    pub bind: String,
    /// Number of agents.
    pub agents: usize,
    /// Resources of each agent, in the agent `--resources` syntax.
    pub agent_resources: String,
    /// Interval between HEARTBEAT events (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// Interval between allocation cycles (Mesos: 1 s).
    pub allocation_interval: Duration,
    /// First status-update retry interval; doubles up to 10 minutes.
    pub status_update_retry: Duration,
    /// Where sandboxes go; `None` = a fresh temporary directory removed on stop.
    pub work_dir: Option<PathBuf>,
    /// Hostname advertised for the master and the agents.
    pub hostname: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bind: "127.0.0.1:0".into(),
            agents: 1,
            agent_resources: "cpus:4;mem:4096;disk:10000;ports:[31000-32000]".into(),
            heartbeat_interval: Duration::from_secs(15),
            allocation_interval: Duration::from_secs(1),
            status_update_retry: Duration::from_secs(10),
            work_dir: None,
            hostname: "127.0.0.1".into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum LocalError {
    #[error("invalid agent resources: {0}")]
    Resources(#[from] ResourceError),
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    #[error("cannot create work directory {path}: {source}")]
    WorkDir { path: PathBuf, source: io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot start a cluster thread: {0}")]
    Thread(io::Error),
}

/// Messages to the ticker thread.
pub(crate) enum Tick {
    /// Something changed; recompute the next deadline.
    Wake,
    Stop,
}

/// State shared by the server's handler, the ticker and task threads.
pub(crate) struct Shared {
    master: Mutex<Master>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Master> {
        self.master.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `f` on the master if the cluster still exists.
pub(crate) fn with_master<R>(shared: &Weak<Shared>, f: impl FnOnce(&mut Master) -> R) -> Option<R> {
    let shared = shared.upgrade()?;
    let mut m = shared.lock();
    Some(f(&mut m))
}

/// A running embedded cluster. Stopped (tasks killed, sockets closed, the
/// temporary work directory removed) by [`LocalCluster::stop`] or on drop.
pub struct LocalCluster {
    shared: Arc<Shared>,
    server: Option<Server>,
    ticker: Option<(Sender<Tick>, JoinHandle<()>)>,
    addr: SocketAddr,
    work_dir: PathBuf,
    remove_work_dir: bool,
    stopped: bool,
}

impl LocalCluster {
    pub fn start(cfg: ClusterConfig) -> Result<LocalCluster, LocalError> {
        if cfg.agents == 0 {
            return Err(LocalError::Config("at least one agent is needed".into()));
        }
        if cfg.allocation_interval.is_zero()
            || cfg.heartbeat_interval.is_zero()
            || cfg.status_update_retry.is_zero()
        {
            return Err(LocalError::Config("intervals must be positive".into()));
        }
        let total = Resources::parse(&cfg.agent_resources)?;
        let master_id = uuid_string(&new_uuid());
        let (work_dir, remove_work_dir) = match &cfg.work_dir {
            Some(d) => (d.clone(), false),
            None => (
                std::env::temp_dir().join(format!("lua-mesos-local-{master_id}")),
                true,
            ),
        };
        std::fs::create_dir_all(&work_dir).map_err(|source| LocalError::WorkDir {
            path: work_dir.clone(),
            source,
        })?;
        let work_dir = work_dir.canonicalize().unwrap_or(work_dir);

        let (tick_tx, tick_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| Shared {
            master: Mutex::new(Master::new(
                cfg.clone(),
                master_id,
                work_dir.clone(),
                total,
                weak.clone(),
                tick_tx.clone(),
            )),
        });

        let handler = api::handler(shared.clone());
        let server = match Server::bind(&cfg.bind, handler) {
            Ok(s) => s,
            Err(source) => {
                if remove_work_dir {
                    let _ = std::fs::remove_dir_all(&work_dir);
                }
                return Err(LocalError::Bind {
                    addr: cfg.bind.clone(),
                    source,
                });
            }
        };
        let addr = server.addr();
        shared.lock().start(addr);

        let mut cluster = LocalCluster {
            shared: shared.clone(),
            server: Some(server),
            ticker: None,
            addr,
            work_dir,
            remove_work_dir,
            stopped: false,
        };
        let weak = Arc::downgrade(&shared);
        let ticker = thread::Builder::new()
            .name("mesos-local-ticker".into())
            .spawn(move || run_ticker(weak, tick_rx))
            .map_err(LocalError::Thread)?;
        cluster.ticker = Some((tick_tx, ticker));
        Ok(cluster)
    }

    /// The address the master listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<ip>:<port>`, the master's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Root of the agents' sandboxes (`<work_dir>/agents/<agent id>/...`).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Kills every task process, closes every stream and socket, and removes
    /// the temporary work directory. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let waiters = self.shared.lock().shutdown();
        if let Some((tx, handle)) = self.ticker.take() {
            let _ = tx.send(Tick::Stop);
            let _ = handle.join();
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        for w in waiters {
            let _ = w.join();
        }
        if self.remove_work_dir {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The ticker: sleeps until the master's next deadline (or a wake-up), then
/// lets it do whatever is due.
fn run_ticker(shared: Weak<Shared>, rx: Receiver<Tick>) {
    loop {
        let Some(deadline) = with_master(&shared, |m| m.next_deadline()) else {
            return;
        };
        let now = Instant::now();
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(now)
        });
        match rx.recv_timeout(wait) {
            Ok(Tick::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Tick::Wake) => {
                // Coalesce a burst of wake-ups.
                while let Ok(t) = rx.try_recv() {
                    if matches!(t, Tick::Stop) {
                        return;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if with_master(&shared, |m| m.tick(Instant::now())).is_none() {
            return;
        }
    }
}

/// 16 random bytes shaped as a version-4 UUID.
pub(crate) fn new_uuid() -> [u8; 16] {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The canonical 8-4-4-4-12 form.
pub(crate) fn uuid_string(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Seconds since the epoch, as Mesos timestamps are.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
