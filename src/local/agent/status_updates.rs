//! The agent's status updates: each goes through the status-update manager
//! (`update_manager`), which sends one at a time per task to the master
//! until the scheduler acknowledges it.
//!
//! May import: `model`, `update_manager`, and the cluster's leaf modules.

use std::time::Instant;

use super::model::Agent;
use super::update_manager::Acked;
use crate::local::protocol::{ToMaster, is_terminal};
use crate::wire::pb;

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
