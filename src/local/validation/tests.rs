//! Validation rules checked against Mesos's own messages.

use super::calls::uuid_check;
use super::names::{validate_id, validate_role};
use super::*;
use crate::wire::pb;

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
        Err(
            "Resource 'ports:[1-5, 3-4]' is invalid: Invalid ranges resource: overlapping ranges"
                .into()
        )
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
