//! Waiting for SIGINT/SIGTERM, so that `mesos-local` can stop its cluster
//! (and kill the task processes it started) instead of dying abruptly.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from the stack.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Blocks until SIGINT or SIGTERM arrives; returns the signal number.
pub fn wait_for_termination() -> io::Result<i32> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors; checked below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    WRITE_FD.store(fds[1], Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only calls write(2).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    let mut b = 0u8;
    loop {
        // SAFETY: reads one byte into a valid buffer.
        let n = unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    WRITE_FD.store(-1, Ordering::SeqCst);
    // SAFETY: closing the descriptors we created.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    Ok(i32::from(b))
}

/// Blocks SIGPIPE in the calling thread (for threads of ours that write to
/// pipes): a write to a pipe whose reader has gone then fails with EPIPE
/// instead of killing the host process, which may not ignore SIGPIPE (a
/// plain `luajit` does not). The host's other threads are not affected.
pub fn block_sigpipe_in_this_thread() {
    // SAFETY: a zeroed sigset_t is valid input for sigemptyset, and
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
