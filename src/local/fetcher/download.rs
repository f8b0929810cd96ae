//! Reading a source: a local file, or an HTTP(S) GET following redirects,
//! with the stall timeout on connecting, the handshake and every read;
//! [`Downloader::cancel`] shuts the sockets in use down at once.
//!
//! May import: `error`, `uri`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::error::{FetchError, MAX_REDIRECTS, Via, write_error};
use super::uri::{HttpUrl, Source};
use crate::base::lock;
use crate::net::http::Headers;
use crate::net::http::client::{OwnedBodyStream, is_timeout};
use crate::net::http::tls::TlsClient;
use crate::net::transport::{self};

/// An open source: its size when known up front, and its bytes.
pub(super) enum Body<'a> {
    File {
        file: File,
        size: u64,
    },
    Http {
        via: Via,
        size: Option<u64>,
        stream: OwnedBodyStream,
        _sock: SockGuard<'a>,
    },
}

impl Body<'_> {
    pub(super) fn size(&self) -> Option<u64> {
        match self {
            Body::File { size, .. } => Some(*size),
            Body::Http { size, .. } => *size,
        }
    }
}

/// Keeps a download's socket where [`Downloader::cancel`] can shut it down.
pub(super) struct SockGuard<'a> {
    pub(super) downloader: &'a Downloader,
    pub(super) id: u64,
}

impl Drop for SockGuard<'_> {
    fn drop(&mut self) {
        lock(&self.downloader.sockets).remove(&self.id);
    }
}

/// The network side of one agent's fetcher.
pub(super) struct Downloader {
    tls: TlsClient,
    stall_timeout: Duration,
    cancelled: AtomicBool,
    pub(super) sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
}

impl Downloader {
    pub(super) fn new(ca_file: Option<PathBuf>, stall_timeout: Duration) -> Downloader {
        Downloader {
            tls: TlsClient::new(ca_file),
            stall_timeout,
            cancelled: AtomicBool::new(false),
            sockets: Mutex::default(),
            next_socket: AtomicU64::new(0),
        }
    }

    /// Aborts every download in progress and any later one.
    pub(super) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        for s in lock(&self.sockets).values() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Opens a source: the file, or the HTTP response after redirects.
    pub(super) fn open(&self, source: &Source) -> Result<Body<'_>, FetchError> {
        match source {
            Source::Path(path) => {
                let file = File::open(path).map_err(FetchError::Source)?;
                let meta = file.metadata().map_err(FetchError::Source)?;
                if meta.is_dir() {
                    return Err(FetchError::Source(io::Error::other("is a directory")));
                }
                Ok(Body::File {
                    file,
                    size: meta.len(),
                })
            }
            Source::Http(url) => self.get(url),
        }
    }

    /// GET, following up to [`MAX_REDIRECTS`] redirects.
    pub(super) fn get(&self, first: &HttpUrl) -> Result<Body<'_>, FetchError> {
        let mut url = first.clone();
        for hop in 0..=MAX_REDIRECTS {
            let via = Via((hop > 0).then(|| url.to_string()));
            let timeout = self.stall_timeout;
            let mut conn = transport::connect(&url.ep, timeout, &self.tls).map_err(|e| {
                let text = e.to_string();
                if text.starts_with("TLS handshake") {
                    FetchError::Connect(text)
                } else {
                    FetchError::Connect(format!("cannot connect to {}: {text}", url.ep))
                }
            })?;
            let guard = self.register(&conn);
            if self.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            let read_err = |e: io::Error| self.read_error(&via, e);
            conn.set_read_timeout(Some(timeout)).map_err(read_err)?;
            let mut h = Headers::default()
                .with(
                    "User-Agent",
                    concat!("lua-mesos-fetcher/", env!("CARGO_PKG_VERSION")),
                )
                .with("Accept", "*/*")
                .with("Connection", "close");
            if let Some(a) = &url.auth {
                h.add("Authorization", a.clone());
            }
            conn.send_request("GET", &url.path, &h, &[])
                .map_err(read_err)?;
            let (status, headers) = conn.read_response_head().map_err(read_err)?;
            match status {
                200 => {
                    let size = if headers.is_chunked() {
                        None
                    } else {
                        headers.content_length().map(|n| n as u64)
                    };
                    return Ok(Body::Http {
                        via,
                        size,
                        stream: conn.into_stream(&headers),
                        _sock: guard,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = headers.get("location").unwrap_or("").to_string();
                    url = url.follow(&location).ok_or_else(|| FetchError::Redirect {
                        url: url.to_string(),
                        location,
                    })?;
                }
                status => {
                    return Err(FetchError::Status { status, via });
                }
            }
        }
        Err(FetchError::Redirects)
    }

    pub(super) fn register(&self, conn: &crate::net::http::client::Conn) -> SockGuard<'_> {
        let id = self.next_socket.fetch_add(1, Ordering::SeqCst);
        if let Ok(s) = conn.shutdown_handle() {
            lock(&self.sockets).insert(id, s);
        }
        SockGuard {
            downloader: self,
            id,
        }
    }

    pub(super) fn read_error(&self, via: &Via, e: io::Error) -> FetchError {
        if self.is_cancelled() {
            FetchError::Cancelled
        } else if is_timeout(&e) {
            FetchError::Stalled {
                secs: self.stall_timeout.as_secs_f64(),
                via: via.clone(),
            }
        } else {
            FetchError::Read {
                source: e,
                via: via.clone(),
            }
        }
    }

    /// Writes the body to `path` (removed again if anything fails);
    /// returns the bytes written.
    pub(super) fn save(&self, body: &mut Body<'_>, path: &Path) -> Result<u64, FetchError> {
        let mut out = File::create(path).map_err(|e| write_error(path, e))?;
        let r = self.copy(body, &mut out, path);
        if r.is_err() {
            drop(out);
            let _ = fs::remove_file(path);
        }
        r
    }

    pub(super) fn copy(
        &self,
        body: &mut Body<'_>,
        out: &mut File,
        path: &Path,
    ) -> Result<u64, FetchError> {
        let mut total = 0u64;
        match body {
            Body::File { file, .. } => {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FetchError::Source(e)),
                    };
                    out.write_all(&buf[..n]).map_err(|e| write_error(path, e))?;
                    total += n as u64;
                }
            }
            Body::Http { via, stream, .. } => {
                let mut buf = Vec::with_capacity(64 * 1024);
                loop {
                    buf.clear();
                    match stream.read_data(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {
                            out.write_all(&buf).map_err(|e| write_error(path, e))?;
                            total += buf.len() as u64;
                        }
                        Err(e) => return Err(self.read_error(via, e)),
                    }
                }
            }
        }
        Ok(total)
    }
}
