//! One agent: its executors and task processes, its side of the executor
//! HTTP API, and its task status-update manager (per task, one update in
//! flight to the master, retried with doubling backoff until the
//! scheduler's acknowledgement comes back).
//!
//! Three kinds of executors, as on a real agent:
//! - command tasks run the way the Mesos command executor runs them
//!   (executor id = task id, one process per task);
//! - DEFAULT-executor task groups run the way the default executor runs them
//!   (one process per task; a failed or killed task kills its group);
//! - custom executors are real processes that subscribe to
//!   `/api/v1/executor` and get LAUNCH/KILL/SHUTDOWN events.
//!
//! The agent talks to the master only through [`ToMaster`] messages in its
//! outbox and the calls the master makes on it.

mod env;
mod recovery;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Value as Json, json};

use super::config::ClusterConfig;
use super::fetcher::Fetcher;
use super::launcher::{self, Exit, Spec};
use super::protocol::{self, ToMaster, is_terminal, new_uuid, now_secs, uuid_string};
use super::resources::Resources;
use super::updates::{Acked, Forward, Manager};
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::TaskState;
use pb::executor as xpb;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::{Reason, Source};

/// Kill grace period when no kill policy says otherwise.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`: HEARTBEAT events on executor streams.
const EXECUTOR_HEARTBEAT: Duration = Duration::from_secs(30 * 60);

/// What becomes of a process an agent started, as its thread reports it.
pub(crate) enum ProcessEvent {
    Started(i32),
    LaunchFailed(String),
    Exited(Exit),
}

/// Where an agent's process threads report to (the master, which owns the
/// agents): false once the cluster is gone.
pub(crate) type ProcessReporter = Arc<dyn Fn(&ProcKey, ProcessEvent) -> bool + Send + Sync>;

/// What an agent needs from its surroundings.
#[derive(Clone)]
pub(crate) struct AgentCtx {
    pub report: ProcessReporter,
}

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
        }
    }
}

/// Why a custom executor's container went away, and what its live tasks
/// become (`ContainerTermination` / `Executor::pendingTermination`).
#[derive(Debug, Clone)]
struct Termination {
    state: TaskState,
    reason: Reason,
    message: String,
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

/// Identifies one process (a task's, or a custom executor's when `task_id`
/// is None) for the thread that waits on it.
#[derive(Debug, Clone)]
pub(crate) struct ProcKey {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub task_id: Option<String>,
    pub container_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecutorKind {
    /// The built-in command executor: one task, executor id = task id.
    Command,
    /// The default executor: task groups.
    Default,
    /// A framework's executor, speaking the executor HTTP API.
    Custom,
}

struct AgentTask {
    info: pb::TaskInfo,
    state: TaskState,
    group: u64,
    container_id: String,
    pid: Option<i32>,
    /// The task has ended: its process exited, or (custom executors) a
    /// terminal update came.
    exited: bool,
    killed: bool,
    kill_deadline: Option<Instant>,
    /// `TaskInfo.max_completion_time` runs out at (from the process start).
    completion_deadline: Option<Instant>,
    timed_out: bool,
    /// The terminal update has been acknowledged.
    acked: bool,
    /// Custom executors: the task was sent to the executor.
    delivered: bool,
}

/// Undelivered work of a custom executor, in order.
enum Pending {
    Task(String),
    Group(Vec<String>),
}

/// An executor's subscription stream.
struct ExecutorStream {
    id: u64,
    enc: Encoding,
    tx: Sender<Vec<u8>>,
    next_heartbeat: Instant,
}

impl ExecutorStream {
    fn send(&self, ev: &xpb::Event) {
        let _ = self.tx.send(recordio::encode(&codec::encode(ev, self.enc)));
    }
}

/// The process and connection of a custom executor.
#[derive(Default)]
struct CustomExecutor {
    pid: Option<i32>,
    subscribed: bool,
    conn: Option<ExecutorStream>,
    pending: Vec<Pending>,
    ever_sent: bool,
    /// The executor must (re-)subscribe by then.
    registration_deadline: Option<Instant>,
    /// Recovered after an agent restart, not re-subscribed yet.
    recovered: bool,
    /// When the process gets SIGKILL (after SHUTDOWN's grace period).
    destroy_deadline: Option<Instant>,
    destroyed: bool,
    /// Why the agent destroyed it (for the updates of its live tasks).
    termination: Option<Termination>,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, with executor authentication.
    token: Option<String>,
}

struct Executor {
    info: pb::ExecutorInfo,
    kind: ExecutorKind,
    container_id: String,
    directory: PathBuf,
    tasks: BTreeMap<String, AgentTask>,
    next_group: u64,
    /// Groups whose tasks are being killed because one of them ended badly.
    killing_groups: Vec<u64>,
    shutting_down: bool,
    terminated: bool,
    custom: Option<CustomExecutor>,
}

impl Executor {
    fn new(
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

    fn conn(&self) -> Option<&ExecutorStream> {
        self.custom.as_ref().and_then(|x| x.conn.as_ref())
    }
}

struct AgentFramework {
    info: pb::FrameworkInfo,
    executors: BTreeMap<String, Executor>,
    terminating: bool,
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
    flags: AgentFlags,
    dir: PathBuf,
    frameworks: BTreeMap<String, AgentFramework>,
    updates: Manager,
    pub outbox: Vec<ToMaster>,
    waiters: Vec<JoinHandle<()>>,
    next_conn: u64,
    fetcher: Arc<Fetcher>,
}

fn has_capability(fw: &pb::FrameworkInfo, cap: Cap) -> bool {
    fw.capabilities.iter().any(|c| c.r#type() == cap)
}

fn duration_of(d: &pb::DurationInfo) -> Duration {
    Duration::from_nanos(d.nanoseconds.max(0) as u64)
}

fn fw_id_of(fw: &pb::FrameworkInfo) -> String {
    fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default()
}

fn executor_event(t: xpb::event::Type) -> xpb::Event {
    xpb::Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

/// Errors of the executor API: (HTTP status, body).
pub(crate) type HttpError = (u16, String);

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
            updates: Manager::new(flags.status_update_retry),
            flags,
            outbox: vec![],
            waiters: vec![],
            next_conn: 0,
            fetcher,
        }
    }

