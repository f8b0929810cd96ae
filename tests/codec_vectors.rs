//! Golden vectors: each message encoded by Mesos rules as JSON and as
//! protobuf must decode to the same message, and our JSON writer must give
//! back the same JSON object.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mesos::wire::codec::{self, Encoding};
use mesos::wire::json;
use mesos::wire::recordio;
use serde_json::Value;

mod support;

fn vectors() -> Vec<Value> {
    support::vectors::golden()
}

/// Numbers compare by value (15 == 15.0).
fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        v => v.clone(),
    }
}

#[test]
fn protobuf_and_json_decode_to_the_same_message_and_json_round_trips() {
    for v in vectors() {
        let name = v["name"].as_str().unwrap();
        let desc = codec::descriptor(v["message"].as_str().unwrap()).unwrap();
        let mesos_json = v["mesos_json"].as_str().unwrap();
        let pb = B64.decode(v["protobuf_b64"].as_str().unwrap()).unwrap();

        let from_pb = codec::decode_dynamic(&desc, &pb, Encoding::Protobuf, true)
            .unwrap_or_else(|e| panic!("{name}: protobuf: {e}"));
        let from_json = codec::decode_dynamic(&desc, mesos_json.as_bytes(), Encoding::Json, true)
            .unwrap_or_else(|e| panic!("{name}: json: {e}"));

        // Same message (our writer emits explicit defaults, so "unset" and
        // "set to its default" compare equal this way).
        let a: Value = serde_json::from_str(&json::to_json(&from_pb)).unwrap();
        let b: Value = serde_json::from_str(&json::to_json(&from_json)).unwrap();
        assert_eq!(norm(&a), norm(&b), "{name}: protobuf vs JSON decode");

        // Our JSON is Mesos's JSON.
        let expected: Value = serde_json::from_str(mesos_json).unwrap();
        assert_eq!(norm(&a), norm(&expected), "{name}: JSON output");

        // Our protobuf encodes to something that decodes back the same.
        let again = codec::decode_dynamic(
            &desc,
            &codec::encode_dynamic(&from_pb, Encoding::Protobuf),
            Encoding::Protobuf,
            true,
        )
        .unwrap();
        assert_eq!(again, from_pb, "{name}: protobuf round trip");

        // The RecordIO framing of the JSON is exactly one record.
        let framed = B64
            .decode(v["recordio_json_b64"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            framed,
            recordio::encode(mesos_json.as_bytes()),
            "{name}: recordio"
        );
    }
}

#[test]
fn typed_round_trip_through_both_encodings() {
    use mesos::wire::pb::scheduler::{Call, call};
    for v in vectors()
        .iter()
        .filter(|v| v["message"] == "mesos.v1.scheduler.Call")
    {
        let pb = B64.decode(v["protobuf_b64"].as_str().unwrap()).unwrap();
        let call: Call = codec::decode(&pb, Encoding::Protobuf, true).unwrap();
        for enc in [Encoding::Protobuf, Encoding::Json] {
            let back: Call = codec::decode(&codec::encode(&call, enc), enc, true).unwrap();
            // JSON writes explicit defaults, so compare what goes on the wire.
            assert_eq!(
                codec::encode(&back, Encoding::Json),
                codec::encode(&call, Encoding::Json),
                "{} via {enc:?}",
                v["name"]
            );
            if enc == Encoding::Protobuf {
                assert_eq!(back, call);
            }
        }
        assert_ne!(call.r#type, Some(call::Type::Unknown as i32));
    }
}

#[test]
fn mesos_json_reader_rules() {
    let desc = codec::descriptor("mesos.v1.scheduler.Call").unwrap();
    // camelCase keys are silently ignored, so the required field is missing.
    let err = codec::decode_dynamic(
        &desc,
        br#"{"type":"SUBSCRIBE","subscribe":{"frameworkInfo":{"user":"u","name":"n"}}}"#,
        Encoding::Json,
        true,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("subscribe.framework_info"),
        "{err}"
    );

    // Numeric strings for integers, "true" for booleans, "Infinity" for doubles.
    let status = codec::descriptor("mesos.v1.TaskStatus").unwrap();
    let m = codec::decode_dynamic(
        &status,
        br#"{"task_id":{"value":"t"},"state":"TASK_RUNNING","healthy":"true","unreachable_time":{"nanoseconds":"1700000000123456789"},"timestamp":Infinity}"#,
        Encoding::Json,
        true,
    )
    .unwrap();
    let out = json::to_json(&m);
    assert!(
        out.contains(r#""nanoseconds":1700000000123456789"#),
        "{out}"
    );
    assert!(out.contains(r#""healthy":true"#), "{out}");
    assert!(out.contains(r#""timestamp":Infinity"#), "{out}");

    // An enum given as a number is an error that names the field.
    let err = codec::decode_dynamic(
        &status,
        br#"{"task_id":{"value":"t"},"state":1}"#,
        Encoding::Json,
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("state"), "{err}");
    // An unknown enum name on a required enum leaves it missing.
    let err = codec::decode_dynamic(
        &status,
        br#"{"task_id":{"value":"t"},"state":"TASK_NOPE"}"#,
        Encoding::Json,
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("state"), "{err}");
    // Invalid UTF-8 and broken JSON are clean errors.
    assert!(
        codec::decode_dynamic(
            &status,
            b"{\"task_id\":{\"value\":\"\xff\"}}",
            Encoding::Json,
            true
        )
        .is_err()
    );
    assert!(codec::decode_dynamic(&status, b"{\"task_id\":", Encoding::Json, true).is_err());
}

#[test]
fn explicit_defaults_are_written_like_mesos() {
    let desc = codec::descriptor("mesos.v1.Filters").unwrap();
    let m = codec::decode_dynamic(&desc, b"{}", Encoding::Json, true).unwrap();
    assert_eq!(json::to_json(&m), r#"{"refuse_seconds":5.0}"#);
    // A deprecated field with a default (Resource.role) is not written.
    let desc = codec::descriptor("mesos.v1.Resource").unwrap();
    let m = codec::decode_dynamic(
        &desc,
        br#"{"name":"cpus","type":"SCALAR","scalar":{"value":1}}"#,
        Encoding::Json,
        true,
    )
    .unwrap();
    assert!(!json::to_json(&m).contains("role"));
}

/// Found by the event_protobuf fuzz target: an enum number the schema does
/// not know (a newer master's) decoded as a bare number that the JSON
/// encoding could not carry. Now proto2 semantics, as in Mesos's C++: the
/// field reads as unset, and a required one as missing.
#[test]
fn unknown_enum_numbers_read_as_unset_fields() {
    let desc = codec::descriptor("mesos.v1.scheduler.Event").unwrap();
    let m = codec::decode_dynamic(&desc, b"\x08\x63", Encoding::Protobuf, true).unwrap();
    assert!(!m.has_field_by_name("type"));
    let json = codec::encode_dynamic(&m, Encoding::Json);
    assert!(codec::decode_dynamic(&desc, &json, Encoding::Json, true).is_ok());

    // TaskStatus.state is required: an unknown state is a missing state.
    let status = mesos::wire::pb::TaskStatus {
        task_id: mesos::wire::pb::TaskId { value: "t".into() },
        state: 99,
        ..Default::default()
    };
    let bytes = prost::Message::encode_to_vec(&status);
    let sdesc = codec::descriptor("mesos.v1.TaskStatus").unwrap();
    let err = codec::decode_dynamic(&sdesc, &bytes, Encoding::Protobuf, true).unwrap_err();
    assert!(err.to_string().contains("state"), "{err}");
    // Without the required check (how events are read), it is just unset.
    let m = codec::decode_dynamic(&sdesc, &bytes, Encoding::Protobuf, false).unwrap();
    assert!(!m.has_field_by_name("state"));
}
