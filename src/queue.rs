//! The bounded event queue between a driver's I/O threads and its owner (the
//! Lua thread), with a file descriptor that is readable while items wait.
//! When the owner falls behind the producer blocks, so a driver stops reading
//! its socket (TCP backpressure) instead of growing memory.
//!
//! One mutex guards the items and the waiting flags. Wake-ups cost a
//! syscall each, so they happen only when someone waits: the consumer is
//! woken only if it is blocked in `recv`, the producer only if it is blocked
//! on a full queue, and the fd is written only when the queue goes from
//! empty to non-empty (and read when it empties). A producer that queues a
//! batch (`push_all`, e.g. every event of one socket read) wakes the
//! consumer once for the whole batch.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::base::notify::Notifier;

struct State<T> {
    items: VecDeque<T>,
    /// The consumer is blocked in `recv`.
    consumer_waiting: bool,
    /// Producers blocked on a full queue.
    producers_waiting: usize,
    /// The fd has been written since it was last drained.
    signaled: bool,
    /// The consumer is gone: pushes fail.
    closed: bool,
    /// Items the consumer took but has not handed out yet.
    in_hand: usize,
    /// `wake` was called: a waiting (or the next) `recv` returns at once.
    woken: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    notifier: Notifier,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the consumer with nothing queued: its fd turns readable and a
    /// waiting `recv` returns.
    fn wake(&self) {
        let mut st = self.lock();
        st.woken = true;
        self.notifier.signal();
        if st.consumer_waiting {
            self.not_empty.notify_one();
        }
    }

    /// After items were added (the lock held).
    fn added(&self, st: &mut State<T>) {
        if !st.signaled && !st.items.is_empty() {
            self.notifier.signal();
            st.signaled = true;
        }
        if st.consumer_waiting {
            self.not_empty.notify_one();
        }
    }
}

pub struct Producer<T> {
    shared: Arc<Shared<T>>,
}

pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Items taken from the shared queue in one go, handed out one by one
    /// without touching the shared lock. They still count against the
    /// capacity (`State::in_hand`).
    local: Mutex<VecDeque<T>>,
}

pub fn bounded_queue<T>(capacity: usize) -> io::Result<(Producer<T>, Consumer<T>)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            consumer_waiting: false,
            producers_waiting: 0,
            signaled: false,
            closed: false,
            in_hand: 0,
            woken: false,
        }),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        capacity: capacity.max(1),
        notifier: Notifier::new()?,
    });
    Ok((
        Producer {
            shared: shared.clone(),
        },
        Consumer {
            shared,
            local: Mutex::new(VecDeque::new()),
        },
    ))
}

/// How long a blocked producer sleeps between looks at `stopping`.
const STOP_CHECK: Duration = Duration::from_millis(100);

impl<T> Producer<T> {
    /// Queues `item`, waiting while the queue is full unless `stopping` is
    /// set. False if the item was dropped (stopping, or the owner is gone).
    pub fn push(&self, item: T, stopping: &AtomicBool) -> bool {
        let mut one = Some(item);
        self.push_all(std::iter::from_fn(|| one.take()), stopping)
    }

    /// Queues every item in order, as many at a time as there is room for,
    /// waking the consumer once per batch. Waits while the queue is full
    /// unless `stopping` is set; false if items were dropped then (or the
    /// owner is gone).
    pub fn push_all(&self, items: impl IntoIterator<Item = T>, stopping: &AtomicBool) -> bool {
        let sh = &*self.shared;
        let mut items = items.into_iter().peekable();
        let mut st = sh.lock();
        while items.peek().is_some() {
            if st.closed {
                return false;
            }
            let room = sh.capacity.saturating_sub(st.items.len() + st.in_hand);
            if room == 0 {
                if stopping.load(Ordering::SeqCst) {
                    return false;
                }
                st.producers_waiting += 1;
                st = match sh.not_full.wait_timeout(st, STOP_CHECK) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                };
                st.producers_waiting -= 1;
                continue;
            }
            st.items.extend(items.by_ref().take(room));
            sh.added(&mut st);
        }
        true
    }

    /// Queues `item` only if there is room right now.
    pub fn try_push(&self, item: T) -> bool {
        let sh = &*self.shared;
        let mut st = sh.lock();
        let ok = !st.closed && st.items.len() + st.in_hand < sh.capacity;
        if ok {
            st.items.push_back(item);
        }
        sh.added(&mut st);
        ok
    }

    /// Makes the fd readable without queueing anything (the owner's next
    /// look finds out why, e.g. that the connection closed).
    pub fn wake(&self) {
        self.shared.wake();
    }
}