    fn framework(&mut self, fw: &pb::FrameworkInfo) -> &mut AgentFramework {
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

    fn executor(&mut self, fw_id: &str, exec_id: &str) -> Option<&mut Executor> {
        self.frameworks.get_mut(fw_id)?.executors.get_mut(exec_id)
    }

    fn executor_dir(&self, fw: &str, exec: &str, container: &str) -> PathBuf {
        self.dir
            .join("frameworks")
            .join(fw)
            .join("executors")
            .join(exec)
            .join("runs")
            .join(container)
    }

    fn status(
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
    fn env(
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
    fn spec(
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

    fn spawn(&mut self, ctx: &AgentCtx, key: ProcKey, spec: Spec) {
        let report = ctx.report.clone();
        let k = key.clone();
        let spawned = thread::Builder::new()
            .name("mesos-local-proc".into())
            .spawn(move || run_process(&report, k, spec));
        match spawned {
            Ok(h) => self.waiters.push(h),
            Err(e) => self.launch_failed(&key, format!("Failed to start a thread: {e}")),
        }
    }

    // ------------------------------------------------------------ launching

    /// Runs a task given in a LAUNCH operation.
    pub fn run_task(&mut self, ctx: &AgentCtx, fw: &pb::FrameworkInfo, task: pb::TaskInfo) {
        let fw_id = fw_id_of(fw);
        let task_id = task.task_id.value.clone();
        if let Some(xi) = task.executor.clone() {
            let exec_id = xi.executor_id.value.clone();
            if !self.custom_executor_ready(ctx, fw, &xi, &task_id) {
                return;
            }
            if let Some(exec) = self.executor(&fw_id, &exec_id) {
                exec.tasks
                    .insert(task_id.clone(), new_task(task, 0, String::new()));
                if let Some(x) = &mut exec.custom {
                    x.pending.push(Pending::Task(task_id));
                }
            }
            self.flush(&fw_id, &exec_id);
            return;
        }
        let container_id = uuid_string(&new_uuid());
        let directory = self.executor_dir(&fw_id, &task_id, &container_id);
        let info = pb::ExecutorInfo {
            executor_id: pb::ExecutorId {
                value: task_id.clone(),
            },
            framework_id: fw.id.clone(),
            name: Some(format!("Command Executor (Task: {task_id})")),
            command: task.command.clone(),
            ..Default::default()
        };
        let mut env = self.env(fw, &info, &directory, &directory, None);
        env.push(("MESOS_TASK_ID".into(), task_id.clone()));
        let mut exec = Executor::new(
            info,
            ExecutorKind::Command,
            container_id.clone(),
            directory.clone(),
            &self.flags,
        );
        exec.tasks.insert(
            task_id.clone(),
            new_task(task.clone(), 0, container_id.clone()),
        );
        self.framework(fw).executors.insert(task_id.clone(), exec);
        let starting = self.status(
            &task_id,
            Some(&task_id),
            TaskState::TaskStarting,
            Source::Executor,
            None,
            None,
        );
        self.push_update(&fw_id, starting);
        let key = ProcKey {
            agent_id: self.id.clone(),
            framework_id: fw_id,
            executor_id: task_id.clone(),
            task_id: Some(task_id),
            container_id,
        };
        let spec = self.spec(fw, task.command.unwrap_or_default(), directory, env);
        self.spawn(ctx, key, spec);
    }

    /// Makes sure a live custom executor exists for a new task (launching it
    /// if needed). False if the task cannot go to it (an update was sent).
    fn custom_executor_ready(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        xi: &pb::ExecutorInfo,
        task_id: &str,
    ) -> bool {
        let fw_id = fw_id_of(fw);
        let exec_id = xi.executor_id.value.clone();
        self.framework(fw);
        match self.executor(&fw_id, &exec_id) {
            Some(e) if e.kind == ExecutorKind::Custom && !e.terminated && !e.shutting_down => true,
            Some(_) => {
                let state = if has_capability(fw, Cap::PartitionAware) {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let st = self.status(
                    task_id,
                    Some(&exec_id),
                    state,
                    Source::Agent,
                    Some(Reason::ExecutorTerminated),
                    Some("Executor terminating".into()),
                );
                self.push_update(&fw_id, st);
                false
            }
            None => {
                let container_id = uuid_string(&new_uuid());
                let directory = self.executor_dir(&fw_id, &exec_id, &container_id);
                let exec = Executor::new(
                    xi.clone(),
                    ExecutorKind::Custom,
                    container_id.clone(),
                    directory.clone(),
                    &self.flags,
                );
                let token = exec.custom.as_ref().and_then(|x| x.token.clone());
                let env = self.env(fw, xi, &directory, &directory, token.as_deref());
                self.framework(fw).executors.insert(exec_id.clone(), exec);
                let key = ProcKey {
                    agent_id: self.id.clone(),
                    framework_id: fw_id,
                    executor_id: exec_id,
                    task_id: None,
                    container_id,
                };
                let spec = self.spec(fw, xi.command.clone().unwrap_or_default(), directory, env);
                self.spawn(ctx, key, spec);
                true
            }
        }
    }

    /// Runs a task group (LAUNCH_GROUP): on the default executor, or on a
    /// custom executor as one LAUNCH_GROUP event.
    pub fn run_task_group(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        let fw_id = fw_id_of(fw);
        let exec_id = executor.executor_id.value.clone();
        if executor.r#type == Some(pb::executor_info::Type::Custom as i32) {
            let first = group
                .tasks
                .first()
                .map(|t| t.task_id.value.clone())
                .unwrap_or_default();
            if !self.custom_executor_ready(ctx, fw, &executor, &first) {
                for t in group.tasks.iter().skip(1) {
                    self.custom_executor_ready(ctx, fw, &executor, &t.task_id.value);
                }
                return;
            }
            if let Some(exec) = self.executor(&fw_id, &exec_id) {
                let g = exec.next_group;
                exec.next_group += 1;
                let ids: Vec<String> = group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.value.clone())
                    .collect();
                for t in group.tasks {
                    exec.tasks
                        .insert(t.task_id.value.clone(), new_task(t, g, String::new()));
                }
                if let Some(x) = &mut exec.custom {
                    x.pending.push(Pending::Group(ids));
                }
            }
            self.flush(&fw_id, &exec_id);
            return;
        }

        let reuse = self
            .frameworks
            .get(&fw_id)
            .and_then(|f| f.executors.get(&exec_id))
            .is_some_and(|e| e.kind == ExecutorKind::Default && !e.terminated && !e.shutting_down);
        if !reuse {
            let container_id = uuid_string(&new_uuid());
            let directory = self.executor_dir(&fw_id, &exec_id, &container_id);
            let exec = Executor::new(
                executor.clone(),
                ExecutorKind::Default,
                container_id,
                directory,
                &self.flags,
            );
            self.framework(fw).executors.insert(exec_id.clone(), exec);
        }
        let Some(exec) = self.executor(&fw_id, &exec_id) else {
            return;
        };
        let g = exec.next_group;
        exec.next_group += 1;
        let exec_dir = exec.directory.clone();
        let mut launches = vec![];
        for task in &group.tasks {
            let container_id = uuid_string(&new_uuid());
            exec.tasks.insert(
                task.task_id.value.clone(),
                new_task(task.clone(), g, container_id.clone()),
            );
            launches.push((task.clone(), container_id));
        }
        for (task, _) in &launches {
            let st = self.status(
                &task.task_id.value,
                Some(&exec_id),
                TaskState::TaskStarting,
                Source::Executor,
                None,
                None,
            );
            self.push_update(&fw_id, st);
        }
        for (task, container_id) in launches {
            let tid = task.task_id.value.clone();
            let sandbox = exec_dir.join("tasks").join(&tid);
            let key = ProcKey {
                agent_id: self.id.clone(),
                framework_id: fw_id.clone(),
                executor_id: exec_id.clone(),
                task_id: Some(tid.clone()),
                container_id,
            };
            match task.command.clone() {
                Some(command) => {
                    let mut env = self.env(fw, &executor, &exec_dir, &sandbox, None);
                    env.push(("MESOS_TASK_ID".into(), tid));
                    let spec = self.spec(fw, command, sandbox, env);
                    self.spawn(ctx, key, spec);
                }
                None => self.launch_failed(
                    &key,
                    "Task has no command; the local cluster cannot run container images".into(),
                ),
            }
        }
    }

    /// Sends a subscribed custom executor its undelivered tasks.
    fn flush(&mut self, fw_id: &str, exec_id: &str) {
        let Some(exec) = self.executor(fw_id, exec_id) else {
            return;
        };
        let Some(x) = &mut exec.custom else { return };
        if !x.subscribed || x.conn.is_none() {
            return;
        }
        let pending = std::mem::take(&mut x.pending);
        let mut events = vec![];
        for p in pending {
            let ids = match &p {
                Pending::Task(id) => vec![id.clone()],
                Pending::Group(ids) => ids.clone(),
            };
            let mut tasks: Vec<pb::TaskInfo> = vec![];
            for id in &ids {
                if let Some(t) = exec.tasks.get_mut(id)
                    && !t.exited
                {
                    t.delivered = true;
                    tasks.push(t.info.clone());
                }
            }
            if tasks.is_empty() {
                continue;
            }
            events.push(match p {
                Pending::Task(_) => xpb::Event {
                    launch: tasks
                        .into_iter()
                        .next()
                        .map(|task| xpb::event::Launch { task }),
                    ..executor_event(xpb::event::Type::Launch)
                },
                Pending::Group(_) => xpb::Event {
                    launch_group: Some(xpb::event::LaunchGroup {
                        task_group: pb::TaskGroupInfo { tasks },
                    }),
                    ..executor_event(xpb::event::Type::LaunchGroup)
                },
            });
        }
        if let Some(x) = &mut exec.custom {
            x.ever_sent |= !events.is_empty();
            if let Some(c) = &x.conn {
                for ev in &events {
                    c.send(ev);
                }
            }
        }
    }

    // ------------------------------------------------------------ processes

    fn find_task(&mut self, key: &ProcKey) -> Option<(bool, &mut AgentTask)> {
        let fw = self.frameworks.get_mut(&key.framework_id)?;
        let terminating = fw.terminating;
        let tid = key.task_id.as_ref()?;
        let task = fw.executors.get_mut(&key.executor_id)?.tasks.get_mut(tid)?;
        if task.container_id != key.container_id {
            return None;
        }
        Some((terminating, task))
    }

    fn find_custom_executor(&mut self, key: &ProcKey) -> Option<(bool, &mut Executor)> {
        let fw = self.frameworks.get_mut(&key.framework_id)?;
        let terminating = fw.terminating;
        let exec = fw.executors.get_mut(&key.executor_id)?;
        if exec.container_id != key.container_id || exec.custom.is_none() {
            return None;
        }
        Some((terminating, exec))
    }

    /// A process started.
    pub fn proc_started(&mut self, key: &ProcKey, pid: i32) {
        if key.task_id.is_none() {
            let Some((terminating, exec)) = self.find_custom_executor(key) else {
                launcher::signal_group(pid, libc::SIGKILL);
                return;
            };
            let shutting_down = exec.shutting_down;
            if let Some(x) = &mut exec.custom {
                x.pid = Some(pid);
                if x.destroyed || terminating {
                    launcher::signal_group(pid, libc::SIGKILL);
                } else if shutting_down && x.destroy_deadline.is_none() {
                    launcher::signal_group(pid, libc::SIGTERM);
                }
            }
            return;
        }
        let Some((terminating, task)) = self.find_task(key) else {
            launcher::signal_group(pid, libc::SIGKILL);
            return;
        };
        task.pid = Some(pid);
        task.completion_deadline = task
            .info
            .max_completion_time
            .as_ref()
            .map(|d| Instant::now() + duration_of(d));
        if terminating {
            launcher::signal_group(pid, libc::SIGKILL);
            return;
        }
        if task.killed {
            let overdue = task.kill_deadline.is_some_and(|d| d <= Instant::now());
            launcher::signal_group(
                pid,
                if overdue {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                },
            );
            return;
        }
        let tid = task.info.task_id.value.clone();
        let mut st = self.status(
            &tid,
            Some(&key.executor_id),
            TaskState::TaskRunning,
            Source::Executor,
            None,
            None,
        );
        st.container_status = Some(self.container_status(&key.container_id, Some(pid)));
        self.push_update(&key.framework_id, st);
    }

    /// `ContainerStatus` of a container of this agent: tasks share the
    /// host's network, so its one address is the agent's.
    fn container_status(&self, container_id: &str, pid: Option<i32>) -> pb::ContainerStatus {
        let ip = self
            .endpoint
            .rsplit_once(':')
            .map_or(self.endpoint.as_str(), |(ip, _)| ip)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let protocol = if ip.contains(':') {
            pb::network_info::Protocol::IPv6
        } else {
            pb::network_info::Protocol::IPv4
        };
        pb::ContainerStatus {
            container_id: Some(pb::ContainerId {
                value: container_id.to_string(),
                parent: None,
            }),
            network_infos: vec![pb::NetworkInfo {
                ip_addresses: vec![pb::network_info::IpAddress {
                    protocol: Some(protocol as i32),
                    ip_address: Some(ip.to_string()),
                }],
                ..Default::default()
            }],
            executor_pid: pid.and_then(|p| u32::try_from(p).ok()),
            ..Default::default()
        }
    }

    /// A process could not be started.
    pub fn launch_failed(&mut self, key: &ProcKey, message: String) {
        crate::log!(crate::log::Level::Warn, "agent", "launch failed: {message}");
        if key.task_id.is_none() {
            if self.find_custom_executor(key).is_some() {
                let t = Termination {
                    state: TaskState::TaskFailed,
                    reason: Reason::ContainerLaunchFailed,
                    message: format!("Failed to launch container: {message}"),
                };
                self.executor_terminated(key, t, -1);
            }
            return;
        }
        let Some((_, task)) = self.find_task(key) else {
            return;
        };
        task.exited = true;
        let tid = task.info.task_id.value.clone();
        let st = self.status(
            &tid,
            Some(&key.executor_id),
            TaskState::TaskFailed,
            Source::Agent,
            Some(Reason::ContainerLaunchFailed),
            Some(message),
        );
        self.push_update(&key.framework_id, st);
        self.task_terminated(key, TaskState::TaskFailed);
    }

    /// A process ended.
    pub fn proc_exited(&mut self, key: &ProcKey, exit: Exit) {
        if key.task_id.is_none() {
            let Some((_, exec)) = self.find_custom_executor(key) else {
                return;
            };
            let t = exec
                .custom
                .as_mut()
                .and_then(|x| x.termination.take())
                .unwrap_or_default();
            self.executor_terminated(key, t, exit.raw);
            return;
        }
        let Some((_, task)) = self.find_task(key) else {
            return;
        };
        task.exited = true;
        task.pid = None;
        task.kill_deadline = None;
        task.completion_deadline = None;
        let (state, reason) = if task.timed_out {
            (
                TaskState::TaskFailed,
                Some(Reason::MaxCompletionTimeReached),
            )
        } else if task.killed {
            (TaskState::TaskKilled, None)
        } else if exit.success {
            (TaskState::TaskFinished, None)
        } else {
            (TaskState::TaskFailed, None)
        };
        let tid = task.info.task_id.value.clone();
        let st = self.status(
            &tid,
            Some(&key.executor_id),
            state,
            Source::Executor,
            reason,
            Some(format!("Command {}", exit.message)),
        );
        self.push_update(&key.framework_id, st);
        self.task_terminated(key, state);
    }

    /// A custom executor is gone: its live tasks fail (or become what the
    /// termination says), the master hears of the exit (FAILURE).
    fn executor_terminated(&mut self, key: &ProcKey, t: Termination, status: i32) {
        crate::log!(
            crate::log::Level::Info,
            "agent",
            "executor {} of framework {} ended: {}",
            key.executor_id,
            key.framework_id,
            t.message
        );
        let Some((terminating, exec)) = self.find_custom_executor(key) else {
            return;
        };
        exec.terminated = true;
        if let Some(x) = &mut exec.custom {
            x.pid = None;
            x.conn = None;
            x.pending.clear();
            x.registration_deadline = None;
            x.recovered = false;
            x.destroy_deadline = None;
        }
        let live: Vec<String> = exec
            .tasks
            .values_mut()
            .filter(|t| !t.exited)
            .map(|t| {
                t.exited = true;
                t.info.task_id.value.clone()
            })
            .collect();
        // The master hears of the exit first, then of its tasks' updates
        // (which a real agent sends through its status update manager): a
        // scheduler gets FAILURE before the TASK_FAILEDs.
        if !terminating {
            self.outbox.push(ToMaster::ExitedExecutor {
                framework_id: key.framework_id.clone(),
                executor_id: key.executor_id.clone(),
                status,
            });
        }
        for tid in live {
            let st = self.status(
                &tid,
                Some(&key.executor_id),
                t.state,
                Source::Agent,
                Some(t.reason),
                Some(t.message.clone()),
            );
            self.push_update(&key.framework_id, st);
        }
        self.cleanup(&key.framework_id);
    }

    /// Bookkeeping after a command or default-executor task process is
    /// gone: the task-group kill policy, executor termination, cleanup.
    fn task_terminated(&mut self, key: &ProcKey, state: TaskState) {
        let Some(fw) = self.frameworks.get_mut(&key.framework_id) else {
            return;
        };
        let terminating = fw.terminating;
        let caps_killing = has_capability(&fw.info, Cap::TaskKillingState);
        let Some(exec) = fw.executors.get_mut(&key.executor_id) else {
            return;
        };
        let mut killing_updates = vec![];
        if exec.kind == ExecutorKind::Default
            && !exec.shutting_down
            && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled)
        {
            let group = key
                .task_id
                .as_ref()
                .and_then(|t| exec.tasks.get(t))
                .map(|t| t.group);
            if let Some(g) = group
                && !exec.killing_groups.contains(&g)
            {
                exec.killing_groups.push(g);
                for t in exec.tasks.values_mut() {
                    if t.group == g
                        && !t.exited
                        && !t.killed
                        && kill_process(t, DEFAULT_KILL_GRACE)
                        && caps_killing
                        && !terminating
                    {
                        killing_updates.push(t.info.task_id.value.clone());
                    }
                }
            }
        }
        let mut exited_executor = None;
        if exec.tasks.values().all(|t| t.exited) && !exec.terminated {
            exec.terminated = true;
            if exec.kind == ExecutorKind::Default && !terminating {
                exited_executor = Some(key.executor_id.clone());
            }
        }
        for tid in killing_updates {
            let st = self.status(
                &tid,
                Some(&key.executor_id),
                TaskState::TaskKilling,
                Source::Executor,
                None,
                None,
            );
            self.push_update(&key.framework_id, st);
        }
        if let Some(executor_id) = exited_executor {
            self.outbox.push(ToMaster::ExitedExecutor {
                framework_id: key.framework_id.clone(),
                executor_id,
                status: 0,
            });
        }
        self.cleanup(&key.framework_id);
    }

    /// Drops finished tasks, executors and frameworks.
    fn cleanup(&mut self, fw_id: &str) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let terminating = fw.terminating;
        for exec in fw.executors.values_mut() {
            exec.tasks
                .retain(|_, t| !(t.exited && (t.acked || terminating)));
        }
        fw.executors
            .retain(|_, e| !(e.terminated && e.tasks.is_empty()));
        if fw.executors.is_empty() && (terminating || !self.updates.has_framework(fw_id)) {
            self.frameworks.remove(fw_id);
        }
    }

    // ------------------------------------------------------------ kill, shutdown

    /// KILL from the scheduler (through the master).
    pub fn kill_task(&mut self, fw_id: &str, task_id: &str, policy: Option<&pb::KillPolicy>) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw.terminating {
            return;
        }
        let caps_killing = has_capability(&fw.info, Cap::TaskKillingState);
        let Some((exec_id, exec)) = fw
            .executors
            .iter_mut()
            .find(|(_, e)| e.tasks.contains_key(task_id))
        else {
            return;
        };
        if exec.terminated || exec.shutting_down {
            return;
        }
        let exec_id = exec_id.clone();
        let group = exec.tasks.get(task_id).map(|t| t.group).unwrap_or(0);

        if exec.kind == ExecutorKind::Custom {
            let Some(t) = exec.tasks.get(task_id) else {
                return;
            };
            if t.exited {
                return;
            }
            if t.delivered {
                if let Some(c) = exec.conn() {
                    c.send(&xpb::Event {
                        kill: Some(xpb::event::Kill {
                            task_id: pb::TaskId {
                                value: task_id.into(),
                            },
                            kill_policy: policy.copied(),
                        }),
                        ..executor_event(xpb::event::Type::Kill)
                    });
                }
                return;
            }
            // Not delivered yet: the agent kills it (the whole group) itself.
            let ids: Vec<String> = exec
                .tasks
                .iter()
                .filter(|(id, t)| (*id == task_id || (group > 0 && t.group == group)) && !t.exited)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &ids {
                if let Some(t) = exec.tasks.get_mut(id) {
                    t.exited = true;
                }
            }
            let mut idle = false;
            if let Some(x) = &mut exec.custom {
                x.pending.retain(|p| match p {
                    Pending::Task(id) => !ids.contains(id),
                    Pending::Group(g) => !g.iter().any(|id| ids.contains(id)),
                });
                idle = !x.ever_sent && x.pending.is_empty();
            }
            let message = if group > 0 {
                "A task within the task group was killed before delivery to the executor"
            } else {
                "Killed before delivery to the executor"
            };
            for id in ids {
                let st = self.status(
                    &id,
                    Some(&exec_id),
                    TaskState::TaskKilled,
                    Source::Agent,
                    Some(Reason::TaskKilledDuringLaunch),
                    Some(message.into()),
                );
                self.push_update(fw_id, st);
            }
            if idle {
                // MESOS-8411: an executor whose every task was killed before
                // delivery is shut down.
                self.shutdown_executor(fw_id, &exec_id);
            }
            return;
        }

        let grace_of = |t: &AgentTask| {
            policy
                .or(t.info.kill_policy.as_ref())
                .and_then(|p| p.grace_period.as_ref())
                .map_or(DEFAULT_KILL_GRACE, duration_of)
        };
        // Killing any task of a group kills the whole group.
        let targets: Vec<String> = if exec.kind == ExecutorKind::Default {
            if !exec.killing_groups.contains(&group) {
                exec.killing_groups.push(group);
            }
            exec.tasks
                .iter()
                .filter(|(_, t)| t.group == group)
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            vec![task_id.to_string()]
        };
        let mut killing = vec![];
        for tid in targets {
            if let Some(t) = exec.tasks.get_mut(&tid) {
                let grace = grace_of(t);
                if kill_process(t, grace) && caps_killing {
                    killing.push(tid);
                }
            }
        }
        for tid in killing {
            let st = self.status(
                &tid,
                Some(&exec_id),
                TaskState::TaskKilling,
                Source::Executor,
                None,
                None,
            );
            self.push_update(fw_id, st);
        }
    }

