//! One agent: its executors and task processes, and its task status-update
//! manager (per task, one update in flight to the master, retried with
//! doubling backoff until the scheduler's acknowledgement comes back).
//!
//! Command tasks run the way the Mesos command executor runs them (executor
//! id = task id); task groups run the way the default executor runs them
//! (one process per task, a failed or killed task kills its group). The
//! agent talks to the master only through [`ToMaster`] messages in its
//! outbox and the calls the master makes on it.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Weak;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::launcher::{self, Exit, Spec};
use super::resources::Resources;
use super::{Shared, new_uuid, now_secs, uuid_string, with_master};
use crate::wire::pb;
use pb::TaskState as S;
use pb::task_status::{Reason, Source};

/// Longest status-update retry interval.
const MAX_RETRY: Duration = Duration::from_secs(600);
/// Kill grace period when no kill policy says otherwise.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// Executor shutdown grace period when the ExecutorInfo does not give one.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What an agent needs from its surroundings.
#[derive(Clone)]
pub(crate) struct AgentCtx {
    pub shared: Weak<Shared>,
    pub retry_initial: Duration,
    /// `ip:port` of the agent's HTTP endpoint (MESOS_AGENT_ENDPOINT).
    pub endpoint: String,
}

/// Messages from an agent to the master.
pub(crate) enum ToMaster {
    StatusUpdate {
        framework_id: String,
        status: Box<pb::TaskStatus>,
        latest_state: S,
    },
    ExitedExecutor {
        framework_id: String,
        executor_id: String,
        status: i32,
    },
}

/// Identifies one task process for the thread that waits on it.
#[derive(Debug, Clone)]
pub(crate) struct TaskKey {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub task_id: String,
    pub container_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The built-in command executor: one task, executor id = task id.
    Command,
    /// The default executor: task groups.
    Default,
}

struct ATask {
    info: pb::TaskInfo,
    state: S,
    group: u64,
    container_id: String,
    pid: Option<i32>,
    exited: bool,
    killed: bool,
    kill_deadline: Option<Instant>,
    /// The terminal update has been acknowledged.
    acked: bool,
}

struct Executor {
    info: pb::ExecutorInfo,
    kind: Kind,
    directory: PathBuf,
    tasks: BTreeMap<String, ATask>,
    next_group: u64,
    /// Groups whose tasks are being killed because one of them failed.
    killing_groups: Vec<u64>,
    shutting_down: bool,
    terminated: bool,
}

struct AFramework {
    info: pb::FrameworkInfo,
    executors: BTreeMap<String, Executor>,
    terminating: bool,
}

/// Status-update stream of one task.
struct Stream {
    pending: VecDeque<pb::TaskStatus>,
    latest: S,
    terminal: bool,
    next_retry: Option<Instant>,
    backoff: Duration,
}

pub(crate) struct Agent {
    pub id: String,
    /// `slave(N)@ip:port`.
    pub pid: String,
    pub info: pb::AgentInfo,
    pub total: Resources,
    dir: PathBuf,
    frameworks: BTreeMap<String, AFramework>,
    streams: BTreeMap<(String, String), Stream>,
    pub outbox: Vec<ToMaster>,
    waiters: Vec<JoinHandle<()>>,
}

