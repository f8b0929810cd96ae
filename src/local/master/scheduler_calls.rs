//! The other scheduler calls: KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE,
//! MESSAGE and RECONCILE_OPERATIONS (SUBSCRIBE, TEARDOWN and
//! UPDATE_FRAMEWORK are in `frameworks`, ACCEPT in `accept`, DECLINE,
//! REVIVE and SUPPRESS in `offers`).
//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use std::collections::BTreeSet;

use super::model::{Master, MasterTask, event, master_status, push_completed, update_event};
use crate::local::protocol::is_terminal;
use crate::wire::pb;
use pb::TaskState;
use pb::scheduler::{Event, event};
use pb::task_status::Reason;

impl Master {
    /// KILL: unknown tasks are answered by reconciliation.
    pub fn kill(&mut self, fw_id: &str, kill: pb::scheduler::call::Kill) {
        let Some(fw) = self.frameworks.get(fw_id) else {
            return;
        };
        let Some(t) = fw.tasks.get(&kill.task_id.value) else {
            let task = pb::scheduler::call::reconcile::Task {
                task_id: kill.task_id.clone(),
                agent_id: kill.agent_id.clone(),
            };
            self.reconcile(fw_id, vec![task]);
            return;
        };
        if kill
            .agent_id
            .as_ref()
            .is_some_and(|a| a.value != t.task.agent_id.value)
        {
            return;
        }
        let agent_id = t.task.agent_id.value.clone();
        match self.agents.get_mut(&agent_id) {
            Some(a) if a.registered => {
                a.kill_task(fw_id, &kill.task_id.value, kill.kill_policy.as_ref())
            }
            // "Kill will be retried if the agent reregisters."
            Some(_) => self
                .pending_kills
                .entry(agent_id)
                .or_default()
                .push((fw_id.to_string(), kill.task_id.value)),
            None => {}
        }
    }

    /// SHUTDOWN: dropped if the agent is stopped (as Mesos drops it for a
    /// disconnected agent).
    pub fn shutdown_executor(&mut self, fw_id: &str, s: pb::scheduler::call::Shutdown) {
        if let Some(a) = self.agents.get_mut(&s.agent_id.value)
            && a.registered
        {
            a.shutdown_executor(fw_id, &s.executor_id.value);
        }
    }

    /// ACKNOWLEDGE: forwarded to the agent; a task whose terminal update is
    /// acknowledged leaves the master (into `completed_tasks`).
    /// Dropped if the agent is stopped: it resends the update when it comes
    /// back.
    pub fn acknowledge(&mut self, fw_id: &str, ack: pb::scheduler::call::Acknowledge) {
        let agent_id = ack.agent_id.value.clone();
        if !self.agents.get(&agent_id).is_some_and(|a| a.registered) {
            return;
        }
        let task_id = ack.task_id.value.clone();
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            let remove = fw.tasks.get(&task_id).is_some_and(|t| {
                t.task.agent_id.value == agent_id
                    && t.task.status_update_state.is_some_and(|s| {
                        TaskState::try_from(s).is_ok_and(is_terminal)
                            && t.task.status_update_uuid.as_deref() == Some(&ack.uuid)
                    })
            });
            if remove && let Some(t) = fw.tasks.remove(&task_id) {
                push_completed(&mut fw.completed_tasks, t.task);
            }
        }
        if let Some(a) = self.agents.get_mut(&agent_id) {
            a.acknowledge(fw_id, &task_id, &ack.uuid);
        }
    }

    /// RECONCILE (`Master::reconcile`).
    pub fn reconcile(&mut self, fw_id: &str, tasks: Vec<pb::scheduler::call::reconcile::Task>) {
        let agents: BTreeSet<String> = self.agents.keys().cloned().collect();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let known = |t: &MasterTask| {
            let state = t
                .task
                .status_update_state
                .and_then(|s| TaskState::try_from(s).ok())
                .unwrap_or(t.task.state());
            let mut st = master_status(
                &t.task.task_id.value,
                Some(&t.task.agent_id.value),
                state,
                "Reconciliation: Latest task state",
                Reason::Reconciliation,
                t.task.executor_id.as_ref().map(|e| e.value.as_str()),
            );
            if let Some(last) = t.task.statuses.last() {
                st.healthy = last.healthy;
                st.container_status = last.container_status.clone();
            }
            st
        };
        let mut out = vec![];
        if tasks.is_empty() {
            out.extend(fw.tasks.values().map(known));
        } else {
            let pa = fw.partition_aware();
            for t in tasks {
                let tid = t.task_id.value.as_str();
                let agent = t.agent_id.as_ref().map(|a| a.value.as_str());
                let st = if let Some(task) = fw.tasks.get(tid) {
                    known(task)
                } else if let Some(a) = agent.filter(|a| agents.contains(*a)) {
                    master_status(
                        tid,
                        Some(a),
                        if pa {
                            TaskState::TaskGone
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown to the agent",
                        Reason::Reconciliation,
                        None,
                    )
                } else {
                    master_status(
                        tid,
                        agent,
                        if pa {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown",
                        Reason::Reconciliation,
                        None,
                    )
                };
                out.push(st);
            }
        }
        for st in out {
            fw.send(&update_event(st));
        }
    }

    /// MESSAGE: delivered to a subscribed custom executor, else dropped
    /// (best effort, as in Mesos).
    pub fn message(&mut self, fw_id: &str, m: pb::scheduler::call::Message) {
        if let Some(a) = self.agents.get_mut(&m.agent_id.value)
            && a.registered
        {
            a.framework_message(fw_id, &m.executor_id.value, m.data);
        }
    }

    /// RECONCILE_OPERATIONS: the local agents have no operations.
    pub fn reconcile_operations(
        &mut self,
        fw_id: &str,
        r: pb::scheduler::call::ReconcileOperations,
    ) {
        let agents: BTreeSet<String> = self.agents.keys().cloned().collect();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        for op in r.operations {
            let agent = op.agent_id.as_ref().map(|a| a.value.clone());
            let message = match &agent {
                Some(a) if agents.contains(a) => "Reconciliation: Operation is unknown",
                Some(_) => "Reconciliation: Both operation and agent are unknown",
                None => "Reconciliation: Operation is unknown and no 'agent_id' was provided",
            };
            let status = pb::OperationStatus {
                operation_id: Some(op.operation_id),
                state: pb::OperationState::OperationUnknown as i32,
                message: Some(message.into()),
                agent_id: agent.map(|value| pb::AgentId { value }),
                resource_provider_id: op.resource_provider_id,
                ..Default::default()
            };
            fw.send(&Event {
                update_operation_status: Some(event::UpdateOperationStatus { status }),
                ..event(event::Type::UpdateOperationStatus)
            });
        }
    }
}
