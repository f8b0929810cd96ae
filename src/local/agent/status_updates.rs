//! The agent's status updates: each goes through the status-update manager
//! (`update_manager`), which sends one at a time per task to the master
//! until the scheduler acknowledges it.
//!
//! May import: `model`, `update_manager`, `drain`, and the cluster's leaf
//! modules.

use std::time::Instant;

use super::drain::drained_status;
use super::model::Agent;
use super::update_manager::Acked;
use crate::local::protocol::{ToMaster, is_terminal};
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::framework_info::capability::Type as Cap;

impl Agent {
    /// Hands an update to the status-update manager (forwarding it if
    /// nothing is in flight). False if it was dropped.
    pub(super) fn push_update(&mut self, fw_id: &str, status: pb::TaskStatus) -> bool {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return false;
        };
        if fw.terminating {
            return false;
        }
        let status = match &self.drain {
            Some((config, _)) => drained_status(
                status,
                config,
                has_capability(&fw.info, Cap::PartitionAware),
            ),
            None => status,
        };
        let tid = status.task_id.value.clone();
        let state = status.state();
        let mut recorded = status.clone();
        recorded.data = None;
        let Ok(forward) = self.updates.update(fw_id, status, Instant::now()) else {
            return false;
        };
        self.history.valid_status_updates += 1;
        if let Some(t) = fw
            .executors
            .values_mut()
            .find_map(|e| e.tasks.get_mut(&tid))
        {
            t.statuses.push(recorded);
            if !is_terminal(t.state) {
                t.state = state;
                if is_terminal(state) {
                    *self
                        .history
                        .terminal
                        .entry(state.as_str_name())
                        .or_default() += 1;
                }
            }
        }
        if let Some(f) = forward {
            self.outbox.push(ToMaster::from(f));
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
            Acked::Next(f) => self.outbox.push(ToMaster::from(*f)),
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
        self.outbox.extend(resend.into_iter().map(ToMaster::from));
    }
}
