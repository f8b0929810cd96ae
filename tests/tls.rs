//! TLS end to end: the scheduler driver against an https local cluster, with
//! a throwaway CA (support/pki.rs, rcgen); wrong CA, wrong host name and clear
//! text on either side fail clearly; read timeouts (also in the middle of a
//! TLS record) lose nothing.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos::http::Headers;
use mesos::http::client::{Conn, is_timeout};
use mesos::http::tls::{client_config, server_config};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::scheduler::driver::{Driver, Options, Output};
use mesos::transport::parse_masters;
use mesos::wire::pb::FrameworkInfo;
use mesos::wire::pb::scheduler::{Call, call, event};
use prost_reflect::Value;
use support::pki::{Pki, pki};

fn tls_cluster(p: &Pki, heartbeat: Duration) -> LocalCluster {
    LocalCluster::start(ClusterConfig {
        tls_cert: Some(p.cert.clone()),
        tls_key: Some(p.key.clone()),
        heartbeat_interval: heartbeat,
        allocation_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .unwrap()
}

fn driver(url: &str, ca_file: Option<PathBuf>) -> Driver {
    let fw = FrameworkInfo {
        user: "tester".into(),
        name: "tls".into(),
        ..Default::default()
    };
    let mut o = Options::new(parse_masters(url).unwrap(), fw);
    o.ca_file = ca_file;
    o.machine.backoff_min = Duration::from_millis(20);
    o.machine.backoff_max = Duration::from_millis(100);
    o.connect_timeout = Duration::from_secs(2);
    let mut d = Driver::new(o).unwrap();
    d.start().unwrap();
    d
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

/// Waits for an output matching `pred`, failing on a CallFailed or after
/// `secs`; returns it.
fn wait_for(d: &Driver, secs: u64, mut pred: impl FnMut(&Output) -> bool) -> Output {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for driver output");
        if let Some(o) = d.recv(left.min(Duration::from_millis(100))) {
            assert!(!matches!(o, Output::CallFailed { .. }), "{o:?}");
            if pred(&o) {
                return o;
            }
        }
    }
}

/// The first Disconnected reason; the driver must never subscribe.
fn first_disconnect(d: &Driver) -> String {
    let o = wait_for(d, 10, |o| {
        assert_ne!(
            event_type(o),
            Some(event::Type::Subscribed as i32),
            "subscribed over a connection that should have failed"
        );
        matches!(o, Output::Disconnected(_) | Output::Stopped(_))
    });
    match o {
        Output::Disconnected(why) | Output::Stopped(why) => {
            eprintln!("disconnected: {why}");
            why
        }
        _ => unreachable!(),
    }
}

fn offer_ids(o: &Output) -> Vec<mesos::wire::pb::OfferId> {
    let Output::Event(ev) = o else { return vec![] };
    let ev: mesos::wire::pb::scheduler::Event = ev.transcode_to().unwrap();
    ev.offers
        .map(|o| o.offers.into_iter().map(|o| o.id).collect())
        .unwrap_or_default()
}

#[test]
fn scheduler_subscribes_gets_offers_and_calls_over_https() {
    let p = pki("ok", &["localhost", "127.0.0.1"]);
    let cluster = tls_cluster(&p, Duration::from_secs(15));
    assert!(cluster.url().starts_with("https://"), "{}", cluster.url());
    let mut d = driver(&cluster.url(), Some(p.ca.clone()));
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Subscribed as i32)
    });
    let offers = wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Offers as i32)
    });
    let ids = offer_ids(&offers);
    assert!(!ids.is_empty());
    // Two calls on the keep-alive TLS call connection.
    for call in [
        Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: ids,
                filters: None,
            }),
            ..Default::default()
        },
        Call {
            r#type: Some(call::Type::Revive as i32),
            revive: Some(call::Revive { roles: vec![] }),
            ..Default::default()
        },
    ] {
        d.send(call).unwrap();
    }
    // REVIVE after the DECLINE: the agent is offered again.
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Offers as i32)
    });
    let end = Instant::now() + Duration::from_secs(10);
    while d.stats().calls.load(std::sync::atomic::Ordering::Relaxed) < 2 {
        assert!(Instant::now() < end, "calls not acknowledged");
        if let Some(o) = d.recv(Duration::from_millis(50)) {
            assert!(!matches!(o, Output::CallFailed { .. }), "{o:?}");
        }
    }
    assert_eq!(
        d.stats()
            .calls_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    d.stop(false);
}

#[test]
fn system_roots_do_not_trust_a_private_ca() {
    let p = pki("noca", &["localhost", "127.0.0.1"]);
    let cluster = tls_cluster(&p, Duration::from_secs(15));
    let mut d = driver(&cluster.url(), None);
    let why = first_disconnect(&d);
    let host = format!("TLS handshake with 127.0.0.1:{}", cluster.addr().port());
    assert!(why.contains(&host), "{why}");
    assert!(why.contains("UnknownIssuer"), "{why}");
    d.abort();
}

