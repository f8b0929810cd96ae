//! The scheduler driver's I/O: one thread holds the SUBSCRIBE stream (connect,
//! follow redirects, read RecordIO events, watch heartbeats, resubscribe with
//! backoff), another sends calls in order on a separate keep-alive connection.
//! Events go to the owner through a bounded channel plus a wake-up fd; the
//! owner (the Lua binding) never runs on these threads.

use crate::log::Level;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use thiserror::Error;

use super::machine::{
    Attempt, CallAnswer, Config as MachineConfig, Machine, Next, Redirects, Seen, SubscribeAnswer,
    call_answer, call_type_name, check_size, subscribe_answer,
};
use super::summary::summarize;
use crate::base::{StopSignal, lock};
pub use crate::driver::{Event, Output, Phase};
use crate::net::credentials::Credential;
use crate::net::http::Headers;
use crate::net::http::client;
use crate::net::http::tls::TlsClient;
use crate::net::stream::EventStream;
use crate::net::transport::{self, CallConn, Endpoint};
use crate::net::zk::{Detector, Leader, ZkUrl};
use crate::queue::{Consumer, Producer, bounded_queue};
use crate::wire::codec::{self, Encoding};
use crate::wire::pb::scheduler::{Call, call};
use crate::wire::pb::{FrameworkId, FrameworkInfo};
use crate::wire::{limits, recordio};

pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

#[derive(Debug, Clone)]
pub struct Options {
    /// Candidate masters, tried in order until one leads (or redirects).
    pub masters: Vec<Endpoint>,
    pub framework: FrameworkInfo,
    pub suppressed_roles: Vec<String>,
    pub encoding: Encoding,
    pub machine: MachineConfig,
    /// Capacity of the event queue between the I/O thread and the owner.
    pub queue_size: usize,
    pub connect_timeout: Duration,
    /// Bound on waiting for the answer to one call.
    pub call_timeout: Duration,
    pub max_redirects: usize,
    pub max_record: usize,
    /// Bound on one payload sent: a framework message's data, a launched
    /// task's data (`limits::DEFAULT_MAX_PAYLOAD`).
    pub max_payload: usize,
    /// PEM file of the CA certificates to trust for `https` masters
    /// (instead of the system's root certificates).
    pub ca_file: Option<PathBuf>,
    /// HTTP Basic credentials, sent with every request (also after
    /// redirects); `framework.principal` defaults to its principal.
    pub credential: Option<Credential>,
    /// A `zk://` group to follow instead of `masters` (which may then be
    /// empty); `zk_tls`: its masters serve https.
    pub zk: Option<ZkUrl>,
    pub zk_tls: bool,
    /// Events for lazy views: a JSON stream's events are transcoded to
    /// protobuf as they arrive (`wire::direct::transcode`).
    pub views: bool,
}

impl Options {
    pub fn new(masters: Vec<Endpoint>, framework: FrameworkInfo) -> Self {
        Options {
            masters,
            framework,
            suppressed_roles: vec![],
            encoding: Encoding::Protobuf,
            machine: MachineConfig::default(),
            queue_size: 1024,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(75),
            max_redirects: 10,
            max_record: recordio::DEFAULT_MAX_RECORD,
            max_payload: limits::DEFAULT_MAX_PAYLOAD,
            ca_file: None,
            credential: None,
            zk: None,
            zk_tls: false,
            views: false,
        }
    }
}

