//! Tasks, task groups and executors (`validation::task`,
//! `validation::task::group`, `validation::executor`): ids, resources
//! against what the offers hold, commands, kill policies, executors
//! already known.
//!
//! May import: `names`, `resources`, `framework`.

use crate::local::resources::Resources;
use crate::wire::pb;

use super::names::{MIN_CPUS, MIN_MEM, validate_id};

/// `common::validation::validateCommandInfo` (the environment rules).
pub fn validate_command(cmd: &pb::CommandInfo) -> Result<(), String> {
    use pb::environment::variable::Type as V;
    let Some(env) = &cmd.environment else {
        return Ok(());
    };
    for var in &env.variables {
        let n = &var.name;
        match var.r#type() {
            V::Secret => {
                let Some(secret) = &var.secret else {
                    return Err(format!(
                        "Environment variable '{n}' of type 'SECRET' must have a secret set"
                    ));
                };
                if var.value.is_some() {
                    return Err(format!(
                        "Environment variable '{n}' of type 'SECRET' must not have a value set"
                    ));
                }
                if secret.value.as_ref().is_some_and(|v| v.data.contains(&0)) {
                    return Err(format!(
                        "Environment variable '{n}' specifies a secret containing null bytes, which is not allowed in the environment"
                    ));
                }
            }
            V::Value => {
                if var.value.is_none() {
                    return Err(format!(
                        "Environment variable '{n}' of type 'VALUE' must have a value set"
                    ));
                }
                if var.secret.is_some() {
                    return Err(format!(
                        "Environment variable '{n}' of type 'VALUE' must not have a secret set"
                    ));
                }
            }
            V::Unknown => {
                return Err("Environment variable of type 'UNKNOWN' is not allowed".into());
            }
        }
    }
    Ok(())
}

/// What a task is checked against.
pub struct TaskCtx<'a> {
    pub framework_id: &'a str,
    pub agent_id: &'a str,
    /// Task ids the framework already has (or has launched in this call).
    pub task_exists: &'a dyn Fn(&str) -> bool,
    /// The ExecutorInfo of a running executor with that id, if any.
    pub existing_executor: &'a dyn Fn(&str) -> Option<pb::ExecutorInfo>,
    /// Resources left in the accepted offers.
    pub available: &'a Resources,
    /// The offers' allocation role.
    pub role: &'a str,
}

/// The first allocation role in `list` other than the offers' `role`. Such
/// resources are never in the offers, so Mesos finds the task's total more
/// than available (its message names the task's resources by that role).
pub(super) fn foreign_role<'a>(list: &'a [pb::Resource], role: &str) -> Option<&'a str> {
    list.iter()
        .filter_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()))
        .find(|r| *r != role)
}

/// The check of a task's (or group's) `total` against what the offers
/// hold, with Mesos's message; `resources` are all the resources asked for.
pub(super) fn check_available<'a>(
    total: &Resources,
    resources: impl IntoIterator<Item = &'a [pb::Resource]>,
    ctx: &TaskCtx<'_>,
    what: &str,
) -> Result<(), String> {
    let foreign = resources
        .into_iter()
        .find_map(|l| foreign_role(l, ctx.role));
    if foreign.is_some() || !ctx.available.contains(total) {
        return Err(format!(
            "Total resources {} required by {what} more than available {}",
            total.describe_allocated(foreign.unwrap_or(ctx.role)),
            ctx.available.describe_allocated(ctx.role)
        ));
    }
    Ok(())
}

pub(super) fn duration_negative(d: &Option<pb::DurationInfo>) -> bool {
    d.as_ref().is_some_and(|d| d.nanoseconds < 0)
}

/// The common part of task validation (`task::internal::validateTask`).
pub(super) fn validate_task_common(
    task: &pb::TaskInfo,
    ctx: &TaskCtx<'_>,
) -> Result<Resources, String> {
    validate_id(&task.task_id.value)?;
    if (ctx.task_exists)(&task.task_id.value) {
        return Err(format!("Task has duplicate ID: {}", task.task_id.value));
    }
    if task.agent_id.value != ctx.agent_id {
        return Err(format!(
            "Task uses invalid agent {} while agent {} is expected",
            task.agent_id.value, ctx.agent_id
        ));
    }
    if duration_negative(&task.kill_policy.as_ref().and_then(|k| k.grace_period)) {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
    }
    if duration_negative(&task.max_completion_time) {
        return Err("Task's `max_completion_time` must be non-negative".into());
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".into());
    }
    let res = Resources::from_proto(&task.resources)
        .map_err(|e| format!("Task uses invalid resources: {e}"))?;
    if res.is_empty() {
        return Err("Task uses no resources".into());
    }
    if let Some(cmd) = &task.command {
        validate_command(cmd).map_err(|e| format!("Task's `CommandInfo` is invalid: {e}"))?;
    }
    for k in task.limits.keys() {
        if k != "cpus" && k != "mem" {
            return Err("Only cpus and mem may be included in a task's resource limits".into());
        }
    }
    Ok(res)
}

