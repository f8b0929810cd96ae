//! The master's other JSON endpoints, in the shapes Mesos 1.11 writes:
//! `/master/state-summary` (agents and frameworks with task counts),
//! `/master/tasks` (paged, sorted by the first status's time, filtered by
//! framework and task), `/master/roles` (weights, quotas, quantities) and
//! `/metrics/snapshot`.
//!
//! May import: `master`, `state`, `protocol`, `resources`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json, json};

use super::master::{Framework, Master};
use super::resources::{Quantity, Resources, from_milli};
use super::state;
use crate::wire::pb;

/// The task states the summary counts, in Mesos's order.
const COUNTED: [&str; 10] = [
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_KILLED",
    "TASK_FAILED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_UNREACHABLE",
];

/// Every task of a framework: live, then completed.
fn all_tasks(fw: &Framework) -> impl Iterator<Item = &pb::Task> {
    fw.tasks
        .values()
        .map(|t| &t.task)
        .chain(fw.completed_tasks.iter())
}

fn add_counts(o: &mut Json, tasks: &[&pb::Task]) {
    for name in COUNTED {
        let n = tasks
            .iter()
            .filter(|t| t.state().as_str_name() == name)
            .count();
        o[name] = json!(n);
    }
}

/// `GET /master/state-summary`.
pub fn state_summary(m: &Master) -> Json {
    let live_on = |fw: &Framework, agent: &str| {
        fw.tasks.values().any(|t| t.task.agent_id.value == agent)
            || fw.executors.keys().any(|(a, _)| a == agent)
    };
    let slaves: Vec<Json> = m
        .agents
        .keys()
        .map(|id| {
            let mut o = state::slave_json(m, id);
            let tasks: Vec<&pb::Task> = m
                .frameworks
                .values()
                .flat_map(all_tasks)
                .filter(|t| t.agent_id.value == *id)
                .collect();
            add_counts(&mut o, &tasks);
            o["framework_ids"] = m
                .frameworks
                .values()
                .filter(|f| live_on(f, id))
                .map(|f| json!(f.id))
                .collect();
            o
        })
        .collect();
    let frameworks: Vec<Json> = m
        .frameworks
        .values()
        .map(|fw| {
            let full = state::framework_json(m, fw);
            let mut o = json!({});
            for k in [
                "id",
                "name",
                "used_resources",
                "offered_resources",
                "capabilities",
                "hostname",
                "webui_url",
                "active",
                "connected",
                "recovered",
            ] {
                o[k] = full.get(k).cloned().unwrap_or(Json::Null);
            }
            let tasks: Vec<&pb::Task> = all_tasks(fw).collect();
            add_counts(&mut o, &tasks);
            let agents: BTreeSet<&str> = m
                .agents
                .keys()
                .filter(|a| live_on(fw, a))
                .map(|a| a.as_str())
                .collect();
            o["slave_ids"] = agents.into_iter().map(|a| json!(a)).collect();
            o
        })
        .collect();
    json!({
        "hostname": m.cfg.hostname,
        "slaves": slaves,
        "frameworks": frameworks,
    })
}

/// The query parameters `/master/tasks` takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskQuery {
    pub limit: usize,
    pub offset: usize,
    pub ascending: bool,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
}

/// Reads `limit` (default 100), `offset`, `order=asc` (else descending),
/// `framework_id` and `task_id`; unparsable numbers take the default.
pub(crate) fn task_query(query: &str) -> TaskQuery {
    let mut q = TaskQuery {
        limit: 100,
        offset: 0,
        ascending: false,
        framework_id: None,
        task_id: None,
    };
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = crate::base::percent_decode(v, crate::base::Escapes::Lenient)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| v.to_string());
        match k {
            "limit" => q.limit = v.parse().unwrap_or(q.limit),
            "offset" => q.offset = v.parse().unwrap_or(q.offset),
            "order" => q.ascending = v == "asc",
            "framework_id" => q.framework_id = Some(v),
            "task_id" => q.task_id = Some(v),
            _ => {}
        }
    }
    q
}

/// The time a task is sorted by: its first status's (tasks without one
/// sort as the oldest).
fn first_time(t: &pb::Task) -> Option<f64> {
    t.statuses.first().map(|s| s.timestamp.unwrap_or(0.0))
}