#[derive(Debug, Error)]
pub enum DriverError {
    #[error("driver already started")]
    AlreadyStarted,
    #[error("driver is stopped")]
    Stopped,
    #[error("cannot start driver thread: {0}")]
    Spawn(String),
    #[error("cannot create wake-up fd: {0}")]
    Notify(String),
    #[error("no master given")]
    NoMaster,
    #[error("{0}")]
    TooLarge(#[from] limits::TooLarge),
}

enum Cmd {
    Call(Box<Call>),
    Stop,
}

/// State shared by the owner and the I/O threads.
struct Shared {
    opts: Options,
    /// The TLS client configuration, built once on first use.
    tls: TlsClient,
    machine: Mutex<Machine>,
    /// The master that accepted our SUBSCRIBE (calls go there).
    leader: Mutex<Option<Endpoint>>,
    stop: StopSignal,
    /// Signalled when the machine's TEARDOWN handshake settles (or a stop).
    machine_changed: Condvar,
    /// Sockets to shut down when stopping (the stream, the call connection).
    stream_sock: Mutex<Option<std::net::TcpStream>>,
    call_sock: Arc<Mutex<Option<std::net::TcpStream>>>,
    events: Producer<Output>,
    pub stats: Stats,
    /// Follows the leader in ZooKeeper (started with the driver).
    detector: OnceLock<Detector>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub calls: AtomicU64,
    pub calls_failed: AtomicU64,
    pub reconnects: AtomicU64,
    /// Events received and calls sent, by type name.
    pub events_by_type: Mutex<BTreeMap<String, u64>>,
    pub calls_by_type: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    fn count(map: &Mutex<BTreeMap<String, u64>>, ty: &str) {
        let mut m = lock(map);
        match m.get_mut(ty) {
            Some(n) => *n += 1,
            None => {
                m.insert(ty.to_string(), 1);
            }
        }
    }
}

impl Shared {
    /// Queues an output for the owner (blocking while the queue is full:
    /// the stream then stops being read) unless stopping.
    fn emit(&self, out: Output) -> bool {
        out.log("scheduler");
        self.events.push(out, self.stop.flag())
    }

    /// Queues events for the owner (see `emit`), draining `batch`.
    fn emit_all(&self, batch: &mut Vec<Output>) -> bool {
        self.events.push_all(batch.drain(..), self.stop.flag())
    }

    /// Waits `d`, returning early (true) if the driver is stopping.
    fn pause(&self, d: Duration) -> bool {
        self.stop.pause(d)
    }

    fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    /// Adds `Authorization` when the driver has credentials.
    fn auth(&self, h: Headers) -> Headers {
        match &self.opts.credential {
            Some(c) => h.with("Authorization", c.basic_header()),
            None => h,
        }
    }
}

pub struct Driver {
    shared: Arc<Shared>,
    events: Consumer<Output>,
    cmd_tx: Sender<Cmd>,
    cmd_rx: Option<Receiver<Cmd>>,
    threads: Vec<JoinHandle<()>>,
    call_done: Option<Receiver<()>>,
    started: bool,
}

impl Driver {
    pub fn new(mut opts: Options) -> Result<Driver, DriverError> {
        if opts.masters.is_empty() && opts.zk.is_none() {
            return Err(DriverError::NoMaster);
        }
        // SUBSCRIBED answers SUBSCRIBE: no longer than a call may take.
        opts.machine.subscribed_timeout = opts.machine.subscribed_timeout.min(opts.call_timeout);
        if let Some(c) = &opts.credential
            && opts.framework.principal.is_none()
        {
            opts.framework.principal = Some(c.principal.clone());
        }
        let (producer, consumer) =
            bounded_queue(opts.queue_size).map_err(|e| DriverError::Notify(e.to_string()))?;
        let (cmd_tx, cmd_rx) = unbounded();
        let framework_id = opts.framework.id.as_ref().map(|i| i.value.clone());
        let shared = Arc::new(Shared {
            machine: Mutex::new(Machine::new(opts.machine.clone(), framework_id)),
            tls: TlsClient::new(opts.ca_file.clone()),
            opts,
            leader: Mutex::new(None),
            stop: StopSignal::default(),
            machine_changed: Condvar::new(),
            stream_sock: Mutex::new(None),
            call_sock: Arc::default(),
            events: producer,
            stats: Stats::default(),
            detector: OnceLock::new(),
        });
        Ok(Driver {
            shared,
            events: consumer,
            cmd_tx,
            cmd_rx: Some(cmd_rx),
            threads: vec![],
            call_done: None,
            started: false,
        })
    }

