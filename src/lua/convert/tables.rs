//! Lua values <-> protobuf messages, generically over descriptors. Field names
//! are the proto names (snake_case), enums are value names, bytes are Lua
//! strings, and an ID message (a single `value` string) may be given as a
//! plain string. Errors name the path of the offending field.

use std::collections::HashMap;

use mlua::prelude::*;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

/// Converts a Lua value to a message of type `desc`.
pub fn to_message(
    desc: &MessageDescriptor,
    v: &LuaValue,
    path: &str,
) -> Result<DynamicMessage, String> {
    match v {
        LuaValue::Table(t) => table_to_message(desc, t, path),
        LuaValue::String(s) if is_id_message(desc) => {
            let mut m = DynamicMessage::new(desc.clone());
            let s = s
                .to_str()
                .map_err(|_| format!("{}: expected a UTF-8 string", show(path)))?;
            m.set_field_by_name("value", Value::String(s.to_string()));
            Ok(m)
        }
        other => match super::view_header::of(other) {
            // A view (lua/mesos/view.lua) of this message type: its bytes.
            Some((m, bytes)) if crate::wire::schema::msg(m).name == desc.full_name() => {
                let mut msg = DynamicMessage::decode(desc.clone(), bytes)
                    .map_err(|e| format!("{}: {e}", show(path)))?;
                crate::wire::codec::clear_unknown_enums(&mut msg);
                Ok(msg)
            }
            Some((m, _)) => Err(format!(
                "{}: expected a table ({}), got a view of {}",
                show(path),
                desc.name(),
                crate::wire::schema::msg(m).name
            )),
            None => Err(format!(
                "{}: expected a table ({}), got {}",
                show(path),
                desc.name(),
                other.type_name()
            )),
        },
    }
}

fn show(path: &str) -> &str {
    if path.is_empty() { "(message)" } else { path }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A message whose only field is `string value`.
fn is_id_message(desc: &MessageDescriptor) -> bool {
    let mut fields = desc.fields();
    matches!((fields.next(), fields.next()), (Some(f), None) if f.name() == "value" && matches!(f.kind(), Kind::String))
}

fn table_to_message(
    desc: &MessageDescriptor,
    t: &LuaTable,
    path: &str,
) -> Result<DynamicMessage, String> {
    let mut m = DynamicMessage::new(desc.clone());
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let key = match &k {
            LuaValue::String(s) => s.to_string_lossy(),
            other => {
                return Err(format!(
                    "{}: {} fields are named by strings, got a {} key",
                    show(path),
                    desc.name(),
                    other.type_name()
                ));
            }
        };
        let Some(f) = desc.get_field_by_name(&key) else {
            return Err(format!(
                "{}: {} has no field '{key}'",
                show(path),
                desc.full_name()
            ));
        };
        let p = join(path, &key);
        if let Some(val) = field_value(&f, &v, &p)? {
            m.set_field(&f, val);
        }
    }
    Ok(m)
}

