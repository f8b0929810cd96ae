//! Master detection and election through ZooKeeper, laid out as Mesos does
//! it (`src/master/detector/zookeeper.cpp`, `src/zookeeper/group.cpp`):
//! every master holds an ephemeral sequential znode `json.info_NNNNNNNNNN`
//! (JSON `MasterInfo`) under the path of the `zk://` URL; the leader is the
//! member with the smallest sequence number. Older masters used `info_`
//! (protobuf `MasterInfo`); both are read.
//!
//! - [`Detector`]: the scheduler side. A background thread (a small tokio
//!   runtime: the ZooKeeper client crate is async) watches the children and
//!   publishes the leader's endpoint and a generation number that changes
//!   whenever the leader does; a lost session publishes "no leader".
//! - [`Contender`]: the local master's side. It joins the group and tells
//!   whether this master leads, and who does.
//!
//! The pure parts (URL, member names, `MasterInfo` → endpoint) are
//! separate from the I/O and unit-tested.
//!
//! May import: `base`, `wire`, `net::endpoint` and `net::url`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::base::lock;
use crate::net::endpoint::Endpoint;
pub use crate::net::endpoint::ZkUrl;
use crate::net::url::{Form, HostPort, Url};

/// A group member's znode name: (label, sequence).
fn member(name: &str) -> Option<(&str, u64)> {
    let (label, seq) = name.rsplit_once('_')?;
    if seq.len() != 10 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if label != "json.info" && label != "info" {
        return None;
    }
    Some((label, seq.parse().ok()?))
}

/// The leader's znode among the children: the smallest sequence number.
pub fn leader_child(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|c| member(c).map(|(_, seq)| (seq, c.as_str())))
        .min()
        .map(|(_, c)| c)
}

/// The sequence number of a child name (for a contender to find itself).
pub fn sequence_of(name: &str) -> Option<u64> {
    member(name).map(|(_, seq)| seq)
}

/// The master's HTTP endpoint from its znode's data: JSON `MasterInfo` for
/// `json.info_*`, protobuf for `info_*`. Prefers `address` (hostname, else
/// ip) and falls back to `pid` (`master@ip:port`), then `hostname`/`ip`.
pub fn endpoint_from_info(child: &str, data: &[u8], tls: bool) -> Result<Endpoint, String> {
    let info: crate::wire::pb::MasterInfo = if child.starts_with("json.info") {
        crate::wire::codec::decode(data, crate::wire::codec::Encoding::Json, false)
            .map_err(|e| format!("bad MasterInfo JSON in {child}: {e}"))?
    } else {
        prost::Message::decode(data).map_err(|e| format!("bad MasterInfo in {child}: {e}"))?
    };
    let ep = |host: &str, port: u32| -> Result<Endpoint, String> {
        let port = u16::try_from(port).map_err(|_| format!("bad port {port} in {child}"))?;
        if host.is_empty() || port == 0 {
            return Err(format!("no address in {child}"));
        }
        Ok(Endpoint::tcp(host, port, tls))
    };
    if let Some(a) = &info.address {
        let host = a
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| a.ip.clone())
            .unwrap_or_default();
        if !host.is_empty() {
            return ep(&host, a.port as u32);
        }
    }
    // A libprocess pid, `master@ip:port`: its address is a URL authority.
    if let Some(pid) = info.pid.as_deref()
        && pid.contains('@')
        && let Ok(HostPort {
            host,
            port: Some(port),
        }) = Url::parse(pid, Form::Authority).host_port()
    {
        return ep(host, port.into());
    }
    let host = info.hostname.clone().unwrap_or_else(|| {
        let ip = info.ip.to_le_bytes();
        format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
    });
    ep(&host, info.port)
}

/// What a detector or contender knows about the leader.
#[derive(Debug, Clone, PartialEq)]
pub enum Leader {
    /// Not read yet.
    Unknown,
    /// No leader, or ZooKeeper cannot be reached; the reason.
    None(String),
    Known(Endpoint),
}

#[derive(Debug)]
struct Published {
    leader: Leader,
    /// Changes whenever `leader` does.
    generation: u64,
    /// The contender's own state: whether it leads.
    leading: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<Published>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn publish(&self, leader: Leader, leading: bool) {
        let mut s = lock(&self.state);
        if s.leader != leader || s.leading != leading {
            crate::log!(
                crate::log::Level::Info,
                "zookeeper",
                "leader: {}",
                match &leader {
                    Leader::Known(e) => e.to_string(),
                    Leader::None(why) => format!("none ({why})"),
                    Leader::Unknown => "unknown".into(),
                }
            );
            s.leader = leader;
            s.leading = leading;
            s.generation += 1;
            self.changed.notify_all();
        }
    }
}

