//! RecordIO framing as Mesos writes it: `<decimal byte length>\n<bytes>`,
//! records back to back with nothing in between. Socket-free: the decoder is
//! fed whatever chunks arrive and hands out whole records.

use thiserror::Error;

/// Default bound on one record: room for the largest message Mesos can send
/// (`limits::MESOS_MAX_MESSAGE`, base64 in JSON). A record is buffered as
/// its bytes arrive, so a hostile length header alone allocates nothing.
pub const DEFAULT_MAX_RECORD: usize = super::limits::MAX_WIRE_BYTES;

/// A length header longer than this many bytes cannot be a valid u64.
const MAX_HEADER_DIGITS: usize = 20;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordIoError {
    #[error("recordio: invalid length header {0:?}")]
    BadHeader(String),
    #[error("recordio: record of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: u64, max: usize },
    #[error("recordio: stream ended inside a record ({0} bytes pending)")]
    Truncated(usize),
}

/// Frames one record.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    encode_into(data, &mut out);
    out
}

/// Appends one framed record to `out`.
pub fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
}

/// Incremental decoder. After an error the stream is unusable (as in Mesos:
/// a bad header is fatal) and every later call returns the same error.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
    max: usize,
    /// Length of the record whose header has been read, if any.
    want: Option<usize>,
    failed: Option<RecordIoError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD)
    }
}

impl Decoder {
    pub fn new(max_record: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            max: max_record,
            want: None,
            failed: None,
        }
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as records.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Returns the next whole record, `Ok(None)` if more bytes are needed.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
            ok => ok,
        }
    }

    fn step(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        loop {
            let want = match self.want {
                Some(n) => n,
                None => {
                    let rest = &self.buf[self.pos..];
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > MAX_HEADER_DIGITS || !rest.iter().all(u8::is_ascii_digit) {
                            return Err(bad_header(rest));
                        }
                        return Ok(None);
                    };
                    let header = &rest[..nl];
                    self.pos += nl + 1;
                    if header.is_empty() {
                        continue; // a stray blank line is harmless
                    }
                    let n = parse_len(header)?;
                    if n > self.max as u64 {
                        return Err(RecordIoError::TooLarge {
                            size: n,
                            max: self.max,
                        });
                    }
                    self.want = Some(n as usize);
                    n as usize
                }
            };
            if self.buf.len() - self.pos < want {
                return Ok(None);
            }
            let rec = self.buf[self.pos..self.pos + want].to_vec();
            self.pos += want;
            self.want = None;
            return Ok(Some(rec));
        }
    }

    /// Call at end of stream: an error if the stream stopped inside a record.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match self.pending() {
            0 => Ok(()),
            n => Err(RecordIoError::Truncated(n)),
        }
    }
}

fn bad_header(h: &[u8]) -> RecordIoError {
    let shown: String = String::from_utf8_lossy(&h[..h.len().min(32)]).into_owned();
    RecordIoError::BadHeader(shown)
}

fn parse_len(h: &[u8]) -> Result<u64, RecordIoError> {
    if h.len() > MAX_HEADER_DIGITS || !h.iter().all(u8::is_ascii_digit) {
        return Err(bad_header(h));
    }
    let mut n: u64 = 0;
    for &d in h {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or_else(|| bad_header(h))?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        let mut d = Decoder::default();
        let mut out = vec![];
        for c in chunks {
            d.feed(c);
            while let Some(r) = d.next_record()? {
                out.push(r);
            }
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn exact_bytes_of_the_docs_example() {
        assert_eq!(
            encode(br#"{"type":"HEARTBEAT"}"#),
            b"20\n{\"type\":\"HEARTBEAT\"}"
        );
    }

    #[test]
    fn several_records_in_one_chunk_and_one_split_everywhere() {
        let stream = [encode(b"abc"), encode(b""), encode("h\u{e9}llo".as_bytes())].concat();
        let whole = decode_all(&[&stream]).unwrap();
        assert_eq!(
            whole,
            vec![b"abc".to_vec(), vec![], "h\u{e9}llo".as_bytes().to_vec()]
        );
        for i in 0..stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(decode_all(&[a, b]).unwrap(), whole, "split at {i}");
        }
    }

    #[test]
    fn bad_headers_are_fatal_errors() {
        for bad in [
            &b"-5\nabcde"[..],
            b"+5\nabcde",
            b"5\r\nabcde",
            b"x\n",
            b"99999999999999999999999\n",
        ] {
            let mut d = Decoder::default();
            d.feed(bad);
            assert!(
                matches!(d.next_record(), Err(RecordIoError::BadHeader(_))),
                "{bad:?}"
            );
            assert!(d.next_record().is_err(), "error must stick");
        }
        // A header that never ends is rejected before it grows without bound.
        let mut d = Decoder::default();
        d.feed(&[b'1'; 25]);
        assert!(d.next_record().is_err());
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let mut d = Decoder::new(1024);
        d.feed(b"9223372036854775808\n");
        assert_eq!(
            d.next_record(),
            Err(RecordIoError::TooLarge {
                size: 1 << 63,
                max: 1024
            })
        );
        let mut d = Decoder::default();
        d.feed(b"18446744073709551616\n"); // 2^64 overflows u64
        assert!(matches!(d.next_record(), Err(RecordIoError::BadHeader(_))));
    }

    #[test]
    fn truncated_stream_is_reported() {
        let mut d = Decoder::default();
        d.feed(b"10\nabc");
        assert_eq!(d.next_record(), Ok(None));
        assert_eq!(d.finish(), Err(RecordIoError::Truncated(3)));
    }

    proptest! {
        #[test]
        fn any_split_decodes_to_the_same_records(
            recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let stream: Vec<u8> = recs.iter().flat_map(|r| encode(r)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| if stream.is_empty() { 0 } else { c % stream.len() }).collect();
            points.sort_unstable();
            let mut chunks = vec![];
            let mut last = 0;
            for p in points { chunks.push(&stream[last..p]); last = p; }
            chunks.push(&stream[last..]);
            prop_assert_eq!(decode_all(&chunks).unwrap(), recs);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = Decoder::new(4096);
            d.feed(&data);
            for _ in 0..data.len() + 1 {
                match d.next_record() { Ok(Some(_)) => {}, _ => break }
            }
        }
    }
}
