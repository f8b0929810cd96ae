//! The parent's side: [`ZygoteSpawner`] starts or adopts a zygote, sends
//! it requests with the child's pipes, and a collector thread turns the
//! exits it reports into [`Finished`] completions.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::os::process::{Finished, SpawnOptions};
use crate::queue::{Consumer, Producer, bounded_queue};

use super::fd_passing::*;
use super::request::*;
use super::serve::thread_count;

pub(super) struct ZChild {
    id: u64,
    pid: u32,
    pipes: [Option<OwnedFd>; 2],
    out: [Vec<u8>; 2],
    max: usize,
    truncated: bool,
    status: Option<i32>,
}

#[derive(Default)]
pub(super) struct ZState {
    children: Vec<ZChild>,
    /// Exits reported before their spawn was registered.
    early: HashMap<u32, i32>,
    /// The zygote's exits socket closed: no more statuses will come.
    zygote_gone: bool,
}

pub(super) struct ZShared {
    state: Mutex<ZState>,
    stop: AtomicBool,
    wake_w: OwnedFd,
}

impl ZShared {
    fn lock(&self) -> MutexGuard<'_, ZState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn wake(&self) {
        let b = 1u8;
        // SAFETY: a one-byte write to our own non-blocking pipe; a full pipe
        // already means a pending wake-up.
        unsafe { libc::write(self.wake_w.as_raw_fd(), (&b as *const u8).cast(), 1) };
    }
}

/// Spawns task processes by asking a zygote to fork them.
pub struct ZygoteSpawner {
    ctl: Option<UnixStream>,
    shared: Arc<ZShared>,
    rx: Consumer<Finished>,
    next_id: u64,
    zygote: Option<Zygote>,
    thread: Option<JoinHandle<()>>,
}

/// The zygote process: started (exec) or forked from this process.
pub(super) enum Zygote {
    Started(Child),
    Forked(libc::pid_t),
}

/// What [`ZygoteSpawner::fork`] returns in each process.
pub enum Forked {
    /// In this process: the spawner.
    Parent(ZygoteSpawner),
    /// In the new zygote process (which should now call [`serve`]).
    Zygote,
}

