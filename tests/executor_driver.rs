//! The executor driver against a scripted fake agent.

use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use mesos::executor::driver::{Driver, Options, Output};
use mesos::executor::env::ExecutorEnv;
use mesos::http::Headers;
use mesos::http::server::{Reply, Request, Server};
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::executor::{Call, Event, call, event};
use mesos::wire::pb::{self, TaskId, TaskState, TaskStatus};
use mesos::wire::recordio;
use prost_reflect::Value;

type Streams = Arc<Mutex<Vec<Sender<Vec<u8>>>>>;

struct FakeAgent {
    server: Server,
    calls: Arc<Mutex<Vec<(Call, Headers)>>>,
    streams: Streams,
    /// The request path of every call, in order.
    paths: Arc<Mutex<Vec<String>>>,
}

fn subscribed() -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: pb::ExecutorInfo {
                executor_id: pb::ExecutorId { value: "ex".into() },
                ..Default::default()
            },
            framework_info: pb::FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                ..Default::default()
            },
            agent_info: pb::AgentInfo {
                hostname: "h".into(),
                id: Some(pb::AgentId {
                    value: "agent-1".into(),
                }),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

fn frame(ev: &Event, enc: Encoding) -> Vec<u8> {
    recordio::encode(&codec::encode(ev, enc))
}

/// Every SUBSCRIBE gets SUBSCRIBED; the stream stays open until dropped.
fn fake_agent() -> FakeAgent {
    let calls: Arc<Mutex<Vec<(Call, Headers)>>> = Arc::default();
    let streams: Streams = Arc::default();
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let (c2, s2, p2) = (calls.clone(), streams.clone(), paths.clone());
    let handler = Arc::new(move |req: Request| {
        p2.lock().unwrap().push(req.path.clone());
        let enc = req
            .headers
            .get("content-type")
            .and_then(Encoding::from_content_type)
            .unwrap_or(Encoding::Json);
        let Ok(c) = codec::decode::<Call>(&req.body, enc, true) else {
            return Reply::text(400, "bad call");
        };
        c2.lock().unwrap().push((c.clone(), req.headers.clone()));
        if c.r#type != Some(call::Type::Subscribe as i32) {
            return Reply::status(202);
        }
        let (tx, rx) = unbounded();
        tx.send(frame(&subscribed(), enc)).unwrap();
        s2.lock().unwrap().push(tx);
        Reply::Stream {
            headers: Headers::default().with("Content-Type", enc.content_type()),
            rx,
            on_close: Box::new(|| {}),
        }
    });
    FakeAgent {
        server: Server::bind("127.0.0.1:0", handler).unwrap(),
        calls,
        streams,
        paths,
    }
}

/// A Unix socket at `path` whose every connection is piped to `to` (the
/// fake agent's TCP port), as an agent's `--http_executor_domain_sockets`
/// serves its executor API. Returns how many connections it took.
fn unix_socket_to(path: &std::path::Path, to: std::net::SocketAddr) -> Arc<AtomicUsize> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            n.fetch_add(1, Ordering::SeqCst);
            let agent = TcpStream::connect(to).unwrap();
            let (mut c_in, mut a_out) = (client.try_clone().unwrap(), agent.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut a_out));
            let (mut a_in, mut c_out) = (agent, client);
            std::thread::spawn(move || std::io::copy(&mut a_in, &mut c_out));
        }
    });
    accepted
}

/// Options for tests: never kill the test process on SHUTDOWN.
fn options(env: ExecutorEnv) -> Options {
    let mut o = Options::new(env);
    o.shutdown_watchdog = false;
    o
}

fn env_for(agent: &FakeAgent, checkpoint: bool) -> ExecutorEnv {
    let addr = agent.server.addr().to_string();
    ExecutorEnv::from_lookup(|k| match k {
        "MESOS_FRAMEWORK_ID" => Some("fw".into()),
        "MESOS_EXECUTOR_ID" => Some("ex".into()),
        "MESOS_AGENT_ENDPOINT" => Some(addr.clone()),
        "MESOS_CHECKPOINT" => Some(if checkpoint { "1" } else { "0" }.into()),
        "MESOS_SUBSCRIPTION_BACKOFF_MAX" => Some("50ms".into()),
        "MESOS_RECOVERY_TIMEOUT" => Some("3secs".into()),
        "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" => Some("sekrit".into()),
        _ => None,
    })
    .unwrap()
}

