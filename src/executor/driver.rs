//! The executor driver: subscribes to the agent's `/api/v1/executor`, keeps
//! every update until the agent ACKNOWLEDGEs it and every launched task until
//! one of its updates is acknowledged, resends both on each re-SUBSCRIBE,
//! recovers across agent restarts when checkpointing, and otherwise turns a
//! lost agent into a SHUTDOWN. Events reach the owner through a bounded queue.

use crate::log::Level;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use thiserror::Error;

use super::env::ExecutorEnv;
use crate::base::{StopSignal, lock};
pub use crate::driver::{Output, Phase};
use crate::http::Headers;
use crate::http::tls::TlsClient;
use crate::queue::{Consumer, Producer, bounded_queue};
use crate::stream::EventStream;
use crate::transport::{self, CallConn};
use crate::wire::codec::{self, Encoding};
use crate::wire::pb::executor::{Call, Event, call, event};
use crate::wire::pb::{AgentId, ExecutorId, FrameworkId, TaskInfo, TaskStatus, task_status};
use crate::wire::{limits, recordio};

/// How often an executor sends the optional HEARTBEAT call.
const HEARTBEAT_CALL_INTERVAL: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct Options {
    pub env: ExecutorEnv,
    pub encoding: Encoding,
    pub queue_size: usize,
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    pub max_record: usize,
    /// Bound on one payload sent: a status update's data or message, a
    /// framework message's data (`limits::DEFAULT_MAX_PAYLOAD`).
    pub max_payload: usize,
    /// After a SHUTDOWN (sent by the agent, or made up because the agent is
    /// gone), kill this process once the shutdown grace period has passed,
    /// as Mesos's own executor library does. Off for embedding in a process
    /// that must outlive its executor (tests).
    pub shutdown_watchdog: bool,
    /// PEM file of the CA certificates to trust for an `https` agent
    /// endpoint (instead of the system's root certificates).
    pub ca_file: Option<PathBuf>,
}

impl Options {
    pub fn new(env: ExecutorEnv) -> Self {
        Options {
            encoding: Encoding::Protobuf,
            queue_size: 1024,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(75),
            max_record: recordio::DEFAULT_MAX_RECORD,
            max_payload: limits::DEFAULT_MAX_PAYLOAD,
            shutdown_watchdog: true,
            ca_file: env.ssl_ca_file.clone(),
            env,
        }
    }
}

#[derive(Debug, Error)]
pub enum ExecutorError {
    #[error("driver already started")]
    AlreadyStarted,
    #[error("driver is stopped")]
    Stopped,
    #[error("cannot start driver thread: {0}")]
    Spawn(String),
    #[error("cannot create the event queue: {0}")]
    Queue(String),
    #[error("invalid status update: {0}")]
    BadUpdate(String),
    #[error("{0}")]
    TooLarge(#[from] limits::TooLarge),
}

/// What must survive a reconnection.
#[derive(Default)]
struct Book {
    phase: Option<Phase>,
    agent_id: Option<String>,
    /// Updates not yet ACKNOWLEDGED, in the order they were made.
    updates: Vec<call::Update>,
    /// Tasks launched for which no update has been acknowledged yet.
    tasks: BTreeMap<String, TaskInfo>,
}

enum Cmd {
    Send(Box<Call>),
    Stop,
}

struct Shared {
    opts: Options,
    /// The TLS client configuration, built once on first use.
    tls: TlsClient,
    book: Mutex<Book>,
    stop: StopSignal,
    watchdog_armed: AtomicBool,
    stream_sock: Mutex<Option<std::net::TcpStream>>,
    call_sock: Arc<Mutex<Option<std::net::TcpStream>>>,
    events: Producer<Output>,
    cmd_tx: Sender<Cmd>,
    pub stats: Stats,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub updates: AtomicU64,
    pub reconnects: AtomicU64,
}

impl Shared {
    fn emit(&self, out: Output) -> bool {
        out.log("executor");
        self.events.push(out, self.stop.flag())
    }

    fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    fn pause(&self, d: Duration) -> bool {
        self.stop.pause(d)
    }

