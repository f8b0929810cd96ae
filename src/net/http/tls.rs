//! TLS for the HTTP client and server: rustls (ring provider), PEM files
//! through `rustls-pki-types`, root certificates from the system store or,
//! when a CA file is given, from that file only. Certificate and host-name
//! verification are always on; there is no clear-text fallback.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path} holds no {wanted} (expected PEM)")]
    Empty {
        what: &'static str,
        path: PathBuf,
        wanted: &'static str,
    },
    #[error("no usable root certificate in the system store{0}")]
    NoRoots(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |reason: String| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
            wanted: "certificate",
        });
    }
    Ok(certs)
}

/// A client configuration trusting only the certificates in `ca_file`, or
/// the system's root certificates when there is none.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_certs("CA file", path)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    what: "CA file",
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                return Err(TlsError::NoRoots(why));
            }
        }
    }
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A server configuration from a PEM certificate chain and its PEM key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certs("certificate file", cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "key file",
            path: key.to_path_buf(),
            wanted: "private key",
        },
        e => TlsError::File {
            what: "key file",
            path: key.to_path_buf(),
            reason: e.to_string(),
        },
    })?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(cfg))
}

/// A driver's TLS settings: the client configuration is built once, on
/// first use (so plain-http drivers never read the system store), and
/// shared by every connection of the driver.
#[derive(Debug, Clone, Default)]
pub struct TlsClient {
    ca_file: Option<PathBuf>,
    config: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

impl TlsClient {
    pub fn new(ca_file: Option<PathBuf>) -> Self {
        TlsClient {
            ca_file,
            config: Arc::default(),
        }
    }

    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The shared client configuration (or why it cannot be built).
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        self.config
            .get_or_init(|| client_config(self.ca_file.as_deref()).map_err(|e| e.to_string()))
            .clone()
    }
}

/// A TCP socket as rustls's transport. rustls writes records with
/// `write_vectored`, which std implements with `writev`; on a socket whose
/// peer has gone that raises SIGPIPE and kills a host process (luajit) that
/// does not ignore it. `TcpStream::write` uses `send(MSG_NOSIGNAL)`, so
/// every write goes through it.
#[derive(Debug)]
pub(crate) struct Sock(pub(crate) TcpStream);

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.0.write(b),
            None => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection's byte stream: clear text or TLS over a TCP socket.
pub(crate) enum Stream {
    Plain(TcpStream),
    Client(Box<rustls::StreamOwned<ClientConnection, Sock>>),
    Server(Box<rustls::StreamOwned<ServerConnection, Sock>>),
}

impl Stream {
    /// The TCP socket underneath (timeouts, shutdown, peeking).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Client(s) => &s.get_ref().0,
            Stream::Server(s) => &s.get_ref().0,
        }
    }

    /// Sends a TLS close_notify (best effort), then shuts the socket down.
    pub(crate) fn close(&mut self) {
        match self {
            Stream::Plain(_) => {}
            Stream::Client(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            Stream::Server(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }

    /// True if the peer has closed its side. Never blocks. For TLS, the
    /// raw socket carries records (a close_notify alert, say), so pending
    /// bytes are fed to rustls rather than peeked at.
    pub(crate) fn peer_closed(&mut self) -> bool {
        if self.tcp().set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match self {
            Stream::Plain(sock) => {
                let mut b = [0u8; 1];
                match sock.peek(&mut b) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            Stream::Client(s) => tls_peer_closed(&mut s.conn, &mut s.sock),
            Stream::Server(s) => tls_peer_closed(&mut s.conn, &mut s.sock),
        };
        let _ = self.tcp().set_nonblocking(false);
        closed
    }
}

fn tls_peer_closed<C, D>(conn: &mut C, sock: &mut Sock) -> bool
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
{
    loop {
        match conn.read_tls(sock) {
            Ok(0) => return true,
            Ok(_) => match conn.process_new_packets() {
                Ok(st) if st.peer_has_closed() => return true,
                Ok(_) => {}
                Err(_) => return true,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Client(s) => s.read(buf),
            Stream::Server(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Client(s) => s.write(buf),
            Stream::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Client(s) => s.flush(),
            Stream::Server(s) => s.flush(),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Why a handshake failed, in words: rustls's own error when there is one
/// (`invalid peer certificate: UnknownIssuer`).
fn handshake_error(e: &io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => r.to_string(),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection (is it serving TLS?)".into()
        }
        None => e.to_string(),
    }
}

/// Runs the client side of a handshake on `sock` within `timeout`.
pub(crate) fn client_handshake(
    sock: TcpStream,
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> io::Result<Stream> {
    let fail = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("TLS handshake with {host}:{port} failed: {why}"),
        )
    };
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| fail(format!("invalid server name {host:?}: {e}")))?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| fail(e.to_string()))?;
    let (old_r, old_w) = (sock.read_timeout()?, sock.write_timeout()?);
    let t = Some(timeout.max(Duration::from_millis(1)));
    sock.set_read_timeout(t)?;
    sock.set_write_timeout(t)?;
    let deadline = Instant::now() + timeout;
    let mut sock = Sock(sock);
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(e) if is_timeout(&e) => return Err(fail("timed out".into())),
            Err(e) => return Err(fail(handshake_error(&e))),
        }
    }
    sock.0.set_read_timeout(old_r)?;
    sock.0.set_write_timeout(old_w)?;
    Ok(Stream::Client(Box::new(rustls::StreamOwned::new(
        conn, sock,
    ))))
}

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// What became of a server-side handshake.
pub(crate) enum Accepted {
    Tls(Stream),
    /// The client spoke clear-text HTTP; it got a 400 and the socket is closed.
    PlainHttp,
    Failed,
}

/// Runs the server side of a handshake on `sock`, giving up after
/// `timeout` (or when `give_up` says so, checked every read timeout of the
/// socket): a client that never handshakes cannot pin the thread.
pub(crate) fn server_handshake(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
    give_up: &dyn Fn() -> bool,
) -> Accepted {
    let deadline = Instant::now() + timeout;
    let _ = sock.set_write_timeout(Some(timeout));
    // A clear-text request gets a clear-text refusal, never an answer.
    let mut first = [0u8; 1];
    loop {
        match sock.peek(&mut first) {
            Ok(0) => return Accepted::Failed,
            Ok(_) => break,
            Err(e) if is_timeout(&e) && Instant::now() < deadline && !give_up() => {}
            Err(_) => return Accepted::Failed,
        }
    }
    if first[0] != HANDSHAKE_RECORD {
        let body = "this server speaks https only\n";
        let resp = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(resp.as_bytes());
        let _ = sock.shutdown(std::net::Shutdown::Both);
        return Accepted::PlainHttp;
    }
    let Ok(mut conn) = ServerConnection::new(config) else {
        return Accepted::Failed;
    };
    let mut sock = Sock(sock);
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline && !give_up() => {}
            Err(_) => {
                let _ = sock.0.shutdown(std::net::Shutdown::Both);
                return Accepted::Failed;
            }
        }
    }
    Accepted::Tls(Stream::Server(Box::new(rustls::StreamOwned::new(
        conn, sock,
    ))))
}
