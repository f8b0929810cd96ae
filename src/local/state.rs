//! The master's state endpoints (`/master/state`, `/master/frameworks`,
//! `/master/slaves`, `/version`) in the shape Mesos writes them: v0 names
//! (`slaves`, `slave_id`), flattened resources, task and offer summaries.
//!
//! May import: `master`, `protocol`, `resources`, `validation`.

use serde_json::{Value as Json, json};

use super::master::{Framework, Master, MasterOffer};
use super::protocol::{AGENT_CAPABILITIES, VERSION};
use super::resources::Resources;
use crate::wire::codec::{Encoding, encode};
use crate::wire::pb;

fn proto_json<M: prost::Message + prost::Name>(m: &M) -> Json {
    serde_json::from_slice(&encode(m, Encoding::Json)).unwrap_or(Json::Null)
}

fn state_name(s: i32) -> &'static str {
    pb::TaskState::try_from(s).map_or("TASK_UNKNOWN", |s| s.as_str_name())
}

fn resources_json(list: &[pb::Resource]) -> Json {
    Resources::from_proto(list)
        .unwrap_or_default()
        .to_state_json()
}

pub(super) fn task_json(t: &pb::Task) -> Json {
    let role = t
        .resources
        .first()
        .and_then(|r| r.allocation_info.as_ref())
        .and_then(|a| a.role.clone())
        .unwrap_or_else(|| "*".into());
    let statuses: Vec<Json> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = json!({
                "state": state_name(s.state),
                "timestamp": s.timestamp.unwrap_or(0.0),
            });
            if let Some(l) = &s.labels {
                o["labels"] = proto_json(l)["labels"].clone();
            }
            if let Some(cs) = &s.container_status {
                let mut c = json!({});
                if let Some(id) = &cs.container_id {
                    c["container_id"] = proto_json(id);
                }
                if !cs.network_infos.is_empty() {
                    c["network_infos"] = cs.network_infos.iter().map(proto_json).collect();
                }
                o["container_status"] = c;
            }
            if let Some(h) = s.healthy {
                o["healthy"] = json!(h);
            }
            // Not in Mesos's state (its operator API has them): what the
            // web UI shows of each update.
            if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
                o["message"] = json!(m);
            }
            if let Some(r) = s
                .reason
                .and_then(|r| pb::task_status::Reason::try_from(r).ok())
            {
                o["reason"] = json!(r.as_str_name());
            }
            o
        })
        .collect();
    let mut o = json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map_or("", |e| e.value.as_str()),
        "slave_id": t.agent_id.value,
        "state": state_name(t.state),
        "resources": resources_json(&t.resources),
        "role": role,
        "statuses": statuses,
    });
    if !t.limits.is_empty() {
        o["limits"] = t
            .limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.value)))
            .collect();
    }
    if let Some(u) = &t.user {
        o["user"] = json!(u);
    }
    if let Some(l) = &t.labels {
        o["labels"] = proto_json(l)["labels"].clone();
    }
    if let Some(d) = &t.discovery {
        o["discovery"] = proto_json(d);
    }
    if let Some(c) = &t.container {
        o["container"] = proto_json(c);
    }
    if let Some(h) = &t.health_check {
        o["health_check"] = proto_json(h);
    }
    o
}

fn offer_json(o: &MasterOffer) -> Json {
    json!({
        "id": o.offer.id.value,
        "framework_id": o.framework_id,
        "allocation_info": {"role": o.role},
        "slave_id": o.agent_id,
        "resources": o.resources.to_state_json(),
    })
}

