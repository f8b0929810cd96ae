//! lua-mesos: Apache Mesos v1 HTTP API drivers for Lua, plus an embedded
//! Mesos-compatible local cluster.
//!
//! Layers, each knowing only the ones below it (docs/design.md draws them):
//! - ground: [`base`] (lock, stop signal, errno, percent-decoding, the
//!   wake-up fd), [`wire`]
//!   (generated types, RecordIO, protobuf and Mesos-JSON codecs, limits),
//!   [`log`] (the one log sink), [`uuid`], [`queue`] (the bounded event queue);
//! - [`net`]: master strings, HTTP/1.1 and TLS, calls sent at most once,
//!   event streams, ZooKeeper, NATS, a TCP client, credentials;
//! - [`os`]: task processes, the zygote, channels, signals;
//! - [`scheduler`], [`executor`]: sans-IO protocol machines and the driver
//!   threads that carry out what they decide ([`driver`]: what both hand
//!   their owner); [`local`]: the embedded master and agents, beside the
//!   drivers and never importing them;
//! - `lua`: the mlua binding (with the `lua` feature); [`fuzzing`]: the fuzz
//!   harnesses.

pub mod base;
pub mod driver;
pub mod executor;
pub mod fuzzing;
pub mod local;
pub mod log;
pub mod net;
pub mod os;
pub mod queue;
pub mod scheduler;
pub mod uuid;
pub mod wire;

// The paths before the layer folders, kept for users of the crate (tests,
// benches, fuzz targets).
pub use base::notify;
pub use net::{credentials, endpoint, http, nats, stream, tcp, transport, zk};
pub use os::{channel, process, signals, zygote};

#[cfg(any(feature = "lua", feature = "lua-host"))]
mod lua;
/// The Lua conversions for a host that owns a Lua state (fuzzing).
#[cfg(feature = "lua-host")]
pub use lua::host as lua_host;
