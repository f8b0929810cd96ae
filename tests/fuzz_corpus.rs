//! Replays the committed fuzz corpus (seeds, inputs the fuzzer kept, and
//! every crash it ever found) through the same harnesses as the targets in
//! fuzz/, so a regression fails `cargo test` without a fuzzer. The Lua
//! targets (lua_call, event_lua) need a Lua state and are replayed by
//! fuzz/run.

use mesos::fuzzing;
use mesos::wire::codec::Encoding;

fn replay(target: &str, run: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let r = std::panic::catch_unwind(|| run(&data));
        assert!(r.is_ok(), "{} fails the {target} harness", path.display());
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
}

#[test]
fn recordio_corpus() {
    replay("recordio", fuzzing::recordio);
}

#[test]
fn event_protobuf_corpus() {
    replay("event_protobuf", |d| fuzzing::decode(d, Encoding::Protobuf));
}

#[test]
fn event_json_corpus() {
    replay("event_json", |d| fuzzing::decode(d, Encoding::Json));
}

/// The direct protobuf decoder against the descriptor-based one, on every
/// protobuf event input the fuzzer ever kept.
#[test]
fn direct_protobuf_corpus() {
    replay("event_protobuf", fuzzing::direct_protobuf);
    replay("direct_protobuf", fuzzing::direct_protobuf);
}

/// The direct JSON decoder against the descriptor-based one, on every JSON
/// event input the fuzzer ever kept.
#[test]
fn direct_json_corpus() {
    replay("event_json", fuzzing::direct_json);
    replay("direct_json", fuzzing::direct_json);
}

#[test]
fn http_head_corpus() {
    replay("http_head", fuzzing::http_head);
}

#[test]
fn chunked_corpus() {
    replay("chunked", fuzzing::chunked);
}

#[test]
fn nats_corpus() {
    replay("nats", fuzzing::nats);
}