/// The handle shared by [`Detector`] and [`Contender`]: a background
/// thread and what it publishes.
#[derive(Debug)]
struct Watch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    fn start(
        name: &str,
        body: impl FnOnce(Arc<Shared>) + Send + 'static,
    ) -> std::io::Result<Watch> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Published {
                leader: Leader::Unknown,
                generation: 0,
                leading: false,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s2 = shared.clone();
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || body(s2))?;
        Ok(Watch {
            shared,
            thread: Some(thread),
        })
    }

    fn current(&self) -> (Leader, u64, bool) {
        let s = lock(&self.shared.state);
        (s.leader.clone(), s.generation, s.leading)
    }

    /// Waits until something is known, `timeout` passes, or a stop is
    /// asked for.
    fn wait_known(&self, timeout: Duration) -> (Leader, u64, bool) {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.shared.state);
        while s.leader == Leader::Unknown && !self.shared.stop.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = match self.shared.changed.wait_timeout(s, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        (s.leader.clone(), s.generation, s.leading)
    }
}

impl Watch {
    /// Asks the background thread to end (it sees it within a tick) and
    /// wakes whoever waits for a first answer; does not wait.
    fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Under the state lock: a waiter between its check and its wait
        // cannot miss the wake-up.
        let _held = lock(&self.shared.state);
        self.shared.changed.notify_all();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often the background loop checks for a stop request while waiting
/// (on ZooKeeper or a timer): a stop is seen within this.
const TICK: Duration = Duration::from_millis(20);
/// ZooKeeper session timeout (Mesos: 10 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the ZooKeeper runtime: {e}"))
}

async fn connect(
    url: &ZkUrl,
    session_timeout: Duration,
) -> Result<zookeeper_client::Client, String> {
    let mut c = zookeeper_client::Client::connector()
        .with_session_timeout(session_timeout)
        .with_connection_timeout(Duration::from_secs(5));
    if let Some(a) = url.auth() {
        c = c.with_auth("digest", a.as_bytes());
    }
    c.connect(&url.servers)
        .await
        .map_err(|e| format!("cannot connect to ZooKeeper at {}: {e}", url.servers))
}

/// Bound on one TCP probe of a ZooKeeper server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why no server of the ensemble can be reached, if none can: a TCP
/// connection to each in turn. The ZooKeeper client retries a refused
/// connection silently until its own timeout; this names the cause at once.
async fn unreachable(servers: &str) -> Option<String> {
    let mut why = vec![];
    for s in servers.split(',') {
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(s)).await {
            Ok(Ok(_)) => return None,
            Ok(Err(e)) => why.push(format!("{s}: {e}")),
            Err(_) => why.push(format!(
                "{s}: no answer within {:.0}s",
                PROBE_TIMEOUT.as_secs_f64()
            )),
        }
    }
    Some(format!(
        "cannot reach any ZooKeeper server of {servers} ({})",
        why.join("; ")
    ))
}

/// Reads the leader and arms a watch on the children; returns the leader,
/// the children, and the watch.
async fn read_leader(
    client: &zookeeper_client::Client,
    path: &str,
    tls: bool,
) -> Result<(Leader, Vec<String>, zookeeper_client::OneshotWatcher), String> {
    let (children, watcher) = match client.list_and_watch_children(path).await {
        Ok(x) => x,
        Err(zookeeper_client::Error::NoNode) => {
            // No group yet: watch for the node to appear.
            let (_, w) = client
                .check_and_watch_stat(path)
                .await
                .map_err(|e| format!("ZooKeeper: {e}"))?;
            return Ok((
                Leader::None(format!("no {path} in ZooKeeper yet")),
                vec![],
                w,
            ));
        }
        Err(e) => return Err(format!("ZooKeeper: {e}")),
    };
    let leader = match leader_child(&children) {
        None => Leader::None("no master is registered in ZooKeeper".into()),
        Some(child) => match client.get_data(&format!("{path}/{child}")).await {
            Ok((data, _)) => match endpoint_from_info(child, &data, tls) {
                Ok(ep) => Leader::Known(ep),
                Err(e) => Leader::None(e),
            },
            // Gone between the two reads: the watch fires and we read again.
            Err(zookeeper_client::Error::NoNode) => Leader::Unknown,
            Err(e) => return Err(format!("ZooKeeper: {e}")),
        },
    };
    Ok((leader, children, watcher))
}

