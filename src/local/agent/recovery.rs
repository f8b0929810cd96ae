//! Agent restarts, the way `mesos-agent --recover=reconnect` goes through
//! them: the process dies (its endpoint closes, executors' connections
//! break), then comes back on the same port with what it had checkpointed —
//! the frameworks that set `checkpoint`, their executors, tasks and
//! unacknowledged status updates. Frameworks that did not checkpoint are
//! forgotten and their processes killed (their executors would shut
//! themselves down anyway). Recovered executors must re-subscribe within
//! `--executor_reregistration_timeout`; the others are destroyed.

use std::time::Instant;

use super::model::{Agent, fw_id_of};
use crate::local::launcher;
use crate::local::protocol::ToMaster;
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::Reason;
use pb::task_status::Source;

impl Agent {
    /// The agent process dies.
    pub fn stop(&mut self) {
        self.running = false;
        self.registered = false;
        let forgotten: Vec<String> = self
            .frameworks
            .iter()
            .filter(|(_, f)| !f.info.checkpoint())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &forgotten {
            if let Some(fw) = self.frameworks.remove(id) {
                for exec in fw.executors.values() {
                    for t in exec.tasks.values() {
                        if let (Some(pid), false) = (t.pid, t.exited) {
                            launcher::signal_group(pid, libc::SIGKILL);
                        }
                    }
                    if let Some(pid) = exec.custom.as_ref().and_then(|x| x.pid) {
                        launcher::signal_group(pid, libc::SIGKILL);
                    }
                }
            }
            self.updates.remove_framework(id);
        }
        for fw in self.frameworks.values_mut() {
            for exec in fw.executors.values_mut() {
                if let Some(x) = &mut exec.custom {
                    x.conn = None; // the stream ends
                    x.subscribed = false;
                    x.registration_deadline = None;
                }
            }
        }
        // Whatever was on its way to the master dies with the process; the
        // status-update manager's checkpoint still has the updates.
        self.outbox
            .retain(|m| matches!(m, ToMaster::ExitedExecutor { .. }));
    }

    /// The agent process is back with its checkpointed state: live
    /// executors get `--executor_reregistration_timeout` to re-subscribe.
    /// It re-registers with the master once that is over
    /// ([`Agent::recovered`], [`Agent::reregistered`]).
    pub fn recover(&mut self, now: Instant) {
        self.running = true;
        // A restarted agent starts with an empty fetcher cache.
        self.fetcher.clear();
        let deadline = now + self.flags.reregistration_timeout;
        for fw in self.frameworks.values_mut() {
            for exec in fw.executors.values_mut() {
                if exec.terminated || exec.shutting_down {
                    continue;
                }
                if let Some(x) = &mut exec.custom
                    && !x.destroyed
                {
                    x.recovered = true;
                    x.subscribed = false;
                    x.registration_deadline = Some(deadline);
                }
            }
        }
    }

    /// Recovery is over: no recovered executor is still expected to
    /// re-subscribe (`Slave::reregisterExecutorTimeout` signals the end
    /// of recovery; here it also ends once all have re-subscribed).
    pub fn recovered(&self) -> bool {
        self.running
            && self.frameworks.values().all(|f| {
                f.executors.values().all(|e| {
                    e.custom
                        .as_ref()
                        .is_none_or(|x| !x.recovered || x.destroyed || e.terminated)
                })
            })
    }

    /// Registered with the master again: the status-update manager sends
    /// every update in flight again (updates made meanwhile are among
    /// them); framework messages from executors made meanwhile are dropped,
    /// as the agent drops them while not registered.
    pub fn reregistered(&mut self, now: Instant) {
        self.registered = true;
        self.outbox
            .retain(|m| matches!(m, ToMaster::ExitedExecutor { .. }));
        let resend = self.updates.resend_all(now);
        self.outbox.extend(resend.into_iter().map(ToMaster::from));
    }

    /// Re-registration with the master: each of the framework's tasks the
    /// master has on this agent but the agent does not know becomes
    /// TASK_LOST (TASK_DROPPED for partition-aware frameworks), as
    /// `Slave::reregistered` answers the master's reconciliation request.
    pub fn reconcile_tasks(&mut self, fw: &pb::FrameworkInfo, tasks: &[String]) {
        let fw_id = fw_id_of(fw);
        let state = if has_capability(fw, Cap::PartitionAware) {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for tid in tasks {
            if self.knows_task(&fw_id, tid) {
                continue;
            }
            let st = self.status(
                tid,
                None,
                state,
                Source::Agent,
                Some(Reason::Reconciliation),
                Some("Reconciliation: task unknown to the agent".into()),
            );
            // Not `push_update`: the framework is unknown here.
            if let Ok(Some(f)) = self.updates.update(&fw_id, st, Instant::now()) {
                self.outbox.push(ToMaster::from(f));
            }
        }
    }

    /// The frameworks this agent has state for.
    pub fn framework_ids(&self) -> Vec<String> {
        self.frameworks.keys().cloned().collect()
    }
}
