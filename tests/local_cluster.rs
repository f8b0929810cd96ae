//! The embedded local cluster over its real HTTP API, in both encodings:
//! subscription, offers, launches, status updates and acknowledgements,
//! reconciliation, kills, failover, filters and the HTTP error rules.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesos::http::Headers;
use mesos::http::client::{Conn, Response};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::scheduler::{Call, Event, call, event};
use mesos::wire::pb::{self, TaskState};
use mesos::wire::recordio;
use support::*;

fn config() -> ClusterConfig {
    ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_millis(200),
        ..Default::default()
    }
}

fn cluster() -> LocalCluster {
    LocalCluster::start(config()).expect("cluster starts")
}

fn post(c: &LocalCluster, headers: Headers, body: &[u8]) -> Response {
    connect(c)
        .roundtrip("POST", PATH, &headers, body)
        .expect("roundtrip")
}

fn find_file(dir: &Path, name: &str, within: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if let Some(found) = find_file(&p, name, within) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) && p.to_string_lossy().contains(within) {
            return Some(p);
        }
    }
    None
}

fn launch_and_finish(enc: Encoding) {
    let mut c = cluster();
    let mut s = Sched::subscribe(&c, enc, framework("launch"));
    assert!(s.framework_id.ends_with("-0000"), "{}", s.framework_id);

    let offers = s.offers();
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert!(offer.id.value.contains("-O"), "{}", offer.id.value);
    assert!(
        offer.agent_id.value.contains("-S"),
        "{}",
        offer.agent_id.value
    );
    assert_eq!(offer.hostname, "127.0.0.1");
    assert_eq!(offer.framework_id.value, s.framework_id);
    let url = offer.url.as_ref().expect("url");
    let agent = c.agent_addr(0).expect("agent");
    assert_eq!(url.address.port, i32::from(agent.port()));
    assert_ne!(agent.port(), c.addr().port());
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));
    let cpus = offer
        .resources
        .iter()
        .find(|r| r.name == "cpus")
        .expect("cpus");
    assert_eq!(cpus.scalar.as_ref().map(|s| s.value), Some(4.0));
    assert!(offer.resources.iter().any(|r| r.name == "ports"));

    s.launch(offer, vec![command_task(offer, "t1", "echo hi; exit 0")]);
    let starting = s.update("t1", TaskState::TaskStarting);
    assert_eq!(starting.uuid.as_ref().map(Vec::len), Some(16));
    assert_eq!(starting.source(), pb::task_status::Source::Executor);
    assert_eq!(starting.agent_id, Some(offer.agent_id.clone()));
    assert_eq!(
        starting.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("t1")
    );
    assert!(starting.timestamp.is_some());
    s.ack(&starting);
    let running = s.update("t1", TaskState::TaskRunning);
    s.ack(&running);
    let finished = s.update("t1", TaskState::TaskFinished);
    assert_eq!(
        finished.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_ne!(finished.uuid, running.uuid);

    let stdout = find_file(c.work_dir(), "stdout", "/executors/t1/runs/").expect("sandbox stdout");
    assert!(stdout.starts_with(c.work_dir().join("agents").join(&offer.agent_id.value)));
    assert_eq!(std::fs::read_to_string(&stdout).expect("read"), "hi\n");

    // Explicit reconciliation: a known task (latest state) and an unknown one.
    s.reconcile(vec![("t1", None), ("nope", Some(&offer.agent_id.value))]);
    let known = s
        .expect(|e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "t1" && u.status.reason.is_some())
        })
        .update
        .expect("update")
        .status;
    assert_eq!(known.state(), TaskState::TaskFinished);
    let unknown = s.update("nope", TaskState::TaskLost);
    for st in [&known, &unknown] {
        assert_eq!(st.reason(), pb::task_status::Reason::Reconciliation);
        assert_eq!(st.source(), pb::task_status::Source::Master);
        assert!(st.uuid.is_none());
    }

    s.ack(&finished);
    // Acknowledged terminal task: gone from the master, kept as completed.
    let state: serde_json::Value =
        serde_json::from_slice(&s.get("/master/state").body).expect("json");
    let fw = &state["frameworks"][0];
    assert_eq!(fw["id"], s.framework_id.as_str());
    assert_eq!(fw["tasks"].as_array().map(Vec::len), Some(0));
    assert_eq!(fw["completed_tasks"][0]["id"], "t1");
    assert_eq!(fw["completed_tasks"][0]["state"], "TASK_FINISHED");
    assert_eq!(state["slaves"][0]["id"], offer.agent_id.value.as_str());
    assert_eq!(state["slaves"][0]["resources"]["cpus"], 4.0);

    s.call_ok(Call {
        r#type: Some(call::Type::Teardown as i32),
        ..Default::default()
    });
    assert!(s.wait_eof(), "TEARDOWN closes the stream");
    c.stop();
    c.stop();
    assert!(!c.work_dir().exists(), "temporary work dir removed");
}

#[test]
fn launch_and_finish_json() {
    launch_and_finish(Encoding::Json);
}

#[test]
fn launch_and_finish_protobuf() {
    launch_and_finish(Encoding::Protobuf);
}

#[test]
fn failed_task_and_reconciliation_of_a_known_task() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("fail"));
    let offer = s.offers().remove(0);
    s.launch(
        &offer,
        vec![command_task(&offer, "bad", "echo oops >&2; exit 3")],
    );
    for st in [TaskState::TaskStarting, TaskState::TaskRunning] {
        let u = s.update("bad", st);
        s.ack(&u);
    }
    let failed = s.update("bad", TaskState::TaskFailed);
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    let stderr = find_file(c.work_dir(), "stderr", "/executors/bad/runs/").expect("stderr");
    assert_eq!(std::fs::read_to_string(stderr).expect("read"), "oops\n");
    // Not acknowledged yet: the master still knows it.
    s.reconcile(vec![]);
    let r = s.expect(|e| {
        e.update
            .as_ref()
            .is_some_and(|u| u.status.reason.is_some() && u.status.task_id.value == "bad")
    });
    let st = r.update.expect("update").status;
    assert_eq!(st.state(), TaskState::TaskFailed);
    assert_eq!(st.reason(), pb::task_status::Reason::Reconciliation);
    assert!(st.uuid.is_none());
}

