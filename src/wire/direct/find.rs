//! One field of a protobuf message, read without decoding the rest: what
//! lazy views (`lua/mesos/view.lua`) ask for each time Lua code reads a
//! field. The answers follow [`super::pb`] exactly: for a singular field
//! the last occurrence wins, a message field's occurrences merge, a later
//! member of the same oneof unsets it, an enum number the schema does not
//! know leaves it unset (or out of a list), and packed lists are read as
//! lists. Anything [`super::pb`] would not take answers [`Fallback`].

use super::pb::{LEN, delimited, element_wire_type, enum_number, key, scalar, skip};
use super::{Fallback, Scalar};
use crate::wire::schema::{self, Field, Msg, Ty};

/// What a field holds, as the Lua side reads it (`struct mesos_found`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct Found {
    /// [`UNSET`], [`NUM`], [`BOOL`], [`BYTES`], [`ENUM`] or [`MESSAGE`].
    pub kind: u32,
    /// A message field's occurrences (they merge).
    pub count: u32,
    /// Bytes and messages: where the value (the first occurrence's body)
    /// starts in the message; enums: the value name's id (`schema::NAMES`).
    pub off: u32,
    /// The length of that value.
    pub len: u32,
    /// A message field: the length of all its occurrences' bodies.
    pub total: u32,
    pub pad: u32,
    /// Numbers; 1 or 0 for booleans.
    pub num: f64,
}

pub const UNSET: u32 = 0;
pub const NUM: u32 = 1;
pub const BOOL: u32 = 2;
pub const BYTES: u32 = 3;
pub const ENUM: u32 = 4;
pub const MESSAGE: u32 = 5;

/// Where `part` (a slice of `whole`) starts in it.
fn offset(whole: &[u8], part: &[u8]) -> Result<u32, Fallback> {
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if at > whole.len() {
        return Err(Fallback);
    }
    u32::try_from(at).map_err(|_| Fallback)
}

fn len32(b: &[u8]) -> Result<u32, Fallback> {
    u32::try_from(b.len()).map_err(|_| Fallback)
}

/// A scalar or enum value as a [`Found`] (enum numbers unknown to the
/// schema as `UNSET`).
fn leaf(whole: &[u8], ty: Ty, wt: u8, buf: &mut &[u8]) -> Result<Found, Fallback> {
    let mut out = Found::default();
    if let Ty::Enum(e) = ty {
        if let Some(name) = schema::enm(e).value(enum_number(wt, buf)?) {
            out.kind = ENUM;
            out.off = name.id;
        }
        return Ok(out);
    }
    if ty == Ty::String && wt == LEN {
        // Validated already (views only read what the direct decoder
        // took): no second UTF-8 check.
        let s = delimited(buf)?;
        out.kind = BYTES;
        out.off = offset(whole, s)?;
        out.len = len32(s)?;
        return Ok(out);
    }
    match scalar(ty, wt, buf)? {
        Scalar::Num(x) => {
            out.kind = NUM;
            out.num = x;
        }
        Scalar::Bool(b) => {
            out.kind = BOOL;
            out.num = f64::from(u8::from(b));
        }
        Scalar::Str(s) => {
            out.kind = BYTES;
            out.off = offset(whole, s)?;
            out.len = len32(s)?;
        }
        Scalar::Enum(_) => return Err(Fallback),
    }
    Ok(out)
}

fn field_of(m: u16, fi: usize) -> Result<(&'static Msg, &'static Field), Fallback> {
    if usize::from(m) >= schema::MESSAGE_COUNT {
        return Err(Fallback);
    }
    let msg = schema::msg(m);
    Ok((msg, msg.fields.get(fi).ok_or(Fallback)?))
}

/// One occurrence of a message field, whose body is `body`.
fn message_found(whole: &[u8], body: &[u8]) -> Result<Found, Fallback> {
    let len = len32(body)?;
    Ok(Found {
        kind: MESSAGE,
        count: 1,
        off: offset(whole, body)?,
        len,
        total: len,
        ..Found::default()
    })
}

/// Is field `number` of `msg` another member of `f`'s oneof?
#[inline]
fn rival(msg: &Msg, f: &Field, number: u32) -> bool {
    f.oneof != 0 && number != f.number && msg.field(number).is_some_and(|g| g.oneof == f.oneof)
}

/// The singular field with index `fi` of message `m` in `bytes`.
pub fn field(m: u16, fi: usize, bytes: &[u8]) -> Result<Found, Fallback> {
    let (msg, f) = field_of(m, fi)?;
    let mut buf = bytes;
    let mut out = Found::default();
    while !buf.is_empty() {
        let (number, wt) = key(&mut buf)?;
        if number != f.number {
            if rival(msg, f, number) {
                out = Found::default();
            }
            skip(&mut buf, wt)?;
            continue;
        }
        match f.ty {
            Ty::Message(_) => {
                if wt != LEN {
                    return Err(Fallback);
                }
                let it = message_found(bytes, delimited(&mut buf)?)?;
                if out.count == 0 {
                    out = Found {
                        count: 0,
                        total: 0,
                        ..it
                    };
                }
                out.count += 1;
                out.total = out.total.checked_add(it.len).ok_or(Fallback)?;
            }
            ty => out = leaf(bytes, ty, wt, &mut buf)?,
        }
    }
    Ok(out)
}

