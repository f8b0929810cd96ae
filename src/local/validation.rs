//! Mesos's validation rules (`src/master/validation.cpp`,
//! `src/common/validation.cpp`, `src/common/roles.cpp`), with its messages:
//! scheduler calls, FrameworkInfo, tasks, task groups and executors.

use super::resources::Resources;
use crate::wire::pb;
use pb::framework_info::capability::Type as Cap;
use pb::scheduler::call::Type as CallType;

const NAME_MAX: usize = 255;
/// The default executor's minimum resources (MIN_CPUS, MIN_MEM).
const MIN_CPUS: f64 = 0.01;
const MIN_MEM: f64 = 32.0;

pub fn has_capability(info: &pb::FrameworkInfo, cap: Cap) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == cap)
}

/// The roles a framework subscribes to.
#[allow(deprecated)]
pub fn framework_roles(info: &pb::FrameworkInfo) -> Vec<String> {
    if has_capability(info, Cap::MultiRole) {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".into())]
    }
}

/// `common::validation::validateID`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > NAME_MAX {
        return Err(format!("ID must not be greater than {NAME_MAX} characters"));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|c| c.is_ascii_control() || c == b'/' || c == b'\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// `roles::validate`.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Err("Role names cannot be the empty string".into());
    }
    for c in components {
        match c {
            "." => return Err(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Err(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Err(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if c.starts_with('-') {
            return Err(format!(
                "Role component '{c}' is invalid because it starts with a dash"
            ));
        }
        if c.bytes().any(|b| matches!(b, 0x09..=0x0d | 0x20 | 0x7f)) {
            return Err(format!(
                "Role component '{c}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    Ok(())
}

fn validate_scalar_input(v: f64) -> Result<(), String> {
    if v.is_infinite() {
        Err("Infinite values not supported".into())
    } else if v.is_nan() {
        Err("NaN not supported".into())
    } else if v.is_subnormal() {
        Err("Subnormal values not supported".into())
    } else if v < 0.0 {
        Err("Negative values not supported".into())
    } else {
        Ok(())
    }
}

/// The failover timeout as a duration (`Duration::create` semantics:
/// negative means zero, non-finite or out of range is invalid).
pub fn failover_timeout(info: &pb::FrameworkInfo) -> Option<std::time::Duration> {
    let t = info.failover_timeout();
    if !t.is_finite() || t.abs() * 1e9 > i64::MAX as f64 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(t.max(0.0)))
}

/// `validation::framework::validate` (roles, id, offer filters, failover timeout).
#[allow(deprecated)]
pub fn validate_framework(info: &pb::FrameworkInfo) -> Result<(), String> {
    let multi_role = has_capability(info, Cap::MultiRole);
    if multi_role {
        if info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        let dups: Vec<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !dups.is_empty() {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {} }}",
                dups.join(", ")
            ));
        }
        for r in &info.roles {
            validate_role(r)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable".into());
        }
        validate_role(info.role.as_deref().unwrap_or("*"))
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    if let Some(id) = &info.id
        && !id.value.is_empty()
    {
        validate_id(&id.value)?;
    }
    for filters in info.offer_filters.values() {
        if let Some(min) = &filters.min_allocatable_resources {
            for q in &min.quantities {
                if q.quantities.is_empty() {
                    return Err("Resource quantities must contain at least one quantity".into());
                }
                for (name, s) in &q.quantities {
                    validate_scalar_input(s.value)
                        .map_err(|e| format!("Invalid resource quantity for '{name}': {e}"))?;
                }
            }
        }
    }
    if failover_timeout(info).is_none() {
        return Err(format!(
            "The framework failover_timeout ({}) is invalid",
            info.failover_timeout()
        ));
    }
    Ok(())
}

/// `validation::framework::validateUpdate`.
pub fn validate_update(old: &pb::FrameworkInfo, new: &pb::FrameworkInfo) -> Result<(), String> {
    if old.principal != new.principal {
        return Err("Changing framework's principal is not allowed.".into());
    }
    if old.user != new.user {
        return Err(format!(
            "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
            old.user, new.user
        ));
    }
    if old.checkpoint() != new.checkpoint() {
        return Err(format!(
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
            old.checkpoint(),
            new.checkpoint()
        ));
    }
    Ok(())
}

/// Suppressed roles must be a subset of the framework's roles; the first
/// one that is not is named (Mesos's wording, checked against 1.11).
pub fn validate_suppressed_roles(roles: &[String], suppressed: &[String]) -> Result<(), String> {
    match suppressed.iter().find(|r| !roles.contains(r)) {
        None => Ok(()),
        Some(r) => Err(format!(
            "Suppressed role '{r}' is not contained in the list of roles"
        )),
    }
}

/// Offer constraints may only name the framework's roles.
pub fn validate_offer_constraints(
    roles: &[String],
    constraints: Option<&pb::scheduler::OfferConstraints>,
) -> Result<(), String> {
    let Some(c) = constraints else { return Ok(()) };
    for (role, rc) in &c.role_constraints {
        if !roles.contains(role) {
            return Err(format!(
                "Offer constraints specify `role_constraints` for a role '{role}'not contained in the set of roles"
            ));
        }
        if rc.groups.is_empty() || rc.groups.iter().any(|g| g.attribute_constraints.is_empty()) {
            return Err("Offer constraints are not valid: empty constraint group".into());
        }
    }
    Ok(())
}

fn id_of(id: &Option<pb::FrameworkId>) -> &str {
    id.as_ref().map_or("", |i| i.value.as_str())
}

/// `validation::scheduler::call::validate`: returns the call type.
pub fn validate_call(call: &pb::scheduler::Call) -> Result<CallType, String> {
    let t = call
        .r#type
        .and_then(|t| CallType::try_from(t).ok())
        .ok_or("Expecting 'type' to be present")?;
    if t == CallType::Subscribe {
        let sub = call
            .subscribe
            .as_ref()
            .ok_or("Expecting 'subscribe' to be present")?;
        if id_of(&sub.framework_info.id) != id_of(&call.framework_id) {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        return Ok(t);
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    let need = |present: bool, name: &str| {
        if present {
            Ok(t)
        } else {
            Err(format!("Expecting '{name}' to be present"))
        }
    };
    match t {
        CallType::Subscribe
        | CallType::Teardown
        | CallType::Revive
        | CallType::Suppress
        | CallType::Unknown => Ok(t),
        CallType::Accept => need(call.accept.is_some(), "accept"),
        CallType::Decline => need(call.decline.is_some(), "decline"),
        CallType::AcceptInverseOffers => need(
            call.accept_inverse_offers.is_some(),
            "accept_inverse_offers",
        ),
        CallType::DeclineInverseOffers => need(
            call.decline_inverse_offers.is_some(),
            "decline_inverse_offers",
        ),
        CallType::Kill => need(call.kill.is_some(), "kill"),
        CallType::Shutdown => need(call.shutdown.is_some(), "shutdown"),
        CallType::Acknowledge => {
            let ack = call
                .acknowledge
                .as_ref()
                .ok_or("Expecting 'acknowledge' to be present")?;
            uuid_check(&ack.uuid)?;
            Ok(t)
        }
        CallType::AcknowledgeOperationStatus => {
            let ack = call
                .acknowledge_operation_status
                .as_ref()
                .ok_or("Expecting 'acknowledge_operation_status' to be present")?;
            uuid_check(&ack.uuid)?;
            if ack.agent_id.is_none() {
                return Err("Expecting 'agent_id' to be present".into());
            }
            Ok(t)
        }
        CallType::Reconcile => need(call.reconcile.is_some(), "reconcile"),
        CallType::ReconcileOperations => {
            need(call.reconcile_operations.is_some(), "reconcile_operations")
        }
        CallType::Message => need(call.message.is_some(), "message"),
        CallType::Request => need(call.request.is_some(), "request"),
        CallType::UpdateFramework => {
            let uf = call
                .update_framework
                .as_ref()
                .ok_or("Expecting 'update_framework' to be present")?;
            if id_of(&call.framework_id) != id_of(&uf.framework_info.id) {
                return Err(
                    "'framework_id' differs from 'update_framework.framework_info.id'".into(),
                );
            }
            Ok(t)
        }
    }
}

/// `id::UUID::fromBytes`: 16 bytes whose version nibble (the high four
/// bits of byte 6) names a known UUID version, 1 to 5; the variant bits are
/// not looked at. Mesos gives no detail in the error.
pub fn uuid_check(b: &[u8]) -> Result<(), String> {
    if crate::uuid::is_valid(b) {
        Ok(())
    } else {
        Err("Not a valid UUID".into())
    }
}

/// A `Resource` as Mesos prints it in messages: `name`, the allocation
/// role if any, then `:value` (`cpus(allocated: r):0.5`, `ports:[1-2]`).
fn resource_text(r: &pb::Resource) -> String {
    use pb::value::Type as V;
    let mut out = r.name.clone();
    if let Some(role) = r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
        out.push_str(&format!("(allocated: {role})"));
    }
    let value = match V::try_from(r.r#type) {
        Ok(V::Ranges) => {
            let parts: Vec<String> = r
                .ranges
                .iter()
                .flat_map(|rs| &rs.range)
                .map(|x| format!("{}-{}", x.begin, x.end))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Ok(V::Set) => {
            let items: Vec<&str> = r
                .set
                .iter()
                .flat_map(|s| &s.item)
                .map(String::as_str)
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => r.scalar.as_ref().map_or(0.0, |x| x.value).to_string(),
    };
    format!("{out}:{value}")
}

/// The checks of `Resources::validate` on one resource (value shape and
/// sign, ranges, sets, disk info, reservation format, sharing).
#[allow(deprecated)]
fn validate_resource(r: &pb::Resource) -> Result<(), String> {
    use pb::resource::reservation_info::Type as R;
    use pb::value::Type as V;
    if r.name.is_empty() {
        return Err("Empty resource name".into());
    }
    let (scalar, ranges, set) = (r.scalar.is_some(), r.ranges.is_some(), r.set.is_some());
    match V::try_from(r.r#type) {
        Ok(V::Scalar) => {
            if !scalar || ranges || set {
                return Err("Invalid scalar resource".into());
            }
            let v = r.scalar.as_ref().map_or(0.0, |x| x.value);
            // Fixed point: a non-zero value that rounds to zero or below.
            if v != 0.0 && super::resources::to_milli(v) <= 0 {
                return Err("Invalid scalar resource: value <= 0".into());
            }
        }
        Ok(V::Ranges) => {
            if scalar || !ranges || set {
                return Err("Invalid ranges resource".into());
            }
            let list = r.ranges.as_ref().map_or(&[][..], |x| &x.range[..]);
            for (i, a) in list.iter().enumerate() {
                if a.begin > a.end {
                    return Err("Invalid ranges resource: begin > end".into());
                }
                if list[i + 1..]
                    .iter()
                    .any(|b| a.begin <= b.begin && b.begin <= a.end)
                {
                    return Err("Invalid ranges resource: overlapping ranges".into());
                }
            }
        }
        Ok(V::Set) => {
            if scalar || ranges || !set {
                return Err("Invalid set resource".into());
            }
            let items = r.set.as_ref().map_or(&[][..], |x| &x.item[..]);
            let unique: std::collections::BTreeSet<&String> = items.iter().collect();
            if unique.len() != items.len() {
                return Err("Invalid set resource: duplicated elements".into());
            }
        }
        Ok(V::Text) => return Err("Unsupported resource type".into()),
        Err(_) => return Err("Invalid resource type".into()),
    }
    if r.disk.is_some() && r.name != "disk" {
        return Err(format!(
            "DiskInfo should not be set for {} resource",
            r.name
        ));
    }
    if r.reservations.is_empty() {
        validate_role(r.role.as_deref().unwrap_or("*"))?;
        if let Some(res) = &r.reservation {
            if res.r#type.is_some() {
                return Err("'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field".into());
            }
            if res.role.is_some() {
                return Err("'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field".into());
            }
            if r.role.as_deref().unwrap_or("*") == "*" {
                return Err(
                    "Invalid reservation: role \"*\" cannot be dynamically reserved".into(),
                );
            }
        }
    } else {
        for res in &r.reservations {
            if res.r#type.is_none() {
                return Err(
                    "Invalid reservation: 'Resource.ReservationInfo.type' field must be set."
                        .into(),
                );
            }
            let Some(role) = &res.role else {
                return Err(
                    "Invalid reservation: 'Resource.ReservationInfo.role' field must be set."
                        .into(),
                );
            };
            validate_role(role)?;
            if role == "*" {
                return Err("Invalid reservation: role \"*\" cannot be reserved".into());
            }
        }
        if r.reservations[1..]
            .iter()
            .any(|res| res.r#type == Some(R::Static as i32))
        {
            return Err(
                "Invalid refined reservation: A refined reservation cannot be STATIC".into(),
            );
        }
    }
    if r.shared.is_some() {
        if r.name != "disk" {
            return Err(format!("Resource {} cannot be shared", r.name));
        }
        if r.disk.as_ref().is_none_or(|d| d.persistence.is_none()) {
            return Err("Only persistent volumes can be shared".into());
        }
    }
    Ok(())
}

/// `Resources::validate` over a list: the first invalid resource, named.
pub fn validate_resources(list: &[pb::Resource]) -> Result<(), String> {
    for r in list {
        validate_resource(r)
            .map_err(|e| format!("Resource '{}' is invalid: {e}", resource_text(r)))?;
    }
    Ok(())
}

/// The resources of a LAUNCH operation, checked before any task is (a
/// Mesos master drops the whole operation, every task with this error).
pub fn validate_launch_resources(tasks: &[pb::TaskInfo]) -> Result<(), String> {
    for t in tasks {
        validate_resources(&t.resources)?;
        if let Some(e) = &t.executor {
            validate_resources(&e.resources)?;
        }
    }
    Ok(())
}

/// `common::validation::validateExecutorCall`: returns the call type.
pub fn validate_executor_call(
    call: &pb::executor::Call,
) -> Result<pb::executor::call::Type, String> {
    use pb::executor::call::Type as X;
    let t = call
        .r#type
        .and_then(|t| X::try_from(t).ok())
        .ok_or("Expecting 'type' to be present")?;
    match t {
        X::Subscribe if call.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".into())
        }
        X::Message if call.message.is_none() => Err("Expecting 'message' to be present".into()),
        X::Update => {
            let status = &call
                .update
                .as_ref()
                .ok_or("Expecting 'update' to be present")?
                .status;
            let uuid = status
                .uuid
                .as_ref()
                .ok_or("Expecting 'uuid' to be present")?;
            uuid_check(uuid)?;
            let exec = &call.executor_id.value;
            if let Some(e) = &status.executor_id
                && &e.value != exec
            {
                return Err(format!(
                    "ExecutorID in Call: {exec} does not match ExecutorID in TaskStatus: {}",
                    e.value
                ));
            }
            let fw = &call.framework_id.value;
            if status.source != Some(pb::task_status::Source::Executor as i32) {
                return Err(format!(
                    "Received Call from executor {exec} of framework {fw} with invalid source, expecting 'SOURCE_EXECUTOR'"
                ));
            }
            if status.state() == pb::TaskState::TaskStaging {
                return Err(format!(
                    "Received TASK_STAGING from executor {exec} of framework {fw} which is not allowed"
                ));
            }
            Ok(t)
        }
        _ => Ok(t),
    }
}

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
fn foreign_role<'a>(list: &'a [pb::Resource], role: &str) -> Option<&'a str> {
    list.iter()
        .filter_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()))
        .find(|r| *r != role)
}