impl<T> Consumer<T> {
    fn local(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Next item, waiting up to `timeout` (zero: no wait). Keeps the fd
    /// readable exactly while items remain.
    pub fn recv(&self, timeout: Duration) -> Option<T> {
        let mut local = self.local();
        let sh = &*self.shared;
        if let Some(item) = local.pop_front() {
            if local.is_empty() {
                // The last one in hand: room for the producer, and the fd
                // goes quiet if nothing else waits.
                let mut st = sh.lock();
                st.in_hand = 0;
                if st.producers_waiting > 0 {
                    sh.not_full.notify_all();
                }
                if st.items.is_empty() && st.signaled {
                    sh.notifier.drain();
                    st.signaled = false;
                }
            }
            return Some(item);
        }
        let mut st = sh.lock();
        // What was in hand has been handed out.
        st.in_hand = 0;
        if st.items.is_empty() && !timeout.is_zero() {
            let deadline = Instant::now().checked_add(timeout);
            st.consumer_waiting = true;
            if st.producers_waiting > 0 {
                sh.not_full.notify_all();
            }
            while st.items.is_empty() && !st.woken {
                let left = match deadline {
                    Some(d) => d.saturating_duration_since(Instant::now()),
                    None => Duration::from_secs(3600),
                };
                if left.is_zero() {
                    break;
                }
                st = match sh.not_empty.wait_timeout(st, left) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                };
            }
            st.consumer_waiting = false;
        }
        st.woken = false;
        let item = st.items.pop_front();
        // Take the rest too: handed out without the shared lock.
        std::mem::swap(&mut *local, &mut st.items);
        st.in_hand = local.len();
        if item.is_some() && st.producers_waiting > 0 {
            sh.not_full.notify_all();
        }
        if local.is_empty() && st.signaled {
            sh.notifier.drain();
            st.signaled = false;
        }
        item
    }

    pub fn len(&self) -> usize {
        let local = self.local();
        local.len() + self.shared.lock().items.len()
    }

    /// Makes the fd readable with nothing queued (e.g. to keep saying that
    /// the producer has gone).
    pub fn wake(&self) {
        self.shared.wake();
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn fd(&self) -> i32 {
        self.shared.notifier.raw_fd()
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.local().clear();
        let mut st = self.shared.lock();
        st.closed = true;
        st.items.clear();
        st.in_hand = 0;
        self.shared.not_full.notify_all();
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
        assert!(c.shared.notifier.is_readable());
        stop.store(true, Ordering::SeqCst);
        assert!(!p.push(3, &stop), "full queue + stopping drops");
        assert_eq!(c.recv(Duration::ZERO), Some(1));
        assert!(c.shared.notifier.is_readable(), "still one pending");
        assert_eq!(c.recv(Duration::ZERO), Some(2));
        assert!(!c.shared.notifier.is_readable());
        assert_eq!(c.recv(Duration::from_millis(10)), None);
    }

    #[test]
    fn wake_ends_a_waiting_recv_and_leaves_the_fd_readable() {
        let (p, c) = bounded_queue::<u32>(2).unwrap();
        let t0 = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                // Once the consumer waits (or before: then its recv returns
                // at once), wake it with nothing queued.
                while !c.shared.lock().consumer_waiting && t0.elapsed() < Duration::from_secs(5) {
                    std::thread::yield_now();
                }
                p.wake();
            });
            assert_eq!(c.recv(Duration::from_secs(30)), None);
        });
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(c.shared.notifier.is_readable(), "the fd keeps saying so");
        // Woken once: the next wait waits again.
        assert_eq!(c.recv(Duration::from_millis(10)), None);
    }

    #[test]
    fn a_batch_larger_than_the_queue_waits_for_room_and_keeps_order() {
        let (p, c) = bounded_queue::<u32>(3).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || p.push_all(0..10, &s2));
        let mut got = vec![];
        while got.len() < 10 {
            if let Some(x) = c.recv(Duration::from_secs(5)) {
                assert!(c.len() <= 3, "bounded by the queue");
                got.push(x);
            }
        }
        assert!(t.join().unwrap());
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(!c.shared.notifier.is_readable());
    }

    #[test]
    fn a_waiting_consumer_is_woken_and_a_dropped_one_fails_pushes() {
        let (p, c) = bounded_queue::<u32>(1).unwrap();
        let p = Arc::new(p);
        let stop = Arc::new(AtomicBool::new(false));
        let (p2, s2) = (p.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.push(7, &s2)
        });
        assert_eq!(c.recv(Duration::from_secs(5)), Some(7), "woken by the push");
        assert!(t.join().unwrap());
        assert!(p.push(8, &stop));
        let (p2, s2) = (p.clone(), stop.clone());
        let t = std::thread::spawn(move || p2.push(9, &s2));
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
        assert!(!t.join().unwrap(), "the owner is gone");
    }
}
