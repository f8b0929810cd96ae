//! Unit tests of the executor's state machine (`machine.rs`): every rule
//! with time, random draws and uuids passed in; no socket, no thread, no
//! sleep.

use super::*;
use crate::wire::pb::{AgentInfo, ExecutorInfo, TaskGroupInfo, TaskId};

fn cfg() -> Config {
    Config {
        executor_id: "ex".into(),
        framework_id: "fw".into(),
        agent_id: Some("env-agent".into()),
        checkpoint: true,
        recovery_timeout: Duration::from_secs(15 * 60),
        backoff_max: Duration::from_secs(2),
        shutdown_grace_period: Duration::from_secs(5),
        max_payload: 1000,
        watchdog: true,
    }
}

fn ev(ty: event::Type) -> Event {
    Event {
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

fn subscribed(agent: &str) -> Event {
    Event {
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo::default(),
            agent_info: AgentInfo {
                id: Some(AgentId {
                    value: agent.into(),
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..ev(event::Type::Subscribed)
    }
}

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        task_id: TaskId { value: id.into() },
        ..Default::default()
    }
}

fn launch(id: &str) -> Event {
    Event {
        launch: Some(event::Launch { task: task(id) }),
        ..ev(event::Type::Launch)
    }
}

fn acknowledged(id: &str, uuid: [u8; 16]) -> Event {
    Event {
        acknowledged: Some(event::Acknowledged {
            task_id: TaskId { value: id.into() },
            uuid: uuid.to_vec(),
        }),
        ..ev(event::Type::Acknowledged)
    }
}

fn running(id: &str) -> TaskStatus {
    TaskStatus {
        task_id: TaskId { value: id.into() },
        state: TaskState::TaskRunning as i32,
        ..Default::default()
    }
}

/// A distinct version-4 uuid per `n`.
fn uuid(n: u8) -> [u8; 16] {
    let mut u = [n; 16];
    u[6] = 0x40 | (n & 0x0f);
    u[8] = 0x80 | (n & 0x3f);
    u
}

fn subscribed_machine(c: Config) -> Machine {
    let mut m = Machine::new(c);
    m.connected();
    assert!(m.event(&subscribed("agent-1")).is_empty());
    m
}

fn booked(sub: &Call) -> (Vec<String>, Vec<Vec<u8>>) {
    let s = sub.subscribe.as_ref().expect("a SUBSCRIBE");
    (
        s.unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect(),
        s.unacknowledged_updates
            .iter()
            .filter_map(|u| u.status.uuid.clone())
            .collect(),
    )
}

/// What an action list says, in short.
fn said(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Send(c) => format!("send {}", call_type(c)),
            Action::Resubscribe(d) => format!("resubscribe {d:?}"),
            Action::Deliver(Output::Event(e)) => {
                format!("event {}", e.type_name().unwrap_or("?"))
            }
            Action::Deliver(Output::Disconnected(why)) => format!("disconnected: {why}"),
            Action::Deliver(Output::CallFailed { call_type, reason }) => {
                format!("{call_type} failed: {reason}")
            }
            Action::Deliver(Output::Stopped(why)) => format!("stopped: {why}"),
            Action::ArmWatchdog(d) => format!("watchdog {d:?}"),
            Action::Stop => "stop".into(),
        })
        .collect()
}

#[test]
fn the_book_is_resent_on_every_subscribe_and_emptied_by_acknowledged() {
    let mut m = subscribed_machine(cfg());
    let t0 = SystemTime::now();
    m.event(&launch("t1"));
    m.event(&Event {
        launch_group: Some(event::LaunchGroup {
            task_group: TaskGroupInfo {
                tasks: vec![task("g1"), task("g2")],
            },
        }),
        ..ev(event::Type::LaunchGroup)
    });
    m.update(running("t1"), uuid(1), t0).unwrap();
    m.update(running("g1"), uuid(2), t0).unwrap();
    assert_eq!(m.unacknowledged_tasks().count(), 3);
    assert_eq!(m.unacknowledged_updates().count(), 2);

    // The agent restarts: the next SUBSCRIBE carries the whole book.
    m.stream_ended("agent gone".into(), Instant::now(), 0.5);
    let (tasks, updates) = booked(&m.connected());
    assert_eq!(tasks, ["g1", "g2", "t1"]);
    assert_eq!(updates, [uuid(1).to_vec(), uuid(2).to_vec()]);

    // ACKNOWLEDGED drops the update of that uuid and its task.
    m.event(&subscribed("agent-1"));
    m.event(&acknowledged("t1", uuid(1)));
    let (tasks, updates) = booked(&m.connected());
    assert_eq!(tasks, ["g1", "g2"]);
    assert_eq!(updates, [uuid(2).to_vec()]);
    // An unknown uuid changes nothing but the task it names.
    m.event(&acknowledged("g2", uuid(9)));
    assert_eq!(
        booked(&m.connected()),
        (vec!["g1".into()], vec![uuid(2).to_vec()])
    );
    m.event(&acknowledged("g1", uuid(2)));
    assert_eq!(booked(&m.connected()), (vec![], vec![]));
}

#[test]
fn subscribe_carries_the_ids_and_subscribed_names_the_agent() {
    let mut m = Machine::new(cfg());
    assert_eq!(m.phase(), Phase::Disconnected);
    let sub = m.connected();
    assert_eq!(call_type(&sub), "SUBSCRIBE");
    assert_eq!(sub.executor_id.value, "ex");
    assert_eq!(sub.framework_id.value, "fw");
    assert_eq!(m.phase(), Phase::Subscribing);
    assert_eq!(m.agent_id(), None);
    m.event(&subscribed("agent-7"));
    assert_eq!(m.phase(), Phase::Subscribed);
    assert_eq!(m.agent_id(), Some("agent-7"));
}

#[test]
fn with_checkpointing_a_lost_agent_has_the_recovery_timeout_to_come_back() {
    let t0 = Instant::now();
    let s = |secs: u64| t0 + Duration::from_secs(secs);
    let mut c = cfg();
    c.recovery_timeout = Duration::from_secs(60);
    let mut m = subscribed_machine(c);

    let a = m.stream_ended("EOF".into(), t0, 0.5);
    assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);
    assert_eq!(m.phase(), Phase::Disconnected);
    // Further failures count from the first loss; the wait never
    // outlasts what is left.
    m.connected();
    let a = m.stream_ended("refused".into(), s(59), 0.99);
    assert_eq!(said(&a), ["disconnected: refused", "resubscribe 1s"]);
    let a = m.stream_ended("refused".into(), s(60), 0.0);
    assert_eq!(
        said(&a),
        [
            "disconnected: refused",
            "watchdog 5.5s",
            "event SHUTDOWN",
            "disconnected: agent did not come back within the recovery timeout (refused)",
            "stop"
        ]
    );

    // SUBSCRIBED again starts the clock anew at the next loss.
    let mut m = subscribed_machine(Config {
        recovery_timeout: Duration::from_secs(60),
        ..cfg()
    });
    m.stream_ended("EOF".into(), t0, 0.5);
    m.connected();
    m.event(&subscribed("agent-1"));
    let a = m.stream_ended("EOF".into(), s(100), 0.5);
    assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);
    let a = m.stream_ended("EOF".into(), s(159), 0.5);
    assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);

    // A zero timeout gives up at the first loss.
    let mut m = subscribed_machine(Config {
        recovery_timeout: Duration::ZERO,
        ..cfg()
    });
    assert_eq!(
        said(&m.stream_ended("EOF".into(), t0, 0.5)).last().unwrap(),
        "stop"
    );
}

