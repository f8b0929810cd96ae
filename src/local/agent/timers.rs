//! The agent's timers: status-update retries, kill escalation, task
//! completion deadlines, executor (re-)registration and shutdown timeouts,
//! executor heartbeats; and killing everything when the cluster stops.
//!
//! May import: `model`, `kill`, `env`, and the cluster's leaf modules.

use std::thread::JoinHandle;
use std::time::Instant;

use super::env;
use super::kill::{destroy, kill_process};
use super::model::{
    Agent, AgentFlags, DEFAULT_KILL_GRACE, EXECUTOR_HEARTBEAT, Termination, duration_of,
    executor_event,
};
use crate::local::launcher::{self};
use crate::local::protocol::ToMaster;
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::executor as xpb;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::Reason;

impl Agent {
    /// Retries due updates, escalates overdue kills, enforces executor
    /// registration and shutdown timeouts. While the agent is stopped only
    /// what the executors themselves do goes on (the command and default
    /// executors' kill escalation and completion deadlines).
    pub fn tick(&mut self, now: Instant) {
        if self.registered {
            let due = self.updates.due(now);
            self.outbox.extend(due.into_iter().map(ToMaster::from));
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
                    x.termination =
                        Some(registration_timeout(x.recovered, partition_aware, &flags));
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
}

/// Why a custom executor that did not (re-)subscribe in time is destroyed,
/// and what its live tasks become: after an agent restart
/// (`Slave::reregisterExecutorTimeout`) they are lost (gone, for
/// partition-aware frameworks); otherwise they fail.
pub(super) fn registration_timeout(
    recovered: bool,
    partition_aware: bool,
    flags: &AgentFlags,
) -> Termination {
    if recovered {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::config::ClusterConfig;

    #[test]
    fn executors_late_after_a_restart_lose_their_tasks_others_fail_them() {
        let flags = AgentFlags::from_config(&ClusterConfig::default());
        let t = registration_timeout(false, true, &flags);
        assert_eq!(t.state, TaskState::TaskFailed);
        assert_eq!(t.reason, Reason::ExecutorRegistrationTimeout);
        assert_eq!(t.message, "Executor did not register within 1mins");
        let t = registration_timeout(true, false, &flags);
        assert_eq!(
            (t.state, t.reason),
            (TaskState::TaskLost, Reason::ExecutorReregistrationTimeout)
        );
        assert_eq!(t.message, "Executor did not reregister within 2secs");
        assert_eq!(
            registration_timeout(true, true, &flags).state,
            TaskState::TaskGone
        );
    }
}
