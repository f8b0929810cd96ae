//! A small HTTP/1.1 implementation, just what the Mesos v1 APIs need:
//! exact control of headers, manual redirects, chunked streams that are read
//! incrementally, and sockets that another thread can shut down (so stopping a
//! driver never waits on a blocked read). The client and the embedded local
//! cluster's server share the framing code below.

pub mod chunked;
pub mod client;
pub mod server;
pub mod tls;

use std::io::{self, BufRead};

/// Largest request or response head we accept.
pub const MAX_HEAD: usize = 64 * 1024;

/// Header list with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add(name, value);
        self
    }

    /// True if the body is chunked.
    pub fn is_chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    pub fn content_length(&self) -> Option<usize> {
        self.get("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    fn from_httparse(h: &[httparse::Header<'_>]) -> Self {
        Headers(
            h.iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect(),
        )
    }
}

/// Reads one head (up to and including the blank line) from `r`.
/// `Ok(None)` on a clean EOF before any byte.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    PartialHead::default().read(r)
}

/// A head being read. When a read fails (a read timeout, a signal) the bytes
/// already read stay here, so reading can resume where it stopped.
#[derive(Debug, Default)]
pub struct PartialHead {
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
}

impl PartialHead {
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Continues reading; the complete head once its blank line arrives.
    pub fn read<R: BufRead>(&mut self, r: &mut R) -> io::Result<Option<Vec<u8>>> {
        loop {
            let n = r.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside an HTTP head",
                ));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "HTTP head too large",
                ));
            }
            if !self.buf.ends_with(b"\n") {
                continue; // EOF in the middle of a line: the next read says so
            }
            let line = &self.buf[self.line_start..];
            if line == b"\r\n" || line == b"\n" {
                if self.line_start == 0 {
                    self.buf.clear(); // tolerate blank lines before a request line
                    continue;
                }
                self.line_start = 0;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            self.line_start = self.buf.len();
        }
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The reason phrase for the status codes we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    /// Hands out its bytes a few at a time, failing with a timeout between.
    struct Slow {
        data: Vec<u8>,
        pos: usize,
        fail: bool,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.fail = !self.fail;
            if self.fail {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let n = buf.len().min(5).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn a_head_interrupted_by_timeouts_resumes_intact() {
        let text =
            b"\r\nPOST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nrest";
        let mut r = BufReader::with_capacity(
            4,
            Slow {
                data: text.to_vec(),
                pos: 0,
                fail: false,
            },
        );
        let mut head = PartialHead::default();
        let got = loop {
            match head.read(&mut r) {
                Ok(Some(h)) => break h,
                Ok(None) => panic!("unexpected EOF"),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
        };
        assert_eq!(got, &text[2..text.len() - 4]);
    }
}
