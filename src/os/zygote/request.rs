//! What travels from the parent to the zygote for each child: a request's
//! header and stdin bytes; and how a raw wait status reads.

use std::io::{self};
use std::os::fd::RawFd;

/// Where the zygote process finds its control socket.
pub const CONTROL_FD: RawFd = 3;
/// Where the zygote process finds the socket it reports exits on.
pub const EXITS_FD: RawFd = 4;

pub(super) const MAGIC: &[u8; 4] = b"ZYG1";
pub(super) const HEADER: usize = 4 + 4 + 1 + 8;
pub(super) const FLAG_MEMORY_LIMIT: u8 = 1;
pub(super) const FLAG_CHANNEL: u8 = 2;
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