fn capabilities(info: &pb::FrameworkInfo) -> Json {
    info.capabilities
        .iter()
        .map(|c| json!(c.r#type().as_str_name()))
        .collect()
}

#[allow(deprecated)]
pub(super) fn framework_json(m: &Master, fw: &Framework) -> Json {
    let mut offered = Resources::new();
    for o in fw.offers.iter().filter_map(|id| m.offers.get(id)) {
        offered.add(&o.resources);
    }
    let used = fw.used(None);
    let info = &fw.info;
    let mut o = json!({
        "id": fw.id,
        "name": info.name,
        "used_resources": used.to_state_json(),
        "offered_resources": offered.to_state_json(),
        "capabilities": capabilities(info),
        "hostname": info.hostname.clone().unwrap_or_default(),
        "webui_url": info.webui_url.clone().unwrap_or_default(),
        "active": fw.active,
        "connected": fw.connected(),
        "recovered": false,
        "user": info.user,
        "failover_timeout": info.failover_timeout(),
        "checkpoint": info.checkpoint(),
        "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time,
        "resources": used.plus(&offered).to_state_json(),
        "tasks": fw.tasks.values().map(|t| task_json(&t.task)).collect::<Vec<_>>(),
        "unreachable_tasks": [],
        "completed_tasks": fw.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        "offers": fw.offers.iter().filter_map(|id| m.offers.get(id)).map(offer_json).collect::<Vec<_>>(),
        "executors": fw.executors.iter().map(|((agent, _), e)| {
            let mut x = json!({
                "executor_id": e.info.executor_id.value,
                "name": e.info.name.clone().unwrap_or_default(),
                "framework_id": fw.id,
                "resources": e.resources.to_state_json(),
                "slave_id": agent,
            });
            if let Some(t) = e.info.r#type.and_then(|t| pb::executor_info::Type::try_from(t).ok()) {
                x["type"] = json!(t.as_str_name());
            }
            x
        }).collect::<Vec<_>>(),
        "offer_constraints": {},
    });
    if let Some(p) = &info.principal {
        o["principal"] = json!(p);
    }
    if let Some(t) = fw.reregistered_time {
        o["reregistered_time"] = json!(t);
    }
    if super::validation::has_capability(info, pb::framework_info::capability::Type::MultiRole) {
        o["roles"] = json!(info.roles);
    } else {
        o["role"] = json!(info.role.clone().unwrap_or_else(|| "*".into()));
    }
    if let Some(l) = &info.labels {
        o["labels"] = proto_json(l)["labels"].clone();
    }
    o
}

pub(super) fn slave_json(m: &Master, id: &str) -> Json {
    let Some(a) = m.agents.get(id) else {
        return Json::Null;
    };
    let mut used = Resources::new();
    for fw in m.frameworks.values() {
        used.add(&fw.used(Some(id)));
    }
    let mut offered = Resources::new();
    for o in m.offers.values().filter(|o| o.agent_id == id) {
        offered.add(&o.resources);
    }
    json!({
        "id": id,
        "hostname": a.info.hostname,
        "port": a.info.port.unwrap_or(5051),
        "attributes": {},
        "pid": a.pid,
        "registered_time": m.agent_registered.get(id).copied().unwrap_or(0.0),
        "resources": a.total.to_state_json(),
        "used_resources": used.to_state_json(),
        "offered_resources": offered.to_state_json(),
        "reserved_resources": {},
        "unreserved_resources": a.total.to_state_json(),
        "active": m.agent_active(id),
        "deactivated": m.admin.get(id).is_some_and(|x| x.deactivated),
        "version": VERSION,
        "capabilities": AGENT_CAPABILITIES.iter().map(|c| c.as_str_name()).collect::<Vec<_>>(),
    })
}

fn build_info() -> serde_json::Map<String, Json> {
    let mut o = serde_json::Map::new();
    o.insert("version".into(), json!(VERSION));
    o.insert("build_date".into(), json!("2020-11-24 00:00:00"));
    o.insert("build_time".into(), json!(1_606_176_000.0));
    o.insert("build_user".into(), json!("lua-mesos"));
    o
}

/// `GET /version`.
pub fn version() -> Json {
    Json::Object(build_info())
}

/// `GET /master/state`.
pub fn master_state(m: &Master) -> Json {
    let mut o = build_info();
    let leader = m.info.pid.clone().unwrap_or_default();
    let fields = json!({
        "start_time": m.start_time,
        "elected_time": m.start_time,
        "id": m.id,
        "pid": leader,
        "hostname": m.info.hostname.clone().unwrap_or_default(),
        "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"],
        "activated_slaves": m.agents.keys().filter(|id| m.agent_active(id)).count(),
        "deactivated_slaves": m.agents.keys().filter(|id| !m.agent_active(id)).count(),
        "unreachable_slaves": 0,
        "leader": leader,
        "leader_info": {
            "id": m.info.id,
            "pid": m.info.pid,
            "port": m.info.port,
            "hostname": m.info.hostname,
        },
        "flags": {
            "allocation_interval": format!("{}ms", m.cfg.allocation_interval.as_millis()),
            "work_dir": m.work_dir.display().to_string(),
            "hostname": m.cfg.hostname,
        },
        "slaves": m.agents.keys().map(|id| slave_json(m, id)).collect::<Vec<_>>(),
        "recovered_slaves": [],
        "frameworks": m.frameworks.values().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "completed_frameworks": m.completed_frameworks.iter().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    });
    if let Json::Object(f) = fields {
        o.extend(f);
    }
    Json::Object(o)
}

/// `GET /master/frameworks`.
pub fn frameworks(m: &Master) -> Json {
    json!({
        "frameworks": m.frameworks.values().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "completed_frameworks": m.completed_frameworks.iter().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `GET /master/slaves`.
pub fn slaves(m: &Master) -> Json {
    json!({
        "slaves": m.agents.keys().map(|id| slave_json(m, id)).collect::<Vec<_>>(),
        "recovered_slaves": [],
    })
}
