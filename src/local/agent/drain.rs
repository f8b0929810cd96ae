//! Draining the agent (DRAIN_AGENT, `Slave::drain`): every task is killed,
//! with the drain's `max_grace_period` when that is shorter than the
//! task's own grace period, and the updates of killed tasks say why
//! (REASON_AGENT_DRAINING; TASK_GONE_BY_OPERATOR for partition-aware
//! frameworks when the agent is to be marked gone); tasks that arrive
//! meanwhile are dropped. The agent stops draining once it has nothing
//! left (reactivation tells the agent nothing, as in Mesos).
//!
//! May import: `model`, `kill`, and the cluster's leaf modules.

use super::model::{Agent, fw_id_of};
use crate::local::protocol::now_secs;
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::{Reason, Source};

impl Agent {
    /// Starts draining: kills every live task.
    pub fn drain(&mut self, config: &pb::DrainConfig) {
        // Nothing to drain: the agent is drained already.
        if self.frameworks.is_empty() {
            return;
        }
        self.drain = Some((*config, now_secs().trunc()));
        let max = config.max_grace_period.as_ref();
        let mut kills = vec![];
        for (fw_id, fw) in &self.frameworks {
            if fw.terminating {
                continue;
            }
            for exec in fw.executors.values() {
                for (task_id, t) in &exec.tasks {
                    if !t.exited {
                        let policy = drain_policy(t.info.kill_policy.as_ref(), max);
                        kills.push((fw_id.clone(), task_id.clone(), policy));
                    }
                }
            }
        }
        for (fw_id, task_id, policy) in kills {
            self.kill_task(&fw_id, &task_id, policy.as_ref());
        }
    }

    /// Tasks that reach a draining agent are dropped (`Slave::run`):
    /// TASK_DROPPED, or TASK_LOST for frameworks that are not
    /// partition-aware. True if they were.
    pub(super) fn drop_while_draining(
        &mut self,
        fw: &pb::FrameworkInfo,
        exec_id: &str,
        tasks: &[&pb::TaskInfo],
    ) -> bool {
        if self.drain.is_none() {
            return false;
        }
        let state = if has_capability(fw, Cap::PartitionAware) {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let fw_id = fw_id_of(fw);
        self.framework(fw);
        for t in tasks {
            let st = self.status(
                &t.task_id.value,
                Some(exec_id),
                state,
                Source::Agent,
                Some(Reason::AgentDraining),
                Some("Task was received while agent was already draining".into()),
            );
            self.push_update(&fw_id, st);
        }
        self.cleanup(&fw_id);
        true
    }

    /// The drain in progress and when it began (seconds since the epoch).
    pub fn drain_config(&self) -> Option<(&pb::DrainConfig, f64)> {
        self.drain.as_ref().map(|(c, t)| (c, *t))
    }
}

/// The kill policy a drain imposes on a task: the drain's maximum grace
/// period when the task has none or a longer one; otherwise none (the
/// task's own policy applies).
pub(super) fn drain_policy(
    task: Option<&pb::KillPolicy>,
    max: Option<&pb::DurationInfo>,
) -> Option<pb::KillPolicy> {
    let max = max?;
    let shorter = task
        .and_then(|p| p.grace_period.as_ref())
        .is_none_or(|g| max.nanoseconds < g.nanoseconds);
    shorter.then_some(pb::KillPolicy {
        grace_period: Some(*max),
    })
}

/// An update of a task on a draining agent: a kill says it came from the
/// drain, and becomes TASK_GONE_BY_OPERATOR when the agent is to be marked
/// gone and the framework is partition-aware.
pub(super) fn drained_status(
    mut status: pb::TaskStatus,
    config: &pb::DrainConfig,
    partition_aware: bool,
) -> pb::TaskStatus {
    if matches!(
        status.state(),
        TaskState::TaskKilling | TaskState::TaskKilled
    ) {
        status.reason = Some(Reason::AgentDraining as i32);
        if config.mark_gone() && partition_aware {
            status.set_state(TaskState::TaskGoneByOperator);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: i64) -> pb::DurationInfo {
        pb::DurationInfo {
            nanoseconds: n * 1_000_000_000,
        }
    }

    #[test]
    fn a_drain_only_shortens_grace_periods() {
        let long = pb::KillPolicy {
            grace_period: Some(secs(10)),
        };
        let short = pb::KillPolicy {
            grace_period: Some(secs(1)),
        };
        assert_eq!(drain_policy(Some(&long), None), None);
        assert_eq!(
            drain_policy(Some(&long), Some(&secs(2))),
            Some(pb::KillPolicy {
                grace_period: Some(secs(2))
            })
        );
        assert_eq!(drain_policy(Some(&short), Some(&secs(2))), None);
        assert_eq!(
            drain_policy(None, Some(&secs(2))).and_then(|p| p.grace_period),
            Some(secs(2))
        );
    }

    #[test]
    fn kills_during_a_drain_carry_its_reason() {
        let cfg = |gone| pb::DrainConfig {
            max_grace_period: None,
            mark_gone: Some(gone),
        };
        let st = |state: TaskState| pb::TaskStatus {
            state: state as i32,
            reason: Some(Reason::TaskKilledDuringLaunch as i32),
            ..Default::default()
        };
        let s = drained_status(st(TaskState::TaskKilled), &cfg(false), true);
        assert_eq!(
            (s.state(), s.reason()),
            (TaskState::TaskKilled, Reason::AgentDraining)
        );
        let s = drained_status(st(TaskState::TaskKilled), &cfg(true), true);
        assert_eq!(s.state(), TaskState::TaskGoneByOperator);
        let s = drained_status(st(TaskState::TaskKilled), &cfg(true), false);
        assert_eq!(s.state(), TaskState::TaskKilled);
        let s = drained_status(st(TaskState::TaskFinished), &cfg(true), true);
        assert_eq!(
            (s.state(), s.reason()),
            (TaskState::TaskFinished, Reason::TaskKilledDuringLaunch)
        );
    }
}
