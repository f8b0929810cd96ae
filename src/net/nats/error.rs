//! What can go wrong with a NATS connection. Messages name the server as
//! `host:port`, never the credentials of its URL.

use std::io;

use super::parse::ProtoError;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("bad NATS URL: {0}")]
    BadUrl(String),
    #[error("cannot connect to NATS server {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error(
        "NATS server {addr} requires TLS (tls_required in its INFO), which this client does not speak"
    )]
    TlsRequired { addr: String },
    #[error("NATS handshake with {addr} failed: {why}")]
    Handshake { addr: String, why: String },
    #[error(
        "invalid {what} {value:?}: must be non-empty, without whitespace or control characters"
    )]
    InvalidSubject { what: &'static str, value: String },
    #[error("payload of {len} bytes exceeds the server's max_payload of {max} bytes")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("unknown subscription id {0}")]
    UnknownSid(u64),
    #[error("NATS connection closed: {0}")]
    Closed(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, &'static str),
    #[error("NATS protocol error: {0}")]
    Protocol(#[from] ProtoError),
}
