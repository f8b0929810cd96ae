//! Mesos JSON → protobuf bytes, through the JSON direct decoder: a
//! [`Sink`] that writes each table it is given as a protobuf message. A
//! driver with lazy views transcodes JSON events on its I/O thread, so the
//! views (which read protobuf) serve both encodings.
//!
//! The protobuf reads as the JSON does (checked field by field against the
//! JSON tables in the tests and fuzz harnesses), except that nothing marks
//! an empty message apart from an absent one, and that lists and maps are
//! only ever set with items (as the JSON decoder already does). Whatever it
//! cannot write exactly (a value out of its type's range, an unset) makes
//! [`PbSink::finish`] answer `None`, and the event keeps its JSON.

use super::write::{self, delimited, tag, varint};
use super::{Fallback, Scalar, Sink};
use crate::wire::schema::{self, Field, Label, Ty};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Msg,
    List,
    Map,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    /// Where a message's fields start in the output; a nested message's
    /// one-byte length placeholder sits just before.
    start: usize,
    /// The field it belongs to in its parent message (a nested message:
    /// its tag and length are in the output before `start`).
    field: Option<&'static Field>,
    /// The slot of that parent message (0: none, the root or a map value).
    parent: i32,
}

/// Writes the tables it is given as protobuf, into one buffer: a table's
/// fields always go to the end of it (the decoder finishes a nested table
/// before it writes to the one around it).
#[derive(Debug, Default)]
pub struct PbSink {
    stack: Vec<Frame>,
    out: Vec<u8>,
    bad: bool,
    /// The top-level message's `type` enum value, if set.
    pub event_type: Option<&'static str>,
}

/// An integral number within [lo, hi], else None.
fn integral(x: f64, lo: f64, hi: f64) -> Option<f64> {
    (x.fract() == 0.0 && x >= lo && x <= hi).then_some(x)
}

