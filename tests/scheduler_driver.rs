//! The scheduler driver against scripted fake masters: redirects, stream ids,
//! resubscription, heartbeat loss and hostile streams.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use mesos::http::Headers;
use mesos::http::server::{Reply, Request, Server};
use mesos::scheduler::driver::{Driver, Options, Output};
use mesos::transport::parse_masters;
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::scheduler::{Call, Event, call, event};
use mesos::wire::pb::{FrameworkId, FrameworkInfo};
use mesos::wire::recordio;
use prost_reflect::Value;

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "test".into(),
        ..Default::default()
    }
}

fn subscribed_event(fid: &str, hb: f64) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId { value: fid.into() },
            heartbeat_interval_seconds: Some(hb),
            master_info: None,
        }),
        ..Default::default()
    }
}

fn record(ev: &Event, enc: Encoding) -> Vec<u8> {
    recordio::encode(&codec::encode(ev, enc))
}

/// What a fake master saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(Call, Headers)>,
}

type Script = dyn Fn(usize, &Call, Sender<Vec<u8>>) -> Option<Reply> + Send + Sync;

/// A fake master: SUBSCRIBE number `n` gets the stream `script(n, call, tx)`
/// writes (or the reply it returns); other calls get 202.
fn fake_master(seen: Arc<Mutex<Seen>>, script: Arc<Script>) -> Server {
    let subs = Arc::new(Mutex::new(0usize));
    let handler = Arc::new(move |req: Request| {
        let enc = req
            .headers
            .get("content-type")
            .and_then(Encoding::from_content_type)
            .unwrap_or(Encoding::Json);
        let Ok(c) = codec::decode::<Call>(&req.body, enc, true) else {
            return Reply::text(400, "bad call");
        };
        seen.lock()
            .unwrap()
            .requests
            .push((c.clone(), req.headers.clone()));
        if c.r#type != Some(call::Type::Subscribe as i32) {
            return Reply::status(202);
        }
        let n = {
            let mut s = subs.lock().unwrap();
            *s += 1;
            *s
        };
        let (tx, rx) = unbounded();
        if let Some(reply) = script(n, &c, tx) {
            return reply;
        }
        Reply::Stream {
            headers: Headers::default()
                .with("Content-Type", enc.content_type())
                .with("Mesos-Stream-Id", format!("stream-{n}")),
            rx,
            on_close: Box::new(|| {}),
        }
    });
    Server::bind("127.0.0.1:0", handler).unwrap()
}

fn driver_for(addrs: &str, enc: Encoding) -> Driver {
    let mut o = Options::new(parse_masters(addrs).unwrap(), framework());
    o.encoding = enc;
    o.machine.backoff_min = Duration::from_millis(20);
    o.machine.backoff_max = Duration::from_millis(100);
    o.connect_timeout = Duration::from_secs(1);
    Driver::new(o).unwrap()
}

/// Waits for an output matching `pred`, failing after `secs`.
fn wait_for(d: &Driver, secs: u64, mut pred: impl FnMut(&Output) -> bool) -> Output {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for driver output");
        if let Some(o) = d.recv(left.min(Duration::from_millis(100)))
            && pred(&o)
        {
            return o;
        }
    }
}

fn event_type(o: &Output) -> Option<i32> {
    match o {
        Output::Event(ev) => match ev.get_field_by_name("type").as_deref() {
            Some(Value::EnumNumber(n)) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn subscribes_then_sends_calls_with_stream_id_in_both_encodings() {
    for enc in [Encoding::Protobuf, Encoding::Json] {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let keep: Arc<Mutex<Vec<Sender<Vec<u8>>>>> = Arc::default();
        let k2 = keep.clone();
        let server = fake_master(
            seen.clone(),
            Arc::new(move |_, _, tx| {
                tx.send(record(&subscribed_event("fw-1", 15.0), enc))
                    .unwrap();
                k2.lock().unwrap().push(tx);
                None
            }),
        );
        let mut d = driver_for(&server.addr().to_string(), enc);
        d.start().unwrap();
        wait_for(&d, 10, |o| {
            event_type(o) == Some(event::Type::Subscribed as i32)
        });
        assert_eq!(d.framework_id().as_deref(), Some("fw-1"));
        d.send(Call {
            r#type: Some(call::Type::Revive as i32),
            revive: Some(call::Revive { roles: vec![] }),
            ..Default::default()
        })
        .unwrap();
        d.stop(false);
        let s = seen.lock().unwrap();
        let types: Vec<i32> = s.requests.iter().filter_map(|(c, _)| c.r#type).collect();
        assert_eq!(
            types,
            vec![
                call::Type::Subscribe as i32,
                call::Type::Revive as i32,
                call::Type::Teardown as i32
            ],
            "{enc:?}"
        );
        let (sub, sub_h) = &s.requests[0];
        assert!(sub_h.get("mesos-stream-id").is_none(), "never on SUBSCRIBE");
        assert!(sub.framework_id.is_none());
        assert_eq!(sub_h.get("content-type"), Some(enc.content_type()));
        for (c, h) in &s.requests[1..] {
            assert_eq!(h.get("mesos-stream-id"), Some("stream-1"));
            assert_eq!(
                c.framework_id.as_ref().map(|f| f.value.as_str()),
                Some("fw-1")
            );
        }
    }
}

#[test]
fn follows_protocol_relative_redirect_to_the_leader() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let keep: Arc<Mutex<Vec<Sender<Vec<u8>>>>> = Arc::default();
    let k2 = keep.clone();
    let leader = fake_master(
        seen.clone(),
        Arc::new(move |_, _, tx| {
            tx.send(record(&subscribed_event("fw-9", 15.0), Encoding::Protobuf))
                .unwrap();
            k2.lock().unwrap().push(tx);
            None
        }),
    );
    let loc = format!("//{}/master/api/v1/scheduler", leader.addr());
    let follower = fake_master(
        Arc::new(Mutex::new(Seen::default())),
        Arc::new(move |_, _, _| Some(Reply::status(307).with_header("Location", &loc))),
    );
    // A dead candidate first: the driver moves on to the next one.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let mut d = driver_for(
        &format!("{dead_addr},{}", follower.addr()),
        Encoding::Protobuf,
    );
    d.start().unwrap();
    let first = wait_for(&d, 10, |_| true);
    assert!(
        matches!(&first, Output::Disconnected(r) if r.contains("cannot connect")),
        "{first:?}"
    );
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Subscribed as i32)
    });
    d.send(Call {
        r#type: Some(call::Type::Suppress as i32),
        suppress: Some(call::Suppress { roles: vec![] }),
        ..Default::default()
    })
    .unwrap();
    d.stop(true);
    let types: Vec<i32> = seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter_map(|(c, _)| c.r#type)
        .collect();
    assert_eq!(
        types,
        vec![call::Type::Subscribe as i32, call::Type::Suppress as i32],
        "calls go to the leader"
    );
}

