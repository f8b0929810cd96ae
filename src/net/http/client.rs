//! HTTP/1.1 client connections: one request at a time per connection,
//! keep-alive, full or streamed response bodies.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::tls::{self, Stream};
use super::{Headers, chunked, invalid, read_head};

/// Largest non-streamed response body we read (error bodies, state JSON).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// One client connection.
pub struct Conn {
    reader: BufReader<Stream>,
    host: String,
    port: u16,
    /// The socket file of a Unix-domain connection.
    unix: Option<PathBuf>,
}

impl Conn {
    /// A clear-text connection.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<Conn> {
        Self::open(host, port, timeout, None)
    }

    /// A TLS connection: the handshake (certificate and host-name
    /// verification included) is done before this returns, within
    /// `timeout`; a failure names the host and rustls's reason.
    pub fn connect_tls(
        host: &str,
        port: u16,
        timeout: Duration,
        config: Arc<rustls::ClientConfig>,
    ) -> io::Result<Conn> {
        Self::open(host, port, timeout, Some(config))
    }

    /// [`Self::connect_tls`] when `tls` is given, else [`Self::connect`].
    pub fn open(
        host: &str,
        port: u16,
        timeout: Duration,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> io::Result<Conn> {
        let sock = tcp_connect(host, port, timeout)?;
        let stream = match tls {
            None => Stream::Plain(sock),
            Some(cfg) => tls::client_handshake(sock, host, port, cfg, timeout)?,
        };
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            host: host.to_string(),
            port,
            unix: None,
        })
    }

    /// A clear-text connection to a Unix domain socket (an agent's
    /// `MESOS_DOMAIN_SOCKET`). Requests carry `Host: localhost`.
    pub fn open_unix(path: &Path) -> io::Result<Conn> {
        let sock = UnixStream::connect(path).map_err(|e| {
            io::Error::new(e.kind(), format!("unix socket {}: {e}", path.display()))
        })?;
        // The connection is driven through the same socket calls as a TCP
        // one (read, write, shutdown, SO_RCVTIMEO, MSG_PEEK, O_NONBLOCK),
        // all of which are plain socket syscalls that AF_UNIX supports; the
        // descriptor is owned and moved, never shared.
        let fd: OwnedFd = sock.into();
        let stream = Stream::Plain(TcpStream::from(fd));
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            host: "localhost".to_string(),
            port: 0,
            unix: Some(path.to_path_buf()),
        })
    }

    /// The socket file of a Unix-domain connection.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_deref()
    }

    /// True if the server has closed this (idle) connection. Never blocks.
    pub fn peer_closed(&mut self) -> bool {
        // Bytes already buffered mean the peer is out of step: unusable too.
        !self.reader.buffer().is_empty() || self.reader.get_mut().peer_closed()
    }

    /// True for a TLS connection.
    pub fn is_tls(&self) -> bool {
        !matches!(self.reader.get_ref(), Stream::Plain(_))
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that can shut the socket down from another thread.
    pub fn shutdown_handle(&self) -> io::Result<TcpStream> {
        self.reader.get_ref().tcp().try_clone()
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().tcp().set_read_timeout(t)
    }

    pub fn send_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &Headers,
        body: &[u8],
    ) -> io::Result<()> {
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\n").as_bytes());
        let default_port = self.unix.is_some() || self.port == if self.is_tls() { 443 } else { 80 };
        if headers.get("host").is_none() {
            if default_port {
                out.extend_from_slice(format!("Host: {}\r\n", self.host).as_bytes());
            } else {
                out.extend_from_slice(format!("Host: {}:{}\r\n", self.host, self.port).as_bytes());
            }
        }
        for (k, v) in &headers.0 {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if method != "GET" || !body.is_empty() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        let s = self.reader.get_mut();
        s.write_all(&out)?;
        s.flush()
    }

    pub fn read_response_head(&mut self) -> io::Result<(u16, Headers)> {
        let head = read_head(&mut self.reader)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )
        })?;
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hdrs);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(invalid("incomplete HTTP response head")),
            Err(e) => return Err(invalid(format!("bad HTTP response head: {e}"))),
        }
        let status = resp
            .code
            .ok_or_else(|| invalid("HTTP response without status"))?;
        Ok((status, Headers::from_httparse(resp.headers)))
    }

    /// Reads a whole (non-streamed) body of at most `limit` bytes.
    pub fn read_body(&mut self, headers: &Headers, limit: usize) -> io::Result<Vec<u8>> {
        let mut body = BodyStream::new(&mut self.reader, headers);
        let mut out = Vec::new();
        while body.read_data(&mut out)? > 0 {
            if out.len() > limit {
                return Err(invalid(format!("response body larger than {limit} bytes")));
            }
        }
        Ok(out)
    }

    /// Sends a request and reads the whole response.
    pub fn roundtrip(
        &mut self,
        method: &str,
        path: &str,
        headers: &Headers,
        body: &[u8],
    ) -> io::Result<Response> {
        self.send_request(method, path, headers, body)?;
        let (status, headers) = self.read_response_head()?;
        let body = self.read_body(&headers, MAX_BODY)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Turns the connection into a reader of the response body (streams).
    pub fn into_stream(self, headers: &Headers) -> OwnedBodyStream {
        OwnedBodyStream {
            mode: Mode::for_headers(headers),
            reader: self.reader,
            scratch: vec![0; 64 * 1024],
        }
    }

    pub fn close(&mut self) {
        self.reader.get_mut().close();
    }
}

