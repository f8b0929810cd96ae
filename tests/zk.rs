//! ZooKeeper master detection and election against a real ZooKeeper
//! (Debian's zookeeperd, started here on a loopback port and stopped by PID):
//! two local masters elect a leader; the other answers 307 to it, and 503
//! when no leader is known; a scheduler driver given `zk://` follows the
//! leader across its death, keeping its framework id.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesos::http::Headers;
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::scheduler::driver::{Driver, Options, Output};
use mesos::transport::{MasterSpec, parse_master_spec};
use mesos::wire::codec::Encoding;
use mesos::wire::pb::scheduler::event;
use support::*;

/// A standalone ZooKeeper server on 127.0.0.1, killed on drop.
struct ZooKeeper {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a four-letter word; the answer.
fn four_letter(port: u16, word: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

impl ZooKeeper {
    fn start() -> ZooKeeper {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("lua-mesos-zk-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // tickTime 500 ms: sessions may be as short as 1 s, so a master that
        // dies without a word is replaced quickly.
        let cfg = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("zk.log")).unwrap();
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-cp",
                "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-nop.jar",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("java (Debian's zookeeperd) is needed for this test");
        let zk = ZooKeeper { child, port, dir };
        let up = wait_until(Duration::from_secs(60), || {
            four_letter(port, "ruok").as_deref() == Some("imok")
        });
        assert!(
            up,
            "ZooKeeper did not start: {}",
            std::fs::read_to_string(zk.dir.join("zk.log")).unwrap_or_default()
        );
        zk
    }

    fn url(&self, path: &str) -> String {
        format!("zk://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn master(zk: &str) -> LocalCluster {
    LocalCluster::start(ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(500),
        zk: Some(zk.to_string()),
        zk_session_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .expect("cluster starts")
}

/// SUBSCRIBE to `c` without following redirects: (status, Location).
fn probe(c: &LocalCluster) -> (u16, Option<String>) {
    let body = mesos::wire::codec::encode(&subscribe_call(framework("probe")), Encoding::Json);
    let h = Headers::default()
        .with("Content-Type", "application/json")
        .with("Accept", "application/json");
    let mut conn = connect(c);
    conn.send_request("POST", "/api/v1/scheduler", &h, &body)
        .unwrap();
    let (status, headers) = conn.read_response_head().unwrap();
    (status, headers.get("location").map(str::to_string))
}

fn leader_of(a: &LocalCluster, b: &LocalCluster) -> Option<usize> {
    match (probe(a).0, probe(b).0) {
        (200, 307) => Some(0),
        (307, 200) => Some(1),
        _ => None,
    }
}

#[test]
fn two_masters_elect_one_leader_and_a_driver_follows_it() {
    let zk = ZooKeeper::start();
    let url = zk.url("/mesos");
    let first = master(&url);
    let second = master(&url);
    // The first to register leads; the other redirects to it.
    assert_eq!(leader_of(&first, &second), Some(0));
    let (status, loc) = probe(&second);
    assert_eq!(status, 307);
    assert_eq!(
        loc.as_deref(),
        Some(format!("//127.0.0.1:{}/api/v1/scheduler", first.addr().port()).as_str())
    );

    // A driver given the zk:// URL subscribes to the leader.
    let MasterSpec::ZooKeeper(zk_url) = parse_master_spec(&url).unwrap() else {
        panic!("not a zk spec");
    };
    let mut fw = framework("zk-follower");
    fw.failover_timeout = Some(60.0);
    let mut o = Options::new(vec![], fw);
    o.zk = Some(zk_url);
    o.machine.backoff_min = Duration::from_millis(50);
    o.machine.backoff_max = Duration::from_millis(300);
    let mut d = Driver::new(o).unwrap();
    d.start().unwrap();
    wait_subscribed(&d);
    let id = d.framework_id().unwrap();
    let state = connect(&first)
        .roundtrip("GET", "/master/state", &Headers::default(), b"")
        .unwrap();
    assert!(
        state.body_text().contains(&id),
        "the leader knows the framework"
    );

    // The leader goes away: the other master is elected, the driver
    // resubscribes there with the same framework id.
    let t0 = Instant::now();
    drop(first);
    wait_subscribed(&d);
    let took = t0.elapsed();
    assert_eq!(d.framework_id().as_deref(), Some(id.as_str()));
    assert_eq!(probe(&second).0, 200, "the second master leads now");
    let state = connect(&second)
        .roundtrip("GET", "/master/state", &Headers::default(), b"")
        .unwrap();
    assert!(state.body_text().contains(&id));
    eprintln!("[zk] failover to the second master took {took:?}");
    d.stop(false);
}

fn wait_subscribed(d: &Driver) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < end, "the driver did not subscribe");
        if let Some(Output::Event(ev)) = d.recv(Duration::from_millis(100))
            && ev
                .get_field_by_name("type")
                .and_then(|t| t.as_enum_number())
                == Some(event::Type::Subscribed as i32)
        {
            return;
        }
    }
}

#[test]
fn without_a_reachable_zookeeper_a_master_answers_503() {
    let zk = ZooKeeper::start();
    let url = zk.url("/mesos-503");
    let a = master(&url);
    assert_eq!(probe(&a).0, 200);
    // ZooKeeper goes away: the session is lost, nobody is known to lead.
    drop(zk);
    assert!(
        wait_until(Duration::from_secs(30), || probe(&a).0 == 503),
        "still {}",
        probe(&a).0
    );
}