    fn headers(&self) -> Headers {
        let enc = self.opts.encoding;
        let mut h = Headers::default()
            .with("Content-Type", enc.content_type())
            .with("Accept", enc.content_type());
        if let Some(t) = &self.opts.env.token {
            h.add("Authorization", format!("Bearer {t}"));
        }
        h
    }

    fn ids(&self) -> (ExecutorId, FrameworkId) {
        (
            ExecutorId {
                value: self.opts.env.executor_id.clone(),
            },
            FrameworkId {
                value: self.opts.env.framework_id.clone(),
            },
        )
    }

    fn set_phase(&self, p: Phase) {
        let mut b = lock(&self.book);
        if b.phase != Some(Phase::Stopped) {
            b.phase = Some(p);
        }
    }
}

pub struct Driver {
    shared: Arc<Shared>,
    events: Consumer<Output>,
    cmd_rx: Option<Receiver<Cmd>>,
    threads: Vec<JoinHandle<()>>,
}

fn shutdown_event() -> Result<DynamicMessage, codec::CodecError> {
    codec::to_dynamic(&Event {
        r#type: Some(event::Type::Shutdown as i32),
        ..Default::default()
    })
}

impl Driver {
    pub fn new(opts: Options) -> Result<Driver, ExecutorError> {
        let (producer, consumer) =
            bounded_queue(opts.queue_size).map_err(|e| ExecutorError::Queue(e.to_string()))?;
        let (cmd_tx, cmd_rx) = unbounded();
        let shared = Arc::new(Shared {
            tls: TlsClient::new(opts.ca_file.clone()),
            opts,
            book: Mutex::new(Book::default()),
            stop: StopSignal::default(),
            watchdog_armed: AtomicBool::new(false),
            stream_sock: Mutex::new(None),
            call_sock: Arc::default(),
            events: producer,
            cmd_tx,
            stats: Stats::default(),
        });
        Ok(Driver {
            shared,
            events: consumer,
            cmd_rx: Some(cmd_rx),
            threads: vec![],
        })
    }

    pub fn start(&mut self) -> Result<(), ExecutorError> {
        if self.shared.stopping() {
            return Err(ExecutorError::Stopped);
        }
        let cmd_rx = self.cmd_rx.take().ok_or(ExecutorError::AlreadyStarted)?;
        self.shared.set_phase(Phase::Disconnected);
        let s = self.shared.clone();
        let t1 = thread::Builder::new()
            .name("mesos-exec-stream".into())
            .spawn(move || stream_thread(&s))
            .map_err(|e| ExecutorError::Spawn(e.to_string()))?;
        let s = self.shared.clone();
        let t2 = thread::Builder::new()
            .name("mesos-exec-calls".into())
            .spawn(move || call_thread(&s, &cmd_rx))
            .map_err(|e| ExecutorError::Spawn(e.to_string()))?;
        self.threads = vec![t1, t2];
        Ok(())
    }

    /// Sends a status update, filling in uuid, source, executor and agent ids
    /// and timestamp. The update is kept (and resent on re-SUBSCRIBE) until
    /// the agent acknowledges it. Returns the uuid.
    pub fn update(&self, mut status: TaskStatus) -> Result<Vec<u8>, ExecutorError> {
        if self.shared.stopping() {
            return Err(ExecutorError::Stopped);
        }
        if status.state == crate::wire::pb::TaskState::TaskStaging as i32 {
            return Err(ExecutorError::BadUpdate(
                "executors must not send TASK_STAGING".into(),
            ));
        }
        let max = self.shared.opts.max_payload;
        limits::payload("status data", status.data.as_ref().map_or(0, Vec::len), max)?;
        limits::payload(
            "status message",
            status.message.as_ref().map_or(0, String::len),
            max,
        )?;
        let uuid = crate::uuid::v4();
        status.uuid = Some(uuid.to_vec());
        status.source = Some(task_status::Source::Executor as i32);
        status.executor_id = Some(ExecutorId {
            value: self.shared.opts.env.executor_id.clone(),
        });
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        status.timestamp = Some(status.timestamp.unwrap_or(secs));
        let mut book = lock(&self.shared.book);
        if status.agent_id.is_none() {
            let agent = book
                .agent_id
                .clone()
                .or_else(|| self.shared.opts.env.agent_id.clone());
            status.agent_id = agent.map(|value| AgentId { value });
        }
        let update = call::Update { status };
        // The call around the update adds its ids and a few tags.
        let ids = &self.shared.opts.env;
        let around = ids.executor_id.len() + ids.framework_id.len() + 32;
        limits::message("UPDATE", update.encoded_len() + around)?;
        book.updates.push(update.clone());
        drop(book);
        self.send_update(update);
        Ok(uuid.to_vec())
    }

