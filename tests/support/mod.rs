//! A minimal v1 scheduler speaking the HTTP API by hand, shared by the
//! integration tests of the local cluster.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mesos::http::Headers;
use mesos::http::client::{Conn, OwnedBodyStream, Response, is_timeout};
use mesos::local::LocalCluster;
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::scheduler::{Call, Event, call, event};
use mesos::wire::pb::{self, TaskState};
use mesos::wire::recordio;

pub const WAIT: Duration = Duration::from_secs(10);
pub const PATH: &str = "/api/v1/scheduler";

pub fn framework(name: &str) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        user: "tester".into(),
        name: name.into(),
        ..Default::default()
    }
}

pub fn capability(t: pb::framework_info::capability::Type) -> pb::framework_info::Capability {
    pb::framework_info::Capability {
        r#type: Some(t as i32),
    }
}

pub fn connect_to(port: u16) -> Conn {
    let conn = Conn::connect("127.0.0.1", port, Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    conn
}

pub fn connect(c: &LocalCluster) -> Conn {
    connect_to(c.addr().port())
}

pub fn subscribe_call(info: pb::FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits for `cond` (polled every 10 ms) until `timeout`; false if it never held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A minimal scheduler speaking the HTTP API by hand.
pub struct Sched {
    pub enc: Encoding,
    port: u16,
    stream: OwnedBodyStream,
    dec: recordio::Decoder,
    backlog: VecDeque<Event>,
    pub stream_id: String,
    pub framework_id: String,
    calls: Conn,
    eof: bool,
}

impl Sched {
    pub fn subscribe(c: &LocalCluster, enc: Encoding, info: pb::FrameworkInfo) -> Sched {
        let mut conn = connect(c);
        let body = codec::encode(&subscribe_call(info), enc);
        let headers = Headers::default()
            .with("Content-Type", enc.content_type())
            .with("Accept", enc.content_type());
        conn.send_request("POST", PATH, &headers, &body)
            .expect("send");
        let (status, h) = conn.read_response_head().expect("head");
        assert_eq!(status, 200);
        assert_eq!(h.get("content-type"), Some(enc.content_type()));
        assert!(h.is_chunked());
        let stream_id = h.get("mesos-stream-id").expect("stream id").to_string();
        assert_eq!(stream_id.len(), 36, "a UUID: {stream_id}");
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut s = Sched {
            enc,
            port: c.addr().port(),
            stream: conn.into_stream(&h),
            dec: recordio::Decoder::default(),
            backlog: VecDeque::new(),
            stream_id,
            framework_id: String::new(),
            calls: connect(c),
            eof: false,
        };
        let ev = s.expect(|e| e.r#type() == event::Type::Subscribed);
        let sub = ev.subscribed.expect("subscribed");
        s.framework_id = sub.framework_id.value;
        s
    }

    pub fn framework_id(&self) -> pb::FrameworkId {
        pb::FrameworkId {
            value: self.framework_id.clone(),
        }
    }

    /// The next event, or None at the deadline or at the end of the stream.
    pub fn next_event(&mut self, deadline: Instant) -> Option<Event> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(e);
        }
        loop {
            if let Some(rec) = self.dec.next_record().expect("recordio") {
                return Some(codec::decode::<Event>(&rec, self.enc, true).expect("event decodes"));
            }
            if self.eof || Instant::now() >= deadline {
                return None;
            }
            let mut buf = vec![];
            match self.stream.read_data(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(_) => self.dec.feed(&buf),
                Err(e) if is_timeout(&e) => {}
                Err(_) => self.eof = true,
            }
        }
    }

    /// Waits for the first event matching `pred`; other events stay queued.
    pub fn try_expect(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        let mut skipped = VecDeque::new();
        let mut found = None;
        while let Some(e) = self.next_event(deadline) {
            if pred(&e) {
                found = Some(e);
                break;
            }
            if e.r#type() != event::Type::Heartbeat {
                skipped.push_back(e);
            }
        }
        skipped.extend(self.backlog.drain(..));
        self.backlog = skipped;
        found
    }

    pub fn expect(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        match self.try_expect(WAIT, pred) {
            Some(e) => e,
            None => {
                let queued: Vec<String> = self
                    .backlog
                    .iter()
                    .map(|e| match &e.update {
                        Some(u) => {
                            format!("UPDATE {} {:?}", u.status.task_id.value, u.status.state())
                        }
                        None => format!("{:?}", e.r#type()),
                    })
                    .collect();
                panic!("expected event not received; queued: {queued:?}")
            }
        }
    }

    pub fn offers(&mut self) -> Vec<pb::Offer> {
        self.expect(|e| e.r#type() == event::Type::Offers)
            .offers
            .expect("offers")
            .offers
    }

    pub fn update(&mut self, task: &str, state: TaskState) -> pb::TaskStatus {
        let t = task.to_string();
        self.expect(move |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == t && u.status.state() == state)
        })
        .update
        .expect("update")
        .status
    }

    /// Drops queued events (e.g. old offers).
    pub fn clear(&mut self) {
        self.backlog.clear();
    }

    pub fn call(&mut self, mut c: Call) -> Response {
        c.framework_id = Some(self.framework_id());
        let body = codec::encode(&c, self.enc);
        let headers = Headers::default()
            .with("Content-Type", self.enc.content_type())
            .with("Mesos-Stream-Id", self.stream_id.clone());
        self.calls
            .roundtrip("POST", PATH, &headers, &body)
            .expect("call")
    }

    pub fn call_ok(&mut self, c: Call) {
        let r = self.call(c);
        assert_eq!(r.status, 202, "{}", r.body_text());
        assert!(r.body.is_empty());
    }

    pub fn ack(&mut self, s: &pb::TaskStatus) {
        let uuid = s.uuid.clone().expect("a reliable update has a uuid");
        self.call_ok(Call {
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id: s.agent_id.clone().expect("agent id"),
                task_id: s.task_id.clone(),
                uuid,
            }),
            ..Default::default()
        });
    }

    pub fn accept(&mut self, offer_ids: Vec<pb::OfferId>, ops: Vec<pb::offer::Operation>) {
        self.call_ok(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids,
                operations: ops,
                filters: Some(pb::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Default::default()
        });
    }

    pub fn launch(&mut self, offer: &pb::Offer, tasks: Vec<pb::TaskInfo>) {
        self.accept(vec![offer.id.clone()], vec![launch_op(tasks)]);
    }

    pub fn reconcile(&mut self, tasks: Vec<(&str, Option<&str>)>) {
        self.call_ok(Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile {
                tasks: tasks
                    .into_iter()
                    .map(|(t, a)| call::reconcile::Task {
                        task_id: pb::TaskId { value: t.into() },
                        agent_id: a.map(|a| pb::AgentId { value: a.into() }),
                    })
                    .collect(),
            }),
            ..Default::default()
        });
    }

    pub fn simple(&mut self, t: call::Type) -> Response {
        self.call(Call {
            r#type: Some(t as i32),
            ..Default::default()
        })
    }

    /// Runs a command task to its RUNNING update (acknowledging STARTING).
    pub fn run(&mut self, id: &str, cmd: &str) -> pb::Offer {
        let offer = self.offers().remove(0);
        self.launch(&offer, vec![command_task(&offer, id, cmd)]);
        let starting = self.update(id, TaskState::TaskStarting);
        self.ack(&starting);
        let running = self.update(id, TaskState::TaskRunning);
        self.ack(&running);
        offer
    }

    pub fn wait_eof(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while self.next_event(deadline).is_some() {}
        self.eof
    }

    pub fn get(&self, path: &str) -> Response {
        let mut conn =
            Conn::connect("127.0.0.1", self.port, Duration::from_secs(5)).expect("connect");
        conn.roundtrip("GET", path, &Headers::default(), &[])
            .expect("get")
    }
}

