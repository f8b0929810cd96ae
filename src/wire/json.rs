//! Mesos's JSON mapping of protobuf messages (stout's `JSON::protobuf`), which
//! is not protobuf's canonical JSON: proto field names in snake_case, enum
//! value names as strings, standard padded base64 for bytes, 64-bit integers
//! as plain numbers, non-finite doubles as bare `Infinity`/`NaN` tokens, and
//! unset optional fields that declare an explicit default written out with it.
//! Works on `prost_reflect::DynamicMessage`, so it covers every message type.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use prost_reflect::{
    Cardinality, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    Value,
};
use serde_json::Value as Json;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum JsonError {
    #[error("invalid JSON: {0}")]
    Syntax(String),
    #[error("{path}: {msg}")]
    Field { path: String, msg: String },
    #[error("missing required fields: {0}")]
    MissingRequired(String),
}

fn field_err(path: &str, msg: impl Into<String>) -> JsonError {
    JsonError::Field {
        path: if path.is_empty() {
            "(message)".into()
        } else {
            path.to_string()
        },
        msg: msg.into(),
    }
}

// ---------------------------------------------------------------- writing

/// Serialises a message the way a Mesos master or agent does.
pub fn to_json(msg: &DynamicMessage) -> String {
    to_json_keeping(msg, &[])
}

/// [`to_json`], except that the repeated fields named in `keep` (full
/// names, e.g. `mesos.v1.master.Response.GetAgents.agents`) are written
/// even when empty, as `[]`: Mesos's operator API writes some lists itself
/// rather than through its protobuf writer, and always writes those.
pub fn to_json_keeping(msg: &DynamicMessage, keep: &[&str]) -> String {
    let mut out = String::with_capacity(256);
    write_message(&mut out, msg, keep);
    out
}

fn has_explicit_default(f: &FieldDescriptor) -> bool {
    let p = f.field_descriptor_proto();
    p.default_value.is_some()
        && !p
            .options
            .as_ref()
            .and_then(|o| o.deprecated)
            .unwrap_or(false)
        && f.containing_oneof().is_none()
}

fn write_message(out: &mut String, msg: &DynamicMessage, keep: &[&str]) {
    out.push('{');
    let mut first = true;
    for f in msg.descriptor().fields() {
        let set = msg.has_field(&f);
        let defaulted = f.cardinality() == Cardinality::Optional && has_explicit_default(&f);
        let kept = f.is_list() && !keep.is_empty() && keep.contains(&f.full_name());
        if !set && !defaulted && !kept {
            continue;
        }
        let v = msg.get_field(&f);
        match v.as_ref() {
            Value::List(l) if l.is_empty() && !kept => continue,
            Value::Map(m) if m.is_empty() => continue,
            _ => {}
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, f.name());
        out.push(':');
        write_field_value(out, &f, &v, keep);
    }
    out.push('}');
}

fn write_field_value(out: &mut String, f: &FieldDescriptor, v: &Value, keep: &[&str]) {
    match v {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, &f.kind(), item, keep);
            }
            out.push(']');
        }
        Value::Map(map) => {
            let vk = match f.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                k => k,
            };
            let mut keys: Vec<&MapKey> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, &map_key_string(k));
                out.push(':');
                if let Some(val) = map.get(k) {
                    write_value(out, &vk, val, keep);
                }
            }
            out.push('}');
        }
        single => write_value(out, &f.kind(), single, keep),
    }
}

fn map_key_string(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

fn write_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else if x.fract() == 0.0 && x.abs() < 1e16 {
        let _ = write!(out, "{x:.1}");
    } else {
        let _ = write!(out, "{x}");
    }
}

