//! Custom executors: a framework's executor runs as a real process that
//! subscribes to the agent's executor API; the agent launches it for its
//! first task, queues tasks until it has subscribed, then sends them as
//! LAUNCH / LAUNCH_GROUP events; when it is gone its live tasks end.
//!
//! May import: `model`, `processes`, and the cluster's leaf modules.

use super::model::{
    Agent, Executor, ExecutorKind, Pending, Termination, executor_event, fw_id_of, new_task,
};
use super::processes::{AgentCtx, ProcKey};
use crate::local::protocol::{ToMaster, new_uuid, uuid_string};
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::executor as xpb;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::{Reason, Source};

impl Agent {
    /// Runs a task of a LAUNCH on its custom executor (launched first if
    /// needed): queued until the executor has subscribed.
    pub(super) fn run_task_on_custom_executor(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        task: pb::TaskInfo,
    ) {
        let fw_id = fw_id_of(fw);
        let task_id = task.task_id.value.clone();
        let exec_id = executor.executor_id.value.clone();
        if !self.custom_executor_ready(ctx, fw, &executor, &task_id) {
            return;
        }
        self.queue_for_custom_executor(&fw_id, &exec_id, vec![task], false);
    }

    /// Runs a task group on a custom executor, as one LAUNCH_GROUP event.
    pub(super) fn run_task_group_on_custom_executor(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        let fw_id = fw_id_of(fw);
        let exec_id = executor.executor_id.value.clone();
        let first = group
            .tasks
            .first()
            .map(|t| t.task_id.value.clone())
            .unwrap_or_default();
        if !self.custom_executor_ready(ctx, fw, &executor, &first) {
            for t in group.tasks.iter().skip(1) {
                self.custom_executor_ready(ctx, fw, &executor, &t.task_id.value);
            }
            return;
        }
        self.queue_for_custom_executor(&fw_id, &exec_id, group.tasks, true);
    }

    /// Queues tasks for a custom executor, one by one or as one group,
    /// then sends it what it can take.
    fn queue_for_custom_executor(
        &mut self,
        fw_id: &str,
        exec_id: &str,
        tasks: Vec<pb::TaskInfo>,
        as_group: bool,
    ) {
        if let Some(exec) = self.executor(fw_id, exec_id) {
            let g = if as_group {
                exec.next_group += 1;
                exec.next_group - 1
            } else {
                0
            };
            let ids: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
            for t in tasks {
                exec.tasks
                    .insert(t.task_id.value.clone(), new_task(t, g, String::new()));
            }
            if let Some(x) = &mut exec.custom {
                if as_group {
                    x.pending.push(Pending::Group(ids));
                } else {
                    x.pending.extend(ids.into_iter().map(Pending::Task));
                }
            }
        }
        self.flush(fw_id, exec_id);
    }

