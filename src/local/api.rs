//! HTTP routing of the local master, and the HTTP rules of the scheduler
//! endpoint (`Master::Http::scheduler`): method, media types, parsing, call
//! validation, `Mesos-Stream-Id`, framework lookup, then dispatch. The
//! agents' endpoints are in `agent_api`.
//!
//! May import: `master`, `state`, `validation` and `local` itself (the
//! shared state); only `local` and `agent_api` import it.

use std::sync::{Arc, Weak};

use super::Shared;
use super::state;
use super::validation;
use crate::net::http::Headers;
use crate::net::http::server::{Handler, Reply, Request};
use crate::net::url::query_value;
use crate::wire::codec::{self, CodecError, Encoding};
use crate::wire::json::JsonError;
use crate::wire::pb;
use pb::scheduler::call::Type as CallType;

pub(crate) fn handler(shared: Arc<Shared>) -> Handler {
    let weak = Arc::downgrade(&shared);
    drop(shared);
    Arc::new(move |req: Request| match weak.upgrade() {
        Some(shared) => route(&shared, req),
        None => Reply::text(503, "The cluster has stopped"),
    })
}

fn route(shared: &Arc<Shared>, req: Request) -> Reply {
    match req.path.as_str() {
        "/api/v1/scheduler" | "/master/api/v1/scheduler" => scheduler(shared, req),
        "/state" | "/master/state" | "/state.json" | "/master/state.json" => {
            let body = state::master_state(&shared.lock());
            json_reply(&req, body)
        }
        "/master/frameworks" | "/frameworks" => json_reply(&req, state::frameworks(&shared.lock())),
        "/master/slaves" | "/slaves" => json_reply(&req, state::slaves(&shared.lock())),
        "/health" | "/master/health" => Reply::status(200),
        "/version" => json_reply(&req, state::version()),
        "/master/redirect" | "/redirect" => {
            let m = shared.lock();
            let port = m.addr.map(|a| a.port()).unwrap_or(0);
            Reply::status(307).with_header("Location", &format!("//{}:{port}", m.cfg.hostname))
        }
        // The web UI and every agent's sandbox files (`webui`, `files_api`).
        "/" | "/webui" | "/webui/" | "/webui/index.html" | "/webui/app.js" | "/webui/app.css"
        | "/files/browse" | "/files/read" | "/files/download" => web(shared, &req),
        // Convenience: the N-th agent's state on the master's port.
        p => match slave_path(p) {
            Some((n, "/state" | "/state.json")) => {
                let m = shared.lock();
                match m.agents.values().nth(n.wrapping_sub(1)) {
                    Some(a) => json_reply(&req, a.state_json()),
                    None => Reply::text(404, ""),
                }
            }
            Some((n, "/health")) if n >= 1 && n <= shared.lock().agents.len() => Reply::status(200),
            _ => Reply::text(404, ""),
        },
    }
}

/// The web UI's page and assets, and the `/files/*` endpoints over every
/// agent's sandboxes, behind the cluster's credentials if it has some.
fn web(shared: &Arc<Shared>, req: &Request) -> Reply {
    use super::files_api::{self, FilesAnswer};
    let (credentials, sandboxes) = {
        let m = shared.lock();
        (
            m.cfg.framework_credentials.clone(),
            files_api::master_sandboxes(&m),
        )
    };
    if let Some(r) = super::webui::answer(credentials.as_deref(), req) {
        return r;
    }
    if let Err(r) = files_api::authenticate(
        credentials.as_deref(),
        &req.headers,
        files_api::MASTER_REALM,
    ) {
        return r;
    }
    match files_api::answer(&sandboxes, req) {
        Some(FilesAnswer::Json(j)) => json_reply(req, j),
        Some(FilesAnswer::Reply(r)) => r,
        None => Reply::text(404, ""),
    }
}

/// `/slave(N)/rest` → (N, "/rest").
fn slave_path(p: &str) -> Option<(usize, &str)> {
    let rest = p.strip_prefix("/slave(")?;
    let (n, rest) = rest.split_once(')')?;
    Some((n.parse().ok()?, rest))
}