fn write_value(out: &mut String, kind: &Kind, v: &Value, keep: &[&str]) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::F32(x) => write_f64(out, f64::from(*x)),
        Value::F64(x) => write_f64(out, *x),
        Value::String(s) => write_str(out, s),
        Value::Bytes(b) => write_str(out, &B64.encode(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(ev) => write_str(out, ev.name()),
                None => {
                    let _ = write!(out, "{n}");
                }
            },
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::Message(m) => write_message(out, m, keep),
        Value::List(_) | Value::Map(_) => out.push_str("null"),
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------- reading

/// Parses JSON text into a message of type `desc`, with Mesos's parser rules:
/// unknown keys are ignored, integers may be numbers or numeric strings,
/// booleans may be `"true"`/`"false"`, doubles accept `"Infinity"`, an
/// unknown enum name drops an optional field. Required fields are checked.
pub fn from_json(desc: &MessageDescriptor, text: &[u8]) -> Result<DynamicMessage, JsonError> {
    let value: Json = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            // Mesos writes non-finite doubles as bare tokens; accept them.
            let fixed =
                quote_bare_non_finite(text).ok_or_else(|| JsonError::Syntax(e.to_string()))?;
            serde_json::from_slice(&fixed).map_err(|e| JsonError::Syntax(e.to_string()))?
        }
    };
    let msg = from_value(desc, &value, "")?;
    check_required(&msg)?;
    Ok(msg)
}