#[test]
fn decline_filters_and_revive() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("decline"));
    let offer = s.offers().remove(0);
    s.call_ok(Call {
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: vec![offer.id.clone()],
            filters: Some(pb::Filters {
                refuse_seconds: Some(60.0),
            }),
        }),
        ..Default::default()
    });
    s.clear();
    assert!(
        s.try_expect(Duration::from_millis(600), |e| e.r#type()
            == event::Type::Offers)
            .is_none(),
        "declined agent is filtered"
    );
    assert_eq!(s.simple(call::Type::Revive).status, 202);
    let again = s.offers().remove(0);
    assert_eq!(again.agent_id, offer.agent_id);
    assert_ne!(again.id, offer.id);

    // A short filter expires on its own.
    let t0 = Instant::now();
    s.call_ok(Call {
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: vec![again.id.clone()],
            filters: Some(pb::Filters {
                refuse_seconds: Some(0.5),
            }),
        }),
        ..Default::default()
    });
    let third = s.offers().remove(0);
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );

    // SUPPRESS stops offers (of resources declined without a filter, too);
    // REVIVE resumes them.
    assert_eq!(s.simple(call::Type::Suppress).status, 202);
    s.call_ok(Call {
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: vec![third.id.clone()],
            filters: Some(pb::Filters {
                refuse_seconds: Some(0.0),
            }),
        }),
        ..Default::default()
    });
    s.clear();
    assert!(
        s.try_expect(Duration::from_millis(400), |e| e.r#type()
            == event::Type::Offers)
            .is_none()
    );
    assert_eq!(s.simple(call::Type::Revive).status, 202);
    s.offers();
}

#[test]
fn offers_are_not_shared_between_frameworks() {
    let c = cluster();
    let mut a = Sched::subscribe(&c, Encoding::Json, framework("a"));
    let offer = a.offers().remove(0);
    let mut b = Sched::subscribe(&c, Encoding::Json, framework("b"));
    assert!(
        b.try_expect(Duration::from_millis(400), |e| e.r#type()
            == event::Type::Offers)
            .is_none(),
        "the only agent is offered to the first framework"
    );
    // Half the agent goes to a task; the rest is declined without a filter
    // and then goes to the other framework.
    let mut t = command_task(&offer, "half", "sleep 100");
    t.resources = vec![scalar("cpus", 2.0), scalar("mem", 2048.0)];
    a.launch(&offer, vec![t]);
    let b_offer = b.offers().remove(0);
    let cpus = b_offer
        .resources
        .iter()
        .find(|r| r.name == "cpus")
        .expect("cpus");
    assert_eq!(cpus.scalar.as_ref().map(|s| s.value), Some(2.0));
}

#[test]
fn invalid_accepts() {
    let c = cluster();
    let mut pa = framework("pa");
    pa.capabilities.push(capability(
        pb::framework_info::capability::Type::PartitionAware,
    ));
    for (info, lost_state) in [
        (framework("plain"), TaskState::TaskLost),
        (pa, TaskState::TaskDropped),
    ] {
        let mut s = Sched::subscribe(&c, Encoding::Json, info);
        let offer = s.offers().remove(0);
        // Unknown offer id.
        let bogus = pb::OfferId {
            value: "no-such-offer".into(),
        };
        s.accept(
            vec![bogus],
            vec![launch_op(vec![command_task(&offer, "x", "true")])],
        );
        let st = s.update("x", lost_state);
        assert_eq!(st.reason(), pb::task_status::Reason::InvalidOffers);
        assert_eq!(st.source(), pb::task_status::Source::Master);
        assert!(st.uuid.is_none());
        assert!(
            st.message
                .as_deref()
                .unwrap_or("")
                .contains("no longer valid"),
            "{:?}",
            st.message
        );

        // Invalid tasks in a valid offer: too big, no command nor executor,
        // bad id, duplicate id; the valid one still runs.
        let mut big = command_task(&offer, "big", "true");
        big.resources = vec![scalar("cpus", 64.0)];
        let mut neither = command_task(&offer, "neither", "true");
        neither.command = None;
        let bad_id = command_task(&offer, "a/b", "true");
        let ok = command_task(&offer, "ok", "true");
        let dup = command_task(&offer, "ok", "true");
        s.launch(&offer, vec![big, neither, bad_id, ok, dup]);
        for id in ["big", "neither", "a/b"] {
            let st = s.update(id, TaskState::TaskError);
            assert_eq!(st.reason(), pb::task_status::Reason::TaskInvalid, "{id}");
            assert_eq!(st.source(), pb::task_status::Source::Master);
            assert!(st.uuid.is_none());
            assert!(st.message.is_some());
            if id == "big" {
                // Mesos's wording and resource order (checked against 1.11).
                assert_eq!(
                    st.message.as_deref(),
                    Some(
                        "Total resources cpus(allocated: *):64 required by task and its executor \
                         is more than available ports(allocated: *):[31000-32000]; \
                         cpus(allocated: *):4; mem(allocated: *):4096; disk(allocated: *):10000"
                    )
                );
            }
        }
        let dup = s.update("ok", TaskState::TaskError);
        assert!(
            dup.message.as_deref().unwrap_or("").contains("duplicate"),
            "{:?}",
            dup.message
        );
        s.update("ok", TaskState::TaskStarting);
        // The offer was used: using it again is an invalid offer.
        s.launch(&offer, vec![command_task(&offer, "again", "true")]);
        s.update("again", lost_state);
        s.simple(call::Type::Teardown);
    }
}

#[test]
fn invalid_resource_fails_the_whole_launch() {
    // As a Mesos master: the resources of every task of a LAUNCH are
    // checked first, and one invalid resource fails all of its tasks.
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("bad-resource"));
    let offer = s.offers().remove(0);
    let good = command_task(&offer, "good", "sleep 30");
    let mut bad = command_task(&offer, "bad", "true");
    bad.resources = vec![scalar("cpus", -1.0)];
    s.launch(&offer, vec![good, bad]);
    for id in ["good", "bad"] {
        let st = s.update(id, TaskState::TaskError);
        assert_eq!(st.reason(), pb::task_status::Reason::TaskInvalid);
        assert_eq!(
            st.message.as_deref(),
            Some("Resource 'cpus:-1' is invalid: Invalid scalar resource: value <= 0")
        );
    }
}

