//! The master's operator event stream: a background thread SUBSCRIBEs
//! (following redirects and the leader), reads the RecordIO events of
//! `mesos.v1.master.Event`, and hands them to the owner through the bounded
//! queue and its wake-up fd, as the drivers do (`driver::Output`). A lost
//! stream is reported (`Disconnected`) and subscribed again after a backoff
//! (`operator::rules::Backoff`); refused credentials or a refused call stop
//! it (`Stopped`). Silence longer than the heartbeat timeout counts as lost.
//!
//! May import: `operator::{client, rules}`, `crate::driver` (Event,
//! Output, Phase), the network, wire and ground layers, `queue`.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{Client, OperatorError, Place};
use super::rules::{Backoff, Redirects, describe, retry_stream};
use crate::base::{StopSignal, lock};
use crate::driver::{Output, Phase};
use crate::net::http::client::is_timeout;
use crate::net::stream::EventStream;
use crate::net::transport::{self, CallConn, Endpoint};
use crate::queue::{Consumer, Producer, bounded_queue};
use crate::wire::codec::Encoding;

#[derive(Debug, Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub reconnects: AtomicU64,
    pub events_by_type: Mutex<BTreeMap<String, u64>>,
}

struct Shared {
    place: Arc<Place>,
    /// The encoded SUBSCRIBE call.
    subscribe: Vec<u8>,
    stop: StopSignal,
    phase: Mutex<Phase>,
    sock: Mutex<Option<TcpStream>>,
    leader: Mutex<Option<Endpoint>>,
    last_event: Mutex<Option<Instant>>,
    events: Producer<Output>,
    stats: Stats,
}

/// How one subscription ended.
enum End {
    /// Subscribe again after a backoff.
    Retry(String),
    /// Stop for good.
    Fatal(String),
}

impl Shared {
    fn emit(&self, out: Output) -> bool {
        out.log("operator");
        self.events.push(out, self.stop.flag())
    }

    fn set_phase(&self, p: Phase) {
        *lock(&self.phase) = p;
    }
}

