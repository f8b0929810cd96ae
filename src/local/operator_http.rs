//! The operator API's HTTP rules (`Master::Http::api`, and the agent's
//! `Http::api`) at `POST /api/v1` of the master and of each agent, in
//! Mesos's order: leadership (master), method, Content-Type, parsing,
//! validation ("Failed to validate master::Call: ..."), then `Accept`
//! (406), then the call. Answers are encoded as the client accepts, JSON
//! with the lists Mesos always writes; SUBSCRIBE opens a RecordIO stream
//! labelled with the encoding of its records.
//!
//! May import: `master`, `agent` (through the master), `http_rules`,
//! `validation` and `local` itself (the shared state).

use std::sync::{Arc, Weak};
use std::time::Instant;

use super::Shared;
use super::agent::{AGENT_JSON_KEEP, AgentReply};
use super::http_rules::{decode_call, leading, media, negotiate};
use super::master::{MASTER_JSON_KEEP, OperatorReply};
use super::validation::{validate_agent_call, validate_master_call};
use crate::net::http::Headers;
use crate::net::http::server::{Reply, Request};
use crate::wire::codec::{self, Encoding};
use crate::wire::pb;

/// 200 with a message in the accepted encoding.
fn encoded<M: prost::Message + prost::Name>(msg: &M, enc: Encoding, keep: &[&str]) -> Reply {
    Reply::Full {
        status: 200,
        headers: Headers::default().with("Content-Type", enc.content_type()),
        body: codec::encode_keeping(msg, enc, keep),
    }
}

/// `POST /api/v1` on the master.
pub(super) fn master_api(shared: &Arc<Shared>, req: Request) -> Reply {
    if let Some(r) = leading(shared, &req) {
        return r;
    }
    let enc = match media(&req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let call: pb::master::Call = match decode_call(&req.body, enc) {
        Ok(c) => c,
        Err(e) => return Reply::text(400, e),
    };
    let ty = match validate_master_call(&call) {
        Ok(t) => t,
        Err(e) => return Reply::text(400, format!("Failed to validate master::Call: {e}")),
    };
    let accept = match negotiate(&req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if ty == pb::master::call::Type::Subscribe {
        let (rx, id) = shared.lock().operator_subscribe(accept);
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let on_close = Box::new(move || {
            super::with_master(&weak, |m| m.operator_stream_closed(id));
        });
        return Reply::Stream {
            headers: Headers::default().with("Content-Type", accept.content_type()),
            rx,
            on_close,
        };
    }
    let reply = shared.lock().operator_call(ty, call, accept);
    match reply {
        OperatorReply::Response(r) => encoded(r.as_ref(), accept, MASTER_JSON_KEEP),
        OperatorReply::Ok => Reply::status(200),
        OperatorReply::Error(status, body) => Reply::text(status, body),
    }
}

/// `POST /api/v1` (also `/slave(1)/api/v1`) on an agent.
pub(super) fn agent_api(shared: &Arc<Shared>, agent_id: &str, req: Request) -> Reply {
    let enc = match media(&req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let call: pb::agent::Call = match decode_call(&req.body, enc) {
        Ok(c) => c,
        Err(e) => return Reply::text(400, e),
    };
    let ty = match validate_agent_call(&call) {
        Ok(t) => t,
        Err(e) => return Reply::text(400, format!("Failed to validate agent::Call: {e}")),
    };
    let accept = match negotiate(&req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let reply = {
        let mut m = shared.lock();
        match m.agents.get_mut(agent_id) {
            Some(a) => a.operator_call(ty, call, Instant::now()),
            // Removed from the cluster: its process would be gone.
            None => return Reply::text(503, "Agent has shut down"),
        }
    };
    match reply {
        AgentReply::Response(r) => encoded(r.as_ref(), accept, AGENT_JSON_KEEP),
        AgentReply::Ok => Reply::status(200),
        AgentReply::Error(status, body) => Reply::text(status, body),
    }
}
