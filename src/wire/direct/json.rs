//! Mesos JSON → tables, one pass, guided by `schema` (see the module above
//! for the [`Fallback`] contract).
//!
//! Mirrors `codec::decode_dynamic` for JSON (`serde_json` into a `Value`,
//! then `json::from_value`, required fields not checked) followed by the
//! message → table conversion: unknown keys and `null` values are ignored,
//! integers may be numbers or numeric strings, doubles accept
//! `"Infinity"`/`"NaN"` strings, booleans `"true"`/`"false"`, bytes are
//! base64, an unknown enum name leaves the field unset (or drops the list
//! item). What this parser does not reproduce exactly falls back: a key
//! given twice, two members of one oneof, bare `Infinity`/`NaN` tokens,
//! numbers out of range, lone surrogates, deep nesting, maps not keyed by
//! strings, an unknown enum name as a map value, and every error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{Fallback, Scalar, Sink};
use crate::wire::schema::{self, Field, Label, Msg, Name, Ty};

/// Nesting of objects and arrays allowed (serde_json stops at 128).
const MAX_NESTING: u32 = 100;

/// Decodes the JSON `text` as the message `m` into a new table on `s`.
pub fn decode<S: Sink>(s: &mut S, m: u16, text: &[u8]) -> Result<(), Fallback> {
    let mut p = Parser {
        b: text,
        i: 0,
        scratch: Vec::new(),
    };
    s.grow()?;
    s.new_table(0, schema::hint(m));
    let top = s.top();
    p.ws();
    let r = object(s, &mut p, m, 0).and_then(|()| {
        p.ws();
        if p.i == p.b.len() {
            Ok(())
        } else {
            Err(Fallback)
        }
    });
    s.settop(top);
    r
}

/// Validates `text` as the message `m`; its top-level `type` if valid.
pub fn check(m: u16, text: &[u8]) -> Result<Option<&'static str>, Fallback> {
    let mut c = super::Check::<false>::default();
    decode(&mut c, m, text)?;
    Ok(c.event_type)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// Unescaped strings and decoded base64 (reused).
    scratch: Vec<u8>,
}

/// A JSON string, as borrowed bytes of the input (no escapes) or unescaped
/// into the parser's scratch buffer.
#[derive(Clone, Copy)]
enum Text {
    Raw(usize, usize),
    Scratch,
}

