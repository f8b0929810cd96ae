//! Sans-IO parser of what a NATS server sends: INFO, MSG, PING, PONG, +OK
//! and -ERR. Bytes go in through [`Parser::feed`] in chunks split anywhere;
//! operations come out of [`Parser::next_op`]. Control lines and payloads are
//! bounded, and the first error is sticky (the stream is out of step and
//! the connection must be dropped).

use serde_json::Value;

/// Longest control line accepted (an INFO with many cluster URLs is the
/// largest a server sends; the server's own limit for clients is 4 KiB).
pub const MAX_CONTROL_LINE: usize = 64 * 1024;
/// The payload limit before the server's INFO has set one, and the highest
/// that an INFO may set.
pub const MAX_PAYLOAD_LIMIT: usize = 64 * 1024 * 1024;
/// NATS's default `max_payload`, for an INFO that does not say.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("control line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("MSG payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("unknown operation {0:?}")]
    UnknownOp(String),
    #[error("malformed {op}: {why}")]
    Malformed { op: &'static str, why: String },
    #[error("MSG payload not followed by CRLF")]
    MissingCrlf,
}

/// The fields of the server's INFO that the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub server_id: String,
    pub version: String,
    pub max_payload: usize,
    pub tls_required: bool,
    pub auth_required: bool,
    pub proto: i64,
}

/// A message delivered to one of the client's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: u64,
    pub reply: Option<String>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    Info(Info),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    /// `-ERR 'text'`, quotes removed.
    Err(String),
}

/// A MSG control line whose payload has not fully arrived.
#[derive(Debug)]
struct MsgHead {
    subject: String,
    sid: u64,
    reply: Option<String>,
    size: usize,
}

#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    /// No CRLF starts within the first `scanned` unconsumed bytes.
    scanned: usize,
    head: Option<MsgHead>,
    max_payload: usize,
    failed: Option<ProtoError>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            head: None,
            max_payload: MAX_PAYLOAD_LIMIT,
            failed: None,
        }
    }
}

fn malformed(op: &'static str, why: impl Into<String>) -> ProtoError {
    ProtoError::Malformed {
        op,
        why: why.into(),
    }
}

