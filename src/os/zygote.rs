//! A warm template process ("zygote") that forks one fresh child per task.
//!
//! Starting a task as `luajit -e 'require "mesos" ...'` costs an exec, the
//! dynamic loading of this library and the compilation of its Lua sources,
//! every time. A zygote pays that once: it is started like a task process,
//! loads everything, and then (in [`serve`]) waits for requests; for each
//! it forks a child, which returns from `serve` with the request's stdin
//! bytes and runs the task in a fresh copy of the warm process. Each task
//! still gets a process of its own (nothing a task does reaches the zygote
//! or another task), its own process group, an address-space limit, its
//! stdout and stderr on pipes to the parent, and a channel on fd 3.
//!
//! The parent side is [`ZygoteSpawner`], with the interface of
//! [`crate::os::process::Spawner`]: `spawn` returns (id, pid), completions come
//! out of `reap` and make `fd` readable.
//!
//! Protocol, over two Unix sockets the zygote finds on fds 3 and 4:
//! - control (stream), parent to zygote: a request ([`encode_request`]:
//!   flags, memory limit, the stdin bytes) with the child's stdout and
//!   stderr pipe ends (and its channel end) as `SCM_RIGHTS`; the zygote
//!   answers each with 8 bytes: the child's pid, or minus an errno.
//! - exits (seqpacket), zygote to parent: (pid, wait status) of each child
//!   it reaped.
//!
//! The parent closing the control socket ends the zygote once its
//! children have ended.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::base::cvt;
use crate::os::process::{CHILD_CHANNEL_FD, Finished, SpawnOptions};
use crate::queue::{Consumer, Producer, bounded_queue};

/// Where the zygote process finds its control socket.
pub const CONTROL_FD: RawFd = 3;
/// Where the zygote process finds the socket it reports exits on.
pub const EXITS_FD: RawFd = 4;

const MAGIC: &[u8; 4] = b"ZYG1";
const HEADER: usize = 4 + 4 + 1 + 8;
const FLAG_MEMORY_LIMIT: u8 = 1;
const FLAG_CHANNEL: u8 = 2;
/// Largest stdin a request may carry.
pub const MAX_STDIN: usize = 1 << 30;

/// One request to the zygote (the fds travel beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// RLIMIT_AS of the child, in bytes.
    pub memory_limit: Option<u64>,
    /// A channel end comes as the third fd (after stdout and stderr).
    pub channel: bool,
    /// What the child's `serve` returns.
    pub stdin: Vec<u8>,
}

/// The bytes of a request.
pub fn encode_request(r: &Request) -> io::Result<Vec<u8>> {
    if r.stdin.len() > MAX_STDIN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("stdin of {} bytes is over {MAX_STDIN}", r.stdin.len()),
        ));
    }
    let mut out = Vec::with_capacity(HEADER + r.stdin.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(r.stdin.len() as u32).to_le_bytes());
    let mut flags = 0;
    if r.memory_limit.is_some() {
        flags |= FLAG_MEMORY_LIMIT;
    }
    if r.channel {
        flags |= FLAG_CHANNEL;
    }
    out.push(flags);
    out.extend_from_slice(&r.memory_limit.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&r.stdin);
    Ok(out)
}

/// Parses a request's fixed header: (memory limit, channel, stdin length).
pub fn decode_header(h: &[u8]) -> io::Result<(Option<u64>, bool, usize)> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("zygote request: {m}"));
    if h.len() < HEADER {
        return Err(bad("short header"));
    }
    if &h[..4] != MAGIC {
        return Err(bad("bad magic"));
    }
    let mut n = [0u8; 4];
    n.copy_from_slice(&h[4..8]);
    let len = u32::from_le_bytes(n) as usize;
    if len > MAX_STDIN {
        return Err(bad("stdin too long"));
    }
    let flags = h[8];
    if flags & !(FLAG_MEMORY_LIMIT | FLAG_CHANNEL) != 0 {
        return Err(bad("unknown flags"));
    }
    let mut m = [0u8; 8];
    m.copy_from_slice(&h[9..17]);
    let mem = (flags & FLAG_MEMORY_LIMIT != 0).then_some(u64::from_le_bytes(m));
    Ok((mem, flags & FLAG_CHANNEL != 0, len))
}

