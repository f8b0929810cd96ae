//! The ground floor: small helpers that every layer may use (a lock that
//! survives poisoning, a stop signal, errno checks). Imports nothing from
//! the crate.

mod os;
mod sync;

pub use os::cvt;
pub use sync::{StopSignal, lock};
