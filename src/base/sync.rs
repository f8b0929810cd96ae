//! Synchronisation helpers for every layer: a mutex lock that survives a
//! poisoned mutex, and a stop signal that cuts waits short. Imports nothing
//! from the crate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

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