    fn send_update(&self, update: call::Update) {
        let (executor_id, framework_id) = self.shared.ids();
        let c = Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Update as i32),
            update: Some(update),
            ..Default::default()
        };
        self.shared.stats.updates.fetch_add(1, Ordering::Relaxed);
        let _ = self.shared.cmd_tx.send(Cmd::Send(Box::new(c)));
    }

    /// Sends a framework message to the scheduler (best effort).
    pub fn message(&self, data: Vec<u8>) -> Result<(), ExecutorError> {
        if self.shared.stopping() {
            return Err(ExecutorError::Stopped);
        }
        limits::payload(
            "framework message data",
            data.len(),
            self.shared.opts.max_payload,
        )?;
        let (executor_id, framework_id) = self.shared.ids();
        let c = Call {
            executor_id,
            framework_id,
            r#type: Some(call::Type::Message as i32),
            message: Some(call::Message { data }),
            ..Default::default()
        };
        self.shared
            .cmd_tx
            .send(Cmd::Send(Box::new(c)))
            .map_err(|_| ExecutorError::Stopped)
    }

    /// Updates not yet acknowledged by the agent.
    pub fn unacknowledged_updates(&self) -> Vec<TaskStatus> {
        lock(&self.shared.book)
            .updates
            .iter()
            .map(|u| u.status.clone())
            .collect()
    }

    /// Tasks launched for which no update was acknowledged yet.
    pub fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        lock(&self.shared.book).tasks.values().cloned().collect()
    }

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
        lock(&self.shared.book).phase.unwrap_or(Phase::Disconnected)
    }

    pub fn agent_id(&self) -> Option<String> {
        lock(&self.shared.book).agent_id.clone()
    }

    pub fn shutdown_grace_period(&self) -> Duration {
        self.shared.opts.env.shutdown_grace_period
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stops: sends the calls already queued (bounded wait), then closes.
    pub fn stop(&mut self) {
        if self.shared.stopping() {
            return self.halt("driver stopped");
        }
        let _ = self.shared.cmd_tx.send(Cmd::Stop);
        self.halt("driver stopped");
    }

    fn halt(&mut self, why: &str) {
        let first = self.shared.stop.set();
        lock(&self.shared.book).phase = Some(Phase::Stopped);
        CallConn::shutdown(&self.shared.stream_sock);
        // Let the call thread finish what is queued before closing its socket.
        let _ = self.shared.cmd_tx.send(Cmd::Stop);
        let mut threads = std::mem::take(&mut self.threads);
        if let Some(calls) = threads.pop() {
            let _ = calls.join();
        }
        CallConn::shutdown(&self.shared.call_sock);
        for t in threads {
            let _ = t.join();
        }
        if first {
            self.shared.events.try_push(Output::Stopped(why.into()));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.halt("driver dropped");
    }
}

// ------------------------------------------------------------------ stream

fn stream_thread(s: &Shared) {
    let env = &s.opts.env;
    // Set when the connection to the agent is lost while checkpointing.
    let mut recovery_deadline: Option<Instant> = None;
    loop {
        if s.stopping() {
            return;
        }
        let why = subscribe_and_read(s, &mut recovery_deadline);
        *lock(&s.stream_sock) = None;
        if s.stopping() {
            return;
        }
        s.set_phase(Phase::Disconnected);
        s.emit(Output::Disconnected(why.clone()));
        if !env.checkpoint {
            return give_up(
                s,
                format!("{why}; framework does not checkpoint, shutting down"),
            );
        }
        let deadline =
            *recovery_deadline.get_or_insert_with(|| Instant::now() + env.recovery_timeout);
        if Instant::now() >= deadline {
            return give_up(
                s,
                format!("agent did not come back within the recovery timeout ({why})"),
            );
        }
        s.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        let u: f64 = rand::random();
        let delay = env
            .subscription_backoff_max
            .mul_f64(u)
            .min(deadline.saturating_duration_since(Instant::now()));
        crate::log!(
            Level::Info,
            "executor",
            "resubscribing to the agent in {:.2}s",
            delay.as_secs_f64()
        );
        if s.pause(delay) {
            return;
        }
    }
}

/// The agent is gone for good: deliver a SHUTDOWN as the C++ library does.
fn give_up(s: &Shared, why: String) {
    arm_shutdown_watchdog(s);
    if let Ok(ev) = shutdown_event() {
        s.emit(Output::Event(ev.into()));
    }
    s.set_phase(Phase::Disconnected);
    s.emit(Output::Disconnected(why));
}

fn subscribe_call(s: &Shared) -> Call {
    let b = lock(&s.book);
    let (executor_id, framework_id) = s.ids();
    Call {
        executor_id,
        framework_id,
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            unacknowledged_tasks: b.tasks.values().cloned().collect(),
            unacknowledged_updates: b.updates.clone(),
        }),
        ..Default::default()
    }
}

