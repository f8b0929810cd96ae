//! The connection's one background thread: reads the socket, answers the
//! server's PINGs, wakes flushes on PONG, hands replies to the requests
//! waiting for them and queues every other message for the owner. The queue
//! is bounded in messages and bytes; when it is full the newest message is
//! dropped and counted (slow consumer), so reading never stops and memory
//! never grows. Silence is checked with PINGs of its own.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use super::encode;
use super::parse::{Msg, Parser, ServerOp};
use super::shared::Shared;
use crate::base::lock;
use crate::log::Level;
use crate::queue::Producer;

/// Keep-alive PINGs left unanswered before the connection counts as dead.
pub const MAX_PINGS_OUT: u32 = 2;

pub struct Reader {
    pub shared: Arc<Shared>,
    pub stream: TcpStream,
    pub parser: Parser,
    pub queue: Producer<Msg>,
    pub queue_bytes: usize,
    pub ping_interval: Duration,
}

impl Reader {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("nats-reader".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let why = self.read_loop();
        if self.shared.close(&why) {
            crate::log!(
                Level::Warn,
                "nats",
                "connection to {} closed: {why}",
                self.shared.addr
            );
        }
        // Wake an event loop waiting on the fd: the next poll reports it.
        self.queue.wake();
    }

    /// Runs until the connection ends; returns why.
    fn read_loop(&mut self) -> String {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pings_out = 0u32;
        loop {
            loop {
                match self.parser.next_op() {
                    Ok(Some(op)) => {
                        if let Err(why) = self.handle(op) {
                            return why;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return format!("protocol error from the server: {e}"),
                }
            }
            if self.shared.is_closed() {
                return "closed".into();
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return match self.shared.last_error() {
                        Some(e) => format!("the server closed the connection (-ERR '{e}')"),
                        None => "the server closed the connection".into(),
                    };
                }
                Ok(n) => {
                    pings_out = 0;
                    self.parser.feed(&buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if pings_out >= MAX_PINGS_OUT {
                        return format!(
                            "stale connection: nothing from the server for {:?}, {MAX_PINGS_OUT} PINGs unanswered",
                            self.ping_interval * (MAX_PINGS_OUT + 1)
                        );
                    }
                    pings_out += 1;
                    if self.shared.ping(None).is_err() {
                        return "keep-alive PING failed".into();
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return format!("read failed: {e}"),
            }
        }
    }

    fn handle(&mut self, op: ServerOp) -> Result<(), String> {
        match op {
            ServerOp::Msg(m) => self.deliver(m),
            ServerOp::Ping => {
                if self.shared.write(encode::PONG).is_err() {
                    return Err("answering the server's PING failed".into());
                }
            }
            ServerOp::Pong => self.shared.pong(),
            ServerOp::Info(i) => {
                self.parser.set_max_payload(i.max_payload);
                self.shared
                    .max_payload
                    .store(i.max_payload, Ordering::SeqCst);
            }
            ServerOp::Ok => {}
            ServerOp::Err(e) => {
                crate::log!(Level::Warn, "nats", "{} says -ERR '{e}'", self.shared.addr);
                self.shared.set_last_error(e);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, m: Msg) {
        let c = &self.shared.counters;
        c.in_msgs.fetch_add(1, Ordering::Relaxed);
        c.in_bytes
            .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
        if m.sid == self.shared.reply_sid.load(Ordering::SeqCst) {
            // A reply for a request (late ones, whose request gave up, go).
            if let Some(tx) = lock(&self.shared.replies).remove(&m.subject) {
                let _ = tx.try_send(m.payload);
            }
            return;
        }
        {
            let mut subs = lock(&self.shared.subs);
            // Messages for subscriptions already removed are not delivered.
            let Some(sub) = subs.get_mut(&m.sid) else {
                return;
            };
            sub.delivered += 1;
            if sub.max.is_some_and(|max| sub.delivered >= max) {
                subs.remove(&m.sid);
            }
        }
        let len = m.payload.len();
        let queued = self.shared.queued_bytes.load(Ordering::SeqCst);
        if queued == 0 || queued.saturating_add(len) <= self.queue_bytes {
            // Counted before the push: the owner may take it at once.
            self.shared.queued_bytes.fetch_add(len, Ordering::SeqCst);
            if self.queue.try_push(m) {
                return;
            }
            self.shared.queued_bytes.fetch_sub(len, Ordering::SeqCst);
        }
        c.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