    /// SHUTDOWN from the scheduler.
    pub fn shutdown_executor(&mut self, fw_id: &str, exec_id: &str) {
        let grace = self.flags.shutdown_grace;
        let Some(exec) = self.executor(fw_id, exec_id) else {
            return;
        };
        if exec.terminated || exec.shutting_down {
            return;
        }
        shutdown(exec, grace);
    }

    /// The framework was removed: shut everything down, send no more updates.
    pub fn shutdown_framework(&mut self, fw_id: &str) {
        self.updates.remove_framework(fw_id);
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        fw.terminating = true;
        for exec in fw.executors.values_mut() {
            if !exec.terminated {
                shutdown(exec, self.flags.shutdown_grace);
            }
        }
        self.cleanup(fw_id);
    }

    // ------------------------------------------------------------ status updates

    /// Hands an update to the status-update manager (forwarding it if
    /// nothing is in flight). False if it was dropped.
    fn push_update(&mut self, fw_id: &str, status: pb::TaskStatus) -> bool {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return false;
        };
        if fw.terminating {
            return false;
        }
        let tid = status.task_id.value.clone();
        let state = status.state();
        let Ok(forward) = self.updates.update(fw_id, status, Instant::now()) else {
            return false;
        };
        if let Some(t) = fw
            .executors
            .values_mut()
            .find_map(|e| e.tasks.get_mut(&tid))
            && !is_terminal(t.state)
        {
            t.state = state;
        }
        if let Some(f) = forward {
            self.outbox.push(to_master(f));
        }
        true
    }

