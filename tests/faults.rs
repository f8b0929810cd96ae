//! Fault injection between the scheduler driver and a master: a controllable
//! TCP proxy (cut, stall, truncate mid-record, delay), killing and
//! restarting the master and the agent, a redirect loop, a master that
//! answers 503 for a while, and masters that stop heartbeating.
//!
//! Every scenario runs the same small scheduler: it launches each task id
//! exactly once from the first offer after it was added, acknowledges every
//! update that carries a uuid, and records what it saw. Tasks wait for a
//! gate file, so the test decides when they finish (usually while the fault
//! is on, so their TASK_FINISHED is lost in transit and must be resent by
//! the agent). After recovery each test checks that the driver is
//! subscribed again to the right master with its framework id, that every
//! task's terminal update reached the handler, that its acknowledgement
//! reached the master (the master moves a task to `completed_tasks` only
//! then), and that each task exists once. Waits are on observable
//! conditions, bounded by `LIMIT`; nothing sleeps to synchronise.
//!
//! Each test prints one line of the fault matrix to stderr and appends it
//! to `target/fault-matrix.md` (see docs/faults.md).

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mesos::http::Headers;
use mesos::http::server::{Reply, Request, Server};
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::scheduler::driver::{Driver, Options, Output, Phase};
use mesos::transport::parse_masters;
use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::scheduler::{Call, Event, call, event};
use mesos::wire::pb::{self, TaskState};
use mesos::wire::recordio;
use prost::Message;
use serde_json::Value as Json;
use support::proxy::{Dir, Proxy};
use support::{command_task, launch_op, master_state, wait_until};

/// The local master's heartbeat interval in these tests.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// Silence of FACTOR × HEARTBEAT (1 s) means a dead stream.
const FACTOR: f64 = 4.0;
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// Upper bound on every wait; a scenario takes a few seconds.
const LIMIT: Duration = Duration::from_secs(20);
const TASKS: [&str; 3] = ["t1", "t2", "t3"];

fn config() -> ClusterConfig {
    ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: HEARTBEAT,
        status_update_retry: Duration::from_millis(200),
        ..Default::default()
    }
}

/// The common start of a scenario: a cluster, a proxy in front of it, a
/// driver through the proxy, and the tasks launched and running (they
/// finish when the gate "go" opens).
fn through_proxy(name: &str) -> (LocalCluster, Proxy, Gates, Harness, String) {
    let c = cluster();
    let p = Proxy::start(c.addr());
    let g = Gates::new(name);
    let mut h = Harness::start(&p.addr().to_string(), framework(name, false), |_| {});
    let fid = h.run_tasks(&g, "go");
    (c, p, g, h, fid)
}

fn cluster() -> LocalCluster {
    LocalCluster::start(config()).expect("cluster starts")
}

/// A framework the master keeps for a minute while it is disconnected.
fn framework(name: &str, checkpoint: bool) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        failover_timeout: Some(60.0),
        checkpoint: Some(checkpoint),
        ..support::framework(name)
    }
}

// ------------------------------------------------------------------ gates

/// Files the tasks wait for, in a directory removed on drop.
struct Gates {
    dir: PathBuf,
}

impl Gates {
    fn new(name: &str) -> Gates {
        let dir =
            std::env::temp_dir().join(format!("lua-mesos-faults-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("gate dir");
        Gates { dir }
    }

    /// A task that waits for `gate`, then leaves `done-<task>` and exits 0.
    fn command(&self, gate: &str, task: &str) -> String {
        let d = self.dir.display();
        format!("while [ ! -e '{d}/{gate}' ]; do sleep 0.02; done; : > '{d}/done-{task}'")
    }

    fn open(&self, gate: &str) {
        std::fs::write(self.dir.join(gate), b"").expect("open gate");
    }

    fn done(&self, task: &str) -> bool {
        self.dir.join(format!("done-{task}")).exists()
    }
}

impl Drop for Gates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- harness

/// A SUBSCRIBED event as the handler saw it.
#[derive(Debug, Clone)]
struct Sub {
    at: Instant,
    framework_id: String,
    master_id: String,
    master_port: u32,
}

/// The driver plus a tiny scheduler around it.
struct Harness {
    d: Driver,
    /// Tasks to launch from the next offer: (id, command).
    todo: Vec<(String, String)>,
    /// LAUNCH operations sent, per task id.
    launches: BTreeMap<String, u32>,
    /// Every update: (task, state, had a uuid, when).
    updates: Vec<(String, TaskState, bool, Instant)>,
    /// Agent of each task, from its updates.
    agents: BTreeMap<String, String>,
    acks: usize,
    /// Calls handed to the driver.
    sent: u64,
    subs: Vec<Sub>,
    disconnects: Vec<(Instant, String)>,
    failed_calls: Vec<(String, String)>,
    errors: Vec<String>,
    stopped: Option<String>,
}

impl Harness {
    fn start(masters: &str, fw: pb::FrameworkInfo, tweak: impl FnOnce(&mut Options)) -> Harness {
        let mut o = Options::new(parse_masters(masters).expect("masters"), fw);
        o.machine.backoff_min = BACKOFF_MIN;
        o.machine.backoff_max = BACKOFF_MAX;
        o.machine.heartbeat_factor = FACTOR;
        o.connect_timeout = Duration::from_secs(1);
        o.call_timeout = Duration::from_secs(3);
        tweak(&mut o);
        let mut d = Driver::new(o).expect("driver");
        d.start().expect("driver starts");
        Harness {
            d,
            todo: vec![],
            launches: BTreeMap::new(),
            updates: vec![],
            agents: BTreeMap::new(),
            acks: 0,
            sent: 0,
            subs: vec![],
            disconnects: vec![],
            failed_calls: vec![],
            errors: vec![],
            stopped: None,
        }
    }

    fn add_tasks(&mut self, ids: &[&str], gates: &Gates, gate: &str) {
        for id in ids {
            self.todo.push((id.to_string(), gates.command(gate, id)));
        }
    }

    fn send(&mut self, c: Call) {
        self.d.send(c).expect("the driver takes the call");
        self.sent += 1;
    }

    fn handle(&mut self, out: Output) {
        match out {
            Output::Event(dm) => {
                let ev = Event::decode(dm.encode_to_vec().as_slice()).expect("event");
                self.on_event(ev);
            }
            Output::Disconnected(why) => self.disconnects.push((Instant::now(), why)),
            Output::CallFailed { call_type, reason } => {
                self.failed_calls.push((call_type, reason));
            }
            Output::Stopped(why) => self.stopped = Some(why),
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev.r#type() {
            event::Type::Subscribed => {
                let s = ev.subscribed.expect("subscribed");
                let mi = s.master_info.unwrap_or_default();
                self.subs.push(Sub {
                    at: Instant::now(),
                    framework_id: s.framework_id.value,
                    master_id: mi.id,
                    master_port: mi.port,
                });
            }
            event::Type::Offers => self.on_offers(ev.offers.expect("offers").offers),
            event::Type::Update => {
                let st = ev.update.expect("update").status;
                let task = st.task_id.value.clone();
                if let Some(a) = &st.agent_id {
                    self.agents.insert(task.clone(), a.value.clone());
                }
                self.updates
                    .push((task, st.state(), st.uuid.is_some(), Instant::now()));
                if let (Some(uuid), Some(agent_id)) = (st.uuid, st.agent_id) {
                    self.acks += 1;
                    self.send(Call {
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id,
                            task_id: st.task_id,
                            uuid,
                        }),
                        ..Default::default()
                    });
                }
            }
            event::Type::Error => {
                self.errors
                    .push(ev.error.map(|e| e.message).unwrap_or_default());
            }
            _ => {}
        }
    }

