//! The cluster's configuration ([`ClusterConfig`], with Mesos's defaults)
//! and the errors of starting and steering it ([`LocalError`]).
//!
//! May import: `resources`, `fetcher` (its defaults) and the crate's
//! shared modules; nothing of the master or the agents.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::fetcher;
use super::resources::ResourceError;

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
    /// `--executor_registration_timeout`: an executor that has not
    /// subscribed this long after its launch is destroyed (its tasks fail
    /// with REASON_EXECUTOR_REGISTRATION_TIMEOUT). Mesos: 1 minute.
    pub executor_registration_timeout: Duration,
    /// `--executor_reregistration_timeout`: after an agent restart, how long
    /// executors of checkpointing frameworks have to re-subscribe; also
    /// their `MESOS_SUBSCRIPTION_BACKOFF_MAX`. Mesos: 2 s.
    pub executor_reregistration_timeout: Duration,
    /// `--executor_shutdown_grace_period`, when `ExecutorInfo` gives none.
    /// Mesos: 5 s.
    pub executor_shutdown_grace_period: Duration,
    /// `--authenticate_http_executors`: each custom executor gets a token in
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN` and its calls must carry
    /// `Authorization: Bearer <token>` (else 401).
    pub executor_auth: bool,
    /// PEM certificate chain and private key: when both are set, the master
    /// and the agents' executor endpoints serve https only (and executors
    /// get `LIBPROCESS_SSL_ENABLED=1`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle that signed `tls_cert`: executors get it as
    /// `LIBPROCESS_SSL_CA_FILE` (a Mesos agent's executors inherit the
    /// agent's libprocess SSL environment), a scheduler started with
    /// `master = "local"` trusts it, and so does the agents' fetcher for
    /// `https://` URIs (instead of the system's roots).
    pub tls_ca_file: Option<PathBuf>,
    /// `--credentials` with `--authenticate_http_frameworks`: scheduler
    /// calls must carry `Authorization: Basic` with one of these (else 401
    /// with `WWW-Authenticate: Basic realm="mesos-master-scheduler"`).
    pub framework_credentials: Option<Vec<crate::net::credentials::Credential>>,
    /// `--zk`: register in this ZooKeeper group (`zk://host:port/path`) and
    /// serve schedulers only while elected; otherwise answer 307 to the
    /// leader, or 503 when none is known.
    pub zk: Option<String>,
    /// `--zk_session_timeout` (Mesos: 10 s): how soon the others take over
    /// when this master dies without closing its session.
    pub zk_session_timeout: Duration,
    /// `--fetcher_cache_dir`: where the agents cache the URIs fetched with
    /// `cache` (agent N, from 0, in `<dir>/agent-N`, emptied when it
    /// starts); `None` = `<work_dir>/fetch`.
    pub fetcher_cache_dir: Option<PathBuf>,
    /// `--fetcher_cache_size` of each agent in bytes (Mesos: 2 GB); 0
    /// disables the cache.
    pub fetcher_cache_size: u64,
    /// `--fetcher_stall_timeout` (Mesos: 60 s): a download that gets no
    /// byte for this long fails; it also bounds connecting and the TLS
    /// handshake.
    pub fetcher_stall_timeout: Duration,
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
            executor_registration_timeout: Duration::from_secs(60),
            executor_reregistration_timeout: Duration::from_secs(2),
            executor_shutdown_grace_period: Duration::from_secs(5),
            executor_auth: false,
            tls_cert: None,
            tls_key: None,
            tls_ca_file: None,
            framework_credentials: None,
            zk: None,
            zk_session_timeout: crate::net::zk::SESSION_TIMEOUT,
            fetcher_cache_dir: None,
            fetcher_cache_size: fetcher::DEFAULT_CACHE_SIZE,
            fetcher_stall_timeout: fetcher::DEFAULT_STALL_TIMEOUT,
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
    #[error("no agent number {0}")]
    NoAgent(usize),
    #[error("agent {0} is not running")]
    AgentStopped(usize),
    #[error("agent {0} is already running")]
    AgentRunning(usize),
    #[error("agent {0} has left the cluster (removed or marked gone)")]
    AgentRemoved(usize),
    #[error("TLS: {0}")]
    Tls(#[from] crate::net::http::tls::TlsError),
}
