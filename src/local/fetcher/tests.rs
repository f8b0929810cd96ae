//! The fetcher's tests: URIs, sizes, the cache, concurrent and failing
//! downloads, archives, stalls and cancellation (with local HTTP servers).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;

use super::error::{FetchError, MAX_REDIRECTS};
use super::fetch::{DEFAULT_STALL_TIMEOUT, Fetcher, FetcherConfig};
use super::uri::{HttpUrl, Source, parse_bytes, redact};
use crate::base::lock;
use crate::net::http::Headers;
use crate::net::http::server::{Reply, Request, Server};
use crate::wire::pb;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "lua-mesos-fetcher-{}-{tag}-{}",
            std::process::id(),
            crate::local::protocol::uuid_string(&crate::local::protocol::new_uuid())
        ));
        fs::create_dir_all(&d).expect("mkdir");
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn fetcher(dir: &Path, cache_size: u64, stall: Duration) -> Fetcher {
    Fetcher::new(FetcherConfig {
        cache_dir: dir.join("cache"),
        cache_size,
        stall_timeout: stall,
        ca_file: None,
    })
}

fn uri(value: &str, cache: bool) -> pb::command_info::Uri {
    pb::command_info::Uri {
        value: value.into(),
        cache: Some(cache),
        ..Default::default()
    }
}

