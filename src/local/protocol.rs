//! What the master and its agents share: the version they claim, how agent
//! ids are made, which task states are terminal, the messages an agent
//! sends the master, ids and timestamps as Mesos writes them, and what
//! both operator APIs report alike (logging level, `system/*` metrics).
//!
//! May import: the crate's `wire` and `uuid` only. Both `master` and
//! `agent` import this; it imports neither.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::wire::pb;
use pb::TaskState;

/// The Mesos version we claim to be.
pub const VERSION: &str = "1.11.0";

/// The capabilities our agents announce (Mesos 1.11 agents also have
/// RESOURCE_PROVIDER, RESIZE_VOLUME and AGENT_OPERATION_FEEDBACK, which go
/// with features the local agents lack).
pub(crate) const AGENT_CAPABILITIES: [pb::agent_info::capability::Type; 5] = [
    pb::agent_info::capability::Type::MultiRole,
    pb::agent_info::capability::Type::HierarchicalRole,
    pb::agent_info::capability::Type::ReservationRefinement,
    pb::agent_info::capability::Type::AgentDraining,
    pb::agent_info::capability::Type::TaskResourceLimits,
];

/// The id of the `n`-th agent (from 0) of the master `master_id`.
pub(crate) fn agent_id(master_id: &str, n: usize) -> String {
    format!("{master_id}-S{n}")
}

/// True for the states a task never leaves.
pub(crate) fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

/// Messages from an agent to the master.
pub(crate) enum ToMaster {
    StatusUpdate {
        framework_id: String,
        status: Box<pb::TaskStatus>,
        latest_state: TaskState,
    },
    ExitedExecutor {
        framework_id: String,
        executor_id: String,
        status: i32,
    },
    FrameworkMessage {
        framework_id: String,
        executor_id: String,
        data: Vec<u8>,
    },
}

/// A version-4 UUID ([`crate::uuid::v4`]).
pub(crate) fn new_uuid() -> [u8; 16] {
    crate::uuid::v4()
}

/// The canonical 8-4-4-4-12 form.
pub(crate) fn uuid_string(b: &[u8; 16]) -> String {
    crate::uuid::to_string(b)
}

/// Seconds since the epoch, as Mesos timestamps are.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The build we claim, as `/version` and GET_VERSION describe it.
pub(crate) fn version_info() -> pb::VersionInfo {
    pb::VersionInfo {
        version: VERSION.into(),
        build_date: Some("2020-11-24 00:00:00".into()),
        build_time: Some(1_606_176_000.0),
        build_user: Some("lua-mesos".into()),
        ..Default::default()
    }
}

/// The logging level in force at `now`: a raised level lasts for its
/// duration, then the default (0) is back.
pub(crate) fn logging_level(set: Option<(u32, Instant)>, now: Instant) -> u32 {
    match set {
        Some((level, until)) if now < until => level,
        _ => 0,
    }
}

/// One figure of the system the cluster runs on (`system/*`).
fn system_metrics() -> Vec<(String, f64)> {
    let mut out = vec![];
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.push(("system/cpus_total".into(), cpus as f64));
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let v: Vec<f64> = load
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [one, five, fifteen] = v[..] {
            out.push(("system/load_15min".into(), fifteen));
            out.push(("system/load_1min".into(), one));
            out.push(("system/load_5min".into(), five));
        }
    }
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        let kib = |key: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .map(|n| n * 1024.0)
        };
        if let Some(free) = kib("MemFree:") {
            out.push(("system/mem_free_bytes".into(), free));
        }
        if let Some(total) = kib("MemTotal:") {
            out.push(("system/mem_total_bytes".into(), total));
        }
    }
    out
}

/// Metrics of a process: `system/*` plus `extra`, sorted by name.
pub(crate) fn metrics_of(mut extra: Vec<(String, f64)>) -> Vec<(String, f64)> {
    extra.extend(system_metrics());
    extra.sort_by(|a, b| a.0.cmp(&b.0));
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_raised_logging_level_lasts_for_its_duration() {
        let now = Instant::now();
        assert_eq!(logging_level(None, now), 0);
        let set = Some((2, now + Duration::from_secs(5)));
        assert_eq!(logging_level(set, now), 2);
        assert_eq!(logging_level(set, now + Duration::from_secs(5)), 0);
    }
}
