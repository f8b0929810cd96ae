//! Each agent's own HTTP endpoint (`slave(1)@ip:port`): the executor API
//! (`/api/v1/executor`, also `/slave(1)/api/v1/executor`) with the rules of
//! `Http::executor`, executor authentication (`Authorization: Bearer`, as
//! with `--authenticate_http_executors`), and the agent's `/state` and
//! `/health`.
//!
//! May import: `master` (which owns the agents it serves), `http_rules`
//! (the HTTP helpers every endpoint shares), `operator_http`,
//! `summaries`, `validation` and `local` itself (the shared state). It sits beside `api`, above the master, rather than in
//! `agent/`, so that `agent` never imports `master`.

use std::sync::{Arc, Weak};

use super::http_rules::{decode_call, json_reply, media, negotiate};
use super::master::Master;
use super::{Shared, validation};
use crate::net::http::Headers;
use crate::net::http::server::{Handler, Reply, Request};
use crate::wire::pb;
use pb::executor::call::Type as XType;

/// The realm of executor authentication.
const REALM: &str = "mesos-agent-executor";

/// The handler of one agent's endpoint.
pub(crate) fn handler(shared: &Arc<Shared>, agent_id: String) -> Handler {
    let weak = Arc::downgrade(shared);
    Arc::new(move |req: Request| match weak.upgrade() {
        Some(shared) => route(&shared, &agent_id, req),
        None => Reply::text(503, "The cluster has stopped"),
    })
}

fn route(shared: &Arc<Shared>, agent_id: &str, req: Request) -> Reply {
    // libprocess delegates paths that name no process to `slave(1)`.
    let path = req
        .path
        .strip_prefix("/slave(1)")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(&req.path)
        .to_string();
    match path.as_str() {
        "/api/v1/executor" => executor(shared, agent_id, req),
        "/state" | "/state.json" => {
            let body = shared.lock().agents.get(agent_id).map(|a| a.state_json());
            match body {
                Some(b) => json_reply(&req, b),
                None => Reply::text(404, ""),
            }
        }
        "/health" => Reply::status(200),
        "/api/v1" => super::operator_http::agent_api(shared, agent_id, req),
        "/metrics/snapshot" => {
            let metrics = shared.lock().agents.get(agent_id).map(|a| a.metrics());
            match metrics {
                Some(m) => json_reply(&req, super::summaries::metrics(m)),
                None => Reply::text(404, ""),
            }
        }
        // This agent's sandboxes (`files_api`).
        "/files/browse" | "/files/read" | "/files/download" => files(shared, agent_id, &req),
        _ => Reply::text(404, ""),
    }
}

/// The `/files/*` endpoints over this agent's sandboxes, behind the
/// cluster's credentials if it has some.
fn files(shared: &Arc<Shared>, agent_id: &str, req: &Request) -> Reply {
    use super::files_api::{self, FilesAnswer};
    let (credentials, sandboxes) = {
        let m = shared.lock();
        (
            m.cfg.framework_credentials.clone(),
            files_api::agent_sandboxes(&m, agent_id),
        )
    };
    if let Err(r) =
        files_api::authenticate(credentials.as_deref(), &req.headers, files_api::AGENT_REALM)
    {
        return r;
    }
    match files_api::answer(&sandboxes, req) {
        Some(FilesAnswer::Json(j)) => json_reply(req, j),
        Some(FilesAnswer::Reply(r)) => r,
        None => Reply::text(404, ""),
    }
}

fn unauthorized(challenge: String) -> Reply {
    Reply::status(401).with_header("WWW-Authenticate", &challenge)
}

/// The JWT authenticator's checks; the claims of the executor the token
/// was issued to.
fn authenticate(
    m: &Master,
    agent_id: &str,
    headers: &Headers,
) -> Result<(String, String, String), Reply> {
    let bearer = format!("Bearer realm=\"{REALM}\"");
    let invalid = |why: &str| {
        unauthorized(format!(
            "{bearer}, error=\"invalid_token\", error_description=\"{why}\""
        ))
    };
    // Without credentials, no error details (RFC 6750, section 3.1).
    let Some(header) = headers.get("authorization") else {
        return Err(unauthorized(bearer.clone()));
    };
    let parts: Vec<&str> = header.split(' ').collect();
    let [scheme, token] = parts.as_slice() else {
        return Err(invalid("Malformed 'Authorization' header"));
    };
    if *scheme != "Bearer" {
        return Err(invalid(&format!("Scheme '{scheme}' unsupported")));
    }
    m.token_claims(agent_id, token)
        .ok_or_else(|| invalid("Invalid JWT: the token was not issued by this agent"))
}

/// `Http::executor`.
fn executor(shared: &Arc<Shared>, agent_id: &str, req: Request) -> Reply {
    let claims = {
        let m = shared.lock();
        if m.cfg.executor_auth {
            match authenticate(&m, agent_id, &req.headers) {
                Ok(c) => Some(c),
                Err(r) => return r,
            }
        } else {
            None
        }
    };
    let enc = match media(&req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let call: pb::executor::Call = match decode_call(&req.body, enc) {
        Ok(c) => c,
        Err(e) => return Reply::text(400, e),
    };
    let ty = match validation::validate_executor_call(&call) {
        Ok(t) => t,
        Err(e) => return Reply::text(400, format!("Failed to validate Executor::Call: {e}")),
    };
    let accept = match ty {
        XType::Subscribe => match negotiate(&req) {
            Ok(a) => a,
            Err(r) => return r,
        },
        // Answered before any lookup: executors send dummy ids.
        XType::Heartbeat => return Reply::status(202),
        _ => enc,
    };
    let fw_id = call.framework_id.value.clone();
    let exec_id = call.executor_id.value.clone();
    let mut m = shared.lock();
    let subscribed = match m.executor_lookup(agent_id, &fw_id, &exec_id, claims.as_ref()) {
        Ok(s) => s,
        Err((code, body)) => return Reply::text(code, body),
    };
    if !subscribed && ty != XType::Subscribe {
        return Reply::text(403, "Executor is not subscribed");
    }
    match ty {
        XType::Subscribe => {
            let sub = call.subscribe.unwrap_or_default();
            let Some((rx, conn_id)) = m.executor_subscribe(agent_id, &fw_id, &exec_id, sub, accept)
            else {
                return Reply::text(400, "Executor cannot be found");
            };
            drop(m);
            let weak: Weak<Shared> = Arc::downgrade(shared);
            let agent_id = agent_id.to_string();
            let on_close = Box::new(move || {
                super::with_master(&weak, |m| {
                    m.executor_stream_closed(&agent_id, &fw_id, &exec_id, conn_id)
                });
            });
            Reply::Stream {
                headers: Headers::default().with("Content-Type", accept.content_type()),
                rx,
                on_close,
            }
        }
        XType::Update => {
            if let Some(u) = call.update {
                m.executor_update(agent_id, &fw_id, &exec_id, u.status);
            }
            Reply::status(202)
        }
        XType::Message => {
            if let Some(msg) = call.message {
                m.executor_message(agent_id, &fw_id, &exec_id, msg.data);
            }
            Reply::status(202)
        }
        XType::Heartbeat => Reply::status(202),
        XType::Unknown => Reply::status(501),
    }
}
