//! Talking to other processes over the network: the one URL parser
//! (`url`), where a master is (`endpoint`), HTTP/1.1 with TLS (`http`),
//! connecting and sending calls at most once (`transport`), reading event
//! streams (`stream`), ZooKeeper (`zk`), NATS (`nats`), a small TCP client
//! (`tcp`), HTTP Basic credentials (`credentials`).
//!
//! May import: base, wire, log, queue (the ground floor); never the
//! drivers, the local cluster or the binding.

pub mod credentials;
pub mod endpoint;
pub mod http;
pub mod nats;
pub mod stream;
pub mod tcp;
pub mod transport;
pub mod url;
pub mod zk;
