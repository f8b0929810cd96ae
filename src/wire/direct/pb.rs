//! Protobuf wire bytes → tables, one pass, guided by `schema` (see the
//! module above for the rules and the [`Fallback`] contract).
//!
//! Mirrors prost-reflect's `DynamicMessage::decode` followed by
//! `codec::clear_unknown_enums`: the same fields end up set, with the same
//! values. Unknown fields are skipped (groups fall back), a known field
//! with an unexpected wire type falls back, and so do truncated or
//! overlong input, bad varints, bad UTF-8 in strings and nesting deeper
//! than prost's recursion limit.

use super::{DEPTH, Fallback, Scalar, Sink};
use crate::wire::schema::{self, Field, Label, Msg, Ty};

/// Decodes `bytes` as the message `m` (an index from `schema::message`)
/// into a new table pushed on `s`.
pub fn decode<S: Sink>(s: &mut S, m: u16, bytes: &[u8]) -> Result<(), Fallback> {
    s.grow()?;
    s.new_table(0, schema::hint(m));
    let top = s.top();
    let r = message(s, m, bytes, DEPTH, true);
    s.settop(top);
    r
}

/// Validates `bytes` as the message `m`; the top-level `type` if valid.
pub fn check(m: u16, bytes: &[u8]) -> Result<Option<&'static str>, Fallback> {
    let mut c = super::Check::<false>::default();
    decode(&mut c, m, bytes)?;
    Ok(c.event_type)
}

/// Validates `bytes` as the message `m` strictly (see `Sink::STRICT`): if
/// this passes, prost's typed decoding of the bytes is what the
/// descriptor-based path with its required-field check would give.
pub fn check_strict(m: u16, bytes: &[u8]) -> Result<(), Fallback> {
    let mut c = super::Check::<true>::default();
    decode(&mut c, m, bytes)
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
pub(super) const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A varint: the one-byte case inline, the rest out of line.
#[inline(always)]
pub(super) fn varint(buf: &mut &[u8]) -> Result<u64, Fallback> {
    if let Some((&first, rest)) = buf.split_first()
        && first < 0x80
    {
        *buf = rest;
        return Ok(u64::from(first));
    }
    varint_long(buf)
}

#[inline(never)]
fn varint_long(buf: &mut &[u8]) -> Result<u64, Fallback> {
    let b = *buf;
    let mut v = 0u64;
    for (i, &byte) in b.iter().take(10).enumerate() {
        if i == 9 && byte >= 0x02 {
            // prost: the tenth byte may only carry the top bit.
            return Err(Fallback);
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *buf = &b[i + 1..];
            return Ok(v);
        }
    }
    Err(Fallback)
}

#[inline]
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], Fallback> {
    if buf.len() < n {
        return Err(Fallback);
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Ok(a)
}

#[inline]
fn fixed<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], Fallback> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(buf, N)?);
    Ok(out)
}

#[inline]
pub(super) fn delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], Fallback> {
    let n = varint(buf)?;
    let n = usize::try_from(n).map_err(|_| Fallback)?;
    take(buf, n)
}

/// A field key: (number, wire type), as prost's `decode_key` accepts it.
#[inline]
pub(super) fn key(buf: &mut &[u8]) -> Result<(u32, u8), Fallback> {
    let k = varint(buf)?;
    let k = u32::try_from(k).map_err(|_| Fallback)?;
    let (number, wt) = (k >> 3, (k & 7) as u8);
    if number == 0 || wt > 5 {
        return Err(Fallback);
    }
    Ok((number, wt))
}

/// Skips an unknown field's value (groups fall back).
#[inline]
pub(super) fn skip(buf: &mut &[u8], wt: u8) -> Result<(), Fallback> {
    match wt {
        VARINT => varint(buf).map(|_| ()),
        FIXED64 => take(buf, 8).map(|_| ()),
        LEN => delimited(buf).map(|_| ()),
        FIXED32 => take(buf, 4).map(|_| ()),
        _ => Err(Fallback),
    }
}

/// How many fields with key `(number, wt)` follow back to back in `buf`
/// (a size hint for a list; stops at anything odd).
fn run_length(mut buf: &[u8], number: u32, wt: u8) -> usize {
    let mut n = 0;
    while let Ok((num, w)) = key(&mut buf) {
        if num != number || w != wt || skip(&mut buf, w).is_err() {
            break;
        }
        n += 1;
    }
    n
}

