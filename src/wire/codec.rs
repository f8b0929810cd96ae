//! Encoding and decoding of whole messages in either Mesos media type, over a
//! descriptor pool built from our `proto/` files.

use std::sync::LazyLock;

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value};
use thiserror::Error;

use super::json::{self, JsonError};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    let bytes: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
    // The descriptor set is produced by build.rs from our own protos.
    DescriptorPool::decode(bytes).expect("embedded descriptor set is valid") // ok: built in
});

/// The descriptor pool of every message in `proto/`.
pub fn pool() -> &'static DescriptorPool {
    &POOL
}

/// The descriptor of a message type by its full name (`mesos.v1.TaskStatus`).
pub fn descriptor(full_name: &str) -> Result<MessageDescriptor, CodecError> {
    POOL.get_message_by_name(full_name)
        .ok_or_else(|| CodecError::UnknownType(full_name.to_string()))
}

/// The descriptor of a generated type.
pub fn descriptor_of<M: Name>() -> Result<MessageDescriptor, CodecError> {
    descriptor(&M::full_name())
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CodecError {
    #[error("protobuf decode error: {0}")]
    Protobuf(String),
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("unknown message type {0}")]
    UnknownType(String),
}

impl From<prost::DecodeError> for CodecError {
    fn from(e: prost::DecodeError) -> Self {
        CodecError::Protobuf(e.to_string())
    }
}

/// The two media types Mesos speaks on the scheduler and executor APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub const PROTOBUF_TYPE: &'static str = "application/x-protobuf";
    pub const JSON_TYPE: &'static str = "application/json";

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => Self::PROTOBUF_TYPE,
            Encoding::Json => Self::JSON_TYPE,
        }
    }

    /// Mesos compares Content-Type as an exact string: no parameters.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct {
            Self::PROTOBUF_TYPE => Some(Encoding::Protobuf),
            Self::JSON_TYPE => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "protobuf" => Some(Encoding::Protobuf),
            "json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
        }
    }
}

/// Encodes a dynamic message.
pub fn encode_dynamic(msg: &DynamicMessage, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => json::to_json(msg).into_bytes(),
    }
}

/// Decodes into a dynamic message. With `check_required`, a missing proto2
/// required field is an error (as in Mesos's own parsers).
pub fn decode_dynamic(
    desc: &MessageDescriptor,
    bytes: &[u8],
    enc: Encoding,
    check_required: bool,
) -> Result<DynamicMessage, CodecError> {
    match enc {
        Encoding::Protobuf => {
            let mut m = DynamicMessage::decode(desc.clone(), bytes)?;
            clear_unknown_enums(&mut m);
            if check_required {
                json::check_required(&m)?;
            }
            Ok(m)
        }
        Encoding::Json => {
            let v = json::from_json(desc, bytes);
            match v {
                Err(JsonError::MissingRequired(_)) if !check_required => {
                    let value: serde_json::Value = serde_json::from_slice(bytes)
                        .map_err(|e| JsonError::Syntax(e.to_string()))?;
                    Ok(json::from_value(desc, &value, "")?)
                }
                other => Ok(other?),
            }
        }
    }
}

/// proto2 semantics, as Mesos's C++ parser has them: an enum number the
/// schema does not know is not a value of the field (C++ moves it to the
/// unknown fields), so the field reads as unset, a required one as missing.
/// (prost-reflect keeps the number; a newer master's new enum values would
/// otherwise reach Lua as bare numbers and not survive a JSON encoding.)
pub fn clear_unknown_enums(m: &mut DynamicMessage) {
    let known = |e: &prost_reflect::EnumDescriptor, v: &Value| match v {
        Value::EnumNumber(n) => e.get_value(*n).is_some(),
        _ => true,
    };
    let mut unset = vec![];
    for (f, v) in m.fields_mut() {
        match (f.kind(), v) {
            (Kind::Enum(e), Value::List(items)) => items.retain(|x| known(&e, x)),
            (Kind::Enum(e), v) if !known(&e, v) => unset.push(f),
            (_, Value::Message(sub)) => clear_unknown_enums(sub),
            (_, Value::List(items)) => {
                for x in items {
                    if let Value::Message(sub) = x {
                        clear_unknown_enums(sub);
                    }
                }
            }
            (_, Value::Map(map)) => {
                for x in map.values_mut() {
                    if let Value::Message(sub) = x {
                        clear_unknown_enums(sub);
                    }
                }
            }
            _ => {}
        }
    }
    for f in unset {
        m.clear_field(&f);
    }
}

/// Encodes a generated message.
pub fn encode<M: Message + Name>(msg: &M, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => match to_dynamic(msg) {
            Ok(d) => json::to_json(&d).into_bytes(),
            // Unreachable with our own types; fall back to an empty object.
            Err(_) => b"{}".to_vec(),
        },
    }
}

/// Encodes a generated message; in JSON, the repeated fields named in
/// `keep` are written even when empty ([`json::to_json_keeping`]).
pub fn encode_keeping<M: Message + Name>(msg: &M, enc: Encoding, keep: &[&str]) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => match to_dynamic(msg) {
            Ok(d) => json::to_json_keeping(&d, keep).into_bytes(),
            Err(_) => b"{}".to_vec(),
        },
    }
}

/// Decodes a generated message. Protobuf input goes straight to prost (fast
/// path, tolerant of missing required fields unless `check_required`).
pub fn decode<M: Message + Name + Default>(
    bytes: &[u8],
    enc: Encoding,
    check_required: bool,
) -> Result<M, CodecError> {
    match (enc, check_required) {
        (Encoding::Protobuf, false) => Ok(M::decode(bytes)?),
        // What the strict direct check passes, prost reads exactly as the
        // descriptor-based path with its required-field check would.
        (Encoding::Protobuf, true)
            if super::schema::message(&M::full_name())
                .is_some_and(|m| super::direct::pb::check_strict(m, bytes).is_ok()) =>
        {
            Ok(M::decode(bytes)?)
        }
        _ => {
            let d = decode_dynamic(&descriptor_of::<M>()?, bytes, enc, check_required)?;
            Ok(d.transcode_to::<M>()?)
        }
    }
}

/// A generated message as a dynamic one.
pub fn to_dynamic<M: Message + Name>(msg: &M) -> Result<DynamicMessage, CodecError> {
    let mut d = DynamicMessage::new(descriptor_of::<M>()?);
    d.transcode_from(msg)?;
    Ok(d)
}
