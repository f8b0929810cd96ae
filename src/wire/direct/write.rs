//! Protobuf wire writing shared by the encoders that bypass prost (Lua
//! tables to protobuf in `lua::encode`, JSON to protobuf in
//! [`super::transcode`]).

/// Appends `v` as a varint.
#[inline]
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
#[inline]
pub fn tag(number: u32, wt: u8, out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | u64::from(wt), out);
}

/// Appends a length-delimited field holding `body`.
pub fn delimited(number: u32, body: &[u8], out: &mut Vec<u8>) {
    tag(number, 2, out);
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// Opens a length-delimited field whose body is written next: its key and
/// a one-byte length placeholder; the placeholder's index, for [`close`].
#[inline]
pub fn open(number: u32, out: &mut Vec<u8>) -> usize {
    tag(number, 2, out);
    out.push(0);
    out.len() - 1
}

/// Sets the length of the field [`open`] opened at `at` to what follows
/// the placeholder, moving the body up when the length needs more than one
/// byte.
pub fn close(at: usize, out: &mut Vec<u8>) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    varint(len as u64, &mut prefix);
    let extra = prefix.len() - 1;
    out.resize(out.len() + extra, 0);
    out.copy_within(at + 1..at + 1 + len, at + 1 + extra);
    out[at..at + prefix.len()].copy_from_slice(&prefix);
}
