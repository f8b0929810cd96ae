//! The zygote's side: reads requests from its control socket, forks a
//! child for each, and sets the child up (process group, memory limit,
//! stdio, channel) before it returns from [`serve`] to run its task.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::base::cvt;
use crate::os::process::CHILD_CHANNEL_FD;

use super::fd_passing::*;
use super::request::*;

/// Reads one request; None at end of stream.
pub(super) fn read_request(ctl: RawFd) -> io::Result<Option<(Request, Vec<OwnedFd>)>> {
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
pub(super) fn fds_and_rest(ctl: RawFd, mut rest: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
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
pub(super) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

pub(super) fn is_unix_socket(fd: RawFd) -> bool {
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
pub(super) fn child_setup(req: &Request, fds: &[OwnedFd]) -> Result<(), &'static str> {
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
