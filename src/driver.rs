//! What the scheduler and executor drivers share: their phase and what they
//! hand their owner. Imports the wire layer only.

use std::sync::OnceLock;

use prost_reflect::{DynamicMessage, ReflectMessage, Value};

use crate::wire::codec::{self, Encoding};
use crate::wire::schema::{self, Ty};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Disconnected,
    Subscribing,
    Subscribed,
    Stopped,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Disconnected => "disconnected",
            Phase::Subscribing => "subscribing",
            Phase::Subscribed => "subscribed",
            Phase::Stopped => "stopped",
        }
    }
}

/// A Mesos event (`mesos.v1.scheduler.Event` or `mesos.v1.executor.Event`)
/// as a driver hands it over: either the record as received, already
/// validated by the I/O thread with `wire::direct` (the owner decodes it
/// straight into its own representation, e.g. Lua tables, so nothing is
/// decoded twice), or a message the descriptor-based path decoded (what
/// the direct decoder leaves to it). Either way it reads as a
/// `DynamicMessage` (through `Deref`, decoded on first use).
pub struct Event {
    raw: Option<Raw>,
    /// The message's schema index (`wire::schema`).
    schema: u16,
    /// The `type` field's value name.
    type_name: Option<&'static str>,
    message: OnceLock<DynamicMessage>,
}

struct Raw {
    bytes: Vec<u8>,
    encoding: Encoding,
}

impl Event {
    /// A record that `wire::direct` validated as message `schema`, whose
    /// `type` is `type_name`.
    pub fn raw(
        bytes: Vec<u8>,
        encoding: Encoding,
        schema: u16,
        type_name: Option<&'static str>,
    ) -> Event {
        Event {
            raw: Some(Raw { bytes, encoding }),
            schema,
            type_name,
            message: OnceLock::new(),
        }
    }

    /// A decoded message.
    pub fn decoded(m: DynamicMessage) -> Event {
        let schema = schema::message(m.descriptor().full_name()).unwrap_or(0);
        Event::decoded_as(m, schema)
    }

    /// A decoded message of type `schema` (a `wire::schema` index).
    pub fn decoded_as(m: DynamicMessage, schema: u16) -> Event {
        let set = m.has_field_by_name("type");
        let type_name = match m.get_field_by_name("type").as_deref() {
            Some(Value::EnumNumber(n)) if set => schema::msg(schema)
                .field_by_name(b"type")
                .and_then(|f| match f.ty {
                    Ty::Enum(e) => schema::enm(e).name_of(*n),
                    _ => None,
                }),
            _ => None,
        };
        let message = OnceLock::new();
        let _ = message.set(m);
        Event {
            raw: None,
            schema,
            type_name,
            message,
        }
    }

    /// The event's `type` (`"OFFERS"`, ...), if set to a known value.
    pub fn type_name(&self) -> Option<&'static str> {
        self.type_name
    }

    /// The record as received (bytes, encoding, schema index), unless the
    /// event was decoded by the descriptor-based path.
    pub fn raw_bytes(&self) -> Option<(&[u8], Encoding, u16)> {
        self.raw
            .as_ref()
            .map(|r| (r.bytes.as_slice(), r.encoding, self.schema))
    }

    /// The event as a `DynamicMessage` (decoded on first use).
    pub fn message(&self) -> &DynamicMessage {
        self.message.get_or_init(|| {
            // The schema is generated from the pool's own descriptor set.
            let desc = codec::descriptor(schema::msg(self.schema).name)
                .expect("every schema message is in the pool"); // ok: built in
            match &self.raw {
                Some(r) => codec::decode_dynamic(&desc, &r.bytes, r.encoding, false)
                    .unwrap_or_else(|_| DynamicMessage::new(desc)),
                None => DynamicMessage::new(desc),
            }
        })
    }
}

impl From<DynamicMessage> for Event {
    fn from(m: DynamicMessage) -> Event {
        Event::decoded(m)
    }
}

impl std::ops::Deref for Event {
    type Target = DynamicMessage;
    fn deref(&self) -> &DynamicMessage {
        self.message()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("type", &self.type_name)
            .field(
                "raw",
                &self.raw.as_ref().map(|r| (r.bytes.len(), r.encoding)),
            )
            .finish()
    }
}

/// What a driver hands its owner, in order, through its event queue.
#[derive(Debug)]
pub enum Output {
    /// A Mesos event (`mesos.v1.scheduler.Event` or `mesos.v1.executor.Event`).
    Event(Event),
    /// The subscription was lost or could not be made.
    Disconnected(String),
    /// A call was rejected or could not be delivered.
    CallFailed { call_type: String, reason: String },
    /// The driver has stopped; nothing follows.
    Stopped(String),
}

impl Output {
    /// Logs what the driver reports to its owner (events are not logged).
    pub fn log(&self, source: &'static str) {
        use crate::log::Level;
        match self {
            Output::Event(_) => {}
            Output::Disconnected(why) => crate::log!(Level::Warn, source, "disconnected: {why}"),
            Output::CallFailed { call_type, reason } => {
                crate::log!(Level::Warn, source, "{call_type} failed: {reason}")
            }
            Output::Stopped(why) => crate::log!(Level::Info, source, "stopped: {why}"),
        }
    }
}