#[test]
fn unacknowledged_update_is_resent() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("retry"));
    let offer = s.offers().remove(0);
    s.launch(&offer, vec![command_task(&offer, "r", "true")]);
    let first = s.update("r", TaskState::TaskStarting);
    let t0 = Instant::now();
    let again = s.update("r", TaskState::TaskStarting);
    assert_eq!(again.uuid, first.uuid, "the same update, resent");
    assert!(t0.elapsed() >= Duration::from_millis(100));
    // Nothing else is delivered for the task until the acknowledgement.
    assert!(
        s.try_expect(Duration::from_millis(300), |e| e
            .update
            .as_ref()
            .is_some_and(|u| u.status.state() != TaskState::TaskStarting))
            .is_none()
    );
    s.ack(&again);
    let running = s.update("r", TaskState::TaskRunning);
    s.ack(&running);
    let fin = s.update("r", TaskState::TaskFinished);
    s.ack(&fin);
}

#[test]
fn kill_a_sleeping_task() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("kill"));
    let offer = s.run("sleepy", "sleep 100");
    let t0 = Instant::now();
    s.call_ok(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId {
                value: "sleepy".into(),
            },
            agent_id: Some(offer.agent_id.clone()),
            kill_policy: None,
        }),
        ..Default::default()
    });
    let killed = s.update("sleepy", TaskState::TaskKilled);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    s.ack(&killed);

    // KILL of an unknown task: TASK_LOST from the master.
    s.call_ok(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId {
                value: "ghost".into(),
            },
            ..Default::default()
        }),
        ..Default::default()
    });
    let lost = s.update("ghost", TaskState::TaskLost);
    assert!(lost.uuid.is_none());
    assert_eq!(lost.source(), pb::task_status::Source::Master);

    // A task that ignores SIGTERM is SIGKILLed after the grace period.
    let offer = s.offers().remove(0);
    let mut t = command_task(&offer, "stubborn", "trap '' TERM; sleep 100");
    t.kill_policy = Some(pb::KillPolicy {
        grace_period: Some(pb::DurationInfo {
            nanoseconds: 300_000_000,
        }),
    });
    s.launch(&offer, vec![t]);
    for st in [TaskState::TaskStarting, TaskState::TaskRunning] {
        let u = s.update("stubborn", st);
        s.ack(&u);
    }
    // Give the shell a moment to install its trap.
    std::thread::sleep(Duration::from_millis(200));
    s.call_ok(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId {
                value: "stubborn".into(),
            },
            ..Default::default()
        }),
        ..Default::default()
    });
    let killed = s.update("stubborn", TaskState::TaskKilled);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Killed")
    );
}

