//! The agent's processes: starting one on its own thread (fetch, spawn,
//! wait), and what the agent does when a task's or a custom executor's
//! process has started, could not start, or has ended. The threads report
//! through [`ProcessReporter`] (the master owns the agents and hands each
//! event back to the right one).
//!
//! May import: `model`, the cluster's leaf modules, and `crate::net::url`
//! (the agent's address).

use std::sync::Arc;
use std::thread::{self};
use std::time::Instant;

use super::model::{Agent, AgentTask, Executor, Termination, duration_of};
use crate::local::launcher::{self, Exit, Spec};
use crate::net::url::HostPort;
use crate::wire::pb;
use pb::TaskState;
use pb::task_status::{Reason, Source};

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

impl Agent {
    pub(super) fn spawn(&mut self, ctx: &AgentCtx, key: ProcKey, spec: Spec) {
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

    pub(super) fn find_task(&mut self, key: &ProcKey) -> Option<(bool, &mut AgentTask)> {
        let fw = self.frameworks.get_mut(&key.framework_id)?;
        let terminating = fw.terminating;
        let tid = key.task_id.as_ref()?;
        let task = fw.executors.get_mut(&key.executor_id)?.tasks.get_mut(tid)?;
        if task.container_id != key.container_id {
            return None;
        }
        Some((terminating, task))
    }

    pub(super) fn find_custom_executor(&mut self, key: &ProcKey) -> Option<(bool, &mut Executor)> {
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
    pub(super) fn container_status(
        &self,
        container_id: &str,
        pid: Option<i32>,
    ) -> pb::ContainerStatus {
        let ip = HostPort::parse(&self.endpoint).map_or(self.endpoint.as_str(), |hp| hp.host);
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
        let (state, reason) = exit_outcome(task.timed_out, task.killed, exit.success);
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
}

/// Body of a process thread: start the process, report it, wait, report the exit.
pub(super) fn run_process(report: &ProcessReporter, key: ProcKey, spec: Spec) {
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

/// The state (and reason) of a command or default-executor task whose
/// process ended: over its `max_completion_time`, killed, or as it exited.
pub(super) fn exit_outcome(
    timed_out: bool,
    killed: bool,
    success: bool,
) -> (TaskState, Option<Reason>) {
    if timed_out {
        (
            TaskState::TaskFailed,
            Some(Reason::MaxCompletionTimeReached),
        )
    } else if killed {
        (TaskState::TaskKilled, None)
    } else if success {
        (TaskState::TaskFinished, None)
    } else {
        (TaskState::TaskFailed, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_ends_timed_out_killed_finished_or_failed() {
        let timed_out = (
            TaskState::TaskFailed,
            Some(Reason::MaxCompletionTimeReached),
        );
        assert_eq!(exit_outcome(true, true, true), timed_out);
        assert_eq!(
            exit_outcome(false, true, true),
            (TaskState::TaskKilled, None)
        );
        assert_eq!(
            exit_outcome(false, false, true),
            (TaskState::TaskFinished, None)
        );
        assert_eq!(
            exit_outcome(false, false, false),
            (TaskState::TaskFailed, None)
        );
    }
}
