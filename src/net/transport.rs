//! Reaching a master: connecting to an endpoint (TCP, TLS or a Unix
//! socket) and the keep-alive connection for calls, which sends each call at
//! most once. Where the master is (endpoints, master strings, redirects)
//! lives in `crate::net::endpoint`, re-exported here.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::net::endpoint::{
    Endpoint, MasterSpec, MasterSpecError, parse_endpoint, parse_master_spec, parse_masters,
    resolve_location,
};
use crate::net::http::Headers;
use crate::net::http::client::{Conn, Response};
use crate::net::http::tls::TlsClient;

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
        // Every form through the one URL parser: IPv6 with a scheme, a
        // pid's or a URL's userinfo, default ports, trailing paths.
        assert_eq!(
            parse_masters("http://[::1]:5051/master").unwrap(),
            vec![ep("::1", 5051)]
        );
        assert_eq!(
            parse_masters("http://[::1]").unwrap(),
            vec![ep("::1", 5050)]
        );
        assert_eq!(
            parse_masters("http://u:p@m1").unwrap(),
            vec![ep("m1", 5050)]
        );
        assert_eq!(parse_masters("m1:5050/x/y").unwrap(), vec![ep("m1", 5050)]);
        assert_eq!(parse_masters("HTTP://m1:1").unwrap(), vec![ep("m1", 1)]);
        assert_eq!(
            parse_masters(" http://m1:1 ,https://m2 ").unwrap(),
            vec![ep("m1", 1), Endpoint::tcp("m2", 443, true)]
        );
        for bad in [
            "ftp://m1:1",
            "m1:",
            "[::1",
            "[::1]x",
            "m 1:5050",
            "h:1:2",
            "m1:70000",
        ] {
            assert_eq!(
                parse_masters(bad),
                Err(MasterSpecError::Invalid(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_masters("m1:notaport").unwrap_err().to_string(),
            "invalid master \"m1:notaport\": expected host:port, http(s)://host:port or a comma-separated list"
        );
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
        assert!(resolve_location(&from, "ftp://m3/x").is_none());
        assert_eq!(
            resolve_location(&from, "/api?x=1#f"),
            Some((from.clone(), "/api?x=1".to_string()))
        );
        assert_eq!(
            resolve_location(&from, "//[::1]"),
            Some((Endpoint::tcp("::1", 443, true), "/".to_string()))
        );
        assert_eq!(
            resolve_location(&from, "http://u:p@m4?q"),
            Some((ep("m4", 80), "/?q".to_string()))
        );
    }
}