/// (exit code, signal) of a raw wait status.
pub fn wait_status(raw: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(raw) {
        (Some(libc::WEXITSTATUS(raw)), None)
    } else if libc::WIFSIGNALED(raw) {
        (None, Some(libc::WTERMSIG(raw)))
    } else {
        (None, None)
    }
}

fn socketpair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    let fl = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Sends `data` with `fds` attached to its first byte.
fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut sent = 0;
    while sent < data.len() {
        let mut iov = libc::iovec {
            iov_base: data[sent..].as_ptr() as *mut libc::c_void,
            iov_len: data.len() - sent,
        };
        // SAFETY: a zeroed msghdr is valid; the pointers set below outlive
        // the sendmsg call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if sent == 0 && !fds.is_empty() {
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space as _;
            // SAFETY: the control buffer is CMSG_SPACE(len) bytes, room for
            // one header and `fds`.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr() as *const u8,
                    libc::CMSG_DATA(c),
                    std::mem::size_of_val(fds),
                );
            }
        }
        // SAFETY: `msg` describes valid buffers.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        sent += n as usize;
    }
    Ok(())
}

/// Receives up to `buf.len()` bytes and any fds sent with them (close-on-exec).
fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut cbuf = [0u8; 256];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: a zeroed msghdr is valid; its pointers outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cbuf.len() as _;
        // SAFETY: `msg` describes valid buffers.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut fds = Vec::new();
        // SAFETY: walking the control messages recvmsg filled in.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let p = libc::CMSG_DATA(c) as *const RawFd;
                    for i in 0..len / std::mem::size_of::<RawFd>() {
                        fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "zygote request: too many fds",
            ));
        }
        return Ok((n as usize, fds));
    }
}

fn read_exact_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: borrowing the fd as a stream only for these reads; forget
    // it afterwards so it is not closed.
    let mut s = std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(fd) });
    s.read_exact(buf)
}

// The zygote's side ----------------------------------------------------------

/// Reads one request; None at end of stream.
fn read_request(ctl: RawFd) -> io::Result<Option<(Request, Vec<OwnedFd>)>> {
    let mut h = [0u8; HEADER];
    let (n, mut fds) = recv_with_fds(ctl, &mut h)?;
    if n == 0 {
        return Ok(None);
    }
    if n < HEADER {
        let mut more = fds_and_rest(ctl, &mut h[n..])?;
        fds.append(&mut more);
    }
    let (memory_limit, channel, len) = decode_header(&h)?;
    let mut stdin = vec![0u8; len];
    read_exact_fd(ctl, &mut stdin)?;
    let want = if channel { 3 } else { 2 };
    if fds.len() != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zygote request: {} fds, expected {want}", fds.len()),
        ));
    }
    Ok(Some((
        Request {
            memory_limit,
            channel,
            stdin,
        },
        fds,
    )))
}

/// The rest of a header split over reads (fds may come with any part).
fn fds_and_rest(ctl: RawFd, mut rest: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    while !rest.is_empty() {
        let (n, mut f) = recv_with_fds(ctl, rest)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        fds.append(&mut f);
        rest = &mut rest[n..];
    }
    Ok(fds)
}

/// Threads in this process (from /proc/self/task).
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

fn is_unix_socket(fd: RawFd) -> bool {
    // SAFETY: a zeroed sockaddr_storage is valid.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname into a local buffer of `len` bytes.
    let r = unsafe {
        libc::getsockname(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    r == 0 && i32::from(addr.ss_family) == libc::AF_UNIX
}

/// In a fresh child: its fds, process group and limit. Only
/// async-signal-safe calls (the zygote is single-threaded anyway).
fn child_setup(req: &Request, fds: &[OwnedFd]) -> Result<(), &'static str> {
    // SAFETY: plain syscalls on fds this process owns.
    unsafe {
        if libc::setpgid(0, 0) != 0 {
            return Err("setpgid");
        }
        // A task dies with its zygote (which dies with its executor), as a
        // Mesos container's processes do: its outcome could not be
        // reported any more. The zygote may already be gone by now.
        let zygote = libc::getppid();
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err("prctl");
        }
        if libc::getppid() != zygote {
            return Err("the zygote ended");
        }
        let mut targets = vec![1, 2];
        if req.channel {
            targets.push(CHILD_CHANNEL_FD);
        }
        // Sources are >= 3 (0-2 are taken), and 1 and 2 are filled before
        // 3, so no source is overwritten before it is copied.
        for (fd, &to) in fds.iter().zip(&targets) {
            let from = fd.as_raw_fd();
            let r = if from == to {
                libc::fcntl(from, libc::F_SETFD, 0)
            } else {
                libc::dup2(from, to)
            };
            if r < 0 {
                return Err("dup2");
            }
        }
        if let Some(bytes) = req.memory_limit {
            let rl = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                return Err("setrlimit");
            }
        }
    }
    Ok(())
}

