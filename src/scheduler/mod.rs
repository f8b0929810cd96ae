//! The scheduler side. `machine` holds every protocol rule (sans-IO: time
//! and random draws come in as arguments); `summary` reads what the machine
//! needs from an event; `driver` runs the threads and sockets and carries
//! out what the machine decides.
//!
//! May import: base, wire, endpoint, http, transport, stream, queue, zk,
//! credentials, log, driver (the shared driver types).

pub mod driver;
pub mod machine;
mod summary;

pub use summary::summarize;
