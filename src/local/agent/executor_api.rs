//! The agent's side of the executor HTTP API (`/api/v1/executor`): which
//! executor a token belongs to, the checks of `Http::executor`, and
//! SUBSCRIBE, UPDATE and MESSAGE from executors (and MESSAGE to them).
//! The HTTP endpoint itself lives in `local::agent_api`.
//!
//! May import: `model`, and the cluster's leaf modules.

use std::collections::BTreeSet;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::model::{Agent, EXECUTOR_HEARTBEAT, ExecutorKind, ExecutorStream, executor_event};
use crate::local::protocol::{ToMaster, is_terminal, now_secs};
use crate::local::validation::has_capability;
use crate::wire::codec::Encoding;
use crate::wire::pb;
use pb::TaskState;
use pb::executor as executor_pb;
use pb::framework_info::capability::Type as Capability;
use pb::task_status::{Reason, Source};

/// Errors of the executor API: (HTTP status, body).
pub(crate) type HttpError = (u16, String);

impl Agent {
    /// The executor a token was issued to: (framework id, executor id,
    /// container id), the claims of Mesos's executor JWTs.
    pub fn token_claims(&self, token: &str) -> Option<(String, String, String)> {
        self.frameworks.iter().find_map(|(fw_id, f)| {
            f.executors.iter().find_map(|(exec_id, e)| {
                e.custom
                    .as_ref()
                    .and_then(|x| x.token.as_deref())
                    .filter(|t| *t == token)
                    .map(|_| (fw_id.clone(), exec_id.clone(), e.container_id.clone()))
            })
        })
    }