/// A running event stream.
pub struct Watch {
    shared: Arc<Shared>,
    events: Consumer<Output>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts streaming from `client`'s master; `subscribe` is the encoded
    /// SUBSCRIBE call.
    pub fn start(client: &Client, subscribe: Vec<u8>) -> std::io::Result<Watch> {
        let place = client.place();
        let (tx, rx) = bounded_queue(place.opts.queue_size.max(1))?;
        let shared = Arc::new(Shared {
            place,
            subscribe,
            stop: StopSignal::default(),
            phase: Mutex::new(Phase::Subscribing),
            sock: Mutex::new(None),
            leader: Mutex::new(None),
            last_event: Mutex::new(None),
            events: tx,
            stats: Stats::default(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mesos-operator-watch".into())
            .spawn(move || run(&s))?;
        Ok(Watch {
            shared,
            events: rx,
            thread: Some(thread),
        })
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
        *lock(&self.shared.phase)
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn leader(&self) -> Option<Endpoint> {
        lock(&self.shared.leader).clone()
    }

    pub fn last_event_age(&self) -> Option<Duration> {
        lock(&self.shared.last_event).map(|t| t.elapsed())
    }

    pub fn queue_size(&self) -> usize {
        self.shared.place.opts.queue_size
    }

    /// Ends the stream (the thread is joined); `Stopped` is queued once.
    pub fn stop(&mut self, why: &str) {
        let first = self.shared.stop.set();
        CallConn::shutdown(&self.shared.sock);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.set_phase(Phase::Stopped);
        if first {
            self.shared.events.try_push(Output::Stopped(why.into()));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop("stream closed");
    }
}

fn run(s: &Shared) {
    let o = &s.place.opts;
    let mut backoff = Backoff::new(o.backoff_min, o.backoff_max);
    while !s.stop.is_set() {
        s.set_phase(Phase::Subscribing);
        let end = subscribe_any(s, &mut backoff);
        if s.stop.is_set() {
            break;
        }
        match end {
            End::Fatal(why) => {
                s.stop.set();
                s.set_phase(Phase::Stopped);
                s.events.try_push(Output::Stopped(why));
                return;
            }
            End::Retry(why) => {
                s.set_phase(Phase::Disconnected);
                s.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                *lock(&s.leader) = None;
                if !s.emit(Output::Disconnected(why)) {
                    break;
                }
                if s.stop.pause(backoff.next(rand::random())) {
                    break;
                }
            }
        }
    }
    s.set_phase(Phase::Stopped);
}

/// One round over the candidates; `Retry` when none held a stream.
fn subscribe_any(s: &Shared, backoff: &mut Backoff) -> End {
    let last = lock(&s.leader).clone();
    let candidates = match s.place.candidates(last.as_ref()) {
        Ok(c) => c,
        Err(e) => return End::Retry(e.to_string()),
    };
    let mut failures = Vec::new();
    for c in candidates {
        match subscribe_once(s, c, backoff) {
            Ok(end) => return end,
            Err(why) => failures.push(why),
        }
        if s.stop.is_set() {
            break;
        }
    }
    End::Retry(
        OperatorError::Unreachable {
            peer: s.place.opts.peer(),
            why: failures.join("; "),
        }
        .to_string(),
    )
}

/// Subscribes at `target`: `Err` to try the next candidate, else how the
/// stream ended.
fn subscribe_once(s: &Shared, mut target: Endpoint, backoff: &mut Backoff) -> Result<End, String> {
    let o = &s.place.opts;
    let hdrs = o.headers();
    let mut path = o.path.clone();
    let mut redirects = Redirects::new(o.max_redirects);
    let (conn, headers) = loop {
        let mut conn = transport::connect(&target, o.connect_timeout, &s.place.tls)
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        if let Ok(h) = conn.shutdown_handle() {
            *lock(&s.sock) = Some(h);
        }
        let _ = conn.set_read_timeout(Some(o.call_timeout));
        conn.send_request("POST", &path, &hdrs, &s.subscribe)
            .map_err(|e| format!("SUBSCRIBE to {target}: {e}"))?;
        let (status, headers) = conn.read_response_head().map_err(|e| {
            if is_timeout(&e) {
                format!("SUBSCRIBE to {target}: no answer in time")
            } else {
                format!("SUBSCRIBE to {target}: {e}")
            }
        })?;
        if status == 200 {
            break (conn, headers);
        }
        let text = conn
            .read_body(&headers, 64 * 1024)
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let loc = headers.get("location").unwrap_or_default();
            match crate::net::endpoint::resolve_location(&target, loc) {
                Some((e, p)) if redirects.take() => {
                    target = e;
                    path = p;
                    continue;
                }
                _ => return Err(format!("SUBSCRIBE to {target}: bad or too many redirects")),
            }
        }
        let why = format!("SUBSCRIBE to {target}: {}", describe(status, &text));
        if status == 503 {
            return Err(why);
        }
        return Ok(if retry_stream(status) {
            End::Retry(why)
        } else {
            End::Fatal(why)
        });
    };
    let enc = headers
        .get("content-type")
        .and_then(Encoding::from_content_type)
        .unwrap_or(o.encoding);
    *lock(&s.leader) = Some(target.clone());
    crate::log!(
        crate::log::Level::Info,
        "operator",
        "event stream open at {target} ({})",
        enc.name()
    );
    Ok(read_events(
        s,
        conn.into_stream(&headers),
        enc,
        &target,
        backoff,
    ))
}

fn read_events(
    s: &Shared,
    body: crate::net::http::client::OwnedBodyStream,
    enc: Encoding,
    target: &Endpoint,
    backoff: &mut Backoff,
) -> End {
    let o = &s.place.opts;
    let Some(schema) = crate::wire::schema::message("mesos.v1.master.Event") else {
        return End::Fatal("no master Event in the schema".into());
    };
    let mut events = EventStream::for_message(
        body,
        schema,
        enc,
        o.max_record,
        Duration::from_millis(250),
        "master",
    );
    let from_zk = s.place.zk_leader();
    let mut last = Instant::now();
    loop {
        let mut idle = || {
            if s.stop.is_set() {
                return Some("stopping".to_string());
            }
            if from_zk.is_some() && s.place.zk_leader() != from_zk {
                return Some("ZooKeeper names a new leading master; subscribing again".into());
            }
            (last.elapsed() > o.heartbeat_timeout).then(|| {
                format!(
                    "no event from {target} in {:.0}s; subscribing again",
                    o.heartbeat_timeout.as_secs_f64()
                )
            })
        };
        let ev = match events.next_event(&mut idle) {
            Ok(ev) => ev,
            Err(why) => return End::Retry(why),
        };
        last = Instant::now();
        *lock(&s.last_event) = Some(last);
        let ty = ev.type_name().unwrap_or("UNKNOWN");
        if ty == "SUBSCRIBED" {
            s.set_phase(Phase::Subscribed);
            backoff.reset();
        }
        s.stats.events.fetch_add(1, Ordering::Relaxed);
        {
            let mut m = lock(&s.stats.events_by_type);
            *m.entry(ty.to_string()).or_insert(0) += 1;
        }
        if !s.emit(Output::Event(ev)) {
            return End::Retry("stopping".into());
        }
    }
}
