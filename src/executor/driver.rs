//! The executor driver: the threads, sockets and clocks that run the
//! executor's state machine (`machine.rs`, where every protocol rule lives:
//! the unacknowledged book, recovery, backoff, the synthetic SHUTDOWN,
//! stamping and limits). A stream thread connects to the agent's
//! `/api/v1/executor`, SUBSCRIBEs and reads events; a call thread POSTs
//! calls; both feed the machine what happened and execute what it answers.
//! Events reach the owner through a bounded queue; the shutdown watchdog
//! (a thread that kills the process group) is armed here when the machine
//! says so.
//!
//! May import anything of the crate's I/O layers (transport, http, stream,
//! queue), the wire, and the machine; nothing imports it but the Lua binding.

use crate::log::Level;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use thiserror::Error;

use super::env::ExecutorEnv;
use super::machine::{self, Action, Config as MachineConfig, Machine, Refused};
use crate::base::{StopSignal, lock};
pub use crate::driver::{Output, Phase};
use crate::net::http::Headers;
use crate::net::http::tls::TlsClient;
use crate::net::stream::EventStream;
use crate::net::transport::{self, CallConn};
use crate::queue::{Consumer, Producer, bounded_queue};
use crate::wire::codec::{self, Encoding};
use crate::wire::pb::executor::{Call, Event, event};
use crate::wire::pb::{TaskInfo, TaskStatus};
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

impl From<Refused> for ExecutorError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::Staging => ExecutorError::BadUpdate(e.to_string()),
            Refused::TooLarge(t) => ExecutorError::TooLarge(t),
        }
    }
}

impl Options {
    /// What the machine needs of the options.
    fn machine(&self) -> MachineConfig {
        let env = &self.env;
        MachineConfig {
            executor_id: env.executor_id.clone(),
            framework_id: env.framework_id.clone(),
            agent_id: env.agent_id.clone(),
            checkpoint: env.checkpoint,
            recovery_timeout: env.recovery_timeout,
            backoff_max: env.subscription_backoff_max,
            shutdown_grace_period: env.shutdown_grace_period,
            max_payload: self.max_payload,
            watchdog: self.shutdown_watchdog,
        }
    }
}

enum Cmd {
    Send(Box<Call>),
    Stop,
}

struct Shared {
    opts: Options,
    /// The TLS client configuration, built once on first use.
    tls: TlsClient,
    /// Never held while blocking: take its actions, release, execute.
    machine: Mutex<Machine>,
    stop: StopSignal,
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

    fn machine(&self) -> std::sync::MutexGuard<'_, Machine> {
        lock(&self.machine)
    }

    /// Executes the machine's actions in order (a `Send` is queued for the
    /// call thread); false when the stream is over (`Stop`, or a stop cut a
    /// wait short).
    fn run(&self, actions: Vec<Action>) -> bool {
        for a in actions {
            match a {
                Action::Deliver(out) => {
                    self.emit(out);
                }
                Action::ArmWatchdog(after) => arm_shutdown_watchdog(after),
                Action::Resubscribe(delay) => {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    crate::log!(
                        Level::Info,
                        "executor",
                        "resubscribing to the agent in {:.2}s",
                        delay.as_secs_f64()
                    );
                    if self.pause(delay) {
                        return false;
                    }
                }
                Action::Stop => return false,
                Action::Send(c) => {
                    let _ = self.cmd_tx.send(Cmd::Send(c));
                }
            }
        }
        true
    }
}

pub struct Driver {
    shared: Arc<Shared>,
    events: Consumer<Output>,
    cmd_rx: Option<Receiver<Cmd>>,
    threads: Vec<JoinHandle<()>>,
}