fn tcp_connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))))
}

enum Mode {
    Chunked(chunked::Decoder),
    Length(usize),
    UntilEof,
    Done,
}

impl Mode {
    fn for_headers(h: &Headers) -> Mode {
        if h.is_chunked() {
            Mode::Chunked(chunked::Decoder::default())
        } else if let Some(n) = h.content_length() {
            if n == 0 { Mode::Done } else { Mode::Length(n) }
        } else {
            Mode::UntilEof
        }
    }

    /// Reads once from `r` and appends payload to `out`; 0 means end of body.
    /// A read timeout surfaces as an error of kind WouldBlock/TimedOut with
    /// no state lost, so the caller may simply try again.
    fn read<R: Read>(
        &mut self,
        r: &mut R,
        scratch: &mut [u8],
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        // A signal (e.g. SIGCHLD in a process that runs children) interrupts
        // blocking reads; that is not the end of the stream.
        loop {
            match self.read_once(r, scratch, out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn read_once<R: Read>(
        &mut self,
        r: &mut R,
        scratch: &mut [u8],
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        loop {
            let before = out.len();
            match self {
                Mode::Done => return Ok(0),
                Mode::Length(left) => {
                    let want = (*left).min(scratch.len());
                    let n = r.read(&mut scratch[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "body ended early",
                        ));
                    }
                    out.extend_from_slice(&scratch[..n]);
                    *left -= n;
                    if *left == 0 {
                        *self = Mode::Done;
                    }
                    return Ok(n);
                }
                Mode::UntilEof => {
                    let n = r.read(scratch)?;
                    if n == 0 {
                        *self = Mode::Done;
                    }
                    out.extend_from_slice(&scratch[..n]);
                    return Ok(n);
                }
                Mode::Chunked(dec) => {
                    // Read one byte at a time would be slow; read what is there
                    // and rely on the decoder never consuming past the end.
                    let n = r.read(scratch)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed inside a chunked body",
                        ));
                    }
                    dec.decode(&scratch[..n], out)?;
                    if dec.is_done() {
                        *self = Mode::Done;
                        let got = out.len() - before;
                        if got == 0 {
                            return Ok(0);
                        }
                        return Ok(got);
                    }
                    let got = out.len() - before;
                    if got > 0 {
                        return Ok(got);
                    }
                }
            }
        }
    }
}

/// A body being read from a borrowed connection.
pub struct BodyStream<'a> {
    reader: &'a mut BufReader<Stream>,
    mode: Mode,
    scratch: Vec<u8>,
}

impl<'a> BodyStream<'a> {
    fn new(reader: &'a mut BufReader<Stream>, headers: &Headers) -> Self {
        BodyStream {
            reader,
            mode: Mode::for_headers(headers),
            scratch: vec![0; 16 * 1024],
        }
    }

    pub fn read_data(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.mode.read(self.reader, &mut self.scratch, out)
    }
}

/// A streamed response body that owns its connection (the SUBSCRIBE stream).
pub struct OwnedBodyStream {
    reader: BufReader<Stream>,
    mode: Mode,
    scratch: Vec<u8>,
}

impl OwnedBodyStream {
    /// Appends the next payload bytes to `out`; `Ok(0)` at the end of the body.
    pub fn read_data(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.mode.read(&mut self.reader, &mut self.scratch, out)
    }

    pub fn shutdown_handle(&self) -> io::Result<TcpStream> {
        self.reader.get_ref().tcp().try_clone()
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().tcp().set_read_timeout(t)
    }
}

/// True for the error kinds a socket read timeout produces.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that is interrupted before every chunk it returns.
    struct Interrupting {
        data: Vec<u8>,
        pos: usize,
        interrupt: bool,
    }

    impl Read for Interrupting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let n = buf.len().min(3).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn interrupted_reads_are_retried_not_fatal() {
        let mut body = vec![];
        chunked::encode_chunk(b"hello world", &mut body);
        body.extend_from_slice(chunked::LAST_CHUNK);
        let mut r = Interrupting {
            data: body,
            pos: 0,
            interrupt: false,
        };
        let mut mode = Mode::for_headers(&Headers::default().with("Transfer-Encoding", "chunked"));
        let (mut scratch, mut out) = (vec![0; 64], vec![]);
        while mode.read(&mut r, &mut scratch, &mut out).expect("no error") > 0 {}
        assert_eq!(out, b"hello world");
    }
}