fn wait_for(d: &Driver, mut pred: impl FnMut(&Output) -> bool) -> Output {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < end,
            "timed out waiting for executor driver output"
        );
        if let Some(o) = d.recv(Duration::from_millis(100))
            && pred(&o)
        {
            return o;
        }
    }
}

fn is_event(o: &Output, t: event::Type) -> bool {
    matches!(o, Output::Event(ev) if matches!(ev.get_field_by_name("type").as_deref(), Some(Value::EnumNumber(n)) if *n == t as i32))
}

fn wait_calls(agent: &FakeAgent, n: usize) -> Vec<(Call, Headers)> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let c = agent.calls.lock().unwrap().clone();
        if c.len() >= n {
            return c;
        }
        assert!(
            Instant::now() < end,
            "agent saw {} calls, wanted {n}",
            c.len()
        );
        std::thread::yield_now();
    }
}

fn running(task: &str) -> TaskStatus {
    TaskStatus {
        task_id: TaskId { value: task.into() },
        state: TaskState::TaskRunning as i32,
        ..Default::default()
    }
}

#[test]
fn updates_are_kept_until_acknowledged_and_resent_on_resubscribe() {
    for enc in [Encoding::Protobuf, Encoding::Json] {
        let agent = fake_agent();
        let mut o = options(env_for(&agent, true));
        o.encoding = enc;
        let mut d = Driver::new(o).unwrap();
        d.start().unwrap();
        wait_for(&d, |o| is_event(o, event::Type::Subscribed));
        assert_eq!(d.agent_id().as_deref(), Some("agent-1"));

        // A LAUNCH makes the task unacknowledged.
        let launch = Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(event::Launch {
                task: pb::TaskInfo {
                    name: "t".into(),
                    task_id: TaskId { value: "t1".into() },
                    agent_id: pb::AgentId {
                        value: "agent-1".into(),
                    },
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        agent.streams.lock().unwrap()[0]
            .send(frame(&launch, enc))
            .unwrap();
        wait_for(&d, |o| is_event(o, event::Type::Launch));
        assert_eq!(d.unacknowledged_tasks().len(), 1);

        let uuid1 = d.update(running("t1")).unwrap();
        let uuid2 = d
            .update(TaskStatus {
                state: TaskState::TaskFinished as i32,
                ..running("t1")
            })
            .unwrap();
        assert_eq!(uuid1.len(), 16);
        assert_ne!(uuid1, uuid2);
        let calls = wait_calls(&agent, 3);
        let (upd, h) = &calls[1];
        assert_eq!(h.get("authorization"), Some("Bearer sekrit"));
        let st = &upd.update.as_ref().unwrap().status;
        assert_eq!(st.uuid.as_deref(), Some(uuid1.as_slice()));
        assert_eq!(st.source, Some(pb::task_status::Source::Executor as i32));
        assert_eq!(
            st.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("ex")
        );
        assert_eq!(
            st.agent_id.as_ref().map(|e| e.value.as_str()),
            Some("agent-1")
        );
        assert!(st.timestamp.is_some());

        // The agent acknowledges the first update only.
        let ack = Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: "t1".into() },
                uuid: uuid1.clone(),
            }),
            ..Default::default()
        };
        agent.streams.lock().unwrap()[0]
            .send(frame(&ack, enc))
            .unwrap();
        wait_for(&d, |o| is_event(o, event::Type::Acknowledged));
        assert_eq!(d.unacknowledged_updates().len(), 1);
        assert!(d.unacknowledged_tasks().is_empty());

        // The agent restarts: the stream ends; the driver resubscribes with
        // the update that was never acknowledged.
        agent.streams.lock().unwrap().clear();
        wait_for(&d, |o| matches!(o, Output::Disconnected(_)));
        wait_for(&d, |o| is_event(o, event::Type::Subscribed));
        let calls = wait_calls(&agent, 4);
        let resub = calls
            .iter()
            .rev()
            .find(|(c, _)| c.r#type == Some(call::Type::Subscribe as i32))
            .unwrap();
        let sub = resub.0.subscribe.as_ref().unwrap();
        assert_eq!(sub.unacknowledged_updates.len(), 1);
        assert_eq!(
            sub.unacknowledged_updates[0].status.uuid.as_deref(),
            Some(uuid2.as_slice())
        );
        d.stop();
    }
}

