//! What operators do to agents, as `Master::Http` does it in Mesos 1.11:
//! DEACTIVATE_AGENT (no more offers, tasks keep running), REACTIVATE_AGENT,
//! DRAIN_AGENT (deactivate, kill every task, DRAINED once the master has no
//! task left there, or gone with `mark_gone`), MARK_AGENT_GONE; and
//! removing an agent from the cluster (marked gone, or unregistered), with
//! what becomes of its tasks. The rules are pure functions at the end; the
//! methods carry them out.
//!
//! May import: `model`, `operator_state` (the marks), `operator_events`
//! (through the master's methods), `agent`, and the cluster's leaf modules.

use thiserror::Error;

use super::model::{Master, master_status, push_completed, record_status, update_event};
use super::operator_state::{AgentAdmin, Drain};
use crate::local::protocol::{is_terminal, now_secs};
use crate::wire::pb;
use pb::TaskState;
use pb::scheduler::{Event, event};
use pb::task_status::Reason;

/// Why an operator call about an agent is refused; the HTTP status and
/// body are Mesos's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum AdminError {
    #[error("Unknown agent")]
    UnknownAgent,
    #[error("Agent is not deactivated")]
    NotDeactivated,
    #[error("Agent is still in the DRAINING state")]
    StillDraining,
    #[error("Agent '{0}' not found")]
    NotFound(String),
}

impl AdminError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            AdminError::NotFound(_) => 404,
            _ => 400,
        }
    }
}

/// How an agent leaves the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// MARK_AGENT_GONE, or a drain with `mark_gone` that has finished.
    Gone,
    /// The agent shut down and unregistered.
    Unregistered,
}

impl Master {
    /// A registered agent (running or not), not removed.
    fn agent_known(&self, agent_id: &str) -> bool {
        self.agents.contains_key(agent_id)
    }

    /// Registered, running and not deactivated: what the allocator offers.
    pub fn agent_active(&self, agent_id: &str) -> bool {
        self.agents.get(agent_id).is_some_and(|a| a.registered)
            && !self.admin.get(agent_id).is_some_and(|x| x.deactivated)
    }

    /// Rescinds the agent's offers (`Master::deactivate(Slave*)`).
    fn rescind_agent_offers(&mut self, agent_id: &str) {
        let offers: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in offers {
            self.remove_offer(&id, true);
        }
    }

    /// DEACTIVATE_AGENT.
    pub fn deactivate_agent(&mut self, agent_id: &str) -> Result<(), AdminError> {
        if !self.agent_known(agent_id) {
            return Err(AdminError::UnknownAgent);
        }
        self.admin
            .entry(agent_id.to_string())
            .or_default()
            .deactivated = true;
        self.rescind_agent_offers(agent_id);
        Ok(())
    }

    /// REACTIVATE_AGENT.
    pub fn reactivate_agent(&mut self, agent_id: &str) -> Result<(), AdminError> {
        reactivation(self.admin.get(agent_id))?;
        self.admin.remove(agent_id);
        self.allocate_soon();
        Ok(())
    }

    /// DRAIN_AGENT: deactivates the agent and has it kill every task.
    pub fn drain_agent(
        &mut self,
        agent_id: &str,
        max_grace_period: Option<pb::DurationInfo>,
        mark_gone: bool,
    ) -> Result<(), AdminError> {
        if !self.agent_known(agent_id) {
            return Err(AdminError::UnknownAgent);
        }
        let config = pb::DrainConfig {
            max_grace_period,
            mark_gone: Some(mark_gone),
        };
        let admin = self.admin.entry(agent_id.to_string()).or_default();
        admin.deactivated = true;
        admin.drain = Some(Drain {
            config,
            drained: false,
            started: now_secs().trunc(),
        });
        self.rescind_agent_offers(agent_id);
        // A stopped agent hears of it when it re-registers.
        if let Some(a) = self.agents.get_mut(agent_id)
            && a.registered
        {
            a.drain(&config);
        }
        self.pump();
        Ok(())
    }

    /// MARK_AGENT_GONE.
    pub fn mark_agent_gone(&mut self, agent_id: &str) -> Result<(), AdminError> {
        if self.gone.contains_key(agent_id) {
            return Ok(());
        }
        if !self.agent_known(agent_id) {
            return Err(AdminError::NotFound(agent_id.to_string()));
        }
        self.remove_agent(agent_id, Removal::Gone);
        Ok(())
    }

