//! The accept path: ACCEPT (`Master::accept` + `_accept`) with its offer
//! checks, LAUNCH and LAUNCH_GROUP (validated, recorded, handed to the
//! agent), operations the local agents do not support, and the unused
//! resources declined.
//!
//! May import: `model`, `agent`, and the cluster's leaf modules.

use std::collections::BTreeSet;

use super::model::{
    Framework, Master, MasterExecutor, MasterTask, event, framework_id_proto, master_status,
    update_event,
};
use crate::local::resources::Resources;
use crate::local::validation::{self, TaskCtx};
use crate::wire::pb;
use pb::TaskState;
use pb::scheduler::{Event, event};
use pb::task_status::Reason;

impl Master {
    /// ACCEPT (`Master::accept` + `_accept`).
    pub fn accept(&mut self, fw_id: &str, accept: pb::scheduler::call::Accept) {
        use pb::offer::operation::Type as Op;
        let error = if accept.offer_ids.is_empty() {
            Some("No offers specified".to_string())
        } else {
            self.validate_offers(fw_id, &accept.offer_ids).err()
        };
        if let Some(error) = error {
            for oid in &accept.offer_ids {
                if self
                    .offers
                    .get(&oid.value)
                    .is_some_and(|o| o.framework_id == fw_id)
                {
                    self.remove_offer(&oid.value, false);
                }
            }
            let Some(fw) = self.frameworks.get_mut(fw_id) else {
                return;
            };
            let state = if fw.partition_aware() {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            let msg = format!("Task launched with invalid offers: {error}");
            for op in &accept.operations {
                for task in op_tasks(op) {
                    fw.send(&update_event(master_status(
                        &task.task_id.value,
                        Some(&task.agent_id.value),
                        state,
                        &msg,
                        Reason::InvalidOffers,
                        None,
                    )));
                }
                if op.id.is_some() && !matches!(op.r#type(), Op::Launch | Op::LaunchGroup) {
                    send_operation_error(
                        fw,
                        op,
                        &format!("Operation attempted with invalid offers: {error}"),
                    );
                }
            }
            return;
        }

        // Take the offers.
        let mut offered = Resources::new();
        let (mut agent_id, mut role) = (String::new(), String::new());
        for oid in &accept.offer_ids {
            if let Some(o) = self.remove_offer(&oid.value, false) {
                offered.add(&o.resources);
                agent_id = o.agent_id;
                role = o.role;
            }
        }
        let mut remaining = offered;
        let Some(fw) = self.frameworks.get(fw_id) else {
            return;
        };
        let fw_info = fw.info.clone();
        let mut launched: BTreeSet<String> = BTreeSet::new();

        for mut op in accept.operations {
            match op.r#type() {
                Op::Launch => {
                    let tasks = op.launch.take().map(|l| l.task_infos).unwrap_or_default();
                    if let Err(msg) = validation::validate_launch_resources(&tasks) {
                        for task in &tasks {
                            self.send_task_error(fw_id, task, &msg, Reason::TaskInvalid);
                        }
                        continue;
                    }
                    for mut task in tasks {
                        inject_allocation_role(&mut task.resources, &role);
                        if let Some(e) = &mut task.executor {
                            if e.framework_id.is_none() {
                                e.framework_id = Some(framework_id_proto(fw_id));
                            }
                            inject_allocation_role(&mut e.resources, &role);
                        }
                        let result = if op.id.is_some() {
                            Err("The `id` field cannot be set on LAUNCH operations".to_string())
                        } else {
                            self.validate_task(
                                fw_id,
                                &agent_id,
                                &role,
                                &remaining,
                                &launched,
                                |ctx| validation::validate_task(&task, ctx),
                            )
                        };
                        match result {
                            Err(msg) => {
                                self.send_task_error(fw_id, &task, &msg, Reason::TaskInvalid)
                            }
                            Ok(consumed) => {
                                remaining.subtract(&consumed);
                                launched.insert(task.task_id.value.clone());
                                self.launch_task(fw_id, &agent_id, &fw_info, task);
                            }
                        }
                    }
                }
                Op::LaunchGroup => {
                    let Some(lg) = op.launch_group.take() else {
                        continue;
                    };
                    let mut executor = lg.executor;
                    let mut group = lg.task_group;
                    if let Err(msg) = validation::validate_resources(&executor.resources)
                        .and_then(|_| validation::validate_launch_resources(&group.tasks))
                    {
                        for t in &group.tasks {
                            self.send_task_error(fw_id, t, &msg, Reason::TaskGroupInvalid);
                        }
                        continue;
                    }
                    inject_allocation_role(&mut executor.resources, &role);
                    for t in &mut group.tasks {
                        inject_allocation_role(&mut t.resources, &role);
                        if t.executor.is_none() {
                            t.executor = Some(executor.clone());
                        } else if let Some(e) = &mut t.executor {
                            inject_allocation_role(&mut e.resources, &role);
                        }
                    }
                    let result = if op.id.is_some() {
                        Err("The `id` field cannot be set on LAUNCH_GROUP operations".to_string())
                    } else {
                        self.validate_task(fw_id, &agent_id, &role, &remaining, &launched, |ctx| {
                            validation::validate_task_group(&group, &executor, ctx)
                        })
                    };
                    match result {
                        Err(msg) => {
                            for t in &group.tasks {
                                self.send_task_error(fw_id, t, &msg, Reason::TaskGroupInvalid);
                            }
                        }
                        Ok(consumed) => {
                            remaining.subtract(&consumed);
                            for t in &group.tasks {
                                launched.insert(t.task_id.value.clone());
                            }
                            self.launch_group(fw_id, &agent_id, &fw_info, executor, group);
                        }
                    }
                }
                Op::Unknown => {}
                _ => {
                    // Reservations, volumes and disks are not supported on
                    // the local agents (no RESOURCE_PROVIDER capability).
                    if op.id.is_some()
                        && let Some(fw) = self.frameworks.get_mut(fw_id)
                    {
                        send_operation_error(
                            fw,
                            &op,
                            &format!(
                                "Operation requested feedback, but agent {agent_id} does not have the required RESOURCE_PROVIDER capability"
                            ),
                        );
                    }
                }
            }
        }
        self.decline_resources(fw_id, &role, &agent_id, remaining, accept.filters.as_ref());
    }

