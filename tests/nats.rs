//! The NATS client against a real nats-server (Debian's, started on a
//! loopback port and killed by PID; see support/nats_server.rs): pub/sub,
//! queue groups, unsubscribe, request/reply, flush ordering, binary
//! payloads, max_payload, authentication, a server that dies or freezes,
//! a slow consumer; and, against fake servers, TLS refusal and timeouts.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mesos::nats::{Connection, NatsError, Options, State};
use support::nats_server::NatsServer;

const WAIT: Duration = Duration::from_secs(5);

fn connect(s: &NatsServer) -> Connection {
    Connection::connect(&s.url(), Options::default()).expect("connect")
}

fn connect_with(s: &NatsServer, f: impl FnOnce(&mut Options)) -> Connection {
    let mut o = Options::default();
    f(&mut o);
    Connection::connect(&s.url(), o).expect("connect")
}

/// Every message that arrives until `n` have come (or WAIT passes).
fn take(c: &Connection, n: usize) -> Vec<mesos::nats::Msg> {
    let deadline = Instant::now() + WAIT;
    let mut out = vec![];
    while out.len() < n && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(100)).expect("poll") {
            out.push(m);
        }
    }
    out
}

#[test]
fn publish_subscribe_round_trip() {
    let s = NatsServer::start();
    let sub = connect(&s);
    let publ = connect(&s);
    assert_eq!(sub.state(), State::Connected);
    assert!(sub.info().version.starts_with('2'), "{:?}", sub.info());
    let sid = sub.subscribe("greet.*", None).unwrap();
    sub.flush(WAIT).unwrap();
    publ.publish("greet.alice", b"hello", None).unwrap();
    publ.publish("other", b"not for us", None).unwrap();
    publ.publish("greet.bob", b"hi", Some("answers.1")).unwrap();
    let got = take(&sub, 2);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].subject.as_str(), got[0].sid, got[0].reply.as_deref()),
        ("greet.alice", sid, None)
    );
    assert_eq!(got[0].payload, b"hello");
    assert_eq!(got[1].reply.as_deref(), Some("answers.1"));
    assert_eq!(sub.poll(Duration::ZERO).unwrap(), None, "nothing else");
    let st = sub.stats();
    assert_eq!((st.in_msgs, st.queued, st.dropped), (2, 0, 0));
    assert_eq!(publ.stats().out_msgs, 3);
    assert_eq!(publ.stats().out_bytes, 5 + 10 + 2);
}

#[test]
fn queue_group_members_share_the_messages() {
    let s = NatsServer::start();
    let workers = [connect(&s), connect(&s)];
    let watcher = connect(&s);
    for w in &workers {
        w.subscribe("jobs", Some("workers")).unwrap();
        w.flush(WAIT).unwrap();
    }
    watcher.subscribe("jobs", None).unwrap();
    watcher.flush(WAIT).unwrap();
    let p = connect(&s);
    for i in 0..40u32 {
        p.publish("jobs", &i.to_be_bytes(), None).unwrap();
    }
    p.flush(WAIT).unwrap();
    assert_eq!(take(&watcher, 40).len(), 40, "a plain subscriber sees all");
    let mut seen: Vec<u32> = vec![];
    let deadline = Instant::now() + WAIT;
    while seen.len() < 40 && Instant::now() < deadline {
        for w in &workers {
            while let Some(m) = w.poll(Duration::from_millis(10)).unwrap() {
                seen.push(u32::from_be_bytes(m.payload.try_into().unwrap()));
            }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..40).collect::<Vec<_>>(), "each job to one worker");
}

#[test]
fn unsubscribe_now_and_after_max() {
    let s = NatsServer::start();
    let c = connect(&s);
    let a = c.subscribe("a", None).unwrap();
    let b = c.subscribe("b", None).unwrap();
    c.unsubscribe(a, None).unwrap();
    c.unsubscribe(a, None).unwrap(); // idempotent
    c.unsubscribe(b, Some(2)).unwrap();
    for _ in 0..5 {
        c.publish("a", b"x", None).unwrap();
        c.publish("b", b"y", None).unwrap();
    }
    c.flush(WAIT).unwrap();
    // Own messages come back before the PONG: all are queued by now.
    let mut got = vec![];
    while let Some(m) = c.poll(Duration::ZERO).unwrap() {
        got.push(m.subject);
    }
    assert_eq!(got, ["b", "b"]);
    assert!(matches!(
        c.unsubscribe(99, None),
        Err(NatsError::UnknownSid(99))
    ));
}

