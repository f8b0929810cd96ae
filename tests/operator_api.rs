//! The local cluster's operator API over HTTP, in both encodings: the
//! master's and the agents' `/api/v1` read calls, the SUBSCRIBE stream and
//! its events, and the calls with effects (TEARDOWN, DEACTIVATE_AGENT,
//! REACTIVATE_AGENT, DRAIN_AGENT, MARK_AGENT_GONE), plus adding and
//! removing agents, files, and the master's other JSON endpoints.

mod support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mesos::http::Headers;
use mesos::http::client::{OwnedBodyStream, Response, is_timeout};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::master::{self as op, call::Type as C, event::Type as E};
use mesos::wire::pb::scheduler::event;
use mesos::wire::pb::{self, TaskState};
use mesos::wire::recordio;
use support::*;

fn cluster(agents: usize) -> LocalCluster {
    LocalCluster::start(ClusterConfig {
        agents,
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_millis(200),
        ..Default::default()
    })
    .expect("cluster starts")
}

fn agent_id(value: &str) -> pb::AgentId {
    pb::AgentId {
        value: value.into(),
    }
}

/// POSTs an operator call to `port` (the master's or an agent's).
fn post_to(port: u16, path: &str, enc: Encoding, body: &[u8]) -> Response {
    let headers = Headers::default()
        .with("Content-Type", enc.content_type())
        .with("Accept", enc.content_type());
    connect_to(port)
        .roundtrip("POST", path, &headers, body)
        .expect("roundtrip")
}

/// A master operator call; the answer and, on 200 with a body, the decoded
/// response.
fn master_call(
    c: &LocalCluster,
    enc: Encoding,
    call: op::Call,
) -> (Response, Option<op::Response>) {
    let r = post_to(c.addr().port(), "/api/v1", enc, &codec::encode(&call, enc));
    let decoded = (r.status == 200 && !r.body.is_empty())
        .then(|| codec::decode::<op::Response>(&r.body, enc, true).expect("response decodes"));
    (r, decoded)
}

fn call_of(t: C) -> op::Call {
    op::Call {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn ask(c: &LocalCluster, t: C) -> op::Response {
    master_call(c, Encoding::Protobuf, call_of(t))
        .1
        .expect("a response")
}

fn agents(c: &LocalCluster) -> Vec<op::response::get_agents::Agent> {
    ask(c, C::GetAgents).get_agents.expect("get_agents").agents
}

fn agent_of<'a>(
    list: &'a [op::response::get_agents::Agent],
    id: &str,
) -> Option<&'a op::response::get_agents::Agent> {
    list.iter()
        .find(|a| a.agent_info.id.as_ref().is_some_and(|i| i.value == id))
}

/// An operator call that answers with an empty 200, or its status and body.
fn effect(c: &LocalCluster, call: op::Call) -> Result<(), (u16, String)> {
    let (r, _) = master_call(c, Encoding::Json, call);
    if r.status == 200 && r.body.is_empty() {
        Ok(())
    } else {
        Err((r.status, r.body_text()))
    }
}

fn deactivate(id: &str) -> op::Call {
    op::Call {
        deactivate_agent: Some(op::call::DeactivateAgent {
            agent_id: agent_id(id),
        }),
        ..call_of(C::DeactivateAgent)
    }
}

fn reactivate(id: &str) -> op::Call {
    op::Call {
        reactivate_agent: Some(op::call::ReactivateAgent {
            agent_id: agent_id(id),
        }),
        ..call_of(C::ReactivateAgent)
    }
}

fn drain(id: &str, grace_secs: Option<i64>, mark_gone: bool) -> op::Call {
    op::Call {
        drain_agent: Some(op::call::DrainAgent {
            agent_id: agent_id(id),
            max_grace_period: grace_secs.map(|s| pb::google::protobuf::Duration {
                seconds: s,
                nanos: 0,
            }),
            mark_gone: Some(mark_gone),
        }),
        ..call_of(C::DrainAgent)
    }
}