#[test]
fn heartbeat_loss_resubscribes_with_the_framework_id() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let keep: Arc<Mutex<Vec<Sender<Vec<u8>>>>> = Arc::default();
    let k2 = keep.clone();
    let server = fake_master(
        seen.clone(),
        Arc::new(move |_, _, tx| {
            // 0.1 s heartbeats promised, none sent.
            tx.send(record(&subscribed_event("fw-7", 0.1), Encoding::Protobuf))
                .unwrap();
            k2.lock().unwrap().push(tx);
            None
        }),
    );
    let mut d = driver_for(&server.addr().to_string(), Encoding::Protobuf);
    d.start().unwrap();
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Subscribed as i32)
    });
    let o = wait_for(&d, 10, |o| matches!(o, Output::Disconnected(_)));
    assert!(
        matches!(&o, Output::Disconnected(r) if r.contains("heartbeat")),
        "{o:?}"
    );
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Subscribed as i32)
    });
    d.abort();
    let s = seen.lock().unwrap();
    let (re, h) = &s.requests[1];
    assert_eq!(re.r#type, Some(call::Type::Subscribe as i32));
    assert!(h.get("mesos-stream-id").is_none());
    assert_eq!(
        re.framework_id.as_ref().map(|f| f.value.as_str()),
        Some("fw-7")
    );
    let info = &re.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.id.as_ref().map(|f| f.value.as_str()), Some("fw-7"));
}

#[test]
fn hostile_streams_give_clear_errors_and_a_resubscribe() {
    let json_rec = |text: &[u8]| recordio::encode(text);
    let cases: Vec<(Encoding, &str, Vec<u8>)> = vec![
        (
            Encoding::Protobuf,
            "invalid length header",
            b"12x\n{}".to_vec(),
        ),
        (
            Encoding::Protobuf,
            "exceeds the limit",
            b"9223372036854775808\n".to_vec(),
        ),
        // A 4 GiB record (more than the largest message Mesos can send,
        // even in JSON) is refused at its header: nothing is buffered.
        (
            Encoding::Protobuf,
            "exceeds the limit",
            b"4294967296\n\x08\x01".to_vec(),
        ),
        (
            Encoding::Protobuf,
            "undecodable event",
            b"5\n\xff\xff\xff\xff\xff".to_vec(),
        ),
        (
            Encoding::Json,
            "undecodable event",
            json_rec(b"{\"type\":\"HEARTBEAT\xff\"}"),
        ),
        (
            Encoding::Json,
            "undecodable event",
            json_rec(b"{\"type\":\"HEARTBEAT\""),
        ),
    ];
    for (enc, want, garbage) in cases {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let keep: Arc<Mutex<Vec<Sender<Vec<u8>>>>> = Arc::default();
        let k2 = keep.clone();
        let g = garbage.clone();
        let server = fake_master(
            seen.clone(),
            Arc::new(move |n, _, tx| {
                tx.send(record(&subscribed_event("fw-2", 15.0), enc))
                    .unwrap();
                if n == 1 {
                    tx.send(g.clone()).unwrap();
                }
                k2.lock().unwrap().push(tx);
                None
            }),
        );
        let mut d = driver_for(&server.addr().to_string(), enc);
        d.start().unwrap();
        let o = wait_for(&d, 10, |o| matches!(o, Output::Disconnected(_)));
        assert!(
            matches!(&o, Output::Disconnected(r) if r.contains(want)),
            "{enc:?} {want}: {o:?}"
        );
        // The driver resubscribes on a fresh stream, and that one works.
        wait_for(&d, 10, |o| {
            event_type(o) == Some(event::Type::Subscribed as i32)
        });
        assert!(seen.lock().unwrap().requests.len() >= 2);
        d.abort();
    }
}