fn cached_files(f: &Fetcher) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(&f.cfg.cache_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition never held");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A plain HTTP server counting the requests of each path.
struct Counting {
    server: Server,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Counting {
    fn start(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Counting {
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let h = hits.clone();
        let server = Server::bind(
            "127.0.0.1:0",
            Arc::new(move |req: Request| {
                *lock(&h).entry(req.path.clone()).or_default() += 1;
                reply(&req)
            }),
        )
        .expect("bind");
        Counting { server, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    fn hits(&self, path: &str) -> usize {
        lock(&self.hits).get(path).copied().unwrap_or(0)
    }
}

#[test]
fn sizes_in_mesos_bytes_syntax() {
    assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
    assert_eq!(parse_bytes("512MB"), Ok(512 << 20));
    assert_eq!(parse_bytes(" 10 KB "), Ok(10 << 10));
    assert_eq!(parse_bytes("1.5KB"), Ok(1536));
    assert_eq!(parse_bytes("100B"), Ok(100));
    assert_eq!(parse_bytes("0"), Ok(0));
    for bad in ["", "GB", "-1MB", "12 parsecs", "1e3"] {
        assert!(parse_bytes(bad).is_err(), "{bad}");
    }
}

#[test]
fn passwords_never_reach_messages() {
    assert_eq!(
        redact("https://alice:s3cret@h:1/p@x"),
        "https://alice:xxxxx@h:1/p@x"
    );
    assert_eq!(redact("https://alice@h/x"), "https://alice@h/x");
    assert_eq!(redact("/tmp/a@b:c"), "/tmp/a@b:c");
    let f = fetcher(Path::new("/nonexistent"), 0, DEFAULT_STALL_TIMEOUT);
    let cmd = pb::CommandInfo {
        uris: vec![uri("hdfs://bob:hunter2@nn/x", false)],
        ..Default::default()
    };
    let e = f
        .fetch_all(&cmd, None, Path::new("/nonexistent"))
        .expect_err("hdfs");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("hdfs://bob:xxxxx@nn/x"), "{e}");
}

#[test]
fn urls_redirects_and_base_names() {
    let u = HttpUrl::parse("https://u:p%40ss@h:8443/a/b.tgz?x=1#frag").expect("url");
    assert_eq!(u.ep.to_string(), "https://h:8443");
    assert_eq!(u.path, "/a/b.tgz?x=1");
    assert_eq!(u.basename(), Some("b.tgz"));
    let basic = base64::engine::general_purpose::STANDARD.encode("u:p@ss");
    assert_eq!(u.auth.as_deref(), Some(format!("Basic {basic}").as_str()));
    assert_eq!(u.to_string(), "https://h:8443/a/b.tgz?x=1");

    let same = u.follow("c.txt").expect("relative");
    assert_eq!(
        (same.path.as_str(), same.auth.is_some()),
        ("/a/c.txt", true)
    );
    let abs = u.follow("/d").expect("absolute path");
    assert_eq!((abs.path.as_str(), abs.ep == u.ep), ("/d", true));
    let other = u.follow("//mirror:80/e").expect("protocol-relative");
    assert_eq!(other.ep.to_string(), "https://mirror:80");
    assert!(other.auth.is_none(), "credentials stay with their server");
    assert!(u.follow("http://plain/f").is_some_and(|x| !x.ep.tls));
    assert!(u.follow("ftp://x/y").is_none());

    let bare = HttpUrl::parse("http://h").expect("url");
    assert_eq!((bare.ep.port, bare.path.as_str()), (80, "/"));
    assert_eq!(bare.basename(), None);
    assert!(HttpUrl::parse("http:///x").is_err());
    let v6 = HttpUrl::parse("HTTP://[::1]:8080?q").expect("url");
    assert_eq!(
        (v6.ep.to_string(), v6.path.as_str()),
        ("http://[::1]:8080".into(), "/?q")
    );
    assert!(matches!(
        HttpUrl::parse("http://u:pw@h:x/"),
        Err(FetchError::Malformed(m)) if m == "http://u:xxxxx@h:x/"
    ));
}

#[test]
fn unsupported_schemes_say_so() {
    for (value, hint) in [
        ("hdfs://nn:8020/data/x.csv", "Hadoop"),
        ("s3://bucket/x", "Hadoop"),
        ("s3a://bucket/x", "Hadoop"),
        ("ftp://host/x", "libcurl"),
    ] {
        let e = Source::parse(value).expect_err(value).to_string();
        let scheme = &value[..value.find(':').unwrap_or(0)];
        assert!(
            e.contains(&format!("does not fetch {scheme}:// URIs")) && e.contains(hint),
            "{e}"
        );
    }
    assert!(matches!(Source::parse("FILE:///x"), Ok(Source::Path(p)) if p == Path::new("/x")));
}

#[test]
fn output_file_stays_inside_the_sandbox() {
    let s = Scratch::new("outfile");
    fs::write(s.0.join("a.txt"), "a").expect("write");
    let f = fetcher(&s.0, 0, DEFAULT_STALL_TIMEOUT);
    let sandbox = s.0.join("sandbox");
    for bad in ["../escape", "/abs", "", "x/../../y"] {
        let mut u = uri(&s.0.join("a.txt").display().to_string(), false);
        u.output_file = Some(bad.into());
        assert!(
            matches!(f.fetch(&u, None, &sandbox), Err(FetchError::OutputFile(_))),
            "{bad}"
        );
    }
    let mut u = uri(&s.0.join("a.txt").display().to_string(), false);
    u.output_file = Some("./sub/b.txt".into());
    f.fetch(&u, None, &sandbox).expect("fetch");
    assert_eq!(text(&sandbox, "sub/b.txt").as_deref(), Some("a"));
}

#[test]
fn the_cache_is_keyed_by_user_and_uri_and_evicts_the_least_recently_used() {
    let s = Scratch::new("lru");
    for name in ["a", "b", "c"] {
        fs::write(s.0.join(name), vec![b'x'; 100]).expect("write");
    }
    let f = fetcher(&s.0, 250, DEFAULT_STALL_TIMEOUT);
    let sandbox = s.0.join("sandbox");
    let get = |name: &str, user: Option<&str>| {
        let got = fetch_text(&f, &s.0.join(name).display().to_string(), user, &sandbox);
        assert_eq!(got.map(|t| t.len()), Some(100));
    };
    get("a", None);
    get("b", None);
    assert_eq!(cached_files(&f), ["c1-a", "c2-b"]);
    get("a", None); // resident: used again, not fetched again
    assert_eq!(cached_files(&f), ["c1-a", "c2-b"]);
    get("c", None); // evicts b, the least recently used
    assert_eq!(cached_files(&f), ["c1-a", "c3-c"]);
    get("a", Some("alice")); // another user: its own entry, evicting a
    assert_eq!(cached_files(&f), ["c3-c", "c4-a"]);
    assert!(lock(&f.cache).used() <= 250);

    // Too large for the cache: fetched anyway, bypassing it.
    fs::write(s.0.join("big"), vec![b'y'; 300]).expect("write");
    let big = fetch_text(&f, &s.0.join("big").display().to_string(), None, &sandbox);
    assert_eq!(big.map(|t| t.len()), Some(300));
    assert_eq!(cached_files(&f), ["c3-c", "c4-a"]);

    f.clear();
    assert!(cached_files(&f).is_empty());
    assert_eq!(lock(&f.cache).used(), 0);
}

/// Fetches `value` with `cache` into `sandbox`; the fetched file's text.
fn fetch_text(f: &Fetcher, value: &str, user: Option<&str>, sandbox: &Path) -> Option<String> {
    f.fetch(&uri(value, true), user, sandbox).expect("fetch");
    let name = Source::parse(value).ok()?.basename(value).ok()?;
    text(sandbox, &name)
}

fn text(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

#[test]
fn concurrent_fetches_of_one_uri_download_once() {
    let (release, gate) = crossbeam_channel::bounded::<()>(0);
    let srv = Counting::start(move |_| {
        let _ = gate.recv(); // until the test drops `release`
        Reply::text(200, "shared data")
    });
    let s = Scratch::new("concurrent");
    let f = Arc::new(fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT));
    let url = srv.url("/shared.txt");
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (f, url, sandbox) = (f.clone(), url.clone(), s.0.join(format!("s{i}")));
            std::thread::spawn(move || {
                f.fetch(&uri(&url, true), Some("u"), &sandbox)
                    .map(|()| text(&sandbox, "shared.txt"))
            })
        })
        .collect();
    // One download in flight, the two other fetches waiting for it.
    wait_until(|| srv.hits("/shared.txt") == 1 && f.waiting() == 2);
    drop(release);
    for t in threads {
        let got = t.join().expect("thread").expect("fetch");
        assert_eq!(got.as_deref(), Some("shared data"));
    }
    assert_eq!(srv.hits("/shared.txt"), 1);
    assert_eq!(cached_files(&f).len(), 1);
}

#[test]
fn a_failed_download_leaves_nothing_and_is_retried_next_time() {
    let fail = Arc::new(AtomicBool::new(true));
    let fail2 = fail.clone();
    let srv = Counting::start(move |req| match req.path.as_str() {
        "/flaky.bin" if fail2.load(Ordering::SeqCst) => Reply::text(500, "no"),
        "/flaky.bin" => Reply::text(200, "fine"),
        "/loop" => Reply::status(302).with_header("Location", "/loop"),
        "/hop" => Reply::status(307).with_header("Location", "sub/flaky.bin"),
        "/sub/flaky.bin" => Reply::text(200, "hopped"),
        "/gone" => Reply::status(301).with_header("Location", "/nowhere"),
        "/chunked.txt" => {
            let (tx, rx) = crossbeam_channel::unbounded();
            let _ = tx.send(b"in chunks".to_vec());
            Reply::Stream {
                headers: Headers::default(),
                rx,
                on_close: Box::new(|| {}),
            }
        }
        _ => Reply::text(404, "not found"),
    });
    let s = Scratch::new("failed");
    let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
    let sandbox = s.0.join("sandbox");
    let e = f
        .fetch(&uri(&srv.url("/flaky.bin"), true), None, &sandbox)
        .expect_err("500");
    assert_eq!(e.to_string(), "the server answered HTTP 500");
    assert!(lock(&f.cache).entries.is_empty());
    assert!(cached_files(&f).is_empty());
    assert!(!sandbox.join("flaky.bin").exists());
    fail.store(false, Ordering::SeqCst);
    f.fetch(&uri(&srv.url("/flaky.bin"), true), None, &sandbox)
        .expect("second try");
    assert_eq!(srv.hits("/flaky.bin"), 2);
    assert_eq!(cached_files(&f), ["c2-flaky.bin"]);

    let e = f
        .fetch(&uri(&srv.url("/loop"), false), None, &sandbox)
        .expect_err("loop");
    assert!(matches!(e, FetchError::Redirects), "{e}");
    assert_eq!(srv.hits("/loop"), MAX_REDIRECTS + 1);

    let mut hop = uri(&srv.url("/hop"), false);
    hop.output_file = Some("hopped.txt".into());
    f.fetch(&hop, None, &sandbox).expect("relative redirect");
    assert_eq!(text(&sandbox, "hopped.txt").as_deref(), Some("hopped"));
    let e = f
        .fetch(&uri(&srv.url("/gone"), false), None, &sandbox)
        .expect_err("404");
    let moved = format!(" (redirected to {})", srv.url("/nowhere"));
    assert_eq!(
        e.to_string(),
        format!("the server answered HTTP 404{moved}")
    );

    // No size up front: delivered, but not cached.
    f.fetch(&uri(&srv.url("/chunked.txt"), true), None, &sandbox)
        .expect("chunked");
    assert_eq!(text(&sandbox, "chunked.txt").as_deref(), Some("in chunks"));
    assert_eq!(cached_files(&f), ["c2-flaky.bin"]);
}

#[test]
fn archives_from_the_cache_leave_only_their_contents() {
    let s = Scratch::new("extract");
    fs::create_dir_all(s.0.join("pkg")).expect("mkdir");
    fs::write(s.0.join("pkg/inside.txt"), "packed\n").expect("write");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&s.0)
        .args(["-czf", "pkg.tar.gz", "pkg"])
        .current_dir(&s.0)
        .status()
        .expect("tar");
    assert!(st.success());
    let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
    let value = s.0.join("pkg.tar.gz").display().to_string();
    for (cache, sandbox) in [(false, "direct"), (true, "cached"), (true, "again")] {
        let sandbox = s.0.join(sandbox);
        f.fetch(&uri(&value, cache), None, &sandbox).expect("fetch");
        assert_eq!(
            text(&sandbox, "pkg/inside.txt").as_deref(),
            Some("packed\n")
        );
        assert_eq!(sandbox.join("pkg.tar.gz").exists(), !cache, "{cache}");
    }
    assert_eq!(cached_files(&f), ["c1-pkg.tar.gz"]);
}

#[test]
fn a_body_cut_short_leaves_no_partial_file() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        let mut r = io::BufReader::new(c.try_clone().expect("clone"));
        crate::net::http::read_head(&mut r).expect("request");
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
            .expect("write");
    });
    let s = Scratch::new("short");
    let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
    let sandbox = s.0.join("sandbox");
    let e = f
        .fetch(
            &uri(&format!("http://{addr}/short.bin"), true),
            None,
            &sandbox,
        )
        .expect_err("short body");
    server.join().expect("server");
    assert!(e.to_string().contains("body ended early"), "{e}");
    assert!(lock(&f.cache).entries.is_empty());
    assert!(cached_files(&f).is_empty());
    assert!(!sandbox.join("short.bin").exists());
}

