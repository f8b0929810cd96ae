//! The agent's built-in executors: command tasks, run the way the Mesos
//! command executor runs them (executor id = task id, one process per
//! task), and task groups on the default executor (one process per task; a
//! failed or killed task kills its group).
//!
//! May import: `model`, `processes`, `kill`, and the cluster's leaf modules.

use super::kill::kill_process;
use super::model::{Agent, DEFAULT_KILL_GRACE, Executor, ExecutorKind, fw_id_of, new_task};
use super::processes::{AgentCtx, ProcKey};
use crate::local::protocol::{ToMaster, new_uuid, uuid_string};
use crate::local::validation::has_capability;
use crate::wire::pb;
use pb::TaskState;
use pb::framework_info::capability::Type as Cap;
use pb::task_status::Source;

impl Agent {
    /// Runs a task given in a LAUNCH operation.
    pub fn run_task(&mut self, ctx: &AgentCtx, fw: &pb::FrameworkInfo, task: pb::TaskInfo) {
        let exec_id = task.executor.as_ref().map_or_else(
            || task.task_id.value.clone(),
            |e| e.executor_id.value.clone(),
        );
        if self.drop_while_draining(fw, &exec_id, &[&task]) {
            return;
        }
        if let Some(executor) = task.executor.clone() {
            self.run_task_on_custom_executor(ctx, fw, executor, task);
            return;
        }
        let fw_id = fw_id_of(fw);
        let task_id = task.task_id.value.clone();
        let container_id = uuid_string(&new_uuid());
        let directory = self.executor_dir(&fw_id, &task_id, &container_id);
        let info = pb::ExecutorInfo {
            executor_id: pb::ExecutorId {
                value: task_id.clone(),
            },
            framework_id: fw.id.clone(),
            name: Some(format!("Command Executor (Task: {task_id})")),
            command: task.command.clone(),
            ..Default::default()
        };
        let mut env = self.env(fw, &info, &directory, &directory, None);
        env.push(("MESOS_TASK_ID".into(), task_id.clone()));
        let mut exec = Executor::new(
            info,
            ExecutorKind::Command,
            container_id.clone(),
            directory.clone(),
            &self.flags,
        );
        exec.tasks.insert(
            task_id.clone(),
            new_task(task.clone(), 0, container_id.clone()),
        );
        self.framework(fw).executors.insert(task_id.clone(), exec);
        let starting = self.status(
            &task_id,
            Some(&task_id),
            TaskState::TaskStarting,
            Source::Executor,
            None,
            None,
        );
        self.push_update(&fw_id, starting);
        let key = ProcKey {
            agent_id: self.id.clone(),
            framework_id: fw_id,
            executor_id: task_id.clone(),
            task_id: Some(task_id),
            container_id,
        };
        let spec = self.spec(fw, task.command.unwrap_or_default(), directory, env);
        self.spawn(ctx, key, spec);
    }

    /// Runs a task group (LAUNCH_GROUP): on the default executor, or on a
    /// custom executor as one LAUNCH_GROUP event.
    pub fn run_task_group(
        &mut self,
        ctx: &AgentCtx,
        fw: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        let fw_id = fw_id_of(fw);
        let exec_id = executor.executor_id.value.clone();
        let tasks: Vec<&pb::TaskInfo> = group.tasks.iter().collect();
        if self.drop_while_draining(fw, &exec_id, &tasks) {
            return;
        }
        if executor.r#type == Some(pb::executor_info::Type::Custom as i32) {
            self.run_task_group_on_custom_executor(ctx, fw, executor, group);
            return;
        }

        let reuse = self
            .frameworks
            .get(&fw_id)
            .and_then(|f| f.executors.get(&exec_id))
            .is_some_and(|e| e.kind == ExecutorKind::Default && !e.terminated && !e.shutting_down);
        if !reuse {
            let container_id = uuid_string(&new_uuid());
            let directory = self.executor_dir(&fw_id, &exec_id, &container_id);
            let exec = Executor::new(
                executor.clone(),
                ExecutorKind::Default,
                container_id,
                directory,
                &self.flags,
            );
            self.framework(fw).executors.insert(exec_id.clone(), exec);
        }
        let Some(exec) = self.executor(&fw_id, &exec_id) else {
            return;
        };
        let g = exec.next_group;
        exec.next_group += 1;
        let exec_dir = exec.directory.clone();
        let mut launches = vec![];
        for task in &group.tasks {
            let container_id = uuid_string(&new_uuid());
            exec.tasks.insert(
                task.task_id.value.clone(),
                new_task(task.clone(), g, container_id.clone()),
            );
            launches.push((task.clone(), container_id));
        }
        for (task, _) in &launches {
            let st = self.status(
                &task.task_id.value,
                Some(&exec_id),
                TaskState::TaskStarting,
                Source::Executor,
                None,
                None,
            );
            self.push_update(&fw_id, st);
        }
        for (task, container_id) in launches {
            let tid = task.task_id.value.clone();
            let sandbox = exec_dir.join("tasks").join(&tid);
            let key = ProcKey {
                agent_id: self.id.clone(),
                framework_id: fw_id.clone(),
                executor_id: exec_id.clone(),
                task_id: Some(tid.clone()),
                container_id,
            };
            match task.command.clone() {
                Some(command) => {
                    let mut env = self.env(fw, &executor, &exec_dir, &sandbox, None);
                    env.push(("MESOS_TASK_ID".into(), tid));
                    let spec = self.spec(fw, command, sandbox, env);
                    self.spawn(ctx, key, spec);
                }
                None => self.launch_failed(
                    &key,
                    "Task has no command; the local cluster cannot run container images".into(),
                ),
            }
        }
    }

    /// Bookkeeping after a command or default-executor task process is
    /// gone: the task-group kill policy, executor termination, cleanup.
    pub(super) fn task_terminated(&mut self, key: &ProcKey, state: TaskState) {
        let Some(fw) = self.frameworks.get_mut(&key.framework_id) else {
            return;
        };
        let terminating = fw.terminating;
        let caps_killing = has_capability(&fw.info, Cap::TaskKillingState);
        let Some(exec) = fw.executors.get_mut(&key.executor_id) else {
            return;
        };
        let mut killing_updates = vec![];
        if exec.kind == ExecutorKind::Default
            && !exec.shutting_down
            && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled)
        {
            let group = key
                .task_id
                .as_ref()
                .and_then(|t| exec.tasks.get(t))
                .map(|t| t.group);
            if let Some(g) = group
                && !exec.killing_groups.contains(&g)
            {
                exec.killing_groups.push(g);
                for t in exec.tasks.values_mut() {
                    if t.group == g
                        && !t.exited
                        && !t.killed
                        && kill_process(t, DEFAULT_KILL_GRACE)
                        && caps_killing
                        && !terminating
                    {
                        killing_updates.push(t.info.task_id.value.clone());
                    }
                }
            }
        }
        let mut exited_executor = None;
        if exec.tasks.values().all(|t| t.exited) && !exec.terminated {
            exec.terminated = true;
            if exec.kind == ExecutorKind::Default && !terminating {
                exited_executor = Some(key.executor_id.clone());
            }
        }
        for tid in killing_updates {
            let st = self.status(
                &tid,
                Some(&key.executor_id),
                TaskState::TaskKilling,
                Source::Executor,
                None,
                None,
            );
            self.push_update(&key.framework_id, st);
        }
        if let Some(executor_id) = exited_executor {
            self.outbox.push(ToMaster::ExitedExecutor {
                framework_id: key.framework_id.clone(),
                executor_id,
                status: 0,
            });
        }
        self.cleanup(&key.framework_id);
    }
}
