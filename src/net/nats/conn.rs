//! A connection to one NATS server: connect and handshake on the caller's
//! thread, then one reader thread ([`super::reader`]); publishing,
//! subscribing and flushing write from the caller's thread under the
//! writer mutex. Received messages wait in a bounded queue whose fd is
//! readable while any are queued. No reconnection: once the connection
//! ends every call fails with the reason, and nothing waits for long.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded};

use super::encode;
use super::error::NatsError;
use super::parse::{Info, Msg, Parser, ServerOp};
use super::reader::Reader;
use super::shared::{CLOSED_BY_CLIENT, Shared, Sub};
use super::url::{ServerUrl, parse_url};
use crate::base::lock;
use crate::queue::{Consumer, bounded_queue};

#[derive(Debug, Clone)]
pub struct Options {
    /// `name` in CONNECT (shown by the server's monitoring).
    pub name: Option<String>,
    /// Bound on connecting and the handshake together.
    pub connect_timeout: Duration,
    /// Messages queued for the owner before the newest are dropped.
    pub queue_size: usize,
    /// Payload bytes queued for the owner before the newest are dropped.
    pub queue_bytes: usize,
    /// Silence after which the client PINGs; after two unanswered, the
    /// connection is closed as stale.
    pub ping_interval: Duration,
    /// Bound on one write (a server that stops reading).
    pub write_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: None,
            connect_timeout: Duration::from_secs(5),
            queue_size: 8192,
            queue_bytes: 64 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connected,
    Closed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Connected => "connected",
            State::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    /// Messages dropped because the queue was full (slow consumer).
    pub dropped: u64,
    /// Messages waiting in the queue.
    pub queued: usize,
    pub state: State,
    /// Why the connection closed, or else the server's last `-ERR`.
    pub error: Option<String>,
}

pub struct Connection {
    shared: Arc<Shared>,
    queue: Consumer<Msg>,
    reader: Mutex<Option<JoinHandle<()>>>,
    info: Info,
    next_sid: AtomicU64,
    /// `_INBOX.<random>`: reply subjects of requests are `<inbox>.<n>`.
    inbox: String,
    next_reply: AtomicU64,
    /// Held while the inbox subscription is made (once).
    inbox_sub: Mutex<()>,
    closed_by_client: AtomicBool,
}

fn handshake_error(addr: &str, why: impl Into<String>) -> NatsError {
    NatsError::Handshake {
        addr: addr.to_string(),
        why: why.into(),
    }
}

fn open_socket(url: &ServerUrl, addr: &str, deadline: Instant) -> Result<TcpStream, NatsError> {
    let fail = |source| NatsError::Connect {
        addr: addr.to_string(),
        source,
    };
    let candidates = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(fail)?;
    let mut last = std::io::Error::new(ErrorKind::NotFound, "the host has no address");
    for a in candidates {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = std::io::Error::new(ErrorKind::TimedOut, "connect timed out");
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// Reads until the parser yields an operation, within the deadline.
fn read_op(
    stream: &mut TcpStream,
    parser: &mut Parser,
    addr: &str,
    deadline: Instant,
) -> Result<ServerOp, NatsError> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(op) = parser.next_op()? {
            return Ok(op);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(handshake_error(addr, "timed out"));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| handshake_error(addr, e.to_string()))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(handshake_error(addr, "the server closed the connection")),
            Ok(n) => parser.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(handshake_error(addr, "timed out"));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(handshake_error(addr, e.to_string())),
        }
    }
}

/// INFO, then CONNECT + PING, then the PONG that says the server took it
/// (or the -ERR that says why not).
fn handshake(
    stream: &mut TcpStream,
    url: &ServerUrl,
    addr: &str,
    name: Option<&str>,
    deadline: Instant,
) -> Result<(Info, Parser), NatsError> {
    let mut parser = Parser::new();
    let mut info = match read_op(stream, &mut parser, addr, deadline)? {
        ServerOp::Info(i) => i,
        other => {
            return Err(handshake_error(
                addr,
                format!("expected INFO, got {other:?}"),
            ));
        }
    };
    if info.tls_required {
        return Err(NatsError::TlsRequired {
            addr: addr.to_string(),
        });
    }
    parser.set_max_payload(info.max_payload);
    let mut hello = encode::connect(&url.auth, name);
    hello.extend_from_slice(encode::PING);
    stream
        .write_all(&hello)
        .map_err(|e| handshake_error(addr, e.to_string()))?;
    loop {
        match read_op(stream, &mut parser, addr, deadline)? {
            ServerOp::Pong => return Ok((info, parser)),
            ServerOp::Ok => {}
            ServerOp::Ping => stream
                .write_all(encode::PONG)
                .map_err(|e| handshake_error(addr, e.to_string()))?,
            ServerOp::Info(i) => {
                parser.set_max_payload(i.max_payload);
                info = i;
            }
            ServerOp::Err(e) => {
                return Err(handshake_error(addr, format!("the server said -ERR '{e}'")));
            }
            ServerOp::Msg(_) => return Err(handshake_error(addr, "MSG before any SUB")),
        }
    }
}

