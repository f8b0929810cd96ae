//! Operator SUBSCRIBE streams (`Master::Subscribers`): SUBSCRIBED with the
//! whole state, then HEARTBEAT at once and every heartbeat interval, and
//! the events Mesos 1.11 sends: TASK_ADDED when a task is launched,
//! TASK_UPDATED when a task's latest status has a new state,
//! FRAMEWORK_ADDED / FRAMEWORK_UPDATED (re-subscription, UPDATE_FRAMEWORK)
//! / FRAMEWORK_REMOVED, AGENT_ADDED when an agent registers, and
//! AGENT_REMOVED when one unregisters (not when it is marked gone: 1.11
//! sends nothing then). Disconnections send nothing either.
//!
//! May import: `model`, `operator_state` (the streams), `operator_views`,
//! `operator_api` (the JSON lists
//! Mesos always writes), and the cluster's leaf modules.

use std::time::Instant;

use crossbeam_channel::Receiver;

use super::model::Master;
use super::operator_api::MASTER_JSON_KEEP;
use super::operator_state::OperatorStream;
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::master::{Event, event};

impl OperatorStream {
    /// False once the client has gone.
    fn send(&self, ev: &Event) -> bool {
        let bytes = codec::encode_keeping(ev, self.enc, MASTER_JSON_KEEP);
        self.tx.send(recordio::encode(&bytes)).is_ok()
    }
}

fn event_of(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

impl Master {
    /// SUBSCRIBE: the stream starts with SUBSCRIBED and a HEARTBEAT.
    pub fn operator_subscribe(&mut self, enc: Encoding) -> (Receiver<Vec<u8>>, u64) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let id = self.next_op_stream;
        self.next_op_stream += 1;
        let stream = OperatorStream {
            id,
            enc,
            tx,
            next_heartbeat: Instant::now() + self.cfg.heartbeat_interval,
        };
        let subscribed = Event {
            subscribed: Some(event::Subscribed {
                get_state: Some(self.state_view(enc == Encoding::Protobuf)),
                heartbeat_interval_seconds: Some(self.cfg.heartbeat_interval.as_secs_f64()),
            }),
            ..event_of(event::Type::Subscribed)
        };
        stream.send(&subscribed);
        stream.send(&event_of(event::Type::Heartbeat));
        self.op_streams.push(stream);
        self.wake();
        (rx, id)
    }

    /// The client of an operator stream went away.
    pub fn operator_stream_closed(&mut self, id: u64) {
        self.op_streams.retain(|s| s.id != id);
    }

    /// Sends an event to every operator stream, dropping those whose client
    /// has gone.
    fn publish(&mut self, ev: &Event) {
        self.op_streams.retain(|s| s.send(ev));
    }

    /// Heartbeats that are due; the earliest next one.
    pub(super) fn operator_heartbeats(&mut self, now: Instant) {
        let hb = event_of(event::Type::Heartbeat);
        let interval = self.cfg.heartbeat_interval;
        self.op_streams.retain_mut(|s| {
            if s.next_heartbeat > now {
                return true;
            }
            s.next_heartbeat = now + interval;
            s.send(&hb)
        });
    }

    pub(super) fn next_operator_heartbeat(&self) -> Option<Instant> {
        self.op_streams.iter().map(|s| s.next_heartbeat).min()
    }

    pub(super) fn op_task_added(&mut self, task: &pb::Task) {
        if self.op_streams.is_empty() {
            return;
        }
        self.publish(&Event {
            task_added: Some(event::TaskAdded { task: task.clone() }),
            ..event_of(event::Type::TaskAdded)
        });
    }

    pub(super) fn op_task_updated(
        &mut self,
        fw_id: &str,
        status: &pb::TaskStatus,
        state: pb::TaskState,
    ) {
        if self.op_streams.is_empty() {
            return;
        }
        self.publish(&Event {
            task_updated: Some(event::TaskUpdated {
                framework_id: pb::FrameworkId {
                    value: fw_id.into(),
                },
                status: status.clone(),
                state: state as i32,
            }),
            ..event_of(event::Type::TaskUpdated)
        });
    }

    /// FRAMEWORK_ADDED (`added`) or FRAMEWORK_UPDATED.
    pub(super) fn op_framework_changed(&mut self, fw_id: &str, added: bool) {
        if self.op_streams.is_empty() {
            return;
        }
        let Some(fw) = self.frameworks.get(fw_id) else {
            return;
        };
        let framework = Self::framework_event_view(fw);
        let ev = if added {
            Event {
                framework_added: Some(event::FrameworkAdded { framework }),
                ..event_of(event::Type::FrameworkAdded)
            }
        } else {
            Event {
                framework_updated: Some(event::FrameworkUpdated { framework }),
                ..event_of(event::Type::FrameworkUpdated)
            }
        };
        self.publish(&ev);
    }

    pub(super) fn op_framework_removed(&mut self, info: &pb::FrameworkInfo) {
        if self.op_streams.is_empty() {
            return;
        }
        self.publish(&Event {
            framework_removed: Some(event::FrameworkRemoved {
                framework_info: info.clone(),
            }),
            ..event_of(event::Type::FrameworkRemoved)
        });
    }

    pub(super) fn op_agent_added(&mut self, agent_id: &str) {
        if self.op_streams.is_empty() {
            return;
        }
        if let Some(agent) = self.agent_view(agent_id) {
            self.publish(&Event {
                agent_added: Some(event::AgentAdded { agent }),
                ..event_of(event::Type::AgentAdded)
            });
        }
    }

    pub(super) fn op_agent_removed(&mut self, agent_id: &str) {
        if self.op_streams.is_empty() {
            return;
        }
        self.publish(&Event {
            agent_removed: Some(event::AgentRemoved {
                agent_id: pb::AgentId {
                    value: agent_id.into(),
                },
            }),
            ..event_of(event::Type::AgentRemoved)
        });
    }
}
