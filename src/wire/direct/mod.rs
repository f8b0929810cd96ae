//! Direct decoding: protobuf (and Mesos JSON) bytes straight into a tree of
//! tables, guided by the static tables of [`super::schema`], with no
//! `DynamicMessage` in between. The tree is built through a [`Sink`]: the
//! Lua binding's sink makes Lua tables (`lua::fast`), [`Check`] makes
//! nothing and only validates (the drivers' I/O threads run it, so that a
//! malformed event still ends the stream there).
//!
//! The result is exactly what `codec::decode_dynamic` followed by the
//! message → Lua conversion gives: field names as keys, enums as value
//! names (an unknown number leaves the field unset, or drops the item of a
//! list), 64-bit integers and floats as numbers, bytes as strings,
//! protobuf merge semantics for repeated and duplicated fields, packed
//! lists, oneofs, maps. It is stricter, never looser: on anything it does
//! not handle the same way (a group, a wire type the descriptor-based
//! decoder would read differently, nesting beyond its limit, malformed
//! bytes) it answers [`Fallback`], and the caller uses the
//! descriptor-based path, which then decides (and words the error).

pub mod find;
pub mod json;
pub mod pb;
pub mod transcode;
pub mod tree;
pub mod write;

use crate::wire::schema::{Field, Name};

/// The input needs the descriptor-based path (it may still be valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

/// A leaf value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Num(f64),
    Bool(bool),
    /// A string or bytes field's bytes (strings are valid UTF-8).
    Str(&'a [u8]),
    /// An enum value the schema knows, by name.
    Enum(&'static Name),
}

/// Builds the tree. Tables live on a stack and are named by their absolute
/// slot (1 is the first pushed); `set*` operations write into the table at
/// a slot without moving the stack unless they say so.
pub trait Sink {
    /// Strict decoding (protobuf): an unknown enum number, or a required
    /// field missing, falls back instead of being dropped. Then what the
    /// decoder accepts, prost's typed decoding reads exactly as the
    /// descriptor-based path with its required-field check does.
    const STRICT: bool = false;
    /// The slot of the topmost table (0: none).
    fn top(&self) -> i32;
    /// Drops the tables above `slot`.
    fn settop(&mut self, slot: i32);
    /// Makes room for one more nesting level.
    fn grow(&mut self) -> Result<(), Fallback>;
    /// Pushes a new empty table, sized for `narr` list items and `nrec`
    /// fields.
    fn new_table(&mut self, narr: usize, nrec: usize);
    /// `t[key] = v`.
    fn set(&mut self, t: i32, key: &'static Field, v: Scalar<'_>);
    /// `t[key] = nil`.
    fn unset(&mut self, t: i32, key: &'static Field);
    /// Pushes `t[key]` if it is a table, else a new table stored there
    /// (sized as `new_table`); returns its length (`#`).
    fn child(&mut self, t: i32, key: &'static Field, narr: usize, nrec: usize) -> usize;
    /// Pushes a new table stored as `t[key]` (which the caller knows is
    /// unset).
    fn new_child(&mut self, t: i32, key: &'static Field, narr: usize, nrec: usize);
    /// `t[i] = v`.
    fn seti(&mut self, t: i32, i: usize, v: Scalar<'_>);
    /// Pushes a new table stored as `t[i]`, sized for `nrec` fields.
    fn child_at(&mut self, t: i32, i: usize, nrec: usize);
    /// `t[k] = v` (map entries).
    fn set_kv(&mut self, t: i32, k: Scalar<'_>, v: Scalar<'_>);
    /// `t[k] = ` the topmost table, which is popped.
    fn set_k_top(&mut self, t: i32, k: Scalar<'_>);
}

/// A sink that builds nothing: decoding with it only validates (strictly
/// with `STRICT`). It also keeps the top-level `type` field, which is all a
/// driver's I/O thread needs to know of most events.
#[derive(Debug, Default)]
pub struct Check<const STRICT: bool = false> {
    top: i32,
    /// The top-level message's `type` enum value, if set.
    pub event_type: Option<&'static str>,
}

impl<const STRICT: bool> Sink for Check<STRICT> {
    const STRICT: bool = STRICT;
    #[inline]
    fn top(&self) -> i32 {
        self.top
    }
    #[inline]
    fn settop(&mut self, slot: i32) {
        self.top = slot;
    }
    #[inline]
    fn grow(&mut self) -> Result<(), Fallback> {
        Ok(())
    }
    #[inline]
    fn new_table(&mut self, _: usize, _: usize) {
        self.top += 1;
    }
    #[inline]
    fn set(&mut self, t: i32, key: &'static Field, v: Scalar<'_>) {
        if t == 1 && key.name == "type" {
            self.event_type = match v {
                Scalar::Enum(name) => Some(name.text),
                _ => None,
            };
        }
    }
    #[inline]
    fn unset(&mut self, t: i32, key: &'static Field) {
        if t == 1 && key.name == "type" {
            self.event_type = None;
        }
    }
    #[inline]
    fn child(&mut self, _: i32, _: &'static Field, _: usize, _: usize) -> usize {
        self.top += 1;
        0
    }
    #[inline]
    fn new_child(&mut self, _: i32, _: &'static Field, _: usize, _: usize) {
        self.top += 1;
    }
    #[inline]
    fn seti(&mut self, _: i32, _: usize, _: Scalar<'_>) {}
    #[inline]
    fn child_at(&mut self, _: i32, _: usize, _: usize) {
        self.top += 1;
    }
    #[inline]
    fn set_kv(&mut self, _: i32, _: Scalar<'_>, _: Scalar<'_>) {}
    #[inline]
    fn set_k_top(&mut self, _: i32, _: Scalar<'_>) {
        self.top -= 1;
    }
}

/// Nesting allowed below the top-level message: prost's recursion limit.
pub const DEPTH: u32 = 100;

/// Decodes `bytes` of message `m` in either encoding into a new table on
/// `s`.
pub fn decode<S: Sink>(
    s: &mut S,
    m: u16,
    bytes: &[u8],
    enc: crate::wire::Encoding,
) -> Result<(), Fallback> {
    match enc {
        crate::wire::Encoding::Protobuf => pb::decode(s, m, bytes),
        crate::wire::Encoding::Json => json::decode(s, m, bytes),
    }
}

/// Validates `bytes` of message `m`; the top-level `type` if valid.
pub fn check(
    m: u16,
    bytes: &[u8],
    enc: crate::wire::Encoding,
) -> Result<Option<&'static str>, Fallback> {
    match enc {
        crate::wire::Encoding::Protobuf => pb::check(m, bytes),
        crate::wire::Encoding::Json => json::check(m, bytes),
    }
}