/// The wire type a packed element of this type has.
pub(super) fn element_wire_type(ty: Ty) -> u8 {
    match ty {
        Ty::Double | Ty::Fixed64 | Ty::Sfixed64 => FIXED64,
        Ty::Float | Ty::Fixed32 | Ty::Sfixed32 => FIXED32,
        Ty::String | Ty::Bytes | Ty::Message(_) => LEN,
        _ => VARINT,
    }
}

/// A scalar (not an enum or a message) of type `ty` sent with wire type
/// `wt`.
#[inline]
pub(super) fn scalar<'a>(ty: Ty, wt: u8, buf: &mut &'a [u8]) -> Result<Scalar<'a>, Fallback> {
    if wt != element_wire_type(ty) {
        return Err(Fallback);
    }
    Ok(match ty {
        Ty::Int32 => Scalar::Num(f64::from(varint(buf)? as i32)),
        Ty::Int64 => Scalar::Num(varint(buf)? as i64 as f64),
        Ty::Uint32 => Scalar::Num(f64::from(varint(buf)? as u32)),
        Ty::Uint64 => Scalar::Num(varint(buf)? as f64),
        Ty::Sint32 => {
            let n = varint(buf)? as u32;
            Scalar::Num(f64::from(((n >> 1) as i32) ^ -((n & 1) as i32)))
        }
        Ty::Sint64 => {
            let n = varint(buf)?;
            Scalar::Num((((n >> 1) as i64) ^ -((n & 1) as i64)) as f64)
        }
        Ty::Bool => Scalar::Bool(varint(buf)? != 0),
        Ty::Fixed32 => Scalar::Num(f64::from(u32::from_le_bytes(fixed(buf)?))),
        Ty::Sfixed32 => Scalar::Num(f64::from(i32::from_le_bytes(fixed(buf)?))),
        Ty::Float => Scalar::Num(f64::from(f32::from_le_bytes(fixed(buf)?))),
        Ty::Fixed64 => Scalar::Num(u64::from_le_bytes(fixed(buf)?) as f64),
        Ty::Sfixed64 => Scalar::Num(i64::from_le_bytes(fixed(buf)?) as f64),
        Ty::Double => Scalar::Num(f64::from_le_bytes(fixed(buf)?)),
        Ty::String => {
            let b = delimited(buf)?;
            if std::str::from_utf8(b).is_err() {
                return Err(Fallback);
            }
            Scalar::Str(b)
        }
        Ty::Bytes => Scalar::Str(delimited(buf)?),
        Ty::Enum(_) | Ty::Message(_) => return Err(Fallback),
    })
}

/// An enum value as prost reads it (an int32 varint).
#[inline]
pub(super) fn enum_number(wt: u8, buf: &mut &[u8]) -> Result<i32, Fallback> {
    if wt != VARINT {
        return Err(Fallback);
    }
    Ok(varint(buf)? as i32)
}

/// The value of a map entry field that is absent.
fn default_scalar(ty: Ty) -> Result<Scalar<'static>, Fallback> {
    Ok(match ty {
        Ty::Bool => Scalar::Bool(false),
        Ty::String | Ty::Bytes => Scalar::Str(b""),
        Ty::Enum(e) => {
            let e = schema::enm(e);
            match e.value(e.default) {
                Some(name) => Scalar::Enum(name),
                None => Scalar::Num(f64::from(e.default)),
            }
        }
        Ty::Message(_) => return Err(Fallback),
        _ => Scalar::Num(0.0),
    })
}

/// The list (or map) of a message being filled: its field number and
/// length; the table sits one slot above the message's.
struct Open {
    number: u32,
    len: usize,
}

/// Pushes the list (or map) table of `f` unless it is the open one.
#[inline]
fn open_list<S: Sink>(
    s: &mut S,
    base: i32,
    f: &'static Field,
    open: &mut Option<Open>,
    rest: &[u8],
    wt: u8,
    fresh: bool,
) -> i32 {
    if open.as_ref().map(|o| o.number) != Some(f.number) {
        s.settop(base);
        let hint = 1 + run_length(rest, f.number, wt);
        let len = if fresh {
            s.new_child(base, f, hint, 0);
            0
        } else {
            s.child(base, f, hint, 0)
        };
        *open = Some(Open {
            number: f.number,
            len,
        });
    }
    base + 1
}