#[test]
fn without_checkpointing_a_lost_agent_means_shutdown_at_once() {
    let mut m = subscribed_machine(Config {
        checkpoint: false,
        ..cfg()
    });
    let a = m.stream_ended("EOF".into(), Instant::now(), 0.5);
    assert_eq!(
        said(&a),
        [
            "disconnected: EOF",
            "watchdog 5.5s",
            "event SHUTDOWN",
            "disconnected: EOF; framework does not checkpoint, shutting down",
            "stop"
        ]
    );
    assert_eq!(m.phase(), Phase::Disconnected);
}

#[test]
fn backoff_is_uniform_up_to_the_maximum() {
    let max = Duration::from_secs(10);
    assert_eq!(backoff(max, 0.0), Duration::ZERO);
    assert_eq!(backoff(max, 0.25), Duration::from_millis(2500));
    assert!(backoff(max, 0.999_999) < max);
    // Out-of-range draws stay within the bounds instead of panicking.
    assert_eq!(backoff(max, 1.5), max);
    assert_eq!(backoff(max, -1.0), Duration::ZERO);
    assert_eq!(backoff(max, f64::NAN), Duration::ZERO);
    assert_eq!(backoff(Duration::ZERO, 0.7), Duration::ZERO);
    // The machine draws with MESOS_SUBSCRIPTION_BACKOFF_MAX.
    let mut m = subscribed_machine(cfg());
    let a = m.stream_ended("EOF".into(), Instant::now(), 0.75);
    assert_eq!(said(&a)[1], "resubscribe 1.5s");
}