#[test]
fn truncated_stream_and_calls_while_disconnected() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = fake_master(
        seen.clone(),
        Arc::new(move |_, _, tx| {
            tx.send(record(&subscribed_event("fw-3", 15.0), Encoding::Protobuf))
                .unwrap();
            tx.send(b"100\nabc".to_vec()).unwrap();
            // Dropping tx ends the stream in the middle of a record.
            None
        }),
    );
    let mut d = driver_for(&server.addr().to_string(), Encoding::Protobuf);
    d.start().unwrap();
    let o = wait_for(&d, 10, |o| matches!(o, Output::Disconnected(_)));
    assert!(
        matches!(&o, Output::Disconnected(r) if r.contains("inside a record")),
        "{o:?}"
    );
    drop(server);
    // Now nobody listens: a call fails fast instead of vanishing.
    d.send(Call {
        r#type: Some(call::Type::Revive as i32),
        revive: Some(call::Revive { roles: vec![] }),
        ..Default::default()
    })
    .unwrap();
    let o = wait_for(&d, 10, |o| matches!(o, Output::CallFailed { .. }));
    assert!(
        matches!(&o, Output::CallFailed { call_type, reason } if call_type == "REVIVE" && reason.contains("not subscribed")),
        "{o:?}"
    );
    d.abort();
}

#[test]
fn error_event_stops_the_driver() {
    let server = fake_master(
        Arc::new(Mutex::new(Seen::default())),
        Arc::new(move |_, _, tx| {
            let ev = Event {
                r#type: Some(event::Type::Error as i32),
                error: Some(event::Error {
                    message: "Framework failed over".into(),
                }),
                ..Default::default()
            };
            tx.send(record(&ev, Encoding::Protobuf)).unwrap();
            None
        }),
    );
    let mut d = driver_for(&server.addr().to_string(), Encoding::Protobuf);
    d.start().unwrap();
    wait_for(&d, 10, |o| event_type(o) == Some(event::Type::Error as i32));
    wait_for(
        &d,
        10,
        |o| matches!(o, Output::Stopped(r) if r.contains("Framework failed over")),
    );
    assert_eq!(d.phase().name(), "stopped");
    d.stop(true);
}

#[test]
fn rejected_subscribe_is_reported_without_retry_storm() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = fake_master(
        seen.clone(),
        Arc::new(|_, _, _| Some(Reply::text(401, "Unauthorized"))),
    );
    let mut d = driver_for(&server.addr().to_string(), Encoding::Json);
    d.start().unwrap();
    let o = wait_for(&d, 10, |o| matches!(o, Output::Disconnected(_)));
    assert!(
        matches!(&o, Output::Disconnected(r) if r.contains("401")),
        "{o:?}"
    );
    wait_for(&d, 10, |o| matches!(o, Output::Stopped(_)));
    d.stop(true);
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
}

/// Enum values this schema does not know (a newer master's) read as unset
/// fields, as in Mesos's own parsers: the event is delivered, the stream
/// stays up.
#[test]
fn unknown_enum_values_are_delivered_as_unset_fields() {
    for enc in [Encoding::Protobuf, Encoding::Json] {
        let strange = match enc {
            Encoding::Protobuf => recordio::encode(b"\x08\x63"),
            Encoding::Json => recordio::encode(b"{\"type\":\"NO_SUCH_EVENT\"}"),
        };
        let keep: Arc<Mutex<Vec<Sender<Vec<u8>>>>> = Arc::default();
        let k2 = keep.clone();
        let server = fake_master(
            Arc::new(Mutex::new(Seen::default())),
            Arc::new(move |_, _, tx| {
                tx.send(record(&subscribed_event("fw-e", 15.0), enc))
                    .unwrap();
                tx.send(strange.clone()).unwrap();
                tx.send(record(
                    &Event {
                        r#type: Some(event::Type::Heartbeat as i32),
                        ..Default::default()
                    },
                    enc,
                ))
                .unwrap();
                k2.lock().unwrap().push(tx);
                None
            }),
        );
        let mut d = driver_for(&server.addr().to_string(), enc);
        d.start().unwrap();
        wait_for(&d, 10, |o| {
            event_type(o) == Some(event::Type::Subscribed as i32)
        });
        let o = wait_for(&d, 10, |_| true);
        match &o {
            Output::Event(ev) => assert!(!ev.has_field_by_name("type"), "{enc:?}"),
            other => panic!("{enc:?}: {other:?}"),
        }
        let o = wait_for(&d, 10, |_| true);
        assert_eq!(
            event_type(&o),
            Some(event::Type::Heartbeat as i32),
            "{enc:?}"
        );
        d.abort();
    }
}
