//! The master's timers: allocation cycles, heartbeats on subscription
//! streams, framework failover timeouts, and the agents' own timers; the
//! ticker thread (in `local`) sleeps until [`Master::next_deadline`].
//!
//! May import: `model`, and the cluster's leaf modules.

use std::time::Instant;

use super::model::{Master, event};
use crate::wire::pb;
use pb::scheduler::event;

impl Master {
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.started || self.stopped {
            return None;
        }
        let mut d = Some(self.next_allocation);
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |x| x.min(t)));
            }
        };
        for fw in self.frameworks.values() {
            earliest(fw.conn.as_ref().map(|c| c.next_heartbeat));
            earliest(fw.failover_deadline);
        }
        for a in self.agents.values() {
            earliest(a.next_deadline());
        }
        earliest(self.next_operator_heartbeat());
        d
    }

    pub fn tick(&mut self, now: Instant) {
        if !self.started || self.stopped {
            return;
        }
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| f.conn.is_none() && f.failover_deadline.is_some_and(|d| d <= now))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.remove_framework(&id);
        }
        let interval = self.cfg.heartbeat_interval;
        let hb = event(event::Type::Heartbeat);
        for fw in self.frameworks.values_mut() {
            let due = fw.conn.as_ref().is_some_and(|c| c.next_heartbeat <= now);
            if due {
                fw.send(&hb);
                if let Some(c) = &mut fw.conn {
                    c.next_heartbeat = now + interval;
                }
            }
        }
        self.operator_heartbeats(now);
        for a in self.agents.values_mut() {
            a.tick(now);
        }
        if self.next_allocation <= now {
            self.allocate(now);
            self.next_allocation = now + self.cfg.allocation_interval;
        }
        self.pump();
    }
}
