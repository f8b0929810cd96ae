//! The local agent's fetcher over https, end to end: command tasks on a
//! local cluster whose `CommandInfo.uris` point at an https server started
//! here (a throwaway CA, support/pki.rs) that counts its requests. The
//! cluster trusts the CA through `tls_ca_file`.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mesos::http::server::{Reply, Request, Server};
use mesos::http::tls::server_config;
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::wire::codec::Encoding;
use mesos::wire::pb::task_status::{Reason, Source};
use mesos::wire::pb::{self, TaskState};
use support::pki::{Pki, pki};
use support::*;

/// An https server of fixed files that counts the requests of each path;
/// `/to/NAME` redirects to `/NAME`.
struct Files {
    server: Server,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Files {
    fn start(p: &Pki, files: &[(&str, Vec<u8>)]) -> Files {
        let files: HashMap<String, Vec<u8>> = files
            .iter()
            .map(|(name, body)| (format!("/{name}"), body.clone()))
            .collect();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let h = hits.clone();
        let handler = Arc::new(move |req: Request| {
            *h.lock().expect("hits").entry(req.path.clone()).or_default() += 1;
            if let Some(name) = req.path.strip_prefix("/to/") {
                return Reply::status(302).with_header("Location", &format!("/{name}"));
            }
            match files.get(&req.path) {
                Some(body) => Reply::Full {
                    status: 200,
                    headers: Default::default(),
                    body: body.clone(),
                },
                None => Reply::text(404, "no such file"),
            }
        });
        let tls = server_config(&p.cert, &p.key).expect("server config");
        let server = Server::bind_tls("127.0.0.1:0", handler, Some(tls)).expect("bind");
        Files { server, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.server.addr().port())
    }

    fn hits(&self, path: &str) -> usize {
        let hits = self.hits.lock().expect("hits");
        hits.get(&format!("/{path}")).copied().unwrap_or(0)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// A TCP server that accepts connections and never says a word.
struct Silent {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = vec![];
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                held.extend(conn.ok());
            }
        });
        Silent {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cluster(p: &Pki, cache_size: u64) -> LocalCluster {
    LocalCluster::start(ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_millis(200),
        tls_ca_file: Some(p.ca.clone()),
        fetcher_cache_size: cache_size,
        fetcher_stall_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .expect("cluster starts")
}

fn uri(value: String, cache: bool) -> pb::command_info::Uri {
    pb::command_info::Uri {
        value,
        cache: Some(cache),
        ..Default::default()
    }
}

fn task_with(
    offer: &pb::Offer,
    id: &str,
    cmd: &str,
    uris: Vec<pb::command_info::Uri>,
) -> pb::TaskInfo {
    let mut t = command_task(offer, id, cmd);
    if let Some(c) = &mut t.command {
        c.uris = uris;
    }
    t
}

/// Acknowledges the updates of `id` until a terminal one, which it returns.
fn terminal(s: &mut Sched, id: &str) -> pb::TaskStatus {
    loop {
        let ev = s.expect(|e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == id)
        });
        let st = ev.update.expect("update").status;
        s.ack(&st);
        if matches!(
            st.state(),
            TaskState::TaskFinished | TaskState::TaskFailed | TaskState::TaskKilled
        ) {
            return st;
        }
    }
}

/// Runs the tasks in one launch and returns their terminal updates.
fn run(s: &mut Sched, tasks: Vec<(&str, &str, Vec<pb::command_info::Uri>)>) -> Vec<pb::TaskStatus> {
    let offer = s.offers().remove(0);
    let ids: Vec<String> = tasks.iter().map(|(id, _, _)| id.to_string()).collect();
    let infos = tasks
        .into_iter()
        .map(|(id, cmd, uris)| task_with(&offer, id, cmd, uris))
        .collect();
    s.launch(&offer, infos);
    ids.iter().map(|id| terminal(s, id)).collect()
}

fn finished(st: &pb::TaskStatus) {
    assert_eq!(
        st.state(),
        TaskState::TaskFinished,
        "{}: {:?}",
        st.task_id.value,
        st.message
    );
}

fn cache_files(c: &LocalCluster) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(c.work_dir().join("fetch/agent-0")) else {
        return vec![];
    };
    let names: BTreeSet<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.into_iter().collect()
}

fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lua-mesos-fetcher-tar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap_or(Path::new("."))).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-czf")
        .arg("archive.tar.gz")
        .args(&names)
        .current_dir(&dir)
        .status()
        .expect("tar");
    assert!(st.success());
    let bytes = std::fs::read(dir.join("archive.tar.gz")).expect("read");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