/// Decodes into the table on top of the stack; `new`: that table is empty
/// (else a message being merged into).
fn message<S: Sink>(
    s: &mut S,
    mi: u16,
    mut buf: &[u8],
    depth: u32,
    new: bool,
) -> Result<(), Fallback> {
    let m: &'static Msg = schema::msg(mi);
    let base = s.top();
    let mut open: Option<Open> = None;
    let mut seen = 0u64;
    while !buf.is_empty() {
        let (number, wt) = key(&mut buf)?;
        let Some(f) = m.field(number) else {
            skip(&mut buf, wt)?;
            continue;
        };
        if f.group {
            return Err(Fallback);
        }
        // Not seen before in this message (known only for the first 64
        // fields): the field is unset, no need to look.
        let bit = 1u64.checked_shl(m.index(f) as u32).unwrap_or(0);
        let fresh = new && seen & bit == 0 && bit != 0;
        seen |= bit;
        if f.oneof != 0 {
            clear_oneof(s, m, f, base);
        }
        match f.label {
            Label::Optional | Label::Required => match f.ty {
                Ty::Message(sub) => {
                    if wt != LEN || depth == 0 {
                        return Err(Fallback);
                    }
                    let body = delimited(&mut buf)?;
                    s.grow()?;
                    if fresh {
                        s.new_child(base, f, 0, schema::hint(sub));
                    } else {
                        s.child(base, f, 0, schema::hint(sub));
                    }
                    let slot = s.top();
                    message(s, sub, body, depth - 1, fresh)?;
                    s.settop(slot - 1);
                }
                Ty::Enum(e) => match schema::enm(e).value(enum_number(wt, &mut buf)?) {
                    Some(name) => s.set(base, f, Scalar::Enum(name)),
                    None if S::STRICT => return Err(Fallback),
                    None => s.unset(base, f),
                },
                ty => {
                    let v = scalar(ty, wt, &mut buf)?;
                    s.set(base, f, v);
                }
            },
            Label::Repeated | Label::Map => {
                let mut fr = Frame {
                    base,
                    open: open.take(),
                    depth,
                };
                let r = if f.label == Label::Map {
                    map_entry(s, &mut fr, f, wt, &mut buf, fresh)
                } else {
                    repeated(s, &mut fr, f, wt, &mut buf, fresh)
                };
                open = fr.open;
                r?;
            }
        }
    }
    s.settop(base);
    schema::set_hint(mi, seen.count_ones());
    if S::STRICT {
        for (i, f) in m.fields.iter().enumerate() {
            if f.label == Label::Required && (i >= 64 || seen & (1 << i) == 0) {
                return Err(Fallback);
            }
        }
    }
    Ok(())
}

/// Setting a member of a oneof clears the others.
#[cold]
fn clear_oneof<S: Sink>(s: &mut S, m: &'static Msg, f: &'static Field, base: i32) {
    let members = m
        .oneofs
        .get(usize::from(f.oneof) - 1)
        .copied()
        .unwrap_or(&[]);
    for &i in members {
        if let Some(g) = m.fields.get(i)
            && g.number != f.number
        {
            s.unset(base, g);
        }
    }
}

/// The message being filled, for a list or map field's occurrence: its
/// table's slot, its open list, the nesting left.
struct Frame {
    base: i32,
    open: Option<Open>,
    depth: u32,
}

