//! Incremental decoder of HTTP/1.1 chunked transfer coding, socket-free.

use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(usize),
    DataEnd,
    Trailer,
    Done,
}

/// Feed it raw body bytes; it returns the payload bytes they carry.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    line: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size,
            line: Vec::new(),
        }
    }
}

impl Decoder {
    /// True once the terminating zero-size chunk has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, appending payload to `out`. Returns how many input
    /// bytes were consumed (all of them unless the body ended).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(i),
                State::Data(left) => {
                    let n = left.min(input.len() - i);
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    self.state = if left == n {
                        State::DataEnd
                    } else {
                        State::Data(left - n)
                    };
                }
                State::Size | State::DataEnd | State::Trailer => {
                    let b = input[i];
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() > 1024 {
                            return Err(super::invalid("chunked: line too long"));
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    match self.state {
                        State::DataEnd => {
                            if !line.is_empty() {
                                return Err(super::invalid("chunked: missing CRLF after chunk"));
                            }
                            self.state = State::Size;
                        }
                        State::Trailer => {
                            if line.is_empty() {
                                self.state = State::Done;
                            }
                        }
                        _ => {
                            let hex = line.split(|&c| c == b';').next().unwrap_or(b"");
                            let hex = std::str::from_utf8(hex)
                                .map_err(|_| super::invalid("chunked: bad size"))?
                                .trim();
                            let n = usize::from_str_radix(hex, 16).map_err(|_| {
                                super::invalid(format!("chunked: bad size {hex:?}"))
                            })?;
                            self.state = if n == 0 {
                                State::Trailer
                            } else {
                                State::Data(n)
                            };
                        }
                    }
                }
            }
        }
        Ok(i)
    }
}

/// Frames one chunk.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_split_everywhere() {
        let mut body = vec![];
        encode_chunk(b"hello ", &mut body);
        encode_chunk(b"world", &mut body);
        body.extend_from_slice(LAST_CHUNK);
        for cut in 0..body.len() {
            let mut d = Decoder::default();
            let mut out = vec![];
            d.decode(&body[..cut], &mut out).unwrap();
            d.decode(&body[cut..], &mut out).unwrap();
            assert_eq!(out, b"hello world");
            assert!(d.is_done());
        }
    }

    #[test]
    fn rejects_bad_size() {
        let mut d = Decoder::default();
        assert!(d.decode(b"zz\r\n", &mut vec![]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            let mut d = Decoder::default();
            let _ = d.decode(&data, &mut vec![]);
        }
    }
}