    /// The tasks the master still has on an agent (terminal ones wait for
    /// their acknowledgement).
    fn tasks_on(&self, agent_id: &str) -> usize {
        self.frameworks
            .values()
            .flat_map(|f| f.tasks.values())
            .filter(|t| t.task.agent_id.value == agent_id)
            .count()
    }

    /// Moves draining agents on (`Master::checkAndTransitionDrainingAgent`):
    /// an agent with no task left is DRAINED, or gone with `mark_gone`.
    pub(super) fn advance_drains(&mut self) {
        let steps: Vec<(String, DrainStep)> = self
            .admin
            .iter()
            .filter_map(|(id, a)| {
                let d = a.drain.as_ref()?;
                let registered = self.agents.get(id).is_some_and(|a| a.registered);
                let step = drain_step(d, registered, self.tasks_on(id));
                (step != DrainStep::Wait).then(|| (id.clone(), step))
            })
            .collect();
        for (id, step) in steps {
            match step {
                DrainStep::Wait => {}
                DrainStep::Drained => {
                    if let Some(d) = self.admin.get_mut(&id).and_then(|a| a.drain.as_mut()) {
                        d.drained = true;
                    }
                }
                DrainStep::MarkGone => self.remove_agent(&id, Removal::Gone),
            }
        }
    }

    /// Removes an agent from the cluster (`Master::__removeSlave` for a gone
    /// agent, `_removeSlave` for an unregistered one): its tasks end with a
    /// master-generated update, its executors and offers go, every
    /// framework hears the agent is lost, and its processes are killed.
    pub(super) fn remove_agent(&mut self, agent_id: &str, how: Removal) {
        let Some(mut agent) = self.agents.remove(agent_id) else {
            return;
        };
        let hostname = agent.info.hostname.clone();
        let fw_ids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fw_id in fw_ids {
            let Some(fw) = self.frameworks.get_mut(&fw_id) else {
                continue;
            };
            let (state, reason, message) = removal_update(how, fw.partition_aware(), &hostname);
            let ids: Vec<String> = fw
                .tasks
                .values()
                .filter(|t| t.task.agent_id.value == agent_id)
                .map(|t| t.task.task_id.value.clone())
                .collect();
            let mut updated = vec![];
            for tid in ids {
                let Some(mut t) = fw.tasks.remove(&tid) else {
                    continue;
                };
                let was_terminal = is_terminal(t.task.state());
                let status = master_status(
                    &tid,
                    Some(agent_id),
                    state,
                    &message,
                    reason,
                    t.task.executor_id.as_ref().map(|e| e.value.as_str()),
                );
                let new_state = record_status(&mut t, &status, state);
                fw.send(&update_event(status.clone()));
                if new_state {
                    updated.push((status, t.task.state()));
                }
                if !was_terminal {
                    self.settings.count_terminal(state);
                }
                push_completed(&mut fw.completed_tasks, t.task);
            }
            fw.executors.retain(|(a, _), _| a != agent_id);
            for (status, state) in updated {
                self.op_task_updated(&fw_id, &status, state);
            }
        }
        self.rescind_agent_offers(agent_id);
        let lost = Event {
            failure: Some(event::Failure {
                agent_id: Some(pb::AgentId {
                    value: agent_id.into(),
                }),
                executor_id: None,
                status: None,
            }),
            ..super::model::event(event::Type::Failure)
        };
        for fw in self.frameworks.values_mut() {
            fw.send(&lost);
        }
        self.orphan_waiters.extend(agent.kill_all());
        self.pending_kills.remove(agent_id);
        self.admin.remove(agent_id);
        self.agent_registered.remove(agent_id);
        self.agent_reregistered.remove(agent_id);
        match how {
            Removal::Gone => {
                self.gone.insert(agent_id.to_string(), now_secs());
            }
            // Mesos 1.11 tells operator subscribers only of this removal.
            Removal::Unregistered => self.op_agent_removed(agent_id),
        }
        self.allocate_soon();
    }
}

