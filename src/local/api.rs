//! HTTP routing of the local master, and the HTTP rules of the scheduler
//! endpoint (`Master::Http::scheduler`): method, media types, parsing, call
//! validation, `Mesos-Stream-Id`, framework lookup, then dispatch. The
//! agents' endpoints are in `agent_api`.
//!
//! May import: `master`, `state`, `summaries`, `operator_http`,
//! `http_rules`, `validation` and `local` itself (the shared state); only
//! `local` imports it.

use std::sync::{Arc, Weak};

use super::Shared;
use super::http_rules::{decode_call, json_reply, leading, media, negotiate};
use super::operator_http;
use super::state;
use super::summaries;
use super::validation;
use crate::net::http::Headers;
use crate::net::http::server::{Handler, Reply, Request};
use crate::wire::codec::Encoding;
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
        "/api/v1" | "/master/api/v1" => operator_http::master_api(shared, req),
        "/master/state-summary" | "/state-summary" => {
            json_reply(&req, summaries::state_summary(&shared.lock()))
        }
        "/master/tasks" | "/tasks" => {
            let body = summaries::tasks(&shared.lock(), &req.query);
            json_reply(&req, body)
        }
        "/master/roles" | "/roles" => json_reply(&req, summaries::roles(&shared.lock())),
        "/metrics/snapshot" => json_reply(&req, summaries::metrics(shared.lock().metrics())),
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
    if let Some(r) = leading(shared, &req) {
        return r;
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
