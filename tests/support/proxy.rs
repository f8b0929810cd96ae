//! A controllable TCP proxy for fault injection between a driver and a
//! master, on loopback. Each accepted connection is forwarded to the
//! current target by four threads (a reader and a writer per direction);
//! the test thread can cut every live connection, stall either direction
//! (sockets stay open, bytes wait in the proxy), cut the master→client side
//! of event streams after `n` more bytes, drop the answer to chosen calls
//! (forward the request, then close instead of answering), delay every
//! chunk, refuse new connections, and change the target. Everything stops and is joined on
//! drop; every blocking operation is bounded by a short timeout.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

/// How often blocked proxy threads look at the stop and close flags.
const POLL: Duration = Duration::from_millis(20);
/// Bound on connecting to the target and on one write.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// A direction of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → master (requests).
    Up,
    /// Master → client (responses, event streams).
    Down,
}

/// Picks requests (their raw bytes, head and body) whose answer is dropped.
pub type RequestFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

struct Ctl {
    target: SocketAddr,
    drop_answers: Option<RequestFilter>,
    stall_up: bool,
    stall_down: bool,
    refuse: bool,
    delay: Duration,
}

impl Ctl {
    fn stalled(&self, dir: Dir) -> bool {
        match dir {
            Dir::Up => self.stall_up,
            Dir::Down => self.stall_down,
        }
    }
}

/// One proxied connection.
struct Link {
    client: TcpStream,
    server: TcpStream,
    closed: AtomicBool,
    /// The response carried a `Mesos-Stream-Id`: a SUBSCRIBE event stream.
    stream: AtomicBool,
    /// Bytes still to forward master→client before closing.
    truncate: Mutex<Option<usize>>,
    /// What was forwarded master→client on a stream (bounded).
    log: Mutex<Vec<u8>>,
    /// The client→master bytes of the request being answered (bounded).
    request: Mutex<Vec<u8>>,
    /// A response has started since `request` began: the next
    /// client→master byte starts a new request.
    answering: AtomicBool,
}

impl Link {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.server.shutdown(Shutdown::Both);
        }
    }
}

struct Inner {
    ctl: Mutex<Ctl>,
    changed: Condvar,
    links: Mutex<Vec<Arc<Link>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: AtomicBool,
    accepted: AtomicUsize,
    /// The master→client bytes of each truncated stream, up to the cut.
    truncated: Mutex<Vec<Vec<u8>>>,
    /// Requests whose answer was dropped, as they were forwarded.
    dropped: Mutex<Vec<Vec<u8>>>,
}