fn field_value(f: &FieldDescriptor, v: &LuaValue, path: &str) -> Result<Option<Value>, String> {
    if v.is_nil() {
        return Ok(None);
    }
    if f.is_map() {
        let LuaValue::Table(t) = v else {
            return Err(format!(
                "{path}: expected a table (map), got {}",
                v.type_name()
            ));
        };
        let Kind::Message(entry) = f.kind() else {
            return Ok(None);
        };
        let (kf, vf) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let mut map = HashMap::new();
        for pair in t.pairs::<LuaValue, LuaValue>() {
            let (k, val) = pair.map_err(|e| e.to_string())?;
            let ks = match &k {
                LuaValue::String(s) => s.to_string_lossy(),
                LuaValue::Integer(i) => i.to_string(),
                LuaValue::Number(n) => n.to_string(),
                other => return Err(format!("{path}: bad map key of type {}", other.type_name())),
            };
            let ep = format!("{path}[{ks}]");
            let key = crate::wire::json::map_key_from_str(&kf.kind(), &ks)
                .ok_or_else(|| format!("{ep}: bad map key"))?;
            map.insert(key, single(&vf.kind(), &val, &ep)?);
        }
        return Ok(Some(Value::Map(map)));
    }
    if f.is_list() {
        let LuaValue::Table(t) = v else {
            return Err(format!(
                "{path}: expected a list (table), got {}",
                v.type_name()
            ));
        };
        let n = t.raw_len();
        let mut list = Vec::with_capacity(n);
        for i in 1..=n {
            let item: LuaValue = t.raw_get(i).map_err(|e| e.to_string())?;
            list.push(single(&f.kind(), &item, &format!("{path}[{i}]"))?);
        }
        // Catch maps passed where a list is expected: {a=1} has length 0.
        if n == 0
            && let Some(Ok((k, _))) = t.pairs::<LuaValue, LuaValue>().next()
        {
            return Err(format!(
                "{path}: expected a list, got a table with key {k:?}"
            ));
        }
        return Ok(Some(Value::List(list)));
    }
    single(&f.kind(), v, path).map(Some)
}