/// `GET /master/tasks`.
pub fn tasks(m: &Master, query: &str) -> Json {
    let q = task_query(query);
    let mut list: Vec<&pb::Task> = m
        .frameworks
        .values()
        .chain(m.completed_frameworks.iter())
        .filter(|f| q.framework_id.as_ref().is_none_or(|id| *id == f.id))
        .flat_map(all_tasks)
        .filter(|t| q.task_id.as_ref().is_none_or(|id| *id == t.task_id.value))
        .collect();
    list.sort_by(|a, b| {
        let (x, y) = (first_time(a), first_time(b));
        let ord = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
        if q.ascending { ord } else { ord.reverse() }
    });
    let page: Vec<Json> = list
        .into_iter()
        .skip(q.offset)
        .take(q.limit)
        .map(state::task_json)
        .collect();
    json!({ "tasks": page })
}

/// Quantities as `/master/roles` writes them: scalars as numbers, ranges
/// as how many values they hold.
fn quantities(r: &Resources) -> Json {
    let mut o = Map::new();
    let mut items: Vec<(&str, &Quantity)> = r.iter().collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    for (name, q) in items {
        let v = match q {
            Quantity::Scalar(v) => from_milli(*v),
            Quantity::Ranges(rs) => rs.iter().map(|(b, e)| (e - b + 1) as f64).sum(),
            Quantity::Set(s) => s.len() as f64,
        };
        o.insert(name.to_string(), json!(v));
    }
    Json::Object(o)
}

/// `GET /master/roles`.
pub fn roles(m: &Master) -> Json {
    let view = m.roles_view();
    let mut offered: BTreeMap<String, Resources> = BTreeMap::new();
    for o in m.offers.values() {
        offered.entry(o.role.clone()).or_default().add(&o.resources);
    }
    let mut allocated: BTreeMap<String, Resources> = BTreeMap::new();
    for fw in m.frameworks.values() {
        for t in fw.tasks.values().filter(|t| !t.released) {
            let role = t
                .task
                .resources
                .iter()
                .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
                .unwrap_or_else(|| "*".into());
            allocated.entry(role).or_default().add(&t.resources);
        }
    }
    let roles: Vec<Json> = view
        .roles
        .iter()
        .map(|r| {
            let a = allocated.remove(&r.name).unwrap_or_default();
            let o = offered.remove(&r.name).unwrap_or_default();
            let quota = m.settings.quotas.get(&r.name);
            let scalars = |map: Option<&std::collections::HashMap<String, pb::value::Scalar>>| {
                let mut out = Map::new();
                let mut items: Vec<_> = map.into_iter().flatten().collect();
                items.sort_by(|x, y| x.0.cmp(y.0));
                for (k, v) in items {
                    out.insert(k.clone(), json!(v.value));
                }
                Json::Object(out)
            };
            json!({
                "name": r.name,
                "weight": r.weight,
                "quota": {
                    "role": r.name,
                    "guarantee": scalars(quota.map(|q| &q.guarantees)),
                    "limit": scalars(quota.map(|q| &q.limits)),
                    "consumed": quantities(&a),
                },
                "resources": quantities(&a.plus(&o)),
                "allocated": quantities(&a),
                "offered": quantities(&o),
                "reserved": {},
                "frameworks": r.frameworks.iter().map(|f| json!(f.value)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "roles": roles })
}

/// `GET /metrics/snapshot`: name → value.
pub fn metrics(list: Vec<(String, f64)>) -> Json {
    Json::Object(list.into_iter().map(|(k, v)| (k, json!(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_queries_take_mesos_defaults() {
        let q = task_query("");
        assert_eq!((q.limit, q.offset, q.ascending), (100, 0, false));
        let q = task_query("limit=2&offset=1&order=asc&task_id=a%20b&framework_id=f");
        assert_eq!((q.limit, q.offset, q.ascending), (2, 1, true));
        assert_eq!(q.task_id.as_deref(), Some("a b"));
        assert_eq!(q.framework_id.as_deref(), Some("f"));
        assert_eq!(task_query("limit=x&order=desc").limit, 100);
    }

    #[test]
    fn role_quantities_count_ranges() {
        let r = Resources::parse("cpus:2;ports:[1-10,20-20]").unwrap();
        assert_eq!(quantities(&r), json!({"cpus": 2.0, "ports": 11.0}));
    }
}