/// Most bytes of a stream kept for [`Proxy::truncated`], and of a request
/// kept for the answer filter.
const LOG_LIMIT: usize = 1 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Blocks while `dir` is stalled; false if the link closed meanwhile.
    fn wait_flowing(&self, link: &Link, dir: Dir) -> bool {
        let mut ctl = lock(&self.ctl);
        while ctl.stalled(dir) {
            if link.is_closed() || self.stopping() {
                return false;
            }
            ctl = self
                .changed
                .wait_timeout(ctl, POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        !link.is_closed() && !self.stopping()
    }

    /// Holds a chunk read at `at` until `at + delay` (the current delay);
    /// false if the link closed meanwhile.
    fn wait_delay(&self, link: &Link, at: Instant) -> bool {
        loop {
            if link.is_closed() || self.stopping() {
                return false;
            }
            let due = at + lock(&self.ctl).delay;
            let now = Instant::now();
            if now >= due {
                return true;
            }
            thread::sleep((due - now).min(POLL));
        }
    }

    fn notify(&self) {
        self.changed.notify_all();
    }
}

/// A running proxy; see the module documentation.
pub struct Proxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let inner = Arc::new(Inner {
            ctl: Mutex::new(Ctl {
                target,
                drop_answers: None,
                stall_up: false,
                stall_down: false,
                refuse: false,
                delay: Duration::ZERO,
            }),
            changed: Condvar::new(),
            links: Mutex::default(),
            threads: Mutex::default(),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            truncated: Mutex::default(),
            dropped: Mutex::default(),
        });
        let i2 = inner.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(&i2, &listener))
            .expect("proxy thread");
        Proxy {
            addr,
            inner,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every live connection now (both sockets of each, data still
    /// held in the proxy is dropped). Returns how many were cut.
    pub fn cut(&self) -> usize {
        let links: Vec<Arc<Link>> = lock(&self.inner.links).drain(..).collect();
        let mut n = 0;
        for l in links {
            if !l.is_closed() {
                n += 1;
            }
            l.close();
        }
        self.inner.notify();
        n
    }

    /// Stops (true) or resumes (false) forwarding in both directions, on
    /// live and new connections; sockets stay open, bytes wait here.
    pub fn stall(&self, on: bool) {
        let mut c = lock(&self.inner.ctl);
        c.stall_up = on;
        c.stall_down = on;
        drop(c);
        self.inner.notify();
    }

    /// Stalls one direction only.
    pub fn stall_dir(&self, dir: Dir, on: bool) {
        let mut c = lock(&self.inner.ctl);
        match dir {
            Dir::Up => c.stall_up = on,
            Dir::Down => c.stall_down = on,
        }
        drop(c);
        self.inner.notify();
    }

    /// On each live event-stream connection, forwards only `n` more bytes
    /// master→client, then closes it. Returns how many streams were armed.
    pub fn truncate_next(&self, n: usize) -> usize {
        let links = lock(&self.inner.links);
        let mut armed = 0;
        for l in links
            .iter()
            .filter(|l| !l.is_closed() && l.stream.load(Ordering::SeqCst))
        {
            *lock(&l.truncate) = Some(n);
            armed += 1;
        }
        armed
    }

    /// From now on, a request on a call connection (not an event stream)
    /// that `filter` picks is forwarded, and when its answer starts the
    /// connection is closed instead: the master acted, the client never
    /// hears how. `None` turns it off.
    pub fn drop_answers(&self, filter: Option<RequestFilter>) {
        lock(&self.inner.ctl).drop_answers = filter;
    }

    /// The requests whose answer was dropped, in order.
    pub fn dropped(&self) -> Vec<Vec<u8>> {
        lock(&self.inner.dropped).clone()
    }

    /// Holds every chunk for `d` after it was read (latency, not a
    /// throughput limit); zero turns it off.
    pub fn delay(&self, d: Duration) {
        lock(&self.inner.ctl).delay = d;
        self.inner.notify();
    }

    /// New connections go to `addr` (live ones keep their target).
    pub fn set_target(&self, addr: SocketAddr) {
        lock(&self.inner.ctl).target = addr;
    }

    /// New connections are accepted and closed at once (a dead port).
    pub fn refuse(&self, on: bool) {
        lock(&self.inner.ctl).refuse = on;
    }

    /// Live (not yet closed) proxied connections.
    pub fn connections(&self) -> usize {
        let mut links = lock(&self.inner.links);
        links.retain(|l| !l.is_closed());
        links.len()
    }

    /// For each stream cut by [`Self::truncate_next`], everything that was
    /// forwarded master→client on it (response head included) up to the cut.
    pub fn truncated(&self) -> Vec<Vec<u8>> {
        lock(&self.inner.truncated).clone()
    }

    /// Connections accepted so far (including refused ones).
    pub fn accepted(&self) -> usize {
        self.inner.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.notify();
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for l in lock(&self.inner.links).drain(..) {
            l.close();
        }
        let threads: Vec<JoinHandle<()>> = lock(&self.inner.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(inner: &Arc<Inner>, listener: &TcpListener) {
    for sock in listener.incoming() {
        if inner.stopping() {
            break;
        }
        let Ok(client) = sock else { continue };
        inner.accepted.fetch_add(1, Ordering::SeqCst);
        let (target, refuse) = {
            let c = lock(&inner.ctl);
            (c.target, c.refuse)
        };
        if refuse {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&target, IO_TIMEOUT) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        for s in [&client, &server] {
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(POLL));
            let _ = s.set_write_timeout(Some(IO_TIMEOUT));
        }
        let link = Arc::new(Link {
            client,
            server,
            closed: AtomicBool::new(false),
            stream: AtomicBool::new(false),
            truncate: Mutex::new(None),
            log: Mutex::default(),
            request: Mutex::default(),
            answering: AtomicBool::new(false),
        });
        {
            let mut links = lock(&inner.links);
            links.retain(|l| !l.is_closed());
            links.push(link.clone());
        }
        let mut threads = lock(&inner.threads);
        threads.retain(|t| !t.is_finished());
        for dir in [Dir::Up, Dir::Down] {
            let (tx, rx) = unbounded();
            let (i, l) = (inner.clone(), link.clone());
            if let Ok(t) = thread::Builder::new()
                .name("fault-proxy-read".into())
                .spawn(move || reader(&i, &l, dir, &tx))
            {
                threads.push(t);
            }
            let (i, l) = (inner.clone(), link.clone());
            if let Ok(t) = thread::Builder::new()
                .name("fault-proxy-write".into())
                .spawn(move || writer(&i, &l, dir, &rx))
            {
                threads.push(t);
            }
        }
    }
}

/// A chunk read at an instant, or the end of that direction (None).
type Chunk = Option<(Instant, Vec<u8>)>;

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn reader(inner: &Inner, link: &Link, dir: Dir, tx: &Sender<Chunk>) {
    let mut src = match dir {
        Dir::Up => &link.client,
        Dir::Down => &link.server,
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if link.is_closed() || inner.stopping() {
            return;
        }
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx.send(Some((Instant::now(), buf[..n].to_vec()))).is_err() {
                    return;
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    // The end goes through the same queue: it is forwarded (as a close)
    // after the data before it, and waits while the direction is stalled.
    let _ = tx.send(None);
}

/// At the start of an answer on a call connection: whether the request it
/// answers is one whose answer is to be dropped (and counts it).
fn answer_dropped(inner: &Inner, link: &Link) -> bool {
    let Some(filter) = lock(&inner.ctl).drop_answers.clone() else {
        return false;
    };
    let req = lock(&link.request).clone();
    if !filter(&req) {
        return false;
    }
    lock(&inner.dropped).push(req);
    true
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn writer(inner: &Inner, link: &Link, dir: Dir, rx: &Receiver<Chunk>) {
    let mut dst = match dir {
        Dir::Up => &link.server,
        Dir::Down => &link.client,
    };
    let mut first = true;
    loop {
        let chunk = match rx.recv_timeout(POLL) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                if link.is_closed() || inner.stopping() {
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !inner.wait_flowing(link, dir) {
            return;
        }
        let Some((at, mut data)) = chunk else {
            link.close();
            return;
        };
        if !inner.wait_delay(link, at) {
            return;
        }
        if dir == Dir::Up {
            let mut req = lock(&link.request);
            if link.answering.swap(false, Ordering::SeqCst) {
                req.clear();
            }
            if req.len() + data.len() <= LOG_LIMIT {
                req.extend_from_slice(&data);
            }
        }
        if dir == Dir::Down && first {
            first = false;
            if contains_ignore_case(&data, b"mesos-stream-id:") {
                link.stream.store(true, Ordering::SeqCst);
            }
        }
        if dir == Dir::Down
            && !link.answering.swap(true, Ordering::SeqCst)
            && !link.stream.load(Ordering::SeqCst)
            && answer_dropped(inner, link)
        {
            link.close();
            return;
        }
        let mut close_after = false;
        if dir == Dir::Down {
            let mut t = lock(&link.truncate);
            if let Some(n) = *t {
                if data.len() >= n {
                    data.truncate(n);
                    close_after = true;
                    *t = None;
                } else {
                    *t = Some(n - data.len());
                }
            }
        }
        if dir == Dir::Down && link.stream.load(Ordering::SeqCst) {
            let mut log = lock(&link.log);
            if log.len() + data.len() <= LOG_LIMIT {
                log.extend_from_slice(&data);
            }
            if close_after {
                lock(&inner.truncated).push(log.clone());
            }
        }
        if dst.write_all(&data).and_then(|()| dst.flush()).is_err() || close_after {
            link.close();
            return;
        }
    }
}