    /// ACKNOWLEDGE from the scheduler.
    pub fn acknowledge(&mut self, fw_id: &str, task_id: &str, uuid: &[u8]) {
        match self
            .updates
            .acknowledge(fw_id, task_id, uuid, Instant::now())
        {
            Acked::Ignored | Acked::Done { terminal: false } => {}
            Acked::Next(f) => self.outbox.push(to_master(*f)),
            Acked::Done { terminal: true } => {
                if let Some(t) = self.frameworks.get_mut(fw_id).and_then(|f| {
                    f.executors
                        .values_mut()
                        .find_map(|e| e.tasks.get_mut(task_id))
                }) {
                    t.acked = true;
                }
                self.cleanup(fw_id);
            }
        }
    }

    /// The framework subscribed again: resend what is in flight now.
    pub fn framework_resubscribed(&mut self, fw_id: &str) {
        let resend = self.updates.in_flight(fw_id);
        self.outbox.extend(resend.into_iter().map(to_master));
    }

    // ------------------------------------------------------------ executor API

    /// The executor a token was issued to: (framework id, executor id,
    /// container id), the claims of Mesos's executor JWTs.
    pub fn token_claims(&self, token: &str) -> Option<(String, String, String)> {
        self.frameworks.iter().find_map(|(fw_id, f)| {
            f.executors.iter().find_map(|(exec_id, e)| {
                e.custom
                    .as_ref()
                    .and_then(|x| x.token.as_deref())
                    .filter(|t| *t == token)
                    .map(|_| (fw_id.clone(), exec_id.clone(), e.container_id.clone()))
            })
        })
    }