    /// Runs a task validator with the context of this framework and agent.
    pub(super) fn validate_task(
        &self,
        fw_id: &str,
        agent_id: &str,
        role: &str,
        remaining: &Resources,
        launched: &BTreeSet<String>,
        f: impl FnOnce(&TaskCtx<'_>) -> Result<Resources, String>,
    ) -> Result<Resources, String> {
        let fw = self
            .frameworks
            .get(fw_id)
            .ok_or("Framework cannot be found")?;
        let exists = |id: &str| fw.tasks.contains_key(id) || launched.contains(id);
        let existing = |id: &str| {
            fw.executors
                .get(&(agent_id.to_string(), id.to_string()))
                .map(|e| e.info.clone())
        };
        let ctx = TaskCtx {
            framework_id: fw_id,
            agent_id,
            task_exists: &exists,
            existing_executor: &existing,
            available: remaining,
            role,
        };
        f(&ctx)
    }

    pub(super) fn send_task_error(
        &mut self,
        fw_id: &str,
        task: &pb::TaskInfo,
        msg: &str,
        reason: Reason,
    ) {
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            fw.send(&update_event(master_status(
                &task.task_id.value,
                Some(&task.agent_id.value),
                TaskState::TaskError,
                msg,
                reason,
                None,
            )));
        }
    }