    /// Launches everything waiting on the first offer (once per task id),
    /// declines the rest for an hour.
    fn on_offers(&mut self, offers: Vec<pb::Offer>) {
        let long = Some(pb::Filters {
            refuse_seconds: Some(3600.0),
        });
        let mut offers = offers.into_iter();
        if !self.todo.is_empty()
            && let Some(o) = offers.next()
        {
            let todo = std::mem::take(&mut self.todo);
            let tasks: Vec<pb::TaskInfo> = todo
                .iter()
                .map(|(id, cmd)| {
                    *self.launches.entry(id.clone()).or_default() += 1;
                    command_task(&o, id, cmd)
                })
                .collect();
            self.send(Call {
                r#type: Some(call::Type::Accept as i32),
                accept: Some(call::Accept {
                    offer_ids: vec![o.id.clone()],
                    operations: vec![launch_op(tasks)],
                    filters: long,
                }),
                ..Default::default()
            });
        }
        let rest: Vec<pb::OfferId> = offers.map(|o| o.id).collect();
        if !rest.is_empty() {
            self.send(Call {
                r#type: Some(call::Type::Decline as i32),
                decline: Some(call::Decline {
                    offer_ids: rest,
                    filters: long,
                }),
                ..Default::default()
            });
        }
    }

    /// Handles driver outputs until `cond` holds; fails after `timeout`.
    fn run_until(&mut self, timeout: Duration, what: &str, mut cond: impl FnMut(&Harness) -> bool) {
        let end = Instant::now() + timeout;
        loop {
            while let Some(o) = self.d.recv(Duration::ZERO) {
                self.handle(o);
            }
            if cond(self) {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.summary()
            );
            if let Some(o) = self.d.recv(left.min(Duration::from_millis(20))) {
                self.handle(o);
            }
        }
    }

    fn summary(&self) -> String {
        let ups: Vec<String> = self
            .updates
            .iter()
            .map(|(t, s, u, _)| {
                format!(
                    "{t}:{}{}",
                    s.as_str_name(),
                    if *u { "" } else { "(no uuid)" }
                )
            })
            .collect();
        format!(
            "phase {:?}\nsubscriptions {:?}\ndisconnects {:?}\nupdates {ups:?}\nlaunches {:?}\nfailed calls {:?}\nerrors {:?}\nstopped {:?}",
            self.d.phase(),
            self.subs
                .iter()
                .map(|s| (&s.framework_id, &s.master_id, s.master_port))
                .collect::<Vec<_>>(),
            self.disconnects.iter().map(|d| &d.1).collect::<Vec<_>>(),
            self.launches,
            self.failed_calls,
            self.errors,
            self.stopped
        )
    }

    fn saw(&self, task: &str, state: TaskState) -> bool {
        self.updates
            .iter()
            .any(|(t, s, ..)| t == task && *s == state)
    }

    /// When the last of `tasks` first reached `state`.
    fn all_seen_at(&self, tasks: &[&str], state: TaskState) -> Option<Instant> {
        tasks
            .iter()
            .map(|task| {
                self.updates
                    .iter()
                    .find(|(t, s, ..)| t == task && *s == state)
                    .map(|u| u.3)
            })
            .collect::<Option<Vec<Instant>>>()
            .and_then(|v| v.into_iter().max())
    }

    fn subscribed_after(&self, t: Instant) -> Option<&Sub> {
        self.subs.iter().find(|s| s.at >= t)
    }

    fn disconnects_after(&self, t: Instant) -> Vec<&(Instant, String)> {
        self.disconnects.iter().filter(|d| d.0 >= t).collect()
    }

    /// Every call handed to the driver was sent (or failed).
    fn calls_settled(&self) -> bool {
        let s = self.d.stats();
        s.calls.load(Ordering::SeqCst) + s.calls_failed.load(Ordering::SeqCst) >= self.sent
    }