/// A JSON number as serde_json classifies it.
#[derive(Clone, Copy)]
enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::U64(n) => n as f64,
            Number::I64(n) => n as f64,
            Number::F64(x) => x,
        }
    }

    /// `json::int_of` for numbers.
    fn as_int(self) -> Option<i128> {
        match self {
            Number::U64(n) => Some(i128::from(n)),
            Number::I64(n) => Some(i128::from(n)),
            Number::F64(x) if x.fract() == 0.0 && x.abs() < 1.8e19 => Some(x as i128),
            Number::F64(_) => None,
        }
    }
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Result<(), Fallback> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Fallback> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    /// The bytes of a string read by `string`.
    #[inline]
    fn text(&self, t: Text) -> &[u8] {
        match t {
            Text::Raw(a, b) => &self.b[a..b],
            Text::Scratch => &self.scratch,
        }
    }

    /// A string (at its opening quote): valid UTF-8, escapes resolved.
    fn string(&mut self) -> Result<Text, Fallback> {
        self.eat(b'"')?;
        let start = self.i;
        // Fast path: no escapes.
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let raw = &self.b[start..self.i];
                    std::str::from_utf8(raw).map_err(|_| Fallback)?;
                    self.i += 1;
                    return Ok(Text::Raw(start, self.i - 1));
                }
                b'\\' => break,
                0..=0x1f => return Err(Fallback),
                _ => self.i += 1,
            }
        }
        if self.peek().is_none() {
            return Err(Fallback);
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.extend_from_slice(&self.b[start..self.i]);
        let r = self.escaped(&mut out);
        self.scratch = out;
        r?;
        std::str::from_utf8(&self.scratch).map_err(|_| Fallback)?;
        Ok(Text::Scratch)
    }

    /// The rest of a string with escapes, into `out`.
    fn escaped(&mut self, out: &mut Vec<u8>) -> Result<(), Fallback> {
        loop {
            let c = self.peek().ok_or(Fallback)?;
            self.i += 1;
            match c {
                b'"' => return Ok(()),
                0..=0x1f => return Err(Fallback),
                b'\\' => {
                    let e = self.peek().ok_or(Fallback)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let u = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&u) {
                                self.literal(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Fallback);
                                }
                                0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&u) {
                                return Err(Fallback);
                            } else {
                                u
                            };
                            let ch = char::from_u32(ch).ok_or(Fallback)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(Fallback),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Fallback> {
        let h = self.b.get(self.i..self.i + 4).ok_or(Fallback)?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char).to_digit(16).ok_or(Fallback)?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    /// A number, classified as serde_json does (integers that fit u64/i64,
    /// else f64; out of range is an error).
    fn number(&mut self) -> Result<Number, Fallback> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(Fallback),
        }
        let int_end = self.i;
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.i += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| Fallback)?;
        if !float {
            let digits = &self.b[int_start..int_end];
            let mut v: u64 = 0;
            let mut fits = true;
            for &d in digits {
                match v
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(d - b'0')))
                {
                    Some(x) => v = x,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                if !neg {
                    return Ok(Number::U64(v));
                }
                if v <= 1 << 63 {
                    return Ok(Number::I64((v as i64).wrapping_neg()));
                }
            }
        }
        let x: f64 = text.parse().map_err(|_| Fallback)?;
        if !x.is_finite() {
            return Err(Fallback);
        }
        Ok(Number::F64(x))
    }

    fn digits(&mut self) -> Result<(), Fallback> {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        if self.i == start {
            Err(Fallback)
        } else {
            Ok(())
        }
    }

    /// A comma-separated sequence closed by `close` (the opening bracket
    /// is next): `item` parses each element.
    fn seq(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), Fallback>,
    ) -> Result<(), Fallback> {
        self.eat(open)?;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Fallback),
            }
        }
    }

    /// An object member's key and its colon.
    fn key(&mut self) -> Result<Text, Fallback> {
        let k = self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Ok(k)
    }

    /// Skips any value (syntax checked).
    fn skip(&mut self, depth: u32) -> Result<(), Fallback> {
        match self.peek().ok_or(Fallback)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' if depth >= MAX_NESTING => Err(Fallback),
            b'{' => self.seq(b'{', b'}', |p| {
                p.key()?;
                p.skip(depth + 1)
            }),
            b'[' => self.seq(b'[', b']', |p| p.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    /// Consumes `null` if it is next.
    #[inline]
    fn null(&mut self) -> bool {
        self.literal(b"null").is_ok()
    }
}

/// `json::float_of` for strings.
fn float_of_str(s: &[u8]) -> Option<f64> {
    match s {
        b"Infinity" => Some(f64::INFINITY),
        b"-Infinity" => Some(f64::NEG_INFINITY),
        b"NaN" => Some(f64::NAN),
        s => std::str::from_utf8(s).ok()?.trim().parse().ok(),
    }
}

/// One scalar (not a message, not an enum) of type `ty`.
fn scalar<'p>(p: &'p mut Parser<'_>, ty: Ty) -> Result<Scalar<'p>, Fallback> {
    let c = p.peek().ok_or(Fallback)?;
    match ty {
        Ty::Double | Ty::Float => {
            let x = if c == b'"' {
                let t = p.string()?;
                float_of_str(p.text(t)).ok_or(Fallback)?
            } else {
                p.number()?.as_f64()
            };
            Ok(Scalar::Num(if ty == Ty::Float {
                f64::from(x as f32)
            } else {
                x
            }))
        }
        Ty::Bool => match c {
            b't' => p.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => p.literal(b"false").map(|()| Scalar::Bool(false)),
            b'"' => {
                let t = p.string()?;
                match p.text(t) {
                    b"true" => Ok(Scalar::Bool(true)),
                    b"false" => Ok(Scalar::Bool(false)),
                    _ => Err(Fallback),
                }
            }
            _ => Err(Fallback),
        },
        Ty::String => {
            if c != b'"' {
                return Err(Fallback);
            }
            let t = p.string()?;
            Ok(Scalar::Str(p.text(t)))
        }
        Ty::Bytes => {
            if c != b'"' {
                return Err(Fallback);
            }
            let t = p.string()?;
            let clean: Vec<u8> = p
                .text(t)
                .iter()
                .copied()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let bytes = B64.decode(&clean).map_err(|_| Fallback)?;
            p.scratch = bytes;
            Ok(Scalar::Str(&p.scratch))
        }
        Ty::Enum(_) | Ty::Message(_) => Err(Fallback),
        int => {
            let n = if c == b'"' {
                let t = p.string()?;
                std::str::from_utf8(p.text(t))
                    .ok()
                    .and_then(|s| s.trim().parse::<i128>().ok())
                    .ok_or(Fallback)?
            } else {
                p.number()?.as_int().ok_or(Fallback)?
            };
            let fits = match int {
                Ty::Int32 | Ty::Sint32 | Ty::Sfixed32 => i32::try_from(n).is_ok(),
                Ty::Int64 | Ty::Sint64 | Ty::Sfixed64 => i64::try_from(n).is_ok(),
                Ty::Uint32 | Ty::Fixed32 => u32::try_from(n).is_ok(),
                _ => u64::try_from(n).is_ok(),
            };
            if !fits {
                return Err(Fallback);
            }
            Ok(Scalar::Num(n as f64))
        }
    }
}

/// An enum value name (a JSON string): its schema name, `None` if unknown.
fn enum_value(p: &mut Parser<'_>, e: u16) -> Result<Option<&'static Name>, Fallback> {
    if p.peek() != Some(b'"') {
        return Err(Fallback);
    }
    let t = p.string()?;
    let e = schema::enm(e);
    Ok(e.number_of(p.text(t)).and_then(|n| e.value(n)))
}

/// An object as the message `mi`, into the table on top of the stack.
fn object<S: Sink>(s: &mut S, p: &mut Parser<'_>, mi: u16, depth: u32) -> Result<(), Fallback> {
    let m: &'static Msg = schema::msg(mi);
    if depth >= MAX_NESTING {
        return Err(Fallback);
    }
    let base = s.top();
    let mut seen = 0u128;
    let mut oneofs = 0u64;
    p.seq(b'{', b'}', |p| {
        let key = p.key()?;
        let Some(f) = m.field_by_name(p.text(key)) else {
            return p.skip(depth + 1);
        };
        let bit = 1u128.checked_shl(m.index(f) as u32).ok_or(Fallback)?;
        if seen & bit != 0 {
            return Err(Fallback); // a key twice: serde keeps the last
        }
        seen |= bit;
        if p.null() {
            return Ok(());
        }
        if f.oneof != 0 {
            let ob = 1u64.checked_shl(u32::from(f.oneof)).ok_or(Fallback)?;
            if oneofs & ob != 0 {
                return Err(Fallback); // two members: key order decides
            }
            oneofs |= ob;
        }
        if f.group {
            return Err(Fallback);
        }
        match f.label {
            Label::Map => map(s, p, base, f, depth + 1),
            Label::Repeated => list(s, p, base, f, depth + 1),
            Label::Optional | Label::Required => match f.ty {
                Ty::Message(sub) => {
                    if p.peek() != Some(b'{') {
                        return Err(Fallback);
                    }
                    s.grow()?;
                    s.new_child(base, f, 0, schema::hint(sub));
                    let slot = s.top();
                    object(s, p, sub, depth + 1)?;
                    s.settop(slot - 1);
                    Ok(())
                }
                Ty::Enum(e) => {
                    if let Some(name) = enum_value(p, e)? {
                        s.set(base, f, Scalar::Enum(name));
                    }
                    Ok(())
                }
                ty => {
                    let v = scalar(p, ty)?;
                    s.set(base, f, v);
                    Ok(())
                }
            },
        }
    })?;
    s.settop(base);
    schema::set_hint(mi, seen.count_ones());
    Ok(())
}

/// A repeated field's array; the list table is made at the first item
/// kept (an empty list is not set).
fn list<S: Sink>(
    s: &mut S,
    p: &mut Parser<'_>,
    base: i32,
    f: &'static Field,
    depth: u32,
) -> Result<(), Fallback> {
    if depth >= MAX_NESTING {
        return Err(Fallback);
    }
    let mut len = 0usize;
    let mut slot = 0;
    // The list's slot, made at the first item.
    let mut open = |s: &mut S, len: usize| {
        if len == 0 {
            s.new_child(base, f, 4, 0);
            slot = s.top();
        }
        slot
    };
    p.seq(b'[', b']', |p| {
        match f.ty {
            Ty::Message(sub) => {
                if p.peek() != Some(b'{') {
                    return Err(Fallback);
                }
                let at = open(s, len);
                len += 1;
                s.grow()?;
                s.child_at(at, len, schema::hint(sub));
                object(s, p, sub, depth + 1)?;
                s.settop(at);
            }
            Ty::Enum(e) => {
                if let Some(name) = enum_value(p, e)? {
                    let at = open(s, len);
                    len += 1;
                    s.seti(at, len, Scalar::Enum(name));
                }
            }
            ty => {
                let at = open(s, len);
                let v = scalar(p, ty)?;
                len += 1;
                s.seti(at, len, v);
            }
        }
        Ok(())
    })?;
    if len > 0 {
        s.settop(base);
    }
    Ok(())
}

/// A map field's object (string keys only; others fall back).
fn map<S: Sink>(
    s: &mut S,
    p: &mut Parser<'_>,
    base: i32,
    f: &'static Field,
    depth: u32,
) -> Result<(), Fallback> {
    let Ty::Message(em) = f.ty else {
        return Err(Fallback);
    };
    let entry = schema::msg(em);
    let (Some(kf), Some(vf)) = (entry.field(1), entry.field(2)) else {
        return Err(Fallback);
    };
    if kf.ty != Ty::String || depth >= MAX_NESTING {
        return Err(Fallback);
    }
    // The map's slot (made at the first entry) and the keys seen: a key
    // twice is left to the descriptor-based path.
    let mut slot = 0;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    p.seq(b'{', b'}', |p| {
        let kt = p.key()?;
        let k = p.text(kt).to_vec();
        if keys.contains(&k) {
            return Err(Fallback);
        }
        if slot == 0 {
            s.new_child(base, f, 0, 4);
            slot = s.top();
        }
        match vf.ty {
            Ty::Message(vm) => {
                if p.peek() != Some(b'{') {
                    return Err(Fallback);
                }
                s.grow()?;
                s.new_table(0, schema::hint(vm));
                object(s, p, vm, depth + 1)?;
                s.set_k_top(slot, Scalar::Str(&k));
            }
            Ty::Enum(e) => {
                let name = enum_value(p, e)?.ok_or(Fallback)?;
                s.set_kv(slot, Scalar::Str(&k), Scalar::Enum(name));
            }
            ty => {
                if p.peek() == Some(b'n') {
                    return Err(Fallback); // null: an error there
                }
                let v = scalar(p, ty)?;
                s.set_kv(slot, Scalar::Str(&k), v);
            }
        }
        keys.push(k);
        Ok(())
    })?;
    if slot != 0 {
        s.settop(slot - 1);
    }
    Ok(())
}