    /// Checks that the framework and a custom executor exist and that the
    /// caller's claims (with executor authentication) are that executor's;
    /// true if it has subscribed.
    pub fn executor_lookup(
        &self,
        fw_id: &str,
        exec_id: &str,
        claims: Option<&(String, String, String)>,
    ) -> Result<bool, HttpError> {
        let fw = self
            .frameworks
            .get(fw_id)
            .ok_or((400, "Framework cannot be found".to_string()))?;
        let exec = fw
            .executors
            .get(exec_id)
            .filter(|e| e.kind == ExecutorKind::Custom)
            .ok_or((400, "Executor cannot be found".to_string()))?;
        if let Some((fid, eid, cid)) = claims {
            // `verifyExecutorClaims`.
            let principal = format!("{{fid: {fid}, eid: {eid}, cid: {cid}}}");
            if fid != fw_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain an 'fid' claim with the framework ID {fw_id}, which is set in the call"
                    ),
                ));
            }
            if eid != exec_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain an 'eid' claim with the executor ID {exec_id}, which is set in the call"
                    ),
                ));
            }
            if *cid != exec.container_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain a 'cid' claim with the correct active ContainerID"
                    ),
                ));
            }
        }
        Ok(exec.custom.as_ref().is_some_and(|x| x.subscribed))
    }

    /// True if this agent knows the framework's executor (of any kind).
    pub fn knows_executor(&self, fw_id: &str, exec_id: &str) -> bool {
        self.frameworks
            .get(fw_id)
            .is_some_and(|f| f.executors.contains_key(exec_id))
    }

    /// True if this agent knows the framework's task.
    pub fn knows_task(&self, fw_id: &str, task_id: &str) -> bool {
        self.frameworks
            .get(fw_id)
            .is_some_and(|f| f.executors.values().any(|e| e.tasks.contains_key(task_id)))
    }

    /// SUBSCRIBE from an executor (after `executor_lookup`), as
    /// `Slave::subscribe` handles it: the unacknowledged updates go to the
    /// status-update manager, tasks still STAGING that the executor does not
    /// list are lost, then SUBSCRIBED and the queued tasks. Returns the
    /// stream and its id.
    pub fn executor_subscribe(
        &mut self,
        fw_id: &str,
        exec_id: &str,
        sub: xpb::call::Subscribe,
        enc: Encoding,
    ) -> (Receiver<Vec<u8>>, u64) {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.next_conn += 1;
        let conn = ExecutorStream {
            id: self.next_conn,
            enc,
            tx,
            next_heartbeat: Instant::now() + EXECUTOR_HEARTBEAT,
        };
        let conn_id = conn.id;
        let agent_info = self.info.clone();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return (rx, conn_id);
        };
        let fw_info = fw.info.clone();
        let terminating = fw.terminating;
        let partition_aware = has_capability(&fw.info, Cap::PartitionAware);
        let Some(exec) = fw.executors.get_mut(exec_id) else {
            return (rx, conn_id);
        };
        if terminating || exec.terminated || exec.shutting_down {
            // The stream closes after the SHUTDOWN (the sender drops here).
            conn.send(&executor_event(xpb::event::Type::Shutdown));
            return (rx, conn_id);
        }
        let container_id = exec.container_id.clone();
        let exec_info = exec.info.clone();
        if let Some(x) = &mut exec.custom {
            x.conn = Some(conn); // an older connection closes
            x.subscribed = true;
            x.recovered = false;
            x.registration_deadline = None;
        }
        // The status-update manager handles duplicates of updates it has.
        let acks: Vec<xpb::Event> = sub
            .unacknowledged_updates
            .into_iter()
            .map(|u| self.take_update(fw_id, exec_id, u.status))
            .collect();
        let unacked: BTreeSet<String> = sub
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let lost: Vec<String> = self
            .executor(fw_id, exec_id)
            .map(|exec| {
                exec.tasks
                    .values_mut()
                    .filter(|t| {
                        t.delivered
                            && !t.exited
                            && t.state == TaskState::TaskStaging
                            && !unacked.contains(&t.info.task_id.value)
                    })
                    .map(|t| {
                        t.exited = true;
                        t.info.task_id.value.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        for tid in lost {
            let st = self.status(
                &tid,
                Some(exec_id),
                if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                },
                Source::Agent,
                Some(Reason::AgentRestarted),
                Some("Task launched during agent restart".into()),
            );
            self.push_update(fw_id, st);
        }
        let subscribed = xpb::Event {
            subscribed: Some(xpb::event::Subscribed {
                executor_info: exec_info,
                framework_info: fw_info,
                agent_info,
                container_id: Some(pb::ContainerId {
                    value: container_id,
                    parent: None,
                }),
            }),
            ..executor_event(xpb::event::Type::Subscribed)
        };
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&subscribed);
            for ack in &acks {
                c.send(ack);
            }
        }
        self.flush(fw_id, exec_id);
        (rx, conn_id)
    }

    /// UPDATE from an executor: into the status-update manager, then
    /// ACKNOWLEDGED back to the executor (the agent has the update; the
    /// scheduler's acknowledgement is another matter).
    pub fn executor_update(&mut self, fw_id: &str, exec_id: &str, status: pb::TaskStatus) {
        let ack = self.take_update(fw_id, exec_id, status);
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&ack);
        }
    }

    /// Hands an executor's update to the status-update manager; returns the
    /// ACKNOWLEDGED event for it.
    fn take_update(
        &mut self,
        fw_id: &str,
        exec_id: &str,
        mut status: pb::TaskStatus,
    ) -> xpb::Event {
        status.agent_id.get_or_insert_with(|| pb::AgentId {
            value: self.id.clone(),
        });
        status.executor_id = Some(pb::ExecutorId {
            value: exec_id.into(),
        });
        status.source = Some(Source::Executor as i32);
        // The agent stamps the update when it takes it (if the executor did not).
        status.timestamp.get_or_insert_with(now_secs);
        // As a Mesos agent does, a TASK_RUNNING carries the container's
        // status: its id, network addresses and executor pid.
        if status.state() == TaskState::TaskRunning
            && let Some(e) = self.executor(fw_id, exec_id)
        {
            let (container_id, pid) = (
                e.container_id.clone(),
                e.custom.as_ref().and_then(|x| x.pid),
            );
            status.container_status = Some(self.container_status(&container_id, pid));
        }
        let tid = status.task_id.value.clone();
        let uuid = status.uuid.clone().unwrap_or_default();
        let terminal = is_terminal(status.state());
        self.push_update(fw_id, status);
        if terminal
            && let Some(t) = self
                .executor(fw_id, exec_id)
                .and_then(|e| e.tasks.get_mut(&tid))
        {
            t.exited = true;
        }
        xpb::Event {
            acknowledged: Some(xpb::event::Acknowledged {
                task_id: pb::TaskId { value: tid },
                uuid,
            }),
            ..executor_event(xpb::event::Type::Acknowledged)
        }
    }

    /// MESSAGE from an executor, for its scheduler.
    pub fn executor_message(&mut self, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        self.outbox.push(ToMaster::FrameworkMessage {
            framework_id: fw_id.into(),
            executor_id: exec_id.into(),
            data,
        });
    }

    /// An executor's subscription stream ended.
    pub fn executor_stream_closed(&mut self, fw_id: &str, exec_id: &str, conn_id: u64) {
        if let Some(x) = self
            .executor(fw_id, exec_id)
            .and_then(|e| e.custom.as_mut())
            && x.conn.as_ref().is_some_and(|c| c.id == conn_id)
        {
            x.conn = None;
        }
    }

    /// MESSAGE from the scheduler, for an executor (best effort).
    pub fn framework_message(&mut self, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&xpb::Event {
                message: Some(xpb::event::Message { data }),
                ..executor_event(xpb::event::Type::Message)
            });
        }
    }

    // ------------------------------------------------------------ timers

    /// Retries due updates, escalates overdue kills, enforces executor
    /// registration and shutdown timeouts. While the agent is stopped only
    /// what the executors themselves do goes on (the command and default
    /// executors' kill escalation and completion deadlines).
    pub fn tick(&mut self, now: Instant) {
        if self.registered {
            let due = self.updates.due(now);
            self.outbox.extend(due.into_iter().map(to_master));
        }
        let running = self.running;
        let flags = self.flags.clone();
        for fw in self.frameworks.values_mut() {
            let partition_aware = has_capability(&fw.info, Cap::PartitionAware);
            for exec in fw.executors.values_mut() {
                for t in exec.tasks.values_mut() {
                    if t.completion_deadline.is_some_and(|d| d <= now) {
                        t.completion_deadline = None;
                        if !t.killed {
                            t.timed_out = true;
                            let grace = t
                                .info
                                .kill_policy
                                .as_ref()
                                .and_then(|p| p.grace_period.as_ref())
                                .map_or(DEFAULT_KILL_GRACE, duration_of);
                            kill_process(t, grace);
                        }
                    }
                    // A task not started yet keeps its deadline for later.
                    if let (Some(pid), Some(d)) = (t.pid, t.kill_deadline)
                        && d <= now
                    {
                        t.kill_deadline = None;
                        if !t.exited {
                            launcher::signal_group(pid, libc::SIGKILL);
                        }
                    }
                }
                let Some(x) = &mut exec.custom else { continue };
                if !running {
                    continue;
                }
                if let Some(c) = &mut x.conn
                    && c.next_heartbeat <= now
                {
                    c.next_heartbeat = now + EXECUTOR_HEARTBEAT;
                    c.send(&executor_event(xpb::event::Type::Heartbeat));
                }
                if x.registration_deadline.is_some_and(|d| d <= now) {
                    x.registration_deadline = None;
                    x.termination = Some(if x.recovered {
                        // `Slave::reregisterExecutorTimeout`.
                        Termination {
                            state: if partition_aware {
                                TaskState::TaskGone
                            } else {
                                TaskState::TaskLost
                            },
                            reason: Reason::ExecutorReregistrationTimeout,
                            message: format!(
                                "Executor did not reregister within {}",
                                env::stout(flags.reregistration_timeout)
                            ),
                        }
                    } else {
                        Termination {
                            state: TaskState::TaskFailed,
                            reason: Reason::ExecutorRegistrationTimeout,
                            message: format!(
                                "Executor did not register within {}",
                                env::stout(flags.registration_timeout)
                            ),
                        }
                    });
                    destroy(x);
                }
                if x.destroy_deadline.is_some_and(|d| d <= now) {
                    x.destroy_deadline = None;
                    destroy(x);
                }
            }
        }
        self.waiters.retain(|h| !h.is_finished());
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let execs = self.frameworks.values().flat_map(|f| f.executors.values());
        let kills = execs
            .clone()
            .flat_map(|e| e.tasks.values())
            .filter(|t| t.pid.is_some())
            .flat_map(|t| [t.kill_deadline, t.completion_deadline])
            .flatten();
        if !self.running {
            // The agent's own timers wait for it to come back.
            return kills.min();
        }
        let retries = self.updates.next_deadline().filter(|_| self.registered);
        let custom_executors = execs
            .filter_map(|e| e.custom.as_ref())
            .flat_map(|x| {
                [
                    x.registration_deadline,
                    x.destroy_deadline,
                    x.conn.as_ref().map(|c| c.next_heartbeat),
                ]
            })
            .flatten();
        retries
            .into_iter()
            .chain(kills)
            .chain(custom_executors)
            .min()
    }

    /// SIGKILLs every process; returns the threads waiting on them.
    pub fn kill_all(&mut self) -> Vec<JoinHandle<()>> {
        self.fetcher.cancel();
        for fw in self.frameworks.values_mut() {
            fw.terminating = true;
            for exec in fw.executors.values_mut() {
                for t in exec.tasks.values_mut() {
                    if let (Some(pid), false) = (t.pid, t.exited) {
                        launcher::signal_group(pid, libc::SIGKILL);
                    }
                }
                if let Some(x) = &mut exec.custom {
                    x.conn = None;
                    destroy(x);
                }
            }
        }
        self.updates.clear();
        std::mem::take(&mut self.waiters)
    }

    /// The agent's `/state` (`/slave(N)/state`).
    pub fn state_json(&self) -> Json {
        let frameworks: Vec<Json> = self
            .frameworks
            .iter()
            .map(|(id, f)| {
                let executors: Vec<Json> = f
                    .executors
                    .iter()
                    .map(|(eid, e)| {
                        let task = |t: &AgentTask| {
                            json!({
                                "id": t.info.task_id.value,
                                "name": t.info.name,
                                "framework_id": id,
                                "executor_id": eid,
                                "slave_id": self.id,
                                "state": t.state.as_str_name(),
                                "resources": Resources::from_proto(&t.info.resources)
                                    .unwrap_or_default()
                                    .to_state_json(),
                            })
                        };
                        let queued: Vec<Json> = e.tasks.values().filter(|t| e.kind == ExecutorKind::Custom && !t.delivered && !t.exited).map(task).collect();
                        let live: Vec<Json> = e.tasks.values().filter(|t| !t.exited && (e.kind != ExecutorKind::Custom || t.delivered)).map(task).collect();
                        let done: Vec<Json> = e.tasks.values().filter(|t| t.exited).map(task).collect();
                        json!({
                            "id": eid,
                            "name": e.info.name.clone().unwrap_or_default(),
                            "source": eid,
                            "container": e.container_id,
                            "directory": e.directory.display().to_string(),
                            "resources": Resources::from_proto(&e.info.resources).unwrap_or_default().to_state_json(),
                            "type": match e.kind { ExecutorKind::Custom => "CUSTOM", _ => "DEFAULT" },
                            "tasks": live,
                            "queued_tasks": queued,
                            "completed_tasks": done,
                        })
                    })
                    .collect();
                json!({
                    "id": id,
                    "name": f.info.name,
                    "user": f.info.user,
                    "failover_timeout": f.info.failover_timeout(),
                    "checkpoint": f.info.checkpoint(),
                    "hostname": f.info.hostname.clone().unwrap_or_default(),
                    "executors": executors,
                    "completed_executors": [],
                })
            })
            .collect();
        json!({
            "version": protocol::VERSION,
            "id": self.id,
            "pid": self.pid,
            "hostname": self.info.hostname,
            "resources": self.total.to_state_json(),
            "attributes": {},
            "master_hostname": self.info.hostname,
            // The agent flags this cluster has, as Mesos prints them.
            "flags": {
                "hostname": self.info.hostname,
                "executor_registration_timeout": env::stout(self.flags.registration_timeout),
                "executor_reregistration_timeout": env::stout(self.flags.reregistration_timeout),
                "executor_shutdown_grace_period": env::stout(self.flags.shutdown_grace),
                "authenticate_http_executors": self.flags.executor_auth.to_string(),
            },
            "frameworks": frameworks,
            "completed_frameworks": [],
        })
    }
}

