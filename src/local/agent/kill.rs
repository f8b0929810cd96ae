//! Killing tasks and shutting executors and frameworks down: KILL from the
//! scheduler, SHUTDOWN, a removed framework; SIGTERM first, SIGKILL once
//! the grace period is over.
//!
//! May import: `model`, and the cluster's leaf modules.

use std::time::{Duration, Instant};

use super::env;
use super::model::{
    Agent, AgentTask, CustomExecutor, DEFAULT_KILL_GRACE, Executor, ExecutorKind, Pending,
    duration_of, executor_event,
};
use crate::local::launcher::{self};
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::executor as xpb;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::{Reason, Source};

impl Agent {
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
}

/// Starts shutting an executor down: custom executors get SHUTDOWN and, after
/// the shutdown grace period, SIGKILL; the built-in ones kill their tasks.
pub(super) fn shutdown(exec: &mut Executor, default_grace: Duration) {
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
pub(super) fn destroy(x: &mut CustomExecutor) {
    x.destroyed = true;
    if let Some(pid) = x.pid {
        launcher::signal_group(pid, libc::SIGKILL);
    }
}

/// What a kill does to a task, decided apart from signalling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KillStep {
    /// The task has ended, or is being killed with an earlier SIGKILL.
    Nothing,
    /// A repeated kill with a shorter grace period: SIGKILL comes sooner.
    Sooner(Instant),
    /// The first kill: SIGTERM now (or once started), SIGKILL then.
    Start(Instant),
}

/// A kill whose SIGKILL would come at `deadline`, of a task that has
/// `exited` or not, is already `killed` or not, with its current
/// `kill_deadline`. A repeated kill may only shorten the grace period.
pub(super) fn kill_step(
    exited: bool,
    killed: bool,
    kill_deadline: Option<Instant>,
    deadline: Instant,
) -> KillStep {
    if exited {
        KillStep::Nothing
    } else if !killed {
        KillStep::Start(deadline)
    } else if kill_deadline.is_some_and(|d| deadline < d) {
        KillStep::Sooner(deadline)
    } else {
        KillStep::Nothing
    }
}

/// Starts killing a task: SIGTERM now (or as soon as it has started),
/// SIGKILL after `grace` ([`kill_step`]). True if this was the first kill.
pub(super) fn kill_process(t: &mut AgentTask, grace: Duration) -> bool {
    match kill_step(t.exited, t.killed, t.kill_deadline, Instant::now() + grace) {
        KillStep::Nothing => false,
        KillStep::Sooner(deadline) => {
            t.kill_deadline = Some(deadline);
            false
        }
        KillStep::Start(deadline) => {
            t.killed = true;
            t.kill_deadline = Some(deadline);
            if let Some(pid) = t.pid {
                launcher::signal_group(pid, libc::SIGTERM);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_kill_starts_and_a_repeated_one_may_only_come_sooner() {
        let now = Instant::now();
        let (soon, late) = (now + Duration::from_secs(1), now + Duration::from_secs(5));
        assert_eq!(kill_step(false, false, None, late), KillStep::Start(late));
        assert_eq!(
            kill_step(false, true, Some(late), soon),
            KillStep::Sooner(soon)
        );
        assert_eq!(kill_step(false, true, Some(soon), late), KillStep::Nothing);
        assert_eq!(kill_step(false, true, None, soon), KillStep::Nothing);
        // An ended task is not killed.
        assert_eq!(kill_step(true, false, None, soon), KillStep::Nothing);
    }
}