impl ZygoteSpawner {
    /// Starts the zygote process `argv` (its stdin and stdout /dev/null,
    /// its stderr ours, the control and exits sockets on fds 3 and 4, and
    /// SIGKILL when this thread ends) and the thread that collects its
    /// children's output and exits.
    pub fn start(argv: &[String], capacity: usize) -> io::Result<ZygoteSpawner> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
        let (ctl_mine, ctl_theirs) = socketpair(libc::SOCK_STREAM)?;
        let (exits_mine, exits_theirs) = socketpair(libc::SOCK_SEQPACKET)?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .env_remove("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
        let (a, b) = (ctl_theirs.as_raw_fd(), exits_theirs.as_raw_fd());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Copies above the targets first, so neither source is
                // overwritten by the other's dup2.
                let a2 = libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10);
                let b2 = libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 10);
                if a2 < 0
                    || b2 < 0
                    || libc::dup2(a2, CONTROL_FD) < 0
                    || libc::dup2(b2, EXITS_FD) < 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop((ctl_theirs, exits_theirs));
        Self::parent(ctl_mine, exits_mine, Zygote::Started(child), capacity)
    }

    /// Forks this process into a zygote instead of starting one: the child
    /// has everything this process loaded (no exec, no second load of the
    /// library), its sockets on fds 3 and 4 and no other fd above 2, stdin
    /// and stdout on /dev/null, no `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`
    /// in its environment, and SIGKILL when this thread ends. This process
    /// must be single-threaded (a fork copies only the calling thread).
    pub fn fork(capacity: usize) -> io::Result<Forked> {
        let threads = thread_count();
        if threads != Some(1) {
            return Err(io::Error::other(format!(
                "cannot fork a zygote from a process with {} threads",
                threads.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string())
            )));
        }
        let (ctl_mine, ctl_theirs) = socketpair(libc::SOCK_STREAM)?;
        let (exits_mine, exits_theirs) = socketpair(libc::SOCK_SEQPACKET)?;
        let devnull = std::fs::File::open("/dev/null")?;
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: this process is single-threaded (checked above).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid > 0 {
            drop((ctl_theirs, exits_theirs, devnull));
            return Self::parent(ctl_mine, exits_mine, Zygote::Forked(pid), capacity)
                .map(Forked::Parent);
        }
        // The zygote.
        drop((ctl_mine, exits_mine));
        let (a, b, n) = (
            ctl_theirs.as_raw_fd(),
            exits_theirs.as_raw_fd(),
            devnull.as_raw_fd(),
        );
        // The originals are closed by the dup2s onto them or by close_range.
        std::mem::forget((ctl_theirs, exits_theirs, devnull));
        // SAFETY: plain syscalls on this process's fds and environment (it
        // is single-threaded).
        unsafe {
            let a2 = libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10);
            let b2 = libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 10);
            let n2 = libc::fcntl(n, libc::F_DUPFD_CLOEXEC, 10);
            if a2 < 0
                || b2 < 0
                || n2 < 0
                || libc::dup2(a2, CONTROL_FD) < 0
                || libc::dup2(b2, EXITS_FD) < 0
                || libc::dup2(n2, 0) < 0
                || libc::dup2(n2, 1) < 0
                || libc::syscall(libc::SYS_close_range, EXITS_FD + 1, libc::c_uint::MAX, 0) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
            {
                let e = io::Error::last_os_error();
                let _ = writeln!(io::stderr(), "mesos zygote: set-up after fork failed: {e}");
                libc::_exit(127);
            }
            if libc::getppid() != parent {
                libc::_exit(0);
            }
            libc::unsetenv(c"MESOS_EXECUTOR_AUTHENTICATION_TOKEN".as_ptr());
        }
        Ok(Forked::Zygote)
    }

    fn parent(
        ctl_mine: OwnedFd,
        exits_mine: OwnedFd,
        zygote: Zygote,
        capacity: usize,
    ) -> io::Result<ZygoteSpawner> {
        let ctl = UnixStream::from(ctl_mine);
        // A zygote that stops answering must not hang the caller forever.
        ctl.set_read_timeout(Some(Duration::from_secs(30)))?;
        let (wake_r, wake_w) = pipe()?;
        set_nonblocking(wake_r.as_raw_fd())?;
        set_nonblocking(wake_w.as_raw_fd())?;
        let (tx, rx) = bounded_queue(capacity)?;
        let shared = Arc::new(ZShared {
            state: Mutex::new(ZState::default()),
            stop: AtomicBool::new(false),
            wake_w,
        });
        let sh = shared.clone();
        let thread = thread::Builder::new()
            .name("mesos-zygote".into())
            .spawn(move || collect(sh, exits_mine, wake_r, tx))?;
        Ok(ZygoteSpawner {
            ctl: Some(ctl),
            shared,
            rx,
            next_id: 0,
            zygote: Some(zygote),
            thread: Some(thread),
        })
    }

    /// The zygote's pid.
    pub fn pid(&self) -> Option<u32> {
        self.zygote.as_ref().map(|z| match z {
            Zygote::Started(c) => c.id(),
            Zygote::Forked(p) => *p as u32,
        })
    }

    /// Has the zygote a fresh child run a task: `o.stdin` becomes what the
    /// child's `serve` returns; `memory_limit`, `max_output` and `channel`
    /// as for [`crate::os::process::Spawner::spawn`]. `argv`, `env` and `cwd`
    /// are the zygote's, so they must be empty. Returns (id, pid).
    pub fn spawn(&mut self, o: SpawnOptions) -> io::Result<(u64, u32)> {
        if !o.argv.is_empty() || !o.env.is_empty() || o.cwd.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zygote's children take no argv, env or cwd (the zygote's own apply)",
            ));
        }
        let ctl = self
            .ctl
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the zygote is closed"))?;
        let req = Request {
            memory_limit: o.memory_limit,
            channel: o.channel.is_some(),
            stdin: o.stdin,
        };
        let bytes = encode_request(&req)?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let mut fds = vec![out_w.as_raw_fd(), err_w.as_raw_fd()];
        fds.extend(o.channel);
        let sent = send_with_fds(ctl.as_raw_fd(), &bytes, &fds);
        drop((out_w, err_w));
        let mut a = [0u8; 8];
        if let Err(e) = sent.and_then(|()| ctl.read_exact(&mut a)) {
            // Half a request or a late answer would put the stream out of
            // step: no more requests on it.
            self.ctl = None;
            return Err(io::Error::new(e.kind(), format!("the zygote is gone: {e}")));
        }
        let mut p = [0u8; 4];
        p.copy_from_slice(&a[..4]);
        let pid = i32::from_le_bytes(p);
        if pid <= 0 {
            return Err(io::Error::from_raw_os_error(-pid));
        }
        set_nonblocking(out_r.as_raw_fd())?;
        set_nonblocking(err_r.as_raw_fd())?;
        self.next_id += 1;
        let id = self.next_id;
        let pid = pid as u32;
        {
            let mut st = self.shared.lock();
            let status = st.early.remove(&pid);
            st.children.push(ZChild {
                id,
                pid,
                pipes: [Some(out_r), Some(err_r)],
                out: [Vec::new(), Vec::new()],
                max: if o.max_output == 0 {
                    64 * 1024 * 1024
                } else {
                    o.max_output
                },
                truncated: false,
                status,
            });
        }
        self.shared.wake();
        Ok((id, pid))
    }

    /// A finished child, waiting up to `timeout` (zero: no wait).
    pub fn reap(&self, timeout: Duration) -> Option<Finished> {
        self.rx.recv(timeout)
    }

    pub fn fd(&self) -> i32 {
        self.rx.fd()
    }

    /// Stops taking tasks: the zygote ends once its children have.
    pub fn close(&mut self) {
        self.ctl = None;
    }
}

