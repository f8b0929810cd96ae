//! Lua table → protobuf wire bytes in one pass over the table (raw C API,
//! one protected call), guided by the static `wire::schema` tables: no
//! `DynamicMessage`. It follows `convert::to_message` (field names as keys,
//! enums by name or number, numbers or numeric strings for numbers, an ID
//! message as a plain string) and checks required fields; on anything it
//! would reject, or does not mirror exactly, it answers `None` and the
//! caller takes the descriptor-based path, which words the error. The bytes
//! list fields in the table's traversal order, not by number: they decode to
//! the same message, which is what the callers use them for.

use std::os::raw::c_int;

use mlua::ffi;
use mlua::prelude::*;

use crate::wire::direct::Fallback;
use crate::wire::direct::write::{self, tag, varint};
use crate::wire::schema::{self, Field, Label, Msg, Ty};

/// Nesting of messages allowed (deeper falls back).
const MAX_DEPTH: u32 = 64;

/// Lua stack slots one nesting level uses (key, value, list item, spare).
const SLOTS: c_int = 6;

/// Encodes `v` as the message `m`: the bytes, or `None` for the
/// descriptor-based path.
pub fn encode_pb(lua: &Lua, m: u16, v: &LuaValue) -> LuaResult<Option<Vec<u8>>> {
    if !matches!(v, LuaValue::Table(_)) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(256);
    let mut ok = false;
    // SAFETY: the encoder reads the table at index 1 (the one argument) and
    // what it pushes, restoring the stack level after each value; a Lua
    // error inside (out of memory) is caught by exec_raw's protected call.
    // The closure's captures (`out`, `ok`) outlive the call; the encoder
    // itself keeps nothing on the Rust side that would need dropping if a
    // Lua error unwound it.
    unsafe {
        lua.exec_raw::<()>(v.clone(), |state| {
            ok = message(state, 1, schema::msg(m), &mut out, 0).is_ok();
            ffi::lua_settop(state, 0);
        })?;
    }
    Ok(ok.then_some(out))
}

/// Writes a length-delimited field whose body `body` writes.
#[inline]
fn delimited(
    number: u32,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Fallback>,
) -> Result<(), Fallback> {
    let at = write::open(number, out);
    body(out)?;
    write::close(at, out);
    Ok(())
}

/// The bytes of the string at `idx` (a string, not a number).
unsafe fn bytes<'a>(l: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TSTRING {
            return None;
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, idx, &mut len);
        if p.is_null() {
            return None;
        }
        // SAFETY: Lua keeps the string alive while it is on the stack, and
        // the caller uses the slice only meanwhile.
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

/// `convert::number`: a number, or a string that parses as one.
unsafe fn number(l: *mut ffi::lua_State, idx: c_int) -> Option<f64> {
    unsafe {
        match ffi::lua_type(l, idx) {
            ffi::LUA_TNUMBER => Some(ffi::lua_tonumber(l, idx)),
            ffi::LUA_TSTRING => std::str::from_utf8(bytes(l, idx)?)
                .ok()?
                .trim()
                .parse()
                .ok(),
            _ => None,
        }
    }
}

/// `convert::integer`, for the values both paths read alike (integral
/// numbers within 2^53; integer strings).
unsafe fn integer(l: *mut ffi::lua_State, idx: c_int) -> Result<i128, Fallback> {
    unsafe {
        if ffi::lua_type(l, idx) == ffi::LUA_TSTRING
            && let Some(n) = std::str::from_utf8(bytes(l, idx).ok_or(Fallback)?)
                .ok()
                .and_then(|s| s.trim().parse::<i128>().ok())
        {
            return Ok(n);
        }
        let x = number(l, idx).ok_or(Fallback)?;
        if x.fract() != 0.0 || x.abs() >= 9_007_199_254_740_992.0 {
            return Err(Fallback);
        }
        Ok(x as i128)
    }
}