fn subscribe_and_read(s: &Shared, recovery_deadline: &mut Option<Instant>) -> String {
    let env = &s.opts.env;
    let enc = s.opts.encoding;
    let target = &env.agent;
    let mut conn = match transport::connect(target, s.opts.connect_timeout, &s.tls) {
        Ok(c) => c,
        Err(e) => return format!("cannot connect to agent {target}: {e}"),
    };
    if let Ok(h) = conn.shutdown_handle() {
        *lock(&s.stream_sock) = Some(h);
    }
    let _ = conn.set_read_timeout(Some(s.opts.call_timeout));
    s.set_phase(Phase::Subscribing);
    let body = codec::encode(&subscribe_call(s), enc);
    if let Err(e) = conn.send_request("POST", &env.path, &s.headers(), &body) {
        return format!("SUBSCRIBE to agent {target}: {e}");
    }
    let (status, headers) = match conn.read_response_head() {
        Ok(x) => x,
        Err(e) => return format!("SUBSCRIBE to agent {target}: {e}"),
    };
    if status != 200 {
        let text = conn
            .read_body(&headers, 64 * 1024)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        return format!("SUBSCRIBE rejected by agent {target}: HTTP {status} {text}");
    }
    let stream_enc = headers
        .get("content-type")
        .and_then(Encoding::from_content_type)
        .unwrap_or(enc);
    let Some(schema) = crate::wire::schema::message("mesos.v1.executor.Event") else {
        return "no executor Event in the schema".into();
    };
    let mut events = EventStream::for_message(
        conn.into_stream(&headers),
        schema,
        stream_enc,
        s.opts.max_record,
        Duration::from_millis(250),
        "agent",
    );
    let mut idle = || s.stopping().then(|| "driver stopping".to_string());
    loop {
        let ev = match events.next_event(&mut idle) {
            Ok(ev) => ev,
            Err(why) => return why,
        };
        s.stats.events.fetch_add(1, Ordering::Relaxed);
        if let Ok(typed) = typed_event(&ev, schema) {
            if typed.r#type == Some(event::Type::Subscribed as i32) {
                *recovery_deadline = None;
                crate::log!(Level::Info, "executor", "subscribed to agent {target}");
            }
            book_event(s, &typed);
        }
        if !s.emit(Output::Event(ev)) {
            return "driver stopping".into();
        }
    }
}

/// The event as the generated type: prost straight from the bytes when the
/// strict check says that reads as the descriptor-based path would (no
/// descriptor pool), else through the decoded message.
fn typed_event(ev: &crate::driver::Event, schema: u16) -> Result<Event, codec::CodecError> {
    if let Some((bytes, Encoding::Protobuf, _)) = ev.raw_bytes()
        && crate::wire::direct::pb::check_strict(schema, bytes).is_ok()
        && let Ok(t) = prost::Message::decode(bytes)
    {
        return Ok(t);
    }
    Ok(ev.message().transcode_to::<Event>()?)
}