/// General executor checks (`executor::internal::validate`).
pub(super) fn validate_executor_common(
    exec: &pb::ExecutorInfo,
    ctx: &TaskCtx<'_>,
) -> Result<Resources, String> {
    use pb::executor_info::Type as E;
    match exec.r#type.and_then(|t| E::try_from(t).ok()) {
        Some(E::Default) if exec.command.is_some() => {
            return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into());
        }
        Some(E::Custom) if exec.command.is_none() => {
            return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into());
        }
        _ => {}
    }
    validate_id(&exec.executor_id.value)?;
    if duration_negative(&exec.shutdown_grace_period) {
        return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
    }
    if let Some(cmd) = &exec.command {
        validate_command(cmd).map_err(|e| format!("Executor's `CommandInfo` is invalid: {e}"))?;
    }
    match &exec.framework_id {
        None => return Err("'ExecutorInfo.framework_id' must be set".into()),
        Some(f) if f.value != ctx.framework_id => {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                f.value, ctx.framework_id
            ));
        }
        _ => {}
    }
    let res = Resources::from_proto(&exec.resources)
        .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
    if let Some(existing) = (ctx.existing_executor)(&exec.executor_id.value)
        && &existing != exec
    {
        return Err(
            "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID"
                .to_string(),
        );
    }
    Ok(res)
}

/// A LAUNCH task (`task::validate`). Returns the resources it consumes
/// (its own, plus its executor's if that executor is new).
pub fn validate_task(task: &pb::TaskInfo, ctx: &TaskCtx<'_>) -> Result<Resources, String> {
    let mut total = validate_task_common(task, ctx)?;
    if task.executor.is_some() == task.command.is_some() {
        return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                .into(),
        );
    }
    if let Some(exec) = &task.executor {
        let exec_res = validate_executor_common(exec, ctx)?;
        if exec
            .r#type
            .is_some_and(|t| t != pb::executor_info::Type::Custom as i32)
        {
            return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
        }
        if exec.command.is_none() {
            return Err("'ExecutorInfo.command' must be set".into());
        }
        if (ctx.existing_executor)(&exec.executor_id.value).is_none() {
            total.add(&exec_res);
        }
    }
    let exec = task.executor.iter().map(|e| e.resources.as_slice());
    let asked = std::iter::once(task.resources.as_slice()).chain(exec);
    check_available(&total, asked, ctx, "task and its executor is")?;
    Ok(total)
}

/// A LAUNCH_GROUP (`task::group::validate`). Returns the resources consumed.
pub fn validate_task_group(
    group: &pb::TaskGroupInfo,
    exec: &pb::ExecutorInfo,
    ctx: &TaskCtx<'_>,
) -> Result<Resources, String> {
    let mut total = Resources::new();
    let mut seen = std::collections::BTreeSet::new();
    for task in &group.tasks {
        let tid = &task.task_id.value;
        let mut check = || -> Result<Resources, String> {
            if !seen.insert(tid.clone()) {
                return Err(format!("Task has duplicate ID: {tid}"));
            }
            let r = validate_task_common(task, ctx)?;
            if task.executor.is_none() {
                return Err("'TaskInfo.executor' must be set".into());
            }
            if task
                .container
                .as_ref()
                .is_some_and(|c| c.r#type == pb::container_info::Type::Docker as i32)
            {
                return Err("Docker ContainerInfo is not supported on the task".into());
            }
            Ok(r)
        };
        let r = check().map_err(|e| format!("Task '{tid}' is invalid: {e}"))?;
        total.add(&r);
    }
    let exec_res = validate_executor_common(exec, ctx)?;
    let Some(t) = exec.r#type else {
        return Err("'ExecutorInfo.type' must be set".into());
    };
    if t == pb::executor_info::Type::Unknown as i32 {
        return Err("Unknown executor type".into());
    }
    for task in &group.tasks {
        if task.executor.as_ref().is_some_and(|e| e != exec) {
            return Err(format!(
                "The `ExecutorInfo` of task '{}' is different from executor '{}'",
                task.task_id.value, exec.executor_id.value
            ));
        }
    }
    let id = &exec.executor_id.value;
    let cpus = exec_res.scalar("cpus");
    if cpus.is_none_or(|c| c < MIN_CPUS) {
        return Err(format!(
            "Executor '{id}' uses less CPUs ({}) than the minimum required ({MIN_CPUS})",
            cpus.map_or("None".to_string(), |c| c.to_string())
        ));
    }
    let mem = exec_res.scalar("mem");
    if mem.is_none_or(|m| m < MIN_MEM) {
        return Err(format!(
            "Executor '{id}' uses less memory ({}) than the minimum required ({MIN_MEM}MB)",
            mem.map_or("None".to_string(), |m| format!("{m}MB"))
        ));
    }
    if exec_res.scalar("disk").is_none() {
        return Err(format!("Executor '{id}' uses no disk"));
    }
    if (ctx.existing_executor)(id).is_none() {
        total.add(&exec_res);
    }
    let tasks = group.tasks.iter().map(|t| t.resources.as_slice());
    let asked = tasks.chain(std::iter::once(exec.resources.as_slice()));
    check_available(&total, asked, ctx, "task group and its executor are")?;
    Ok(total)
}