/// Runs the zygote loop in this (single-threaded) process, on the sockets
/// at [`CONTROL_FD`] and [`EXITS_FD`]. Returns `Some(stdin)` in each forked
/// child (set up: own process group, stdout/stderr/channel in place, memory
/// limit), and `None` in the zygote once the parent closed the control
/// socket and every child has ended.
pub fn serve() -> io::Result<Option<Vec<u8>>> {
    let threads = thread_count();
    if threads != Some(1) {
        // A fork copies only the calling thread: locks other threads hold
        // would stay locked in every child.
        return Err(io::Error::other(format!(
            "a zygote must be single-threaded, this process has {} threads",
            threads.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string())
        )));
    }
    for fd in [CONTROL_FD, EXITS_FD] {
        if !is_unix_socket(fd) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fd {fd} is not a zygote socket (start the zygote with mesos.zygote)"),
            ));
        }
    }
    // Move the sockets out of the way of the children's fd 3, close-on-exec.
    // SAFETY: fcntl/close on the two fds this process was started with.
    let (ctl, exits) = unsafe {
        let c = cvt(libc::fcntl(CONTROL_FD, libc::F_DUPFD_CLOEXEC, 10))?;
        let e = cvt(libc::fcntl(EXITS_FD, libc::F_DUPFD_CLOEXEC, 10))?;
        libc::close(CONTROL_FD);
        libc::close(EXITS_FD);
        (OwnedFd::from_raw_fd(c), OwnedFd::from_raw_fd(e))
    };
    // SIGCHLD through a signalfd (blocked meanwhile; children unblock it).
    // SAFETY: signal-set manipulation on local values.
    let (old_mask, sfd) = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        let mut old: libc::sigset_t = std::mem::zeroed();
        cvt(libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old))?;
        let fd = cvt(libc::signalfd(
            -1,
            &set,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))?;
        (old, OwnedFd::from_raw_fd(fd))
    };
    let mut live = 0usize;
    let mut accepting = true;
    loop {
        if !accepting && live == 0 {
            // SAFETY: restoring the mask saved above.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
            return Ok(None);
        }
        let mut p = [
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if accepting { ctl.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `p` is a valid array of two pollfds.
        if unsafe { libc::poll(p.as_mut_ptr(), 2, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if p[0].revents != 0 {
            let mut info = [0u8; 128];
            // SAFETY: reading signalfd records into a local buffer
            // (non-blocking; the result only drains it).
            while unsafe { libc::read(sfd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) } > 0 {
            }
            loop {
                let mut st = 0;
                // SAFETY: waitpid with a local status slot.
                let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                live = live.saturating_sub(1);
                let mut m = [0u8; 8];
                m[..4].copy_from_slice(&pid.to_le_bytes());
                m[4..].copy_from_slice(&st.to_le_bytes());
                // SAFETY: a send of a local buffer; a parent that went away
                // makes it fail, which is fine.
                unsafe { libc::send(exits.as_raw_fd(), m.as_ptr().cast(), 8, libc::MSG_NOSIGNAL) };
            }
        }
        if p[1].revents == 0 {
            continue;
        }
        let (req, fds) = match read_request(ctl.as_raw_fd()) {
            Ok(Some(r)) => r,
            Ok(None) => {
                accepting = false;
                continue;
            }
            Err(e) => {
                // A broken parent: stop taking requests.
                let _ = writeln!(io::stderr(), "mesos zygote: {e}");
                accepting = false;
                continue;
            }
        };
        // SAFETY: the zygote is single-threaded; the child only makes
        // syscalls before returning to its caller.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(ctl);
            drop(exits);
            drop(sfd);
            // SAFETY: restoring the mask saved above.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
            if let Err(what) = child_setup(&req, &fds) {
                let e = io::Error::last_os_error();
                let _ = writeln!(
                    io::stderr(),
                    "mesos zygote: child set-up failed: {what}: {e}"
                );
                // SAFETY: leaving the child at once.
                unsafe { libc::_exit(127) };
            }
            // Sources now sitting at a target number (the channel arrived
            // as fd 3, say) are in place: keep them open.
            for f in fds {
                if (1..=CHILD_CHANNEL_FD).contains(&f.as_raw_fd()) {
                    std::mem::forget(f);
                }
            }
            return Ok(Some(req.stdin));
        }
        let answer: i32 = if pid < 0 {
            -io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EAGAIN)
        } else {
            // The child's group exists before the parent hears of the pid
            // (the child sets it too; whoever comes first wins), so that
            // killing the group right after spawn reaches the child.
            // SAFETY: setpgid on our own child.
            unsafe { libc::setpgid(pid, pid) };
            live += 1;
            pid
        };
        drop(fds);
        let mut a = [0u8; 8];
        a[..4].copy_from_slice(&answer.to_le_bytes());
        // SAFETY: borrowing the control fd as a stream for one write.
        let mut s =
            std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(ctl.as_raw_fd()) });
        if s.write_all(&a).is_err() {
            accepting = false;
        }
    }
}

