//! The operator API's call checks (`validation::master::call::validate`,
//! `validation::agent::call::validate`): a type, and the sub-message that
//! goes with it; nested container calls name a valid container with a
//! parent. Messages are Mesos's, without the "Failed to validate
//! master::Call: " prefix the HTTP layer adds.
//!
//! May import: `names`, the crate's `wire`.

use super::names::validate_id;
use crate::wire::pb;
use pb::agent::call::Type as A;
use pb::master::call::Type as M;

fn present(name: &str, set: bool) -> Result<(), String> {
    if set {
        Ok(())
    } else {
        Err(format!("Expecting '{name}' to be present"))
    }
}

/// A master operator call: its type, or why it is refused.
pub fn validate_master_call(call: &pb::master::Call) -> Result<M, String> {
    let ty = call
        .r#type
        .and_then(|t| M::try_from(t).ok())
        .ok_or_else(|| "Expecting 'type' to be present".to_string())?;
    #[allow(deprecated)]
    let check = match ty {
        M::GetMetrics => present("get_metrics", call.get_metrics.is_some()),
        M::SetLoggingLevel => present("set_logging_level", call.set_logging_level.is_some()),
        M::ListFiles => present("list_files", call.list_files.is_some()),
        M::ReadFile => present("read_file", call.read_file.is_some()),
        M::UpdateWeights => present("update_weights", call.update_weights.is_some()),
        M::ReserveResources => present("reserve_resources", call.reserve_resources.is_some()),
        M::UnreserveResources => present("unreserve_resources", call.unreserve_resources.is_some()),
        M::CreateVolumes => present("create_volumes", call.create_volumes.is_some()),
        M::DestroyVolumes => present("destroy_volumes", call.destroy_volumes.is_some()),
        M::GrowVolume => present("grow_volume", call.grow_volume.is_some())
            .and_then(|_| agent_given(call.grow_volume.as_ref().and_then(|g| g.agent_id.as_ref()))),
        M::ShrinkVolume => present("shrink_volume", call.shrink_volume.is_some()).and_then(|_| {
            agent_given(
                call.shrink_volume
                    .as_ref()
                    .and_then(|g| g.agent_id.as_ref()),
            )
        }),
        M::UpdateMaintenanceSchedule => present(
            "update_maintenance_schedule",
            call.update_maintenance_schedule.is_some(),
        ),
        M::StartMaintenance => present("start_maintenance", call.start_maintenance.is_some()),
        M::StopMaintenance => present("stop_maintenance", call.stop_maintenance.is_some()),
        M::DrainAgent => present("drain_agent", call.drain_agent.is_some()),
        M::DeactivateAgent => present("deactivate_agent", call.deactivate_agent.is_some()),
        M::ReactivateAgent => present("reactivate_agent", call.reactivate_agent.is_some()),
        M::UpdateQuota => present("update_quota", call.update_quota.is_some()),
        M::SetQuota => present("set_quota", call.set_quota.is_some()),
        M::RemoveQuota => present("remove_quota", call.remove_quota.is_some()),
        M::Teardown => present("teardown", call.teardown.is_some()),
        M::MarkAgentGone => present("mark_agent_gone", call.mark_agent_gone.is_some()),
        _ => Ok(()),
    };
    check.map(|_| ty)
}

fn agent_given(id: Option<&pb::AgentId>) -> Result<(), String> {
    if id.is_some() {
        Ok(())
    } else {
        Err(
            "Expecting 'agent_id' to be present; only agent default resources are supported right now"
                .into(),
        )
    }
}

/// `validateContainerId`: the common id rules, at most 242 characters, no
/// periods or spaces; the same for each parent.
pub fn validate_container_id(id: &pb::ContainerId) -> Result<(), String> {
    validate_id(&id.value)?;
    if id.value.len() > 242 {
        return Err(format!(
            "'ContainerID.value' '{}' exceeds the maximum length (242)",
            id.value
        ));
    }
    if id.value.contains(['.', ' ']) {
        return Err(format!(
            "'ContainerID.value' '{}' contains invalid characters",
            id.value
        ));
    }
    if let Some(p) = &id.parent {
        validate_container_id(p).map_err(|e| format!("'ContainerID.parent' is invalid: {e}"))?;
    }
    Ok(())
}

/// A nested container call's container: valid, with a parent.
fn nested(field: &str, id: Option<&pb::ContainerId>) -> Result<(), String> {
    let Some(id) = id else {
        return Err(format!("Expecting '{field}' to be present"));
    };
    validate_container_id(id).map_err(|e| format!("'{field}.container_id' is invalid: {e}"))?;
    if id.parent.is_none() {
        return Err(format!(
            "Expecting '{field}.container_id.parent' to be present"
        ));
    }
    Ok(())
}

/// A top-level container call's container: valid.
fn container(field: &str, id: Option<&pb::ContainerId>) -> Result<(), String> {
    let Some(id) = id else {
        return Err(format!("Expecting '{field}' to be present"));
    };
    validate_container_id(id).map_err(|e| format!("'{field}.container_id' is invalid: {e}"))
}