/// Rewrites bare `Infinity`, `-Infinity` and `NaN` tokens outside strings as
/// strings. `None` if there were none (the JSON was broken for another reason).
fn quote_bare_non_finite(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let (mut i, mut in_str, mut changed) = (0, false, false);
    while i < text.len() {
        let c = text[i];
        if in_str {
            out.push(c);
            if c == b'\\' && i + 1 < text.len() {
                out.push(text[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let tok = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = tok {
            out.push(b'"');
            out.extend_from_slice(t);
            out.push(b'"');
            i += t.len();
            changed = true;
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Builds a message from a parsed JSON value (no required-field check).
pub fn from_value(
    desc: &MessageDescriptor,
    v: &Json,
    path: &str,
) -> Result<DynamicMessage, JsonError> {
    let Json::Object(obj) = v else {
        return Err(field_err(
            path,
            format!("expected an object, got {}", json_type(v)),
        ));
    };
    let mut msg = DynamicMessage::new(desc.clone());
    for (key, val) in obj {
        let Some(f) = desc.get_field_by_name(key) else {
            continue; // Mesos ignores unknown keys
        };
        let p = join(path, key);
        if val.is_null() {
            continue;
        }
        if f.is_map() {
            let Json::Object(entries) = val else {
                return Err(field_err(
                    &p,
                    format!("expected an object, got {}", json_type(val)),
                ));
            };
            let Kind::Message(entry) = f.kind() else {
                continue;
            };
            let (kf, vf) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let mut map = std::collections::HashMap::new();
            for (k, ev) in entries {
                let ep = format!("{p}[{k}]");
                let key =
                    map_key_from_str(&kf.kind(), k).ok_or_else(|| field_err(&ep, "bad map key"))?;
                if let Some(val) = scalar_or_message(&vf.kind(), ev, &ep)? {
                    map.insert(key, val);
                }
            }
            msg.set_field(&f, Value::Map(map));
        } else if f.is_list() {
            let Json::Array(items) = val else {
                return Err(field_err(
                    &p,
                    format!("expected an array, got {}", json_type(val)),
                ));
            };
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(v) = scalar_or_message(&f.kind(), item, &format!("{p}[{}]", i + 1))? {
                    list.push(v);
                }
            }
            msg.set_field(&f, Value::List(list));
        } else if let Some(v) = scalar_or_message(&f.kind(), val, &p)? {
            msg.set_field(&f, v);
        }
    }
    Ok(msg)
}

/// Parses a map key written as text (JSON object keys, Lua keys).
pub fn map_key_from_str(kind: &Kind, s: &str) -> Option<MapKey> {
    Some(match kind {
        Kind::String => MapKey::String(s.to_string()),
        Kind::Bool => MapKey::Bool(s.parse().ok()?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(s.parse().ok()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(s.parse().ok()?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(s.parse().ok()?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(s.parse().ok()?),
        _ => return None,
    })
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn int_of(v: &Json) -> Option<i128> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 1.8e19)
                    .map(|x| x as i128)
            }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            s => s.trim().parse().ok(),
        },
        _ => None,
    }
}

/// Converts one JSON value to a field value. `Ok(None)` drops the value (an
/// unknown enum name, as Mesos does for optional enums).
fn scalar_or_message(kind: &Kind, v: &Json, path: &str) -> Result<Option<Value>, JsonError> {
    let bad = |what: &str| field_err(path, format!("expected {what}, got {}", json_type(v)));
    let range = |what: &str| field_err(path, format!("{what} out of range"));
    Ok(Some(match kind {
        Kind::Double => Value::F64(float_of(v).ok_or_else(|| bad("a number"))?),
        Kind::Float => Value::F32(float_of(v).ok_or_else(|| bad("a number"))? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let n = int_of(v).ok_or_else(|| bad("an integer"))?;
            Value::I32(i32::try_from(n).map_err(|_| range("int32"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let n = int_of(v).ok_or_else(|| bad("an integer"))?;
            Value::I64(i64::try_from(n).map_err(|_| range("int64"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let n = int_of(v).ok_or_else(|| bad("an integer"))?;
            Value::U32(u32::try_from(n).map_err(|_| range("uint32"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let n = int_of(v).ok_or_else(|| bad("an integer"))?;
            Value::U64(u64::try_from(n).map_err(|_| range("uint64"))?)
        }
        Kind::Bool => match v {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" => Value::Bool(true),
            Json::String(s) if s == "false" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        Kind::String => match v {
            Json::String(s) => Value::String(s.clone()),
            _ => return Err(bad("a string")),
        },
        Kind::Bytes => match v {
            Json::String(s) => {
                let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                let b = B64
                    .decode(clean.as_bytes())
                    .map_err(|e| field_err(path, format!("invalid base64: {e}")))?;
                Value::Bytes(b.into())
            }
            _ => return Err(bad("a base64 string")),
        },
        Kind::Enum(e) => match v {
            Json::String(s) => match e.get_value_by_name(s) {
                Some(ev) => Value::EnumNumber(ev.number()),
                None => return Ok(None),
            },
            _ => return Err(bad("an enum name")),
        },
        Kind::Message(m) => Value::Message(from_value(m, v, path)?),
    }))
}

/// Lists the proto2 required fields missing anywhere in `msg`, as paths.
pub fn missing_required(msg: &DynamicMessage) -> Vec<String> {
    let mut out = vec![];
    collect_missing(msg, &mut Vec::new(), &mut out);
    out
}

/// `Err(MissingRequired)` naming every missing required field.
pub fn check_required(msg: &DynamicMessage) -> Result<(), JsonError> {
    let missing = missing_required(msg);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(JsonError::MissingRequired(missing.join(", ")))
    }
}

/// One step of a field path; the path is only formatted when a field is
/// actually missing (this check runs on every message the local cluster
/// decodes, so it must not allocate for present fields).
enum Step {
    Field(FieldDescriptor),
    Index(usize),
    Key(String),
}

fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for st in path {
        match st {
            Step::Field(f) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(f.name());
            }
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Step::Key(k) => {
                let _ = write!(out, "[{k}]");
            }
        }
    }
    out
}

fn collect_missing(msg: &DynamicMessage, path: &mut Vec<Step>, out: &mut Vec<String>) {
    for f in msg.descriptor().fields() {
        let present = msg.has_field(&f);
        if f.cardinality() == Cardinality::Required && !present {
            path.push(Step::Field(f));
            out.push(render(path));
            path.pop();
            continue;
        }
        if !present || !matches!(f.kind(), Kind::Message(_)) {
            continue;
        }
        let value = msg.get_field(&f);
        path.push(Step::Field(f));
        match value.as_ref() {
            Value::Message(m) => collect_missing(m, path, out),
            Value::List(items) => {
                for (i, it) in items.iter().enumerate() {
                    if let Value::Message(m) = it {
                        path.push(Step::Index(i + 1));
                        collect_missing(m, path, out);
                        path.pop();
                    }
                }
            }
            Value::Map(map) => {
                for (k, it) in map {
                    if let Value::Message(m) = it {
                        path.push(Step::Key(map_key_string(k)));
                        collect_missing(m, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}
