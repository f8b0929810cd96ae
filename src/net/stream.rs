//! Reading a Mesos event stream (the body of a SUBSCRIBE response): chunked
//! HTTP body → RecordIO records → decoded messages, one at a time, with a
//! read timeout that lets the caller check its deadlines between reads.

use std::time::Duration;

use prost_reflect::{DynamicMessage, MessageDescriptor};

use crate::driver::Event;
use crate::net::http::client::{OwnedBodyStream, is_timeout};
use crate::wire::codec::{self, Encoding};
use crate::wire::direct;
use crate::wire::recordio;

pub struct EventStream {
    body: OwnedBodyStream,
    dec: recordio::Decoder,
    /// The event message: its schema index, and its descriptor (looked up
    /// only when the descriptor-based path is needed).
    schema: u16,
    desc: Option<MessageDescriptor>,
    enc: Encoding,
    buf: Vec<u8>,
    /// Who sends the stream ("master", "agent"), for messages.
    peer: &'static str,
    /// JSON events become protobuf (for lazy views).
    transcode: bool,
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
        let schema = crate::wire::schema::message(desc.full_name()).unwrap_or(0);
        let mut s = Self::for_message(body, schema, enc, max_record, tick, peer);
        s.desc = Some(desc);
        s
    }

    /// A stream of messages `schema` (a `wire::schema` index), read with
    /// [`EventStream::next_event`]: no descriptor pool unless the
    /// descriptor-based path is needed.
    pub fn for_message(
        body: OwnedBodyStream,
        schema: u16,
        enc: Encoding,
        max_record: usize,
        tick: Duration,
        peer: &'static str,
    ) -> Self {
        let _ = body.set_read_timeout(Some(tick));
        EventStream {
            body,
            dec: recordio::Decoder::new(max_record),
            schema,
            desc: None,
            enc,
            buf: Vec::with_capacity(64 * 1024),
            peer,
            transcode: false,
        }
    }

    /// With `on`, JSON events that the direct decoder takes come as
    /// protobuf (`wire::direct::transcode`); the others stay JSON.
    pub fn transcoding(mut self, on: bool) -> Self {
        self.transcode = on;
        self
    }

    fn descriptor(&mut self) -> Result<MessageDescriptor, String> {
        if let Some(d) = &self.desc {
            return Ok(d.clone());
        }
        let name = crate::wire::schema::msg(self.schema).name;
        let d = codec::descriptor(name).map_err(|e| e.to_string())?;
        self.desc = Some(d.clone());
        Ok(d)
    }

    fn decode(&mut self, rec: &[u8]) -> Result<DynamicMessage, String> {
        let desc = self.descriptor()?;
        codec::decode_dynamic(&desc, rec, self.enc, false)
            .map_err(|e| format!("undecodable event from the {} ({e})", self.peer))
    }

    /// The next event, validated but not decoded (see [`Event`]), or why
    /// the stream ended. What the direct decoder leaves to the
    /// descriptor-based path is decoded here, and its errors end the stream.
    pub fn next_event(
        &mut self,
        idle: &mut dyn FnMut() -> Option<String>,
    ) -> Result<Event, String> {
        let rec = self.next_record(idle)?;
        self.event(rec)
    }

    /// The next event if a whole record is already buffered (no read).
    pub fn buffered_event(&mut self) -> Option<Result<Event, String>> {
        match self.dec.next_record() {
            Ok(Some(rec)) => Some(self.event(rec)),
            Ok(None) => None,
            Err(e) => Some(Err(format!("event stream error: {e}"))),
        }
    }

    fn event(&mut self, rec: Vec<u8>) -> Result<Event, String> {
        if self.transcode
            && self.enc == Encoding::Json
            && let Some((pb, type_name)) = direct::transcode::json_to_protobuf(self.schema, &rec)
        {
            return Ok(Event::raw(pb, Encoding::Protobuf, self.schema, type_name));
        }
        match direct::check(self.schema, &rec, self.enc) {
            Ok(type_name) => Ok(Event::raw(rec, self.enc, self.schema, type_name)),
            Err(direct::Fallback) => {
                let schema = self.schema;
                self.decode(&rec).map(|m| Event::decoded_as(m, schema))
            }
        }
    }

    /// The next event, decoded, or why the stream ended. `idle` runs after
    /// each read that timed out; returning `Some(reason)` ends the stream
    /// with it.
    pub fn next(
        &mut self,
        idle: &mut dyn FnMut() -> Option<String>,
    ) -> Result<DynamicMessage, String> {
        let rec = self.next_record(idle)?;
        self.decode(&rec)
    }

    /// The next record, or why the stream ended.
    fn next_record(&mut self, idle: &mut dyn FnMut() -> Option<String>) -> Result<Vec<u8>, String> {
        loop {
            match self.dec.next_record() {
                Ok(Some(rec)) => return Ok(rec),
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
