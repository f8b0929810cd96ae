//! HTTP Basic authentication of schedulers: the local master's rules (as
//! Mesos with `--authenticate_http_frameworks` and `--credentials`), and
//! the driver's credentials, kept across redirects and never leaked.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos::credentials::{self, Credential};
use mesos::http::Headers;
use mesos::http::server::{Reply, Request, Server};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::scheduler::driver::{Driver, Options, Output};
use mesos::transport::parse_masters;
use mesos::wire::codec::{self, Encoding};
use support::*;

const SECRET: &str = "kite-surf-7734";

fn creds() -> Vec<Credential> {
    credentials::parse("alice kite-surf-7734\nbob other-secret", "test").unwrap()
}

fn cluster() -> LocalCluster {
    LocalCluster::start(ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(1),
        framework_credentials: Some(creds()),
        ..Default::default()
    })
    .expect("cluster starts")
}

/// SUBSCRIBE with `auth` (an Authorization value) and a framework claiming
/// `principal`; returns the status and headers of the answer.
fn subscribe_raw(c: &LocalCluster, auth: Option<&str>, principal: Option<&str>) -> (u16, Headers) {
    let mut fw = framework("auth");
    fw.principal = principal.map(str::to_string);
    let body = codec::encode(&subscribe_call(fw), Encoding::Json);
    let mut h = Headers::default()
        .with("Content-Type", "application/json")
        .with("Accept", "application/json");
    if let Some(a) = auth {
        h = h.with("Authorization", a);
    }
    let mut conn = connect(c);
    conn.send_request("POST", PATH, &h, &body).unwrap();
    conn.read_response_head().unwrap()
}

#[test]
fn local_master_requires_basic_credentials_as_mesos_does() {
    let c = cluster();
    let alice = Credential::new("alice", SECRET).unwrap().basic_header();
    for auth in [
        None,
        Some("Basic YWxpY2U6d3Jvbmc="), // alice:wrong
        Some("Bearer abc"),
        Some("Basic %%%"),
        Some(Credential::new("bob", SECRET).unwrap().basic_header()).as_deref(),
    ] {
        let (status, h) = subscribe_raw(&c, auth, None);
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(
            h.get("www-authenticate"),
            Some("Basic realm=\"mesos-master-scheduler\"")
        );
    }
    // Authentication comes before everything else, calls included.
    let mut conn = connect(&c);
    let r = conn
        .roundtrip(
            "POST",
            PATH,
            &Headers::default().with("Content-Type", "text/plain"),
            b"x",
        )
        .unwrap();
    assert_eq!(r.status, 401);

    let (status, h) = subscribe_raw(&c, Some(&alice), None);
    assert_eq!(status, 200);
    assert_eq!(h.get("content-type"), Some("application/json"));
    let (status, _) = subscribe_raw(&c, Some(&alice), Some("alice"));
    assert_eq!(status, 200);
    let mut fw = framework("auth");
    fw.principal = Some("bob".into());
    let body = codec::encode(&subscribe_call(fw), Encoding::Json);
    let r = connect(&c)
        .roundtrip(
            "POST",
            PATH,
            &Headers::default()
                .with("Content-Type", "application/json")
                .with("Authorization", alice.as_str()),
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        "Authenticated principal 'alice' does not match principal 'bob' set in `FrameworkInfo`"
    );
}

fn driver(masters: &str, cred: Option<Credential>) -> Driver {
    let mut o = Options::new(parse_masters(masters).unwrap(), framework("auth-driver"));
    o.machine.backoff_min = Duration::from_millis(20);
    o.machine.backoff_max = Duration::from_millis(100);
    o.connect_timeout = Duration::from_secs(2);
    o.credential = cred;
    Driver::new(o).unwrap()
}

fn outputs_until(d: &Driver, secs: u64, mut done: impl FnMut(&Output) -> bool) -> Vec<Output> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut out = vec![];
    while Instant::now() < end {
        if let Some(o) = d.recv(Duration::from_millis(100)) {
            let stop = done(&o);
            out.push(o);
            if stop {
                return out;
            }
        }
    }
    panic!("timed out; saw {} outputs", out.len());
}

fn is_subscribed(o: &Output) -> bool {
    matches!(o, Output::Event(ev) if ev.get_field_by_name("type").is_some_and(|t| {
        t.as_enum_number() == Some(mesos::wire::pb::scheduler::event::Type::Subscribed as i32)
    }))
}