#[test]
fn failover_keeps_tasks() {
    let c = cluster();
    let mut info = framework("failover");
    info.failover_timeout = Some(60.0);
    let mut s = Sched::subscribe(&c, Encoding::Json, info.clone());
    let offer = s.run("long", "sleep 100");
    let fw_id = s.framework_id();
    let old_stream = s.stream_id.clone();

    // A second subscription with the id while connected: failover.
    info.id = Some(fw_id.clone());
    let s2 = Sched::subscribe(&c, Encoding::Protobuf, info.clone());
    assert_eq!(s2.framework_id, fw_id.value);
    assert_ne!(s2.stream_id, old_stream);
    let err = s.expect(|e| e.r#type() == event::Type::Error);
    assert_eq!(err.error.expect("error").message, "Framework failed over");
    assert!(s.wait_eof());
    // The old stream id is no longer valid.
    let r = s.simple(call::Type::Revive);
    assert_eq!(r.status, 400, "{}", r.body_text());

    // Disconnect, then come back within the failover timeout.
    drop(s2);
    let deadline = Instant::now() + WAIT;
    let mut disconnected = false;
    while Instant::now() < deadline && !disconnected {
        let state: serde_json::Value =
            serde_json::from_slice(&s.get("/master/state").body).expect("json");
        disconnected = state["frameworks"][0]["connected"] == false;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(disconnected, "closing the stream disconnects the framework");
    let mut s3 = Sched::subscribe(&c, Encoding::Json, info);
    assert_eq!(s3.framework_id, fw_id.value);
    s3.reconcile(vec![("long", Some(&offer.agent_id.value))]);
    let st = s3.expect(|e| {
        e.update
            .as_ref()
            .is_some_and(|u| u.status.task_id.value == "long" && u.status.reason.is_some())
    });
    assert_eq!(
        st.update.expect("update").status.state(),
        TaskState::TaskRunning
    );
}

#[test]
fn failover_timeout_zero_tears_down() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("gone"));
    s.run("doomed", "sleep 100");
    let id = s.framework_id.clone();
    drop(s);
    let deadline = Instant::now() + WAIT;
    let mut state = serde_json::Value::Null;
    while Instant::now() < deadline {
        let mut conn =
            Conn::connect("127.0.0.1", c.addr().port(), Duration::from_secs(5)).expect("connect");
        let r = conn
            .roundtrip("GET", "/state", &Headers::default(), &[])
            .expect("get");
        state = serde_json::from_slice(&r.body).expect("json");
        if state["completed_frameworks"][0]["id"] == id.as_str() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = &state["completed_frameworks"][0];
    assert_eq!(done["id"], id.as_str(), "{state}");
    assert_eq!(done["completed_tasks"][0]["state"], "TASK_KILLED");
    // Its id can no longer subscribe.
    let mut info = framework("gone");
    info.id = Some(pb::FrameworkId { value: id });
    let body = codec::encode(&subscribe_call(info), Encoding::Json);
    let mut conn = connect(&c);
    let headers = Headers::default().with("Content-Type", "application/json");
    conn.send_request("POST", PATH, &headers, &body)
        .expect("send");
    let (status, h) = conn.read_response_head().expect("head");
    assert_eq!(status, 200);
    let mut stream = conn.into_stream(&h);
    let mut all = vec![];
    while stream.read_data(&mut all).expect("read") > 0 {}
    let mut dec = recordio::Decoder::default();
    dec.feed(&all);
    let rec = dec.next_record().expect("record").expect("one record");
    let ev: Event = codec::decode(&rec, Encoding::Json, true).expect("event");
    assert_eq!(
        ev.error.expect("error").message,
        "Framework has been removed"
    );
}

#[test]
fn invalid_framework_info_gets_one_error_event() {
    let c = cluster();
    let mut info = framework("roles");
    info.roles = vec!["a".into()]; // without MULTI_ROLE
    let body = codec::encode(&subscribe_call(info), Encoding::Json);
    let mut conn = connect(&c);
    conn.send_request(
        "POST",
        PATH,
        &Headers::default().with("Content-Type", "application/json"),
        &body,
    )
    .expect("send");
    let (status, h) = conn.read_response_head().expect("head");
    assert_eq!(status, 200);
    assert!(h.get("mesos-stream-id").is_some());
    let mut stream = conn.into_stream(&h);
    let mut all = vec![];
    while stream.read_data(&mut all).expect("read") > 0 {}
    let text = String::from_utf8(all).expect("utf8");
    assert!(text.contains(r#""type":"ERROR""#), "{text}");
    assert!(text.contains("MULTI_ROLE"), "{text}");
}

#[test]
fn http_error_codes() {
    let c = cluster();
    let json = || Headers::default().with("Content-Type", "application/json");
    let sub_body = codec::encode(&subscribe_call(framework("codes")), Encoding::Json);

    let r = connect(&c)
        .roundtrip("GET", PATH, &Headers::default(), &[])
        .expect("get");
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow"), Some("POST"));
    let r = connect(&c)
        .roundtrip("GET", "/master/api/v1/scheduler", &Headers::default(), &[])
        .expect("get");
    assert_eq!(r.status, 405);

    assert_eq!(post(&c, Headers::default(), &sub_body).status, 400);
    let r = post(
        &c,
        Headers::default().with("Content-Type", "text/plain"),
        &sub_body,
    );
    assert_eq!(r.status, 415);
    let r = post(
        &c,
        Headers::default().with("Content-Type", "application/json; charset=utf-8"),
        &sub_body,
    );
    assert_eq!(r.status, 415);
    let r = post(&c, json(), b"{not json");
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().starts_with("Failed to parse body into JSON"),
        "{}",
        r.body_text()
    );
    let r = post(
        &c,
        Headers::default().with("Content-Type", "application/x-protobuf"),
        b"\xff\xff\xff",
    );
    assert_eq!(r.status, 400);
    // Missing required field (framework_info.user).
    let r = post(
        &c,
        json(),
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body_text());
    let r = post(&c, json().with("Accept", "text/html"), &sub_body);
    assert_eq!(r.status, 406);
    let r = post(&c, json().with("Mesos-Stream-Id", "abc"), &sub_body);
    assert_eq!(r.status, 400);
    assert!(r.body_text().contains("Mesos-Stream-Id"));
    // SUBSCRIBE with mismatched framework ids.
    let mut info = framework("x");
    info.id = Some(pb::FrameworkId { value: "a".into() });
    let mut bad = subscribe_call(info);
    bad.framework_id = Some(pb::FrameworkId { value: "b".into() });
    let r = post(&c, json(), &codec::encode(&bad, Encoding::Json));
    assert_eq!(r.status, 400);
    // Non-subscribe calls.
    let r = post(&c, json(), br#"{"type":"REVIVE"}"#);
    assert_eq!(r.status, 400, "framework_id is required");
    let r = post(
        &c,
        json(),
        br#"{"type":"REVIVE","framework_id":{"value":"nope"}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body_text(), "Framework cannot be found");

    let mut info = framework("codes");
    info.failover_timeout = Some(60.0);
    let mut s = Sched::subscribe(&c, Encoding::Json, info);
    let fid = s.framework_id.clone();
    let revive = format!(r#"{{"type":"REVIVE","framework_id":{{"value":"{fid}"}}}}"#);
    let r = post(&c, json(), revive.as_bytes());
    assert_eq!(r.status, 400, "missing stream id");
    let r = post(
        &c,
        json().with("Mesos-Stream-Id", "wrong"),
        revive.as_bytes(),
    );
    assert_eq!(r.status, 400, "wrong stream id");
    let r = post(
        &c,
        json().with("Mesos-Stream-Id", s.stream_id.clone()),
        revive.as_bytes(),
    );
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
    // ACKNOWLEDGE with a uuid that is not 16 bytes.
    let r = s.call(Call {
        r#type: Some(call::Type::Acknowledge as i32),
        acknowledge: Some(call::Acknowledge {
            agent_id: pb::AgentId { value: "a".into() },
            task_id: pb::TaskId { value: "t".into() },
            uuid: vec![1, 2, 3, 4, 5],
        }),
        ..Default::default()
    });
    assert_eq!(r.status, 400);
    // ACCEPT without its sub-message.
    assert_eq!(s.simple(call::Type::Accept).status, 400);
    assert_eq!(s.simple(call::Type::Unknown).status, 501);
    // UPDATE_FRAMEWORK: 200, and its framework id must match.
    let mut info = framework("codes-renamed");
    info.failover_timeout = Some(60.0);
    info.id = Some(s.framework_id());
    let r = s.call(Call {
        r#type: Some(call::Type::UpdateFramework as i32),
        update_framework: Some(call::UpdateFramework {
            framework_info: info.clone(),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(r.status, 200, "{}", r.body_text());
    info.id = Some(pb::FrameworkId {
        value: "other".into(),
    });
    let r = s.call(Call {
        r#type: Some(call::Type::UpdateFramework as i32),
        update_framework: Some(call::UpdateFramework {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(r.status, 400);
    let state: serde_json::Value =
        serde_json::from_slice(&s.get("/master/state").body).expect("json");
    assert_eq!(state["frameworks"][0]["name"], "codes-renamed");

    // A known but disconnected framework: 403.
    let stream_id = s.stream_id.clone();
    drop(s);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = post(
            &c,
            json().with("Mesos-Stream-Id", stream_id.clone()),
            revive.as_bytes(),
        );
        if r.status == 403 {
            assert_eq!(r.body_text(), "Framework is not subscribed");
            break;
        }
        assert!(Instant::now() < deadline, "still {}", r.status);
        std::thread::sleep(Duration::from_millis(20));
    }

    // Other endpoints.
    let get = |p: &str| {
        connect(&c)
            .roundtrip("GET", p, &Headers::default(), &[])
            .expect("get")
    };
    let r = get("/master/redirect");
    assert_eq!(r.status, 307);
    assert_eq!(
        r.headers.get("location").map(String::from),
        Some(format!("//127.0.0.1:{}", c.addr().port()))
    );
    assert_eq!(get("/health").status, 200);
    assert_eq!(get("/master/health").status, 200);
    assert_eq!(get("/no/such/thing").status, 404);
    let v: serde_json::Value = serde_json::from_slice(&get("/version").body).expect("json");
    assert_eq!(v["version"], "1.11.0");
    for p in ["/state", "/state.json", "/master/state.json"] {
        let r = get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.headers.get("content-type"), Some("application/json"));
    }
}

#[test]
fn subscribed_event_and_heartbeats() {
    let c = cluster();
    // No Accept header: JSON.
    let body = codec::encode(&subscribe_call(framework("hb")), Encoding::Json);
    let mut conn = connect(&c);
    conn.send_request(
        "POST",
        PATH,
        &Headers::default().with("Content-Type", "application/json"),
        &body,
    )
    .expect("send");
    let (status, h) = conn.read_response_head().expect("head");
    assert_eq!(status, 200);
    assert_eq!(h.get("content-type"), Some("application/json"));
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut stream = conn.into_stream(&h);
    let mut dec = recordio::Decoder::default();
    let mut events = vec![];
    let t0 = Instant::now();
    while events
        .iter()
        .filter(|e: &&Event| e.r#type() == event::Type::Heartbeat)
        .count()
        < 2
    {
        let mut buf = vec![];
        assert!(stream.read_data(&mut buf).expect("read") > 0);
        dec.feed(&buf);
        while let Some(rec) = dec.next_record().expect("record") {
            events.push(codec::decode::<Event>(&rec, Encoding::Json, true).expect("event"));
        }
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(events[0].r#type(), event::Type::Subscribed);
    assert_eq!(
        events[1].r#type(),
        event::Type::Heartbeat,
        "heartbeat right after SUBSCRIBED"
    );
    let sub = events[0].subscribed.clone().expect("subscribed");
    assert_eq!(sub.heartbeat_interval_seconds, Some(1.0));
    let mi = sub.master_info.expect("master info");
    assert_eq!(mi.port, u32::from(c.addr().port()));
    assert_eq!(mi.ip, u32::from_ne_bytes([127, 0, 0, 1]));
    assert_eq!(mi.version.as_deref(), Some("1.11.0"));
    assert_eq!(
        mi.pid,
        Some(format!("master@127.0.0.1:{}", c.addr().port()))
    );
    assert_eq!(
        mi.address.expect("address").ip.as_deref(),
        Some("127.0.0.1")
    );
    assert!(sub.framework_id.value.starts_with(&mi.id));
    // As a 1.11 master: AGENT_UPDATE, AGENT_DRAINING and an unnamed one
    // (QUOTA_V2, `{}` in JSON).
    let caps: Vec<Option<i32>> = mi.capabilities.iter().map(|c| c.r#type).collect();
    assert_eq!(caps, [Some(1), Some(2), None]);
}

#[test]
fn task_group_on_the_default_executor() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("group"));
    let offer = s.offers().remove(0);
    let executor = pb::ExecutorInfo {
        r#type: Some(pb::executor_info::Type::Default as i32),
        executor_id: pb::ExecutorId {
            value: "grp".into(),
        },
        framework_id: Some(s.framework_id()),
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 32.0),
            scalar("disk", 10.0),
        ],
        ..Default::default()
    };
    let tasks = vec![
        command_task(&offer, "g1", "echo one"),
        command_task(&offer, "g2", "echo two"),
    ];
    s.accept(
        vec![offer.id.clone()],
        vec![pb::offer::Operation {
            r#type: Some(pb::offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(pb::offer::operation::LaunchGroup {
                executor,
                task_group: pb::TaskGroupInfo { tasks },
            }),
            ..Default::default()
        }],
    );
    for id in ["g1", "g2"] {
        for st in [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished,
        ] {
            let u = s.update(id, st);
            assert_eq!(
                u.executor_id.as_ref().map(|e| e.value.as_str()),
                Some("grp")
            );
            s.ack(&u);
        }
    }
    let out = find_file(c.work_dir(), "stdout", "/tasks/g2").expect("g2 stdout");
    assert_eq!(std::fs::read_to_string(out).expect("read"), "two\n");
    let failure = s
        .expect(|e| e.r#type() == event::Type::Failure)
        .failure
        .expect("failure");
    assert_eq!(failure.executor_id.map(|e| e.value), Some("grp".into()));
}

/// A third-party client, unchanged: pymesos (skipped unless
/// `test/pymesos/setup` has created `target/pymesos-venv`).
#[test]
fn pymesos_runs_a_task() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/pymesos-venv/bin/python");
    if !python.exists() {
        eprintln!("skipped: no target/pymesos-venv (run test/pymesos/setup)");
        return;
    }
    let c = cluster();
    let out = std::process::Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(root.join("test/pymesos/scheduler.py"))
        .arg(c.addr().to_string())
        .output()
        .expect("run pymesos");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("update pymesos-task TASK_RUNNING"), "{text}");
    assert!(text.contains("update pymesos-task TASK_FINISHED"), "{text}");
}

// ------------------------------------------------------------ custom executors

/// When run as an executor (see `executor_command`), this "test" is a small
/// executor speaking the executor HTTP API: it runs each launched task to
/// RUNNING, then FINISHED unless the task is named "wait" (which waits for a
/// KILL), echoes MESSAGEs back, and on SHUTDOWN kills its tasks and exits.
#[test]
fn test_executor_process() {
    if std::env::var("LOCAL_CLUSTER_TEST_EXECUTOR").is_err() {
        return;
    }
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
    let (fw, exec, endpoint) = (
        env("MESOS_FRAMEWORK_ID"),
        env("MESOS_EXECUTOR_ID"),
        env("MESOS_AGENT_ENDPOINT"),
    );
    assert!(std::env::var("MESOS_SLAVE_PID").is_ok_and(|p| p.starts_with("slave(1)@")));
    assert_eq!(std::env::var("MESOS_CHECKPOINT").as_deref(), Ok("0"));
    let (host, port) = endpoint.rsplit_once(':').expect("ip:port");
    let port: u16 = port.parse().expect("port");
    let enc = Encoding::Protobuf;
    let path = "/api/v1/executor";
    let base = || pb::executor::Call {
        executor_id: pb::ExecutorId {
            value: exec.clone(),
        },
        framework_id: pb::FrameworkId { value: fw.clone() },
        ..Default::default()
    };
    let mut conn = Conn::connect(host, port, Duration::from_secs(5)).expect("connect");
    let sub = pb::executor::Call {
        r#type: Some(pb::executor::call::Type::Subscribe as i32),
        subscribe: Some(Default::default()),
        ..base()
    };
    let headers = Headers::default()
        .with("Content-Type", enc.content_type())
        .with("Accept", enc.content_type());
    conn.send_request("POST", path, &headers, &codec::encode(&sub, enc))
        .expect("subscribe");
    let (status, h) = conn.read_response_head().expect("head");
    assert_eq!(status, 200);
    let mut stream = conn.into_stream(&h);
    let mut calls = Conn::connect(host, port, Duration::from_secs(5)).expect("connect");
    let call = |calls: &mut Conn, c: pb::executor::Call| {
        let h = Headers::default().with("Content-Type", enc.content_type());
        let r = calls
            .roundtrip("POST", path, &h, &codec::encode(&c, enc))
            .expect("call");
        assert_eq!(r.status, 202, "{}", r.body_text());
    };
    let update = |task: &pb::TaskId, state: TaskState| pb::executor::Call {
        r#type: Some(pb::executor::call::Type::Update as i32),
        update: Some(pb::executor::call::Update {
            status: pb::TaskStatus {
                task_id: task.clone(),
                state: state as i32,
                source: Some(pb::task_status::Source::Executor as i32),
                uuid: Some(mesos::uuid::v4().to_vec()),
                ..Default::default()
            },
        }),
        ..base()
    };
    let mut dec = recordio::Decoder::default();
    let mut running: Vec<pb::TaskId> = vec![];
    loop {
        let mut buf = vec![];
        match stream.read_data(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => dec.feed(&buf),
        }
        while let Some(rec) = dec.next_record().expect("record") {
            let ev: pb::executor::Event = codec::decode(&rec, enc, true).expect("event");
            use pb::executor::event::Type as T;
            match ev.r#type() {
                T::Launch => {
                    let task = ev.launch.expect("launch").task;
                    call(&mut calls, update(&task.task_id, TaskState::TaskRunning));
                    if task.name == "wait" {
                        running.push(task.task_id);
                    } else {
                        call(&mut calls, update(&task.task_id, TaskState::TaskFinished));
                    }
                }
                T::Kill => {
                    let id = ev.kill.expect("kill").task_id;
                    running.retain(|t| t != &id);
                    call(&mut calls, update(&id, TaskState::TaskKilled));
                }
                T::Message => {
                    let data = ev.message.expect("message").data;
                    let mut echo = b"echo:".to_vec();
                    echo.extend(data);
                    call(
                        &mut calls,
                        pb::executor::Call {
                            r#type: Some(pb::executor::call::Type::Message as i32),
                            message: Some(pb::executor::call::Message { data: echo }),
                            ..base()
                        },
                    );
                }
                T::Shutdown => {
                    for id in std::mem::take(&mut running) {
                        call(&mut calls, update(&id, TaskState::TaskKilled));
                    }
                    std::process::exit(0);
                }
                _ => {}
            }
        }
    }
    std::process::exit(0);
}

fn executor_info(s: &Sched, id: &str) -> pb::ExecutorInfo {
    let exe = std::env::current_exe()
        .expect("test binary")
        .display()
        .to_string();
    pb::ExecutorInfo {
        r#type: Some(pb::executor_info::Type::Custom as i32),
        executor_id: pb::ExecutorId { value: id.into() },
        framework_id: Some(s.framework_id()),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(pb::CommandInfo {
            shell: Some(false),
            value: Some(exe.clone()),
            arguments: vec![
                exe,
                "--exact".into(),
                "test_executor_process".into(),
                "--nocapture".into(),
                "--test-threads=1".into(),
            ],
            environment: Some(pb::Environment {
                variables: vec![pb::environment::Variable {
                    name: "LOCAL_CLUSTER_TEST_EXECUTOR".into(),
                    value: Some("1".into()),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn custom_executor_over_the_executor_api() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("custom"));
    let offer = s.offers().remove(0);
    let exec = executor_info(&s, "exec-1");
    let mut finish = command_task(&offer, "c1", "");
    finish.command = None;
    finish.executor = Some(exec.clone());
    let mut wait = finish.clone();
    wait.task_id.value = "c2".into();
    wait.name = "wait".into();
    s.launch(&offer, vec![finish, wait]);

    for st in [TaskState::TaskRunning, TaskState::TaskFinished] {
        let u = s.update("c1", st);
        assert_eq!(u.source(), pb::task_status::Source::Executor);
        assert_eq!(
            u.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("exec-1")
        );
        assert_eq!(u.agent_id, Some(offer.agent_id.clone()));
        s.ack(&u);
    }
    let running = s.update("c2", TaskState::TaskRunning);
    s.ack(&running);
    // The executor sent no timestamp: the agent stamps the update.
    assert!(running.timestamp.is_some_and(|t| t > 1.0e9), "{running:?}");
    // The agent adds the container's status to TASK_RUNNING, as Mesos does.
    let cs = running.container_status.as_ref().expect("container_status");
    assert!(
        cs.container_id
            .as_ref()
            .is_some_and(|c| !c.value.is_empty())
    );
    assert!(cs.executor_pid.is_some_and(|p| p > 0), "{cs:?}");
    let ips: Vec<Option<&str>> = cs
        .network_infos
        .iter()
        .flat_map(|n| &n.ip_addresses)
        .map(|a| a.ip_address.as_deref())
        .collect();
    assert_eq!(ips, [Some("127.0.0.1")]);

    // Framework messages both ways.
    s.call_ok(Call {
        r#type: Some(call::Type::Message as i32),
        message: Some(call::Message {
            agent_id: offer.agent_id.clone(),
            executor_id: pb::ExecutorId {
                value: "exec-1".into(),
            },
            data: b"ping".to_vec(),
        }),
        ..Default::default()
    });
    let msg = s
        .expect(|e| e.r#type() == event::Type::Message)
        .message
        .expect("message");
    assert_eq!(msg.data, b"echo:ping");
    assert_eq!(msg.executor_id.value, "exec-1");
    assert_eq!(msg.agent_id, offer.agent_id);

    // The executor shows in later offers of that agent.
    let next = s.offers().remove(0);
    assert!(
        next.executor_ids.iter().any(|e| e.value == "exec-1"),
        "{next:?}"
    );

    // KILL goes to the executor.
    s.call_ok(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId { value: "c2".into() },
            ..Default::default()
        }),
        ..Default::default()
    });
    let killed = s.update("c2", TaskState::TaskKilled);
    assert_eq!(killed.source(), pb::task_status::Source::Executor);
    s.ack(&killed);

    // SHUTDOWN: the executor exits; the scheduler hears FAILURE.
    s.call_ok(Call {
        r#type: Some(call::Type::Shutdown as i32),
        shutdown: Some(call::Shutdown {
            executor_id: pb::ExecutorId {
                value: "exec-1".into(),
            },
            agent_id: offer.agent_id.clone(),
        }),
        ..Default::default()
    });
    let failure = s
        .expect(|e| e.r#type() == event::Type::Failure)
        .failure
        .expect("failure");
    assert_eq!(failure.executor_id.map(|e| e.value), Some("exec-1".into()));
    assert_eq!(failure.status, Some(0));
}

#[test]
fn executor_api_http_rules() {
    let c = cluster();
    let agent = c.agent_addr(0).expect("agent");
    let connect_agent =
        || Conn::connect("127.0.0.1", agent.port(), Duration::from_secs(5)).expect("connect");
    let post_exec = |path: &str, headers: Headers, body: &[u8]| {
        connect_agent()
            .roundtrip("POST", path, &headers, body)
            .expect("post")
    };
    let json = || Headers::default().with("Content-Type", "application/json");
    let hb = br#"{"type":"HEARTBEAT","executor_id":{"value":"unused"},"framework_id":{"value":"unused"}}"#;
    assert_eq!(post_exec("/api/v1/executor", json(), hb).status, 202);
    assert_eq!(
        post_exec("/slave(1)/api/v1/executor", json(), hb).status,
        202
    );
    let r = connect_agent()
        .roundtrip("GET", "/api/v1/executor", &Headers::default(), &[])
        .expect("get");
    assert_eq!(r.status, 405);
    // The master does not serve the executor API.
    let r = connect(&c)
        .roundtrip("POST", "/api/v1/executor", &json(), hb)
        .expect("post");
    assert_eq!(r.status, 404);
    assert_eq!(
        post_exec("/api/v1/executor", Headers::default(), hb).status,
        400
    );
    let r = post_exec(
        "/api/v1/executor",
        Headers::default().with("Content-Type", "text/plain"),
        hb,
    );
    assert_eq!(r.status, 415);
    let sub = br#"{"type":"SUBSCRIBE","executor_id":{"value":"e"},"framework_id":{"value":"f"},"subscribe":{}}"#;
    let r = post_exec("/api/v1/executor", json(), sub);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (400, "Framework cannot be found")
    );
    let r = post_exec("/api/v1/executor", json().with("Accept", "text/html"), sub);
    assert_eq!(r.status, 406);
    let nosub = br#"{"type":"SUBSCRIBE","executor_id":{"value":"e"},"framework_id":{"value":"f"}}"#;
    assert_eq!(post_exec("/api/v1/executor", json(), nosub).status, 400);
    let bad_update = br#"{"type":"UPDATE","executor_id":{"value":"e"},"framework_id":{"value":"f"},
        "update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAEC"}}}"#;
    assert_eq!(
        post_exec("/api/v1/executor", json(), bad_update).status,
        400
    );
    // The agent state endpoint, on the agent and (for convenience) on the
    // master's port.
    for conn in [connect_agent(), connect(&c)] {
        let mut conn = conn;
        let r = conn
            .roundtrip("GET", "/slave(1)/state", &Headers::default(), &[])
            .expect("get");
        assert_eq!(r.status, 200);
        let state: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(state["pid"], format!("slave(1)@{agent}").as_str());
        // As a Mesos agent's: the master's hostname and the agent's flags.
        assert_eq!(state["master_hostname"], "127.0.0.1");
        assert_eq!(state["flags"]["executor_registration_timeout"], "1mins");
    }
}

#[test]
fn command_environment_argv_and_uris() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("env"));
    let offer = s.offers().remove(0);
    let script = c.work_dir().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho fetched \"$1\"\n").expect("write script");

    let mut env_task = command_task(
        &offer,
        "env",
        "echo $MESOS_TASK_ID $MESOS_EXECUTOR_ID $MESOS_FRAMEWORK_ID $MESOS_SLAVE_ID \
         $MESOS_CHECKPOINT $MESOS_AGENT_ENDPOINT $GREETING; \
         test \"$MESOS_SANDBOX\" = \"$PWD\" && test \"$MESOS_DIRECTORY\" = \"$PWD\" && echo sandbox-ok; \
         ./hello.sh arg",
    );
    if let Some(cmd) = &mut env_task.command {
        cmd.environment = Some(pb::Environment {
            variables: vec![pb::environment::Variable {
                name: "GREETING".into(),
                value: Some("hello".into()),
                ..Default::default()
            }],
        });
        cmd.uris = vec![pb::command_info::Uri {
            value: script.display().to_string(),
            executable: Some(true),
            ..Default::default()
        }];
    }
    let mut argv_task = command_task(&offer, "argv", "");
    argv_task.command = Some(pb::CommandInfo {
        shell: Some(false),
        value: Some("/bin/echo".into()),
        arguments: vec!["echo".into(), "a b".into(), "$HOME".into()],
        ..Default::default()
    });
    s.launch(&offer, vec![env_task, argv_task]);
    for id in ["env", "argv"] {
        for st in [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished,
        ] {
            let u = s.update(id, st);
            s.ack(&u);
        }
    }
    let out = |id: &str| {
        let p =
            find_file(c.work_dir(), "stdout", &format!("/executors/{id}/runs/")).expect("stdout");
        std::fs::read_to_string(p).expect("read")
    };
    let expected = format!(
        "env env {} {} 0 {} hello\nsandbox-ok\nfetched arg\n",
        s.framework_id,
        offer.agent_id.value,
        c.agent_addr(0).expect("agent")
    );
    assert_eq!(out("env"), expected);
    assert_eq!(out("argv"), "a b $HOME\n");
}

#[test]
fn two_agents() {
    let c = LocalCluster::start(ClusterConfig {
        agents: 2,
        agent_resources: "cpus:1;mem:256".into(),
        ..config()
    })
    .expect("cluster starts");
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("two"));
    let mut offers = vec![];
    while offers.len() < 2 {
        offers.extend(s.offers());
    }
    assert_ne!(offers[0].agent_id, offers[1].agent_id);
    // Each agent is slave(1) on its own port.
    let urls: Vec<_> = offers
        .iter()
        .filter_map(|o| Some((o.url.as_ref()?.path.clone()?, o.url.as_ref()?.address.port)))
        .collect();
    let ports: Vec<i32> = [0, 1]
        .iter()
        .map(|i| i32::from(c.agent_addr(*i).expect("agent").port()))
        .collect();
    assert_eq!(urls.len(), 2);
    for (path, port) in &urls {
        assert_eq!(path, "/slave(1)");
        assert!(ports.contains(port), "{port} not in {ports:?}");
    }
    assert_ne!(urls[0].1, urls[1].1);
    // Offers of two agents cannot be aggregated.
    let ids = offers.iter().map(|o| o.id.clone()).collect();
    s.accept(
        ids,
        vec![launch_op(vec![command_task(&offers[0], "agg", "true")])],
    );
    let lost = s.update("agg", TaskState::TaskLost);
    assert!(
        lost.message
            .as_deref()
            .unwrap_or("")
            .contains("one single agent"),
        "{:?}",
        lost.message
    );
    // One task on each agent.
    let mut offers = vec![];
    while offers.len() < 2 {
        offers.extend(s.offers());
    }
    for (i, o) in offers.iter().enumerate() {
        s.launch(o, vec![command_task(o, &format!("on{i}"), "true")]);
    }
    for (i, o) in offers.iter().enumerate() {
        let st = s.update(&format!("on{i}"), TaskState::TaskStarting);
        assert_eq!(st.agent_id, Some(o.agent_id.clone()));
    }
    let state: serde_json::Value = serde_json::from_slice(&s.get("/state").body).expect("json");
    assert_eq!(state["slaves"].as_array().map(Vec::len), Some(2));
    let r = s.get("/slave(2)/state");
    let agent: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let second = offers
        .iter()
        .find(|o| o.agent_id.value == c.agent_id(1).expect("second agent"))
        .expect("an offer of the second agent");
    assert_eq!(agent["id"], second.agent_id.value.as_str());
    assert_eq!(s.get("/slave(3)/state").status, 404);
}

#[test]
fn in_flight_update_is_resent_on_resubscribe() {
    let c = LocalCluster::start(ClusterConfig {
        status_update_retry: Duration::from_secs(60),
        ..config()
    })
    .expect("cluster starts");
    let mut info = framework("resend");
    info.failover_timeout = Some(60.0);
    let mut s = Sched::subscribe(&c, Encoding::Json, info.clone());
    let offer = s.offers().remove(0);
    s.launch(&offer, vec![command_task(&offer, "t", "sleep 100")]);
    let first = s.update("t", TaskState::TaskStarting);
    info.id = Some(s.framework_id());
    drop(s);
    let t0 = Instant::now();
    let mut s2 = Sched::subscribe(&c, Encoding::Protobuf, info);
    let again = s2.update("t", TaskState::TaskStarting);
    assert_eq!(again.uuid, first.uuid);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "resent on resubscription, not by the retry timer"
    );
    s2.ack(&again);
    s2.update("t", TaskState::TaskRunning);
}

#[test]
fn max_completion_time_and_executor_launch_failure() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("limits"));
    let offer = s.offers().remove(0);
    let mut slow = command_task(&offer, "slow", "sleep 100");
    slow.max_completion_time = Some(pb::DurationInfo {
        nanoseconds: 200_000_000,
    });
    let mut broken = command_task(&offer, "broken", "");
    broken.command = None;
    let mut exec = executor_info(&s, "missing");
    if let Some(cmd) = &mut exec.command {
        cmd.value = Some("/nonexistent/executor".into());
        cmd.arguments.clear();
    }
    broken.executor = Some(exec);
    s.launch(&offer, vec![slow, broken]);
    for st in [TaskState::TaskStarting, TaskState::TaskRunning] {
        let u = s.update("slow", st);
        s.ack(&u);
    }
    let failed = s.update("slow", TaskState::TaskFailed);
    assert_eq!(
        failed.reason(),
        pb::task_status::Reason::MaxCompletionTimeReached
    );
    let failed = s.update("broken", TaskState::TaskFailed);
    assert_eq!(
        failed.reason(),
        pb::task_status::Reason::ContainerLaunchFailed
    );
    assert_eq!(failed.source(), pb::task_status::Source::Agent);
    let failure = s
        .expect(|e| e.r#type() == event::Type::Failure)
        .failure
        .expect("failure");
    assert_eq!(failure.executor_id.map(|e| e.value), Some("missing".into()));
}

#[test]
fn leftover_processes_of_a_finished_task_are_killed() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("orphans"));
    let offer = s.offers().remove(0);
    s.launch(
        &offer,
        vec![command_task(&offer, "bg", "sleep 100 & echo $! > bg.pid")],
    );
    for st in [
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskFinished,
    ] {
        let u = s.update("bg", st);
        s.ack(&u);
    }
    let pidfile = find_file(c.work_dir(), "bg.pid", "/executors/bg/").expect("pid file");
    let pid: i32 = std::fs::read_to_string(pidfile)
        .expect("read")
        .trim()
        .parse()
        .expect("pid");
    let deadline = Instant::now() + WAIT;
    // SAFETY: kill(pid, 0) only checks for existence.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            Instant::now() < deadline,
            "background process {pid} survived its task"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn calls_without_much_to_do() {
    let c = cluster();
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("misc"));
    let ok = |s: &mut Sched, c: Call| {
        let r = s.call(c);
        assert_eq!(r.status, 202, "{}", r.body_text());
    };
    ok(
        &mut s,
        Call {
            r#type: Some(call::Type::ReconcileOperations as i32),
            reconcile_operations: Some(call::ReconcileOperations {
                operations: vec![call::reconcile_operations::Operation {
                    operation_id: pb::OperationId { value: "op".into() },
                    ..Default::default()
                }],
            }),
            ..Default::default()
        },
    );
    let st = s
        .expect(|e| e.r#type() == event::Type::UpdateOperationStatus)
        .update_operation_status
        .expect("status")
        .status;
    assert_eq!(st.state(), pb::OperationState::OperationUnknown);
    assert!(st.uuid.is_none());
    ok(
        &mut s,
        Call {
            r#type: Some(call::Type::Request as i32),
            request: Some(call::Request { requests: vec![] }),
            ..Default::default()
        },
    );
    ok(
        &mut s,
        Call {
            r#type: Some(call::Type::DeclineInverseOffers as i32),
            decline_inverse_offers: Some(call::DeclineInverseOffers::default()),
            ..Default::default()
        },
    );
    ok(
        &mut s,
        Call {
            r#type: Some(call::Type::AcknowledgeOperationStatus as i32),
            acknowledge_operation_status: Some(call::AcknowledgeOperationStatus {
                agent_id: Some(pb::AgentId { value: "a".into() }),
                uuid: mesos::uuid::v4().to_vec(),
                operation_id: pb::OperationId { value: "op".into() },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    // MESSAGE to a command executor: accepted, dropped.
    ok(
        &mut s,
        Call {
            r#type: Some(call::Type::Message as i32),
            message: Some(call::Message {
                agent_id: pb::AgentId { value: "a".into() },
                executor_id: pb::ExecutorId { value: "e".into() },
                data: b"x".to_vec(),
            }),
            ..Default::default()
        },
    );
}