/// Durations from Lua may be huge: a million seconds is forever enough.
fn capped(t: Duration) -> Duration {
    t.min(Duration::from_secs(1_000_000))
}

impl Connection {
    /// Connects to `nats://[user:pass@|token@]host[:port]`.
    pub fn connect(url: &str, opts: Options) -> Result<Connection, NatsError> {
        Self::connect_to(&parse_url(url)?, opts)
    }

    pub fn connect_to(url: &ServerUrl, opts: Options) -> Result<Connection, NatsError> {
        let addr = url.to_string();
        let deadline = Instant::now() + capped(opts.connect_timeout);
        let mut stream = open_socket(url, &addr, deadline)?;
        let setup = |e: std::io::Error| handshake_error(&addr, e.to_string());
        stream.set_nodelay(true).map_err(setup)?;
        stream
            .set_write_timeout(Some(
                capped(opts.write_timeout).max(Duration::from_millis(1)),
            ))
            .map_err(setup)?;
        let (info, parser) = handshake(&mut stream, url, &addr, opts.name.as_deref(), deadline)?;
        let ping_interval = capped(opts.ping_interval).max(Duration::from_millis(10));
        stream
            .set_read_timeout(Some(ping_interval))
            .map_err(setup)?;
        let shared = Arc::new(
            Shared::new(
                addr.clone(),
                stream.try_clone().map_err(setup)?,
                info.max_payload,
            )
            .map_err(setup)?,
        );
        let (producer, queue) = bounded_queue(opts.queue_size.max(1)).map_err(setup)?;
        let reader = Reader {
            shared: shared.clone(),
            stream,
            parser,
            queue: producer,
            queue_bytes: opts.queue_bytes.max(1),
            ping_interval,
        }
        .spawn()
        .map_err(setup)?;
        let token: [u8; 12] = rand::random();
        let inbox = token.iter().fold(String::from("_INBOX."), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        });
        Ok(Connection {
            shared,
            queue,
            reader: Mutex::new(Some(reader)),
            info,
            next_sid: AtomicU64::new(1),
            inbox,
            next_reply: AtomicU64::new(1),
            inbox_sub: Mutex::new(()),
            closed_by_client: AtomicBool::new(false),
        })
    }

    /// The server's INFO at connection time.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The server's current `max_payload` (INFO may change it).
    pub fn max_payload(&self) -> usize {
        self.shared.max_payload.load(Ordering::SeqCst)
    }

    pub fn publish(
        &self,
        subject: &str,
        payload: &[u8],
        reply: Option<&str>,
    ) -> Result<(), NatsError> {
        let max = self.max_payload();
        if payload.len() > max {
            return Err(NatsError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        let op = encode::publish(subject, reply, payload)?;
        self.shared.write(&op)?;
        let c = &self.shared.counters;
        c.out_msgs.fetch_add(1, Ordering::Relaxed);
        c.out_bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Subscribes; the subscription id. It is in effect once a later
    /// [`flush`](Self::flush) returns.
    pub fn subscribe(&self, subject: &str, queue: Option<&str>) -> Result<u64, NatsError> {
        let sid = self.next_sid.fetch_add(1, Ordering::SeqCst);
        let op = encode::subscribe(subject, queue, sid)?;
        lock(&self.shared.subs).insert(sid, Sub::default());
        if let Err(e) = self.shared.write(&op) {
            lock(&self.shared.subs).remove(&sid);
            return Err(e);
        }
        Ok(sid)
    }

    /// Ends a subscription now, or after `max` messages in all. Messages of
    /// an ended subscription that were not yet queued are not delivered.
    pub fn unsubscribe(&self, sid: u64, max: Option<u64>) -> Result<(), NatsError> {
        if sid == 0
            || sid >= self.next_sid.load(Ordering::SeqCst)
            || sid == self.shared.reply_sid.load(Ordering::SeqCst)
        {
            return Err(NatsError::UnknownSid(sid));
        }
        {
            let mut subs = lock(&self.shared.subs);
            match (subs.get_mut(&sid), max) {
                // Already ended (or its budget spent): nothing to send.
                (None, _) => return Ok(()),
                (Some(s), Some(m)) if s.delivered < m => s.max = Some(m),
                _ => {
                    subs.remove(&sid);
                }
            }
        }
        self.shared.write(&encode::unsubscribe(sid, max))
    }

    /// PING and wait for the PONG: the server has then processed everything
    /// sent before (subscriptions are in effect, publications routed).
    pub fn flush(&self, timeout: Duration) -> Result<(), NatsError> {
        let (tx, rx) = bounded(1);
        self.shared.ping(Some(tx))?;
        match rx.recv_timeout(capped(timeout)) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(NatsError::Timeout(timeout, "PONG")),
            Err(RecvTimeoutError::Disconnected) => Err(self.shared.closed_error()),
        }
    }

    /// The next message, waiting up to `timeout` (zero: never waits).
    /// `Ok(None)` when none came in time; once the connection has ended and
    /// the queue is empty, the reason.
    pub fn poll(&self, timeout: Duration) -> Result<Option<Msg>, NatsError> {
        if self.closed_by_client.load(Ordering::SeqCst) {
            return Err(self.shared.closed_error());
        }
        match self.queue.recv(capped(timeout)) {
            Some(m) => {
                if self.shared.is_closed() {
                    self.queue.wake();
                }
                let len = m.payload.len();
                let _ = self.shared.queued_bytes.fetch_update(
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                    |q| Some(q.saturating_sub(len)),
                );
                Ok(Some(m))
            }
            None if self.shared.is_closed() && self.queue.is_empty() => {
                // Stays readable: an event loop keeps hearing of the end.
                self.queue.wake();
                Err(self.shared.closed_error())
            }
            None => Ok(None),
        }
    }

    fn ensure_inbox_sub(&self) -> Result<(), NatsError> {
        let _once = lock(&self.inbox_sub);
        if self.shared.reply_sid.load(Ordering::SeqCst) != 0 {
            return Ok(());
        }
        let sid = self.next_sid.fetch_add(1, Ordering::SeqCst);
        self.shared.reply_sid.store(sid, Ordering::SeqCst);
        let op = encode::subscribe(&format!("{}.*", self.inbox), None, sid)?;
        if let Err(e) = self.shared.write(&op) {
            self.shared.reply_sid.store(0, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }

    /// Publishes with a unique reply subject and waits for the first reply.
    pub fn request(
        &self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, NatsError> {
        encode::check_token("subject", subject)?;
        self.ensure_inbox_sub()?;
        let reply = format!(
            "{}.{}",
            self.inbox,
            self.next_reply.fetch_add(1, Ordering::SeqCst)
        );
        let (tx, rx) = bounded(1);
        self.shared.await_reply(reply.clone(), tx)?;
        if let Err(e) = self.publish(subject, payload, Some(&reply)) {
            lock(&self.shared.replies).remove(&reply);
            return Err(e);
        }
        match rx.recv_timeout(capped(timeout)) {
            Ok(p) => Ok(p),
            Err(RecvTimeoutError::Timeout) => {
                lock(&self.shared.replies).remove(&reply);
                Err(NatsError::Timeout(timeout, "a reply"))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.shared.closed_error()),
        }
    }

    /// Readable while messages are queued, and from the end of the
    /// connection on (the next `poll` says why).
    pub fn fd(&self) -> i32 {
        self.queue.fd()
    }

    pub fn state(&self) -> State {
        if self.shared.is_closed() {
            State::Closed
        } else {
            State::Connected
        }
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let state = self.state();
        Stats {
            in_msgs: c.in_msgs.load(Ordering::Relaxed),
            in_bytes: c.in_bytes.load(Ordering::Relaxed),
            out_msgs: c.out_msgs.load(Ordering::Relaxed),
            out_bytes: c.out_bytes.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            queued: self.queue.len(),
            state,
            error: match state {
                State::Closed => self.shared.reason(),
                State::Connected => self.shared.last_error(),
            },
        }
    }

    /// Closes the connection and joins the reader (idempotent). Queued
    /// messages are discarded.
    pub fn close(&self) {
        self.closed_by_client.store(true, Ordering::SeqCst);
        self.shared.close(CLOSED_BY_CLIENT);
        if let Some(h) = lock(&self.reader).take() {
            let _ = h.join();
        }
        while self.queue.recv(Duration::ZERO).is_some() {}
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}
