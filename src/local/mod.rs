//! An embedded Mesos-compatible cluster: one master and its agents, in this
//! process, on loopback, speaking the real Mesos v1 scheduler HTTP API (so
//! third-party clients work unchanged) and running command tasks as local
//! processes.
//!
//! What lives here, by job (each folder's `mod.rs` says more):
//! - `master/`: frameworks (subscription, failover, teardown), the accept
//!   path, the other scheduler calls, the master's view of tasks, its
//!   agents, offers and the allocator, timers;
//! - `agent/`: the agent model, the built-in (command, default) and custom
//!   executors, the agent's side of the executor API, processes, kills,
//!   status updates and their manager, timers, recovery (agent restarts,
//!   `--recover=reconnect`), the processes' environment, `/state`;
//! - `fetcher/`: the agents' fetcher (paths, `file://`, `http(s)://`) and
//!   fetcher cache: URIs, cache bookkeeping, downloads, extraction;
//! - `validation/`: Mesos's call, framework, resource and task rules;
//! - `protocol`: what master and agents share (version, agent ids,
//!   terminal states, the agents' messages to the master, ids);
//! - `config`: [`ClusterConfig`] and [`LocalError`];
//! - [`resources`]: agent resources and their arithmetic;
//! - `launcher`: spawning and signalling task processes;
//! - `api`: the master's HTTP routing and the scheduler endpoint's rules;
//! - `agent_api`: each agent's own HTTP endpoint (executor API, executor
//!   authentication, agent state);
//! - `operator_http`: the operator API's HTTP rules (`/api/v1` of the
//!   master and of each agent), see docs/operator-api.md;
//! - `http_rules`: what every endpoint shares (leadership, media types,
//!   parsing with Mesos's words, `Accept`, `?jsonp=`);
//! - `state`: the `/master/state` JSON; `summaries`: `/master/state-summary`,
//!   `/master/tasks`, `/master/roles`, `/metrics/snapshot`;
//! - `files`: the files the operator API serves (LIST_FILES, READ_FILE);
//! - `work_dir`: own work directories, and removing those of dead owners.
//!
//! Imports run one way: the HTTP layer (`api`, `agent_api`,
//! `operator_http`, `http_rules`, `state`, `summaries`) → `master` → `agent`
//! → the leaf modules (`protocol`, `config`, `fetcher`, `files`, `launcher`,
//! `resources`, `validation`); this file ties them together.
//!
//! Each agent listens on its own port, as a real agent does, and is
//! `slave(1)@ip:port` there; the master's port also answers
//! `/slave(N)/state` for the N-th agent, for convenience.
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
//! `test/differential/run` compares this cluster's answers with a real
//! Mesos 1.11 master and agent; docs/local-cluster-vs-mesos.md lists what it
//! covers and the differences that remain on purpose.
//!
//! What differs from a real cluster: tasks run as plain processes on this
//! host (no containers, images, cgroups or user switching; `ContainerInfo`
//! is ignored), resources are unreserved only (no RESERVE/CREATE operations),
//! offer constraints and `min_allocatable_resources` are accepted but not
//! applied, the fetcher takes paths, `file://` and `http(s)://` URIs only,
//! there are no health checks, no inverse offers and no master failover;
//! the operator API (docs/operator-api.md) keeps weights, quotas and
//! maintenance schedules without acting on them. Agents can be added
//! ([`LocalCluster::add_agent`]), removed ([`LocalCluster::remove_agent`]),
//! deactivated, drained and marked gone (the operator API), and restarted
//! ([`LocalCluster::restart_agent`]) the way `mesos-agent --recover=reconnect`
//! restarts: checkpointing frameworks keep their executors, tasks and
//! unacknowledged updates; executors must re-subscribe within
//! [`ClusterConfig::executor_reregistration_timeout`]. Unlike Mesos
//! (MESOS-7539), a restarted agent does not answer executors' calls with 503
//! until that timeout has passed: an executor that has re-subscribed may
//! send updates at once.
//!
//! Concurrency: all cluster state sits behind one mutex. HTTP connections
//! (the server's threads), one ticker thread (allocation, heartbeats,
//! status-update retries, failover timeouts, kill escalation) and one thread
//! per task process (waiting on the child) take the lock briefly.