    pub fn start(&mut self) -> Result<(), DriverError> {
        if self.shared.stopping() {
            return Err(DriverError::Stopped);
        }
        let Some(cmd_rx) = self.cmd_rx.take() else {
            return Err(DriverError::AlreadyStarted);
        };
        self.started = true;
        if let Some(url) = &self.shared.opts.zk {
            let d = Detector::start(url.clone(), self.shared.opts.zk_tls)
                .map_err(|e| DriverError::Spawn(e.to_string()))?;
            let _ = self.shared.detector.set(d);
        }
        let s = self.shared.clone();
        let t1 = thread::Builder::new()
            .name("mesos-sched-stream".into())
            .spawn(move || stream_thread(&s))
            .map_err(|e| DriverError::Spawn(e.to_string()))?;
        let s = self.shared.clone();
        let (done_tx, done_rx) = bounded(1);
        let t2 = thread::Builder::new()
            .name("mesos-sched-calls".into())
            .spawn(move || {
                call_thread(&s, &cmd_rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| DriverError::Spawn(e.to_string()))?;
        self.call_done = Some(done_rx);
        self.threads = vec![t1, t2];
        Ok(())
    }

    /// Queues a call (sent in order by the call thread).
    pub fn send(&self, call: Call) -> Result<(), DriverError> {
        if self.shared.stopping() {
            return Err(DriverError::Stopped);
        }
        check_size(&call, self.shared.opts.max_payload)?;
        self.cmd_tx
            .send(Cmd::Call(Box::new(call)))
            .map_err(|_| DriverError::Stopped)
    }

    /// Stops the driver: sends the queued calls (a TEARDOWN first unless
    /// `failover`), then closes the connections and joins the threads.
    pub fn stop(&mut self, failover: bool) {
        if self.started && !self.shared.stopping() {
            // A TEARDOWN can only be sent while subscribed.
            if !failover && self.phase() == Phase::Subscribed {
                let _ = self.cmd_tx.send(Cmd::Call(Box::new(Call {
                    r#type: Some(call::Type::Teardown as i32),
                    ..Default::default()
                })));
            }
            let _ = self.cmd_tx.send(Cmd::Stop);
            if let Some(done) = &self.call_done {
                let _ =
                    done.recv_timeout(self.shared.opts.connect_timeout + Duration::from_secs(5));
            }
        }
        self.halt("driver stopped");
    }

    /// Stops at once, sending nothing more.
    pub fn abort(&mut self) {
        self.halt("driver aborted");
    }

    fn halt(&mut self, why: &str) {
        let first = self.shared.stop.set();
        self.shared.machine_changed.notify_all();
        if let Some(d) = self.shared.detector.get() {
            d.stop();
        }
        lock(&self.shared.machine).stop();
        let _ = self.cmd_tx.send(Cmd::Stop);
        CallConn::shutdown(&self.shared.stream_sock);
        CallConn::shutdown(&self.shared.call_sock);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if first {
            // If the queue is full the owner still learns of the stop
            // through `phase()`.
            self.shared.events.try_push(Output::Stopped(why.into()));
        }
    }

    /// Next output, waiting up to `timeout` (zero: no wait).
    pub fn recv(&self, timeout: Duration) -> Option<Output> {
        self.events.recv(timeout)
    }

    pub fn pending(&self) -> usize {
        self.events.len()
    }

    pub fn fd(&self) -> i32 {
        self.events.fd()
    }

    pub fn phase(&self) -> Phase {
        if self.shared.stopping() {
            return Phase::Stopped;
        }
        lock(&self.shared.machine).phase()
    }

    pub fn framework_id(&self) -> Option<String> {
        lock(&self.shared.machine)
            .framework_id()
            .map(str::to_string)
    }

    /// Seconds since the last event from the master (heartbeats included),
    /// while subscribed.
    pub fn last_event_age(&self) -> Option<Duration> {
        lock(&self.shared.machine).last_event().map(|t| t.elapsed())
    }

    /// The master that accepted the subscription, while subscribed.
    pub fn leader(&self) -> Option<Endpoint> {
        lock(&self.shared.leader).clone()
    }

    /// Capacity of the event queue.
    pub fn queue_size(&self) -> usize {
        self.shared.opts.queue_size
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn encoding(&self) -> Encoding {
        self.shared.opts.encoding
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.halt("driver dropped");
    }
}

// ------------------------------------------------------------------ stream

fn stream_thread(s: &Shared) {
    loop {
        if s.stopping() {
            break;
        }
        lock(&s.machine).attempt(Instant::now());
        let target = match s.detector.get() {
            // halt() stops the detector, which ends this wait at once.
            Some(d) => match d.wait_leader(s.opts.connect_timeout).0 {
                Leader::Known(ep) => Ok(ep),
                Leader::None(why) => Err(format!("no leading master in ZooKeeper: {why}")),
                Leader::Unknown => Err(format!(
                    "no answer from ZooKeeper at {} within {:.1}s",
                    s.opts.zk.as_ref().map_or("?", |z| z.servers.as_str()),
                    s.opts.connect_timeout.as_secs_f64()
                )),
            },
            None => {
                let i = lock(&s.machine).candidate(s.opts.masters.len());
                Ok(s.opts.masters[i].clone())
            }
        };
        let tried = match &target {
            Ok(t) => t.to_string(),
            Err(_) => "ZooKeeper".to_string(),
        };
        let outcome = match target {
            Ok(t) => subscribe_once(s, t),
            Err(why) => Attempt::Failed(why),
        };
        *lock(&s.leader) = None;
        *lock(&s.stream_sock) = None;
        // After a TEARDOWN the master closes the stream: not a disconnection.
        // Should the TEARDOWN fail, the wait ends and we resubscribe.
        wait_for_teardown(s);
        if s.stopping() {
            break;
        }
        let u: f64 = rand::random();
        let next = lock(&s.machine).attempt_ended(&tried, outcome, Instant::now(), u);
        // Every attempt that did not end in a stop counts.
        s.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        match next {
            Next::Stop { why, stopped } => return stop_for_good(s, why, stopped),
            Next::Retry { why, delay } => {
                s.emit(Output::Disconnected(why));
                crate::log!(
                    Level::Info,
                    "scheduler",
                    "resubscribing in {:.2}s",
                    delay.as_secs_f64()
                );
                if s.pause(delay) {
                    break;
                }
            }
        }
    }
}

/// Waits while a TEARDOWN's outcome is pending (woken by the call thread
/// when it is known, or by a stop).
fn wait_for_teardown(s: &Shared) {
    let mut m = lock(&s.machine);
    while m.teardown_pending() && !s.stopping() {
        m = s
            .machine_changed
            .wait_timeout(m, Duration::from_secs(1))
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
    }
}

/// The driver ends on its own (the master refused us for good, or it gave
/// up): no more attempts. The owner hears why (`disconnected`, then
/// `stopped`) before the driver reads as stopped, so that an owner waiting
/// for the stop never misses the reason.
fn stop_for_good(s: &Shared, why: String, stopped: String) {
    s.emit(Output::Disconnected(why));
    s.emit(Output::Stopped(stopped));
    s.stop.set();
    lock(&s.machine).stop();
    s.machine_changed.notify_all();
}

fn subscribe_call(s: &Shared) -> Call {
    let mut fw = s.opts.framework.clone();
    let framework_id = lock(&s.machine).framework_id().map(str::to_string);
    fw.id = framework_id.clone().map(|value| FrameworkId { value });
    Call {
        framework_id: framework_id.map(|value| FrameworkId { value }),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: fw,
            suppressed_roles: s.opts.suppressed_roles.clone(),
            offer_constraints: None,
        }),
        ..Default::default()
    }
}

fn subscribe_once(s: &Shared, mut target: Endpoint) -> Attempt {
    let from_zk = s.detector.get().map(|_| target.clone());
    let enc = s.opts.encoding;
    let mut path = SCHEDULER_PATH.to_string();
    let body = codec::encode(&subscribe_call(s), enc);
    let mut redirects = Redirects::new(s.opts.max_redirects);
    let (conn, headers) = loop {
        let mut conn = match transport::connect(&target, s.opts.connect_timeout, &s.tls) {
            Ok(c) => c,
            Err(e) => return Attempt::Failed(format!("cannot connect to master {target}: {e}")),
        };
        if let Ok(h) = conn.shutdown_handle() {
            *lock(&s.stream_sock) = Some(h);
        }
        let _ = conn.set_read_timeout(Some(s.opts.call_timeout));
        let hdrs = s.auth(
            Headers::default()
                .with("Content-Type", enc.content_type())
                .with("Accept", enc.content_type()),
        );
        if let Err(e) = conn.send_request("POST", &path, &hdrs, &body) {
            return Attempt::Failed(format!("SUBSCRIBE to {target}: {e}"));
        }
        let (status, headers) = match conn.read_response_head() {
            Ok(x) => x,
            Err(e) if client::is_timeout(&e) => {
                return Attempt::Failed(format!(
                    "SUBSCRIBE to {target}: no answer within {:.1}s",
                    s.opts.call_timeout.as_secs_f64()
                ));
            }
            Err(e) => return Attempt::Failed(format!("SUBSCRIBE to {target}: {e}")),
        };
        let principal = s.opts.credential.as_ref().map(|c| c.principal.as_str());
        let text = if status == 200 || status == 307 {
            String::new()
        } else {
            conn.read_body(&headers, 64 * 1024)
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default()
        };
        match subscribe_answer(status, &target, &text, principal) {
            SubscribeAnswer::Stream => break (conn, headers),
            SubscribeAnswer::Redirect => {
                let _ = conn.read_body(&headers, 64 * 1024);
                let loc = headers.get("location").unwrap_or_default().to_string();
                match redirects.follow(&target, &loc) {
                    Ok((ep, p)) => {
                        crate::log!(Level::Info, "scheduler", "{target} redirects to {ep}");
                        target = ep;
                        path = p;
                    }
                    Err(why) => return Attempt::Failed(why),
                }
            }
            SubscribeAnswer::Failed(why) => return Attempt::Failed(why),
            SubscribeAnswer::Fatal(why) => return Attempt::Fatal(why),
        }
    };
    let stream_enc = match headers
        .get("content-type")
        .and_then(Encoding::from_content_type)
    {
        Some(e) => e,
        None => {
            return Attempt::Failed(format!(
                "master {target} answered SUBSCRIBE with unexpected Content-Type {:?}",
                headers.get("content-type")
            ));
        }
    };
    let stream_id = headers.get("mesos-stream-id").map(str::to_string);
    lock(&s.machine).subscribe_accepted(stream_id, Instant::now());
    *lock(&s.leader) = Some(target.clone());
    crate::log!(
        Level::Info,
        "scheduler",
        "event stream open at {target} ({})",
        stream_enc.name()
    );
    read_events(s, conn.into_stream(&headers), stream_enc, from_zk, &target)
}

/// The leader ZooKeeper names now, if it is not `was`.
fn zk_leader_moved(s: &Shared, was: Option<&Endpoint>) -> Option<Endpoint> {
    match (s.detector.get()?.leader().0, was) {
        (Leader::Known(now), Some(was)) if &now != was => Some(now),
        _ => None,
    }
}

fn read_events(
    s: &Shared,
    body: client::OwnedBodyStream,
    enc: Encoding,
    from_zk: Option<Endpoint>,
    target: &Endpoint,
) -> Attempt {
    let Some(schema) = crate::wire::schema::message("mesos.v1.scheduler.Event") else {
        return Attempt::Fatal("no scheduler Event in the schema".into());
    };
    let tick = Duration::from_millis(250);
    let mut events = EventStream::for_message(body, schema, enc, s.opts.max_record, tick, "master")
        .transcoding(s.opts.views);
    let silent = std::cell::Cell::new(false);
    let mut idle = || {
        if s.stopping() {
            Some("driver stopping".to_string())
        } else if let Some(now) = zk_leader_moved(s, from_zk.as_ref()) {
            Some(format!(
                "ZooKeeper names a new leading master ({now}); resubscribing"
            ))
        } else if let Some(phase) = {
            let m = lock(&s.machine);
            m.heartbeat_lost(Instant::now()).then(|| m.phase())
        } {
            silent.set(true);
            crate::log!(
                Level::Warn,
                "scheduler",
                "{target} went silent; closing the stream"
            );
            Some(if phase == Phase::Subscribing {
                format!("no SUBSCRIBED event from {target} in time; trying again")
            } else {
                format!("no event or heartbeat from {target} in time; resubscribing")
            })
        } else {
            None
        }
    };
    // Events go to the owner in batches: every whole record one socket read
    // brought (up to BATCH), one queue operation and one wake-up for all.
    const BATCH: usize = 256;
    let mut batch: Vec<Output> = Vec::with_capacity(BATCH);
    loop {
        let mut next = Some(events.next_event(&mut idle));
        let mut end = None;
        while let Some(r) = next.take() {
            let ev = match r {
                Ok(ev) => ev,
                Err(why) if silent.get() => {
                    end = Some(Attempt::Unresponsive(why));
                    break;
                }
                Err(why) => {
                    end = Some(Attempt::Ended(why));
                    break;
                }
            };
            let seen = summarize(&ev);
            s.stats.events.fetch_add(1, Ordering::Relaxed);
            Stats::count(&s.stats.events_by_type, ev.type_name().unwrap_or("UNKNOWN"));
            lock(&s.machine).event(&seen, Instant::now());
            batch.push(Output::Event(ev));
            if let Seen::Error(msg) = seen {
                end = Some(Attempt::Fatal(format!("master sent ERROR: {msg}")));
                break;
            }
            if batch.len() < BATCH {
                next = events.buffered_event();
            }
        }
        if !s.emit_all(&mut batch) {
            return Attempt::Ended("driver stopping".into());
        }
        if let Some(end) = end {
            return end;
        }
    }
}

// ------------------------------------------------------------------- calls

fn call_thread(s: &Shared, cmds: &Receiver<Cmd>) {
    let mut conn = CallConn::new(s.opts.connect_timeout, s.opts.call_timeout, s.tls.clone());
    conn.sock = s.call_sock.clone();
    while let Ok(cmd) = cmds.recv() {
        match cmd {
            Cmd::Stop => break,
            Cmd::Call(c) => {
                let ty = call_type_name(&c);
                let teardown = ty == "TEARDOWN";
                if teardown {
                    lock(&s.machine).teardown_queued();
                }
                match send_call(s, &mut conn, *c) {
                    Ok(()) => {
                        s.stats.calls.fetch_add(1, Ordering::Relaxed);
                        Stats::count(&s.stats.calls_by_type, &ty);
                        if teardown {
                            lock(&s.machine).teardown_settled(true);
                            s.stop.set();
                            s.machine_changed.notify_all();
                            s.emit(Output::Stopped("framework torn down".into()));
                        }
                    }
                    Err(reason) => {
                        if teardown {
                            lock(&s.machine).teardown_settled(false);
                            s.machine_changed.notify_all();
                        }
                        s.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
                        s.emit(Output::CallFailed {
                            call_type: ty,
                            reason,
                        });
                    }
                }
            }
        }
    }
    CallConn::shutdown(&s.call_sock);
}

fn send_call(s: &Shared, conn: &mut CallConn, mut c: Call) -> Result<(), String> {
    let stream_id = lock(&s.machine)
        .stamp(&mut c)
        .map_err(|e| format!("not subscribed (driver is {})", e.0.name()))?;
    let Some(mut target) = lock(&s.leader).clone() else {
        return Err("not subscribed (no leading master)".into());
    };
    let enc = s.opts.encoding;
    let body = codec::encode(&c, enc);
    let hdrs = s.auth(
        Headers::default()
            .with("Content-Type", enc.content_type())
            .with("Accept", enc.content_type())
            .with("Mesos-Stream-Id", stream_id),
    );
    let mut path = SCHEDULER_PATH.to_string();
    let mut redirects = Redirects::new(s.opts.max_redirects);
    loop {
        let resp = conn.post(&target, &path, &hdrs, &body)?;
        match call_answer(resp.status, &resp.body_text()) {
            CallAnswer::Taken => return Ok(()),
            CallAnswer::Redirect => {
                let loc = resp.headers.get("location").unwrap_or_default().to_string();
                let (ep, p) = redirects.follow(&target, &loc)?;
                conn.reset();
                target = ep;
                path = p;
            }
            CallAnswer::Refused(why) => return Err(why),
        }
    }
}
