//! lua-mesos: Apache Mesos v1 HTTP API drivers for Lua, plus an embedded
//! Mesos-compatible local cluster.
//!
//! Layers, each knowing only the ones below it:
//! - [`wire`]: generated types, RecordIO, protobuf and Mesos-JSON codecs;
//! - [`http`]: a small HTTP/1.1 client and server;
//! - [`transport`], [`stream`], [`notify`]: master strings and redirects,
//!   event streams, the wake-up fd;
//! - [`uuid`]: version-4 UUIDs;
//! - [`log`]: the one log sink (stderr, or queued for Lua);
//! - [`tcp`]: a small blocking TCP client (the remote debugger's link);
//! - [`scheduler`]: the connection state machine and the driver's I/O threads;
//! - [`zk`]: master detection and election through ZooKeeper;
//! - [`nats`]: a NATS client (the broker transport of distributed events);
//! - [`local`]: the embedded master and agent (built on `wire` and `http`
//!   only, never on the drivers);
//! - `lua`: the mlua binding (with the `lua` feature).

pub mod base;
pub mod channel;
pub mod credentials;
pub mod driver;
pub mod endpoint;
pub mod executor;
pub mod fuzzing;
pub mod http;
pub mod local;
pub mod log;
pub mod nats;
pub mod notify;
pub mod process;
pub mod queue;
pub mod scheduler;
pub mod signals;
pub mod stream;
pub mod tcp;
pub mod transport;
pub mod uuid;
pub mod wire;
pub mod zk;
pub mod zygote;

#[cfg(any(feature = "lua", feature = "lua-host"))]
mod lua;
/// The Lua conversions for a host that owns a Lua state (fuzzing).
#[cfg(feature = "lua-host")]
pub use lua::host as lua_host;
