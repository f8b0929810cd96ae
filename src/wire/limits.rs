//! How big one Mesos message may be, and the check every outgoing call goes
//! through. Mesos 1.11 parses the messages between its processes and the
//! bodies of v1 calls with protobuf's in-memory parser, whose only bound is
//! the protobuf ceiling of 2 GiB − 1; a status update of 140 MB went from
//! executor to scheduler through the real agent and master (docs/limits.md).
//! Payloads (status data, status messages, framework messages) are bounded
//! a little below that, so the rest of the message always fits.
//!
//! Imports nothing from the crate: the drivers and the local cluster use it.

use thiserror::Error;

/// The largest serialized protobuf message Mesos can parse or produce.
pub const MESOS_MAX_MESSAGE: usize = i32::MAX as usize;

/// Room kept for the rest of a message around its payload (ids, task info).
pub const HEADROOM: usize = 1 << 20;

/// Default bound on one payload: the ceiling less the headroom.
pub const DEFAULT_MAX_PAYLOAD: usize = MESOS_MAX_MESSAGE - HEADROOM;

/// Largest HTTP body or RecordIO record a message of the ceiling can take on
/// the wire: Mesos JSON carries bytes as base64 (4 bytes per 3).
pub const MAX_WIRE_BYTES: usize = MESOS_MAX_MESSAGE / 3 * 4 + 4 * HEADROOM;

/// A payload or message over its limit, found before anything was sent.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{what} of {size} bytes is over the limit of {max} bytes ({limit})")]
pub struct TooLarge {
    /// What was too big ("status data", "MESSAGE call", ...).
    pub what: String,
    pub size: usize,
    pub max: usize,
    /// The name of the limit: an option, or Mesos's ceiling.
    pub limit: &'static str,
}

/// The name of the payload limit in the drivers' Lua options.
pub const PAYLOAD_OPTION: &str = "max_payload_bytes";

/// Checks one payload against `max` (the `max_payload_bytes` option).
pub fn payload(what: &str, size: usize, max: usize) -> Result<(), TooLarge> {
    if size > max {
        return Err(TooLarge {
            what: what.into(),
            size,
            max,
            limit: PAYLOAD_OPTION,
        });
    }
    Ok(())
}

/// Checks a whole encoded call against Mesos's ceiling.
pub fn message(call_type: &str, encoded_len: usize) -> Result<(), TooLarge> {
    if encoded_len > MESOS_MAX_MESSAGE {
        return Err(TooLarge {
            what: format!("{call_type} call"),
            size: encoded_len,
            max: MESOS_MAX_MESSAGE,
            limit: "the largest message Mesos can parse",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_at_the_limit_passes_and_one_byte_over_fails() {
        assert_eq!(payload("status data", 1000, 1000), Ok(()));
        let e = payload("status data", 1001, 1000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "status data of 1001 bytes is over the limit of 1000 bytes (max_payload_bytes)"
        );
    }

    #[test]
    fn message_ceiling_is_protobufs() {
        assert!(message("UPDATE", MESOS_MAX_MESSAGE).is_ok());
        let e = message("UPDATE", MESOS_MAX_MESSAGE + 1).unwrap_err();
        assert!(
            e.to_string().starts_with("UPDATE call of 2147483648 bytes"),
            "{e}"
        );
    }

    // The wire bound holds a message of the ceiling in base64, and a
    // payload of the default leaves the headroom.
    const _: () = assert!(MAX_WIRE_BYTES > MESOS_MAX_MESSAGE.div_ceil(3) * 4);
    const _: () = assert!(DEFAULT_MAX_PAYLOAD + HEADROOM == MESOS_MAX_MESSAGE);
}