impl Driver {
    pub fn new(opts: Options) -> Result<Driver, ExecutorError> {
        let (producer, consumer) =
            bounded_queue(opts.queue_size).map_err(|e| ExecutorError::Queue(e.to_string()))?;
        let (cmd_tx, cmd_rx) = unbounded();
        let shared = Arc::new(Shared {
            tls: TlsClient::new(opts.ca_file.clone()),
            machine: Mutex::new(Machine::new(opts.machine())),
            opts,
            stop: StopSignal::default(),
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
    pub fn update(&self, status: TaskStatus) -> Result<Vec<u8>, ExecutorError> {
        if self.shared.stopping() {
            return Err(ExecutorError::Stopped);
        }
        let uuid = crate::uuid::v4();
        let c = self
            .shared
            .machine()
            .update(status, uuid, SystemTime::now())?;
        self.shared.stats.updates.fetch_add(1, Ordering::Relaxed);
        let _ = self.shared.cmd_tx.send(Cmd::Send(Box::new(c)));
        Ok(uuid.to_vec())
    }

    /// Sends a framework message to the scheduler (best effort).
    pub fn message(&self, data: Vec<u8>) -> Result<(), ExecutorError> {
        if self.shared.stopping() {
            return Err(ExecutorError::Stopped);
        }
        let c = self.shared.machine().message(data)?;
        self.shared
            .cmd_tx
            .send(Cmd::Send(Box::new(c)))
            .map_err(|_| ExecutorError::Stopped)
    }

    /// Updates not yet acknowledged by the agent.
    pub fn unacknowledged_updates(&self) -> Vec<TaskStatus> {
        self.shared
            .machine()
            .unacknowledged_updates()
            .cloned()
            .collect()
    }

    /// Tasks launched for which no update was acknowledged yet.
    pub fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.shared
            .machine()
            .unacknowledged_tasks()
            .cloned()
            .collect()
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
        self.shared.machine().phase()
    }

    pub fn agent_id(&self) -> Option<String> {
        self.shared.machine().agent_id().map(str::to_string)
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
        self.shared.machine().stop();
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
    loop {
        if s.stopping() {
            return;
        }
        let why = subscribe_and_read(s);
        *lock(&s.stream_sock) = None;
        if s.stopping() {
            return;
        }
        let actions = s
            .machine()
            .stream_ended(why, Instant::now(), rand::random());
        if !s.run(actions) {
            return;
        }
    }
}

fn subscribe_and_read(s: &Shared) -> String {
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
    let subscribe = s.machine().connected();
    let body = codec::encode(&subscribe, enc);
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
                crate::log!(Level::Info, "executor", "subscribed to agent {target}");
            }
            let actions = s.machine().event(&typed);
            s.run(actions);
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

/// Kills this process group once `after` has passed (the machine arms it
/// once, after a SHUTDOWN, when the watchdog is enabled).
fn arm_shutdown_watchdog(after: Duration) {
    let _ = thread::Builder::new()
        .name("mesos-exec-watchdog".into())
        .spawn(move || {
            thread::sleep(after);
            // SAFETY: signals our own process group (our tasks and us), as the
            // Mesos executor library does when the grace period runs out.
            unsafe {
                libc::kill(0, libc::SIGKILL);
            }
        });
}

// ------------------------------------------------------------------- calls

fn call_thread(s: &Shared, cmds: &Receiver<Cmd>) {
    let mut conn = CallConn::new(s.opts.connect_timeout, s.opts.call_timeout, s.tls.clone());
    conn.sock = s.call_sock.clone();
    loop {
        let c = match cmds.recv_timeout(HEARTBEAT_CALL_INTERVAL) {
            Ok(Cmd::Send(c)) => *c,
            Ok(Cmd::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => s.machine().heartbeat(),
        };
        let actions = s.machine().outgoing(c);
        for a in actions {
            match a {
                Action::Send(c) => post(s, &mut conn, &c),
                other => {
                    s.run(vec![other]);
                }
            }
        }
    }
}

/// POSTs one call and tells the machine how it went.
fn post(s: &Shared, conn: &mut CallConn, c: &Call) {
    let ty = machine::call_type(c);
    let body = codec::encode(c, s.opts.encoding);
    let env = &s.opts.env;
    let actions = match conn.post(&env.agent, &env.path, &s.headers(), &body) {
        Ok(r) => s.machine().call_answered(&ty, r.status, &r.body_text()),
        Err(e) => s.machine().call_failed(&ty, e),
    };
    s.run(actions);
}
