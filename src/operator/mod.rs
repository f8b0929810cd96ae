//! The operator API client (`POST /api/v1` on a master or an agent):
//! `rules` (what an answer means, redirects, backoff: sans-IO), `client`
//! (one call at a time, following redirects and the leader) and `watch`
//! (the master's SUBSCRIBE event stream on a background thread, handed to
//! the owner through the bounded queue and its wake-up fd).
//!
//! Beside the scheduler and executor drivers, never importing them; may
//! import `crate::driver` (what drivers hand their owner), the network,
//! wire and ground layers.

pub mod client;
pub mod rules;
pub mod watch;

pub use client::{Client, OperatorError, Options, Reply};
pub use watch::Watch;

/// The operator API's path, on masters and agents alike.
pub const OPERATOR_PATH: &str = "/api/v1";
