//! Where the master is: parsing master strings into candidate endpoints and
//! resolving redirect locations.

use std::fmt;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

use crate::http::Headers;
use crate::http::client::{Conn, Response};
use crate::http::tls::TlsClient;

/// Connects to `target`, over TLS when it is an `https` endpoint (never
/// falling back to clear text), or to its Unix domain socket.
pub fn connect(target: &Endpoint, timeout: Duration, tls: &TlsClient) -> std::io::Result<Conn> {
    if let Some(path) = &target.unix {
        return Conn::open_unix(path);
    }
    let config = if target.tls {
        Some(tls.config().map_err(std::io::Error::other)?)
    } else {
        None
    };
    Conn::open(&target.host, target.port, timeout, config)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// A Unix domain socket to connect to instead of `host:port` (an
    /// agent's `MESOS_DOMAIN_SOCKET`); always clear text.
    pub unix: Option<PathBuf>,
}

impl Endpoint {
    /// A TCP endpoint.
    pub fn tcp(host: impl Into<String>, port: u16, tls: bool) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls,
            unix: None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.unix {
            return write!(f, "http+unix://{}", path.display());
        }
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MasterSpecError {
    #[error(
        "invalid master {0:?}: expected host:port, http(s)://host:port or a comma-separated list"
    )]
    Invalid(String),
    #[error("master {0:?}: {1}")]
    Unsupported(String, String),
    #[error("master file {0}: {1}")]
    File(String, String),
}

/// Parses one endpoint: `host`, `host:port`, `master@host:port`,
/// `http://host[:port][/...]`, `https://...`, `[v6]:port`.
pub fn parse_endpoint(s: &str, default_port: u16) -> Result<Endpoint, MasterSpecError> {
    let bad = || MasterSpecError::Invalid(s.to_string());
    let s = s.trim();
    let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else {
        (false, s)
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    if hostport.is_empty() {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if tail.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (hostport.to_string(), if tls { 443 } else { default_port }),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(Endpoint::tcp(host, port, tls))
}

/// Where to find the leading master.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterSpec {
    /// Candidates tried in order.
    Endpoints(Vec<Endpoint>),
    /// Followed through a ZooKeeper group.
    ZooKeeper(crate::zk::ZkUrl),
}

/// Parses any master string: `zk://...` (also inside a `file://`), or what
/// [`parse_masters`] takes.
pub fn parse_master_spec(spec: &str) -> Result<MasterSpec, MasterSpecError> {
    let spec = spec.trim();
    if let Some(path) = spec.strip_prefix("file://") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if text.trim().starts_with("zk://") {
            return parse_master_spec(text.trim());
        }
    }
    if spec.starts_with("zk://") {
        // The URL may hold a password: errors never quote it.
        return crate::zk::ZkUrl::parse(spec)
            .map(MasterSpec::ZooKeeper)
            .map_err(|e| MasterSpecError::Unsupported("zk://...".into(), e));
    }
    parse_masters(spec).map(MasterSpec::Endpoints)
}

/// Parses a master string into the candidates to try in order.
/// `file:///path` is read and parsed again; `zk://` is not handled here.
pub fn parse_masters(spec: &str) -> Result<Vec<Endpoint>, MasterSpecError> {
    let spec = spec.trim();
    if let Some(path) = spec.strip_prefix("file://") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if text.trim().starts_with("file://") {
            return Err(MasterSpecError::File(
                path.to_string(),
                "nested file:// master".into(),
            ));
        }
        return parse_masters(&text);
    }
    if spec.starts_with("zk://") {
        return Err(MasterSpecError::Unsupported(
            "zk://...".into(),
            "a ZooKeeper group is not a list of endpoints (use parse_master_spec)".into(),
        ));
    }
    let out: Vec<Endpoint> = spec
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse_endpoint(p, 5050))
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(MasterSpecError::Invalid(spec.to_string()));
    }
    Ok(out)
}

