//! The HTTP rules every endpoint of the local cluster shares: leadership
//! (307/503), the method and media-type checks, parsing a call with
//! Mesos's error texts, `Accept` negotiation, and JSON replies with
//! `?jsonp=`.
//!
//! May import: `local` itself (the shared state), the crate's `net` and
//! `wire`; the other HTTP files (`api`, `agent_api`, `operator_http`)
//! import it.

use std::sync::Arc;

use super::Shared;
use crate::net::http::Headers;
use crate::net::http::server::{Reply, Request};
use crate::net::url::query_value;
use crate::wire::codec::{self, CodecError, Encoding};
use crate::wire::json::JsonError;

/// A master that is not the leader sends the request to the leader (307),
/// or answers 503 when none is known or it has not finished starting.
pub(crate) fn leading(shared: &Arc<Shared>, req: &Request) -> Option<Reply> {
    if let Some(election) = shared.election() {
        match election {
            (true, _) => {}
            (false, crate::net::zk::Leader::Known(ep)) => {
                let host = if ep.host.contains(':') {
                    format!("[{}]", ep.host)
                } else {
                    ep.host.clone()
                };
                return Some(
                    Reply::status(307)
                        .with_header("Location", &format!("//{host}:{}{}", ep.port, req.path)),
                );
            }
            (false, _) => return Some(Reply::text(503, "No leader elected")),
        }
    }
    if !shared.lock().started {
        return Some(Reply::text(503, "Master has not finished recovery"));
    }
    None
}

/// JSON with optional `?jsonp=callback` wrapping, as the state endpoints do.
pub(crate) fn json_reply(req: &Request, body: serde_json::Value) -> Reply {
    let text = body.to_string();
    let jsonp = query_value(&req.query, "jsonp").filter(|cb| {
        !cb.is_empty()
            && cb
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    });
    match jsonp {
        Some(cb) => Reply::Full {
            status: 200,
            headers: Headers::default().with("Content-Type", "text/javascript"),
            // libprocess wraps without a trailing semicolon.
            body: format!("{cb}({text})").into_bytes(),
        },
        None => Reply::json(200, text),
    }
}

/// `Request::acceptsMediaType`: no Accept header accepts everything; else
/// the most specific matching range (`type/subtype`, `type/*`, `*/*`)
/// decides, and `q=0` refuses.
fn accepts(headers: &Headers, media: &str) -> bool {
    let Some(accept) = headers.get("accept").filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    let top = media.split('/').next().unwrap_or("");
    let candidates = [media.to_string(), format!("{top}/*"), "*/*".to_string()];
    for cand in &candidates {
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            if !range.eq_ignore_ascii_case(cand) {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            return q > 0.0;
        }
    }
    false
}

pub(crate) fn decode_call<M: prost::Message + prost::Name + Default>(
    body: &[u8],
    enc: Encoding,
) -> Result<M, String> {
    match (enc, codec::decode::<M>(body, enc, true)) {
        (_, Ok(c)) => Ok(c),
        (Encoding::Protobuf, Err(_)) => Err("Failed to parse body into Call protobuf".into()),
        (Encoding::Json, Err(CodecError::Json(JsonError::Syntax(e)))) => {
            Err(format!("Failed to parse body into JSON: {e}"))
        }
        (Encoding::Json, Err(CodecError::Json(e))) => Err(format!(
            "Failed to convert JSON into Call protobuf: {}",
            mesos_json_error(&e)
        )),
        (Encoding::Json, Err(e)) => Err(format!("Failed to convert JSON into Call protobuf: {e}")),
    }
}

/// A JSON-to-protobuf conversion error in the words of stout's protobuf
/// parser, which is what a Mesos master or agent answers: a value of the
/// wrong JSON type names the JSON type and the field, a top-level
/// non-object is refused as such, and missing required fields are listed
/// capitalised. Other errors keep the codec's wording.
fn mesos_json_error(e: &JsonError) -> String {
    match e {
        JsonError::MissingRequired(fields) => format!("Missing required fields: {fields}"),
        JsonError::Field { path, msg } => {
            let got = msg
                .rsplit_once(", got ")
                .map(|(_, t)| t)
                .filter(|t| ["boolean", "number", "string", "array", "object"].contains(t));
            match got {
                _ if path == "(message)" => "Expecting a JSON object".into(),
                Some(t) => {
                    // stout names the field only: `a.b[2].c[1]` -> `c` (an
                    // item of a repeated field), `a.m[key]` -> `value` (the
                    // value of a map entry).
                    let last = path.rsplit('.').next().unwrap_or(path);
                    let field = match last.split_once('[') {
                        Some((_, key))
                            if !key
                                .trim_end_matches(']')
                                .bytes()
                                .all(|b| b.is_ascii_digit()) =>
                        {
                            "value"
                        }
                        Some((name, _)) => name,
                        None => last,
                    };
                    format!("Not expecting a JSON {t} for field '{field}'")
                }
                None => e.to_string(),
            }
        }
        JsonError::Syntax(_) => e.to_string(),
    }
}