#[test]
fn a_silent_server_stalls_out_and_cancel_stops_a_fetch_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    // Accepts connections and never answers (they close with the test).
    let held = Arc::new(Mutex::new(vec![]));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            lock(&held2).push(c);
            acc.fetch_add(1, Ordering::SeqCst);
        }
    });
    let s = Scratch::new("stall");
    let url = format!("http://{addr}/silent.txt");

    let f = fetcher(&s.0, 1 << 20, Duration::from_millis(300));
    let t0 = Instant::now();
    let e = f
        .fetch(&uri(&url, true), None, &s.0.join("a"))
        .expect_err("stall");
    assert!(matches!(e, FetchError::Stalled { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "no data for 0.3 s, the fetcher's stall timeout"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(cached_files(&f).is_empty());

    let f = Arc::new(fetcher(&s.0, 1 << 20, Duration::from_secs(600)));
    let (f2, url2, sandbox) = (f.clone(), url.clone(), s.0.join("b"));
    let t = std::thread::spawn(move || f2.fetch(&uri(&url2, true), None, &sandbox));
    wait_until(|| !lock(&f.net.sockets).is_empty());
    let t0 = Instant::now();
    f.cancel();
    let e = t.join().expect("thread").expect_err("cancelled");
    assert!(matches!(e, FetchError::Cancelled), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(lock(&f.cache).entries.is_empty());
}
