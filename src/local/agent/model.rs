//! The agent model: an agent, its frameworks, executors (of three kinds)
//! and tasks, as the agent keeps them, and the little helpers every part of
//! the agent uses (a status update of this agent, the sandbox path, the
//! environment and spec of a process, cleanup of what has ended).
//!
//! May import: `update_manager`, `env`, and the cluster's leaf modules
//! (`protocol`, `config`, `fetcher`, `launcher`, `resources`, `validation`).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::env;
use super::update_manager::StatusUpdateManager;
use crate::local::config::ClusterConfig;
use crate::local::fetcher::Fetcher;
use crate::local::launcher::Spec;
use crate::local::protocol::{ToMaster, new_uuid, now_secs, uuid_string};
use crate::local::resources::Resources;
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::TaskState;
use pb::executor as xpb;
use pb::task_status::{Reason, Source};

/// Kill grace period when no kill policy says otherwise.
pub(super) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`: HEARTBEAT events on executor streams.
pub(super) const EXECUTOR_HEARTBEAT: Duration = Duration::from_secs(30 * 60);

/// The agent flags that matter here.
#[derive(Debug, Clone)]
pub(crate) struct AgentFlags {
    pub status_update_retry: Duration,
    pub registration_timeout: Duration,
    pub reregistration_timeout: Duration,
    pub shutdown_grace: Duration,
    pub executor_auth: bool,
    /// The endpoint serves https (`LIBPROCESS_SSL_ENABLED=1` for executors).
    pub tls: bool,
    /// `LIBPROCESS_SSL_CA_FILE` for executors.
    pub tls_ca_file: Option<PathBuf>,
    /// `--resources`, as given.
    pub resources: String,
}

impl AgentFlags {
    pub fn from_config(cfg: &ClusterConfig) -> Self {
        AgentFlags {
            status_update_retry: cfg.status_update_retry,
            registration_timeout: cfg.executor_registration_timeout,
            reregistration_timeout: cfg.executor_reregistration_timeout,
            shutdown_grace: cfg.executor_shutdown_grace_period,
            executor_auth: cfg.executor_auth,
            tls: cfg.tls_cert.is_some(),
            tls_ca_file: cfg.tls_ca_file.clone(),
            resources: cfg.agent_resources.clone(),
        }
    }
}

/// Why a custom executor's container went away, and what its live tasks
/// become (`ContainerTermination` / `Executor::pendingTermination`).
#[derive(Debug, Clone)]
pub(super) struct Termination {
    pub(super) state: TaskState,
    pub(super) reason: Reason,
    pub(super) message: String,
}

impl Default for Termination {
    fn default() -> Self {
        Termination {
            state: TaskState::TaskFailed,
            reason: Reason::ExecutorTerminated,
            message: "Executor terminated".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExecutorKind {
    /// The built-in command executor: one task, executor id = task id.
    Command,
    /// The default executor: task groups.
    Default,
    /// A framework's executor, speaking the executor HTTP API.
    Custom,
}

pub(super) struct AgentTask {
    pub(super) info: pb::TaskInfo,
    pub(super) state: TaskState,
    pub(super) group: u64,
    pub(super) container_id: String,
    pub(super) pid: Option<i32>,
    /// The task has ended: its process exited, or (custom executors) a
    /// terminal update came.
    pub(super) exited: bool,
    pub(super) killed: bool,
    pub(super) kill_deadline: Option<Instant>,
    /// `TaskInfo.max_completion_time` runs out at (from the process start).
    pub(super) completion_deadline: Option<Instant>,
    pub(super) timed_out: bool,
    /// The terminal update has been acknowledged.
    pub(super) acked: bool,
    /// Custom executors: the task was sent to the executor.
    pub(super) delivered: bool,
    /// The updates the agent accepted for it, in order.
    pub(super) statuses: Vec<pb::TaskStatus>,
}

/// Undelivered work of a custom executor, in order.
pub(super) enum Pending {
    Task(String),
    Group(Vec<String>),
}

/// An executor's subscription stream.
pub(super) struct ExecutorStream {
    pub(super) id: u64,
    pub(super) enc: Encoding,
    pub(super) tx: Sender<Vec<u8>>,
    pub(super) next_heartbeat: Instant,
}

impl ExecutorStream {
    pub(super) fn send(&self, ev: &xpb::Event) {
        let _ = self.tx.send(recordio::encode(&codec::encode(ev, self.enc)));
    }
}

/// The process and connection of a custom executor.
#[derive(Default)]
pub(super) struct CustomExecutor {
    pub(super) pid: Option<i32>,
    pub(super) subscribed: bool,
    pub(super) conn: Option<ExecutorStream>,
    pub(super) pending: Vec<Pending>,
    pub(super) ever_sent: bool,
    /// The executor must (re-)subscribe by then.
    pub(super) registration_deadline: Option<Instant>,
    /// Recovered after an agent restart, not re-subscribed yet.
    pub(super) recovered: bool,
    /// When the process gets SIGKILL (after SHUTDOWN's grace period).
    pub(super) destroy_deadline: Option<Instant>,
    pub(super) destroyed: bool,
    /// Why the agent destroyed it (for the updates of its live tasks).
    pub(super) termination: Option<Termination>,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, with executor authentication.
    pub(super) token: Option<String>,
}

pub(super) struct Executor {
    pub(super) info: pb::ExecutorInfo,
    pub(super) kind: ExecutorKind,
    pub(super) container_id: String,
    pub(super) directory: PathBuf,
    pub(super) tasks: BTreeMap<String, AgentTask>,
    pub(super) next_group: u64,
    /// Groups whose tasks are being killed because one of them ended badly.
    pub(super) killing_groups: Vec<u64>,
    pub(super) shutting_down: bool,
    pub(super) terminated: bool,
    pub(super) custom: Option<CustomExecutor>,
}

impl Executor {
    pub(super) fn new(
        info: pb::ExecutorInfo,
        kind: ExecutorKind,
        container_id: String,
        directory: PathBuf,
        flags: &AgentFlags,
    ) -> Self {
        Executor {
            info,
            kind,
            container_id,
            directory,
            tasks: BTreeMap::new(),
            next_group: 1,
            killing_groups: vec![],
            shutting_down: false,
            terminated: false,
            custom: (kind == ExecutorKind::Custom).then(|| CustomExecutor {
                registration_deadline: Some(Instant::now() + flags.registration_timeout),
                token: flags
                    .executor_auth
                    .then(|| uuid_string(&new_uuid()) + &uuid_string(&new_uuid())),
                ..Default::default()
            }),
        }
    }

    pub(super) fn conn(&self) -> Option<&ExecutorStream> {
        self.custom.as_ref().and_then(|x| x.conn.as_ref())
    }
}

pub(super) struct AgentFramework {
    pub(super) info: pb::FrameworkInfo,
    pub(super) executors: BTreeMap<String, Executor>,
    pub(super) terminating: bool,
}

pub(crate) struct Agent {
    pub id: String,
    /// `slave(1)@ip:port`.
    pub pid: String,
    /// `ip:port` of the agent's own endpoint (`MESOS_AGENT_ENDPOINT`).
    pub endpoint: String,
    pub info: pb::AgentInfo,
    pub total: Resources,
    /// False between [`Agent::stop`] and [`Agent::recover`]: the agent
    /// process is "down".
    pub running: bool,
    /// Registered with the master: false from [`Agent::stop`] until the
    /// agent has recovered (its executors re-subscribed or timed out) and
    /// re-registered ([`Agent::reregistered`]). Meanwhile the master treats
    /// it as deactivated and it sends the master nothing.
    pub registered: bool,
    pub(super) flags: AgentFlags,
    pub(super) dir: PathBuf,
    pub(super) frameworks: BTreeMap<String, AgentFramework>,
    pub(super) updates: StatusUpdateManager,
    pub outbox: Vec<ToMaster>,
    pub(super) waiters: Vec<JoinHandle<()>>,
    pub(super) next_conn: u64,
    pub(super) fetcher: Arc<Fetcher>,
    /// While draining: the drain's configuration and when it began.
    pub(super) drain: Option<(pb::DrainConfig, f64)>,
    /// What has ended, newest last (the operator API lists them).
    pub(super) history: History,
    /// SET_LOGGING_LEVEL: the level, until when.
    pub(super) logging: Option<(u32, Instant)>,
}

/// Most completed executors an agent remembers
/// (`--max_completed_executors_per_framework`, for all frameworks here).
pub(super) const MAX_COMPLETED_EXECUTORS: usize = 150;

/// Ended frameworks, executors and tasks an agent remembers.
#[derive(Default)]
pub(super) struct History {
    pub(super) frameworks: VecDeque<pb::FrameworkInfo>,
    pub(super) executors: VecDeque<pb::ExecutorInfo>,
    pub(super) tasks: VecDeque<pb::Task>,
    /// Tasks that reached each terminal state, by state name.
    pub(super) terminal: BTreeMap<&'static str, u64>,
    pub(super) valid_status_updates: u64,
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, max: usize) {
    list.push_back(item);
    while list.len() > max {
        list.pop_front();
    }
}

/// A task as the agent's operator API shows it (`protobuf::createTask`
/// plus its statuses): the executor id only for tasks that named an
/// executor.
pub(super) fn task_record(
    agent_id: &str,
    fw_id: &str,
    exec_id: &str,
    kind: ExecutorKind,
    t: &AgentTask,
) -> pb::Task {
    let last_acked = t.statuses.iter().rev().find(|s| s.uuid.is_some());
    pb::Task {
        name: t.info.name.clone(),
        task_id: t.info.task_id.clone(),
        framework_id: pb::FrameworkId {
            value: fw_id.into(),
        },
        executor_id: (kind != ExecutorKind::Command).then(|| pb::ExecutorId {
            value: exec_id.into(),
        }),
        agent_id: pb::AgentId {
            value: agent_id.into(),
        },
        state: t.state as i32,
        resources: t.info.resources.clone(),
        statuses: t.statuses.clone(),
        status_update_state: last_acked.map(|s| s.state),
        status_update_uuid: last_acked.and_then(|s| s.uuid.clone()),
        labels: t.info.labels.clone(),
        discovery: t.info.discovery.clone(),
        container: t.info.container.clone(),
        health_check: t.info.health_check.clone(),
        kill_policy: t.info.kill_policy,
        limits: t.info.limits.clone(),
        ..Default::default()
    }
}

pub(super) fn new_task(info: pb::TaskInfo, group: u64, container_id: String) -> AgentTask {
    AgentTask {
        info,
        state: TaskState::TaskStaging,
        group,
        container_id,
        pid: None,
        exited: false,
        killed: false,
        kill_deadline: None,
        completion_deadline: None,
        timed_out: false,
        acked: false,
        delivered: false,
        statuses: vec![],
    }
}

pub(super) fn duration_of(d: &pb::DurationInfo) -> Duration {
    Duration::from_nanos(d.nanoseconds.max(0) as u64)
}

pub(super) fn fw_id_of(fw: &pb::FrameworkInfo) -> String {
    fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default()
}

pub(super) fn executor_event(t: xpb::event::Type) -> xpb::Event {
    xpb::Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

impl Agent {
    pub fn new(
        id: String,
        endpoint: String,
        info: pb::AgentInfo,
        total: Resources,
        dir: PathBuf,
        flags: AgentFlags,
        fetcher: Arc<Fetcher>,
    ) -> Agent {
        Agent {
            id,
            pid: format!("slave(1)@{endpoint}"),
            endpoint,
            info,
            total,
            running: true,
            registered: true,
            dir,
            frameworks: BTreeMap::new(),
            updates: StatusUpdateManager::new(flags.status_update_retry),
            flags,
            outbox: vec![],
            waiters: vec![],
            next_conn: 0,
            fetcher,
            drain: None,
            history: History::default(),
            logging: None,
        }
    }

    pub(super) fn framework(&mut self, fw: &pb::FrameworkInfo) -> &mut AgentFramework {
        let f = self
            .frameworks
            .entry(fw_id_of(fw))
            .or_insert_with(|| AgentFramework {
                info: fw.clone(),
                executors: BTreeMap::new(),
                terminating: false,
            });
        f.info = fw.clone();
        f
    }

    pub(super) fn executor(&mut self, fw_id: &str, exec_id: &str) -> Option<&mut Executor> {
        self.frameworks.get_mut(fw_id)?.executors.get_mut(exec_id)
    }

    pub(super) fn executor_dir(&self, fw: &str, exec: &str, container: &str) -> PathBuf {
        self.dir
            .join("frameworks")
            .join(fw)
            .join("executors")
            .join(exec)
            .join("runs")
            .join(container)
    }

    pub(super) fn status(
        &self,
        task_id: &str,
        exec_id: Option<&str>,
        state: TaskState,
        source: Source,
        reason: Option<Reason>,
        message: Option<String>,
    ) -> pb::TaskStatus {
        pb::TaskStatus {
            task_id: pb::TaskId {
                value: task_id.into(),
            },
            state: state as i32,
            message,
            source: Some(source as i32),
            reason: reason.map(|r| r as i32),
            agent_id: Some(pb::AgentId {
                value: self.id.clone(),
            }),
            executor_id: exec_id.map(|e| pb::ExecutorId { value: e.into() }),
            timestamp: Some(now_secs()),
            uuid: Some(new_uuid().to_vec()),
            ..Default::default()
        }
    }

    /// The environment of an executor or command task (`executorEnvironment()`).
    pub(super) fn env(
        &self,
        fw: &pb::FrameworkInfo,
        exec: &pb::ExecutorInfo,
        directory: &Path,
        sandbox: &Path,
        token: Option<&str>,
    ) -> Vec<(String, String)> {
        env::executor_environment(&env::EnvSpec {
            framework: fw,
            executor: exec,
            directory,
            sandbox,
            agent_id: &self.id,
            agent_pid: &self.pid,
            agent_endpoint: &self.endpoint,
            default_grace: self.flags.shutdown_grace,
            reregistration_timeout: self.flags.reregistration_timeout,
            token,
            tls: self.flags.tls,
            ca_file: self.flags.tls_ca_file.as_deref(),
        })
    }

    /// What starting a process needs: its command, whose URIs the agent's
    /// fetcher brings in for the command's user (else the framework's).
    pub(super) fn spec(
        &self,
        fw: &pb::FrameworkInfo,
        command: pb::CommandInfo,
        sandbox: PathBuf,
        env: Vec<(String, String)>,
    ) -> Spec {
        let user = command.user.clone().unwrap_or_else(|| fw.user.clone());
        Spec {
            command,
            sandbox,
            env,
            fetcher: self.fetcher.clone(),
            user: Some(user).filter(|u| !u.is_empty()),
        }
    }

    /// Drops finished tasks, executors and frameworks.
    pub(super) fn cleanup(&mut self, fw_id: &str) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let terminating = fw.terminating;
        let history = &mut self.history;
        for (exec_id, exec) in fw.executors.iter_mut() {
            let done: Vec<String> = exec
                .tasks
                .iter()
                .filter(|(_, t)| t.exited && (t.acked || terminating))
                .map(|(id, _)| id.clone())
                .collect();
            for id in done {
                if let Some(t) = exec.tasks.remove(&id) {
                    let record = task_record(&self.id, fw_id, exec_id, exec.kind, &t);
                    push_bounded(&mut history.tasks, record, MAX_COMPLETED_EXECUTORS * 10);
                }
            }
        }
        let ended: Vec<String> = fw
            .executors
            .iter()
            .filter(|(_, e)| e.terminated && e.tasks.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            if let Some(e) = fw.executors.remove(&id) {
                push_bounded(&mut history.executors, e.info, MAX_COMPLETED_EXECUTORS);
            }
        }
        if fw.executors.is_empty()
            && (terminating || !self.updates.has_framework(fw_id))
            && let Some(f) = self.frameworks.remove(fw_id)
        {
            push_bounded(&mut history.frameworks, f.info, 50);
        }
        // A draining agent with nothing left has drained
        // (`Slave::updateDrainStatus`).
        if self.frameworks.is_empty() {
            self.drain = None;
        }
    }
}
