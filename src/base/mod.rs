//! The ground floor: small helpers that every layer may use (a lock that
//! survives poisoning, a stop signal, errno checks, percent-decoding, the wake-up fd). Imports nothing from
//! the crate.

pub mod notify;
mod os;
mod percent;
mod sync;

pub use os::cvt;
pub use percent::{Escapes, percent_decode};
pub use sync::{StopSignal, lock};