/// An agent operator call: its type, or why it is refused.
pub fn validate_agent_call(call: &pb::agent::Call) -> Result<A, String> {
    let ty = call
        .r#type
        .and_then(|t| A::try_from(t).ok())
        .ok_or_else(|| "Expecting 'type' to be present".to_string())?;
    #[allow(deprecated)]
    let check = match ty {
        A::GetMetrics => present("get_metrics", call.get_metrics.is_some()),
        A::SetLoggingLevel => present("set_logging_level", call.set_logging_level.is_some()),
        A::ListFiles => present("list_files", call.list_files.is_some()),
        A::ReadFile => present("read_file", call.read_file.is_some()),
        A::LaunchNestedContainer => nested(
            "launch_nested_container",
            call.launch_nested_container
                .as_ref()
                .map(|c| &c.container_id),
        ),
        A::WaitNestedContainer => nested(
            "wait_nested_container",
            call.wait_nested_container.as_ref().map(|c| &c.container_id),
        ),
        A::KillNestedContainer => nested(
            "kill_nested_container",
            call.kill_nested_container.as_ref().map(|c| &c.container_id),
        ),
        A::RemoveNestedContainer => nested(
            "remove_nested_container",
            call.remove_nested_container
                .as_ref()
                .map(|c| &c.container_id),
        ),
        A::LaunchNestedContainerSession => nested(
            "launch_nested_container_session",
            call.launch_nested_container_session
                .as_ref()
                .map(|c| &c.container_id),
        ),
        A::AttachContainerInput => present(
            "attach_container_input",
            call.attach_container_input.is_some(),
        ),
        A::AttachContainerOutput => container(
            "attach_container_output",
            call.attach_container_output
                .as_ref()
                .map(|c| &c.container_id),
        ),
        A::LaunchContainer => container(
            "launch_container",
            call.launch_container.as_ref().map(|c| &c.container_id),
        ),
        A::WaitContainer => container(
            "wait_container",
            call.wait_container.as_ref().map(|c| &c.container_id),
        ),
        A::KillContainer => container(
            "kill_container",
            call.kill_container.as_ref().map(|c| &c.container_id),
        ),
        A::RemoveContainer => container(
            "remove_container",
            call.remove_container.as_ref().map(|c| &c.container_id),
        ),
        A::AddResourceProviderConfig => present(
            "add_resource_provider_config",
            call.add_resource_provider_config.is_some(),
        ),
        A::UpdateResourceProviderConfig => present(
            "update_resource_provider_config",
            call.update_resource_provider_config.is_some(),
        ),
        A::RemoveResourceProviderConfig => present(
            "remove_resource_provider_config",
            call.remove_resource_provider_config.is_some(),
        ),
        A::MarkResourceProviderGone => present(
            "mark_resource_provider_gone",
            call.mark_resource_provider_gone.is_some(),
        ),
        _ => Ok(()),
    };
    check.map(|_| ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_calls_need_a_type_and_their_sub_message() {
        let call = |t: Option<M>| pb::master::Call {
            r#type: t.map(|t| t as i32),
            ..Default::default()
        };
        assert_eq!(
            validate_master_call(&call(None)).unwrap_err(),
            "Expecting 'type' to be present"
        );
        assert_eq!(
            validate_master_call(&pb::master::Call {
                r#type: Some(999),
                ..Default::default()
            })
            .unwrap_err(),
            "Expecting 'type' to be present"
        );
        assert_eq!(
            validate_master_call(&call(Some(M::GetHealth))),
            Ok(M::GetHealth)
        );
        assert_eq!(
            validate_master_call(&call(Some(M::GetMetrics))).unwrap_err(),
            "Expecting 'get_metrics' to be present"
        );
        assert_eq!(
            validate_master_call(&call(Some(M::DrainAgent))).unwrap_err(),
            "Expecting 'drain_agent' to be present"
        );
        assert_eq!(
            validate_master_call(&call(Some(M::Unknown))),
            Ok(M::Unknown)
        );
    }

    #[test]
    #[allow(deprecated)]
    fn nested_container_calls_name_a_child() {
        let kill = |id: pb::ContainerId| pb::agent::Call {
            r#type: Some(A::KillNestedContainer as i32),
            kill_nested_container: Some(pb::agent::call::KillNestedContainer {
                container_id: id,
                signal: None,
            }),
            ..Default::default()
        };
        let id = |v: &str, parent: Option<pb::ContainerId>| pb::ContainerId {
            value: v.into(),
            parent: parent.map(Box::new),
        };
        assert_eq!(
            validate_agent_call(&kill(id("x", None))).unwrap_err(),
            "Expecting 'kill_nested_container.container_id.parent' to be present"
        );
        assert_eq!(
            validate_agent_call(&kill(id("x", Some(id("y", None))))),
            Ok(A::KillNestedContainer)
        );
        assert_eq!(
            validate_agent_call(&kill(id("a.b", Some(id("y", None))))).unwrap_err(),
            "'kill_nested_container.container_id' is invalid: 'ContainerID.value' 'a.b' contains invalid characters"
        );
        assert_eq!(
            validate_agent_call(&pb::agent::Call {
                r#type: Some(A::KillNestedContainer as i32),
                ..Default::default()
            })
            .unwrap_err(),
            "Expecting 'kill_nested_container' to be present"
        );
    }
}
