//! The web UI's endpoints on a running local cluster: the page and the
//! `/files/*` endpoints behind `--credentials`, each agent serving only its
//! own sandboxes (the master all of them), nothing outside a sandbox, and
//! big downloads streamed whole. (The page itself is tested in a browser by
//! test/webui/browser.py; the answers' shapes against real Mesos by
//! test/differential.)

mod support;

use std::time::Duration;

use mesos::credentials::{self, Credential};
use mesos::http::Headers;
use mesos::http::client::{Conn, Response};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::wire::codec::Encoding;
use support::*;

fn get(port: u16, path: &str, auth: Option<&str>) -> Response {
    let mut conn = Conn::connect("127.0.0.1", port, Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut h = Headers::default();
    if let Some(a) = auth {
        h = h.with("Authorization", a);
    }
    conn.roundtrip("GET", path, &h, &[]).expect("get")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn the_page_and_the_files_need_the_clusters_credentials() {
    let creds = credentials::parse("alice kite-surf-7734", "test").unwrap();
    let alice = creds[0].basic_header();
    let c = LocalCluster::start(ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        framework_credentials: Some(creds),
        ..Default::default()
    })
    .expect("cluster starts");
    let master = c.addr().port();
    let agent = c.agent_addr(0).unwrap().port();
    let wrong = Credential::new("alice", "nope").unwrap().basic_header();
    for (port, path, realm) in [
        (master, "/", "mesos-master-readonly"),
        (master, "/webui/app.js", "mesos-master-readonly"),
        (master, "/files/browse?path=/x", "mesos-master-readonly"),
        (
            master,
            "/files/read?path=/x&offset=0",
            "mesos-master-readonly",
        ),
        (master, "/files/download?path=/x", "mesos-master-readonly"),
        (agent, "/files/browse?path=/x", "mesos-agent-readonly"),
    ] {
        for auth in [None, Some(wrong.as_str())] {
            let r = get(port, path, auth);
            assert_eq!(r.status, 401, "{path} {auth:?}");
            assert_eq!(
                r.headers.get("www-authenticate"),
                Some(format!("Basic realm=\"{realm}\"").as_str())
            );
        }
        let r = get(port, path, Some(&alice));
        assert_ne!(r.status, 401, "{path}");
    }
    let page = get(master, "/", Some(&alice));
    assert_eq!(page.status, 200);
    assert!(page.body_text().contains("/webui/app.js"));
    assert!(
        page.headers
            .get("content-security-policy")
            .is_some_and(|p| p.contains("default-src 'none'"))
    );
}

#[test]
fn each_agent_serves_its_own_sandboxes_and_nothing_outside() {
    let mut c = LocalCluster::start(ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        agents: 2,
        ..Default::default()
    })
    .expect("cluster starts");
    let master = c.addr().port();
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("files"));
    let fw = s.framework_id().value;
    // 9 MB of output: more than a download sent whole.
    let offer = s.run(
        "t1",
        "head -c 9000000 /dev/zero > big; echo out; ln -s / root-link; touch ready; sleep 30",
    );
    let on = offer.agent_id.value.clone();
    let (mine, other) = if c.agent_id(0) == Some(on.as_str()) {
        (0, 1)
    } else {
        (1, 0)
    };
    let mine_port = c.agent_addr(mine).unwrap().port();
    let other_port = c.agent_addr(other).unwrap().port();
    let v = format!("/frameworks/{fw}/executors/t1/runs/latest");
    assert!(wait_until(WAIT, || {
        get(
            master,
            &format!("/files/read?path={}&offset=-1", enc(&format!("{v}/ready"))),
            None,
        )
        .status
            == 200
    }));
    for port in [master, mine_port] {
        let r = get(
            port,
            &format!("/files/read?path={}&offset=0", enc(&format!("{v}/stdout"))),
            None,
        );
        assert_eq!(r.status, 200);
        let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(j["data"], "out\n");
    }
    // Not on the other agent's port.
    let r = get(other_port, &format!("/files/browse?path={}", enc(&v)), None);
    assert_eq!(r.status, 404);
    // Nothing outside a sandbox: the work directory, its agents' dirs,
    // system files, through a symlink or `..`.
    let work = c.work_dir().display().to_string();
    for p in [
        work.clone(),
        format!("{work}/agents"),
        format!("{work}/agents/{on}"),
        format!("{work}/agents/{on}/frameworks/{fw}"),
        "/".into(),
        "/etc/passwd".into(),
        format!("{v}/root-link/etc/passwd"),
        format!("{v}/../../../../../../../../../../../../etc/passwd"),
        format!("{v}/..%2F..%2Fetc"),
    ] {
        for endpoint in ["browse", "read", "download"] {
            let r = get(
                master,
                &format!("/files/{endpoint}?path={}&offset=0", enc(&p)),
                None,
            );
            assert!(
                r.status == 404 || r.status == 400,
                "{endpoint} {p}: {} {}",
                r.status,
                r.body_text()
            );
            assert!(!r.body_text().contains("root:"), "{endpoint} {p}");
        }
    }
    // A big file comes whole, in chunks.
    let r = get(
        master,
        &format!("/files/download?path={}", enc(&format!("{v}/big"))),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len(), 9_000_000);
    assert!(r.body.iter().all(|b| *b == 0));
    // The sandbox stays readable once the task is gone.
    s.simple(mesos::wire::pb::scheduler::call::Type::Teardown);
    assert!(wait_until(WAIT, || {
        let st = master_state(c.addr());
        st["completed_frameworks"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    }));
    let r = get(
        master,
        &format!("/files/read?path={}&offset=0", enc(&format!("{v}/stdout"))),
        None,
    );
    assert_eq!(r.status, 200);
    c.stop();
}
