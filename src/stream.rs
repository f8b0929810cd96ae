//! Reading a Mesos event stream (the body of a SUBSCRIBE response): chunked
//! HTTP body → RecordIO records → decoded messages, one at a time, with a
//! read timeout that lets the caller check its deadlines between reads.

use std::time::Duration;

use prost_reflect::{DynamicMessage, MessageDescriptor};

use crate::http::client::{OwnedBodyStream, is_timeout};
use crate::wire::codec::{self, Encoding};
use crate::wire::recordio;

pub struct EventStream {
    body: OwnedBodyStream,
    dec: recordio::Decoder,
    desc: MessageDescriptor,
    enc: Encoding,
    buf: Vec<u8>,
    /// Who sends the stream ("master", "agent"), for messages.
    peer: &'static str,
}

impl EventStream {
    /// `tick` bounds each socket read, so `next`'s `idle` callback runs at
    /// least that often while the stream is silent.
    pub fn new(
        body: OwnedBodyStream,
        desc: MessageDescriptor,
        enc: Encoding,
        max_record: usize,
        tick: Duration,
        peer: &'static str,
    ) -> Self {
        let _ = body.set_read_timeout(Some(tick));
        EventStream {
            body,
            dec: recordio::Decoder::new(max_record),
            desc,
            enc,
            buf: Vec::with_capacity(64 * 1024),
            peer,
        }
    }

    /// The next event, or why the stream ended. `idle` runs after each read
    /// that timed out; returning `Some(reason)` ends the stream with it.
    pub fn next(
        &mut self,
        idle: &mut dyn FnMut() -> Option<String>,
    ) -> Result<DynamicMessage, String> {
        loop {
            match self.dec.next_record() {
                Ok(Some(rec)) => {
                    return codec::decode_dynamic(&self.desc, &rec, self.enc, false)
                        .map_err(|e| format!("undecodable event from the {} ({e})", self.peer));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("event stream error: {e}")),
            }
            self.buf.clear();
            match self.body.read_data(&mut self.buf) {
                Ok(0) => {
                    let tail = match self.dec.finish() {
                        Ok(()) => String::new(),
                        Err(e) => format!(" ({e})"),
                    };
                    return Err(format!("{} closed the event stream{tail}", self.peer));
                }
                Ok(_) => self.dec.feed(&self.buf),
                Err(e) if is_timeout(&e) => {
                    if let Some(why) = idle() {
                        return Err(why);
                    }
                }
                Err(e) => return Err(format!("event stream error: {e}")),
            }
        }
    }
}