fn to_master(f: Forward) -> ToMaster {
    ToMaster::StatusUpdate {
        framework_id: f.framework_id,
        status: Box::new(f.status),
        latest_state: f.latest_state,
    }
}

fn new_task(info: pb::TaskInfo, group: u64, container_id: String) -> AgentTask {
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
    }
}

/// Starts shutting an executor down: custom executors get SHUTDOWN and, after
/// the shutdown grace period, SIGKILL; the built-in ones kill their tasks.
fn shutdown(exec: &mut Executor, default_grace: Duration) {
    exec.shutting_down = true;
    let grace = env::shutdown_grace(&exec.info, default_grace);
    if let Some(x) = &mut exec.custom {
        if let Some(c) = &x.conn {
            c.send(&executor_event(xpb::event::Type::Shutdown));
        }
        x.registration_deadline = None;
        x.destroy_deadline =
            Some(Instant::now() + if x.subscribed { grace } else { Duration::ZERO });
        return;
    }
    // The command executor keeps some of the grace period for itself.
    let grace = grace.saturating_sub(Duration::from_secs(2));
    for t in exec.tasks.values_mut() {
        kill_process(t, grace);
    }
}

/// Kills a custom executor's process (or marks it to be killed on start).
fn destroy(x: &mut CustomExecutor) {
    x.destroyed = true;
    if let Some(pid) = x.pid {
        launcher::signal_group(pid, libc::SIGKILL);
    }
}