#[test]
fn request_reply() {
    let s = NatsServer::start();
    let svc = connect(&s);
    svc.subscribe("math.double", Some("svc")).unwrap();
    svc.flush(WAIT).unwrap();
    let client = connect(&s);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..3 {
                let m = take(&svc, 1).pop().expect("a request");
                let n: u64 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                let reply = m.reply.expect("a reply subject");
                svc.publish(&reply, (n * 2).to_string().as_bytes(), None)
                    .unwrap();
            }
        });
        for n in [1u64, 21, 500] {
            let r = client.request("math.double", n.to_string().as_bytes(), WAIT);
            assert_eq!(r.unwrap(), (n * 2).to_string().as_bytes());
        }
    });
    // Replies never reach poll; no responder means a timeout.
    assert_eq!(client.poll(Duration::ZERO).unwrap(), None);
    let t0 = Instant::now();
    let r = client.request("nobody.home", b"?", Duration::from_millis(200));
    assert!(matches!(r, Err(NatsError::Timeout(..))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(client.request("bad subject", b"", WAIT).is_err());
}

#[test]
fn flush_orders_subscriptions_and_publications() {
    let s = NatsServer::start();
    let sub = connect(&s);
    let p = connect(&s);
    // Without sleeping: once flush returns, the subscription is in effect.
    for round in 0..20 {
        let subject = format!("round.{round}");
        let sid = sub.subscribe(&subject, None).unwrap();
        sub.flush(WAIT).unwrap();
        for i in 0..50u32 {
            p.publish(&subject, &i.to_be_bytes(), None).unwrap();
        }
        p.flush(WAIT).unwrap();
        let got = take(&sub, 50);
        let order: Vec<u32> = got
            .iter()
            .map(|m| u32::from_be_bytes(m.payload.clone().try_into().unwrap()))
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>(), "round {round}");
        sub.unsubscribe(sid, None).unwrap();
    }
}

#[test]
fn binary_payloads_round_trip() {
    let s = NatsServer::start();
    let c = connect(&s);
    c.subscribe("bin", None).unwrap();
    let all: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..512 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let payloads: Vec<Vec<u8>> = vec![
        vec![],
        b"\r\n".to_vec(),
        b"MSG x 1 3\r\nabc\r\n".to_vec(),
        all,
        big,
    ];
    for p in &payloads {
        c.publish("bin", p, None).unwrap();
    }
    let got: Vec<Vec<u8>> = take(&c, payloads.len())
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, payloads);
}

#[test]
fn max_payload_is_respected() {
    let s = NatsServer::start_with(&[], Some("max_payload: 1024\n"));
    let c = connect(&s);
    assert_eq!(c.max_payload(), 1024);
    c.subscribe("p", None).unwrap();
    let r = c.publish("p", &[0u8; 1025], None);
    assert!(
        matches!(
            r,
            Err(NatsError::PayloadTooLarge {
                len: 1025,
                max: 1024
            })
        ),
        "{r:?}"
    );
    assert!(c.request("p", &[0u8; 1025], WAIT).is_err());
    c.publish("p", &[1u8; 1024], None).unwrap();
    c.flush(WAIT).unwrap();
    assert_eq!(c.poll(Duration::ZERO).unwrap().unwrap().payload.len(), 1024);
    assert_eq!(c.state(), State::Connected, "a refusal does not close");
}

#[test]
fn credentials_from_the_url() {
    let s = NatsServer::start_with(&["--user", "alice", "--pass", "s3cret"], None);
    let url = format!("nats://alice:s3cret@127.0.0.1:{}", s.port);
    let c = Connection::connect(&url, Options::default()).unwrap();
    c.flush(WAIT).unwrap();
    let bad = format!("nats://alice:wrong-pw@127.0.0.1:{}", s.port);
    let e = Connection::connect(&bad, Options::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("Authorization Violation"), "{e}");
    assert!(!e.contains("wrong-pw"), "no secret in {e}");
    assert!(Connection::connect(&s.url(), Options::default()).is_err());

    let t = NatsServer::start_with(&["--auth", "tok123"], None);
    let url = format!("nats://tok123@127.0.0.1:{}", t.port);
    Connection::connect(&url, Options::default()).unwrap();
    let bad = format!("nats://tok999@127.0.0.1:{}", t.port);
    assert!(Connection::connect(&bad, Options::default()).is_err());
}

#[test]
fn a_dead_server_is_reported_and_nothing_hangs() {
    let mut s = NatsServer::start();
    let c = connect(&s);
    c.subscribe("x", None).unwrap();
    c.publish("x", b"before", None).unwrap();
    c.flush(WAIT).unwrap();
    s.stop();
    let t0 = Instant::now();
    // What was queued before still comes, then the reason.
    assert_eq!(c.poll(WAIT).unwrap().unwrap().payload, b"before");
    let e = c.poll(Duration::from_secs(30)).expect_err("closed");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(e.to_string().contains("closed"), "{e}");
    assert!(readable(c.fd()), "the fd keeps telling an event loop");
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.stats().state, State::Closed);
    assert!(c.stats().error.is_some());
    assert!(c.publish("x", b"after", None).is_err());
    assert!(c.subscribe("y", None).is_err());
    assert!(c.flush(WAIT).is_err());
    assert!(c.request("x", b"", WAIT).is_err());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    c.close();
    c.close();
}