#[test]
fn without_checkpointing_a_lost_agent_means_shutdown() {
    let agent = fake_agent();
    let mut d = Driver::new(options(env_for(&agent, false))).unwrap();
    d.start().unwrap();
    wait_for(&d, |o| is_event(o, event::Type::Subscribed));
    agent.streams.lock().unwrap().clear();
    wait_for(&d, |o| is_event(o, event::Type::Shutdown));
    d.stop();
    assert_eq!(wait_calls(&agent, 1).len(), 1, "no resubscription");
}

#[test]
fn recovery_timeout_ends_in_shutdown() {
    let agent = fake_agent();
    let mut env = env_for(&agent, true);
    env.recovery_timeout = Duration::from_millis(300);
    let mut d = Driver::new(options(env)).unwrap();
    d.start().unwrap();
    wait_for(&d, |o| is_event(o, event::Type::Subscribed));
    let FakeAgent {
        server, streams, ..
    } = agent;
    drop(server);
    streams.lock().unwrap().clear();
    let o = wait_for(&d, |o| is_event(o, event::Type::Shutdown));
    assert!(matches!(o, Output::Event(_)));
    d.stop();
}

#[test]
fn staging_updates_are_refused() {
    let agent = fake_agent();
    let d = Driver::new(options(env_for(&agent, false))).unwrap();
    let err = d
        .update(TaskStatus {
            state: TaskState::TaskStaging as i32,
            ..running("t")
        })
        .unwrap_err();
    assert!(err.to_string().contains("TASK_STAGING"));
}

/// libmesos's executor library: the pid names the path (`/slave(1)/...`,
/// right also where a master shares the port), a domain socket replaces the
/// address, and every update's uuid is one Mesos accepts (version 1-5).
#[test]
fn the_agent_is_reached_as_libmesos_reaches_it() {
    let agent = fake_agent();
    let sock = std::env::temp_dir().join(format!("lua-mesos-exec-{}.sock", std::process::id()));
    let accepted = unix_socket_to(&sock, agent.server.addr());
    let sock_name = sock.display().to_string();
    let env = ExecutorEnv::from_lookup(|k| match k {
        "MESOS_FRAMEWORK_ID" => Some("fw".into()),
        "MESOS_EXECUTOR_ID" => Some("ex".into()),
        // Nothing listens there: only the socket can work.
        "MESOS_SLAVE_PID" => Some("slave(1)@127.0.0.1:1".into()),
        "MESOS_AGENT_ENDPOINT" => Some("127.0.0.1:1".into()),
        "MESOS_DOMAIN_SOCKET" => Some(sock_name.clone()),
        _ => None,
    })
    .unwrap();
    let mut d = Driver::new(options(env)).unwrap();
    d.start().unwrap();
    wait_for(&d, |o| is_event(o, event::Type::Subscribed));
    let uuids: Vec<Vec<u8>> = (0..64)
        .map(|i| d.update(running(&format!("t{i}"))).unwrap())
        .collect();
    let calls = wait_calls(&agent, 65);
    for u in &uuids {
        assert!(mesos::uuid::is_valid(u), "not a UUID Mesos takes: {u:02x?}");
        assert_eq!(
            (u[6] >> 4, u[8] >> 6),
            (4, 0b10),
            "not RFC 4122 v4: {u:02x?}"
        );
    }
    assert_eq!(calls.len(), 65);
    assert!(
        agent
            .paths
            .lock()
            .unwrap()
            .iter()
            .all(|p| p == "/slave(1)/api/v1/executor"),
        "{:?}",
        agent.paths.lock().unwrap()
    );
    // The subscription stream and the calls' connection.
    assert!(accepted.load(Ordering::SeqCst) >= 2);
    d.stop();
    let _ = std::fs::remove_file(&sock);
}