fn mark_gone(id: &str) -> op::Call {
    op::Call {
        mark_agent_gone: Some(op::call::MarkAgentGone {
            agent_id: agent_id(id),
        }),
        ..call_of(C::MarkAgentGone)
    }
}

/// An operator SUBSCRIBE stream.
struct OpStream {
    enc: Encoding,
    stream: OwnedBodyStream,
    dec: recordio::Decoder,
    backlog: VecDeque<op::Event>,
}

impl OpStream {
    fn open(c: &LocalCluster, enc: Encoding) -> OpStream {
        let mut conn = connect(c);
        let headers = Headers::default()
            .with("Content-Type", enc.content_type())
            .with("Accept", enc.content_type());
        let body = codec::encode(&call_of(C::Subscribe), enc);
        conn.send_request("POST", "/api/v1", &headers, &body)
            .expect("send");
        let (status, h) = conn.read_response_head().expect("head");
        assert_eq!(status, 200);
        assert_eq!(h.get("content-type"), Some(enc.content_type()));
        assert!(h.is_chunked());
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        OpStream {
            enc,
            stream: conn.into_stream(&h),
            dec: recordio::Decoder::default(),
            backlog: VecDeque::new(),
        }
    }

    fn next(&mut self, deadline: Instant) -> Option<op::Event> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(e);
        }
        loop {
            if let Some(rec) = self.dec.next_record().expect("recordio") {
                return Some(codec::decode(&rec, self.enc, true).expect("event decodes"));
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut buf = vec![];
            match self.stream.read_data(&mut buf) {
                Ok(0) => return None,
                Ok(_) => self.dec.feed(&buf),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next event of type `t`; the events before it, in order.
    fn until(&mut self, t: E) -> (op::Event, Vec<op::Event>) {
        let deadline = Instant::now() + WAIT;
        let mut before = vec![];
        while let Some(e) = self.next(deadline) {
            if e.r#type() == t {
                return (e, before);
            }
            before.push(e);
        }
        let seen: Vec<E> = before.iter().map(|e| e.r#type()).collect();
        panic!("no {t:?} event; had {seen:?}")
    }

    /// The next TASK_UPDATED of `task` to `state`.
    fn task_updated(&mut self, task: &str, state: TaskState) -> op::event::TaskUpdated {
        loop {
            let (e, _) = self.until(E::TaskUpdated);
            let u = e.task_updated.expect("task_updated");
            if u.status.task_id.value == task && u.state() == state {
                return u;
            }
        }
    }
}

fn subscribe_and_stream(enc: Encoding) {
    let c = cluster(1);
    let mut ops = OpStream::open(&c, enc);
    let first = ops.next(Instant::now() + WAIT).expect("SUBSCRIBED");
    assert_eq!(first.r#type(), E::Subscribed);
    let sub = first.subscribed.expect("subscribed");
    assert_eq!(sub.heartbeat_interval_seconds, Some(1.0));
    let state = sub.get_state.expect("get_state");
    let listed = state.get_agents.expect("get_agents").agents;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].agent_info.id.as_ref().map(|i| i.value.as_str()),
        c.agent_id(0)
    );
    let second = ops.next(Instant::now() + WAIT).expect("HEARTBEAT");
    assert_eq!(second.r#type(), E::Heartbeat);

    let mut s = Sched::subscribe(&c, Encoding::Json, framework("watched"));
    let (added, _) = ops.until(E::FrameworkAdded);
    let f = added.framework_added.expect("framework_added").framework;
    assert_eq!(f.framework_info.name, "watched");
    assert!(f.active && f.connected && !f.recovered);
    assert_eq!(f.unregistered_time.map(|t| t.nanoseconds), Some(0));

    s.run("w1", "sleep 30");
    let (task, _) = ops.until(E::TaskAdded);
    let task = task.task_added.expect("task_added").task;
    assert_eq!(task.task_id.value, "w1");
    assert_eq!(task.state(), TaskState::TaskStaging);
    assert!(task.statuses.is_empty());
    let running = ops.task_updated("w1", TaskState::TaskRunning);
    assert_eq!(running.framework_id.value, s.framework_id);
    assert_eq!(running.status.state(), TaskState::TaskRunning);

    // Heartbeats keep coming (every second here).
    ops.until(E::Heartbeat);

    // TEARDOWN: the task is killed by the master, then the framework goes.
    s.simple(pb::scheduler::call::Type::Teardown);
    let killed = ops.task_updated("w1", TaskState::TaskKilled);
    assert_eq!(
        killed.status.reason(),
        pb::task_status::Reason::FrameworkRemoved
    );
    assert_eq!(killed.status.source(), pb::task_status::Source::Master);
    assert_eq!(
        killed.status.message.as_deref(),
        Some(format!("Framework {} removed", s.framework_id).as_str())
    );
    let (removed, _) = ops.until(E::FrameworkRemoved);
    assert_eq!(
        removed
            .framework_removed
            .expect("framework_removed")
            .framework_info
            .name,
        "watched"
    );
    assert!(s.wait_eof());
}

#[test]
fn subscribe_streams_state_then_events_json() {
    subscribe_and_stream(Encoding::Json);
}

#[test]
fn subscribe_streams_state_then_events_protobuf() {
    subscribe_and_stream(Encoding::Protobuf);
}

#[test]
fn http_rules_of_the_operator_endpoint() {
    let c = cluster(1);
    let port = c.addr().port();
    let mut conn = connect(&c);
    let r = conn
        .roundtrip("GET", "/api/v1", &Headers::default(), &[])
        .expect("get");
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow"), Some("POST"));
    let json = |body: &str, accept: &str| {
        let h = Headers::default()
            .with("Content-Type", "application/json")
            .with("Accept", accept);
        connect_to(port)
            .roundtrip("POST", "/api/v1", &h, body.as_bytes())
            .expect("post")
    };
    let r = json(r#"{"type":"GET_METRICS"}"#, "application/json");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (
            400,
            "Failed to validate master::Call: Expecting 'get_metrics' to be present"
        )
    );
    // Validation comes before the Accept check.
    let r = json(r#"{"type":"GET_HEALTH"}"#, "text/html");
    assert_eq!(r.status, 406);
    let r = json(r#"{"type":"UNKNOWN"}"#, "application/json");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (501, "501 Not Implemented.")
    );
    let r = json(r#"{"type":"GET_HEALTH"}"#, "application/json");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body_text(),
        r#"{"type":"GET_HEALTH","get_health":{"healthy":true}}"#
    );
    // Lists Mesos always writes are there even when empty.
    let r = json(r#"{"type":"GET_STATE"}"#, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        v["get_state"]["get_agents"]["recovered_agents"],
        serde_json::json!([])
    );
    assert_eq!(
        v["get_state"]["get_tasks"]["completed_tasks"],
        serde_json::json!([])
    );
    assert_eq!(
        v["get_state"]["get_agents"]["agents"][0]["agent_info"]["checkpoint"],
        serde_json::json!(true)
    );
    let (r, _) = master_call(&c, Encoding::Json, call_of(C::ReserveResources));
    assert_eq!(r.status, 400);
}

#[test]
fn deactivated_agents_get_no_offers_until_reactivated() {
    let c = cluster(2);
    let (a0, a1) = (c.agent_id(0).expect("a0"), c.agent_id(1).expect("a1"));
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("deact"));
    // Hold an offer of each agent.
    let mut held = vec![];
    while held.len() < 2 {
        held.extend(s.offers());
    }
    let of_a0 = held
        .iter()
        .find(|o| o.agent_id.value == a0)
        .expect("offer of a0")
        .id
        .clone();
    assert_eq!(
        effect(&c, deactivate("nope")),
        Err((400, "Unknown agent".into()))
    );
    assert_eq!(effect(&c, deactivate(a0)), Ok(()));
    let rescinded = s.expect(|e| e.r#type() == event::Type::Rescind);
    assert_eq!(rescinded.rescind.expect("rescind").offer_id, of_a0);
    let list = agents(&c);
    let a = agent_of(&list, a0).expect("still listed");
    assert!(!a.active);
    assert_eq!(a.deactivated, Some(true));
    assert!(a.offered_resources.is_empty());
    // Decline what is held, without a filter, a few rounds: every offer
    // that comes is of the other agent.
    for _ in 0..5 {
        let ids: Vec<pb::OfferId> = held.drain(..).map(|o| o.id).collect();
        s.call_ok(pb::scheduler::Call {
            r#type: Some(pb::scheduler::call::Type::Decline as i32),
            decline: Some(pb::scheduler::call::Decline {
                offer_ids: ids,
                filters: Some(pb::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Default::default()
        });
        held = s.offers();
        assert!(held.iter().all(|o| o.agent_id.value == a1), "{held:?}");
    }
    assert_eq!(effect(&c, deactivate(a0)), Ok(()));
    assert_eq!(effect(&c, reactivate(a0)), Ok(()));
    assert_eq!(
        effect(&c, reactivate(a0)),
        Err((400, "Agent is not deactivated".into()))
    );
    let back = s.expect(|e| {
        e.offers
            .as_ref()
            .is_some_and(|o| o.offers.iter().any(|o| o.agent_id.value == a0))
    });
    assert!(back.offers.is_some());
    assert!(agent_of(&agents(&c), a0).is_some_and(|a| a.active));
}

#[test]
fn drain_kills_tasks_and_the_agent_is_drained_once_they_are_acknowledged() {
    let c = cluster(1);
    let a0 = c.agent_id(0).expect("agent").to_string();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("drain"));
    s.run("d1", "sleep 60");
    let mut ops = OpStream::open(&c, Encoding::Json);
    assert_eq!(effect(&c, drain(&a0, Some(1), false)), Ok(()));
    let killed = s.update("d1", TaskState::TaskKilled);
    assert_eq!(killed.reason(), pb::task_status::Reason::AgentDraining);
    assert_eq!(killed.source(), pb::task_status::Source::Executor);
    let update = ops.task_updated("d1", TaskState::TaskKilled);
    assert_eq!(
        update.status.reason(),
        pb::task_status::Reason::AgentDraining
    );
    // Not acknowledged yet: the master still has the task, so the agent is
    // still draining.
    let list = agents(&c);
    let a = agent_of(&list, &a0).expect("agent");
    let info = a.drain_info.as_ref().expect("drain_info");
    assert_eq!(info.state(), pb::DrainState::Draining);
    assert_eq!(
        info.config.max_grace_period.map(|d| d.nanoseconds),
        Some(1_000_000_000)
    );
    assert!(a.estimated_drain_start_time.is_some());
    assert!(!a.active);
    assert_eq!(
        effect(&c, reactivate(&a0)),
        Err((400, "Agent is still in the DRAINING state".into()))
    );
    s.ack(&killed);
    assert!(wait_until(WAIT, || {
        agent_of(&agents(&c), &a0)
            .and_then(|a| a.drain_info.as_ref())
            .is_some_and(|d| d.state() == pb::DrainState::Drained)
    }));
    assert_eq!(effect(&c, reactivate(&a0)), Ok(()));
    let offer = s.offers().remove(0);
    assert_eq!(offer.agent_id.value, a0);
    assert!(agent_of(&agents(&c), &a0).is_some_and(|a| a.drain_info.is_none()));
}

#[test]
fn drain_with_mark_gone_removes_the_agent() {
    let c = cluster(1);
    let a0 = c.agent_id(0).expect("agent").to_string();
    let mut info = framework("drain-gone");
    info.capabilities = vec![capability(
        pb::framework_info::capability::Type::PartitionAware,
    )];
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, info);
    s.run("g1", "sleep 60");
    assert_eq!(effect(&c, drain(&a0, Some(1), true)), Ok(()));
    let gone = s.update("g1", TaskState::TaskGoneByOperator);
    assert_eq!(gone.reason(), pb::task_status::Reason::AgentDraining);
    s.ack(&gone);
    let failure = s.expect(|e| e.r#type() == event::Type::Failure);
    assert_eq!(
        failure.failure.expect("failure").agent_id.map(|a| a.value),
        Some(a0.clone())
    );
    assert!(agents(&c).is_empty());
    assert_eq!(effect(&c, mark_gone(&a0)), Ok(()));
}

/// Runs a command task on `agent` to RUNNING; every other resource the
/// framework is offered is refused for an hour, so that others get it.
fn run_on(s: &mut Sched, agent: &str, id: &str) {
    let refuse = Some(pb::Filters {
        refuse_seconds: Some(3600.0),
    });
    loop {
        let offers = s.offers();
        let (mine, others): (Vec<_>, Vec<_>) =
            offers.into_iter().partition(|o| o.agent_id.value == agent);
        if !others.is_empty() {
            s.call_ok(pb::scheduler::Call {
                r#type: Some(pb::scheduler::call::Type::Decline as i32),
                decline: Some(pb::scheduler::call::Decline {
                    offer_ids: others.into_iter().map(|o| o.id).collect(),
                    filters: refuse,
                }),
                ..Default::default()
            });
        }
        if let Some(o) = mine.first() {
            s.call_ok(pb::scheduler::Call {
                r#type: Some(pb::scheduler::call::Type::Accept as i32),
                accept: Some(pb::scheduler::call::Accept {
                    offer_ids: vec![o.id.clone()],
                    operations: vec![launch_op(vec![command_task(o, id, "sleep 60")])],
                    filters: refuse,
                }),
                ..Default::default()
            });
            break;
        }
    }
    let st = s.update(id, TaskState::TaskStarting);
    s.ack(&st);
    let st = s.update(id, TaskState::TaskRunning);
    s.ack(&st);
}

#[test]
fn marking_an_agent_gone_ends_its_tasks() {
    let c = cluster(2);
    let a0 = c.agent_id(0).expect("agent").to_string();
    let mut aware_info = framework("aware");
    aware_info.capabilities = vec![capability(
        pb::framework_info::capability::Type::PartitionAware,
    )];
    let mut aware = Sched::subscribe(&c, Encoding::Json, aware_info);
    run_on(&mut aware, &a0, "pa");
    let mut plain = Sched::subscribe(&c, Encoding::Protobuf, framework("plain"));
    run_on(&mut plain, &a0, "np");
    let mut ops = OpStream::open(&c, Encoding::Protobuf);
    ops.until(E::Heartbeat);
    assert_eq!(
        effect(&c, mark_gone("nope")),
        Err((404, "Agent 'nope' not found".into()))
    );
    assert_eq!(effect(&c, mark_gone(&a0)), Ok(()));
    let gone = aware.update("pa", TaskState::TaskGoneByOperator);
    assert_eq!(
        (gone.source(), gone.reason()),
        (
            pb::task_status::Source::Master,
            pb::task_status::Reason::AgentRemovedByOperator
        )
    );
    assert_eq!(gone.message.as_deref(), Some("Agent has been marked gone"));
    assert!(gone.uuid.is_none());
    let lost = plain.update("np", TaskState::TaskLost);
    assert_eq!(lost.reason(), pb::task_status::Reason::AgentRemoved);
    for s in [&mut aware, &mut plain] {
        let f = s.expect(|e| e.r#type() == event::Type::Failure);
        assert_eq!(
            f.failure.expect("failure").agent_id.map(|a| a.value),
            Some(a0.clone())
        );
    }
    ops.task_updated("pa", TaskState::TaskGoneByOperator);
    ops.task_updated("np", TaskState::TaskLost);
    // Mesos 1.11 sends no AGENT_REMOVED for a gone agent: the next event
    // after a new framework subscribes is its FRAMEWORK_ADDED.
    let _third = Sched::subscribe(&c, Encoding::Json, framework("third"));
    let (_, before) = ops.until(E::FrameworkAdded);
    assert!(
        before.iter().all(|e| e.r#type() != E::AgentRemoved),
        "{before:?}"
    );
    let list = agents(&c);
    assert!(agent_of(&list, &a0).is_none());
    assert_eq!(list.len(), 1);
    assert_eq!(effect(&c, mark_gone(&a0)), Ok(()));
    assert_eq!(
        effect(&c, deactivate(&a0)),
        Err((400, "Unknown agent".into()))
    );
    let tasks = ask(&c, C::GetTasks).get_tasks.expect("get_tasks");
    assert!(tasks.tasks.is_empty());
    let states: Vec<TaskState> = tasks.completed_tasks.iter().map(|t| t.state()).collect();
    assert!(states.contains(&TaskState::TaskGoneByOperator));
    assert!(states.contains(&TaskState::TaskLost));
}

#[test]
fn teardown_by_the_operator() {
    let c = cluster(1);
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("torn"));
    s.run("t1", "sleep 60");
    let teardown = |id: &str| op::Call {
        teardown: Some(op::call::Teardown {
            framework_id: pb::FrameworkId { value: id.into() },
        }),
        ..call_of(C::Teardown)
    };
    assert_eq!(
        effect(&c, teardown("nope")),
        Err((400, "No framework found with specified ID".into()))
    );
    assert_eq!(effect(&c, teardown(&s.framework_id)), Ok(()));
    assert!(s.wait_eof());
    let fws = ask(&c, C::GetFrameworks)
        .get_frameworks
        .expect("frameworks");
    assert!(fws.frameworks.is_empty());
    assert_eq!(fws.completed_frameworks.len(), 1);
    let tasks = master_call(&c, Encoding::Json, call_of(C::GetTasks))
        .1
        .and_then(|r| r.get_tasks)
        .expect("tasks");
    let t = &tasks.completed_tasks[0];
    assert_eq!(t.state(), TaskState::TaskKilled);
    assert_eq!(
        t.statuses.last().map(|s| s.reason()),
        Some(pb::task_status::Reason::FrameworkRemoved)
    );
    // Mesos's protobuf answer leaves removed frameworks' tasks out.
    let pb_tasks = ask(&c, C::GetTasks).get_tasks.expect("tasks");
    assert!(pb_tasks.completed_tasks.is_empty());
    assert_eq!(
        effect(&c, teardown(&s.framework_id)).map_err(|e| e.0),
        Err(400)
    );
}

#[test]
fn agents_added_and_removed_are_announced() {
    let mut c = cluster(1);
    let mut ops = OpStream::open(&c, Encoding::Json);
    ops.until(E::Heartbeat);
    let index = c.add_agent().expect("agent added");
    assert_eq!(index, 1);
    let new_id = c.agent_id(1).expect("new agent").to_string();
    let (added, _) = ops.until(E::AgentAdded);
    let agent = added.agent_added.expect("agent_added").agent;
    assert_eq!(agent.agent_info.id.map(|i| i.value), Some(new_id.clone()));
    assert!(agent.active);
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("moving"));
    let offer = loop {
        let offers = s.offers();
        if let Some(o) = offers.into_iter().find(|o| o.agent_id.value == new_id) {
            break o;
        }
    };
    s.launch(&offer, vec![command_task(&offer, "m1", "sleep 60")]);
    let st = s.update("m1", TaskState::TaskStarting);
    s.ack(&st);
    c.remove_agent(1).expect("removed");
    let lost = s.update("m1", TaskState::TaskLost);
    assert_eq!(lost.reason(), pb::task_status::Reason::AgentRemoved);
    assert_eq!(
        lost.message.as_deref(),
        Some("Agent 127.0.0.1 removed: the agent unregistered")
    );
    let (removed, _) = ops.until(E::AgentRemoved);
    assert_eq!(
        removed.agent_removed.expect("agent_removed").agent_id.value,
        new_id
    );
    assert!(c.start_agent(1).is_err());
    assert_eq!(agents(&c).len(), 1);
}

#[test]
fn agent_operator_api_files_and_json_endpoints() {
    let c = cluster(1);
    let agent_port = c.agent_addr(0).expect("agent").port();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("files"));
    s.run("f1", "echo hello-sandbox; sleep 60");
    let agent_call = |t: pb::agent::call::Type, enc: Encoding| {
        let call = pb::agent::Call {
            r#type: Some(t as i32),
            ..Default::default()
        };
        let r = post_to(
            agent_port,
            "/slave(1)/api/v1",
            enc,
            &codec::encode(&call, enc),
        );
        assert_eq!(r.status, 200, "{}", r.body_text());
        codec::decode::<pb::agent::Response>(&r.body, enc, true).expect("decodes")
    };
    use pb::agent::call::Type as A;
    let tasks = agent_call(A::GetTasks, Encoding::Protobuf)
        .get_tasks
        .expect("tasks");
    assert_eq!(tasks.launched_tasks.len(), 1);
    assert_eq!(tasks.launched_tasks[0].state(), TaskState::TaskRunning);
    let containers = agent_call(A::GetContainers, Encoding::Json)
        .get_containers
        .expect("a container")
        .containers;
    assert_eq!(containers.len(), 1);
    let stats = containers[0]
        .resource_statistics
        .as_ref()
        .expect("statistics");
    assert_eq!(stats.cpus_soft_limit, Some(0.2));
    assert!(stats.mem_rss_bytes.is_some_and(|b| b > 0));
    #[allow(deprecated)]
    let kill = pb::agent::Call {
        r#type: Some(A::KillNestedContainer as i32),
        kill_nested_container: Some(pb::agent::call::KillNestedContainer {
            container_id: pb::ContainerId {
                value: "c".into(),
                parent: Some(Box::new(pb::ContainerId {
                    value: "p".into(),
                    parent: None,
                })),
            },
            signal: None,
        }),
        ..Default::default()
    };
    let r = post_to(
        agent_port,
        "/api/v1",
        Encoding::Json,
        &codec::encode(&kill, Encoding::Json),
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (
            404,
            "Container 'p.c' cannot be found (or is already killed)"
        )
    );
    // The sandbox, through the master and through the agent.
    let path = format!(
        "/frameworks/{}/executors/f1/runs/latest/stdout",
        s.framework_id
    );
    let read = |port: u16| {
        let call = op::Call {
            read_file: Some(op::call::ReadFile {
                path: path.clone(),
                offset: 0,
                length: None,
            }),
            ..call_of(C::ReadFile)
        };
        let r = post_to(
            port,
            "/api/v1",
            Encoding::Protobuf,
            &codec::encode(&call, Encoding::Protobuf),
        );
        codec::decode::<op::Response>(&r.body, Encoding::Protobuf, true)
            .ok()
            .and_then(|r| r.read_file)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    assert!(wait_until(WAIT, || read(c.addr().port())
        .is_some_and(|d| d.contains("hello-sandbox"))));
    assert!(read(agent_port).is_some_and(|d| d.contains("hello-sandbox")));
    // The master's JSON endpoints.
    let get = |p: &str| -> serde_json::Value {
        let r = connect(&c)
            .roundtrip("GET", p, &Headers::default(), &[])
            .expect("get");
        assert_eq!(r.status, 200, "{p}");
        serde_json::from_slice(&r.body).expect("JSON")
    };
    let summary = get("/master/state-summary");
    assert_eq!(summary["slaves"][0]["TASK_RUNNING"], serde_json::json!(1));
    assert_eq!(
        summary["frameworks"][0]["slave_ids"][0],
        serde_json::json!(c.agent_id(0))
    );
    let tasks = get("/master/tasks?limit=5");
    assert_eq!(tasks["tasks"][0]["id"], serde_json::json!("f1"));
    assert_eq!(
        get("/master/tasks?offset=1")["tasks"],
        serde_json::json!([])
    );
    let roles = get("/master/roles");
    assert_eq!(
        roles["roles"][0]["allocated"]["cpus"],
        serde_json::json!(0.1)
    );
    let metrics = get("/metrics/snapshot");
    assert_eq!(metrics["master/tasks_running"], serde_json::json!(1.0));
    assert_eq!(metrics["master/slaves_active"], serde_json::json!(1.0));
}