#[test]
fn a_frozen_server_is_found_stale() {
    let s = NatsServer::start();
    let c = connect_with(&s, |o| o.ping_interval = Duration::from_millis(100));
    c.flush(WAIT).unwrap();
    s.freeze();
    let t0 = Instant::now();
    let r = c.flush(Duration::from_secs(30));
    let e = c.poll(Duration::from_secs(30));
    s.thaw();
    assert!(r.is_err(), "{r:?}");
    let e = e.expect_err("stale").to_string();
    assert!(e.contains("stale"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn a_slow_consumer_drops_the_newest_and_counts_them() {
    let s = NatsServer::start();
    let c = connect_with(&s, |o| o.queue_size = 10);
    c.subscribe("fast", None).unwrap();
    for i in 0..100u32 {
        c.publish("fast", &i.to_be_bytes(), None).unwrap();
    }
    c.flush(WAIT).unwrap();
    let st = c.stats();
    assert_eq!((st.in_msgs, st.queued, st.dropped), (100, 10, 90));
    let kept: Vec<u32> = std::iter::from_fn(|| c.poll(Duration::ZERO).unwrap())
        .map(|m| u32::from_be_bytes(m.payload.try_into().unwrap()))
        .collect();
    assert_eq!(kept, (0..10).collect::<Vec<_>>(), "the oldest are kept");
    // Room again: new messages are queued.
    c.publish("fast", b"again", None).unwrap();
    c.flush(WAIT).unwrap();
    assert_eq!(c.poll(Duration::ZERO).unwrap().unwrap().payload, b"again");
    // The byte bound too.
    let c = connect_with(&s, |o| o.queue_bytes = 1000);
    c.subscribe("big", None).unwrap();
    for _ in 0..5 {
        c.publish("big", &[0u8; 400], None).unwrap();
    }
    c.flush(WAIT).unwrap();
    let st = c.stats();
    assert_eq!((st.queued, st.dropped), (2, 3));
}

fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[test]
fn fd_is_readable_while_messages_wait() {
    let s = NatsServer::start();
    let c = connect(&s);
    c.subscribe("f", None).unwrap();
    c.flush(WAIT).unwrap();
    assert!(!readable(c.fd()));
    c.publish("f", b"1", None).unwrap();
    c.publish("f", b"2", None).unwrap();
    c.flush(WAIT).unwrap();
    assert!(readable(c.fd()));
    c.poll(Duration::ZERO).unwrap().unwrap();
    assert!(readable(c.fd()), "one left");
    c.poll(Duration::ZERO).unwrap().unwrap();
    assert!(!readable(c.fd()));
    c.close();
    assert!(c.poll(Duration::from_secs(10)).is_err(), "closed");
    assert_eq!(c.stats().error.as_deref(), Some("closed by the client"));
}

#[test]
fn bad_subjects_are_refused_before_sending() {
    let s = NatsServer::start();
    let c = connect(&s);
    for bad in ["", "a b", "a\r\nPUB x 1"] {
        assert!(matches!(
            c.publish(bad, b"", None),
            Err(NatsError::InvalidSubject { .. })
        ));
        assert!(c.subscribe(bad, None).is_err());
    }
    assert!(c.subscribe("ok", Some("bad queue")).is_err());
    c.flush(WAIT).unwrap();
    assert_eq!(c.state(), State::Connected);
}

/// A fake server that sends `greeting` to its first client, then holds
/// the connection open until dropped.
fn fake_server(greeting: &'static [u8]) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.write_all(greeting);
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = std::io::Read::read(&mut s, &mut [0u8; 1024]);
        }
    });
    (port, h)
}

#[test]
fn tls_required_is_refused_clearly() {
    let (port, h) = fake_server(b"INFO {\"server_id\":\"x\",\"tls_required\":true}\r\n");
    let e = Connection::connect(&format!("nats://127.0.0.1:{port}"), Options::default())
        .err()
        .expect("refused");
    assert!(matches!(e, NatsError::TlsRequired { .. }), "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    h.join().unwrap();
}

#[test]
fn connecting_never_hangs() {
    // A server that never says INFO.
    let (port, h) = fake_server(b"");
    let t0 = Instant::now();
    let o = Options {
        connect_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let e = Connection::connect(&format!("nats://127.0.0.1:{port}"), o.clone())
        .err()
        .expect("times out");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    h.join().unwrap();
    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Connection::connect(&format!("nats://127.0.0.1:{port}"), o)
        .err()
        .expect("refused");
    assert!(matches!(e, NatsError::Connect { .. }), "{e}");
    // Garbage instead of INFO.
    let (port, h) = fake_server(b"HELLO\r\n");
    let e = Connection::connect(&format!("nats://127.0.0.1:{port}"), Options::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("protocol error"), "{e}");
    h.join().unwrap();
}
