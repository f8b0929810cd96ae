//! Scheduler and executor calls (`validation::scheduler::call` and
//! `validation::executor::call`): what each call type must carry, and the
//! uuids of acknowledgements and updates.
//!
//! May import: `framework`.

use crate::wire::pb;
use pb::scheduler::call::Type as CallType;

pub(super) fn id_of(id: &Option<pb::FrameworkId>) -> &str {
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