/// The items of the list field with index `fi` of message `m` in `bytes`:
/// the first `items.len()` written to `items`, their number returned.
pub fn list(m: u16, fi: usize, bytes: &[u8], items: &mut [Found]) -> Result<usize, Fallback> {
    let (_, f) = field_of(m, fi)?;
    let mut buf = bytes;
    let mut n = 0usize;
    let mut put = |it: Found| {
        if it.kind != UNSET {
            if let Some(slot) = items.get_mut(n) {
                *slot = it;
            }
            n += 1;
        }
    };
    while !buf.is_empty() {
        let (number, wt) = key(&mut buf)?;
        if number != f.number {
            skip(&mut buf, wt)?;
            continue;
        }
        match f.ty {
            Ty::Message(_) => {
                if wt != LEN {
                    return Err(Fallback);
                }
                put(message_found(bytes, delimited(&mut buf)?)?);
            }
            ty if wt == LEN && ty.packable() => {
                let mut body = delimited(&mut buf)?;
                let ewt = element_wire_type(ty);
                while !body.is_empty() {
                    put(leaf(bytes, ty, ewt, &mut body)?);
                }
            }
            ty => put(leaf(bytes, ty, wt, &mut buf)?),
        }
    }
    Ok(n)
}

/// The bodies of the singular message field with index `fi` (those `field`
/// counted) one after the other in `dst`, which protobuf reads as their
/// merge; the length written.
pub fn merged(m: u16, fi: usize, bytes: &[u8], dst: &mut [u8]) -> Result<usize, Fallback> {
    let (msg, f) = field_of(m, fi)?;
    // Only the occurrences after the last other member of its oneof count.
    let mut buf = bytes;
    let mut from = bytes;
    while !buf.is_empty() {
        let (number, wt) = key(&mut buf)?;
        skip(&mut buf, wt)?;
        if rival(msg, f, number) {
            from = buf;
        }
    }
    let mut buf = from;
    let mut at = 0usize;
    while !buf.is_empty() {
        let (number, wt) = key(&mut buf)?;
        if number == f.number && wt == LEN {
            let body = delimited(&mut buf)?;
            let end = at.checked_add(body.len()).ok_or(Fallback)?;
            dst.get_mut(at..end).ok_or(Fallback)?.copy_from_slice(body);
            at = end;
        } else {
            skip(&mut buf, wt)?;
        }
    }
    Ok(at)
}

/// The whole message as a tree built only from what [`field`], [`list`]
/// and [`merged`] answer, the way a view reads it field by field (map
/// fields, which views read through the eager decoding, are taken from
/// it). Equal to the direct decoder's tree for any bytes it accepts: the
/// tests and fuzz harnesses check that.
pub fn view_tree(m: u16, bytes: &[u8]) -> Result<super::tree::Node, Fallback> {
    use super::tree::{Key, Node, TreeSink};
    use crate::wire::schema::Label;
    fn node(
        it: &Found,
        bytes: &[u8],
        ty: Ty,
        merged_bytes: Option<Vec<u8>>,
    ) -> Result<Option<Node>, Fallback> {
        let slice = |off: u32, len: u32| -> Result<&[u8], Fallback> {
            let (a, n) = (off as usize, len as usize);
            bytes
                .get(a..a.checked_add(n).ok_or(Fallback)?)
                .ok_or(Fallback)
        };
        Ok(match it.kind {
            UNSET => None,
            NUM => Some(Node::Num(it.num)),
            BOOL => Some(Node::Bool(it.num != 0.0)),
            BYTES => Some(Node::Str(slice(it.off, it.len)?.to_vec())),
            ENUM => Some(Node::Str(
                schema::NAMES
                    .get(it.off as usize)
                    .ok_or(Fallback)?
                    .as_bytes()
                    .to_vec(),
            )),
            MESSAGE => {
                let Ty::Message(sub) = ty else {
                    return Err(Fallback);
                };
                Some(match merged_bytes {
                    Some(b) => view_tree(sub, &b)?,
                    None => view_tree(sub, slice(it.off, it.len)?)?,
                })
            }
            _ => return Err(Fallback),
        })
    }
    let msg = schema::msg(m);
    let mut t = std::collections::BTreeMap::new();
    for (fi, f) in msg.fields.iter().enumerate() {
        let v = match f.label {
            Label::Optional | Label::Required => {
                let it = field(m, fi, bytes)?;
                let mb = if it.kind == MESSAGE && it.count > 1 {
                    let mut dst = vec![0u8; it.total as usize];
                    let n = merged(m, fi, bytes, &mut dst)?;
                    if n != dst.len() {
                        return Err(Fallback);
                    }
                    Some(dst)
                } else {
                    None
                };
                node(&it, bytes, f.ty, mb)?
            }
            Label::Repeated => {
                let n = list(m, fi, bytes, &mut [])?;
                if n == 0 {
                    None
                } else {
                    let mut items = vec![Found::default(); n];
                    if list(m, fi, bytes, &mut items)? != n {
                        return Err(Fallback);
                    }
                    let mut l = std::collections::BTreeMap::new();
                    for (i, it) in items.iter().enumerate() {
                        let v = node(it, bytes, f.ty, None)?.ok_or(Fallback)?;
                        l.insert(Key::num((i + 1) as f64), v);
                    }
                    Some(Node::Table(l))
                }
            }
            Label::Map => {
                let mut sink = TreeSink::default();
                super::pb::decode(&mut sink, m, bytes)?;
                sink.result().and_then(|n| n.get(f.name).cloned())
            }
        };
        if let Some(v) = v {
            t.insert(Key::Str(f.name.as_bytes().to_vec()), v);
        }
    }
    Ok(Node::Table(t))
}
