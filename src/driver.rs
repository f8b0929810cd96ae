//! What the scheduler and executor drivers share: their phase, what they
//! hand their owner, and the stop signal that cuts their waits short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use prost_reflect::DynamicMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Disconnected,
    Subscribing,
    Subscribed,
    Stopped,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Disconnected => "disconnected",
            Phase::Subscribing => "subscribing",
            Phase::Subscribed => "subscribed",
            Phase::Stopped => "stopped",
        }
    }
}

/// What a driver hands its owner, in order, through its event queue.
#[derive(Debug)]
pub enum Output {
    /// A Mesos event (`mesos.v1.scheduler.Event` or `mesos.v1.executor.Event`).
    Event(DynamicMessage),
    /// The subscription was lost or could not be made.
    Disconnected(String),
    /// A call was rejected or could not be delivered.
    CallFailed { call_type: String, reason: String },
    /// The driver has stopped; nothing follows.
    Stopped(String),
}

impl Output {
    /// Logs what the driver reports to its owner (events are not logged).
    pub fn log(&self, source: &'static str) {
        use crate::log::Level;
        match self {
            Output::Event(_) => {}
            Output::Disconnected(why) => crate::log!(Level::Warn, source, "disconnected: {why}"),
            Output::CallFailed { call_type, reason } => {
                crate::log!(Level::Warn, source, "{call_type} failed: {reason}")
            }
            Output::Stopped(why) => crate::log!(Level::Info, source, "stopped: {why}"),
        }
    }
}

/// A stop flag plus a channel that wakes threads waiting in `pause`.
#[derive(Debug)]
pub struct StopSignal {
    flag: AtomicBool,
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for StopSignal {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        StopSignal {
            flag: AtomicBool::new(false),
            tx,
            rx,
        }
    }
}

impl StopSignal {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes a waiter; true if this call set it.
    pub fn set(&self) -> bool {
        let first = !self.flag.swap(true, Ordering::SeqCst);
        let _ = self.tx.try_send(());
        first
    }

    /// The flag, for queue pushes that must give up when stopping.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Waits `d`; true if it returned early because of a stop.
    pub fn pause(&self, d: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        !matches!(self.rx.recv_timeout(d), Err(RecvTimeoutError::Timeout))
    }
}

/// Locks a mutex, recovering from poisoning (a panicked holder leaves
/// consistent-enough bookkeeping for a driver that is going down anyway).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_wakes_a_pause_and_reports_the_first_setter() {
        let s = std::sync::Arc::new(StopSignal::default());
        let s2 = s.clone();
        let waiter = std::thread::spawn(move || s2.pause(Duration::from_secs(60)));
        assert!(s.set());
        assert!(!s.set());
        assert!(waiter.join().unwrap(), "pause returned early");
        assert!(s.pause(Duration::from_secs(60)), "stays set");
    }
}