pub fn scalar(name: &str, v: f64) -> pb::Resource {
    pb::Resource {
        name: name.into(),
        r#type: pb::value::Type::Scalar as i32,
        scalar: Some(pb::value::Scalar { value: v }),
        ..Default::default()
    }
}

pub fn small() -> Vec<pb::Resource> {
    vec![scalar("cpus", 0.1), scalar("mem", 32.0)]
}

pub fn command_task(offer: &pb::Offer, id: &str, cmd: &str) -> pb::TaskInfo {
    pb::TaskInfo {
        name: format!("task {id}"),
        task_id: pb::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: small(),
        command: Some(pb::CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn launch_op(tasks: Vec<pb::TaskInfo>) -> pb::offer::Operation {
    pb::offer::Operation {
        r#type: Some(pb::offer::operation::Type::Launch as i32),
        launch: Some(pb::offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

pub mod nats_server;
pub mod pki;
pub mod proxy;
pub mod vectors;

/// `GET /master/state` of the master at `addr`, as JSON.
pub fn master_state(addr: std::net::SocketAddr) -> serde_json::Value {
    let mut conn = connect_to(addr.port());
    let r = conn
        .roundtrip("GET", "/master/state", &Headers::default(), &[])
        .expect("GET /master/state");
    assert_eq!(r.status, 200, "{}", r.body_text());
    serde_json::from_slice(&r.body).expect("state is JSON")
}