/// Resolves a redirect `Location` (often protocol-relative, `//host:port/path`)
/// against the endpoint that sent it. Returns the new endpoint and path.
pub fn resolve_location(from: &Endpoint, location: &str) -> Option<(Endpoint, String)> {
    let loc = location.trim();
    let (tls, rest) = if let Some(r) = loc.strip_prefix("//") {
        (from.tls, r)
    } else if let Some(r) = loc.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = loc.strip_prefix("http://") {
        (false, r)
    } else if loc.starts_with('/') {
        return Some((from.clone(), loc.to_string()));
    } else {
        return None;
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if tls { 443 } else { 80 };
    let mut ep = parse_endpoint(hostport, default).ok()?;
    ep.tls = tls;
    Some((ep, path))
}

/// A keep-alive connection for ordinary (non-SUBSCRIBE) calls, reconnecting
/// once when the pooled connection went stale. Its socket is published in
/// `sock` so that another thread can shut it down.
pub struct CallConn {
    conn: Option<Conn>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub sock: Arc<Mutex<Option<TcpStream>>>,
    pub tls: TlsClient,
}

impl CallConn {
    pub fn new(connect_timeout: Duration, read_timeout: Duration, tls: TlsClient) -> Self {
        CallConn {
            conn: None,
            connect_timeout,
            read_timeout,
            sock: Arc::default(),
            tls,
        }
    }

    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// POSTs `body` to `target` and reads the whole response. The call is
    /// sent at most once: Mesos calls are not idempotent (a second ACCEPT
    /// finds its offer used and loses the tasks), so once the request may
    /// have reached the server, any failure is the caller's to report, never
    /// a reason to send it again. A pooled connection the server has closed
    /// is noticed before sending and replaced.
    pub fn post(
        &mut self,
        target: &Endpoint,
        path: &str,
        headers: &Headers,
        body: &[u8],
    ) -> Result<Response, String> {
        if self.conn.as_mut().is_some_and(|c| {
            c.host() != target.host
                || c.port() != target.port
                || c.is_tls() != target.tls
                || c.unix_path() != target.unix.as_deref()
                || c.peer_closed()
        }) {
            self.conn = None;
        }
        let mut c = match self.conn.take() {
            Some(c) => c,
            None => {
                let c = connect(target, self.connect_timeout, &self.tls)
                    .map_err(|e| format!("cannot connect to {target}: {e}"))?;
                let _ = c.set_read_timeout(Some(self.read_timeout));
                if let Ok(h) = c.shutdown_handle() {
                    *self.sock.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                }
                c
            }
        };
        // A failed round trip drops the connection: it is not kept.
        let r = c.roundtrip("POST", path, headers, body).map_err(|e| {
            format!(
                "call to {target} failed: {e} (outcome unknown: not sent again, as {target} may have acted on it)"
            )
        })?;
        let close = r
            .headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !close {
            self.conn = Some(c);
        }
        Ok(r)
    }

    /// Shuts the current socket down (from any thread).
    pub fn shutdown(sock: &Mutex<Option<TcpStream>>) {
        if let Some(s) = sock.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// Reads one request (head and Content-Length body) from `r`.
    fn read_request(r: &mut BufReader<TcpStream>) -> Option<String> {
        let mut head = String::new();
        let mut len = 0;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        Some(head)
    }

    /// A server that reads each request whole and closes the connection
    /// without answering (a master that took a call, its answer lost), and
    /// one that answers, then closes the idle connection.
    #[test]
    fn a_call_is_sent_at_most_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(0));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let mut r = BufReader::new(sock);
                if read_request(&mut r).is_some() {
                    *seen2.lock().unwrap() += 1;
                }
            }
        });
        let mut c = CallConn::new(
            Duration::from_secs(2),
            Duration::from_secs(2),
            TlsClient::default(),
        );
        let target = Endpoint::tcp("127.0.0.1", port, false);
        let err = c
            .post(&target, "/api/v1/scheduler", &Headers::default(), b"{}")
            .unwrap_err();
        assert!(err.contains("not sent again"), "{err}");
        assert_eq!(
            *seen.lock().unwrap(),
            1,
            "the call reached the server twice"
        );
    }

    #[test]
    fn a_pooled_connection_the_server_closed_is_replaced_before_sending() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let mut r = BufReader::new(sock.try_clone().unwrap());
                if read_request(&mut r).is_some() {
                    let mut w = sock;
                    w.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                    // Close the idle keep-alive connection, then say so.
                    drop(w);
                    drop(r);
                    tx.send(()).unwrap();
                }
            }
        });
        let mut c = CallConn::new(
            Duration::from_secs(2),
            Duration::from_secs(2),
            TlsClient::default(),
        );
        let target = Endpoint::tcp("127.0.0.1", port, false);
        let hdrs = Headers::default();
        assert_eq!(c.post(&target, "/x", &hdrs, b"1").unwrap().status, 202);
        rx.recv().unwrap();
        // The server's FIN came over loopback before it said it closed.
        let r = c.post(&target, "/x", &hdrs, b"2");
        assert_eq!(
            r.map(|r| r.status),
            Ok(202),
            "the closed connection was used"
        );
        rx.recv().unwrap();
    }

    fn ep(h: &str, p: u16) -> Endpoint {
        Endpoint::tcp(h, p, false)
    }

    #[test]
    fn master_strings() {
        assert_eq!(parse_masters("m1:5050").unwrap(), vec![ep("m1", 5050)]);
        assert_eq!(parse_masters("m1").unwrap(), vec![ep("m1", 5050)]);
        assert_eq!(
            parse_masters("master@10.0.0.1:5051").unwrap(),
            vec![ep("10.0.0.1", 5051)]
        );
        assert_eq!(parse_masters("http://m1:80/").unwrap(), vec![ep("m1", 80)]);
        assert_eq!(
            parse_masters("m1:5050, m2:5051").unwrap(),
            vec![ep("m1", 5050), ep("m2", 5051)]
        );
        let s = parse_masters("https://m3").unwrap();
        assert_eq!(s[0].port, 443);
        assert!(s[0].tls);
        assert_eq!(parse_masters("[::1]:5050").unwrap(), vec![ep("::1", 5050)]);
        assert!(parse_masters("m1:notaport").is_err());
        assert!(parse_masters("").is_err());
        assert!(matches!(
            parse_masters("zk://h:2181/mesos"),
            Err(MasterSpecError::Unsupported(..))
        ));
    }

    #[test]
    fn file_master_is_read() {
        let p = std::env::temp_dir().join(format!("mesos-master-{}", std::process::id()));
        std::fs::write(&p, "m9:5050\n").unwrap();
        assert_eq!(
            parse_masters(&format!("file://{}", p.display())).unwrap(),
            vec![ep("m9", 5050)]
        );
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn protocol_relative_locations() {
        let from = Endpoint::tcp("m1", 5050, true);
        let (e, p) = resolve_location(&from, "//m2:5051/master/api/v1/scheduler").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls, p.as_str()),
            ("m2", 5051, true, "/master/api/v1/scheduler")
        );
        let (e, _) = resolve_location(&from, "http://m3:1/x").unwrap();
        assert!(!e.tls);
        assert!(resolve_location(&from, "garbage").is_none());
    }
}