/// Writes field `number` of type `ty` holding `v`; false if it cannot be
/// written exactly.
fn put(number: u32, ty: Ty, v: Scalar<'_>, out: &mut Vec<u8>) -> bool {
    const I32: (f64, f64) = (-2_147_483_648.0, 2_147_483_647.0);
    const U32: (f64, f64) = (0.0, 4_294_967_295.0);
    // Within these, an integral f64 converts to the integer exactly and back.
    const I64: (f64, f64) = (-9_223_372_036_854_775_808.0, 9_223_372_036_854_774_784.0);
    const U64: (f64, f64) = (0.0, 18_446_744_073_709_549_568.0);
    let int = |x: f64, (lo, hi): (f64, f64)| integral(x, lo, hi);
    match (ty, v) {
        (Ty::Double, Scalar::Num(x)) => {
            tag(number, 1, out);
            out.extend_from_slice(&x.to_le_bytes());
        }
        (Ty::Float, Scalar::Num(x)) => {
            let f = x as f32;
            if f64::from(f).to_bits() != x.to_bits() && !x.is_nan() {
                return false;
            }
            tag(number, 5, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
        (Ty::Int32, Scalar::Num(x)) | (Ty::Enum(_), Scalar::Num(x)) => {
            let Some(x) = int(x, I32) else { return false };
            tag(number, 0, out);
            varint(x as i64 as u64, out);
        }
        (Ty::Int64, Scalar::Num(x)) => {
            let Some(x) = int(x, I64) else { return false };
            tag(number, 0, out);
            varint(x as i64 as u64, out);
        }
        (Ty::Uint32, Scalar::Num(x)) => {
            let Some(x) = int(x, U32) else { return false };
            tag(number, 0, out);
            varint(x as u64, out);
        }
        (Ty::Uint64, Scalar::Num(x)) => {
            let Some(x) = int(x, U64) else { return false };
            tag(number, 0, out);
            varint(x as u64, out);
        }
        (Ty::Sint32, Scalar::Num(x)) => {
            let Some(x) = int(x, I32) else { return false };
            let n = x as i32;
            tag(number, 0, out);
            varint(u64::from(((n << 1) ^ (n >> 31)) as u32), out);
        }
        (Ty::Sint64, Scalar::Num(x)) => {
            let Some(x) = int(x, I64) else { return false };
            let n = x as i64;
            tag(number, 0, out);
            varint(((n << 1) ^ (n >> 63)) as u64, out);
        }
        (Ty::Fixed32, Scalar::Num(x)) => {
            let Some(x) = int(x, U32) else { return false };
            tag(number, 5, out);
            out.extend_from_slice(&(x as u32).to_le_bytes());
        }
        (Ty::Sfixed32, Scalar::Num(x)) => {
            let Some(x) = int(x, I32) else { return false };
            tag(number, 5, out);
            out.extend_from_slice(&(x as i32).to_le_bytes());
        }
        (Ty::Fixed64, Scalar::Num(x)) => {
            let Some(x) = int(x, U64) else { return false };
            tag(number, 1, out);
            out.extend_from_slice(&(x as u64).to_le_bytes());
        }
        (Ty::Sfixed64, Scalar::Num(x)) => {
            let Some(x) = int(x, I64) else { return false };
            tag(number, 1, out);
            out.extend_from_slice(&(x as i64).to_le_bytes());
        }
        (Ty::Bool, Scalar::Bool(b)) => {
            tag(number, 0, out);
            out.push(u8::from(b));
        }
        (Ty::String | Ty::Bytes, Scalar::Str(s)) => delimited(number, s, out),
        (Ty::Enum(e), Scalar::Enum(name)) => {
            let Some(n) = schema::enm(e).number_of(name.text.as_bytes()) else {
                return false;
            };
            tag(number, 0, out);
            varint(n as i64 as u64, out);
        }
        _ => return false,
    }
    true
}

impl PbSink {
    fn frame(&self, slot: i32) -> Option<&Frame> {
        usize::try_from(slot - 1)
            .ok()
            .and_then(|i| self.stack.get(i))
    }

    /// Opens a message nested as field `f` of the message at `parent`: its
    /// tag and a length placeholder.
    fn open(&mut self, f: &'static Field, parent: i32) {
        if self.frame(parent).is_none_or(|fr| fr.kind != Kind::Msg) {
            self.bad = true;
        }
        let at = write::open(f.number, &mut self.out);
        self.stack.push(Frame {
            kind: Kind::Msg,
            start: at + 1,
            field: Some(f),
            parent,
        });
    }

    fn push(&mut self, kind: Kind, field: Option<&'static Field>, parent: i32) {
        self.stack.push(Frame {
            kind,
            start: self.out.len(),
            field,
            parent,
        });
    }

    /// Appends a field to the message at `slot` (the last one open).
    fn write(&mut self, slot: i32, f: impl FnOnce(&mut Vec<u8>) -> bool) {
        let is_msg = self.frame(slot).is_some_and(|fr| fr.kind == Kind::Msg);
        if !is_msg || !f(&mut self.out) {
            self.bad = true;
        }
    }

    /// The list or map frame at `slot`: its field and parent message.
    fn container(&self, slot: i32, kind: Kind) -> Option<(&'static Field, i32)> {
        let fr = self.frame(slot)?;
        (fr.kind == kind).then_some((fr.field?, fr.parent))
    }

    /// Closes the top frame: a nested message gets its length.
    fn pop(&mut self) {
        let Some(fr) = self.stack.pop() else { return };
        if fr.kind != Kind::Msg || fr.parent == 0 {
            return;
        }
        write::close(fr.start - 1, &mut self.out);
    }

    /// A map entry (key, then the value `value` writes) into the map at `t`.
    fn entry(
        &mut self,
        t: i32,
        k: Scalar<'_>,
        value: impl FnOnce(&'static Field, &mut Vec<u8>) -> bool,
    ) {
        let Some((f, parent)) = self.container(t, Kind::Map) else {
            self.bad = true;
            return;
        };
        let Ty::Message(em) = f.ty else {
            self.bad = true;
            return;
        };
        let entry = schema::msg(em);
        let (Some(kf), Some(vf)) = (entry.field(1), entry.field(2)) else {
            self.bad = true;
            return;
        };
        let mut body = Vec::new();
        if !put(1, kf.ty, k, &mut body) || !value(vf, &mut body) {
            self.bad = true;
            return;
        }
        self.write(parent, |out| {
            delimited(f.number, &body, out);
            true
        });
    }

    /// The protobuf bytes of the top-level message, if it could all be
    /// written exactly.
    pub fn finish(self) -> Option<Vec<u8>> {
        if self.bad || self.stack.len() != 1 {
            return None;
        }
        Some(self.out)
    }
}

impl Sink for PbSink {
    fn top(&self) -> i32 {
        self.stack.len() as i32
    }
    fn settop(&mut self, slot: i32) {
        while self.top() > slot.max(0) {
            self.pop();
        }
    }
    fn grow(&mut self) -> Result<(), Fallback> {
        Ok(())
    }
    fn new_table(&mut self, _: usize, _: usize) {
        self.push(Kind::Msg, None, 0);
    }
    fn set(&mut self, t: i32, key: &'static Field, v: Scalar<'_>) {
        if t == 1 && key.name == "type" {
            self.event_type = match v {
                Scalar::Enum(name) => Some(name.text),
                _ => None,
            };
        }
        self.write(t, |out| put(key.number, key.ty, v, out));
    }
    fn unset(&mut self, _: i32, _: &'static Field) {
        // Bytes already written cannot be taken back.
        self.bad = true;
    }
    fn child(&mut self, t: i32, key: &'static Field, narr: usize, nrec: usize) -> usize {
        self.new_child(t, key, narr, nrec);
        0
    }
    fn new_child(&mut self, t: i32, key: &'static Field, _: usize, _: usize) {
        match key.label {
            Label::Repeated => self.push(Kind::List, Some(key), t),
            Label::Map => self.push(Kind::Map, Some(key), t),
            Label::Optional | Label::Required => self.open(key, t),
        }
    }
    fn seti(&mut self, t: i32, _: usize, v: Scalar<'_>) {
        match self.container(t, Kind::List) {
            Some((f, parent)) => self.write(parent, |out| put(f.number, f.ty, v, out)),
            None => self.bad = true,
        }
    }
    fn child_at(&mut self, t: i32, _: usize, _: usize) {
        match self.container(t, Kind::List) {
            Some((f, parent)) => self.open(f, parent),
            None => {
                self.bad = true;
                self.push(Kind::Msg, None, 0);
            }
        }
    }
    fn set_kv(&mut self, t: i32, k: Scalar<'_>, v: Scalar<'_>) {
        self.entry(t, k, |vf, out| put(2, vf.ty, v, out));
    }
    fn set_k_top(&mut self, t: i32, k: Scalar<'_>) {
        let value = match self.stack.pop() {
            Some(fr) if fr.kind == Kind::Msg && fr.parent == 0 && fr.start <= self.out.len() => {
                self.out.split_off(fr.start)
            }
            _ => {
                self.bad = true;
                return;
            }
        };
        self.entry(t, k, |_, out| {
            delimited(2, &value, out);
            true
        });
    }
}

/// Mesos JSON bytes of message `m` as protobuf bytes and the top-level
/// `type`, when the JSON direct decoder takes them and they can be written
/// exactly.
pub fn json_to_protobuf(m: u16, json: &[u8]) -> Option<(Vec<u8>, Option<&'static str>)> {
    let mut sink = PbSink::default();
    super::json::decode(&mut sink, m, json).ok()?;
    let ty = sink.event_type;
    sink.finish().map(|b| (b, ty))
}