/// REACTIVATE_AGENT's checks: the agent must be deactivated and not in the
/// middle of a drain.
pub(crate) fn reactivation(admin: Option<&AgentAdmin>) -> Result<(), AdminError> {
    let Some(a) = admin.filter(|a| a.deactivated) else {
        return Err(AdminError::NotDeactivated);
    };
    if a.drain.as_ref().is_some_and(|d| !d.drained) {
        return Err(AdminError::StillDraining);
    }
    Ok(())
}

/// What a drain does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrainStep {
    Wait,
    Drained,
    MarkGone,
}

/// A drain moves on once the master has no task left on the (registered)
/// agent: to DRAINED, or to the agent's removal with `mark_gone`.
pub(crate) fn drain_step(drain: &Drain, registered: bool, tasks_left: usize) -> DrainStep {
    if drain.drained || !registered || tasks_left > 0 {
        DrainStep::Wait
    } else if drain.config.mark_gone() {
        DrainStep::MarkGone
    } else {
        DrainStep::Drained
    }
}

/// What the tasks of a removed agent become, by how it went and whether
/// the framework is partition-aware.
pub(crate) fn removal_update(
    how: Removal,
    partition_aware: bool,
    hostname: &str,
) -> (TaskState, Reason, String) {
    match how {
        Removal::Gone if partition_aware => (
            TaskState::TaskGoneByOperator,
            Reason::AgentRemovedByOperator,
            "Agent has been marked gone".into(),
        ),
        Removal::Gone => (
            TaskState::TaskLost,
            Reason::AgentRemoved,
            "Agent has been marked gone".into(),
        ),
        Removal::Unregistered => (
            TaskState::TaskLost,
            Reason::AgentRemoved,
            format!("Agent {hostname} removed: the agent unregistered"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mark_gone: bool, drained: bool) -> Drain {
        Drain {
            config: pb::DrainConfig {
                max_grace_period: None,
                mark_gone: Some(mark_gone),
            },
            drained,
            started: 0.0,
        }
    }

    #[test]
    fn reactivation_needs_a_deactivated_agent_not_still_draining() {
        assert_eq!(reactivation(None), Err(AdminError::NotDeactivated));
        let active = AgentAdmin::default();
        assert_eq!(reactivation(Some(&active)), Err(AdminError::NotDeactivated));
        let off = AgentAdmin {
            deactivated: true,
            drain: None,
        };
        assert_eq!(reactivation(Some(&off)), Ok(()));
        let draining = AgentAdmin {
            deactivated: true,
            drain: Some(drain(false, false)),
        };
        assert_eq!(
            reactivation(Some(&draining)),
            Err(AdminError::StillDraining)
        );
        let drained = AgentAdmin {
            deactivated: true,
            drain: Some(drain(false, true)),
        };
        assert_eq!(reactivation(Some(&drained)), Ok(()));
    }

    #[test]
    fn a_drain_ends_when_no_task_is_left_on_a_registered_agent() {
        assert_eq!(drain_step(&drain(false, false), true, 1), DrainStep::Wait);
        assert_eq!(drain_step(&drain(false, false), false, 0), DrainStep::Wait);
        assert_eq!(
            drain_step(&drain(false, false), true, 0),
            DrainStep::Drained
        );
        assert_eq!(
            drain_step(&drain(true, false), true, 0),
            DrainStep::MarkGone
        );
        assert_eq!(drain_step(&drain(false, true), true, 0), DrainStep::Wait);
    }

    #[test]
    fn removed_agents_tasks_are_gone_by_operator_only_for_partition_aware_frameworks() {
        let (s, r, m) = removal_update(Removal::Gone, true, "h");
        assert_eq!(
            (s, r),
            (
                TaskState::TaskGoneByOperator,
                Reason::AgentRemovedByOperator
            )
        );
        assert_eq!(m, "Agent has been marked gone");
        assert_eq!(
            removal_update(Removal::Gone, false, "h").0,
            TaskState::TaskLost
        );
        let (s, r, m) = removal_update(Removal::Unregistered, true, "h");
        assert_eq!((s, r), (TaskState::TaskLost, Reason::AgentRemoved));
        assert_eq!(m, "Agent h removed: the agent unregistered");
        assert_eq!(
            AdminError::NotFound("x".into()).to_string(),
            "Agent 'x' not found"
        );
        assert_eq!(AdminError::NotFound("x".into()).status(), 404);
        assert_eq!(AdminError::UnknownAgent.status(), 400);
    }
}
