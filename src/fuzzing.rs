//! Fuzz harnesses: what the coverage-guided targets in `fuzz/` run on each
//! input, kept here so that `tests/fuzz_corpus.rs` replays the saved corpus
//! (and every crash ever found) through the same code in `cargo test`.
//!
//! Each harness panics only when an invariant breaks; hostile input must
//! give an `Err`, never a panic, an abort or unbounded memory.

use prost::Message;

use crate::wire::codec::{self, Encoding};
use crate::wire::pb;
use crate::wire::recordio::{Decoder, RecordIoError};

/// The record size limit the harnesses use (small, so "too large" is hit).
pub const FUZZ_MAX_RECORD: usize = 4096;

fn decode_all(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Vec<u8>>, Option<RecordIoError>) {
    let mut d = Decoder::new(FUZZ_MAX_RECORD);
    let mut records = vec![];
    for chunk in chunks {
        d.feed(chunk);
        loop {
            match d.next_record() {
                Ok(Some(r)) => {
                    assert!(r.len() <= FUZZ_MAX_RECORD, "record over the limit");
                    records.push(r);
                }
                Ok(None) => break,
                Err(e) => {
                    // Errors are sticky: the stream is dead.
                    assert_eq!(d.next_record(), Err(e.clone()));
                    return (records, Some(e));
                }
            }
        }
    }
    let end = d.finish().err();
    (records, end)
}

/// RecordIO: the records (and the error, if any) do not depend on how the
/// bytes were split into reads. The first input byte picks the split.
pub fn recordio(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = decode_all(&mut std::iter::once(bytes));
    let step = usize::from(split % 17) + 1;
    let chunked = decode_all(&mut bytes.chunks(step));
    assert_eq!(
        whole.0, chunked.0,
        "records differ with reads of {step} bytes"
    );
    assert_eq!(
        whole.1.is_some(),
        chunked.1.is_some(),
        "errors differ with reads of {step} bytes: {:?} vs {:?}",
        whole.1,
        chunked.1
    );
    // Re-encoding the records gives a stream that decodes to them again.
    let mut again = vec![];
    for r in &whole.0 {
        crate::wire::recordio::encode_into(r, &mut again);
    }
    let back = decode_all(&mut std::iter::once(again.as_slice()));
    assert_eq!(back.0, whole.0);
    assert!(back.1.is_none());
}

const MESSAGES: [&str; 4] = [
    "mesos.v1.scheduler.Event",
    "mesos.v1.executor.Event",
    "mesos.v1.scheduler.Call",
    "mesos.v1.executor.Call",
];

/// Event (and call) decoding in one encoding: no panic; whatever decodes
/// re-encodes to bytes that decode to the same message, and converts to
/// the generated types (which is what the drivers do with it).
pub fn decode(data: &[u8], enc: Encoding) {
    for name in MESSAGES {
        let Ok(desc) = codec::descriptor(name) else {
            panic!("{name} is not in the descriptor pool");
        };
        let Ok(m) = codec::decode_dynamic(&desc, data, enc, true) else {
            continue;
        };
        let once = codec::encode_dynamic(&m, enc);
        let m2 = match codec::decode_dynamic(&desc, &once, enc, true) {
            Ok(m2) => m2,
            Err(e) => panic!("{name}: our own {enc:?} encoding does not decode: {e}"),
        };
        let twice = codec::encode_dynamic(&m2, enc);
        assert_eq!(once, twice, "{name}: {enc:?} encoding is not stable");
        // The other encoding must carry it too.
        let other = match enc {
            Encoding::Json => Encoding::Protobuf,
            Encoding::Protobuf => Encoding::Json,
        };
        let cross = codec::encode_dynamic(&m2, other);
        if let Err(e) = codec::decode_dynamic(&desc, &cross, other, true) {
            panic!("{name}: {enc:?} -> {other:?} does not decode: {e}");
        }
        match name {
            "mesos.v1.scheduler.Event" => typed::<pb::scheduler::Event>(&m2),
            "mesos.v1.executor.Event" => typed::<pb::executor::Event>(&m2),
            "mesos.v1.scheduler.Call" => typed::<pb::scheduler::Call>(&m2),
            _ => typed::<pb::executor::Call>(&m2),
        }
    }
}

fn typed<M: Message + Default + prost::Name>(m: &prost_reflect::DynamicMessage) {
    let t: M = match m.transcode_to::<M>() {
        Ok(t) => t,
        Err(e) => panic!("{}: decoded but does not transcode: {e}", M::full_name()),
    };
    let _ = t.encode_to_vec();
}