    /// Makes sure a live custom executor exists for a new task (launching it
    /// if needed). False if the task cannot go to it (an update was sent).
    pub(super) fn custom_executor_ready(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        xi: &pb::ExecutorInfo,
        task_id: &str,
    ) -> bool {
        let fw_id = fw_id_of(fw);
        let exec_id = xi.executor_id.value.clone();
        self.framework(fw);
        match self.executor(&fw_id, &exec_id) {
            Some(e) if e.kind == ExecutorKind::Custom && !e.terminated && !e.shutting_down => true,
            Some(_) => {
                let state = if has_capability(fw, Cap::PartitionAware) {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let st = self.status(
                    task_id,
                    Some(&exec_id),
                    state,
                    Source::Agent,
                    Some(Reason::ExecutorTerminated),
                    Some("Executor terminating".into()),
                );
                self.push_update(&fw_id, st);
                false
            }
            None => {
                let container_id = uuid_string(&new_uuid());
                let directory = self.executor_dir(&fw_id, &exec_id, &container_id);
                let exec = Executor::new(
                    xi.clone(),
                    ExecutorKind::Custom,
                    container_id.clone(),
                    directory.clone(),
                    &self.flags,
                );
                let token = exec.custom.as_ref().and_then(|x| x.token.clone());
                let env = self.env(fw, xi, &directory, &directory, token.as_deref());
                self.framework(fw).executors.insert(exec_id.clone(), exec);
                let key = ProcKey {
                    agent_id: self.id.clone(),
                    framework_id: fw_id,
                    executor_id: exec_id,
                    task_id: None,
                    container_id,
                };
                let spec = self.spec(fw, xi.command.clone().unwrap_or_default(), directory, env);
                self.spawn(ctx, key, spec);
                true
            }
        }
    }

    /// Sends a subscribed custom executor its undelivered tasks.
    pub(super) fn flush(&mut self, fw_id: &str, exec_id: &str) {
        let Some(exec) = self.executor(fw_id, exec_id) else {
            return;
        };
        let Some(x) = &mut exec.custom else { return };
        if !x.subscribed || x.conn.is_none() {
            return;
        }
        let pending = std::mem::take(&mut x.pending);
        let mut events = vec![];
        for p in pending {
            let ids = match &p {
                Pending::Task(id) => vec![id.clone()],
                Pending::Group(ids) => ids.clone(),
            };
            let mut tasks: Vec<pb::TaskInfo> = vec![];
            for id in &ids {
                if let Some(t) = exec.tasks.get_mut(id)
                    && !t.exited
                {
                    t.delivered = true;
                    tasks.push(t.info.clone());
                }
            }
            if tasks.is_empty() {
                continue;
            }
            events.push(match p {
                Pending::Task(_) => xpb::Event {
                    launch: tasks
                        .into_iter()
                        .next()
                        .map(|task| xpb::event::Launch { task }),
                    ..executor_event(xpb::event::Type::Launch)
                },
                Pending::Group(_) => xpb::Event {
                    launch_group: Some(xpb::event::LaunchGroup {
                        task_group: pb::TaskGroupInfo { tasks },
                    }),
                    ..executor_event(xpb::event::Type::LaunchGroup)
                },
            });
        }
        if let Some(x) = &mut exec.custom {
            x.ever_sent |= !events.is_empty();
            if let Some(c) = &x.conn {
                for ev in &events {
                    c.send(ev);
                }
            }
        }
    }

    /// A custom executor is gone: its live tasks fail (or become what the
    /// termination says), the master hears of the exit (FAILURE).
    pub(super) fn executor_terminated(&mut self, key: &ProcKey, t: Termination, status: i32) {
        crate::log!(
            crate::log::Level::Info,
            "agent",
            "executor {} of framework {} ended: {}",
            key.executor_id,
            key.framework_id,
            t.message
        );
        let Some((terminating, exec)) = self.find_custom_executor(key) else {
            return;
        };
        exec.terminated = true;
        if let Some(x) = &mut exec.custom {
            x.pid = None;
            x.conn = None;
            x.pending.clear();
            x.registration_deadline = None;
            x.recovered = false;
            x.destroy_deadline = None;
        }
        let live: Vec<String> = exec
            .tasks
            .values_mut()
            .filter(|t| !t.exited)
            .map(|t| {
                t.exited = true;
                t.info.task_id.value.clone()
            })
            .collect();
        // The master hears of the exit first, then of its tasks' updates
        // (which a real agent sends through its status update manager): a
        // scheduler gets FAILURE before the TASK_FAILEDs.
        if !terminating {
            self.outbox.push(ToMaster::ExitedExecutor {
                framework_id: key.framework_id.clone(),
                executor_id: key.executor_id.clone(),
                status,
            });
        }
        for tid in live {
            let st = self.status(
                &tid,
                Some(&key.executor_id),
                t.state,
                Source::Agent,
                Some(t.reason),
                Some(t.message.clone()),
            );
            self.push_update(&key.framework_id, st);
        }
        self.cleanup(&key.framework_id);
    }
}
