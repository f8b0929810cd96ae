//! The decode limit of offer intake: the recorded offer stream (written by
//! `bench/gen_offers.lua`) decoded by a Rust loop and nothing else:
//! `recordio::Decoder` fed 64 KiB at a time, then each record decoded, with
//! no socket, no HTTP, no queue, no Lua. Per encoding:
//! - `decode.prost.protobuf` / `decode.serde.json`: the decode limit, a full
//!   decode into Rust values (prost's generated types; serde_json's generic
//!   tree for JSON, there being no typed serde for these types);
//! - `decode.dynamic.*`: `codec::decode_dynamic` into a `DynamicMessage`,
//!   what the driver did before the direct decoder (for reference);
//! - `decode.check.*`: the direct decoder's validating pass, what the
//!   driver's I/O thread does now (it builds nothing).
//!
//! ```sh
//! cargo bench --bench decode -- target/bench/offers-20000-protobuf.recordio target/bench/offers-20000-json.recordio
//! ```
//!
//! The encoding is taken from the file name (`json` or `protobuf`). Each
//! stream is decoded `PASSES` times (default 5) and the median pass is
//! printed, one machine-readable line per measure:
//! `RESULT decode.dynamic.protobuf <events/s>`.

use std::hint::black_box;
use std::time::Instant;

use mesos::wire::codec::{self, Encoding};
use mesos::wire::pb::scheduler::Event;
use mesos::wire::recordio::Decoder;
use mesos::wire::{direct, schema};
use prost::Message;

const CHUNK: usize = 64 * 1024;
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// Runs `decode` on every record of `stream`, framed as the driver frames
/// it; returns the number of records.
fn each_record(stream: &[u8], mut decode: impl FnMut(&[u8])) -> usize {
    let mut dec = Decoder::new(MAX_RECORD);
    let mut n = 0;
    for chunk in stream.chunks(CHUNK) {
        dec.feed(chunk);
        while let Some(rec) = dec.next_record().expect("well-formed RecordIO") {
            decode(&rec);
            n += 1;
        }
    }
    dec.finish().expect("stream ends on a record boundary");
    n
}

/// Median events/s over `passes` passes. The first record is SUBSCRIBED;
/// the rate counts the OFFERS events after it.
fn rate(passes: usize, mut pass: impl FnMut() -> usize) -> f64 {
    let mut rates: Vec<f64> = (0..passes)
        .map(|_| {
            let t = Instant::now();
            let n = pass();
            (n - 1) as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .filter(|&p| p > 0)
        .unwrap_or(5);
    // `cargo bench` appends `--bench`; anything starting with `--` is not a file.
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() {
        eprintln!(
            "usage: cargo bench --bench decode -- STREAM.recordio...\n\
             (streams: luajit bench/gen_offers.lua N target/bench; bench/run does both)"
        );
        std::process::exit(2);
    }
    // The first lookup builds the descriptor pool (once per process).
    let t = Instant::now();
    let desc = codec::descriptor("mesos.v1.scheduler.Event").expect("Event descriptor");
    eprintln!(
        "descriptor pool built in {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    for file in &files {
        let stream = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let enc = if file.contains("json") {
            Encoding::Json
        } else {
            Encoding::Protobuf
        };

        // Check once, outside the timing, that the stream is what we think.
        let mut offers = 0;
        each_record(&stream, |rec| {
            let ev = codec::decode_dynamic(&desc, rec, enc, false).expect("decodable event");
            let typed: Event = ev.transcode_to().expect("an Event");
            offers += typed.offers.map_or(0, |o| o.offers.len());
        });
        eprintln!("{file}: {offers} offers, {} bytes", stream.len());

        let dynamic = rate(passes, || {
            each_record(&stream, |rec| {
                black_box(codec::decode_dynamic(&desc, rec, enc, false).expect("decodable"));
            })
        });
        println!("RESULT decode.dynamic.{} {dynamic:.1}", enc.name());
        // The driver's I/O thread now: the direct decoder's validating
        // pass (it builds nothing; the Lua thread decodes into tables).
        let m = schema::message("mesos.v1.scheduler.Event").expect("Event in the schema");
        let check = rate(passes, || {
            each_record(&stream, |rec| {
                black_box(direct::check(m, rec, enc).expect("valid"));
            })
        });
        println!("RESULT decode.check.{} {check:.1}", enc.name());
        // The decode limit: a full decode into Rust values, as fast as it
        // goes here. Protobuf: prost's generated types. JSON (no typed
        // serde for these types): serde_json's generic tree.
        if enc == Encoding::Protobuf {
            let typed = rate(passes, || {
                each_record(&stream, |rec| {
                    black_box(Event::decode(rec).expect("decodable"));
                })
            });
            println!("RESULT decode.prost.protobuf {typed:.1}");
        } else {
            let tree = rate(passes, || {
                each_record(&stream, |rec| {
                    black_box(serde_json::from_slice::<serde_json::Value>(rec).expect("JSON"));
                })
            });
            println!("RESULT decode.serde.json {tree:.1}");
        }
    }
}
