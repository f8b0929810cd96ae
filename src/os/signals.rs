//! SIGINT/SIGTERM: waiting for one (so that `mesos-local` can stop its
//! cluster and kill the task processes it started instead of dying
//! abruptly), trapping them while a driver runs (so that the run can tear
//! its framework down and stop its embedded cluster first), and then dying
//! of the signal as the process would have. Imports nothing from the crate.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// The last signal caught by [`on_signal`] while a trap was set (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// The traps set ([`trap`]), and the actions they replaced.
struct Traps {
    count: usize,
    saved: Vec<(libc::c_int, libc::sigaction)>,
}

static TRAPS: Mutex<Traps> = Mutex::new(Traps {
    count: 0,
    saved: Vec::new(),
});

const TERMINATING: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
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
    for sig in TERMINATING {
        install(sig)?;
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

/// Installs our handler for `sig`; the action it replaced.
fn install(sig: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: installs a handler that only stores an atomic and calls
    // write(2); `old` is a valid out-pointer.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &sa, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

/// Traps SIGINT and SIGTERM (`on`), or releases one trap. Traps nest: the
/// first installs the handler (forgetting any signal caught before), the
/// last release puts back the actions that were there.
pub fn trap(on: bool) -> io::Result<()> {
    let mut t = TRAPS.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        if t.count == 0 {
            CAUGHT.store(0, Ordering::SeqCst);
            let mut saved = Vec::new();
            for sig in TERMINATING {
                saved.push((sig, install(sig)?));
            }
            t.saved = saved;
        }
        t.count += 1;
    } else if t.count > 0 {
        t.count -= 1;
        if t.count == 0 {
            for (sig, old) in t.saved.drain(..) {
                // SAFETY: puts back an action sigaction(2) gave us.
                unsafe {
                    libc::sigaction(sig, &old, std::ptr::null_mut());
                }
            }
        }
    }
    Ok(())
}

/// The SIGINT or SIGTERM caught while trapped, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Ends the process as `sig` would have: its default action, raised again
/// (the parent sees death by that signal: status 130 for SIGINT, 143 for
/// SIGTERM in a shell), or exit status 128 + `sig` if it does not kill.
pub fn die_of(sig: i32) -> ! {
    // SAFETY: resets one signal's action and unblocks it, then raises it
    // in this process; _exit is the fallback.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
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
