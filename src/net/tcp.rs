//! A small blocking TCP client over non-blocking sockets and `poll(2)`:
//! line, byte-count and read-to-end receives with a per-call timeout, bytes
//! read before a timeout kept for the next call. The Lua face is
//! `mesos.tcp_connect` (`src/lua/userdata/tcp.rs`); the remote debugger uses it to
//! connect out of task processes.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use thiserror::Error;

/// The most a connection buffers while looking for the end of a line, and
/// the largest `receive(n)`.
pub const MAX_BUFFER: usize = 64 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum TcpError {
    #[error("timeout")]
    Timeout,
    #[error("closed")]
    Closed,
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("line longer than {MAX_BUFFER} bytes")]
    TooLong,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What `receive` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One line; the `\n` (and a `\r` before it) removed.
    Line,
    /// Everything until the peer closes.
    All,
    /// Exactly this many bytes.
    Bytes(usize),
}

/// A connected stream in non-blocking mode; every wait is a `poll(2)`
/// bounded by the connection's timeout.
pub struct Conn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Option<Duration>,
    peer: String,
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// Waits for `events` on `fd` until `deadline` (None: forever).
fn wait(fd: i32, events: i16, deadline: Option<Instant>) -> Result<(), TcpError> {
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends just before its deadline.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            return Ok(());
        }
        if n == 0 {
            return Err(TcpError::Timeout);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e.into());
        }
    }
}

impl Conn {
    /// Resolves `host` and connects to the first address that accepts,
    /// each attempt within `timeout`.
    pub fn connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<Conn, TcpError> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|source| TcpError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect();
        let mut last = String::from("no address");
        for a in &addrs {
            let r = match timeout {
                Some(t) if !t.is_zero() => TcpStream::connect_timeout(a, t),
                Some(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
                None => TcpStream::connect(a),
            };
            match r {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    s.set_nodelay(true)?;
                    return Ok(Conn {
                        stream: Some(s),
                        buf: Vec::new(),
                        timeout,
                        peer: format!("{host}:{port}"),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(TcpError::Connect {
            host: host.to_string(),
            port,
            reason: last,
        })
    }

    /// `None` (or a negative number in Lua): calls block as long as needed.
    pub fn set_timeout(&mut self, t: Option<Duration>) {
        self.timeout = t;
    }

    pub fn fd(&self) -> Option<i32> {
        self.stream.as_ref().map(|s| s.as_raw_fd())
    }

    /// `host:port` as given to `connect`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    pub fn close(&mut self) {
        self.stream = None;
    }

    /// Sends all of `data`; returns its length.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        let s = self.stream.as_ref().ok_or(TcpError::Closed)?;
        let fd = s.as_raw_fd();
        let end = deadline(self.timeout);
        let mut off = 0;
        while off < data.len() {
            let rest = &data[off..];
            // SAFETY: `rest` is valid for its length; MSG_NOSIGNAL keeps a
            // closed peer from raising SIGPIPE in the host process.
            let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                off += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => wait(fd, libc::POLLOUT, end)?,
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted => return Err(TcpError::Closed),
                _ => return Err(e.into()),
            }
        }
        Ok(data.len())
    }

    /// Reads once into the buffer, waiting until `end`; Closed at end of stream.
    fn fill(&mut self, end: Option<Instant>) -> Result<(), TcpError> {
        let s = self.stream.as_mut().ok_or(TcpError::Closed)?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => return Err(TcpError::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => wait(s.as_raw_fd(), libc::POLLIN, end)?,
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        return Err(TcpError::Closed);
                    }
                    _ => return Err(e.into()),
                },
            }
        }
    }

    /// Receives what `p` asks for. On `Closed`, the bytes read so far are
    /// handed back with the error (and the buffer emptied); on any other
    /// error they stay buffered.
    pub fn receive(&mut self, p: Pattern) -> Result<Vec<u8>, (TcpError, Vec<u8>)> {
        let end = deadline(self.timeout);
        loop {
            match p {
                Pattern::Line => {
                    if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                        let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        return Ok(line);
                    }
                    if self.buf.len() > MAX_BUFFER {
                        return Err((TcpError::TooLong, Vec::new()));
                    }
                }
                Pattern::Bytes(n) if self.buf.len() >= n => {
                    return Ok(self.buf.drain(..n).collect());
                }
                Pattern::Bytes(_) | Pattern::All => {}
            }
            match self.fill(end) {
                Ok(()) => {}
                Err(TcpError::Closed) if p == Pattern::All => {
                    return Ok(std::mem::take(&mut self.buf));
                }
                Err(TcpError::Closed) => {
                    return Err((TcpError::Closed, std::mem::take(&mut self.buf)));
                }
                Err(e) => return Err((e, Vec::new())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (Conn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let c = Conn::connect("127.0.0.1", port, Some(Duration::from_secs(5))).expect("connect");
        let (s, _) = l.accept().expect("accept");
        (c, s)
    }

    #[test]
    fn lines_bytes_and_partial_data_survive_timeouts() {
        let (mut c, mut s) = pair();
        s.write_all(b"200 OK\r\nhalf").expect("write");
        assert_eq!(c.receive(Pattern::Line).expect("line"), b"200 OK");
        c.set_timeout(Some(Duration::ZERO));
        assert!(matches!(
            c.receive(Pattern::Line),
            Err((TcpError::Timeout, _))
        ));
        c.set_timeout(Some(Duration::from_secs(5)));
        s.write_all(b" line\nabcdef").expect("write");
        assert_eq!(c.receive(Pattern::Line).expect("line"), b"half line");
        assert_eq!(c.receive(Pattern::Bytes(4)).expect("bytes"), b"abcd");
        c.send(b"STEP\n").expect("send");
        let mut got = [0u8; 5];
        s.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"STEP\n");
        drop(s);
        match c.receive(Pattern::Line) {
            Err((TcpError::Closed, partial)) => assert_eq!(partial, b"ef"),
            other => panic!("expected closed, got {other:?}"),
        }
    }

    #[test]
    fn all_reads_to_the_end_and_send_after_close_fails() {
        let (mut c, mut s) = pair();
        s.write_all(b"one\ntwo").expect("write");
        drop(s);
        assert_eq!(c.receive(Pattern::All).expect("all"), b"one\ntwo");
        c.close();
        assert!(matches!(c.send(b"x"), Err(TcpError::Closed)));
        assert!(c.fd().is_none());
    }

    #[test]
    fn refused_connection_names_the_address() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let e = Conn::connect("127.0.0.1", port, Some(Duration::from_secs(2)))
            .err()
            .expect("refused");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
            "{e}"
        );
    }
}