/// The check of a task's (or group's) `total` against what the offers
/// hold, with Mesos's message; `resources` are all the resources asked for.
fn check_available<'a>(
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

fn duration_negative(d: &Option<pb::DurationInfo>) -> bool {
    d.as_ref().is_some_and(|d| d.nanoseconds < 0)
}

/// The common part of task validation (`task::internal::validateTask`).
fn validate_task_common(task: &pb::TaskInfo, ctx: &TaskCtx<'_>) -> Result<Resources, String> {
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
fn validate_executor_common(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_as_mesos_reads_them() {
        let mut v4 = *b"\x12\x34\x56\x78\x9a\xbc\x4d\xef\x8f\xed\xcb\xa9\x87\x65\x43\x21";
        assert!(uuid_check(&v4).is_ok());
        assert!(uuid_check(&crate::local::protocol::new_uuid()).is_ok());
        for version in 1..=5u8 {
            v4[6] = (version << 4) | 0x0d;
            assert!(uuid_check(&v4).is_ok(), "version {version}");
        }
        // The variant is not checked.
        v4[8] = 0x0f;
        assert!(uuid_check(&v4).is_ok());
        for bad in [0u8, 6, 7, 15] {
            v4[6] = bad << 4;
            assert_eq!(uuid_check(&v4), Err("Not a valid UUID".to_string()));
        }
        assert_eq!(uuid_check(b"short"), Err("Not a valid UUID".to_string()));
        assert_eq!(uuid_check(&[0x40; 17]), Err("Not a valid UUID".to_string()));
        assert_eq!(uuid_check(&[]), Err("Not a valid UUID".to_string()));
    }

    fn executor_update(uuid: Vec<u8>) -> pb::executor::Call {
        use pb::executor::call;
        pb::executor::Call {
            framework_id: pb::FrameworkId { value: "f".into() },
            executor_id: pb::ExecutorId { value: "e".into() },
            r#type: Some(call::Type::Update as i32),
            update: Some(call::Update {
                status: pb::TaskStatus {
                    task_id: pb::TaskId { value: "t".into() },
                    state: pb::TaskState::TaskRunning as i32,
                    source: Some(pb::task_status::Source::Executor as i32),
                    uuid: Some(uuid),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }
    }

    #[test]
    fn resources_as_mesos_validates_them() {
        let cpus = |v: f64| pb::Resource {
            name: "cpus".into(),
            r#type: pb::value::Type::Scalar as i32,
            scalar: Some(pb::value::Scalar { value: v }),
            ..Default::default()
        };
        assert!(validate_resources(&[cpus(0.5), cpus(0.0)]).is_ok());
        assert_eq!(
            validate_resources(&[cpus(0.5), cpus(-1.0)]),
            Err("Resource 'cpus:-1' is invalid: Invalid scalar resource: value <= 0".into())
        );
        // Rounds to zero at Mesos's three decimals.
        assert!(validate_resources(&[cpus(0.0001)]).is_err());
        let ports = |r: &[(u64, u64)]| pb::Resource {
            name: "ports".into(),
            r#type: pb::value::Type::Ranges as i32,
            ranges: Some(pb::value::Ranges {
                range: r
                    .iter()
                    .map(|&(begin, end)| pb::value::Range { begin, end })
                    .collect(),
            }),
            ..Default::default()
        };
        assert!(validate_resources(&[ports(&[(1, 2), (4, 5)])]).is_ok());
        assert_eq!(
            validate_resources(&[ports(&[(1, 5), (3, 4)])]),
            Err("Resource 'ports:[1-5, 3-4]' is invalid: Invalid ranges resource: overlapping ranges".into())
        );
        assert_eq!(
            validate_resources(&[ports(&[(5, 1)])]),
            Err("Resource 'ports:[5-1]' is invalid: Invalid ranges resource: begin > end".into())
        );
        let mut no_value = cpus(1.0);
        no_value.scalar = None;
        assert!(
            validate_resources(&[no_value])
                .unwrap_err()
                .ends_with("Invalid scalar resource")
        );
        let mut bad_role = cpus(1.0);
        #[allow(deprecated)]
        {
            bad_role.role = Some("-x".into());
        }
        assert!(
            validate_resources(&[bad_role])
                .unwrap_err()
                .contains("starts with a dash")
        );
    }

    #[test]
    fn suppressed_roles_must_be_subscribed() {
        let roles = ["a".to_string(), "b".to_string()];
        assert!(validate_suppressed_roles(&roles, &["b".into()]).is_ok());
        assert_eq!(
            validate_suppressed_roles(&roles, &["a".into(), "x".into(), "y".into()]),
            Err("Suppressed role 'x' is not contained in the list of roles".to_string())
        );
    }

    #[test]
    fn acknowledge_uuid_rule() {
        use pb::scheduler::call;
        let ack = |uuid: Vec<u8>| pb::scheduler::Call {
            framework_id: Some(pb::FrameworkId { value: "f".into() }),
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id: pb::AgentId { value: "a".into() },
                task_id: pb::TaskId { value: "t".into() },
                uuid,
            }),
            ..Default::default()
        };
        let good = crate::local::protocol::new_uuid().to_vec();
        assert!(validate_call(&ack(good.clone())).is_ok());
        let mut v0 = good;
        v0[6] &= 0x0f;
        assert_eq!(validate_call(&ack(v0)), Err("Not a valid UUID".to_string()));
    }

    #[test]
    fn executor_update_uuid_rule() {
        let ok = crate::local::protocol::new_uuid().to_vec();
        assert!(validate_executor_call(&executor_update(ok.clone())).is_ok());
        let mut unversioned = ok;
        unversioned[6] &= 0x0f;
        assert_eq!(
            validate_executor_call(&executor_update(unversioned)),
            Err("Not a valid UUID".to_string())
        );
        assert_eq!(
            validate_executor_call(&executor_update(vec![7; 10])),
            Err("Not a valid UUID".to_string())
        );
    }

    #[test]
    fn ids_and_roles() {
        assert!(validate_id("ok-1").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_role("*").is_ok());
        assert!(validate_role("eng/dev").is_ok());
        assert!(validate_role("-x").is_err());
        assert!(validate_role("a b").is_err());
        assert!(validate_role("/a").is_err());
        assert!(validate_role("").is_err());
    }
}