/// The method and media-type checks both APIs share.
pub(crate) fn media(req: &Request) -> Result<Encoding, Reply> {
    if req.method != "POST" {
        return Err(Reply::text(
            405,
            // libprocess's MethodNotAllowed body starts with the status line.
            format!(
                "405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{}'.",
                req.method
            ),
        )
        .with_header("Allow", "POST"));
    }
    let Some(ct) = req.headers.get("content-type") else {
        return Err(Reply::text(400, "Expecting 'Content-Type' to be present"));
    };
    Encoding::from_content_type(ct).ok_or_else(|| {
        Reply::text(
            415,
            format!(
                "Expecting 'Content-Type' of {} or {}",
                Encoding::JSON_TYPE,
                Encoding::PROTOBUF_TYPE
            ),
        )
    })
}

pub(crate) fn negotiate(req: &Request) -> Result<Encoding, Reply> {
    if accepts(&req.headers, Encoding::JSON_TYPE) {
        Ok(Encoding::Json)
    } else if accepts(&req.headers, Encoding::PROTOBUF_TYPE) {
        Ok(Encoding::Protobuf)
    } else {
        Err(Reply::text(
            406,
            format!(
                "Expecting 'Accept' to allow '{}' or '{}'",
                Encoding::PROTOBUF_TYPE,
                Encoding::JSON_TYPE
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pb;

    #[test]
    fn json_errors_in_mesos_words() {
        let conv = |body: &str| decode_call::<pb::scheduler::Call>(body.as_bytes(), Encoding::Json);
        assert_eq!(
            conv("[1]").unwrap_err(),
            "Failed to convert JSON into Call protobuf: Expecting a JSON object"
        );
        assert_eq!(
            conv(r#"{"type": 2}"#).unwrap_err(),
            "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'"
        );
        assert_eq!(
            conv(r#"{"type": "TEARDOWN", "framework_id": "x"}"#).unwrap_err(),
            "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'framework_id'"
        );
        // A map value of the wrong type: stout names the entry's `value`.
        assert_eq!(
            conv(r#"{"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [{"limits": {"disk": 10}}]}}]}}"#)
                .unwrap_err(),
            "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'value'"
        );
        // An item of a repeated field: the field.
        assert_eq!(
            conv(r#"{"type": "DECLINE", "decline": {"offer_ids": ["x"]}}"#).unwrap_err(),
            "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'offer_ids'"
        );
        assert_eq!(
            conv(r#"{"type": "KILL", "kill": {}}"#).unwrap_err(),
            "Failed to convert JSON into Call protobuf: Missing required fields: kill.task_id"
        );
        assert!(
            conv("{x")
                .unwrap_err()
                .starts_with("Failed to parse body into JSON")
        );
    }

    #[test]
    fn jsonp_wrapping() {
        let req = Request {
            method: "GET".into(),
            path: "/master/state".into(),
            query: "jsonp=cb".into(),
            headers: Headers::default(),
            body: vec![],
            peer: ([127, 0, 0, 1], 1).into(),
        };
        let Reply::Full { body, headers, .. } = json_reply(&req, serde_json::json!({"a": 1}))
        else {
            panic!("a full reply");
        };
        assert_eq!(headers.get("content-type"), Some("text/javascript"));
        assert_eq!(String::from_utf8_lossy(&body), r#"cb({"a":1})"#);
    }

    #[test]
    fn method_not_allowed_body() {
        let req = Request {
            method: "GET".into(),
            path: "/api/v1/scheduler".into(),
            query: String::new(),
            headers: Headers::default(),
            body: vec![],
            peer: ([127, 0, 0, 1], 1).into(),
        };
        let Err(Reply::Full {
            status,
            body,
            headers,
        }) = media(&req)
        else {
            panic!("GET must be refused");
        };
        assert_eq!(status, 405);
        assert_eq!(headers.get("allow"), Some("POST"));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."
        );
    }

    #[test]
    fn accept_header_matching() {
        let h = |v: &str| Headers::default().with("Accept", v);
        assert!(accepts(&Headers::default(), "application/json"));
        assert!(accepts(&h("application/json"), "application/json"));
        assert!(!accepts(&h("application/x-protobuf"), "application/json"));
        assert!(accepts(&h("application/*"), "application/json"));
        assert!(accepts(&h("*/*"), "application/x-protobuf"));
        assert!(!accepts(
            &h("application/json;q=0, */*"),
            "application/json"
        ));
        assert!(accepts(
            &h("application/json;q=0, */*"),
            "application/x-protobuf"
        ));
        assert!(!accepts(&h("text/html"), "application/json"));
    }
}