    /// Subscribes, launches `TASKS` (waiting for `gate`), and waits until
    /// they run and their RUNNING acknowledgements are sent. Returns the
    /// framework id.
    fn run_tasks(&mut self, gates: &Gates, gate: &str) -> String {
        self.add_tasks(&TASKS, gates, gate);
        self.run_until(LIMIT, "subscribed, tasks RUNNING, calls sent", |h| {
            !h.subs.is_empty()
                && TASKS.iter().all(|t| h.saw(t, TaskState::TaskRunning))
                && h.calls_settled()
        });
        self.subs[0].framework_id.clone()
    }

    fn reconcile(&mut self, tasks: &[&str]) {
        let tasks = tasks
            .iter()
            .map(|t| call::reconcile::Task {
                task_id: pb::TaskId {
                    value: t.to_string(),
                },
                agent_id: self
                    .agents
                    .get(*t)
                    .map(|a| pb::AgentId { value: a.clone() }),
            })
            .collect();
        self.send(Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile { tasks }),
            ..Default::default()
        });
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.d.abort();
    }
}

// ----------------------------------------------------------- master state

/// Every entry of task `tid` in a master state: (framework, state, completed).
fn task_entries(st: &Json, tid: &str) -> Vec<(String, String, bool)> {
    let mut out = vec![];
    for key in ["frameworks", "completed_frameworks"] {
        for fw in st[key].as_array().into_iter().flatten() {
            for (list, done) in [("tasks", false), ("completed_tasks", true)] {
                for t in fw[list].as_array().into_iter().flatten() {
                    if t["id"] == tid {
                        out.push((
                            fw["id"].as_str().unwrap_or_default().to_string(),
                            t["state"].as_str().unwrap_or_default().to_string(),
                            done,
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The master has seen `tasks` reach `state` (acknowledged or not).
fn master_saw(master: SocketAddr, tasks: &[&str], state: TaskState) -> bool {
    let st = master_state(master);
    tasks.iter().all(|t| {
        task_entries(&st, t)
            .iter()
            .any(|e| e.1 == state.as_str_name())
    })
}

fn framework_json(st: &Json, fid: &str) -> Json {
    st["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == fid)
        .cloned()
        .unwrap_or(Json::Null)
}

/// The end state every scenario must reach: subscribed to `master` with
/// `fid`; each of `tasks` launched once, its `terminal` update delivered to
/// the handler and acknowledged at the master (the task is then among the
/// framework's completed tasks, once, and nowhere else). Returns when the
/// last terminal update reached the handler.
fn assert_recovered(
    h: &mut Harness,
    master: SocketAddr,
    fid: &str,
    tasks: &[&str],
    terminal: TaskState,
) -> Instant {
    h.run_until(LIMIT, "every terminal update in the handler", |h| {
        tasks.iter().all(|t| h.saw(t, terminal))
    });
    let want = terminal.as_str_name();
    h.run_until(
        LIMIT,
        "every terminal update acknowledged at the master",
        |_| {
            let st = master_state(master);
            tasks
                .iter()
                .all(|t| task_entries(&st, t) == vec![(fid.to_string(), want.to_string(), true)])
        },
    );
    for t in tasks {
        assert_eq!(h.launches.get(*t), Some(&1), "{t} launched once");
    }
    assert_eq!(h.d.phase(), Phase::Subscribed, "{}", h.summary());
    assert_eq!(h.d.framework_id().as_deref(), Some(fid));
    let st = master_state(master);
    let fw = framework_json(&st, fid);
    assert_eq!(
        fw["connected"], true,
        "the master has the framework connected"
    );
    assert_eq!(fw["active"], true);
    assert!(h.errors.is_empty(), "{}", h.summary());
    assert!(h.stopped.is_none(), "{}", h.summary());
    h.all_seen_at(tasks, terminal)
        .expect("all terminal updates")
}

// ------------------------------------------------------------ the matrix

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

/// One line of the fault matrix: stderr and `target/fault-matrix.md`.
fn report(
    fault: &str,
    outcome: &str,
    detected: Option<Duration>,
    resubscribed: Option<Duration>,
    updates: Option<Duration>,
) {
    let line = format!(
        "| {fault} | {outcome} | {} | {} | {} |\n",
        ms(detected),
        ms(resubscribed),
        ms(updates)
    );
    eprint!("{line}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fault-matrix.md");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

fn since(t: Instant, later: Option<Instant>) -> Option<Duration> {
    later.map(|l| l.saturating_duration_since(t))
}

/// A SUBSCRIBE response as forwarded up to a cut: its complete RecordIO
/// records, and where the stream stopped inside the next one (bytes of it
/// received, its full length with header when known).
fn cut_stream(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<(usize, usize)>) {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let mut body = vec![];
    mesos::http::chunked::Decoder::default()
        .decode(&bytes[head_end..], &mut body)
        .expect("chunked body");
    let mut records = vec![];
    let mut i = 0;
    while i < body.len() {
        let Some(nl) = body[i..].iter().position(|&c| c == b'\n') else {
            return (records, Some((body.len() - i, usize::MAX)));
        };
        let n: usize = std::str::from_utf8(&body[i..i + nl])
            .expect("record header")
            .parse()
            .expect("record length");
        let start = i + nl + 1;
        if body.len() < start + n {
            return (records, Some((body.len() - i, nl + 1 + n)));
        }
        records.push(body[start..start + n].to_vec());
        i = start + n;
    }
    (records, None)
}

// ------------------------------------------------------------ fake masters

fn record(ev: &Event, enc: Encoding) -> Vec<u8> {
    recordio::encode(&codec::encode(ev, enc))
}

fn subscribed_event(fid: &str, hb: Duration) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: pb::FrameworkId { value: fid.into() },
            heartbeat_interval_seconds: Some(hb.as_secs_f64()),
            master_info: None,
        }),
        ..Default::default()
    }
}

fn heartbeat_event() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

/// What a fake master does with a SUBSCRIBE: the reply, plus the stream
/// to write for a 200 (kept open as long as the sender lives).
type OnSubscribe = dyn Fn(usize, &Call, Encoding) -> Reply + Send + Sync;

/// A fake master on loopback: SUBSCRIBE number `n` (from 1) gets
/// `on_subscribe(n, ..)`, anything else 202. Counts both.
struct Fake {
    server: Server,
    subscribes: Arc<AtomicUsize>,
    others: Arc<AtomicUsize>,
}

fn fake(on_subscribe: Arc<OnSubscribe>) -> Fake {
    let subscribes = Arc::new(AtomicUsize::new(0));
    let others = Arc::new(AtomicUsize::new(0));
    let (s2, o2) = (subscribes.clone(), others.clone());
    let handler = Arc::new(move |req: Request| {
        let enc = req
            .headers
            .get("content-type")
            .and_then(Encoding::from_content_type)
            .unwrap_or(Encoding::Json);
        let Ok(c) = codec::decode::<Call>(&req.body, enc, true) else {
            return Reply::text(400, "bad call");
        };
        if c.r#type != Some(call::Type::Subscribe as i32) {
            o2.fetch_add(1, Ordering::SeqCst);
            return Reply::status(202);
        }
        let n = s2.fetch_add(1, Ordering::SeqCst) + 1;
        on_subscribe(n, &c, enc)
    });
    Fake {
        server: Server::bind("127.0.0.1:0", handler).expect("fake master binds"),
        subscribes,
        others,
    }
}

fn stream_reply(enc: Encoding, n: usize, rx: crossbeam_channel::Receiver<Vec<u8>>) -> Reply {
    Reply::Stream {
        headers: Headers::default()
            .with("Content-Type", enc.content_type())
            .with("Mesos-Stream-Id", format!("fake-stream-{n}")),
        rx,
        on_close: Box::new(|| {}),
    }
}

fn redirect_to(addr: SocketAddr) -> Reply {
    Reply::status(307).with_header("Location", &format!("//{addr}/api/v1/scheduler"))
}

// ------------------------------------------------------------- scenarios

/// (a) Every connection cut while the three TASK_FINISHED updates are in
/// flight inside the proxy: they are lost with the connection and resent
/// by the agent once the driver has resubscribed.
#[test]
fn proxy_cut_loses_updates_in_flight_and_recovers_them() {
    let (c, p, g, mut h, fid) = through_proxy("cut");

    // Pin the updates in the proxy: stall, let the tasks end, wait until
    // the master has sent their TASK_FINISHED.
    p.stall(true);
    g.open("go");
    h.run_until(LIMIT, "the master sending TASK_FINISHED", |_| {
        master_saw(c.addr(), &TASKS, TaskState::TaskFinished)
    });
    assert!(
        !TASKS.iter().any(|t| h.saw(t, TaskState::TaskFinished)),
        "the updates are held in the proxy"
    );
    let t0 = Instant::now();
    let cut = p.cut();
    p.stall(false);
    assert!(cut >= 1, "the event stream was live");

    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let detected = h.disconnects_after(t0).first().map(|d| d.0);
    let sub = h.subscribed_after(t0).expect("sub").clone();
    assert_eq!(sub.framework_id, fid);
    assert_eq!(sub.master_port, u32::from(c.addr().port()));
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    report(
        "(a) proxy cut, 3 TASK_FINISHED in flight",
        "EOF seen, resubscribed with same id, updates resent by agent",
        since(t0, detected),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

/// (b) Both directions stalled (sockets open) longer than the heartbeat
/// deadline: the driver notices the silence, drops the stream and
/// resubscribes once bytes flow again.
#[test]
fn proxy_stall_is_detected_by_heartbeat_loss() {
    let (c, p, g, mut h, fid) = through_proxy("stall");

    let t0 = Instant::now();
    p.stall(true);
    g.open("go");
    h.run_until(LIMIT, "heartbeat loss", |h| {
        !h.disconnects_after(t0).is_empty()
    });
    let (detected, why) = h.disconnects_after(t0)[0].clone();
    assert!(why.contains("heartbeat"), "{why}");
    assert!(
        master_saw(c.addr(), &TASKS, TaskState::TaskFinished),
        "the updates were sent into the stalled connection"
    );
    assert!(!TASKS.iter().any(|t| h.saw(t, TaskState::TaskFinished)));
    let t1 = Instant::now();
    p.stall(false);
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t1).is_some());
    let sub = h.subscribed_after(t1).expect("sub").clone();
    assert_eq!(sub.framework_id, fid);
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    report(
        "(b) stall both ways (sockets open), lifted once detected",
        "heartbeat loss, resubscribed with same id, updates resent",
        since(t0, Some(detected)),
        since(t1, Some(sub.at)),
        since(t1, Some(done)),
    );
}

/// (c) The event stream cut in the middle of a RecordIO record (60 bytes
/// into the data held back while the TASK_FINISHED updates were sent).
#[test]
fn stream_truncated_mid_record() {
    let (c, p, g, mut h, fid) = through_proxy("truncate");

    p.stall(true);
    g.open("go");
    h.run_until(LIMIT, "the master sending TASK_FINISHED", |_| {
        master_saw(c.addr(), &TASKS, TaskState::TaskFinished)
    });
    assert_eq!(p.truncate_next(60), 1, "one live event stream");
    let t0 = Instant::now();
    p.stall(false);
    h.run_until(LIMIT, "the truncation noticed", |h| {
        !h.disconnects_after(t0).is_empty()
    });
    let (detected, why) = h.disconnects_after(t0)[0].clone();
    assert!(why.contains("inside a"), "{why}");
    // Where the cut fell: the proxy kept what it forwarded.
    let cuts = p.truncated();
    assert_eq!(cuts.len(), 1);
    let (records, tail) = cut_stream(&cuts[0]);
    let (got, len) = tail.expect("the stream ends inside a record");
    assert!(got > 0 && got < len, "{got} of {len}");
    let whole: Vec<Event> = records
        .iter()
        .map(|r| Event::decode(r.as_slice()).expect("whole records decode"))
        .collect();
    assert!(
        !whole.iter().any(|e| e
            .update
            .as_ref()
            .is_some_and(|u| u.status.state() == TaskState::TaskFinished)),
        "no TASK_FINISHED got through whole"
    );
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let sub = h.subscribed_after(t0).expect("sub").clone();
    assert_eq!(sub.framework_id, fid);
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    eprintln!(
        "truncated after {} whole records, {got} bytes into a {len}-byte record",
        records.len()
    );
    report(
        "(c) stream truncated 60 bytes into held data (mid-record)",
        &format!(
            "cut {got} bytes into a {len}-byte record; reported, resubscribed with same id, updates resent"
        ),
        since(t0, Some(detected)),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

/// (d) 100 ms added to every chunk in both directions: slower, nothing
/// else; no resubscription.
#[test]
fn delay_slows_but_does_not_disconnect() {
    let (c, p, g, mut h, fid) = through_proxy("delay");

    let t0 = Instant::now();
    p.delay(Duration::from_millis(100));
    g.open("go");
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert!(
        done - t0 >= Duration::from_millis(100),
        "the updates were delayed"
    );
    // Keep the delay on for several heartbeat deadlines' worth of traffic.
    let hold = Instant::now() + HEARTBEAT.mul_f64(FACTOR) * 2;
    h.run_until(LIMIT, "two heartbeat deadlines under delay", |_| {
        Instant::now() >= hold
    });
    assert!(h.disconnects.is_empty(), "{}", h.summary());
    assert_eq!(h.subs.len(), 1, "no resubscription");
    assert!(h.failed_calls.is_empty(), "{}", h.summary());
    report(
        "(d) 100 ms delay per chunk, both ways",
        "no disconnect, no resubscribe; updates delivered late",
        None,
        None,
        since(t0, Some(done)),
    );
}

/// (e) The master is killed (its tasks die with it) and a new one starts
/// on the same port: the driver resubscribes with its framework id, the
/// new master adopts it, reconciliation reports the old tasks lost, and
/// the framework runs a new task.
#[test]
fn master_killed_and_restarted_on_the_same_port() {
    let mut c = cluster();
    let addr = c.addr();
    // Through the proxy: a killed process's connections all break at once,
    // whereas a stopped LocalCluster's idle keep-alive connections linger
    // (up to 250 ms) and answer with the stopped master.
    let p = Proxy::start(addr);
    let g = Gates::new("master");
    let mut h = Harness::start(&p.addr().to_string(), framework("master", false), |_| {});
    let fid = h.run_tasks(&g, "never");
    let old_master = h.subs[0].master_id.clone();

    let t_kill = Instant::now();
    c.stop();
    p.cut();
    // Wait until the driver has failed to reconnect a few times.
    h.run_until(LIMIT, "the end of the stream and 3 failed attempts", |h| {
        h.disconnects_after(t_kill).len() >= 4
    });
    let detected = h.disconnects_after(t_kill)[0].0;
    // A new task for the new master (its gate is open).
    g.open("go2");
    h.add_tasks(&["t4"], &g, "go2");
    let mut slot = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            slot = LocalCluster::start(ClusterConfig {
                bind: addr.to_string(),
                ..config()
            })
            .ok();
            slot.is_some()
        }),
        "a new master binds {addr}"
    );
    let c2 = slot.expect("new master");
    let t0 = Instant::now();
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let sub = h.subscribed_after(t0).expect("sub").clone();
    assert_eq!(sub.framework_id, fid, "same framework id");
    assert_ne!(sub.master_id, old_master, "a new master");
    assert_eq!(sub.master_port, u32::from(addr.port()));

    // The old tasks are gone: reconciliation says so.
    let t_rec = Instant::now();
    h.reconcile(&TASKS);
    h.run_until(LIMIT, "reconciliation answers", |h| {
        TASKS.iter().all(|t| {
            h.updates
                .iter()
                .any(|u| u.0 == *t && u.1 == TaskState::TaskLost && u.3 >= t_rec)
        })
    });
    let done = assert_recovered(&mut h, c2.addr(), &fid, &["t4"], TaskState::TaskFinished);
    let st = master_state(c2.addr());
    for t in TASKS {
        assert!(task_entries(&st, t).is_empty(), "{t} not relaunched");
        assert_eq!(h.launches.get(t), Some(&1));
    }
    report(
        "(e) master killed, new master on same port",
        "EOF + failed attempts, resubscribed with same id (adopted); old tasks TASK_LOST by reconciliation",
        since(t_kill, Some(detected)),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

/// (f) The agent is restarted (`--recover=reconnect`) with the three
/// command tasks running, for a checkpointing framework: the tasks keep
/// running, finish while the agent is down, and their TASK_FINISHED
/// updates come when it is back. The driver's stream is not affected.
#[test]
fn agent_restart_with_checkpointing_delivers_the_updates_made_meanwhile() {
    let mut c = cluster();
    let g = Gates::new("agent");
    let mut h = Harness::start(&c.addr().to_string(), framework("agent", true), |_| {});
    let fid = h.run_tasks(&g, "go");

    c.stop_agent(0).expect("agent stops");
    g.open("go");
    h.run_until(LIMIT, "tasks finished while the agent is down", |_| {
        TASKS.iter().all(|t| g.done(t))
    });
    let t0 = Instant::now();
    c.start_agent(0).expect("agent starts");
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert!(h.disconnects.is_empty(), "{}", h.summary());
    assert_eq!(h.subs.len(), 1);
    report(
        "(f) agent restart, checkpointing, tasks end while it is down",
        "stream untouched; TASK_FINISHED resent after re-registration",
        None,
        None,
        since(t0, Some(done)),
    );
}

/// (f') The same without checkpointing: the agent's restart kills the
/// tasks, and each is reported TASK_LOST (reliably: acknowledged).
#[test]
fn agent_restart_without_checkpointing_reports_tasks_lost() {
    let mut c = cluster();
    let g = Gates::new("agent-nockpt");
    let mut h = Harness::start(&c.addr().to_string(), framework("nockpt", false), |_| {});
    let fid = h.run_tasks(&g, "never");

    let t0 = Instant::now();
    c.restart_agent(0).expect("agent restarts");
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskLost);
    assert!(h.disconnects.is_empty(), "{}", h.summary());
    assert!(!TASKS.iter().any(|t| g.done(t)), "the tasks were killed");
    report(
        "(f') agent restart, no checkpointing",
        "stream untouched; each task TASK_LOST (with uuid, acknowledged)",
        None,
        None,
        since(t0, Some(done)),
    );
}

/// (g) The master behind the proxy is replaced by one that redirects to
/// itself: the driver gives up on the loop after `max_redirects` and ends
/// subscribed to the next candidate, the real master.
#[test]
fn redirect_loop_falls_through_to_the_next_candidate() {
    let c = cluster();
    let me: Arc<OnceLock<SocketAddr>> = Arc::default();
    let me2 = me.clone();
    let front = fake(Arc::new(move |_, _, _| {
        redirect_to(*me2.get().expect("own address"))
    }));
    me.set(front.server.addr()).expect("set once");
    let p = Proxy::start(c.addr());
    let g = Gates::new("loop");
    let masters = format!("{},{}", p.addr(), c.addr());
    let mut h = Harness::start(&masters, framework("loop", false), |_| {});
    let fid = h.run_tasks(&g, "go");

    p.set_target(front.server.addr());
    let t0 = Instant::now();
    p.cut();
    g.open("go");
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let sub = h.subscribed_after(t0).expect("sub").clone();
    let via_proxy = p.accepted();
    let looped = h
        .disconnects_after(t0)
        .iter()
        .find(|d| d.1.contains("too many redirects"))
        .map(|d| d.0);
    assert!(looped.is_some(), "{}", h.summary());
    assert_eq!(
        front.subscribes.load(Ordering::SeqCst),
        11,
        "1 + max_redirects attempts"
    );
    assert_eq!(sub.framework_id, fid);
    assert_eq!(sub.master_port, u32::from(c.addr().port()));
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert_eq!(
        p.accepted(),
        via_proxy,
        "nothing went through the proxy since"
    );
    assert_eq!(
        front.others.load(Ordering::SeqCst),
        0,
        "no call to the loop"
    );
    report(
        "(g) master replaced by a 307-to-itself loop; candidates proxy,real",
        "loop reported after 11 SUBSCRIBEs, next candidate: real master",
        since(t0, looped),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

/// (h) The only candidate answers 503 ("No leader elected") for a while,
/// then redirects to the leader: the driver retries with backoff and ends
/// subscribed at the leader, where its calls go too.
#[test]
fn no_leader_503_then_redirect_to_the_leader() {
    let c = cluster();
    let leaderless = Arc::new(AtomicBool::new(true));
    let (l2, real) = (leaderless.clone(), c.addr());
    let front = fake(Arc::new(move |_, _, _| {
        if l2.load(Ordering::SeqCst) {
            Reply::text(503, "No leader elected")
        } else {
            redirect_to(real)
        }
    }));
    let p = Proxy::start(c.addr());
    let g = Gates::new("503");
    let mut h = Harness::start(&p.addr().to_string(), framework("no-leader", false), |_| {});
    let fid = h.run_tasks(&g, "go");

    p.set_target(front.server.addr());
    let t_inj = Instant::now();
    p.cut();
    h.run_until(LIMIT, "three 503s", |h| {
        h.disconnects_after(t_inj)
            .iter()
            .filter(|d| d.1.contains("HTTP 503"))
            .count()
            >= 3
    });
    let detected = h.disconnects_after(t_inj)[0].0;
    // The tasks end while no master leads: the updates reach the master
    // but not the scheduler.
    g.open("go");
    h.run_until(LIMIT, "the master seeing TASK_FINISHED", |_| {
        master_saw(c.addr(), &TASKS, TaskState::TaskFinished)
    });
    assert!(!TASKS.iter().any(|t| h.saw(t, TaskState::TaskFinished)));
    let t0 = Instant::now();
    leaderless.store(false, Ordering::SeqCst);
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let sub = h.subscribed_after(t0).expect("sub").clone();
    assert_eq!(sub.framework_id, fid);
    assert_eq!(sub.master_port, u32::from(c.addr().port()));
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert_eq!(
        front.others.load(Ordering::SeqCst),
        0,
        "calls go to the leader"
    );
    let refusals = h
        .disconnects_after(t_inj)
        .iter()
        .filter(|d| d.1.contains("HTTP 503"))
        .count();
    report(
        "(h) only candidate answers 503 until a leader is elected, then 307",
        &format!("{refusals} × 503 with backoff, then followed the redirect to the leader"),
        since(t_inj, Some(detected)),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

/// A master whose event stream goes silent (the proxy holds everything
/// master→client, sockets open). `hung`: the proxy keeps accepting and
/// forwarding requests that never get an answer (`call_timeout` 1 s);
/// otherwise its port refuses connections. Either way heartbeat loss
/// counts against that master and the next candidate (the real master,
/// directly) is tried at once.
fn silent_master_case(name: &str, hung: bool, label: &str) {
    let c = cluster();
    let a = Proxy::start(c.addr());
    let g = Gates::new(name);
    let masters = format!("{},{}", a.addr(), c.addr());
    let mut h = Harness::start(&masters, framework(name, false), |o| {
        if hung {
            o.call_timeout = Duration::from_secs(1);
        }
    });
    let fid = h.run_tasks(&g, "go");

    let t0 = Instant::now();
    a.stall_dir(Dir::Down, true);
    a.refuse(!hung);
    g.open("go");
    h.run_until(LIMIT, "resubscribed", |h| h.subscribed_after(t0).is_some());
    let sub = h.subscribed_after(t0).expect("sub").clone();
    let via_a = a.accepted();
    let d = h.disconnects_after(t0);
    assert_eq!(d.len(), 1, "heartbeat loss only: {}", h.summary());
    assert!(d[0].1.contains("heartbeat"), "{}", d[0].1);
    let detected = d[0].0;
    assert_eq!(sub.framework_id, fid);
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert_eq!(
        a.accepted(),
        via_a,
        "nothing went to the silent master since"
    );
    report(
        label,
        "heartbeat loss, next candidate",
        since(t0, Some(detected)),
        since(t0, Some(sub.at)),
        since(t0, Some(done)),
    );
}

#[test]
fn silent_master_then_dead_port_moves_to_the_next_candidate() {
    silent_master_case(
        "silent-dead",
        false,
        "(i1) master stops heartbeating (stream silent), then its port is dead",
    );
}

#[test]
fn hung_master_moves_to_the_next_candidate() {
    silent_master_case(
        "silent-hung",
        true,
        "(i2) master hangs (accepts, never answers); call_timeout 1 s",
    );
}

/// Keeps fake streams open (silent) for the life of the test.
type Keep = Arc<Mutex<Vec<Sender<Vec<u8>>>>>;

/// Silent master, variant 3: a master that accepts every SUBSCRIBE, sends
/// SUBSCRIBED and one HEARTBEAT, and then nothing. After each heartbeat
/// loss the driver goes back to the same candidate, so it never reaches
/// the next one.
#[test]
fn silent_master_that_keeps_accepting_is_left_for_the_next_candidate() {
    let c = cluster();
    let keep: Keep = Arc::default();
    let k2 = keep.clone();
    let silent = fake(Arc::new(move |n: usize, call: &Call, enc: Encoding| {
        let (tx, rx) = crossbeam_channel::unbounded();
        let fid = call
            .framework_id
            .as_ref()
            .map_or("fw-silent".to_string(), |f| f.value.clone());
        let _ = tx.send(record(&subscribed_event(&fid, HEARTBEAT), enc));
        let _ = tx.send(record(&heartbeat_event(), enc));
        k2.lock().expect("keep").push(tx);
        stream_reply(enc, n, rx)
    }));
    let masters = format!("{},{}", silent.server.addr(), c.addr());
    let mut h = Harness::start(&masters, framework("silent-3", false), |_| {});
    let t0 = Instant::now();
    h.run_until(
        Duration::from_secs(10),
        "subscribed at the real master",
        |h| {
            h.subs
                .iter()
                .any(|s| s.master_port == u32::from(c.addr().port()))
        },
    );
    let sub = h
        .subs
        .iter()
        .find(|s| s.master_port == u32::from(c.addr().port()))
        .expect("sub")
        .clone();
    report(
        "(i3) master accepts SUBSCRIBE, then never heartbeats",
        "next candidate",
        None,
        since(t0, Some(sub.at)),
        None,
    );
}

/// Silent master, variant 4: a master that answers SUBSCRIBE with 200 and
/// then sends nothing, not even SUBSCRIBED. The driver waits forever in
/// the Subscribing phase: no heartbeat interval is known yet, so there is
/// no deadline.
#[test]
fn master_that_never_sends_subscribed_is_left_for_the_next_candidate() {
    let c = cluster();
    let keep: Keep = Arc::default();
    let k2 = keep.clone();
    let mute = fake(Arc::new(move |n, _, enc| {
        let (tx, rx) = crossbeam_channel::unbounded();
        k2.lock().expect("keep").push(tx);
        stream_reply(enc, n, rx)
    }));
    let masters = format!("{},{}", mute.server.addr(), c.addr());
    let mut h = Harness::start(&masters, framework("mute", false), |o| {
        o.call_timeout = Duration::from_secs(1);
    });
    let t0 = Instant::now();
    h.run_until(
        Duration::from_secs(10),
        "subscribed at the real master",
        |h| !h.subs.is_empty(),
    );
    assert_eq!(h.subs[0].master_port, u32::from(c.addr().port()));
    report(
        "(i4) master answers 200 to SUBSCRIBE, sends no event",
        "next candidate",
        None,
        since(t0, Some(h.subs[0].at)),
        None,
    );
}

// ------------------------------------------------------- dropped answers

/// Picks requests that carry a scheduler call of type `ty` (protobuf body).
fn calls_of(ty: call::Type) -> support::proxy::RequestFilter {
    Arc::new(move |req: &[u8]| {
        let Some(at) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        Call::decode(&req[at + 4..]).is_ok_and(|c| c.r#type == Some(ty as i32))
    })
}

/// The calls of `ty` the handler heard fail; each reason must say that the
/// outcome is unknown and that the call was not sent again.
fn failed_of(h: &Harness, ty: call::Type) -> usize {
    let name = ty.as_str_name();
    let failed: Vec<&(String, String)> = h.failed_calls.iter().filter(|(t, _)| t == name).collect();
    for (_, why) in &failed {
        assert!(
            why.contains("outcome unknown") && why.contains("not sent again"),
            "{name}: {why}"
        );
    }
    failed.len()
}

/// No update says a task was lost, dropped or refused.
fn assert_no_lost_tasks(h: &Harness) {
    let bad = [
        TaskState::TaskLost,
        TaskState::TaskDropped,
        TaskState::TaskError,
        TaskState::TaskGone,
    ];
    assert!(
        !h.updates.iter().any(|u| bad.contains(&u.1)),
        "{}",
        h.summary()
    );
}

/// (k) The master takes an ACCEPT, its answer is lost: the driver reports
/// the call failed with an unknown outcome and never sends it again, so
/// the tasks run once and none is reported lost (a second ACCEPT would find
/// its offer used).
#[test]
fn dropped_answer_to_accept_is_reported_not_resent() {
    let c = cluster();
    let p = Proxy::start(c.addr());
    let g = Gates::new("drop-accept");
    p.drop_answers(Some(calls_of(call::Type::Accept)));
    let mut h = Harness::start(
        &p.addr().to_string(),
        framework("drop-accept", false),
        |_| {},
    );
    let t0 = Instant::now();
    let fid = h.run_tasks(&g, "go");
    h.run_until(LIMIT, "ACCEPT reported failed", |h| {
        failed_of(h, call::Type::Accept) == 1
    });
    assert_eq!(p.dropped().len(), 1, "one ACCEPT reached the master");
    g.open("go");
    let done = assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    assert_eq!(p.dropped().len(), 1, "the ACCEPT was not sent again");
    assert_eq!(failed_of(&h, call::Type::Accept), 1);
    assert_no_lost_tasks(&h);
    report(
        "(k) answer to ACCEPT dropped after the master took it",
        "call_failed (outcome unknown), not resent, tasks run once",
        None,
        None,
        since(t0, Some(done)),
    );
}

/// (l) The answer to DECLINE is lost: reported, not resent; the master
/// did decline (the offer is gone and, filtered for an hour, not made again).
#[test]
fn dropped_answer_to_decline_is_reported_not_resent() {
    let c = cluster();
    let p = Proxy::start(c.addr());
    p.drop_answers(Some(calls_of(call::Type::Decline)));
    let mut h = Harness::start(
        &p.addr().to_string(),
        framework("drop-decline", false),
        |_| {},
    );
    h.run_until(LIMIT, "DECLINE reported failed", |h| {
        failed_of(h, call::Type::Decline) == 1 && h.calls_settled()
    });
    let fid = h.subs[0].framework_id.clone();
    let st = master_state(c.addr());
    let offers = framework_json(&st, &fid)["offers"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(offers, 0, "the master declined the offer: {st}");
    assert_eq!(p.dropped().len(), 1, "the DECLINE was not sent again");
    assert_eq!(h.d.stats().calls_failed.load(Ordering::SeqCst), 1);
    assert_eq!(h.d.phase(), Phase::Subscribed, "{}", h.summary());
}

/// (m) The answer to KILL is lost: reported, not resent; the task is
/// killed once and the others run to the end.
#[test]
fn dropped_answer_to_kill_is_reported_not_resent() {
    let (c, p, g, mut h, fid) = through_proxy("drop-kill");
    p.drop_answers(Some(calls_of(call::Type::Kill)));
    let agent = h
        .agents
        .get("t1")
        .cloned()
        .map(|value| pb::AgentId { value });
    h.send(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId { value: "t1".into() },
            agent_id: agent,
            kill_policy: None,
        }),
        ..Default::default()
    });
    h.run_until(LIMIT, "KILL reported failed and t1 killed", |h| {
        failed_of(h, call::Type::Kill) == 1 && h.saw("t1", TaskState::TaskKilled)
    });
    assert_eq!(p.dropped().len(), 1, "the KILL was not sent again");
    g.open("go");
    assert_recovered(&mut h, c.addr(), &fid, &TASKS[1..], TaskState::TaskFinished);
    assert!(!g.done("t1"), "t1 was killed before its gate opened");
    assert_eq!(p.dropped().len(), 1);
    assert_no_lost_tasks(&h);
}

/// (n) Every answer to ACKNOWLEDGE is lost: each is reported, none is
/// resent, and the master still took every one (the tasks end up among the
/// completed ones, which needs the terminal update's acknowledgement).
#[test]
fn dropped_answers_to_acknowledge_are_reported_not_resent() {
    let c = cluster();
    let p = Proxy::start(c.addr());
    let g = Gates::new("drop-ack");
    p.drop_answers(Some(calls_of(call::Type::Acknowledge)));
    let mut h = Harness::start(&p.addr().to_string(), framework("drop-ack", false), |_| {});
    let fid = h.run_tasks(&g, "go");
    g.open("go");
    assert_recovered(&mut h, c.addr(), &fid, &TASKS, TaskState::TaskFinished);
    h.run_until(LIMIT, "every ACKNOWLEDGE settled", |h| h.calls_settled());
    let with_uuid = h.updates.iter().filter(|u| u.2).count();
    assert!(with_uuid >= 2 * TASKS.len(), "{}", h.summary());
    assert_eq!(h.acks, with_uuid, "{}", h.summary());
    assert_eq!(p.dropped().len(), h.acks, "each ACKNOWLEDGE sent once");
    assert_eq!(failed_of(&h, call::Type::Acknowledge), h.acks);
    assert_no_lost_tasks(&h);
}