#[test]
fn https_uris_are_fetched_with_the_cluster_ca_and_cached_uris_downloaded_once() {
    let p = pki("fetch-ok", &["localhost", "127.0.0.1"]);
    let files = Files::start(
        &p,
        &[
            ("data.txt", b"cached data".to_vec()),
            ("plain.txt", b"plain".to_vec()),
            ("both.txt", b"both".to_vec()),
            ("pkg.tar.gz", tarball(&[("pkg/inside.txt", "packed")])),
        ],
    );
    let c = cluster(&p, 1 << 20);
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("fetch"));
    let uris = || {
        vec![
            uri(files.url("data.txt"), true),
            uri(files.url("plain.txt"), false),
            uri(files.url("pkg.tar.gz"), true),
            pb::command_info::Uri {
                output_file: Some("moved.txt".into()),
                ..uri(files.url("to/plain.txt"), false)
            },
        ]
    };
    // From the cache, an extracted archive leaves only its contents.
    let check = r#"test "$(cat data.txt)" = "cached data" && test "$(cat plain.txt)" = plain \
        && test "$(cat moved.txt)" = plain && test "$(cat pkg/inside.txt)" = packed \
        && test ! -e pkg.tar.gz"#;
    // Two tasks, one after the other: the second finds the cache filled.
    finished(&run(&mut s, vec![("first", check, uris())])[0]);
    finished(&run(&mut s, vec![("second", check, uris())])[0]);
    assert_eq!(files.hits("data.txt"), 1, "a cached URI is downloaded once");
    assert_eq!(files.hits("pkg.tar.gz"), 1);
    assert_eq!(files.hits("plain.txt"), 4, "an uncached one every time");
    assert_eq!(files.hits("to/plain.txt"), 2);

    // Two tasks launched together: one download, the other fetch waits for it.
    let both = || vec![uri(files.url("both.txt"), true)];
    let cmd = r#"test "$(cat both.txt)" = both"#;
    for st in run(&mut s, vec![("x", cmd, both()), ("y", cmd, both())]) {
        finished(&st);
    }
    assert_eq!(files.hits("both.txt"), 1);
    let cached = cache_files(&c);
    assert_eq!(cached.len(), 3, "{cached:?}");
    for name in ["data.txt", "pkg.tar.gz", "both.txt"] {
        assert!(
            cached.iter().any(|f| f.ends_with(&format!("-{name}"))),
            "{cached:?}"
        );
    }
}

#[test]
fn the_cache_evicts_the_least_recently_used_entry_to_stay_within_its_size() {
    let p = pki("fetch-lru", &["127.0.0.1"]);
    let files = Files::start(
        &p,
        &[
            ("a.bin", vec![b'a'; 1000]),
            ("b.bin", vec![b'b'; 1000]),
            ("big.bin", vec![b'x'; 2000]),
        ],
    );
    let c = cluster(&p, 1500);
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("lru"));
    let mut fetch = |id: &str, name: &str, user: Option<&str>| {
        let cmd = format!("test $(wc -c < {name}) -gt 999");
        let offer = s.offers().remove(0);
        let mut t = task_with(&offer, id, &cmd, vec![uri(files.url(name), true)]);
        if let Some(cmd) = &mut t.command {
            cmd.user = user.map(str::to_string);
        }
        s.launch(&offer, vec![t]);
        finished(&terminal(&mut s, id));
        cache_files(&c)
    };
    let one = |files: Vec<String>, name: &str| {
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with(name), "{files:?}");
    };
    one(fetch("t1", "a.bin", None), "-a.bin");
    one(fetch("t2", "a.bin", None), "-a.bin");
    one(fetch("t3", "b.bin", None), "-b.bin"); // a is evicted
    one(fetch("t4", "a.bin", None), "-a.bin"); // b is evicted
    assert_eq!((files.hits("a.bin"), files.hits("b.bin")), (2, 1));
    // Entries are per user (CommandInfo.user, else FrameworkInfo.user).
    one(fetch("t5", "a.bin", Some("someone")), "-a.bin");
    assert_eq!(files.hits("a.bin"), 3);
    // Larger than the whole cache: fetched every time, bypassing it.
    one(fetch("t6", "big.bin", None), "-a.bin");
    one(fetch("t7", "big.bin", None), "-a.bin");
    assert_eq!(files.hits("big.bin"), 2);
}

#[test]
fn fetch_failures_fail_the_task_naming_the_uri_and_the_cause() {
    let p = pki("fetch-bad", &["127.0.0.1"]);
    let other = pki("fetch-other", &["127.0.0.1"]);
    let good = Files::start(&p, &[("ok.txt", b"ok".to_vec())]);
    let untrusted = Files::start(&other, &[("secret.txt", b"s".to_vec())]);
    let silent = Silent::start();
    let c = cluster(&p, 1 << 20);
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("bad"));
    let silent_url = format!("https://{}/never.txt", silent.addr);
    let cases = [
        (
            untrusted.url("secret.txt"),
            "invalid peer certificate: UnknownIssuer",
        ),
        (good.url("missing.txt"), "answered HTTP 404"),
        (
            "hdfs://namenode:8020/data/x.csv".to_string(),
            "the local agent does not fetch hdfs:// URIs",
        ),
        (
            "s3://bucket/key".to_string(),
            "the local agent does not fetch s3:// URIs",
        ),
        (silent_url, "timed out"),
    ];
    let tasks: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (u, _))| (format!("bad{i}"), u.clone()))
        .collect();
    let statuses = run(
        &mut s,
        tasks
            .iter()
            .map(|(id, u)| (id.as_str(), "true", vec![uri(u.clone(), true)]))
            .collect(),
    );
    for ((value, cause), st) in cases.iter().zip(&statuses) {
        assert_eq!(st.state(), TaskState::TaskFailed, "{value}");
        assert_eq!(st.reason(), Reason::ContainerLaunchFailed, "{value}");
        assert_eq!(st.source(), Source::Agent);
        let msg = st.message.clone().unwrap_or_default();
        assert!(
            msg.starts_with(&format!("Failed to fetch '{value}': ")) && msg.contains(cause),
            "{msg}"
        );
    }
    assert_eq!(untrusted.hits("secret.txt"), 0);
    // Failed downloads leave no cache entry: the next task fetches afresh.
    assert!(cache_files(&c).is_empty());
    let st = run(
        &mut s,
        vec![(
            "fine",
            "test -s ok.txt",
            vec![uri(good.url("ok.txt"), true)],
        )],
    );
    finished(&st[0]);
}