/// Starts killing a task: SIGTERM now (or as soon as it has started),
/// SIGKILL after `grace`. A repeated kill may only shorten the grace period.
/// True if this was the first kill.
fn kill_process(t: &mut AgentTask, grace: Duration) -> bool {
    if t.exited {
        return false;
    }
    let deadline = Instant::now() + grace;
    if t.killed {
        if t.kill_deadline.is_some_and(|d| deadline < d) {
            t.kill_deadline = Some(deadline);
        }
        return false;
    }
    t.killed = true;
    t.kill_deadline = Some(deadline);
    if let Some(pid) = t.pid {
        launcher::signal_group(pid, libc::SIGTERM);
    }
    true
}

/// Body of a process thread: start the process, report it, wait, report the exit.
fn run_process(report: &ProcessReporter, key: ProcKey, spec: Spec) {
    match launcher::launch(&spec) {
        Err(msg) => {
            report(&key, ProcessEvent::LaunchFailed(msg));
        }
        Ok(mut child) => {
            let pid = i32::try_from(child.id()).unwrap_or(0);
            if !report(&key, ProcessEvent::Started(pid)) {
                launcher::signal_group(pid, libc::SIGKILL);
            }
            let exit = launcher::describe(child.wait());
            // Like destroying the container: whatever the process left
            // behind in its process group goes too.
            launcher::signal_group(pid, libc::SIGKILL);
            report(&key, ProcessEvent::Exited(exit));
        }
    }
}