    /// Checks that the framework and a custom executor exist and that the
    /// caller's claims (with executor authentication) are that executor's;
    /// true if it has subscribed.
    pub fn executor_lookup(
        &self,
        fw_id: &str,
        exec_id: &str,
        claims: Option<&(String, String, String)>,
    ) -> Result<bool, HttpError> {
        let fw = self
            .frameworks
            .get(fw_id)
            .ok_or((400, "Framework cannot be found".to_string()))?;
        let exec = fw
            .executors
            .get(exec_id)
            .filter(|e| e.kind == ExecutorKind::Custom)
            .ok_or((400, "Executor cannot be found".to_string()))?;
        if let Some((fid, eid, cid)) = claims {
            // `verifyExecutorClaims`.
            let principal = format!("{{fid: {fid}, eid: {eid}, cid: {cid}}}");
            if fid != fw_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain an 'fid' claim with the framework ID {fw_id}, which is set in the call"
                    ),
                ));
            }
            if eid != exec_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain an 'eid' claim with the executor ID {exec_id}, which is set in the call"
                    ),
                ));
            }
            if *cid != exec.container_id {
                return Err((
                    403,
                    format!(
                        "Authenticated principal '{principal}' does not contain a 'cid' claim with the correct active ContainerID"
                    ),
                ));
            }
        }
        Ok(exec.custom.as_ref().is_some_and(|x| x.subscribed))
    }

    /// True if this agent knows the framework's executor (of any kind).
    pub fn knows_executor(&self, fw_id: &str, exec_id: &str) -> bool {
        self.frameworks
            .get(fw_id)
            .is_some_and(|f| f.executors.contains_key(exec_id))
    }

    /// True if this agent knows the framework's task.
    pub fn knows_task(&self, fw_id: &str, task_id: &str) -> bool {
        self.frameworks
            .get(fw_id)
            .is_some_and(|f| f.executors.values().any(|e| e.tasks.contains_key(task_id)))
    }

    /// SUBSCRIBE from an executor (after `executor_lookup`), as
    /// `Slave::subscribe` handles it: the unacknowledged updates go to the
    /// status-update manager, tasks still STAGING that the executor does not
    /// list are lost, then SUBSCRIBED and the queued tasks. Returns the
    /// stream and its id.
    pub fn executor_subscribe(
        &mut self,
        fw_id: &str,
        exec_id: &str,
        sub: executor_pb::call::Subscribe,
        enc: Encoding,
    ) -> (Receiver<Vec<u8>>, u64) {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.next_conn += 1;
        let conn = ExecutorStream {
            id: self.next_conn,
            enc,
            tx,
            next_heartbeat: Instant::now() + EXECUTOR_HEARTBEAT,
        };
        let conn_id = conn.id;
        let agent_info = self.info.clone();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return (rx, conn_id);
        };
        let fw_info = fw.info.clone();
        let terminating = fw.terminating;
        let partition_aware = has_capability(&fw.info, Capability::PartitionAware);
        let Some(exec) = fw.executors.get_mut(exec_id) else {
            return (rx, conn_id);
        };
        if terminating || exec.terminated || exec.shutting_down {
            // The stream closes after the SHUTDOWN (the sender drops here).
            conn.send(&executor_event(executor_pb::event::Type::Shutdown));
            return (rx, conn_id);
        }
        let container_id = exec.container_id.clone();
        let exec_info = exec.info.clone();
        if let Some(x) = &mut exec.custom {
            x.conn = Some(conn); // an older connection closes
            x.subscribed = true;
            x.recovered = false;
            x.registration_deadline = None;
        }
        // The status-update manager handles duplicates of updates it has.
        let acks: Vec<executor_pb::Event> = sub
            .unacknowledged_updates
            .into_iter()
            .map(|u| self.take_update(fw_id, exec_id, u.status))
            .collect();
        let unacked: BTreeSet<String> = sub
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let lost: Vec<String> = self
            .executor(fw_id, exec_id)
            .map(|exec| {
                exec.tasks
                    .values_mut()
                    .filter(|t| {
                        t.delivered
                            && !t.exited
                            && t.state == TaskState::TaskStaging
                            && !unacked.contains(&t.info.task_id.value)
                    })
                    .map(|t| {
                        t.exited = true;
                        t.info.task_id.value.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        for tid in lost {
            let st = self.status(
                &tid,
                Some(exec_id),
                if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                },
                Source::Agent,
                Some(Reason::AgentRestarted),
                Some("Task launched during agent restart".into()),
            );
            self.push_update(fw_id, st);
        }
        let subscribed = executor_pb::Event {
            subscribed: Some(executor_pb::event::Subscribed {
                executor_info: exec_info,
                framework_info: fw_info,
                agent_info,
                container_id: Some(pb::ContainerId {
                    value: container_id,
                    parent: None,
                }),
            }),
            ..executor_event(executor_pb::event::Type::Subscribed)
        };
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&subscribed);
            for ack in &acks {
                c.send(ack);
            }
        }
        self.flush(fw_id, exec_id);
        (rx, conn_id)
    }

    /// UPDATE from an executor: into the status-update manager, then
    /// ACKNOWLEDGED back to the executor (the agent has the update; the
    /// scheduler's acknowledgement is another matter).
    pub fn executor_update(&mut self, fw_id: &str, exec_id: &str, status: pb::TaskStatus) {
        let ack = self.take_update(fw_id, exec_id, status);
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&ack);
        }
    }

    /// Hands an executor's update to the status-update manager; returns the
    /// ACKNOWLEDGED event for it.
    pub(super) fn take_update(
        &mut self,
        fw_id: &str,
        exec_id: &str,
        mut status: pb::TaskStatus,
    ) -> executor_pb::Event {
        status.agent_id.get_or_insert_with(|| pb::AgentId {
            value: self.id.clone(),
        });
        status.executor_id = Some(pb::ExecutorId {
            value: exec_id.into(),
        });
        status.source = Some(Source::Executor as i32);
        // The agent stamps the update when it takes it (if the executor did not).
        status.timestamp.get_or_insert_with(now_secs);
        // As a Mesos agent does, a TASK_RUNNING carries the container's
        // status: its id, network addresses and executor pid.
        if status.state() == TaskState::TaskRunning
            && let Some(e) = self.executor(fw_id, exec_id)
        {
            let (container_id, pid) = (
                e.container_id.clone(),
                e.custom.as_ref().and_then(|x| x.pid),
            );
            status.container_status = Some(self.container_status(&container_id, pid));
        }
        let tid = status.task_id.value.clone();
        let uuid = status.uuid.clone().unwrap_or_default();
        let terminal = is_terminal(status.state());
        self.push_update(fw_id, status);
        if terminal
            && let Some(t) = self
                .executor(fw_id, exec_id)
                .and_then(|e| e.tasks.get_mut(&tid))
        {
            t.exited = true;
        }
        executor_pb::Event {
            acknowledged: Some(executor_pb::event::Acknowledged {
                task_id: pb::TaskId { value: tid },
                uuid,
            }),
            ..executor_event(executor_pb::event::Type::Acknowledged)
        }
    }

    /// MESSAGE from an executor, for its scheduler.
    pub fn executor_message(&mut self, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        self.outbox.push(ToMaster::FrameworkMessage {
            framework_id: fw_id.into(),
            executor_id: exec_id.into(),
            data,
        });
    }

    /// An executor's subscription stream ended.
    pub fn executor_stream_closed(&mut self, fw_id: &str, exec_id: &str, conn_id: u64) {
        if let Some(x) = self
            .executor(fw_id, exec_id)
            .and_then(|e| e.custom.as_mut())
            && x.conn.as_ref().is_some_and(|c| c.id == conn_id)
        {
            x.conn = None;
        }
    }

    /// MESSAGE from the scheduler, for an executor (best effort).
    pub fn framework_message(&mut self, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        if let Some(c) = self.executor(fw_id, exec_id).and_then(|e| e.conn()) {
            c.send(&executor_pb::Event {
                message: Some(executor_pb::event::Message { data }),
                ..executor_event(executor_pb::event::Type::Message)
            });
        }
    }
}