#[test]
fn another_ca_is_not_trusted_either() {
    let p = pki("srv", &["localhost", "127.0.0.1"]);
    let other = pki("other", &["localhost", "127.0.0.1"]);
    let cluster = tls_cluster(&p, Duration::from_secs(15));
    let mut d = driver(&cluster.url(), Some(other.ca.clone()));
    let why = first_disconnect(&d);
    assert!(why.contains("invalid peer certificate"), "{why}");
    d.abort();
}

#[test]
fn a_certificate_for_another_host_fails() {
    let p = pki("name", &["elsewhere.example"]);
    let cluster = tls_cluster(&p, Duration::from_secs(15));
    let mut d = driver(&cluster.url(), Some(p.ca.clone()));
    let why = first_disconnect(&d);
    let host = format!("TLS handshake with 127.0.0.1:{}", cluster.addr().port());
    assert!(why.contains(&host), "{why}");
    assert!(why.contains("not valid for name"), "{why}");
    // The same through `localhost`.
    let mut d2 = driver(
        &format!("https://localhost:{}", cluster.addr().port()),
        Some(p.ca.clone()),
    );
    let why = first_disconnect(&d2);
    assert!(why.contains("not valid for name"), "{why}");
    d.abort();
    d2.abort();
}

#[test]
fn no_clear_text_either_way() {
    let p = pki("plain", &["localhost", "127.0.0.1"]);
    let cluster = tls_cluster(&p, Duration::from_secs(15));
    let port = cluster.addr().port();
    // Clear text to the TLS server: refused, never served.
    let mut c = Conn::connect("127.0.0.1", port, Duration::from_secs(2)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = c
        .roundtrip("GET", "/master/state", &Headers::default(), &[])
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body_text().contains("https only"), "{}", r.body_text());
    // A driver given http:// for it gets the same answer.
    let mut d = driver(&format!("http://127.0.0.1:{port}"), None);
    let why = first_disconnect(&d);
    assert!(why.contains("https only"), "{why}");
    d.abort();
    // TLS to a clear-text server: the handshake fails, nothing is sent.
    let plain = LocalCluster::start(ClusterConfig::default()).unwrap();
    let cfg = client_config(Some(&p.ca)).unwrap();
    let err = match Conn::connect_tls(
        "127.0.0.1",
        plain.addr().port(),
        Duration::from_secs(5),
        cfg,
    ) {
        Ok(_) => panic!("TLS handshake with a clear-text server succeeded"),
        Err(e) => e.to_string(),
    };
    let host = format!("TLS handshake with 127.0.0.1:{}", plain.addr().port());
    assert!(err.contains(&host), "{err}");
}

#[test]
fn idle_stream_keeps_delivering_heartbeats_over_tls() {
    let p = pki("hb", &["localhost", "127.0.0.1"]);
    let cluster = tls_cluster(&p, Duration::from_millis(400));
    let mut d = driver(&cluster.url(), Some(p.ca.clone()));
    wait_for(&d, 10, |o| {
        event_type(o) == Some(event::Type::Subscribed as i32)
    });
    // 400 ms between heartbeats: each gap spans read timeouts of the 250 ms
    // tick. Five heartbeats take about 2 s.
    let start = Instant::now();
    let mut beats = 0;
    while beats < 5 {
        wait_for(&d, 10, |o| {
            assert!(!matches!(o, Output::Disconnected(_)), "{o:?}");
            event_type(o) == Some(event::Type::Heartbeat as i32)
        });
        beats += 1;
    }
    assert!(start.elapsed() >= Duration::from_millis(1200));
    assert_eq!(
        d.stats()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    d.stop(false);
}

/// A read timeout that falls inside a TLS record is retried without losing
/// the part of the record already read.
#[test]
fn read_timeout_inside_a_tls_record_loses_nothing() {
    let p = pki("split", &["localhost", "127.0.0.1"]);
    let scfg = server_config(&p.cert, &p.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (timed_out_tx, timed_out_rx) = crossbeam_channel::bounded::<()>(1);
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(scfg).unwrap();
        let mut s = rustls::StreamOwned::new(conn, sock);
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            req.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .unwrap();
        s.flush().unwrap();
        // The next record, sent in two halves with a client timeout between.
        s.conn
            .writer()
            .write_all(b"5\r\nworld\r\n0\r\n\r\n")
            .unwrap();
        let mut rec = Vec::new();
        while s.conn.wants_write() {
            s.conn.write_tls(&mut rec).unwrap();
        }
        let half = rec.len() / 2;
        s.sock.write_all(&rec[..half]).unwrap();
        s.sock.flush().unwrap();
        timed_out_rx.recv().unwrap();
        s.sock.write_all(&rec[half..]).unwrap();
        s.sock.flush().unwrap();
        let _ = timed_out_rx.recv();
    });
    let ccfg = client_config(Some(&p.ca)).unwrap();
    let mut c = Conn::connect_tls("127.0.0.1", port, Duration::from_secs(5), ccfg).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_request("GET", "/", &Headers::default(), &[])
        .unwrap();
    let (status, headers) = c.read_response_head().unwrap();
    assert_eq!(status, 200);
    let mut body = c.into_stream(&headers);
    body.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut out = Vec::new();
    let mut timeouts_after_hello = 0;
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "stream stalled: {out:?}");
        match body.read_data(&mut out) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                if out == b"hello" {
                    timeouts_after_hello += 1;
                    if timeouts_after_hello == 1 {
                        timed_out_tx.send(()).unwrap();
                    }
                }
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
    drop(timed_out_tx);
    assert_eq!(out, b"helloworld");
    assert!(timeouts_after_hello >= 1);
    server.join().unwrap();
}

