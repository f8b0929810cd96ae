//! The golden vectors (test/vectors/*.jsonl): one JSON object per message,
//! with its name, type, protobuf bytes (base64) and Mesos JSON.

use serde_json::Value;

pub fn golden() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test/vectors");
    let mut out = vec![];
    for f in [
        "scheduler-calls.jsonl",
        "scheduler-events.jsonl",
        "executor-calls.jsonl",
        "executor-events.jsonl",
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{f}")).expect("vector file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push(serde_json::from_str(line).expect("vector line"));
        }
    }
    assert!(out.len() >= 29, "all vectors present");
    out
}
