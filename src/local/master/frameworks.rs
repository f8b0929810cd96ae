//! Frameworks: SUBSCRIBE (first subscription, failover, adoption),
//! disconnection and failover timeouts, TEARDOWN and removal,
//! UPDATE_FRAMEWORK, and losing leadership.
//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use std::collections::BTreeSet;
use std::time::Instant;

use super::model::{
    Framework, MAX_COMPLETED_FRAMEWORKS, Master, SchedulerStream, Subscription, error_event, event,
    framework_id_proto, master_status, push_completed, record_status,
};
use crate::local::protocol::{is_terminal, new_uuid, now_secs, uuid_string};
use crate::local::validation::{self, framework_roles};
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::TaskState;
use pb::scheduler::{Event, event};
use pb::task_status::Reason;

impl Master {
    /// SUBSCRIBE (after the HTTP-level checks): always a stream; an invalid
    /// subscription gets one ERROR event and the stream closes.
    pub fn subscribe(
        &mut self,
        sub: pb::scheduler::call::Subscribe,
        enc: Encoding,
    ) -> Subscription {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stream_id = uuid_string(&new_uuid());
        let refuse = |msg: &str| {
            let bytes = codec::encode(&error_event(msg), enc);
            let _ = tx.send(recordio::encode(&bytes));
        };
        let mut info = sub.framework_info;
        if let Err(e) = validation::validate_framework(&info) {
            refuse(&e);
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let requested = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        if let Some(id) = &requested
            && self.completed_frameworks.iter().any(|f| &f.id == id)
        {
            refuse("Framework has been removed");
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let roles = framework_roles(&info);
        let checks =
            validation::validate_suppressed_roles(&roles, &sub.suppressed_roles).and_then(|_| {
                validation::validate_offer_constraints(&roles, sub.offer_constraints.as_ref())
            });
        if let Err(e) = checks {
            refuse(&e);
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let suppressed: BTreeSet<String> = sub.suppressed_roles.into_iter().collect();
        let constraints = sub.offer_constraints;
        let now = Instant::now();
        let conn = SchedulerStream {
            stream_id: stream_id.clone(),
            enc,
            tx: tx.clone(),
            next_heartbeat: now + self.cfg.heartbeat_interval,
        };

        let mut added = false;
        let id = match requested {
            None => {
                let id = format!("{}-{:04}", self.id, self.next_framework);
                self.next_framework += 1;
                info.id = Some(framework_id_proto(&id));
                let mut fw = Framework::new(info, roles, suppressed);
                fw.conn = Some(conn);
                fw.active = true;
                fw.offer_constraints = constraints;
                self.frameworks.insert(id.clone(), fw);
                added = true;
                id
            }
            Some(id) => {
                if let Some(old) = self.frameworks.get(&id) {
                    // Changes to these are ignored on re-subscription.
                    info.user = old.info.user.clone();
                    info.checkpoint = old.info.checkpoint;
                    if let Err(e) = validation::validate_update(&old.info, &info) {
                        refuse(&e);
                        return Subscription {
                            stream_id,
                            rx,
                            framework_id: None,
                        };
                    }
                } else {
                    // An id this master does not know: the framework was
                    // registered with an earlier master; adopt it.
                    added = true;
                    self.frameworks.insert(
                        id.clone(),
                        Framework::new(info.clone(), roles.clone(), BTreeSet::new()),
                    );
                }
                // Failover: the old connection (if any) gets an ERROR and closes,
                // the old offers are discarded.
                self.discard_offers_of(&id);
                let Some(fw) = self.frameworks.get_mut(&id) else {
                    return Subscription {
                        stream_id,
                        rx,
                        framework_id: None,
                    };
                };
                if fw.conn.is_some() {
                    fw.send(&error_event("Framework failed over"));
                }
                fw.info = info;
                fw.roles = roles;
                fw.suppressed = suppressed;
                fw.conn = Some(conn);
                fw.active = true;
                fw.failover_deadline = None;
                fw.reregistered_time = Some(now_secs());
                fw.offer_constraints = constraints;
                id
            }
        };
        crate::log!(
            crate::log::Level::Info,
            "master",
            "framework {id} subscribed (stream {stream_id})"
        );
        let subscribed = Event {
            subscribed: Some(event::Subscribed {
                framework_id: framework_id_proto(&id),
                heartbeat_interval_seconds: Some(self.cfg.heartbeat_interval.as_secs_f64()),
                master_info: Some(self.info.clone()),
            }),
            ..event(event::Type::Subscribed)
        };
        if let Some(fw) = self.frameworks.get_mut(&id) {
            fw.send(&subscribed);
            fw.send(&event(event::Type::Heartbeat));
        }
        self.op_framework_changed(&id, added);
        for a in self.agents.values_mut().filter(|a| a.registered) {
            a.framework_resubscribed(&id);
        }
        self.allocate_soon();
        Subscription {
            stream_id,
            rx,
            framework_id: Some(id),
        }
    }

    /// The subscription stream ended (client went away, or we closed it).
    pub fn stream_closed(&mut self, fw_id: &str, stream_id: &str) {
        if self.stopped {
            return;
        }
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw.conn.as_ref().is_none_or(|c| c.stream_id != stream_id) {
            return; // an older stream of a framework that has failed over
        }
        fw.conn = None;
        fw.active = false;
        fw.unregistered_time = now_secs();
        let timeout = validation::failover_timeout(&fw.info).unwrap_or_default();
        fw.failover_deadline = Some(Instant::now() + timeout);
        // Its offers are rescinded (the events go nowhere: it is disconnected).
        self.discard_offers_of(fw_id);
        self.wake();
    }

    /// No longer elected: every scheduler's stream closes (they go to the
    /// new leader); the frameworks wait out their failover timeouts here.
    pub fn abdicate(&mut self) {
        let ids: Vec<(String, String)> = self
            .frameworks
            .values()
            .filter_map(|f| f.conn.as_ref().map(|c| (f.id.clone(), c.stream_id.clone())))
            .collect();
        for (fw, stream) in ids {
            self.stream_closed(&fw, &stream);
        }
    }

    /// Removes a framework: kills its tasks, closes its stream.
    pub(super) fn remove_framework(&mut self, fw_id: &str) {
        self.discard_offers_of(fw_id);
        let Some(mut fw) = self.frameworks.remove(fw_id) else {
            return;
        };
        fw.conn = None;
        fw.active = false;
        fw.unregistered_time = now_secs();
        // A stopped agent hears of it when it comes back.
        for a in self.agents.values_mut().filter(|a| a.registered) {
            a.shutdown_framework(fw_id);
        }
        // Each task ends with a master-made TASK_KILLED (`removeFramework`);
        // the framework hears nothing more, operator subscribers do.
        let tasks = std::mem::take(&mut fw.tasks);
        let message = format!("Framework {fw_id} removed");
        let mut updated = vec![];
        for (tid, mut t) in tasks {
            let was_terminal = is_terminal(t.task.state());
            let status = master_status(
                &tid,
                Some(&t.task.agent_id.value),
                TaskState::TaskKilled,
                &message,
                Reason::FrameworkRemoved,
                t.task.executor_id.as_ref().map(|e| e.value.as_str()),
            );
            if record_status(&mut t, &status, TaskState::TaskKilled) {
                updated.push((status, t.task.state()));
            }
            if !was_terminal {
                self.settings.count_terminal(TaskState::TaskKilled);
            }
            push_completed(&mut fw.completed_tasks, t.task);
        }
        for (status, state) in updated {
            self.op_task_updated(fw_id, &status, state);
        }
        fw.executors.clear();
        fw.filters.clear();
        self.op_framework_removed(&fw.info);
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
    }

    pub fn teardown(&mut self, fw_id: &str) {
        self.remove_framework(fw_id);
    }

    /// UPDATE_FRAMEWORK: `Err((code, body))` on rejection.
    pub fn update_framework(
        &mut self,
        fw_id: &str,
        uf: pb::scheduler::call::UpdateFramework,
    ) -> Result<(), String> {
        let info = uf.framework_info;
        validation::validate_framework(&info)
            .map_err(|e| format!("Supplied FrameworkInfo is not valid: {e}"))?;
        let Some(fw) = self.frameworks.get(fw_id) else {
            return Err("Framework cannot be found".into());
        };
        validation::validate_update(&fw.info, &info)
            .map_err(|e| format!("FrameworkInfo update is not valid: {e}"))?;
        let roles = framework_roles(&info);
        validation::validate_suppressed_roles(&roles, &uf.suppressed_roles)
            .and_then(|_| {
                validation::validate_offer_constraints(&roles, uf.offer_constraints.as_ref())
            })
            .map_err(|e| format!("'UpdateFramework' call is not valid: {e}"))?;
        let stale: Vec<String> = fw
            .offers
            .iter()
            .filter(|o| {
                self.offers
                    .get(*o)
                    .is_some_and(|o| !roles.contains(&o.role))
            })
            .cloned()
            .collect();
        for o in stale {
            self.remove_offer(&o, true);
        }
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            fw.info = info;
            fw.filters.retain(|(r, _), _| roles.contains(r));
            fw.roles = roles;
            fw.suppressed = uf.suppressed_roles.into_iter().collect();
            fw.offer_constraints = uf.offer_constraints;
        }
        self.op_framework_changed(fw_id, false);
        self.allocate_soon();
        Ok(())
    }
}