#[test]
fn the_watchdog_is_armed_once_after_shutdown_for_the_grace_period() {
    let mut m = subscribed_machine(cfg());
    assert_eq!(
        said(&m.event(&ev(event::Type::Shutdown))),
        ["watchdog 5.5s"]
    );
    assert!(m.event(&ev(event::Type::Shutdown)).is_empty(), "once");
    // A later synthetic SHUTDOWN does not arm it again.
    let a = m.stream_ended("EOF".into(), Instant::now(), 0.0);
    assert!(!said(&a).iter().any(|s| s.starts_with("watchdog")));

    let mut off = subscribed_machine(Config {
        watchdog: false,
        ..cfg()
    });
    assert!(off.event(&ev(event::Type::Shutdown)).is_empty());
    // Other events never arm it.
    let mut m = subscribed_machine(cfg());
    for t in [
        event::Type::Message,
        event::Type::Kill,
        event::Type::Error,
        event::Type::Heartbeat,
    ] {
        assert!(m.event(&ev(t)).is_empty());
    }
}

#[test]
fn updates_are_stamped() {
    let mut m = Machine::new(cfg());
    let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    let u = crate::uuid::v4();
    let c = m.update(running("t1"), u, now).unwrap();
    assert_eq!(call_type(&c), "UPDATE");
    assert_eq!(
        (c.executor_id.value.as_str(), c.framework_id.value.as_str()),
        ("ex", "fw")
    );
    let st = &c.update.as_ref().unwrap().status;
    assert_eq!(st.uuid.as_deref(), Some(u.as_slice()));
    assert!(crate::uuid::is_valid(st.uuid.as_deref().unwrap()));
    assert_eq!(st.source, Some(task_status::Source::Executor as i32));
    assert_eq!(st.executor_id.as_ref().unwrap().value, "ex");
    assert_eq!(st.timestamp, Some(1_700_000_000.25));
    // Before SUBSCRIBED, the environment's agent id; then SUBSCRIBED's.
    assert_eq!(st.agent_id.as_ref().unwrap().value, "env-agent");
    m.event(&subscribed("agent-1"));
    let c = m.update(running("t1"), uuid(2), now).unwrap();
    let st = &c.update.as_ref().unwrap().status;
    assert_eq!(st.agent_id.as_ref().unwrap().value, "agent-1");
    // The owner's own timestamp and agent id are kept.
    let mine = TaskStatus {
        timestamp: Some(42.0),
        agent_id: Some(AgentId {
            value: "mine".into(),
        }),
        ..running("t1")
    };
    let c = m.update(mine, uuid(3), now).unwrap();
    let st = &c.update.as_ref().unwrap().status;
    assert_eq!(st.timestamp, Some(42.0));
    assert_eq!(st.agent_id.as_ref().unwrap().value, "mine");
    // A clock before 1970 stamps 0.
    let c = m
        .update(running("t1"), uuid(4), UNIX_EPOCH - Duration::from_secs(1))
        .unwrap();
    assert_eq!(c.update.unwrap().status.timestamp, Some(0.0));
    // Every stamped update is booked as sent.
    let booked: Vec<_> = m.unacknowledged_updates().map(|s| s.uuid.clone()).collect();
    assert_eq!(booked.len(), 4);
    assert_eq!(booked[0].as_deref(), Some(u.as_slice()));
}