/// The direct protobuf decoder against the descriptor-based one.
pub fn direct_protobuf(data: &[u8]) {
    direct(data, Encoding::Protobuf);
}

/// The direct JSON decoder against the descriptor-based one.
pub fn direct_json(data: &[u8]) {
    direct(data, Encoding::Json);
}

/// A direct decoder (`wire::direct`) against the descriptor-based path,
/// for each message type: whatever it accepts, the descriptor-based path
/// accepts too and converts to the same tree (the tables Lua gets), with
/// the same event type; the validating pass agrees with the building one.
pub fn direct(data: &[u8], enc: Encoding) {
    use crate::wire::direct::{self, tree};
    for name in MESSAGES {
        let (Ok(desc), Some(m)) = (codec::descriptor(name), crate::wire::schema::message(name))
        else {
            panic!("{name} is not in the schema");
        };
        let mut sink = tree::TreeSink::default();
        let built = direct::decode(&mut sink, m, data, enc);
        let checked = direct::check(m, data, enc);
        assert_eq!(
            built.is_ok(),
            checked.is_ok(),
            "{name}: check and decode disagree"
        );
        if built.is_err() {
            continue;
        }
        let old = match codec::decode_dynamic(&desc, data, enc, false) {
            Ok(old) => old,
            Err(e) => panic!("{name}: the direct decoder accepts what the old path rejects: {e}"),
        };
        assert_eq!(
            sink.result(),
            Some(tree::from_message(&old)),
            "{name}: direct and descriptor-based trees differ"
        );
        // Lazy views read the same, field by field: protobuf as it is,
        // JSON transcoded.
        let pb = match enc {
            Encoding::Protobuf => Some((data.to_vec(), None)),
            Encoding::Json => {
                direct::transcode::json_to_protobuf(m, data).map(|(b, t)| (b, Some(t)))
            }
        };
        if let Some((pb, ty)) = pb {
            assert!(
                direct::pb::check(m, &pb).is_ok(),
                "{name}: transcoded bytes invalid"
            );
            assert_eq!(
                direct::find::view_tree(m, &pb).ok(),
                sink.result(),
                "{name}: a view reads other values than the tables"
            );
            if let Some(ty) = ty {
                assert_eq!(ty, checked.ok().flatten(), "{name}: transcoded type");
            }
        }
        let ty = crate::driver::Event::decoded(old).type_name();
        assert_eq!(checked.ok().flatten(), ty, "{name}: event type");
        if enc == Encoding::Protobuf && direct::pb::check_strict(m, data).is_ok() {
            // codec::decode's typed shortcut with required fields checked.
            match name {
                "mesos.v1.scheduler.Event" => strict_same::<pb::scheduler::Event>(&desc, data),
                "mesos.v1.executor.Event" => strict_same::<pb::executor::Event>(&desc, data),
                "mesos.v1.scheduler.Call" => strict_same::<pb::scheduler::Call>(&desc, data),
                _ => strict_same::<pb::executor::Call>(&desc, data),
            }
        }
    }
}

/// A strictly checked message decodes with prost as the descriptor-based
/// path (required fields checked) decodes and transcodes it.
fn strict_same<M: Message + Default + PartialEq + std::fmt::Debug + prost::Name>(
    desc: &prost_reflect::MessageDescriptor,
    data: &[u8],
) {
    let slow = match codec::decode_dynamic(desc, data, Encoding::Protobuf, true) {
        Ok(m) => m,
        Err(e) => panic!(
            "{}: strict check passes what the old path rejects: {e}",
            M::full_name()
        ),
    };
    let slow: M = match slow.transcode_to() {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", M::full_name()),
    };
    let fast = match M::decode(data) {
        Ok(t) => t,
        Err(e) => panic!(
            "{}: prost rejects a strictly checked message: {e}",
            M::full_name()
        ),
    };
    // (Compared encoded: NaN is not equal to itself.)
    assert_eq!(
        fast.encode_to_vec(),
        slow.encode_to_vec(),
        "{}: typed decode differs: {fast:?} vs {slow:?}",
        M::full_name()
    );
}

/// A small reader of fuzz bytes for structured harnesses.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let s = self.take(8);
        b[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(b)
    }
}