fn find_crlf(hay: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

pub fn parse_info(json: &[u8]) -> Result<Info, ProtoError> {
    let v: Value =
        serde_json::from_slice(json).map_err(|e| malformed("INFO", format!("bad JSON: {e}")))?;
    let o = v
        .as_object()
        .ok_or_else(|| malformed("INFO", "not a JSON object"))?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let b = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    let max_payload = match o.get("max_payload") {
        None => DEFAULT_MAX_PAYLOAD,
        Some(m) => m
            .as_u64()
            .and_then(|m| usize::try_from(m).ok())
            .filter(|m| *m > 0)
            .ok_or_else(|| malformed("INFO", format!("bad max_payload {m}")))?,
    };
    Ok(Info {
        server_id: s("server_id"),
        version: s("version"),
        max_payload,
        tls_required: b("tls_required"),
        auth_required: b("auth_required"),
        proto: o.get("proto").and_then(Value::as_i64).unwrap_or(0),
    })
}

fn utf8(op: &'static str, what: &str, b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| malformed(op, format!("{what} is not UTF-8")))
}

fn parse_msg_head(args: &[u8], max_payload: usize) -> Result<MsgHead, ProtoError> {
    let fields: Vec<&[u8]> = args
        .split(|c| *c == b' ' || *c == b'\t')
        .filter(|f| !f.is_empty())
        .collect();
    let (subject, sid, reply, size) = match fields.as_slice() {
        [s, i, n] => (s, i, None, n),
        [s, i, r, n] => (s, i, Some(r), n),
        _ => return Err(malformed("MSG", format!("{} arguments", fields.len()))),
    };
    let num = |what: &str, b: &[u8]| -> Result<u64, ProtoError> {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| malformed("MSG", format!("bad {what}")))
    };
    let size = num("size", size)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|n| *n <= max_payload)
        .ok_or(ProtoError::PayloadTooLarge {
            len: usize::try_from(size).unwrap_or(usize::MAX),
            max: max_payload,
        })?;
    Ok(MsgHead {
        subject: utf8("MSG", "subject", subject)?,
        sid: num("sid", sid)?,
        reply: reply.map(|r| utf8("MSG", "reply", r)).transpose()?,
        size,
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest MSG payload accepted (the server's `max_payload`, capped at
    /// [`MAX_PAYLOAD_LIMIT`]).
    pub fn set_max_payload(&mut self, n: usize) {
        self.max_payload = n.min(MAX_PAYLOAD_LIMIT);
    }

    /// Unconsumed bytes (a partial operation).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete operation, `Ok(None)` until more bytes arrive.
    pub fn next_op(&mut self) -> Result<Option<ServerOp>, ProtoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.parse_op();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.buf = Vec::new();
            self.start = 0;
        }
        r
    }

    fn parse_op(&mut self) -> Result<Option<ServerOp>, ProtoError> {
        loop {
            if let Some(head) = self.head.take() {
                let avail = &self.buf[self.start..];
                let need = head.size + 2;
                if avail.len() < need {
                    self.head = Some(head);
                    return Ok(None);
                }
                if &avail[head.size..need] != b"\r\n" {
                    return Err(ProtoError::MissingCrlf);
                }
                let payload = avail[..head.size].to_vec();
                self.start += need;
                return Ok(Some(ServerOp::Msg(Msg {
                    subject: head.subject,
                    sid: head.sid,
                    reply: head.reply,
                    payload,
                })));
            }
            let avail = &self.buf[self.start..];
            let Some(end) = find_crlf(avail, self.scanned) else {
                if avail.len() > MAX_CONTROL_LINE + 1 {
                    return Err(ProtoError::LineTooLong(MAX_CONTROL_LINE));
                }
                self.scanned = avail.len().saturating_sub(1);
                return Ok(None);
            };
            if end > MAX_CONTROL_LINE {
                return Err(ProtoError::LineTooLong(MAX_CONTROL_LINE));
            }
            let line = avail[..end].to_vec();
            self.start += end + 2;
            self.scanned = 0;
            let op_end = line
                .iter()
                .position(|c| *c == b' ' || *c == b'\t')
                .unwrap_or(line.len());
            let (op, args) = line.split_at(op_end);
            let args = trim(args);
            let no_args = |name: &'static str, op: ServerOp| {
                if args.is_empty() {
                    Ok(Some(op))
                } else {
                    Err(malformed(name, "unexpected arguments"))
                }
            };
            let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
            if is("MSG") {
                self.head = Some(parse_msg_head(args, self.max_payload)?);
                continue;
            }
            return if is("PING") {
                no_args("PING", ServerOp::Ping)
            } else if is("PONG") {
                no_args("PONG", ServerOp::Pong)
            } else if is("+OK") {
                no_args("+OK", ServerOp::Ok)
            } else if is("-ERR") {
                let text = String::from_utf8_lossy(args);
                let text = text.trim_matches('\'');
                Ok(Some(ServerOp::Err(text.to_string())))
            } else if is("INFO") {
                parse_info(args).map(|i| Some(ServerOp::Info(i)))
            } else {
                let shown = String::from_utf8_lossy(&op[..op.len().min(32)]).into_owned();
                Err(ProtoError::UnknownOp(shown))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"INFO {"server_id":"S1","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true} "#;

    fn info() -> Info {
        Info {
            server_id: "S1".into(),
            version: "2.9.10".into(),
            max_payload: 1048576,
            tls_required: false,
            auth_required: false,
            proto: 1,
        }
    }

    fn msg(subject: &str, sid: u64, reply: Option<&str>, payload: &[u8]) -> ServerOp {
        ServerOp::Msg(Msg {
            subject: subject.into(),
            sid,
            reply: reply.map(Into::into),
            payload: payload.to_vec(),
        })
    }

    /// A stream holding every operation, and what it parses to.
    fn every_op() -> (Vec<u8>, Vec<ServerOp>) {
        let mut s = Vec::new();
        s.extend_from_slice(INFO.as_bytes());
        s.extend_from_slice(b"\r\nMSG foo.bar 7 5\r\nhello\r\n");
        s.extend_from_slice(b"MSG a 9 _INBOX.x.1 4\r\n\r\n\0\xff\r\n");
        s.extend_from_slice(b"msg\tb  10   0\r\n\r\n");
        s.extend_from_slice(b"PING\r\nPONG\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\n");
        let ops = vec![
            ServerOp::Info(info()),
            msg("foo.bar", 7, None, b"hello"),
            msg("a", 9, Some("_INBOX.x.1"), b"\r\n\0\xff"),
            msg("b", 10, None, b""),
            ServerOp::Ping,
            ServerOp::Pong,
            ServerOp::Ok,
            ServerOp::Err("Unknown Protocol Operation".into()),
        ];
        (s, ops)
    }

    fn drain(p: &mut Parser) -> Result<Vec<ServerOp>, ProtoError> {
        let mut out = vec![];
        while let Some(op) = p.next_op()? {
            out.push(op);
        }
        Ok(out)
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Result<Vec<ServerOp>, ProtoError> {
        let mut p = Parser::new();
        let mut out = vec![];
        for c in chunks {
            p.feed(c);
            out.extend(drain(&mut p)?);
        }
        assert_eq!(p.buffered(), 0, "bytes left over");
        Ok(out)
    }

    #[test]
    fn every_op_in_one_piece() {
        let (s, ops) = every_op();
        assert_eq!(parse_chunks(&[&s]).unwrap(), ops);
    }

    #[test]
    fn every_op_split_at_every_byte() {
        let (s, ops) = every_op();
        for i in 0..=s.len() {
            let (a, b) = s.split_at(i);
            assert_eq!(parse_chunks(&[a, b]).unwrap(), ops, "split at {i}");
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes).unwrap(), ops, "one byte at a time");
    }

    #[test]
    fn info_fields_and_defaults() {
        let i = parse_info(br#"{"tls_required":true,"auth_required":true}"#).unwrap();
        assert!(i.tls_required && i.auth_required);
        assert_eq!(i.max_payload, DEFAULT_MAX_PAYLOAD);
        for bad in [
            &b"[]"[..],
            b"{",
            br#"{"max_payload":-1}"#,
            br#"{"max_payload":0}"#,
        ] {
            assert!(parse_info(bad).is_err());
        }
    }

    #[test]
    fn oversize_is_an_error() {
        let mut p = Parser::new();
        p.set_max_payload(4);
        p.feed(b"MSG a 1 5\r\n");
        assert_eq!(
            p.next_op(),
            Err(ProtoError::PayloadTooLarge { len: 5, max: 4 })
        );
        // A payload at the limit passes.
        let mut p = Parser::new();
        p.set_max_payload(4);
        p.feed(b"MSG a 1 4\r\nabcd\r\n");
        assert!(matches!(p.next_op(), Ok(Some(ServerOp::Msg(_)))));
        // An endless control line fails once past the bound, not at the end.
        let mut p = Parser::new();
        let chunk = vec![b'x'; 4096];
        let mut err = None;
        for _ in 0..(MAX_CONTROL_LINE / chunk.len() + 2) {
            p.feed(&chunk);
            if let Err(e) = p.next_op() {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ProtoError::LineTooLong(MAX_CONTROL_LINE)));
        assert_eq!(p.buffered(), 0, "nothing kept after an error");
        // A huge size does not allocate.
        let mut p = Parser::new();
        p.feed(b"MSG a 1 99999999999999999999\r\n");
        assert!(p.next_op().is_err());
    }

    #[test]
    fn garbage_is_an_error_and_sticks() {
        for bad in [
            &b"HELLO\r\n"[..],
            b"\r\n",
            b"MSG a\r\n",
            b"MSG a 1 2 3 4\r\n",
            b"MSG a x 1\r\na\r\n",
            b"MSG a 1 -1\r\n",
            b"MSG a 1 +1\r\nx\r\n",
            b"MSG a 1 3\r\nabcd\r\n",
            b"MSG \xff 1 0\r\n\r\n",
            b"PING x\r\n",
            b"INFO nope\r\n",
            b"HMSG a 1 0 0\r\n\r\n",
        ] {
            let mut p = Parser::new();
            p.feed(bad);
            let e = drain(&mut p).expect_err(&String::from_utf8_lossy(bad));
            p.feed(b"PING\r\n");
            assert_eq!(p.next_op(), Err(e), "errors are sticky");
        }
    }

    #[test]
    fn consumed_bytes_are_released() {
        let mut p = Parser::new();
        for _ in 0..10_000 {
            p.feed(b"MSG a 1 3\r\nabc\r\nPI");
            drain(&mut p).unwrap();
            p.feed(b"NG\r\n");
            drain(&mut p).unwrap();
        }
        assert!(
            p.buf.capacity() < 4096,
            "buffer grew to {}",
            p.buf.capacity()
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn op() -> impl Strategy<Value = (Vec<u8>, ServerOp)> {
            let token = "[a-zA-Z0-9_.>*-]{1,12}";
            prop_oneof![
                Just((b"PING\r\n".to_vec(), ServerOp::Ping)),
                Just((b"PONG\r\n".to_vec(), ServerOp::Pong)),
                Just((b"+OK\r\n".to_vec(), ServerOp::Ok)),
                "[a-zA-Z ]{0,20}".prop_map(|t| {
                    let t = t.trim().to_string();
                    (format!("-ERR '{t}'\r\n").into_bytes(), ServerOp::Err(t))
                }),
                (
                    token,
                    any::<u64>(),
                    proptest::option::of(token),
                    proptest::collection::vec(any::<u8>(), 0..64)
                )
                    .prop_map(|(s, sid, r, payload)| {
                        let mut b = match &r {
                            Some(r) => format!("MSG {s} {sid} {r} {}\r\n", payload.len()),
                            None => format!("MSG {s} {sid} {}\r\n", payload.len()),
                        }
                        .into_bytes();
                        b.extend_from_slice(&payload);
                        b.extend_from_slice(b"\r\n");
                        let m = Msg {
                            subject: s,
                            sid,
                            reply: r,
                            payload,
                        };
                        (b, ServerOp::Msg(m))
                    }),
            ]
        }

        proptest! {
            #[test]
            fn any_stream_split_anywhere_parses_back(
                ops in proptest::collection::vec(op(), 0..20),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            ) {
                let stream: Vec<u8> = ops.iter().flat_map(|(b, _)| b.clone()).collect();
                let want: Vec<ServerOp> = ops.into_iter().map(|(_, o)| o).collect();
                let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
                at.sort_unstable();
                let mut chunks = vec![];
                let mut prev = 0;
                for a in at {
                    chunks.push(&stream[prev..a]);
                    prev = a;
                }
                chunks.push(&stream[prev..]);
                prop_assert_eq!(parse_chunks(&chunks).unwrap(), want);
            }

            #[test]
            fn arbitrary_bytes_never_panic(
                chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)
            ) {
                let mut p = Parser::new();
                p.set_max_payload(32);
                for c in &chunks {
                    p.feed(c);
                    while let Ok(Some(op)) = p.next_op() {
                        if let ServerOp::Msg(m) = op {
                            prop_assert!(m.payload.len() <= 32);
                        }
                    }
                }
            }
        }
    }
}
