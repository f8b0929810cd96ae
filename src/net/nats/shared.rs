//! The state that the caller's threads and the reader thread share: the
//! socket's write half (writes are whole operations under one mutex), the
//! subscriptions, the callers waiting for a PONG or a reply, counters, and
//! whether (and why) the connection is closed.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::Sender;

use super::encode;
use super::error::NatsError;
use crate::base::lock;

/// Why the connection ends when the client closes it.
pub const CLOSED_BY_CLIENT: &str = "closed by the client";

#[derive(Debug, Default)]
pub struct Counters {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    /// Messages dropped because the consumer fell behind (slow consumer).
    pub dropped: AtomicU64,
}

/// A subscription's delivery budget (`UNSUB sid max`).
#[derive(Debug, Default)]
pub struct Sub {
    pub max: Option<u64>,
    pub delivered: u64,
}

pub struct Shared {
    /// `host:port`, for messages.
    pub addr: String,
    writer: Mutex<TcpStream>,
    /// A second handle on the socket, to shut it down without the writer lock.
    socket: TcpStream,
    closed: AtomicBool,
    reason: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
    /// One entry per PING in flight, in sending order; `None` for the
    /// reader's keep-alive PINGs.
    pongs: Mutex<VecDeque<Option<Sender<()>>>>,
    pub subs: Mutex<HashMap<u64, Sub>>,
    /// Reply subject → the `request` waiting for it.
    pub replies: Mutex<HashMap<String, Sender<Vec<u8>>>>,
    /// The sid of the request inbox subscription (0: none yet).
    pub reply_sid: AtomicU64,
    pub max_payload: AtomicUsize,
    /// Payload bytes of the messages waiting in the queue.
    pub queued_bytes: AtomicUsize,
    pub counters: Counters,
}

impl Shared {
    pub fn new(addr: String, socket: TcpStream, max_payload: usize) -> std::io::Result<Shared> {
        Ok(Shared {
            addr,
            writer: Mutex::new(socket.try_clone()?),
            socket,
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            last_error: Mutex::new(None),
            pongs: Mutex::new(VecDeque::new()),
            subs: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
            reply_sid: AtomicU64::new(0),
            max_payload: AtomicUsize::new(max_payload),
            queued_bytes: AtomicUsize::new(0),
            counters: Counters::default(),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Why the connection closed (None while open).
    pub fn reason(&self) -> Option<String> {
        lock(&self.reason).clone()
    }

    pub fn closed_error(&self) -> NatsError {
        NatsError::Closed(self.reason().unwrap_or_else(|| "closed".into()))
    }

    /// The last `-ERR` the server sent.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub fn set_last_error(&self, e: String) {
        *lock(&self.last_error) = Some(e);
    }

    /// Closes the connection (the first reason given is kept): shuts the
    /// socket down, which ends the reader's blocking read, and fails every
    /// caller waiting for a PONG or a reply. True the first time.
    pub fn close(&self, why: &str) -> bool {
        {
            let mut r = lock(&self.reason);
            if r.is_some() {
                return false;
            }
            *r = Some(why.to_string());
        }
        // Set before the waiters are dropped: whoever registers a waiter
        // under those locks afterwards sees it and does not wait.
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.socket.shutdown(Shutdown::Both);
        lock(&self.pongs).clear();
        lock(&self.replies).clear();
        true
    }

    fn write_locked(
        &self,
        w: &mut MutexGuard<'_, TcpStream>,
        bytes: &[u8],
    ) -> Result<(), NatsError> {
        if let Err(e) = w.write_all(bytes) {
            // A partial write leaves the stream out of step: give up on it.
            self.close(&format!("write to {} failed: {e}", self.addr));
            return Err(self.closed_error());
        }
        Ok(())
    }

    /// Sends whole operations.
    pub fn write(&self, bytes: &[u8]) -> Result<(), NatsError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let mut w = lock(&self.writer);
        self.write_locked(&mut w, bytes)
    }

    /// Sends a PING whose PONG `waiter` (if any) will be told of.
    pub fn ping(&self, waiter: Option<Sender<()>>) -> Result<(), NatsError> {
        let mut w = lock(&self.writer);
        {
            let mut p = lock(&self.pongs);
            if self.is_closed() {
                return Err(self.closed_error());
            }
            p.push_back(waiter);
        }
        self.write_locked(&mut w, encode::PING)
    }

    /// A PONG came: wakes whoever sent the oldest PING in flight.
    pub fn pong(&self) {
        if let Some(Some(tx)) = lock(&self.pongs).pop_front() {
            let _ = tx.try_send(());
        }
    }

    /// Registers a `request` waiting on `reply` (fails if closed).
    pub fn await_reply(&self, reply: String, tx: Sender<Vec<u8>>) -> Result<(), NatsError> {
        let mut r = lock(&self.replies);
        if self.is_closed() {
            return Err(self.closed_error());
        }
        r.insert(reply, tx);
        Ok(())
    }
}