pub(crate) fn is_terminal(s: S) -> bool {
    matches!(
        s,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

fn has_capability(fw: &pb::FrameworkInfo, cap: pb::framework_info::capability::Type) -> bool {
    fw.capabilities.iter().any(|c| c.r#type() == cap)
}

fn duration_of(d: &pb::DurationInfo) -> Duration {
    Duration::from_nanos(d.nanoseconds.max(0) as u64)
}

impl Agent {
    pub fn new(
        id: String,
        pid: String,
        info: pb::AgentInfo,
        total: Resources,
        dir: PathBuf,
    ) -> Agent {
        Agent {
            id,
            pid,
            info,
            total,
            dir,
            frameworks: BTreeMap::new(),
            streams: BTreeMap::new(),
            outbox: vec![],
            waiters: vec![],
        }
    }

    fn framework(&mut self, fw: &pb::FrameworkInfo) -> &mut AFramework {
        let id = fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        let f = self.frameworks.entry(id).or_insert_with(|| AFramework {
            info: fw.clone(),
            executors: BTreeMap::new(),
            terminating: false,
        });
        f.info = fw.clone();
        f
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

    /// Runs a task given in a LAUNCH operation.
    pub fn run_task(&mut self, ctx: &AgentCtx, fw: &pb::FrameworkInfo, task: pb::TaskInfo) {
        let fw_id = fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        let task_id = task.task_id.value.clone();
        if let Some(exec) = &task.executor {
            // Custom executors need the executor HTTP API, which this local
            // agent does not serve: fail the launch the way a containerizer
            // launch failure does.
            let status = self.status(
                &task_id,
                Some(&exec.executor_id.value),
                S::TaskFailed,
                Source::Agent,
                Some(Reason::ContainerLaunchFailed),
                Some("Failed to launch container: custom executors are not supported by the local cluster".into()),
            );
            self.framework(fw);
            self.push_update(ctx, &fw_id, status);
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
            ..Default::default()
        };
        let mut exec = Executor {
            info,
            kind: Kind::Command,
            directory: directory.clone(),
            tasks: BTreeMap::new(),
            next_group: 1,
            killing_groups: vec![],
            shutting_down: false,
            terminated: false,
        };
        exec.tasks.insert(
            task_id.clone(),
            new_task(task.clone(), 0, container_id.clone()),
        );
        self.framework(fw).executors.insert(task_id.clone(), exec);
        let starting = self.status(
            &task_id,
            Some(&task_id),
            S::TaskStarting,
            Source::Executor,
            None,
            None,
        );
        self.push_update(ctx, &fw_id, starting);
        let key = TaskKey {
            agent_id: self.id.clone(),
            framework_id: fw_id.clone(),
            executor_id: task_id.clone(),
            task_id: task_id.clone(),
            container_id,
        };
        let env = self.task_env(ctx, fw, &task_id, &task_id, &directory, &directory);
        let spec = Spec {
            command: task.command.clone().unwrap_or_default(),
            sandbox: directory,
            env,
        };
        self.spawn(ctx, key, spec);
    }

    /// Runs a task group on a DEFAULT executor (LAUNCH_GROUP).
    pub fn run_task_group(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        let fw_id = fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        let exec_id = executor.executor_id.value.clone();
        let reuse = self
            .frameworks
            .get(&fw_id)
            .and_then(|f| f.executors.get(&exec_id))
            .is_some_and(|e| !e.terminated && !e.shutting_down);
        if !reuse {
            let container_id = uuid_string(&new_uuid());
            let directory = self.executor_dir(&fw_id, &exec_id, &container_id);
            let exec = Executor {
                info: executor,
                kind: Kind::Default,
                directory,
                tasks: BTreeMap::new(),
                next_group: 1,
                killing_groups: vec![],
                shutting_down: false,
                terminated: false,
            };
            self.framework(fw).executors.insert(exec_id.clone(), exec);
        }
        let Some(exec) = self
            .frameworks
            .get_mut(&fw_id)
            .and_then(|f| f.executors.get_mut(&exec_id))
        else {
            return;
        };
        let group_no = exec.next_group;
        exec.next_group += 1;
        let exec_dir = exec.directory.clone();
        let mut launches = vec![];
        for task in &group.tasks {
            let tid = task.task_id.value.clone();
            let container_id = uuid_string(&new_uuid());
            exec.tasks.insert(
                tid.clone(),
                new_task(task.clone(), group_no, container_id.clone()),
            );
            launches.push((task.clone(), container_id));
        }
        for (task, _) in &launches {
            let st = self.status(
                &task.task_id.value,
                Some(&exec_id),
                S::TaskStarting,
                Source::Executor,
                None,
                None,
            );
            self.push_update(ctx, &fw_id, st);
        }
        for (task, container_id) in launches {
            let tid = task.task_id.value.clone();
            let sandbox = exec_dir.join("tasks").join(&tid);
            let key = TaskKey {
                agent_id: self.id.clone(),
                framework_id: fw_id.clone(),
                executor_id: exec_id.clone(),
                task_id: tid.clone(),
                container_id,
            };
            match task.command.clone() {
                Some(command) => {
                    let env = self.task_env(ctx, fw, &tid, &exec_id, &exec_dir, &sandbox);
                    self.spawn(
                        ctx,
                        key,
                        Spec {
                            command,
                            sandbox,
                            env,
                        },
                    );
                }
                None => self.launch_failed(
                    ctx,
                    &key,
                    "Task has no command; the local cluster cannot run container images".into(),
                ),
            }
        }
    }

    fn task_env(
        &self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        task_id: &str,
        exec_id: &str,
        directory: &std::path::Path,
        sandbox: &std::path::Path,
    ) -> Vec<(String, String)> {
        let fw_id = fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        vec![
            ("MESOS_FRAMEWORK_ID".into(), fw_id),
            ("MESOS_EXECUTOR_ID".into(), exec_id.to_string()),
            ("MESOS_TASK_ID".into(), task_id.to_string()),
            ("MESOS_DIRECTORY".into(), directory.display().to_string()),
            ("MESOS_SANDBOX".into(), sandbox.display().to_string()),
            ("MESOS_SLAVE_ID".into(), self.id.clone()),
            ("MESOS_AGENT_ID".into(), self.id.clone()),
            ("MESOS_SLAVE_PID".into(), self.pid.clone()),
            ("MESOS_AGENT_ENDPOINT".into(), ctx.endpoint.clone()),
            (
                "MESOS_CHECKPOINT".into(),
                if fw.checkpoint() { "1" } else { "0" }.into(),
            ),
            ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
                "5secs".into(),
            ),
            ("LIBPROCESS_PORT".into(), "0".into()),
        ]
    }

    fn spawn(&mut self, ctx: &AgentCtx, key: TaskKey, spec: Spec) {
        let weak = ctx.shared.clone();
        let k = key.clone();
        let spawned = thread::Builder::new()
            .name("mesos-local-task".into())
            .spawn(move || run_process(weak, k, spec));
        match spawned {
            Ok(h) => self.waiters.push(h),
            Err(e) => self.launch_failed(ctx, &key, format!("Failed to start a thread: {e}")),
        }
    }

    fn status(
        &self,
        task_id: &str,
        exec_id: Option<&str>,
        state: S,
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

    /// The task a process belongs to (and whether its framework is being
    /// torn down), if that run of the task still exists.
    fn find_task(&mut self, key: &TaskKey) -> Option<(bool, &mut ATask)> {
        let fw = self.frameworks.get_mut(&key.framework_id)?;
        let terminating = fw.terminating;
        let task = fw
            .executors
            .get_mut(&key.executor_id)?
            .tasks
            .get_mut(&key.task_id)?;
        if task.container_id != key.container_id {
            return None;
        }
        Some((terminating, task))
    }

    /// The task's process started.
    pub fn task_started(&mut self, ctx: &AgentCtx, key: &TaskKey, pid: i32) {
        let Some((terminating, task)) = self.find_task(key) else {
            launcher::signal_group(pid, libc::SIGKILL);
            return;
        };
        task.pid = Some(pid);
        if terminating {
            launcher::signal_group(pid, libc::SIGKILL);
            return;
        }
        if task.killed {
            launcher::signal_group(pid, libc::SIGTERM);
            return;
        }
        let mut st = self.status(
            &key.task_id,
            Some(&key.executor_id),
            S::TaskRunning,
            Source::Executor,
            None,
            None,
        );
        st.container_status = Some(pb::ContainerStatus {
            container_id: Some(pb::ContainerId {
                value: key.container_id.clone(),
                parent: None,
            }),
            executor_pid: u32::try_from(pid).ok(),
            ..Default::default()
        });
        self.push_update(ctx, &key.framework_id, st);
    }

    /// The task's process could not be started.
    pub fn launch_failed(&mut self, ctx: &AgentCtx, key: &TaskKey, message: String) {
        let Some((_, task)) = self.find_task(key) else {
            return;
        };
        task.exited = true;
        let st = self.status(
            &key.task_id,
            Some(&key.executor_id),
            S::TaskFailed,
            Source::Agent,
            Some(Reason::ContainerLaunchFailed),
            Some(message),
        );
        self.push_update(ctx, &key.framework_id, st);
        self.task_terminated(ctx, key, S::TaskFailed);
    }

    /// The task's process ended.
    pub fn task_exited(&mut self, ctx: &AgentCtx, key: &TaskKey, exit: Exit) {
        let Some((_, task)) = self.find_task(key) else {
            return;
        };
        task.exited = true;
        task.pid = None;
        task.kill_deadline = None;
        let state = if task.killed {
            S::TaskKilled
        } else if exit.success {
            S::TaskFinished
        } else {
            S::TaskFailed
        };
        let st = self.status(
            &key.task_id,
            Some(&key.executor_id),
            state,
            Source::Executor,
            None,
            Some(format!("Command {}", exit.message)),
        );
        self.push_update(ctx, &key.framework_id, st);
        self.task_terminated(ctx, key, state);
    }

    /// Bookkeeping after a task process is gone: task-group kill policy,
    /// executor termination, cleanup.
    fn task_terminated(&mut self, ctx: &AgentCtx, key: &TaskKey, state: S) {
        let Some(fw) = self.frameworks.get_mut(&key.framework_id) else {
            return;
        };
        let terminating = fw.terminating;
        let caps_killing = has_capability(
            &fw.info,
            pb::framework_info::capability::Type::TaskKillingState,
        );
        let Some(exec) = fw.executors.get_mut(&key.executor_id) else {
            return;
        };
        let mut killing_updates = vec![];
        if exec.kind == Kind::Default
            && !exec.shutting_down
            && matches!(state, S::TaskFailed | S::TaskKilled)
        {
            let group = exec.tasks.get(&key.task_id).map(|t| t.group);
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
        let all_exited = exec.tasks.values().all(|t| t.exited);
        let mut exited_executor = None;
        if all_exited && !exec.terminated {
            exec.terminated = true;
            if exec.kind == Kind::Default && !terminating {
                exited_executor = Some(key.executor_id.clone());
            }
        }
        for tid in killing_updates {
            let st = self.status(
                &tid,
                Some(&key.executor_id),
                S::TaskKilling,
                Source::Executor,
                None,
                None,
            );
            self.push_update(ctx, &key.framework_id, st);
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
        if fw.executors.is_empty() && (terminating || !self.streams.keys().any(|(f, _)| f == fw_id))
        {
            self.frameworks.remove(fw_id);
        }
    }

    /// KILL from the scheduler (through the master).
    pub fn kill_task(
        &mut self,
        ctx: &AgentCtx,
        fw_id: &str,
        task_id: &str,
        policy: Option<&pb::KillPolicy>,
    ) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw.terminating {
            return;
        }
        let caps_killing = has_capability(
            &fw.info,
            pb::framework_info::capability::Type::TaskKillingState,
        );
        let Some((exec_id, exec)) = fw
            .executors
            .iter_mut()
            .find(|(_, e)| e.tasks.contains_key(task_id))
        else {
            return;
        };
        if exec.terminated {
            return;
        }
        let exec_id = exec_id.clone();
        let grace_of = |t: &ATask| {
            policy
                .or(t.info.kill_policy.as_ref())
                .and_then(|p| p.grace_period.as_ref())
                .map_or(DEFAULT_KILL_GRACE, duration_of)
        };
        let mut killing = vec![];
        // Killing any task of a group kills the whole group.
        let group = exec.tasks.get(task_id).map(|t| t.group).unwrap_or(0);
        let targets: Vec<String> = if exec.kind == Kind::Default {
            exec.tasks
                .iter()
                .filter(|(_, t)| t.group == group)
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            vec![task_id.to_string()]
        };
        if exec.kind == Kind::Default && !exec.killing_groups.contains(&group) {
            exec.killing_groups.push(group);
        }
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
                S::TaskKilling,
                Source::Executor,
                None,
                None,
            );
            self.push_update(ctx, fw_id, st);
        }
    }

    /// SHUTDOWN from the scheduler: kill every task of the executor.
    pub fn shutdown_executor(&mut self, fw_id: &str, exec_id: &str) {
        let Some(exec) = self
            .frameworks
            .get_mut(fw_id)
            .and_then(|f| f.executors.get_mut(exec_id))
        else {
            return;
        };
        exec.shutting_down = true;
        // The executor's own grace: the shutdown grace period minus the
        // slack the command executor keeps for itself.
        let grace = exec
            .info
            .shutdown_grace_period
            .as_ref()
            .map_or(DEFAULT_SHUTDOWN_GRACE, duration_of)
            .saturating_sub(Duration::from_secs(2));
        for t in exec.tasks.values_mut() {
            kill_process(t, grace);
        }
    }

    /// The framework was removed: kill everything, send no more updates.
    pub fn shutdown_framework(&mut self, fw_id: &str) {
        self.streams.retain(|(f, _), _| f != fw_id);
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        fw.terminating = true;
        for exec in fw.executors.values_mut() {
            exec.shutting_down = true;
            for t in exec.tasks.values_mut() {
                kill_process(t, DEFAULT_KILL_GRACE);
            }
        }
        self.cleanup(fw_id);
    }

    /// Adds an update to the task's stream; forwards it if nothing is in flight.
    fn push_update(&mut self, ctx: &AgentCtx, fw_id: &str, status: pb::TaskStatus) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw.terminating {
            return;
        }
        let tid = status.task_id.value.clone();
        let state = status.state();
        if let Some(t) = fw
            .executors
            .values_mut()
            .find_map(|e| e.tasks.get_mut(&tid))
            && !is_terminal(t.state)
        {
            t.state = state;
        }
        let stream = self
            .streams
            .entry((fw_id.to_string(), tid))
            .or_insert_with(|| Stream {
                pending: VecDeque::new(),
                latest: S::TaskStaging,
                terminal: false,
                next_retry: None,
                backoff: ctx.retry_initial,
            });
        if stream.terminal {
            return; // nothing follows a terminal update
        }
        stream.latest = state;
        stream.terminal = is_terminal(state);
        stream.pending.push_back(status);
        if stream.pending.len() == 1 {
            stream.backoff = ctx.retry_initial;
            stream.next_retry = Some(Instant::now() + stream.backoff);
            let (status, latest) = (Box::new(stream.pending[0].clone()), stream.latest);
            self.outbox.push(ToMaster::StatusUpdate {
                framework_id: fw_id.to_string(),
                status,
                latest_state: latest,
            });
        }
    }

    /// ACKNOWLEDGE from the scheduler.
    pub fn acknowledge(&mut self, ctx: &AgentCtx, fw_id: &str, task_id: &str, uuid: &[u8]) {
        let key = (fw_id.to_string(), task_id.to_string());
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        let matches = stream
            .pending
            .front()
            .is_some_and(|s| s.uuid.as_deref() == Some(uuid));
        if !matches {
            return; // a duplicate or stale acknowledgement
        }
        let acked = stream.pending.pop_front();
        if let Some(next) = stream.pending.front() {
            stream.backoff = ctx.retry_initial;
            stream.next_retry = Some(Instant::now() + stream.backoff);
            let (status, latest) = (Box::new(next.clone()), stream.latest);
            self.outbox.push(ToMaster::StatusUpdate {
                framework_id: fw_id.to_string(),
                status,
                latest_state: latest,
            });
            return;
        }
        stream.next_retry = None;
        if acked.is_some_and(|s| is_terminal(s.state())) {
            self.streams.remove(&key);
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

    /// The framework subscribed again: resend what is in flight now.
    pub fn framework_resubscribed(&mut self, fw_id: &str) {
        for ((f, _), stream) in self.streams.iter() {
            if f != fw_id {
                continue;
            }
            if let Some(front) = stream.pending.front() {
                self.outbox.push(ToMaster::StatusUpdate {
                    framework_id: f.clone(),
                    status: Box::new(front.clone()),
                    latest_state: stream.latest,
                });
            }
        }
    }

    /// Retries due updates and escalates overdue kills.
    pub fn tick(&mut self, now: Instant) {
        for ((fw, _), stream) in self.streams.iter_mut() {
            let Some(due) = stream.next_retry else {
                continue;
            };
            if due > now {
                continue;
            }
            let Some(front) = stream.pending.front() else {
                stream.next_retry = None;
                continue;
            };
            stream.backoff = (stream.backoff * 2).min(MAX_RETRY);
            stream.next_retry = Some(now + stream.backoff);
            self.outbox.push(ToMaster::StatusUpdate {
                framework_id: fw.clone(),
                status: Box::new(front.clone()),
                latest_state: stream.latest,
            });
        }
        for fw in self.frameworks.values_mut() {
            for exec in fw.executors.values_mut() {
                for t in exec.tasks.values_mut() {
                    if t.kill_deadline.is_some_and(|d| d <= now) {
                        t.kill_deadline = None;
                        if let (Some(pid), false) = (t.pid, t.exited) {
                            launcher::signal_group(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        self.waiters.retain(|h| !h.is_finished());
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let retries = self.streams.values().filter_map(|s| s.next_retry);
        let kills = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .flat_map(|e| e.tasks.values())
            .filter(|t| t.pid.is_some())
            .filter_map(|t| t.kill_deadline);
        retries.chain(kills).min()
    }

    /// SIGKILLs every task process; returns the threads waiting on them.
    pub fn kill_all(&mut self) -> Vec<JoinHandle<()>> {
        for fw in self.frameworks.values_mut() {
            fw.terminating = true;
            for exec in fw.executors.values_mut() {
                for t in exec.tasks.values_mut() {
                    if let (Some(pid), false) = (t.pid, t.exited) {
                        launcher::signal_group(pid, libc::SIGKILL);
                    }
                }
            }
        }
        self.streams.clear();
        std::mem::take(&mut self.waiters)
    }
}

fn new_task(info: pb::TaskInfo, group: u64, container_id: String) -> ATask {
    ATask {
        info,
        state: S::TaskStaging,
        group,
        container_id,
        pid: None,
        exited: false,
        killed: false,
        kill_deadline: None,
        acked: false,
    }
}

/// Starts killing a task: SIGTERM now (or as soon as it has started),
/// SIGKILL after `grace`. A repeated kill may only shorten the grace period.
/// True if this was the first kill.
fn kill_process(t: &mut ATask, grace: Duration) -> bool {
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

/// Body of a task thread: start the process, report it, wait, report the exit.
fn run_process(shared: Weak<Shared>, key: TaskKey, spec: Spec) {
    match launcher::launch(&spec) {
        Err(msg) => {
            with_master(&shared, |m| m.task_launch_failed(&key, msg));
        }
        Ok(mut child) => {
            let pid = i32::try_from(child.id()).unwrap_or(0);
            let alive = with_master(&shared, |m| m.task_started(&key, pid));
            if alive.is_none() {
                launcher::signal_group(pid, libc::SIGKILL);
            }
            let exit = launcher::describe(child.wait());
            with_master(&shared, |m| m.task_exited(&key, exit));
        }
    }
}
