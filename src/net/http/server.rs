//! A thread-per-connection HTTP/1.1 server for the embedded local cluster.
//! Handlers answer with a whole body or with a stream of chunks fed from a
//! channel (the SUBSCRIBE responses of the scheduler and executor APIs).
//!
//! May import: the rest of `net::http`, `net::url` (request targets),
//! `wire::limits`.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::tls::{self, Accepted, Stream};
use super::{Headers, PartialHead, chunked, invalid, reason};
use crate::net::url::{Form, Url};

/// How long a client has to complete a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body the server accepts: room for the largest message
/// Mesos can parse (`limits::MESOS_MAX_MESSAGE`, base64 in JSON), which is
/// what a real master or agent takes.
pub const MAX_REQUEST_BODY: usize = crate::wire::limits::MAX_WIRE_BYTES;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

/// Called once when a streamed response ends, for whatever reason.
pub type OnClose = Box<dyn FnOnce() + Send>;

pub enum Reply {
    Full {
        status: u16,
        headers: Headers,
        body: Vec<u8>,
    },
    /// 200 with a chunked body: one chunk per item received; the stream ends
    /// when the sender is dropped or the client goes away.
    Stream {
        headers: Headers,
        rx: Receiver<Vec<u8>>,
        on_close: OnClose,
    },
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Headers::default(),
            body: vec![],
        }
    }

    /// A plain-text error body, as Mesos sends.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::Full {
            status,
            headers: Headers::default().with("Content-Type", "text/plain; charset=utf-8"),
            body: body.into().into_bytes(),
        }
    }

    pub fn json(status: u16, body: String) -> Reply {
        Reply::Full {
            status,
            headers: Headers::default().with("Content-Type", "application/json"),
            body: body.into_bytes(),
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        match &mut self {
            Reply::Full { headers, .. } | Reply::Stream { headers, .. } => headers.add(k, v),
        }
        self
    }
}

pub type Handler = Arc<dyn Fn(Request) -> Reply + Send + Sync>;

/// A running server; dropping it stops accepting and closes idle connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub fn bind(addr: &str, handler: Handler) -> io::Result<Server> {
        Self::bind_tls(addr, handler, None)
    }

    /// Like [`Self::bind`]; with a TLS configuration, every connection must
    /// handshake first (https only: a clear-text request gets a 400).
    pub fn bind_tls(
        addr: &str,
        handler: Handler,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = thread::Builder::new()
            .name("mesos-local-http".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (h, s, t) = (handler.clone(), stop2.clone(), tls.clone());
                    let _ = thread::Builder::new()
                        .name("mesos-local-conn".into())
                        .spawn(move || serve_connection(conn, h, s, t));
                }
            })?;
        Ok(Server {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(
    sock: TcpStream,
    handler: Handler,
    stop: Arc<AtomicBool>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let peer = match sock.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(250)));
    let stream = match tls {
        None => Stream::Plain(sock),
        Some(cfg) => {
            let give_up = || stop.load(Ordering::SeqCst);
            match tls::server_handshake(sock, cfg, HANDSHAKE_TIMEOUT, &give_up) {
                Accepted::Tls(s) => s,
                Accepted::PlainHttp | Accepted::Failed => return,
            }
        }
    };
    let _ = stream.tcp().set_write_timeout(None);
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader, peer, &stop) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = write_full(
                        reader.get_mut(),
                        400,
                        &Headers::default(),
                        e.to_string().as_bytes(),
                        false,
                    );
                }
                break;
            }
        };
        let close = req
            .headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match handler(req) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                if write_full(reader.get_mut(), status, &headers, &body, close).is_err() || close {
                    break;
                }
            }
            Reply::Stream {
                headers,
                rx,
                on_close,
            } => {
                stream_body(reader.get_mut(), &headers, rx, &stop);
                on_close();
                break;
            }
        }
    }
    reader.get_mut().close();
}

/// Reads a request, waiting through read timeouts until data or `stop`.
fn read_request(
    reader: &mut BufReader<Stream>,
    peer: SocketAddr,
    stop: &AtomicBool,
) -> io::Result<Option<Request>> {
    // Bytes of a head survive read timeouts: a slow client is not cut off.
    let mut partial = PartialHead::default();
    let head = loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match partial.read(reader) {
            Ok(Some(h)) => break h,
            Ok(None) => return Ok(None),
            Err(e) if super::client::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                continue;
            }
            Err(e) => return Err(e),
        }
    };
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut hdrs);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("malformed HTTP request")),
    }
    let method = req.method.unwrap_or("GET").to_string();
    let target = req.path.unwrap_or("/").to_string();
    let headers = Headers::from_httparse(req.headers);
    let target = Url::parse(&target, Form::Origin);
    let (path, query) = (
        target.path().to_string(),
        target.query().unwrap_or_default().to_string(),
    );
    reader
        .get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = if headers.is_chunked() {
        let mut dec = chunked::Decoder::default();
        let mut body = Vec::new();
        let mut buf = [0u8; 8192];
        while !dec.is_done() {
            let n = match reader.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Err(invalid("connection closed inside a chunked request body"));
            }
            dec.decode(&buf[..n], &mut body)?;
            if body.len() > MAX_REQUEST_BODY {
                return Err(invalid("request body too large"));
            }
        }
        body
    } else {
        let n = headers.content_length().unwrap_or(0);
        if n > MAX_REQUEST_BODY {
            return Err(invalid("request body too large"));
        }
        // Read as the bytes arrive: a Content-Length alone allocates little.
        let mut body = Vec::with_capacity(n.min(1 << 20));
        reader.by_ref().take(n as u64).read_to_end(&mut body)?;
        if body.len() < n {
            return Err(invalid("connection closed inside a request body"));
        }
        body
    };
    reader
        .get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_millis(250)))?;
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
        peer,
    }))
}

fn write_full(
    out: &mut Stream,
    status: u16,
    headers: &Headers,
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256 + body.len());
    buf.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (k, v) in &headers.0 {
        buf.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    buf.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    if close {
        buf.extend_from_slice(b"Connection: close\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(body);
    out.write_all(&buf)?;
    out.flush()
}

/// Writes a chunked 200 response from `rx` until the sender is dropped, the
/// client disconnects, or the server stops.
fn stream_body(out: &mut Stream, headers: &Headers, rx: Receiver<Vec<u8>>, stop: &AtomicBool) {
    // A client that stops reading for this long is treated as gone (a real
    // master buffers instead; this bounds our memory and threads).
    let _ = out.tcp().set_write_timeout(Some(Duration::from_secs(75)));
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    for (k, v) in &headers.0 {
        head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    if out.write_all(&head).and_then(|()| out.flush()).is_err() {
        return;
    }
    let mut buf = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(data) => {
                buf.clear();
                chunked::encode_chunk(&data, &mut buf);
                // Send whatever else is already queued in the same write.
                while let Ok(more) = rx.try_recv() {
                    chunked::encode_chunk(&more, &mut buf);
                    if buf.len() > 256 * 1024 {
                        break;
                    }
                }
                if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) || out.peer_closed() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = out.write_all(chunked::LAST_CHUNK);
                let _ = out.flush();
                return;
            }
        }
    }
}
