//! What comes from the agents: the messages in their outboxes (status
//! updates, exited executors, framework messages), forwarded to the
//! schedulers (`Master::statusUpdate`, `exitedExecutor`), and the events of
//! their process threads, handed back to the agent they belong to.
//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use super::model::{Master, event, record_status, update_event};
use crate::local::agent::{ProcKey, ProcessEvent};
use crate::local::launcher::{self, Exit};
use crate::local::protocol::{ToMaster, is_terminal};
use crate::wire::pb;
use pb::TaskState;
use pb::scheduler::{Event, event};

impl Master {
    /// Processes everything the agents have queued for the master.
    pub fn pump(&mut self) {
        self.reregister_ready_agents();
        loop {
            let mut msgs = vec![];
            // A stopped agent cannot reach the master.
            for a in self.agents.values_mut().filter(|a| a.registered) {
                for m in a.outbox.drain(..) {
                    msgs.push((a.id.clone(), m));
                }
            }
            if msgs.is_empty() {
                self.advance_drains();
                return;
            }
            for (agent_id, m) in msgs {
                match m {
                    ToMaster::StatusUpdate {
                        framework_id,
                        status,
                        latest_state,
                    } => self.status_update(&agent_id, &framework_id, *status, latest_state),
                    ToMaster::ExitedExecutor {
                        framework_id,
                        executor_id,
                        status,
                    } => self.exited_executor(&agent_id, &framework_id, &executor_id, status),
                    ToMaster::FrameworkMessage {
                        framework_id,
                        executor_id,
                        data,
                    } => {
                        if let Some(fw) = self.frameworks.get_mut(&framework_id) {
                            fw.send(&Event {
                                message: Some(event::Message {
                                    agent_id: pb::AgentId {
                                        value: agent_id.clone(),
                                    },
                                    executor_id: pb::ExecutorId { value: executor_id },
                                    data,
                                }),
                                ..event(event::Type::Message)
                            });
                        }
                    }
                }
            }
        }
    }

    /// `Master::statusUpdate` + `forward` + `updateTask`.
    pub(super) fn status_update(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        status: pb::TaskStatus,
        latest: TaskState,
    ) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        fw.send(&update_event(status.clone()));
        let Some(t) = fw.tasks.get_mut(&status.task_id.value) else {
            return;
        };
        if t.task.agent_id.value != agent_id {
            return;
        }
        let was_terminal = is_terminal(t.task.state());
        if record_status(t, &status, latest) {
            let state = t.task.state();
            self.op_task_updated(fw_id, &status, state);
        }
        if !was_terminal && is_terminal(latest) {
            self.settings.count_terminal(latest);
        }
    }

    pub(super) fn exited_executor(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        status: i32,
    ) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw
            .executors
            .remove(&(agent_id.to_string(), exec_id.to_string()))
            .is_none()
        {
            return;
        }
        fw.send(&Event {
            failure: Some(event::Failure {
                agent_id: Some(pb::AgentId {
                    value: agent_id.into(),
                }),
                executor_id: Some(pb::ExecutorId {
                    value: exec_id.into(),
                }),
                status: Some(status),
            }),
            ..event(event::Type::Failure)
        });
    }

    /// What became of a task or executor process (from its thread).
    pub fn process_event(&mut self, key: &ProcKey, event: ProcessEvent) {
        match event {
            ProcessEvent::Started(pid) => self.proc_started(key, pid),
            ProcessEvent::LaunchFailed(msg) => self.proc_launch_failed(key, msg),
            ProcessEvent::Exited(exit) => self.proc_exited(key, exit),
        }
    }

    /// A task or executor process started (from its thread).
    pub(super) fn proc_started(&mut self, key: &ProcKey, pid: i32) {
        if self.stopped {
            launcher::signal_group(pid, libc::SIGKILL);
            return;
        }
        match self.agents.get_mut(&key.agent_id) {
            Some(a) => a.proc_started(key, pid),
            // The agent left the cluster (gone, or unregistered) while the
            // process was being started: nothing may outlive it.
            None => launcher::signal_group(pid, libc::SIGKILL),
        }
        self.pump();
        self.wake();
    }

    pub(super) fn proc_launch_failed(&mut self, key: &ProcKey, msg: String) {
        if self.stopped {
            return;
        }
        if let Some(a) = self.agents.get_mut(&key.agent_id) {
            a.launch_failed(key, msg);
        }
        self.pump();
        self.wake();
    }

    pub(super) fn proc_exited(&mut self, key: &ProcKey, exit: Exit) {
        if self.stopped {
            return;
        }
        if let Some(a) = self.agents.get_mut(&key.agent_id) {
            a.proc_exited(key, exit);
        }
        self.pump();
        self.wake();
    }
}