fn repeated<S: Sink>(
    s: &mut S,
    fr: &mut Frame,
    f: &'static Field,
    wt: u8,
    buf: &mut &[u8],
    fresh: bool,
) -> Result<(), Fallback> {
    let (base, depth, open) = (fr.base, fr.depth, &mut fr.open);
    let rest = *buf;
    match f.ty {
        ty if wt == LEN && ty.packable() => {
            let mut body = delimited(buf)?;
            let ewt = element_wire_type(ty);
            while !body.is_empty() {
                let v = match ty {
                    Ty::Enum(e) => match schema::enm(e).value(enum_number(ewt, &mut body)?) {
                        Some(name) => Scalar::Enum(name),
                        None if S::STRICT => return Err(Fallback),
                        None => continue,
                    },
                    _ => scalar(ty, ewt, &mut body)?,
                };
                let slot = open_list(s, base, f, open, &[], wt, fresh);
                if let Some(o) = open.as_mut() {
                    o.len += 1;
                    s.seti(slot, o.len, v);
                }
            }
        }
        Ty::Message(sub) => {
            if wt != LEN || depth == 0 {
                return Err(Fallback);
            }
            let body = delimited(buf)?;
            let slot = open_list(s, base, f, open, rest, wt, fresh);
            let Some(o) = open.as_mut() else {
                return Err(Fallback);
            };
            o.len += 1;
            s.grow()?;
            s.child_at(slot, o.len, schema::hint(sub));
            message(s, sub, body, depth - 1, true)?;
            s.settop(slot);
        }
        Ty::Enum(e) => {
            let v = schema::enm(e).value(enum_number(wt, buf)?);
            if v.is_none() && S::STRICT {
                return Err(Fallback);
            }
            if let Some(name) = v {
                let slot = open_list(s, base, f, open, rest, wt, fresh);
                if let Some(o) = open.as_mut() {
                    o.len += 1;
                    s.seti(slot, o.len, Scalar::Enum(name));
                }
            }
        }
        ty => {
            let v = scalar(ty, wt, buf)?;
            let slot = open_list(s, base, f, open, rest, wt, fresh);
            if let Some(o) = open.as_mut() {
                o.len += 1;
                s.seti(slot, o.len, v);
            }
        }
    }
    Ok(())
}

/// One entry of a map field: key and value (each defaulted when absent)
/// into the field's table; a later entry with the same key replaces it.
fn map_entry<S: Sink>(
    s: &mut S,
    fr: &mut Frame,
    f: &'static Field,
    wt: u8,
    buf: &mut &[u8],
    fresh: bool,
) -> Result<(), Fallback> {
    let (base, depth, open) = (fr.base, fr.depth, &mut fr.open);
    let Ty::Message(em) = f.ty else {
        return Err(Fallback);
    };
    let entry = schema::msg(em);
    let (Some(kf), Some(vf)) = (entry.field(1), entry.field(2)) else {
        return Err(Fallback);
    };
    if wt != LEN || matches!(kf.ty, Ty::Message(_) | Ty::Enum(_)) {
        return Err(Fallback);
    }
    let rest = *buf;
    let mut body = delimited(buf)?;
    let slot = open_list(s, base, f, open, rest, wt, fresh);
    let mut k = default_scalar(kf.ty)?;
    let value_msg = match vf.ty {
        Ty::Message(vm) => {
            s.grow()?;
            s.new_table(0, schema::hint(vm));
            Some(vm)
        }
        _ => None,
    };
    let mut value_seen = false;
    let mut v = match value_msg {
        Some(_) => Scalar::Bool(false),
        None => default_scalar(vf.ty)?,
    };
    while !body.is_empty() {
        let (number, w) = key(&mut body)?;
        match number {
            1 => k = scalar(kf.ty, w, &mut body)?,
            2 => match vf.ty {
                Ty::Message(vm) => {
                    if w != LEN || depth == 0 {
                        return Err(Fallback);
                    }
                    let b = delimited(&mut body)?;
                    let top = s.top();
                    // A value field twice merges: only the first is new.
                    message(s, vm, b, depth - 1, !value_seen)?;
                    value_seen = true;
                    s.settop(top);
                }
                // An unknown number stays a number in a map (as before:
                // clear_unknown_enums only looks into message values).
                Ty::Enum(e) => {
                    let n = enum_number(w, &mut body)?;
                    v = match schema::enm(e).value(n) {
                        Some(name) => Scalar::Enum(name),
                        None => Scalar::Num(f64::from(n)),
                    };
                }
                ty => v = scalar(ty, w, &mut body)?,
            },
            _ => {
                if depth == 0 {
                    return Err(Fallback);
                }
                skip(&mut body, w)?;
            }
        }
    }
    if let Some(vm) = value_msg
        && !value_seen
    {
        // An absent message value is its default instance, which still
        // needs its required fields (as protobuf's parser and the
        // descriptor path say): checked as an empty value.
        if depth == 0 {
            return Err(Fallback);
        }
        let top = s.top();
        message(s, vm, &[], depth - 1, true)?;
        s.settop(top);
    }
    if value_msg.is_some() {
        s.set_k_top(slot, k);
    } else {
        s.set_kv(slot, k, v);
    }
    Ok(())
}
