//! A NATS client (core protocol, no TLS, no JetStream): the optional broker
//! transport of distributed events, and a `mesos.nats` client for Lua.
//!
//! - [`url`] reads `nats://[user:pass@|token@]host:port`;
//! - [`parse`] and [`encode`] are the sans-IO protocol (server operations
//!   in, client operations out), bounded and split-anywhere safe;
//! - [`conn`] is the [`Connection`] (handshake, writes under a mutex,
//!   flush, request/reply, bounded message queue with a readable fd);
//! - `shared` and `reader`: the state the caller and the reader thread share,
//!   and that thread.

pub mod conn;
pub mod encode;
pub mod error;
pub mod parse;
mod reader;
mod shared;
pub mod url;

pub use conn::{Connection, Options, State, Stats};
pub use error::NatsError;
pub use parse::{Info, Msg};
