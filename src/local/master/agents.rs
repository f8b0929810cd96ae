//! The master's side of agent restarts: a stopped agent is deactivated (its
//! offers rescinded, nothing offered, calls for it dropped or kept); once
//! it is back and has recovered it re-registers (`Master::reconcileKnownSlave`):
//! the tasks it no longer knows are reconciled through it, the executors it
//! no longer knows are removed, kills made while it was away are retried,
//! and frameworks removed meanwhile are shut down on it.

use std::time::Instant;

use super::Master;

impl Master {
    /// The agent's process died.
    pub fn stop_agent(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        if !a.running {
            return;
        }
        a.stop();
        let offers: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in offers {
            self.remove_offer(&id, true);
        }
        self.wake();
    }

    /// The agent process is back; it re-registers once it has recovered
    /// (see [`Master::reregister_ready_agents`]).
    pub fn start_agent(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        if a.running {
            return;
        }
        a.recover(Instant::now());
        self.pump();
        self.wake();
    }

    /// Re-registers the agents that have finished recovering
    /// (`Master::reregisterSlave` + `reconcileKnownSlave`).
    pub(super) fn reregister_ready_agents(&mut self) {
        let ready: Vec<String> = self
            .agents
            .values()
            .filter(|a| !a.registered && a.recovered())
            .map(|a| a.id.clone())
            .collect();
        for agent_id in ready {
            self.reregister(&agent_id);
        }
    }

    fn reregister(&mut self, agent_id: &str) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        a.reregistered(Instant::now());
        for fw in self.frameworks.values_mut() {
            let tasks: Vec<String> = fw
                .tasks
                .values()
                .filter(|t| t.task.agent_id.value == agent_id)
                .map(|t| t.task.task_id.value.clone())
                .collect();
            if !tasks.is_empty() {
                a.reconcile_tasks(&fw.info, &tasks);
            }
            // Executors the agent forgot: their resources are free again.
            fw.executors
                .retain(|(agent, exec), _| agent != agent_id || a.knows_executor(&fw.id, exec));
        }
        for (fw_id, task_id) in self.pending_kills.remove(agent_id).unwrap_or_default() {
            a.kill_task(&fw_id, &task_id, None);
        }
        for fw_id in a.framework_ids() {
            if !self.frameworks.contains_key(&fw_id) {
                a.shutdown_framework(&fw_id);
            }
        }
        self.allocate_soon();
    }
}
