//! Child processes for task runners: spawned in their own process group with
//! an optional address-space limit, fed a request on stdin, their stdout and
//! stderr collected (bounded) by a reaper thread that reports completion
//! through a readable-while-pending fd, so one event loop can wait on a
//! driver and its children at once.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::queue::{Consumer, Producer, bounded_queue};

#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Added to (or overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    /// RLIMIT_AS in bytes.
    pub memory_limit: Option<u64>,
    /// Bytes kept of stdout and of stderr each (the rest is counted, dropped).
    pub max_output: usize,
    /// An fd of this process (a `Channel` end) that the child gets as fd
    /// `CHILD_CHANNEL_FD`.
    pub channel: Option<i32>,
}

/// The fd number a child finds its channel on (`SpawnOptions::channel`).
pub const CHILD_CHANNEL_FD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub id: u64,
    pub pid: u32,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

/// Spawns children and collects their completions.
pub struct Spawner {
    tx: Arc<Producer<Finished>>,
    rx: Consumer<Finished>,
    next_id: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

fn read_bounded<R: Read>(mut r: R, max: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return (out, truncated),
            Ok(n) => {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
}

impl Spawner {
    pub fn new(capacity: usize) -> io::Result<Spawner> {
        let (tx, rx) = bounded_queue(capacity)?;
        Ok(Spawner {
            tx: Arc::new(tx),
            rx,
            next_id: 0,
            stop: Arc::default(),
        })
    }

    /// Starts a child; returns (id, pid).
    pub fn spawn(&mut self, o: SpawnOptions) -> io::Result<(u64, u32)> {
        let (prog, args) = o
            .argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = &o.cwd {
            cmd.current_dir(d);
        }
        // The executor's credential is not for its tasks.
        cmd.env_remove("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
        for (k, v) in &o.env {
            cmd.env(k, v);
        }
        let limit = o.memory_limit;
        let channel = o.channel;
        // SAFETY: only async-signal-safe calls (setpgid, dup2, fcntl,
        // setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(fd) = channel {
                    // dup2 gives the copy no close-on-exec flag; an fd that
                    // is already in place keeps its own, so clear it.
                    let r = if fd == CHILD_CHANNEL_FD {
                        libc::fcntl(fd, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, CHILD_CHANNEL_FD)
                    };
                    if r < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(bytes) = limit {
                    let rl = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        self.next_id += 1;
        let id = self.next_id;
        let (mut stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let input = o.stdin;
        let max = if o.max_output == 0 {
            64 * 1024 * 1024
        } else {
            o.max_output
        };
        let tx = self.tx.clone();
        let stop = self.stop.clone();
        thread::Builder::new()
            .name("mesos-child".into())
            .spawn(move || {
                let writer = stdin.take().map(|mut s| {
                    thread::spawn(move || {
                        // A child that exits without reading its stdin must
                        // not kill us with SIGPIPE: blocked in this thread,
                        // the write fails with EPIPE instead (the pending
                        // signal goes away with the thread).
                        crate::os::signals::block_sigpipe_in_this_thread();
                        let _ = s.write_all(&input);
                    })
                });
                let err_reader = stderr.map(|e| thread::spawn(move || read_bounded(e, max)));
                let (out, t1) = stdout.map(|s| read_bounded(s, max)).unwrap_or_default();
                let (err, t2) = err_reader.and_then(|h| h.join().ok()).unwrap_or_default();
                if let Some(w) = writer {
                    let _ = w.join();
                }
                let status = child.wait();
                let (code, signal) = match status {
                    Ok(st) => (st.code(), st.signal()),
                    Err(_) => (None, None),
                };
                tx.push(
                    Finished {
                        id,
                        pid,
                        code,
                        signal,
                        stdout: out,
                        stderr: err,
                        truncated: t1 || t2,
                    },
                    &stop,
                );
            })?;
        Ok((id, pid))
    }

    /// A finished child, waiting up to `timeout` (zero: no wait).
    pub fn reap(&self, timeout: Duration) -> Option<Finished> {
        self.rx.recv(timeout)
    }

    pub fn fd(&self) -> i32 {
        self.rx.fd()
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The name of the user this process runs as (its real uid, looked up in
/// the password database, as libmesos's `os::user()`); `None` when the
/// uid has no entry.
pub fn current_user() -> Option<String> {
    let uid = unsafe { libc::getuid() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the size passed; the
    // strings getpwuid_r fills point into `buf`, read before it is dropped.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pw.pw_name.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

/// Sends `sig` to the process group led by `pid`.
pub fn kill_group(pid: u32, sig: i32) -> io::Result<()> {
    let pgid =
        i32::try_from(pid).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    // SAFETY: kill(2) with a negative pid signals a process group.
    if unsafe { libc::kill(-pgid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until one of `fds` is readable or `timeout` passes; returns the
/// readable ones.
pub fn wait_readable(fds: &[i32], timeout: Option<Duration>) -> io::Result<Vec<i32>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    loop {
        // SAFETY: `p` is a valid array of `p.len()` pollfd structs.
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(p.iter().filter(|x| x.revents != 0).map(|x| x.fd).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> SpawnOptions {
        SpawnOptions {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            ..Default::default()
        }
    }

    #[test]
    fn runs_feeds_stdin_and_collects_output() {
        let mut s = Spawner::new(16).unwrap();
        let mut o = sh("cat; echo err >&2; exit 3");
        o.stdin = b"hello".to_vec();
        let (id, _) = s.spawn(o).unwrap();
        assert_eq!(
            wait_readable(&[s.fd()], Some(Duration::from_secs(10))).unwrap(),
            vec![s.fd()]
        );
        let f = s.reap(Duration::ZERO).unwrap();
        assert_eq!(
            (f.id, f.code, f.stdout.as_slice(), f.stderr.as_slice()),
            (id, Some(3), &b"hello"[..], &b"err\n"[..])
        );
    }

    #[test]
    fn a_child_talks_over_its_channel_on_fd_3() {
        use crate::os::channel::Channel;
        let mut s = Spawner::new(16).unwrap();
        let (mine, theirs) = Channel::pair().unwrap();
        let mut o = sh("head -c 5 <&3 >&3");
        o.channel = Some(theirs.fd());
        s.spawn(o).unwrap();
        drop(theirs);
        mine.send(b"hello", true).unwrap();
        assert_eq!(
            mine.recv(Some(Duration::from_secs(10))).unwrap().unwrap(),
            b"hello"
        );
        assert_eq!(s.reap(Duration::from_secs(10)).unwrap().code, Some(0));
        // The child's exit closed its end.
        assert!(matches!(
            mine.recv(Some(Duration::from_secs(10))),
            Err(crate::os::channel::ChannelError::Closed)
        ));
    }

    #[test]
    fn kill_reaches_the_whole_group_and_output_is_bounded() {
        let mut s = Spawner::new(16).unwrap();
        let mut o = sh("head -c 100000 /dev/zero; sleep 100 & wait");
        o.max_output = 1000;
        let (_, pid) = s.spawn(o).unwrap();
        kill_group(pid, libc::SIGKILL).unwrap();
        let f = s.reap(Duration::from_secs(10)).unwrap();
        assert_eq!(f.signal, Some(libc::SIGKILL));
        assert!(f.stdout.len() <= 1000);
    }

    #[test]
    fn memory_limit_applies() {
        let mut s = Spawner::new(16).unwrap();
        let mut o = sh("ulimit -v");
        o.memory_limit = Some(64 * 1024 * 1024);
        s.spawn(o).unwrap();
        let f = s.reap(Duration::from_secs(10)).unwrap();
        assert_eq!(String::from_utf8_lossy(&f.stdout).trim(), "65536");
    }
}
