//! The bounded event queue between a driver's I/O threads and its owner (the
//! Lua thread), with a file descriptor that is readable while items wait.
//! When the owner falls behind the producer blocks, so a driver stops reading
//! its socket (TCP backpressure) instead of growing memory.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, bounded};

use crate::notify::Notifier;

pub struct Producer<T> {
    tx: Sender<T>,
    notifier: Arc<Notifier>,
}

pub struct Consumer<T> {
    rx: Receiver<T>,
    notifier: Arc<Notifier>,
}

pub fn bounded_queue<T>(capacity: usize) -> io::Result<(Producer<T>, Consumer<T>)> {
    let (tx, rx) = bounded(capacity.max(1));
    let notifier = Arc::new(Notifier::new()?);
    Ok((
        Producer {
            tx,
            notifier: notifier.clone(),
        },
        Consumer { rx, notifier },
    ))
}

impl<T> Producer<T> {
    /// Queues `item`, waiting while the queue is full unless `stopping` is
    /// set. False if the item was dropped (stopping, or the owner is gone).
    pub fn push(&self, mut item: T, stopping: &AtomicBool) -> bool {
        loop {
            match self.tx.send_timeout(item, Duration::from_millis(100)) {
                Ok(()) => {
                    self.notifier.signal();
                    return true;
                }
                Err(SendTimeoutError::Timeout(i)) => {
                    if stopping.load(Ordering::SeqCst) {
                        return false;
                    }
                    item = i;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    /// Queues `item` only if there is room right now.
    pub fn try_push(&self, item: T) -> bool {
        let ok = self.tx.try_send(item).is_ok();
        self.notifier.signal();
        ok
    }

    /// Makes the fd readable without queueing anything (the owner's next
    /// look finds out why, e.g. that the connection closed).
    pub fn wake(&self) {
        self.notifier.signal();
    }
}

impl<T> Consumer<T> {
    /// Next item, waiting up to `timeout` (zero: no wait). Keeps the fd
    /// readable exactly while items remain.
    pub fn recv(&self, timeout: Duration) -> Option<T> {
        let r = if timeout.is_zero() {
            self.rx.try_recv().ok()
        } else {
            self.rx.recv_timeout(timeout).ok()
        };
        if self.rx.is_empty() {
            self.notifier.drain();
            // An item may have arrived between the check and the drain.
            if !self.rx.is_empty() {
                self.notifier.signal();
            }
        }
        r
    }

    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Makes the fd readable with nothing queued (e.g. to keep saying that
    /// the producer has gone).
    pub fn wake(&self) {
        self.notifier.signal();
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    pub fn fd(&self) -> i32 {
        self.notifier.raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_tracks_pending_items_and_full_queue_blocks_until_stopping() {
        let (p, c) = bounded_queue::<u32>(2).unwrap();
        let stop = AtomicBool::new(false);
        assert!(p.push(1, &stop));
        assert!(p.push(2, &stop));
        assert!(c.notifier.is_readable());
        stop.store(true, Ordering::SeqCst);
        assert!(!p.push(3, &stop), "full queue + stopping drops");
        assert_eq!(c.recv(Duration::ZERO), Some(1));
        assert!(c.notifier.is_readable(), "still one pending");
        assert_eq!(c.recv(Duration::ZERO), Some(2));
        assert!(!c.notifier.is_readable());
        assert_eq!(c.recv(Duration::from_millis(10)), None);
    }
}
