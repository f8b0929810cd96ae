//! The HTTP server with slow clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use mesos::http::server::{Reply, Request, Server};

#[test]
fn a_request_head_split_by_a_pause_longer_than_the_read_tick_is_served() {
    let server = Server::bind(
        "127.0.0.1:0",
        Arc::new(|req: Request| Reply::text(200, format!("{} {}", req.method, req.path))),
    )
    .unwrap();
    let mut c = TcpStream::connect(server.addr()).unwrap();
    c.write_all(b"GET /hea").unwrap();
    // The scenario itself: a client slower than the server's 250 ms read tick.
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(b"lth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("GET /health"), "{out}");
}