/// Every field name and enum value name of the Mesos messages we use: the
/// words a structured harness builds tables from, so it reaches deep.
pub fn vocabulary() -> Vec<String> {
    let pool = codec::pool();
    let mut words: Vec<String> = pool
        .all_messages()
        .flat_map(|m| m.fields().map(|f| f.name().to_string()).collect::<Vec<_>>())
        .chain(
            pool.all_enums()
                .flat_map(|e| e.values().map(|v| v.name().to_string()).collect::<Vec<_>>()),
        )
        .collect();
    words.sort();
    words.dedup();
    words
}

/// A reader that hands out `step` bytes at a time, with an `Interrupted`
/// error before every other read (as a signal would).
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    interrupt: bool,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Every head read from `bytes` (as a keep-alive connection reads them one
/// after the other), then how the reading ended.
fn read_heads(bytes: &[u8], step: usize) -> (Vec<Vec<u8>>, Option<std::io::ErrorKind>) {
    let mut r = std::io::BufReader::with_capacity(
        step.max(1),
        Trickle {
            data: bytes,
            step,
            interrupt: false,
        },
    );
    let mut heads = vec![];
    loop {
        match crate::net::http::read_head(&mut r) {
            Ok(Some(h)) => {
                assert!(
                    h.len() <= crate::net::http::MAX_HEAD + 4,
                    "head over the limit"
                );
                heads.push(h);
            }
            Ok(None) => return (heads, None),
            Err(e) => return (heads, Some(e.kind())),
        }
    }
}

/// HTTP heads (requests and responses, as the server and the client read
/// them): the heads and the error do not depend on read sizes or
/// interrupted reads, and parsing what was read never panics. The first
/// input byte picks the read size.
pub fn http_head(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = read_heads(bytes, bytes.len().max(1));
    let step = usize::from(split % 23) + 1;
    let trickled = read_heads(bytes, step);
    assert_eq!(whole, trickled, "heads differ with reads of {step} bytes");
    for h in &whole.0 {
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let _ = httparse::Response::new(&mut hdrs).parse(h);
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let _ = httparse::Request::new(&mut hdrs).parse(h);
    }
}

fn dechunk(bytes: &[u8], step: usize) -> (Vec<u8>, usize, bool, bool) {
    let mut d = crate::net::http::chunked::Decoder::default();
    let (mut out, mut used) = (vec![], 0);
    for c in bytes.chunks(step.max(1)) {
        match d.decode(c, &mut out) {
            Ok(n) => {
                used += n;
                if n < c.len() {
                    break;
                }
            }
            Err(_) => return (out, used, d.is_done(), true),
        }
    }
    (out, used, d.is_done(), false)
}

/// The chunked decoder: the payload, where the body ends and whether it
/// fails do not depend on how the bytes were split; the payload is never
/// longer than the input. The first input byte picks the split.
pub fn chunked(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = dechunk(bytes, bytes.len());
    let step = usize::from(split % 17) + 1;
    let parts = dechunk(bytes, step);
    assert!(whole.0.len() <= bytes.len(), "more payload than input");
    if whole.3 {
        // The error is found at the same byte: the payload before it is
        // the same up to what each read had decoded.
        assert!(parts.3, "an error only without splitting");
    } else {
        assert_eq!(whole, parts, "the body differs with reads of {step} bytes");
    }
}

fn nats_ops(
    bytes: &[u8],
    step: usize,
) -> (
    Vec<crate::net::nats::parse::ServerOp>,
    Option<crate::net::nats::parse::ProtoError>,
) {
    let mut p = crate::net::nats::parse::Parser::new();
    p.set_max_payload(FUZZ_MAX_RECORD);
    let mut ops = vec![];
    for c in bytes.chunks(step.max(1)) {
        p.feed(c);
        loop {
            match p.next_op() {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(p.next_op(), Err(e.clone()), "errors are sticky");
                    return (ops, Some(e));
                }
            }
        }
    }
    (ops, None)
}

/// The NATS protocol parser: the operations (and the error, if any) do not
/// depend on how the server's bytes were split into reads; no payload is
/// over the limit. The first input byte picks the split.
pub fn nats(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = nats_ops(bytes, bytes.len());
    let step = usize::from(split % 13) + 1;
    let parts = nats_ops(bytes, step);
    for op in &whole.0 {
        if let crate::net::nats::parse::ServerOp::Msg(m) = op {
            assert!(m.payload.len() <= FUZZ_MAX_RECORD, "payload over the limit");
        }
    }
    assert_eq!(whole, parts, "operations differ with reads of {step} bytes");
}