#[test]
fn task_staging_is_refused_and_not_booked() {
    let mut m = Machine::new(cfg());
    let staging = TaskStatus {
        state: TaskState::TaskStaging as i32,
        ..running("t")
    };
    let e = m.update(staging, uuid(1), SystemTime::now()).unwrap_err();
    assert_eq!(e, Refused::Staging);
    assert_eq!(e.to_string(), "executors must not send TASK_STAGING");
    assert_eq!(m.unacknowledged_updates().count(), 0);
}

#[test]
fn payloads_are_bounded() {
    let mut m = Machine::new(cfg());
    let now = SystemTime::now();
    let with = |data: usize, message: usize| TaskStatus {
        data: Some(vec![7; data]),
        message: Some("m".repeat(message)),
        ..running("t")
    };
    assert!(m.update(with(1000, 1000), uuid(1), now).is_ok());
    let Err(Refused::TooLarge(e)) = m.update(with(1001, 0), uuid(2), now) else {
        panic!("status data over the limit");
    };
    assert_eq!(
        (e.what.as_str(), e.size, e.max),
        ("status data", 1001, 1000)
    );
    let Err(Refused::TooLarge(e)) = m.update(with(0, 1001), uuid(3), now) else {
        panic!("status message over the limit");
    };
    assert_eq!(e.what, "status message");
    assert_eq!(
        m.unacknowledged_updates().count(),
        1,
        "refused ones not booked"
    );

    let c = m.message(vec![1; 1000]).unwrap();
    assert_eq!(call_type(&c), "MESSAGE");
    assert_eq!(c.message.unwrap().data.len(), 1000);
    let e = m.message(vec![1; 1001]).unwrap_err();
    assert_eq!(e.what, "framework message data");
    assert!(e.to_string().contains("max_payload_bytes"), "{e}");
}

#[test]
fn calls_wait_for_the_subscription_and_failures_are_reported() {
    let mut m = Machine::new(cfg());
    let upd = m.update(running("t"), uuid(1), SystemTime::now()).unwrap();
    let msg = m.message(b"hi".to_vec()).unwrap();
    // Not subscribed: updates and heartbeats wait for the SUBSCRIBE,
    // other calls fail.
    assert!(m.outgoing(upd.clone()).is_empty());
    assert!(m.outgoing(m.heartbeat()).is_empty());
    assert_eq!(
        said(&m.outgoing(msg.clone())),
        ["MESSAGE failed: not subscribed to the agent"]
    );
    m.connected();
    assert_eq!(said(&m.outgoing(msg.clone())).len(), 1, "still subscribing");
    m.event(&subscribed("a"));
    assert_eq!(said(&m.outgoing(upd)), ["send UPDATE"]);
    assert_eq!(said(&m.outgoing(m.heartbeat())), ["send HEARTBEAT"]);

    // Answers: 200 and 202 are success; an UPDATE refused stays booked.
    assert!(m.call_answered("MESSAGE", 202, "").is_empty());
    assert!(m.call_answered("UPDATE", 200, "").is_empty());
    assert_eq!(
        said(&m.call_answered("UPDATE", 400, "bad")),
        ["UPDATE failed: HTTP 400 bad (will be resent on resubscription)"]
    );
    assert_eq!(
        said(&m.call_answered("MESSAGE", 503, "busy")),
        ["MESSAGE failed: HTTP 503 busy"]
    );
    // Transport errors: silent for updates and heartbeats.
    assert!(m.call_failed("UPDATE", "reset".into()).is_empty());
    assert!(m.call_failed("HEARTBEAT", "reset".into()).is_empty());
    assert_eq!(
        said(&m.call_failed("MESSAGE", "reset".into())),
        ["MESSAGE failed: reset"]
    );
    assert_eq!(m.unacknowledged_updates().count(), 1);
}

#[test]
fn stopped_stays_stopped_when_the_stream_ends() {
    let mut m = subscribed_machine(cfg());
    m.stop();
    m.stream_ended("EOF".into(), Instant::now(), 0.5);
    m.connected();
    assert_eq!(m.phase(), Phase::Stopped);
    assert!(m.outgoing(m.heartbeat()).is_empty());
}