/// Waits for the watch to fire, or the session to change, or a stop.
async fn wait_change(
    shared: &Shared,
    watcher: zookeeper_client::OneshotWatcher,
    state: &mut zookeeper_client::StateWatcher,
) -> bool {
    let fired = watcher.changed();
    tokio::pin!(fired);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        tokio::select! {
            _ = &mut fired => return true,
            s = state.changed() => {
                if s != zookeeper_client::SessionState::SyncConnected {
                    return true;
                }
            }
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Runs `fut` unless a stop is asked for first: None then. Every wait on
/// ZooKeeper goes through here, so a server that never answers cannot hold
/// a stop up.
async fn unless_stopped<T>(
    shared: &Shared,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::pin!(fut);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        tokio::select! {
            r = &mut fut => return Some(r),
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Sleeps `d` in ticks, returning false if asked to stop.
async fn nap(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        tokio::time::sleep(TICK.min(end.saturating_duration_since(Instant::now()))).await;
    }
    !shared.stop.load(Ordering::SeqCst)
}

/// Follows the leading master of a `zk://` group.
#[derive(Debug)]
pub struct Detector {
    watch: Watch,
}

impl Detector {
    /// Starts watching. `tls`: the masters serve https.
    pub fn start(url: ZkUrl, tls: bool) -> std::io::Result<Detector> {
        let watch = Watch::start("mesos-zk-detector", move |shared| {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return shared.publish(Leader::None(e), false),
            };
            rt.block_on(detect(&shared, &url, tls));
        })?;
        Ok(Detector { watch })
    }

    /// The leader now, and the generation (changes with the leader).
    pub fn leader(&self) -> (Leader, u64) {
        let (l, g, _) = self.watch.current();
        (l, g)
    }

    /// Like [`leader`](Self::leader), waiting up to `timeout` for a first answer.
    pub fn wait_leader(&self, timeout: Duration) -> (Leader, u64) {
        let (l, g, _) = self.watch.wait_known(timeout);
        (l, g)
    }

    /// Asks the background thread to end (within a tick; does not wait)
    /// and ends any [`wait_leader`](Self::wait_leader) at once.
    pub fn stop(&self) {
        self.watch.request_stop();
    }
}

async fn detect(shared: &Shared, url: &ZkUrl, tls: bool) {
    let mut backoff = Duration::from_millis(200);
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(down) = unless_stopped(shared, unreachable(&url.servers)).await else {
            return;
        };
        if let Some(why) = down {
            shared.publish(Leader::None(why), false);
            if !nap(shared, backoff).await {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        let Some(connected) = unless_stopped(shared, connect(url, SESSION_TIMEOUT)).await else {
            return;
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                shared.publish(Leader::None(e), false);
                if !nap(shared, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let mut state = client.state_watcher();
        loop {
            let Some(read) = unless_stopped(shared, read_leader(&client, &url.path, tls)).await
            else {
                return;
            };
            match read {
                Ok((leader, _, watcher)) => {
                    if leader != Leader::Unknown {
                        shared.publish(leader, false);
                    }
                    if !wait_change(shared, watcher, &mut state).await {
                        return;
                    }
                }
                Err(e) => {
                    shared.publish(Leader::None(e), false);
                    break; // a fresh session
                }
            }
            if client.state() != zookeeper_client::SessionState::SyncConnected {
                shared.publish(Leader::None("lost the ZooKeeper session".into()), false);
                break;
            }
        }
        if !nap(shared, backoff).await {
            return;
        }
    }
}

/// A master's membership in the group: it leads when its znode has the
/// smallest sequence number.
#[derive(Debug)]
pub struct Contender {
    watch: Watch,
}

impl Contender {
    /// Joins the group with `info_json` (JSON `MasterInfo`) as its data.
    pub fn start(
        url: ZkUrl,
        info_json: String,
        tls: bool,
        session_timeout: Duration,
    ) -> std::io::Result<Contender> {
        let watch = Watch::start("mesos-zk-contender", move |shared| {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return shared.publish(Leader::None(e), false),
            };
            rt.block_on(contend(&shared, &url, &info_json, tls, session_timeout));
        })?;
        Ok(Contender { watch })
    }

    /// (whether this master leads, the leader as far as known).
    pub fn status(&self) -> (bool, Leader) {
        let (l, _, leading) = self.watch.current();
        (leading, l)
    }

    /// Waits up to `timeout` for the first election result.
    pub fn wait_status(&self, timeout: Duration) -> (bool, Leader) {
        let (l, _, leading) = self.watch.wait_known(timeout);
        (leading, l)
    }
}

async fn contend(
    shared: &Shared,
    url: &ZkUrl,
    info_json: &str,
    tls: bool,
    session_timeout: Duration,
) {
    use zookeeper_client::{Acls, CreateMode};
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(connected) = unless_stopped(shared, connect(url, session_timeout)).await else {
            return;
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                shared.publish(Leader::None(e), false);
                if !nap(shared, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let Some(made) = unless_stopped(shared, client.mkdir(&url.path, &persistent)).await else {
            return;
        };
        match made {
            Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => {
                shared.publish(Leader::None(format!("ZooKeeper: {e}")), false);
                if !nap(shared, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        }
        let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
        let node = format!("{}/json.info_", url.path);
        let create = client.create(&node, info_json.as_bytes(), &ephemeral);
        let Some(created) = unless_stopped(shared, create).await else {
            return;
        };
        let mine = match created {
            Ok((_, seq)) => seq.into_i64() as u64,
            Err(e) => {
                shared.publish(Leader::None(format!("ZooKeeper: {e}")), false);
                if !nap(shared, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let mut state = client.state_watcher();
        loop {
            let Some(read) = unless_stopped(shared, read_leader(&client, &url.path, tls)).await
            else {
                return;
            };
            match read {
                Ok((leader, children, watcher)) => {
                    let leading = leader_child(&children).and_then(sequence_of) == Some(mine);
                    if leader != Leader::Unknown {
                        shared.publish(leader, leading);
                    }
                    if !wait_change(shared, watcher, &mut state).await {
                        // Leaving: remove our node now rather than when the
                        // session times out, so another master takes over.
                        let node = format!("{}/json.info_{mine:010}", url.path);
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            client.delete(&node, None),
                        )
                        .await;
                        return;
                    }
                }
                Err(e) => {
                    shared.publish(Leader::None(e), false);
                    break;
                }
            }
            if client.state() != zookeeper_client::SessionState::SyncConnected {
                // Our ephemeral node goes with the session: stop leading.
                shared.publish(Leader::None("lost the ZooKeeper session".into()), false);
                break;
            }
        }
        if !nap(shared, Duration::from_millis(500)).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zk_urls_like_mesos() {
        let u = ZkUrl::parse("zk://h1:2181,h2:2181/mesos").unwrap();
        assert_eq!(
            (u.servers.as_str(), u.path.as_str()),
            ("h1:2181,h2:2181", "/mesos")
        );
        let a = ZkUrl::parse("zk://user:p@ss@h1:2181/a/b/").unwrap();
        assert_eq!(a.auth(), Some("user:p@ss"));
        assert_eq!(a.path, "/a/b");
        assert!(!format!("{a} {a:?}").contains("p@ss"));
        let v6 = ZkUrl::parse(" zk://[::1]:2181,h2/m ").unwrap();
        assert_eq!(
            v6.server_list(),
            vec![("::1".to_string(), 2181), ("h2".to_string(), 2181)]
        );
        assert_eq!(v6.auth(), None);
        for bad in [
            "zk://h1:2181",
            "zk://h1:2181/",
            "zk:///mesos",
            "h:1/x",
            "zk://nopass@h:1/m",
            "zk://h1:2181,/m",
            "zk://h:x/m",
            "zk://h:1?x",
            "http://h:1/m",
        ] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_leader_is_the_smallest_sequence() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            leader_child(&c(&[
                "json.info_0000000007",
                "log_replicas",
                "json.info_0000000003",
                "info_0000000005"
            ])),
            Some("json.info_0000000003")
        );
        assert_eq!(leader_child(&c(&["log_replicas", "other_12"])), None);
        assert_eq!(sequence_of("json.info_0000000042"), Some(42));
        assert_eq!(sequence_of("json.info_42"), None);
    }

    #[test]
    fn endpoint_from_master_info() {
        let json = br#"{"id":"x","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050","hostname":"m1","address":{"hostname":"m1","ip":"127.0.0.1","port":5051}}"#;
        let e = endpoint_from_info("json.info_0000000001", json, false).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("m1", 5051));
        let pid_only = br#"{"id":"x","ip":16777343,"port":5050,"pid":"master@10.0.0.9:5052"}"#;
        let e = endpoint_from_info("json.info_0000000001", pid_only, true).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("10.0.0.9", 5052, true));
        let v6_pid = br#"{"id":"x","ip":16777343,"port":5050,"pid":"master@[::1]:5055"}"#;
        let e = endpoint_from_info("json.info_0000000001", v6_pid, false).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 5055));
        let ip_only = br#"{"id":"x","ip":16777343,"port":5053}"#;
        let e = endpoint_from_info("json.info_0000000001", ip_only, false).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 5053));
        let pb = crate::wire::pb::MasterInfo {
            id: "y".into(),
            ip: 16777343,
            port: 5054,
            hostname: Some("m2".into()),
            ..Default::default()
        };
        let e = endpoint_from_info(
            "info_0000000002",
            &prost::Message::encode_to_vec(&pb),
            false,
        )
        .unwrap();
        assert_eq!((e.host.as_str(), e.port), ("m2", 5054));
        assert!(endpoint_from_info("json.info_0000000001", b"{", false).is_err());
    }
}