// The parent's side ----------------------------------------------------------

struct ZChild {
    id: u64,
    pid: u32,
    pipes: [Option<OwnedFd>; 2],
    out: [Vec<u8>; 2],
    max: usize,
    truncated: bool,
    status: Option<i32>,
}

#[derive(Default)]
struct ZState {
    children: Vec<ZChild>,
    /// Exits reported before their spawn was registered.
    early: HashMap<u32, i32>,
    /// The zygote's exits socket closed: no more statuses will come.
    zygote_gone: bool,
}

struct ZShared {
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
enum Zygote {
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
fn collect(sh: Arc<ZShared>, exits: OwnedFd, wake_r: OwnedFd, tx: Producer<Finished>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_headers_are_refused() {
        let r = Request {
            memory_limit: Some(64 << 20),
            channel: true,
            stdin: b"hello".to_vec(),
        };
        let b = encode_request(&r).unwrap();
        assert_eq!(
            decode_header(&b[..HEADER]).unwrap(),
            (Some(64 << 20), true, 5)
        );
        assert_eq!(&b[HEADER..], b"hello");
        let plain = encode_request(&Request {
            memory_limit: None,
            channel: false,
            stdin: vec![],
        })
        .unwrap();
        assert_eq!(decode_header(&plain).unwrap(), (None, false, 0));
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(
            decode_header(&bad)
                .unwrap_err()
                .to_string()
                .contains("bad magic")
        );
        let mut flags = b.clone();
        flags[8] = 0x80;
        assert!(
            decode_header(&flags)
                .unwrap_err()
                .to_string()
                .contains("unknown flags")
        );
        let mut long = b.clone();
        long[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            decode_header(&long)
                .unwrap_err()
                .to_string()
                .contains("too long")
        );
        assert!(decode_header(&b[..5]).is_err());
    }

    #[test]
    fn wait_statuses_read_as_code_or_signal() {
        assert_eq!(wait_status(3 << 8), (Some(3), None));
        assert_eq!(wait_status(libc::SIGKILL), (None, Some(libc::SIGKILL)));
    }

    #[test]
    fn fds_travel_with_the_first_byte() {
        let (a, b) = socketpair(libc::SOCK_STREAM).unwrap();
        let (r, w) = pipe().unwrap();
        send_with_fds(a.as_raw_fd(), b"abc", &[w.as_raw_fd()]).unwrap();
        drop(w);
        let mut buf = [0u8; 3];
        let (n, fds) = recv_with_fds(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((n, &buf[..n], fds.len()), (3, &b"abc"[..], 1));
        // The received end is the pipe's write end: what goes in comes out.
        // SAFETY: a write of a local buffer to the received fd.
        assert_eq!(
            unsafe { libc::write(fds[0].as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
        let mut got = [0u8; 1];
        // SAFETY: a read into a local buffer.
        assert_eq!(
            unsafe { libc::read(r.as_raw_fd(), got.as_mut_ptr().cast(), 1) },
            1
        );
        assert_eq!(&got, b"x");
    }
}