#[test]
fn wrong_credentials_stop_the_driver_once_without_leaking_the_secret() {
    mesos::log::set_level(Some(mesos::log::Level::Trace));
    mesos::log::capture(true);
    let c = cluster();
    let wrong = Credential::new("alice", "not-the-kite-surf-7734").unwrap();
    let mut d = driver(&c.url(), Some(wrong));
    d.start().unwrap();
    let outs = outputs_until(&d, 10, |o| matches!(o, Output::Stopped(_)));
    d.stop(true);
    // One SUBSCRIBE, one clear report, no retry storm.
    let texts: Vec<String> = outs
        .iter()
        .map(|o| match o {
            Output::Event(_) => "event".to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(outs.len(), 2, "{texts:?}");
    assert!(
        matches!(&outs[0], Output::Disconnected(r)
            if r.contains("authentication failed") && r.contains("HTTP 401") && r.contains("'alice'")),
        "{texts:?}"
    );
    // Neither the reports nor any log record carry the secret.
    let records = mesos::log::drain();
    assert!(!records.is_empty());
    for text in texts
        .iter()
        .cloned()
        .chain(records.into_iter().map(|r| r.message))
    {
        assert!(!text.contains("kite-surf"), "{text}");
        assert!(
            !text.contains("bm90LXRoZS1raXRl"),
            "base64 of the secret: {text}"
        );
    }
    mesos::log::capture(false);
    mesos::log::set_level(Some(mesos::log::Level::Warn));

    // The right one subscribes, and the principal lands in FrameworkInfo.
    let right = Credential::new("alice", SECRET).unwrap();
    let mut d = driver(&c.url(), Some(right));
    d.start().unwrap();
    outputs_until(&d, 10, is_subscribed);
    let state = connect(&c)
        .roundtrip("GET", "/master/state", &Headers::default(), b"")
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&state.body).unwrap();
    assert_eq!(v["frameworks"][0]["principal"], "alice", "{v}");
    d.stop(false);
}

#[test]
fn credentials_survive_redirects_to_the_leader() {
    let leader = cluster();
    // A non-leading master: authenticates first (as Mesos does), then
    // redirects protocol-relatively to the leader.
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen2 = seen.clone();
    let known = creds();
    let loc = format!("//{}/master/api/v1/scheduler", leader.addr());
    let follower = Server::bind(
        "127.0.0.1:0",
        Arc::new(move |req: Request| {
            let auth = req.headers.get("authorization").map(str::to_string);
            seen2.lock().unwrap().push(auth.clone());
            if credentials::authenticate(auth.as_deref(), &known).is_none() {
                return Reply::status(401)
                    .with_header("WWW-Authenticate", "Basic realm=\"mesos-master-scheduler\"");
            }
            Reply::status(307).with_header("Location", &loc)
        }),
    )
    .unwrap();
    let cred = Credential::new("alice", SECRET).unwrap();
    let mut d = driver(&follower.addr().to_string(), Some(cred.clone()));
    d.start().unwrap();
    outputs_until(&d, 10, is_subscribed);
    // A call after the redirect goes to the leader with the credentials
    // (the leader answers 401 to anything without them): a RECONCILE of an
    // unknown task comes back as an UPDATE.
    use mesos::wire::pb::scheduler::{Call, call};
    d.send(Call {
        r#type: Some(call::Type::Reconcile as i32),
        reconcile: Some(call::Reconcile {
            tasks: vec![call::reconcile::Task {
                task_id: mesos::wire::pb::TaskId {
                    value: "nobody".into(),
                },
                agent_id: None,
            }],
        }),
        ..Default::default()
    })
    .unwrap();
    let outs = outputs_until(&d, 10, |o| {
        matches!(o, Output::CallFailed { .. })
            || matches!(o, Output::Event(ev) if ev
                .transcode_to::<mesos::wire::pb::scheduler::Event>()
                .ok()
                .and_then(|e| e.update)
                .is_some_and(|u| u.status.task_id.value == "nobody"))
    });
    let last = outs.last().unwrap();
    assert!(
        matches!(last, Output::Event(_)),
        "the call failed: {:?}",
        match last {
            Output::CallFailed { reason, .. } => reason.as_str(),
            _ => "",
        }
    );
    d.stop(false);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &[Some(cred.basic_header())],
        "the follower saw the credentials once"
    );
}