impl Drop for ZygoteSpawner {
    fn drop(&mut self) {
        self.ctl = None;
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        match self.zygote.take() {
            Some(Zygote::Started(mut z)) => {
                let _ = z.kill();
                let _ = z.wait();
            }
            Some(Zygote::Forked(pid)) => {
                let mut st = 0;
                // SAFETY: signalling and reaping our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut st, 0);
                }
            }
            None => {}
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The collecting thread: children's stdout/stderr, and their exits as the
/// zygote reports them; a child is finished once both pipes closed and its
/// status is known.
pub(super) fn collect(sh: Arc<ZShared>, exits: OwnedFd, wake_r: OwnedFd, tx: Producer<Finished>) {
    let mut exits = Some(exits);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut p = vec![libc::pollfd {
            fd: wake_r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        p.push(libc::pollfd {
            fd: exits.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            events: libc::POLLIN,
            revents: 0,
        });
        for c in &sh.lock().children {
            for f in c.pipes.iter().flatten() {
                p.push(libc::pollfd {
                    fd: f.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // SAFETY: `p` is a valid array of pollfds.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if p[0].revents != 0 {
            // SAFETY: draining our own non-blocking pipe into a local buffer.
            while unsafe { libc::read(wake_r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
            {
            }
        }
        let mut done = Vec::new();
        let mut st = sh.lock();
        if p[1].revents != 0
            && let Some(e) = &exits
        {
            loop {
                let mut m = [0u8; 8];
                // SAFETY: a non-blocking receive into a local buffer.
                let n = unsafe {
                    libc::recv(e.as_raw_fd(), m.as_mut_ptr().cast(), 8, libc::MSG_DONTWAIT)
                };
                if n == 8 {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(&m[..4]);
                    let pid = i32::from_le_bytes(a) as u32;
                    a.copy_from_slice(&m[4..]);
                    let status = i32::from_le_bytes(a);
                    match st
                        .children
                        .iter_mut()
                        .find(|c| c.pid == pid && c.status.is_none())
                    {
                        Some(c) => c.status = Some(status),
                        None => {
                            st.early.insert(pid, status);
                        }
                    }
                    continue;
                }
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                    break;
                }
                // End of stream (or an error): the zygote is gone.
                exits = None;
                st.zygote_gone = true;
                break;
            }
        }
        let readable: Vec<RawFd> = p[2..]
            .iter()
            .filter(|x| x.revents != 0)
            .map(|x| x.fd)
            .collect();
        for c in &mut st.children {
            for k in 0..2 {
                let Some(f) = &c.pipes[k] else { continue };
                if !readable.contains(&f.as_raw_fd()) {
                    continue;
                }
                loop {
                    // SAFETY: a non-blocking read into a local buffer.
                    let n =
                        unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n > 0 {
                        let n = n as usize;
                        let room = c.max.saturating_sub(c.out[k].len());
                        c.out[k].extend_from_slice(&buf[..n.min(room)]);
                        c.truncated |= n > room;
                        continue;
                    }
                    if n < 0 {
                        let e = io::Error::last_os_error().kind();
                        if e == io::ErrorKind::Interrupted {
                            continue;
                        }
                        if e == io::ErrorKind::WouldBlock {
                            break;
                        }
                    }
                    c.pipes[k] = None;
                    break;
                }
            }
        }
        let gone = st.zygote_gone;
        let mut i = 0;
        while i < st.children.len() {
            let c = &st.children[i];
            if c.pipes.iter().all(Option::is_none) && (c.status.is_some() || gone) {
                let mut c = st.children.swap_remove(i);
                let (code, signal) = c.status.map_or((None, None), wait_status);
                if c.status.is_none() {
                    c.out[1].extend_from_slice(
                        b"the zygote that started this task ended, so its exit status is unknown\n",
                    );
                }
                let [stdout, stderr] = c.out;
                done.push(Finished {
                    id: c.id,
                    pid: c.pid,
                    code,
                    signal,
                    stdout,
                    stderr,
                    truncated: c.truncated,
                });
            } else {
                i += 1;
            }
        }
        drop(st);
        if !done.is_empty() && !tx.push_all(done, &sh.stop) {
            return;
        }
    }
}