/// Writes one value of field `f` (type `ty`) from the stack slot `idx`.
unsafe fn value(
    l: *mut ffi::lua_State,
    idx: c_int,
    number: u32,
    ty: Ty,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), Fallback> {
    unsafe {
        let int = |lo: i128, hi: i128| -> Result<i128, Fallback> {
            let n = integer(l, idx)?;
            if n < lo || n > hi {
                return Err(Fallback);
            }
            Ok(n)
        };
        match ty {
            Ty::Double => {
                tag(number, 1, out);
                out.extend_from_slice(&self::number(l, idx).ok_or(Fallback)?.to_le_bytes());
            }
            Ty::Float => {
                tag(number, 5, out);
                let x = self::number(l, idx).ok_or(Fallback)? as f32;
                out.extend_from_slice(&x.to_le_bytes());
            }
            Ty::Int32 => {
                let n = int(i128::from(i32::MIN), i128::from(i32::MAX))?;
                tag(number, 0, out);
                varint(n as i64 as u64, out);
            }
            Ty::Int64 => {
                let n = int(i128::from(i64::MIN), i128::from(i64::MAX))?;
                tag(number, 0, out);
                varint(n as i64 as u64, out);
            }
            Ty::Uint32 => {
                let n = int(0, i128::from(u32::MAX))?;
                tag(number, 0, out);
                varint(n as u64, out);
            }
            Ty::Uint64 => {
                let n = int(0, i128::from(u64::MAX))?;
                tag(number, 0, out);
                varint(n as u64, out);
            }
            Ty::Sint32 => {
                let n = int(i128::from(i32::MIN), i128::from(i32::MAX))? as i32;
                tag(number, 0, out);
                varint(u64::from(((n << 1) ^ (n >> 31)) as u32), out);
            }
            Ty::Sint64 => {
                let n = int(i128::from(i64::MIN), i128::from(i64::MAX))? as i64;
                tag(number, 0, out);
                varint(((n << 1) ^ (n >> 63)) as u64, out);
            }
            Ty::Fixed32 => {
                let n = int(0, i128::from(u32::MAX))? as u32;
                tag(number, 5, out);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Ty::Sfixed32 => {
                let n = int(i128::from(i32::MIN), i128::from(i32::MAX))? as i32;
                tag(number, 5, out);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Ty::Fixed64 => {
                let n = int(0, i128::from(u64::MAX))? as u64;
                tag(number, 1, out);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Ty::Sfixed64 => {
                let n = int(i128::from(i64::MIN), i128::from(i64::MAX))? as i64;
                tag(number, 1, out);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Ty::Bool => {
                if ffi::lua_type(l, idx) != ffi::LUA_TBOOLEAN {
                    return Err(Fallback);
                }
                tag(number, 0, out);
                out.push(u8::from(ffi::lua_toboolean(l, idx) != 0));
            }
            Ty::String => {
                let s = bytes(l, idx).ok_or(Fallback)?;
                std::str::from_utf8(s).map_err(|_| Fallback)?;
                tag(number, 2, out);
                varint(s.len() as u64, out);
                out.extend_from_slice(s);
            }
            Ty::Bytes => {
                let s = bytes(l, idx).ok_or(Fallback)?;
                tag(number, 2, out);
                varint(s.len() as u64, out);
                out.extend_from_slice(s);
            }
            Ty::Enum(e) => {
                let e = schema::enm(e);
                let n = match ffi::lua_type(l, idx) {
                    ffi::LUA_TSTRING => e.number_of(bytes(l, idx).ok_or(Fallback)?),
                    ffi::LUA_TNUMBER => i32::try_from(integer(l, idx)?)
                        .ok()
                        .filter(|n| e.value(*n).is_some()),
                    _ => None,
                }
                .ok_or(Fallback)?;
                tag(number, 0, out);
                varint(n as i64 as u64, out);
            }
            Ty::Message(sub) => {
                let m = schema::msg(sub);
                match ffi::lua_type(l, idx) {
                    ffi::LUA_TTABLE => {
                        delimited(number, out, |out| message(l, idx, m, out, depth + 1))?
                    }
                    // A view (lua/mesos/view.lua) of this message: its bytes.
                    _ if let Some((vm, body)) = super::view_header::at(l, idx) => {
                        if vm != sub {
                            return Err(Fallback);
                        }
                        tag(number, 2, out);
                        varint(body.len() as u64, out);
                        out.extend_from_slice(body);
                    }
                    // An ID message (a single string `value`) as a string.
                    ffi::LUA_TSTRING if is_id(m) => {
                        let s = bytes(l, idx).ok_or(Fallback)?;
                        std::str::from_utf8(s).map_err(|_| Fallback)?;
                        delimited(number, out, |out| {
                            tag(1, 2, out);
                            varint(s.len() as u64, out);
                            out.extend_from_slice(s);
                            Ok(())
                        })?;
                    }
                    _ => return Err(Fallback),
                }
            }
        }
        Ok(())
    }
}

/// A message whose only field is `string value = 1`.
fn is_id(m: &Msg) -> bool {
    matches!(m.fields, [f] if f.name == "value" && f.ty == Ty::String && f.number == 1)
}

/// Writes the table at `idx` as message `m` (its fields, no tag).
unsafe fn message(
    l: *mut ffi::lua_State,
    idx: c_int,
    m: &'static Msg,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), Fallback> {
    unsafe {
        if depth > MAX_DEPTH || ffi::lua_checkstack(l, SLOTS) == 0 {
            return Err(Fallback);
        }
        let idx = if idx < 0 {
            ffi::lua_gettop(l) + idx + 1
        } else {
            idx
        };
        let top = ffi::lua_gettop(l);
        let mut present = 0u64;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            // key at -2, value at -1
            let Some(key) = bytes(l, -2) else {
                ffi::lua_settop(l, top);
                return Err(Fallback);
            };
            let Some(f) = m.field_by_name(key) else {
                ffi::lua_settop(l, top);
                return Err(Fallback);
            };
            let r = field(l, f, out, depth);
            if r.is_err() {
                ffi::lua_settop(l, top);
                return r;
            }
            present |= 1u64.checked_shl(m.index(f) as u32).unwrap_or(0);
            ffi::lua_settop(l, top + 1); // keep the key for lua_next
        }
        // Required fields: all present, else the descriptor-based path
        // reports them (or, for calls, knows which ones the driver fills).
        for (i, f) in m.fields.iter().enumerate() {
            if f.label == Label::Required && (i >= 64 || present & (1 << i) == 0) {
                return Err(Fallback);
            }
        }
        Ok(())
    }
}

/// Writes the field `f` whose value is on top of the stack.
unsafe fn field(
    l: *mut ffi::lua_State,
    f: &'static Field,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), Fallback> {
    unsafe {
        let v = ffi::lua_gettop(l);
        match f.label {
            Label::Optional | Label::Required => value(l, v, f.number, f.ty, out, depth),
            Label::Repeated => {
                if ffi::lua_type(l, v) != ffi::LUA_TTABLE {
                    return Err(Fallback);
                }
                let n = ffi::lua_rawlen(l, v);
                if n == 0 {
                    // {} is an empty list; {a = 1} is a map given for a list.
                    ffi::lua_pushnil(l);
                    if ffi::lua_next(l, v) != 0 {
                        return Err(Fallback);
                    }
                    return Ok(());
                }
                for i in 1..=n {
                    ffi::lua_rawgeti(l, v, i as ffi::lua_Integer);
                    let r = value(l, v + 1, f.number, f.ty, out, depth);
                    ffi::lua_settop(l, v);
                    r?;
                }
                Ok(())
            }
            Label::Map => {
                let Ty::Message(em) = f.ty else {
                    return Err(Fallback);
                };
                let entry = schema::msg(em);
                let (Some(kf), Some(vf)) = (entry.field(1), entry.field(2)) else {
                    return Err(Fallback);
                };
                if ffi::lua_type(l, v) != ffi::LUA_TTABLE || kf.ty != Ty::String {
                    return Err(Fallback);
                }
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, v) != 0 {
                    // Only string keys (what the other path reads alike).
                    let r = match bytes(l, -2) {
                        Some(k) if std::str::from_utf8(k).is_ok() => {
                            delimited(f.number, out, |out| {
                                tag(1, 2, out);
                                varint(k.len() as u64, out);
                                out.extend_from_slice(k);
                                value(l, v + 2, 2, vf.ty, out, depth)
                            })
                        }
                        _ => Err(Fallback),
                    };
                    ffi::lua_settop(l, v + 1);
                    r?;
                }
                Ok(())
            }
        }
    }
}