    /// ACCEPT offer checks (`validation::offer::validate`).
    pub(super) fn validate_offers(&self, fw_id: &str, ids: &[pb::OfferId]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id.value.as_str()) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        let mut offers = vec![];
        for id in ids {
            let o = self
                .offers
                .get(&id.value)
                .ok_or_else(|| format!("Offer {} is no longer valid", id.value))?;
            offers.push(o);
        }
        for o in &offers {
            if o.framework_id != fw_id {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {} is expected",
                    o.offer.id.value, o.framework_id, fw_id
                ));
            }
        }
        if let Some(first) = offers.first() {
            for o in &offers {
                if o.role != first.role {
                    return Err(format!(
                        "Aggregated offers must be allocated to the same role. Offer {} uses role '{} but another is using role '{}",
                        o.offer.id.value, o.role, first.role
                    ));
                }
            }
            for o in &offers {
                if o.agent_id != first.agent_id {
                    return Err(format!(
                        "Aggregated offers must belong to one single agent. Offer {} uses agent {} and agent {}",
                        o.offer.id.value, o.agent_id, first.agent_id
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn add_task(&mut self, fw_id: &str, agent_id: &str, task: &pb::TaskInfo) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        // As `protobuf::createTask`: the user only when the task's (or its
        // executor's) command names one.
        let user = task
            .command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| {
                task.executor
                    .as_ref()
                    .and_then(|e| e.command.as_ref())
                    .and_then(|c| c.user.clone())
            });
        let record = pb::Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: framework_id_proto(fw_id),
            executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: pb::AgentId {
                value: agent_id.into(),
            },
            state: TaskState::TaskStaging as i32,
            resources: task.resources.clone(),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user,
            limits: task.limits.clone(),
            ..Default::default()
        };
        let resources = Resources::from_proto(&task.resources).unwrap_or_default();
        let added = record.clone();
        fw.tasks.insert(
            task.task_id.value.clone(),
            MasterTask {
                task: record,
                resources,
                released: false,
            },
        );
        if let Some(e) = &task.executor {
            let key = (agent_id.to_string(), e.executor_id.value.clone());
            fw.executors.entry(key).or_insert_with(|| MasterExecutor {
                info: e.clone(),
                resources: Resources::from_proto(&e.resources).unwrap_or_default(),
            });
        }
        self.op_task_added(&added);
    }

    pub(super) fn launch_task(
        &mut self,
        fw_id: &str,
        agent_id: &str,
        fw_info: &pb::FrameworkInfo,
        task: pb::TaskInfo,
    ) {
        self.add_task(fw_id, agent_id, &task);
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.run_task(&self.ctx, fw_info, task);
        }
    }

    pub(super) fn launch_group(
        &mut self,
        fw_id: &str,
        agent_id: &str,
        fw_info: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        for t in &group.tasks {
            self.add_task(fw_id, agent_id, t);
        }
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.run_task_group(&self.ctx, fw_info, executor, group);
        }
    }
}

/// Sets `allocation_info.role` where the scheduler left it out.
pub(super) fn inject_allocation_role(res: &mut [pb::Resource], role: &str) {
    for r in res {
        if r.allocation_info.is_none() {
            r.allocation_info = Some(pb::resource::AllocationInfo {
                role: Some(role.into()),
            });
        }
    }
}

/// The tasks a LAUNCH or LAUNCH_GROUP operation carries.
pub(super) fn op_tasks(op: &pb::offer::Operation) -> Vec<&pb::TaskInfo> {
    use pb::offer::operation::Type as Op;
    match op.r#type() {
        Op::Launch => op.launch.iter().flat_map(|l| l.task_infos.iter()).collect(),
        Op::LaunchGroup => op
            .launch_group
            .iter()
            .flat_map(|l| l.task_group.tasks.iter())
            .collect(),
        _ => vec![],
    }
}

/// UPDATE_OPERATION_STATUS with OPERATION_ERROR for a dropped operation
/// that asked for feedback (`Master::drop`: no uuid, nothing to acknowledge).
pub(super) fn send_operation_error(fw: &mut Framework, op: &pb::offer::Operation, message: &str) {
    let status = pb::OperationStatus {
        operation_id: op.id.clone(),
        state: pb::OperationState::OperationError as i32,
        message: Some(message.into()),
        ..Default::default()
    };
    fw.send(&Event {
        update_operation_status: Some(event::UpdateOperationStatus { status }),
        ..event(event::Type::UpdateOperationStatus)
    });
}