/// Kills this process after the grace period, once, if enabled.
fn arm_shutdown_watchdog(s: &Shared) {
    if !s.opts.shutdown_watchdog || s.watchdog_armed.swap(true, Ordering::SeqCst) {
        return;
    }
    // A little more than the grace period: the agent itself escalates then.
    let grace = s.opts.env.shutdown_grace_period + Duration::from_millis(500);
    let _ = thread::Builder::new()
        .name("mesos-exec-watchdog".into())
        .spawn(move || {
            thread::sleep(grace);
            // SAFETY: signals our own process group (our tasks and us), as the
            // Mesos executor library does when the grace period runs out.
            unsafe {
                libc::kill(0, libc::SIGKILL);
            }
        });
}

/// Keeps the unacknowledged lists and ids current.
fn book_event(s: &Shared, ev: &Event) {
    if ev.r#type == Some(event::Type::Shutdown as i32) {
        arm_shutdown_watchdog(s);
    }
    let mut b = lock(&s.book);
    match ev.r#type.and_then(|t| event::Type::try_from(t).ok()) {
        Some(event::Type::Subscribed) => {
            b.phase = Some(Phase::Subscribed);
            if let Some(sub) = &ev.subscribed {
                b.agent_id = sub.agent_info.id.as_ref().map(|a| a.value.clone());
            }
        }
        Some(event::Type::Launch) => {
            if let Some(l) = &ev.launch {
                b.tasks.insert(l.task.task_id.value.clone(), l.task.clone());
            }
        }
        Some(event::Type::LaunchGroup) => {
            if let Some(g) = &ev.launch_group {
                for t in &g.task_group.tasks {
                    b.tasks.insert(t.task_id.value.clone(), t.clone());
                }
            }
        }
        Some(event::Type::Acknowledged) => {
            if let Some(a) = &ev.acknowledged {
                b.updates
                    .retain(|u| u.status.uuid.as_deref() != Some(a.uuid.as_slice()));
                b.tasks.remove(&a.task_id.value);
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------------- calls

fn call_thread(s: &Shared, cmds: &Receiver<Cmd>) {
    let mut conn = CallConn::new(s.opts.connect_timeout, s.opts.call_timeout, s.tls.clone());
    conn.sock = s.call_sock.clone();
    loop {
        let cmd = match cmds.recv_timeout(HEARTBEAT_CALL_INTERVAL) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                let (executor_id, framework_id) = s.ids();
                Cmd::Send(Box::new(Call {
                    executor_id,
                    framework_id,
                    r#type: Some(call::Type::Heartbeat as i32),
                    ..Default::default()
                }))
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let c = match cmd {
            Cmd::Stop => return,
            Cmd::Send(c) => c,
        };
        let ty = c
            .r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .map_or("UNKNOWN", |t| t.as_str_name())
            .to_string();
        // Updates made while not subscribed wait for the next SUBSCRIBE,
        // which carries every unacknowledged update.
        let subscribed = lock(&s.book).phase == Some(Phase::Subscribed);
        if !subscribed {
            if ty != "UPDATE" && ty != "HEARTBEAT" {
                s.emit(Output::CallFailed {
                    call_type: ty,
                    reason: "not subscribed to the agent".into(),
                });
            }
            continue;
        }
        let body = codec::encode(c.as_ref(), s.opts.encoding);
        let env = &s.opts.env;
        match conn.post(&env.agent, &env.path, &s.headers(), &body) {
            Ok(r) if r.status == 202 || r.status == 200 => {}
            Ok(r) if ty == "UPDATE" => {
                // Kept in the book: resent on the next SUBSCRIBE.
                s.emit(Output::CallFailed {
                    call_type: ty,
                    reason: format!(
                        "HTTP {} {} (will be resent on resubscription)",
                        r.status,
                        r.body_text()
                    ),
                });
            }
            Ok(r) => {
                s.emit(Output::CallFailed {
                    call_type: ty,
                    reason: format!("HTTP {} {}", r.status, r.body_text()),
                });
            }
            Err(e) if ty != "UPDATE" && ty != "HEARTBEAT" => {
                s.emit(Output::CallFailed {
                    call_type: ty,
                    reason: e,
                });
            }
            Err(_) => {}
        }
    }
}