fn number(v: &LuaValue) -> Option<f64> {
    match v {
        LuaValue::Integer(i) => Some(*i as f64),
        LuaValue::Number(n) => Some(*n),
        LuaValue::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn integer(v: &LuaValue, path: &str) -> Result<i128, String> {
    if let LuaValue::Integer(i) = v {
        return Ok(i128::from(*i));
    }
    if let LuaValue::String(s) = v
        && let Some(n) = s.to_str().ok().and_then(|s| s.trim().parse::<i128>().ok())
    {
        return Ok(n);
    }
    match number(v) {
        Some(x) if x.fract() == 0.0 && x.abs() < 1.9e19 => Ok(x as i128),
        Some(x) => Err(format!("{path}: expected an integer, got {x}")),
        None => Err(format!(
            "{path}: expected an integer, got {}",
            v.type_name()
        )),
    }
}

fn single(kind: &Kind, v: &LuaValue, path: &str) -> Result<Value, String> {
    let range = |t: &str| format!("{path}: out of range for {t}");
    Ok(match kind {
        Kind::Double => Value::F64(
            number(v).ok_or_else(|| format!("{path}: expected a number, got {}", v.type_name()))?,
        ),
        Kind::Float => Value::F32(
            number(v).ok_or_else(|| format!("{path}: expected a number, got {}", v.type_name()))?
                as f32,
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(i32::try_from(integer(v, path)?).map_err(|_| range("int32"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(i64::try_from(integer(v, path)?).map_err(|_| range("int64"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32(u32::try_from(integer(v, path)?).map_err(|_| range("uint32"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Value::U64(u64::try_from(integer(v, path)?).map_err(|_| range("uint64"))?)
        }
        Kind::Bool => match v {
            LuaValue::Boolean(b) => Value::Bool(*b),
            other => {
                return Err(format!(
                    "{path}: expected a boolean, got {}",
                    other.type_name()
                ));
            }
        },
        Kind::String => match v {
            LuaValue::String(s) => Value::String(
                s.to_str()
                    .map_err(|_| format!("{path}: expected a UTF-8 string"))?
                    .to_string(),
            ),
            LuaValue::Integer(_) | LuaValue::Number(_) => {
                return Err(format!("{path}: expected a string, got number"));
            }
            other => {
                return Err(format!(
                    "{path}: expected a string, got {}",
                    other.type_name()
                ));
            }
        },
        Kind::Bytes => match v {
            LuaValue::String(s) => Value::Bytes(s.as_bytes().to_vec().into()),
            other => {
                return Err(format!(
                    "{path}: expected a string (bytes), got {}",
                    other.type_name()
                ));
            }
        },
        Kind::Enum(e) => match v {
            LuaValue::String(s) => {
                let name = s.to_string_lossy();
                let ev = e
                    .get_value_by_name(&name)
                    .ok_or_else(|| format!("{path}: '{name}' is not a {} value", e.name()))?;
                Value::EnumNumber(ev.number())
            }
            LuaValue::Integer(_) | LuaValue::Number(_) => {
                let n = i32::try_from(integer(v, path)?).map_err(|_| range("enum"))?;
                e.get_value(n)
                    .ok_or_else(|| format!("{path}: {n} is not a {} value", e.name()))?;
                Value::EnumNumber(n)
            }
            other => {
                return Err(format!(
                    "{path}: expected an enum name, got {}",
                    other.type_name()
                ));
            }
        },
        Kind::Message(m) => Value::Message(to_message(m, v, path)?),
    })
}

// ------------------------------------------------------------ message -> Lua

/// Converts a message to a Lua table holding its set fields.
pub fn to_lua(lua: &Lua, m: &DynamicMessage) -> LuaResult<LuaTable> {
    super::fast::to_lua(lua, m)
}

/// An event as a Lua table: straight from its bytes when it came as a
/// validated record (`wire::direct`), else from its decoded message.
pub fn event_to_lua(lua: &Lua, ev: &crate::driver::Event) -> LuaResult<LuaTable> {
    if let Some((bytes, enc, m)) = ev.raw_bytes()
        && let Some(t) = super::fast::decode(lua, m, bytes, enc)?
    {
        return Ok(t);
    }
    to_lua(lua, ev.message())
}

/// Converts a Lua table to a message and checks its required fields.
pub fn to_checked_message(
    desc: &MessageDescriptor,
    v: &LuaValue,
    what: &str,
) -> Result<DynamicMessage, String> {
    let m = to_message(desc, v, "").map_err(|e| format!("{what}: {e}"))?;
    let missing = crate::wire::json::missing_required(&m);
    if !missing.is_empty() {
        return Err(format!(
            "{what}: missing required field {}",
            missing.join(", ")
        ));
    }
    Ok(m)
}

/// A driver output as the values `core:next()` returns: `kind, a, b`.
pub fn output_to_lua(lua: &Lua, out: Option<crate::driver::Output>) -> LuaResult<LuaMultiValue> {
    use crate::driver::Output;
    let mut vals = LuaMultiValue::new();
    let s = |v: &str| lua.create_string(v).map(LuaValue::String);
    match out {
        None => {}
        Some(Output::Event(ev)) => {
            vals.push_back(s("event")?);
            vals.push_back(LuaValue::Table(event_to_lua(lua, &ev)?));
        }
        Some(Output::Disconnected(r)) => {
            vals.push_back(s("disconnected")?);
            vals.push_back(s(&r)?);
        }
        Some(Output::CallFailed { call_type, reason }) => {
            vals.push_back(s("call_failed")?);
            vals.push_back(s(&call_type)?);
            vals.push_back(s(&reason)?);
        }
        Some(Output::Stopped(r)) => {
            vals.push_back(s("stopped")?);
            vals.push_back(s(&r)?);
        }
    }
    Ok(vals)
}

/// Generated messages as a Lua list of tables.
pub fn messages_to_lua<M: prost::Message + prost::Name>(
    lua: &Lua,
    list: &[M],
) -> LuaResult<LuaTable> {
    let t = lua.create_table_with_capacity(list.len(), 0)?;
    for (i, m) in list.iter().enumerate() {
        let d = crate::wire::codec::to_dynamic(m).map_err(LuaError::external)?;
        t.raw_set(i + 1, to_lua(lua, &d)?)?;
    }
    Ok(t)
}

/// A runtime result as Lua's `value` or `nil, err`.
pub fn nil_err<T, E: std::fmt::Display>(r: Result<T, E>) -> (Option<T>, Option<String>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// `start()` of a driver core: `true` once, then `nil, "already started"`.
pub fn start_once<E: std::fmt::Display>(
    started: &std::cell::Cell<bool>,
    start: impl FnOnce() -> Result<(), E>,
) -> (Option<bool>, Option<String>) {
    if started.replace(true) {
        return (None, Some("driver already started".to_string()));
    }
    nil_err(start().map(|()| true))
}