#[test]
fn bad_pem_files_are_named() {
    let p = pki("pem", &["localhost"]);
    let e = LocalCluster::start(ClusterConfig {
        tls_cert: Some(p.key.clone()),
        tls_key: Some(p.key.clone()),
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("key.pem") && e.contains("no certificate"), "{e}");
    let e = client_config(Some(&p.dir.join("missing.pem")))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("CA file") && e.contains("missing.pem"), "{e}");
    let only_cert = LocalCluster::start(ClusterConfig {
        tls_cert: Some(p.cert.clone()),
        ..Default::default()
    });
    assert!(only_cert.is_err());
}

/// The executor driver against an https agent (`LIBPROCESS_SSL_ENABLED=1`):
/// SUBSCRIBE stream and calls over TLS; when the executor goes away the
/// agent's streaming response notices (close detection through rustls).
#[test]
fn executor_driver_over_https() {
    use mesos::executor::driver::{Driver as ExecDriver, Options as ExecOptions};
    use mesos::executor::env::ExecutorEnv;
    use mesos::http::server::{Reply, Request, Server};
    use mesos::wire::codec::{self, Encoding};
    use mesos::wire::pb;
    use mesos::wire::pb::executor::{Call as ExecCall, Event as ExecEvent};
    use mesos::wire::recordio;

    let p = pki("exec", &["localhost", "127.0.0.1"]);
    let (calls_tx, calls_rx) = crossbeam_channel::unbounded::<i32>();
    let (closed_tx, closed_rx) = crossbeam_channel::unbounded::<()>();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let keep2 = keep.clone();
    let handler = Arc::new(move |req: Request| {
        let Ok(c) = codec::decode::<ExecCall>(&req.body, Encoding::Protobuf, true) else {
            return Reply::text(400, "bad call");
        };
        let ty = c.r#type.unwrap_or(0);
        let _ = calls_tx.send(ty);
        if ty != pb::executor::call::Type::Subscribe as i32 {
            return Reply::status(202);
        }
        let ev = ExecEvent {
            r#type: Some(pb::executor::event::Type::Subscribed as i32),
            subscribed: Some(pb::executor::event::Subscribed {
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
                    id: Some(pb::AgentId { value: "a1".into() }),
                    ..Default::default()
                },
                container_id: None,
            }),
            ..Default::default()
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let _ = tx.send(recordio::encode(&codec::encode(&ev, Encoding::Protobuf)));
        keep2.lock().unwrap().push(tx);
        let closed = closed_tx.clone();
        Reply::Stream {
            headers: Headers::default().with("Content-Type", Encoding::Protobuf.content_type()),
            rx,
            on_close: Box::new(move || {
                let _ = closed.send(());
            }),
        }
    });
    let server = Server::bind_tls(
        "127.0.0.1:0",
        handler,
        Some(server_config(&p.cert, &p.key).unwrap()),
    )
    .unwrap();
    let addr = server.addr().to_string();
    let env = ExecutorEnv::from_lookup(|k| match k {
        "MESOS_FRAMEWORK_ID" => Some("fw".into()),
        "MESOS_EXECUTOR_ID" => Some("ex".into()),
        "MESOS_AGENT_ENDPOINT" => Some(addr.clone()),
        "LIBPROCESS_SSL_ENABLED" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    assert!(env.agent.tls);
    let mut o = ExecOptions::new(env);
    o.shutdown_watchdog = false;
    o.ca_file = Some(p.ca.clone());
    let mut d = ExecDriver::new(o).unwrap();
    d.start().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while d.agent_id().is_none() {
        assert!(Instant::now() < end, "executor never subscribed");
        if let Some(o) = d.recv(Duration::from_millis(100)) {
            assert!(!matches!(o, Output::Disconnected(_)), "{o:?}");
        }
    }
    d.message(b"hello".to_vec()).unwrap();
    let message = pb::executor::call::Type::Message as i32;
    let mut seen = vec![];
    while !seen.contains(&message) {
        seen.push(
            calls_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("MESSAGE call over TLS"),
        );
    }
    assert!(closed_rx.try_recv().is_err(), "stream closed early");
    d.stop();
    closed_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the agent notices the executor is gone");
    drop(keep);
}