/// JSON with optional `?jsonp=callback` wrapping, as the state endpoints do.
pub(super) fn json_reply(req: &Request, body: serde_json::Value) -> Reply {
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

pub(super) fn decode_call<M: prost::Message + prost::Name + Default>(
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

/// The realm of framework authentication.
const REALM: &str = "mesos-master-scheduler";

/// HTTP framework authentication (before anything else, as libprocess
/// authenticates a realm before the route runs): the principal, if any.
fn authenticate(shared: &Arc<Shared>, req: &Request) -> Result<Option<String>, Reply> {
    let m = shared.lock();
    let Some(known) = &m.cfg.framework_credentials else {
        return Ok(None);
    };
    match crate::net::credentials::authenticate(req.headers.get("authorization"), known) {
        Some(p) => Ok(Some(p)),
        None => {
            Err(Reply::status(401)
                .with_header("WWW-Authenticate", &format!("Basic realm=\"{REALM}\"")))
        }
    }
}

fn scheduler(shared: &Arc<Shared>, req: Request) -> Reply {
    let principal = match authenticate(shared, &req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(election) = shared.election() {
        match election {
            (true, _) => {}
            (false, crate::net::zk::Leader::Known(ep)) => {
                let host = if ep.host.contains(':') {
                    format!("[{}]", ep.host)
                } else {
                    ep.host.clone()
                };
                return Reply::status(307)
                    .with_header("Location", &format!("//{host}:{}{}", ep.port, req.path));
            }
            (false, _) => return Reply::text(503, "No leader elected"),
        }
    }
    if !shared.lock().started {
        return Reply::text(503, "Master has not finished recovery");
    }
    let enc = match media(&req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let call: pb::scheduler::Call = match decode_call(&req.body, enc) {
        Ok(c) => c,
        Err(e) => return Reply::text(400, e),
    };
    let ty = match validation::validate_call(&call) {
        Ok(t) => t,
        Err(e) => return Reply::text(400, format!("Failed to validate scheduler::Call: {e}")),
    };
    if matches!(ty, CallType::Subscribe | CallType::ReconcileOperations) {
        let accept = match negotiate(&req) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if ty == CallType::Subscribe {
            let claimed = call
                .subscribe
                .as_ref()
                .and_then(|s| s.framework_info.principal.as_deref());
            if let (Some(auth), Some(claimed)) = (&principal, claimed)
                && auth != claimed
            {
                return Reply::text(
                    400,
                    format!(
                        "Authenticated principal '{auth}' does not match principal '{claimed}' set in `FrameworkInfo`"
                    ),
                );
            }
            return subscribe(shared, &req, call, accept);
        }
    }

    let fw_id = call
        .framework_id
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
    let mut m = shared.lock();
    let Some(fw) = m.frameworks.get(&fw_id) else {
        return Reply::text(400, "Framework cannot be found");
    };
    let Some(conn) = &fw.conn else {
        return Reply::text(403, "Framework is not subscribed");
    };
    let Some(stream_id) = req.headers.get("mesos-stream-id") else {
        return Reply::text(
            400,
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
        );
    };
    if stream_id != conn.stream_id {
        return Reply::text(
            400,
            format!(
                "The stream ID '{stream_id}' included in this request didn't match the stream ID currently associated with framework ID {fw_id}"
            ),
        );
    }

    let mut reply = Reply::status(202);
    match ty {
        CallType::Subscribe => {}
        CallType::Teardown => m.teardown(&fw_id),
        CallType::Accept => {
            if let Some(a) = call.accept {
                m.accept(&fw_id, a);
            }
        }
        CallType::Decline => {
            if let Some(d) = call.decline {
                m.decline(&fw_id, d);
            }
        }
        CallType::Revive => m.revive(&fw_id, &call.revive.map(|r| r.roles).unwrap_or_default()),
        CallType::Suppress => {
            m.suppress(&fw_id, &call.suppress.map(|s| s.roles).unwrap_or_default())
        }
        CallType::Kill => {
            if let Some(k) = call.kill {
                m.kill(&fw_id, k);
            }
        }
        CallType::Shutdown => {
            if let Some(s) = call.shutdown {
                m.shutdown_executor(&fw_id, s);
            }
        }
        CallType::Acknowledge => {
            if let Some(a) = call.acknowledge {
                m.acknowledge(&fw_id, a);
            }
        }
        CallType::Reconcile => {
            m.reconcile(&fw_id, call.reconcile.map(|r| r.tasks).unwrap_or_default())
        }
        CallType::ReconcileOperations => {
            if let Some(r) = call.reconcile_operations {
                m.reconcile_operations(&fw_id, r);
            }
        }
        CallType::Message => {
            if let Some(msg) = call.message {
                m.message(&fw_id, msg);
            }
        }
        // No inverse offers, no operations to acknowledge; REQUEST is
        // ignored by the built-in allocator.
        CallType::Request
        | CallType::AcceptInverseOffers
        | CallType::DeclineInverseOffers
        | CallType::AcknowledgeOperationStatus => {}
        CallType::UpdateFramework => {
            if let Some(uf) = call.update_framework {
                reply = match m.update_framework(&fw_id, uf) {
                    Ok(()) => Reply::status(200),
                    Err(e) => Reply::text(400, e),
                };
            }
        }
        CallType::Unknown => reply = Reply::status(501),
    }
    m.pump();
    reply
}

fn subscribe(
    shared: &Arc<Shared>,
    req: &Request,
    call: pb::scheduler::Call,
    accept: Encoding,
) -> Reply {
    if req.headers.get("mesos-stream-id").is_some() {
        return Reply::text(
            400,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
        );
    }
    let Some(sub) = call.subscribe else {
        return Reply::text(
            400,
            "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
        );
    };
    let sub = {
        let mut m = shared.lock();
        let s = m.subscribe(sub, accept);
        m.pump();
        s
    };
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let (fw_id, stream_id) = (sub.framework_id.clone(), sub.stream_id.clone());
    let on_close = Box::new(move || {
        if let Some(fw_id) = fw_id {
            super::with_master(&weak, |m| m.stream_closed(&fw_id, &stream_id));
        }
    });
    Reply::Stream {
        headers: Headers::default()
            .with("Content-Type", accept.content_type())
            .with("Mesos-Stream-Id", sub.stream_id),
        rx: sub.rx,
        on_close,
    }
}

/// The method and media-type checks both APIs share.
pub(super) fn media(req: &Request) -> Result<Encoding, Reply> {
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

pub(super) fn negotiate(req: &Request) -> Result<Encoding, Reply> {
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