mod agent;
mod agent_api;
mod api;
mod config;
mod fetcher;
mod files;
mod http_rules;
mod launcher;
mod master;
mod operator_http;
mod protocol;
pub mod resources;
mod state;
mod summaries;
mod validation;
mod work_dir;
// The web UI (`GET /`) and the sandboxes' `/files/*` endpoints: see
// docs/web-ui.md.
mod files_api;
mod sandbox_files;
mod webui;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::net::http::server::Server;
use crate::wire::codec::Encoding;
use master::{Master, Tick};
use protocol::{new_uuid, uuid_string};
use resources::Resources;

pub use config::{ClusterConfig, LocalError};
pub use fetcher::parse_bytes;

/// State shared by the server's handler, the ticker and task threads.
pub(crate) struct Shared {
    master: Mutex<Master>,
    /// The ZooKeeper membership, with `zk`.
    contender: Mutex<Option<crate::net::zk::Contender>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Master> {
        self.master.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// With ZooKeeper: (whether elected, the leader as known).
    pub(crate) fn election(&self) -> Option<(bool, crate::net::zk::Leader)> {
        crate::base::lock(&self.contender)
            .as_ref()
            .map(|c| c.status())
    }
}

/// Runs `f` on the master if the cluster still exists.
pub(crate) fn with_master<R>(shared: &Weak<Shared>, f: impl FnOnce(&mut Master) -> R) -> Option<R> {
    let shared = shared.upgrade()?;
    let mut m = shared.lock();
    Some(f(&mut m))
}

/// The agents' process threads report to the master, if the cluster still exists.
fn process_reporter(shared: Weak<Shared>) -> agent::ProcessReporter {
    Arc::new(move |key, event| with_master(&shared, |m| m.process_event(key, event)).is_some())
}

/// One agent's HTTP endpoint.
struct AgentEndpoint {
    tls: Option<Arc<rustls::ServerConfig>>,
    id: String,
    addr: SocketAddr,
    /// None while the agent is stopped.
    server: Option<Server>,
}

/// A running embedded cluster. Stopped (tasks killed, sockets closed, the
/// temporary work directory removed) by [`LocalCluster::stop`] or on drop.
pub struct LocalCluster {
    shared: Arc<Shared>,
    server: Option<Server>,
    agents: Vec<AgentEndpoint>,
    ticker: Option<(Sender<Tick>, JoinHandle<()>)>,
    addr: SocketAddr,
    tls: bool,
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
            || cfg.executor_registration_timeout.is_zero()
            || cfg.executor_reregistration_timeout.is_zero()
            || cfg.fetcher_stall_timeout.is_zero()
        {
            return Err(LocalError::Config("intervals must be positive".into()));
        }
        if cfg.executor_reregistration_timeout > Duration::from_secs(15) {
            return Err(LocalError::Config(
                "executor_reregistration_timeout must be at most 15 s (as in Mesos)".into(),
            ));
        }
        let total = Resources::parse(&cfg.agent_resources)?;
        let zk = match &cfg.zk {
            Some(z) => Some(
                crate::net::zk::ZkUrl::parse(z)
                    .map_err(|e| LocalError::Config(format!("zk: {e}")))?,
            ),
            None => None,
        };
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(cert), Some(key)) => Some(crate::net::http::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(LocalError::Config(
                    "tls_cert and tls_key go together".into(),
                ));
            }
        };
        let master_id = uuid_string(&new_uuid());
        let (work_dir, remove_work_dir) = match &cfg.work_dir {
            Some(d) => (d.clone(), false),
            None => {
                let tmp = std::env::temp_dir();
                work_dir::remove_stale(&tmp);
                (tmp.join(format!("{}{master_id}", work_dir::PREFIX)), true)
            }
        };
        std::fs::create_dir_all(&work_dir).map_err(|source| LocalError::WorkDir {
            path: work_dir.clone(),
            source,
        })?;
        if remove_work_dir {
            work_dir::claim(&work_dir).map_err(|source| LocalError::WorkDir {
                path: work_dir.clone(),
                source,
            })?;
        }
        let work_dir = work_dir.canonicalize().unwrap_or(work_dir);

        let (tick_tx, tick_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| Shared {
            master: Mutex::new(Master::new(
                cfg.clone(),
                master_id,
                work_dir.clone(),
                total,
                process_reporter(weak.clone()),
                tick_tx.clone(),
            )),
            contender: Mutex::new(None),
        });

        let handler = api::handler(shared.clone());
        let server = match Server::bind_tls(&cfg.bind, handler, tls.clone()) {
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
        let mut cluster = LocalCluster {
            shared: shared.clone(),
            server: Some(server),
            agents: vec![],
            ticker: None,
            addr,
            tls: tls.is_some(),
            work_dir,
            remove_work_dir,
            stopped: false,
        };
        // Each agent listens on its own port of the master's address.
        let agent_bind = SocketAddr::new(addr.ip(), 0).to_string();
        for n in 0..cfg.agents {
            let id = protocol::agent_id(&shared.lock().id, n);
            let handler = agent_api::handler(&shared, id.clone());
            let server = Server::bind_tls(&agent_bind, handler, tls.clone()).map_err(|source| {
                LocalError::Bind {
                    addr: agent_bind.clone(),
                    source,
                }
            })?;
            cluster.agents.push(AgentEndpoint {
                tls: tls.clone(),
                id,
                addr: server.addr(),
                server: Some(server),
            });
        }
        let agent_addrs: Vec<SocketAddr> = cluster.agents.iter().map(|a| a.addr).collect();
        shared.lock().start(addr, &agent_addrs);
        if let Some(url) = zk {
            let info = crate::wire::codec::encode(&shared.lock().info, Encoding::Json);
            let c = crate::net::zk::Contender::start(
                url,
                String::from_utf8_lossy(&info).into_owned(),
                tls.is_some(),
                cfg.zk_session_timeout,
            )
            .map_err(LocalError::Thread)?;
            // Start answering with the first election result known.
            c.wait_status(Duration::from_secs(10));
            *crate::base::lock(&shared.contender) = Some(c);
        }
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

    /// `http://<ip>:<port>` (`https://` with TLS), the master's base URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Root of the agents' sandboxes (`<work_dir>/agents/<agent id>/...`).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The address of the `index`-th agent's endpoint (`MESOS_AGENT_ENDPOINT`
    /// of its executors), counting from 0.
    pub fn agent_addr(&self, index: usize) -> Option<SocketAddr> {
        self.agents.get(index).map(|a| a.addr)
    }

    /// The id of the `index`-th agent, counting from 0.
    pub fn agent_id(&self, index: usize) -> Option<&str> {
        self.agents.get(index).map(|a| a.id.as_str())
    }

    /// Stops the `index`-th agent as if its process died: its endpoint
    /// closes (executors' connections break), the master deactivates it
    /// (its offers are rescinded), and everything of frameworks without
    /// `checkpoint` is killed and forgotten. Executors and tasks of
    /// checkpointing frameworks keep running. See [`Self::start_agent`].
    pub fn stop_agent(&mut self, index: usize) -> Result<(), LocalError> {
        let ep = self
            .agents
            .get_mut(index)
            .ok_or(LocalError::NoAgent(index))?;
        let Some(mut server) = ep.server.take() else {
            return Err(LocalError::AgentStopped(index));
        };
        self.shared.lock().stop_agent(&ep.id);
        server.stop();
        Ok(())
    }

    /// Starts a stopped agent again on the same port, with the state a
    /// `--recover=reconnect` agent recovers from its checkpoints: it
    /// re-registers with the master (tasks of frameworks that did not
    /// checkpoint become TASK_LOST, or TASK_DROPPED for partition-aware
    /// ones), resends unacknowledged updates, and waits
    /// [`ClusterConfig::executor_reregistration_timeout`] for its executors
    /// to re-subscribe before destroying the others.
    pub fn start_agent(&mut self, index: usize) -> Result<(), LocalError> {
        let ep = self
            .agents
            .get_mut(index)
            .ok_or(LocalError::NoAgent(index))?;
        if ep.server.is_some() {
            return Err(LocalError::AgentRunning(index));
        }
        if !self.shared.lock().agents.contains_key(&ep.id) {
            return Err(LocalError::AgentRemoved(index));
        }
        let handler = agent_api::handler(&self.shared, ep.id.clone());
        let addr = ep.addr.to_string();
        // The old listener is closed; a few retries cover a slow kernel.
        let mut tries = 0;
        let server = loop {
            match Server::bind_tls(&addr, handler.clone(), ep.tls.clone()) {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(source) => return Err(LocalError::Bind { addr, source }),
            }
        };
        ep.server = Some(server);
        let mut m = self.shared.lock();
        m.start_agent(&ep.id);
        Ok(())
    }

    /// Starts one more agent, as a new `mesos-agent` would register: it
    /// gets the next agent id and its own port, its resources are offered,
    /// and operator subscribers hear AGENT_ADDED. Its index.
    pub fn add_agent(&mut self) -> Result<usize, LocalError> {
        let id = self.shared.lock().next_agent_id();
        let tls = self.agents.first().and_then(|a| a.tls.clone());
        let handler = agent_api::handler(&self.shared, id.clone());
        let bind = SocketAddr::new(self.addr.ip(), 0).to_string();
        let server = Server::bind_tls(&bind, handler, tls.clone())
            .map_err(|source| LocalError::Bind { addr: bind, source })?;
        let addr = server.addr();
        let registered = self.shared.lock().register_agent(addr);
        debug_assert_eq!(registered, id);
        self.agents.push(AgentEndpoint {
            tls,
            id,
            addr,
            server: Some(server),
        });
        Ok(self.agents.len() - 1)
    }

    /// Shuts the `index`-th agent down for good, as a `mesos-agent` that
    /// stops and unregisters (`Master::unregisterSlave`): its tasks are
    /// killed and become TASK_LOST (REASON_AGENT_REMOVED), frameworks get
    /// a FAILURE event naming the agent, operator subscribers get
    /// AGENT_REMOVED, and its endpoint closes. It cannot be started again.
    pub fn remove_agent(&mut self, index: usize) -> Result<(), LocalError> {
        let ep = self
            .agents
            .get_mut(index)
            .ok_or(LocalError::NoAgent(index))?;
        self.shared.lock().unregister_agent(&ep.id);
        if let Some(mut server) = ep.server.take() {
            server.stop();
        }
        Ok(())
    }

    /// [`Self::stop_agent`] then [`Self::start_agent`]: what
    /// `mesos-agent --recover=reconnect` does when restarted.
    pub fn restart_agent(&mut self, index: usize) -> Result<(), LocalError> {
        self.stop_agent(index)?;
        self.start_agent(index)
    }

    /// Kills every task process, closes every stream and socket, and removes
    /// the temporary work directory. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // Leave the ZooKeeper group first (the ephemeral node goes at once),
        // so that another master takes over without waiting for a timeout.
        drop(crate::base::lock(&self.shared.contender).take());
        let waiters = self.shared.lock().shutdown();
        if let Some((tx, handle)) = self.ticker.take() {
            let _ = tx.send(Tick::Stop);
            let _ = handle.join();
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        for a in &mut self.agents {
            if let Some(mut server) = a.server.take() {
                server.stop();
            }
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
        // A master that is no longer elected drops its schedulers' streams,
        // so that they find the new leader (Mesos's master exits instead).
        if let Some(s) = shared.upgrade()
            && let Some((leading, _)) = s.election()
        {
            let mut m = s.lock();
            if m.leading && !leading {
                m.abdicate();
            }
            m.leading = leading;
        }
    }
}
