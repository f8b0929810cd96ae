//! The master's settings and figures as the operator API shows and changes
//! them: flags, the metrics (the same figures `/metrics/snapshot`
//! serves), the logging level (SET_LOGGING_LEVEL reverts after its
//! duration), role weights, quotas and the maintenance schedule; and the
//! master's own description (GET_MASTER).
//!
//! May import: `model`, `operator_state` (the settings), `quota`, `agent`
//! (its duration format), and the
//! cluster's leaf modules.

use std::collections::BTreeMap;

use super::model::Master;
use super::quota::{self, Quantities};
use crate::local::agent::stout;
use crate::local::protocol::{is_terminal, metrics_of, now_secs};
use crate::local::resources::Resources;
use crate::wire::pb;
use pb::TaskState;
use pb::master::response;

fn flag(name: &str, value: impl Into<String>) -> pb::Flag {
    pb::Flag {
        name: name.into(),
        value: Some(value.into()),
    }
}

impl Master {
    /// GET_FLAGS: the master flags this cluster has, by Mesos's names.
    pub fn flags(&self) -> Vec<pb::Flag> {
        let port = self.addr.map_or(5050, |a| a.port());
        let mut flags = vec![
            flag("allocation_interval", stout(self.cfg.allocation_interval)),
            flag("allocator", "hierarchical"),
            flag(
                "authenticate_http_frameworks",
                self.cfg.framework_credentials.is_some().to_string(),
            ),
            flag("hostname", self.cfg.hostname.clone()),
            flag("max_completed_frameworks", "50"),
            flag("max_completed_tasks_per_framework", "1000"),
            flag("max_operator_event_stream_subscribers", "1000"),
            flag("port", port.to_string()),
            flag("registry", "in_memory"),
            flag("work_dir", self.work_dir.display().to_string()),
            flag("zk_session_timeout", stout(self.cfg.zk_session_timeout)),
        ];
        if let Some(zk) = &self.cfg.zk {
            flags.push(flag("zk", zk.clone()));
        }
        flags.sort_by(|a, b| a.name.cmp(&b.name));
        flags
    }

    /// GET_MASTER.
    pub fn master_description(&self) -> response::GetMaster {
        response::GetMaster {
            master_info: Some(self.info.clone()),
            start_time: Some(self.start_time),
            elected_time: Some(self.start_time),
        }
    }

    /// The master's metrics (GET_METRICS, `/metrics/snapshot`).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut m: Vec<(String, f64)> = vec![];
        let mut put = |k: &str, v: f64| m.push((format!("master/{k}"), v));
        put("elected", if self.leading { 1.0 } else { 0.0 });
        put("uptime_secs", (now_secs() - self.start_time).max(0.0));
        let fws = self.frameworks.values();
        let connected = fws.clone().filter(|f| f.connected()).count() as f64;
        let active = fws.clone().filter(|f| f.active).count() as f64;
        let n = self.frameworks.len() as f64;
        put("frameworks_active", active);
        put("frameworks_inactive", n - active);
        put("frameworks_connected", connected);
        put("frameworks_disconnected", n - connected);
        let agents = self.agents.len() as f64;
        let connected = self.agents.values().filter(|a| a.registered).count() as f64;
        let active = self
            .agents
            .keys()
            .filter(|id| self.agent_active(id))
            .count() as f64;
        put("slaves_active", active);
        put("slaves_inactive", agents - active);
        put("slaves_connected", connected);
        put("slaves_disconnected", agents - connected);
        put("slaves_unreachable", 0.0);
        put(
            "slave_registrations",
            self.settings.agent_registrations as f64,
        );
        put("slave_removals", self.settings.agent_removals as f64);
        put("outstanding_offers", self.offers.len() as f64);
        put(
            "operator_event_stream_subscribers",
            self.op_streams.len() as f64,
        );
        let mut live: BTreeMap<&str, f64> = BTreeMap::new();
        for t in self.frameworks.values().flat_map(|f| f.tasks.values()) {
            if !is_terminal(t.task.state()) {
                *live.entry(t.task.state().as_str_name()).or_default() += 1.0;
            }
        }
        for s in [
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
        ] {
            let name = s.as_str_name();
            put(
                &name.to_ascii_lowercase().replace("task_", "tasks_"),
                live.get(name).copied().unwrap_or(0.0),
            );
        }
        for s in [
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
            TaskState::TaskLost,
            TaskState::TaskError,
            TaskState::TaskDropped,
            TaskState::TaskGone,
            TaskState::TaskGoneByOperator,
        ] {
            let name = s.as_str_name();
            let n = self.settings.terminal.get(name).copied().unwrap_or(0);
            put(
                &name.to_ascii_lowercase().replace("task_", "tasks_"),
                n as f64,
            );
        }
        let mut total = Resources::new();
        for (id, a) in &self.agents {
            if self.agent_active(id) {
                total.add(&a.total);
            }
        }
        let mut used = Resources::new();
        for fw in self.frameworks.values() {
            used.add(&fw.used(None));
        }
        for r in ["cpus", "gpus", "mem", "disk"] {
            let t = total.scalar(r).unwrap_or(0.0);
            let u = used.scalar(r).unwrap_or(0.0);
            put(&format!("{r}_total"), t);
            put(&format!("{r}_used"), u);
            put(&format!("{r}_percent"), if t > 0.0 { u / t } else { 0.0 });
        }
        metrics_of(m)
    }

    /// GET_QUOTA: every role's quota, in the newer and the older form.
    pub fn quota_status(&self) -> pb::quota::QuotaStatus {
        let infos = self
            .settings
            .quotas
            .values()
            .map(|c| pb::quota::QuotaInfo {
                role: Some(c.role.clone()),
                principal: None,
                guarantee: c
                    .guarantees
                    .iter()
                    .map(|(name, v)| pb::Resource {
                        name: name.clone(),
                        r#type: pb::value::Type::Scalar as i32,
                        scalar: Some(*v),
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect();
        #[allow(deprecated)]
        pb::quota::QuotaStatus {
            infos,
            configs: self.settings.quotas.values().cloned().collect(),
        }
    }

    /// Scalar quantities of a set of resources, by name.
    fn scalars(r: &Resources) -> Quantities {
        r.iter()
            .filter_map(|(k, q)| match q {
                crate::local::resources::Quantity::Scalar(v) => {
                    Some((k.to_string(), crate::local::resources::from_milli(*v)))
                }
                _ => None,
            })
            .collect()
    }

    /// UPDATE_QUOTA: each config replaces its role's quota (after Mesos's
    /// checks, [`quota::check_update`]).
    pub fn update_quota(
        &mut self,
        configs: Vec<pb::quota::QuotaConfig>,
        force: bool,
    ) -> Result<(), String> {
        let mut capacity = Resources::new();
        for a in self.agents.values() {
            capacity.add(&a.total);
        }
        let consumed = |role: &str| {
            let mut used = Resources::new();
            for fw in self.frameworks.values() {
                for t in fw.tasks.values().filter(|t| !t.released) {
                    let r = t
                        .task
                        .resources
                        .iter()
                        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
                    if r.as_deref() == Some(role) {
                        used.add(&t.resources);
                    }
                }
            }
            Self::scalars(&used)
        };
        quota::check_update(
            &self.settings.quotas,
            &configs,
            consumed,
            &Self::scalars(&capacity),
            force,
        )?;
        for c in configs {
            self.settings.quotas.insert(c.role.clone(), c);
        }
        Ok(())
    }

    /// SET_QUOTA (deprecated): a quota whose limits are its guarantees.
    pub fn set_quota(&mut self, req: &pb::quota::QuotaRequest) -> Result<(), String> {
        let c = quota::config_of_request(&self.settings.quotas, req)?;
        self.settings.quotas.insert(c.role.clone(), c);
        Ok(())
    }

    /// REMOVE_QUOTA (deprecated). For a role without quota a Mesos 1.11
    /// master aborts (it looks the role up unchecked); the answer here is
    /// the one its later check would give.
    pub fn remove_quota(&mut self, role: &str) -> Result<(), String> {
        match self.settings.quotas.remove(role) {
            Some(_) => Ok(()),
            None => Err(format!(
                "Failed to remove quota: Role '{role}' has no quota set"
            )),
        }
    }

    /// GET_WEIGHTS: `None` when no weight was set (the answer then has no
    /// `get_weights`, as Mesos's has none).
    pub fn weights(&self) -> Option<response::GetWeights> {
        (!self.settings.weights.is_empty()).then(|| response::GetWeights {
            weight_infos: self
                .settings
                .weights
                .iter()
                .map(|(role, w)| pb::WeightInfo {
                    weight: *w,
                    role: Some(role.clone()),
                })
                .collect(),
        })
    }

    /// UPDATE_WEIGHTS.
    pub fn update_weights(&mut self, infos: Vec<pb::WeightInfo>) -> Result<(), String> {
        for w in &infos {
            let role = w.role.clone().unwrap_or_default();
            crate::local::validation::validate_role(&role).map_err(|e| {
                format!(
                    "Failed to validate update weights request JSON: Invalid role '{role}': {e}"
                )
            })?;
            if w.weight <= 0.0 {
                return Err(format!(
                    "Failed to validate update weights request JSON for role '{role}': Invalid weight '{}': Weights must be positive",
                    w.weight
                ));
            }
        }
        for w in infos {
            self.settings
                .weights
                .insert(w.role.clone().unwrap_or_default(), w.weight);
        }
        Ok(())
    }

    /// GET_MAINTENANCE_STATUS: every scheduled machine is draining (no
    /// machine is ever taken down here, and no inverse offers are made).
    pub fn maintenance_status(&self) -> pb::maintenance::ClusterStatus {
        let mut draining: Vec<pb::MachineId> = vec![];
        for w in &self.settings.schedule.windows {
            for m in &w.machine_ids {
                if !draining.contains(m) {
                    draining.push(m.clone());
                }
            }
        }
        pb::maintenance::ClusterStatus {
            draining_machines: draining
                .into_iter()
                .map(|id| pb::maintenance::cluster_status::DrainingMachine {
                    id,
                    statuses: vec![],
                })
                .collect(),
            down_machines: vec![],
        }
    }

    /// START_MAINTENANCE and STOP_MAINTENANCE's checks: machines named, each
    /// in the schedule. (Taking machines down is not modelled.)
    pub fn check_machines(&self, machines: &[pb::MachineId]) -> Result<(), String> {
        if machines.is_empty() {
            return Err("List of machines is empty".into());
        }
        for m in machines {
            let scheduled = self
                .settings
                .schedule
                .windows
                .iter()
                .any(|w| w.machine_ids.contains(m));
            if !scheduled {
                return Err(format!(
                    "Machine '{}' is not part of a maintenance schedule",
                    String::from_utf8_lossy(&crate::wire::codec::encode(
                        m,
                        crate::wire::codec::Encoding::Json
                    ))
                ));
            }
        }
        Ok(())
    }

    /// UPDATE_MAINTENANCE_SCHEDULE (the checks of
    /// `maintenance::validation::schedule` that need no machine state).
    pub fn update_schedule(&mut self, schedule: pb::maintenance::Schedule) -> Result<(), String> {
        let mut seen: Vec<&pb::MachineId> = vec![];
        for w in &schedule.windows {
            if w.machine_ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            for m in &w.machine_ids {
                if m.hostname.is_none() && m.ip.is_none() {
                    return Err("Both 'hostname' and 'ip' for a machine are empty".into());
                }
                if seen.contains(&m) {
                    return Err(format!(
                        "Machine '{}' appears more than once in the schedule",
                        String::from_utf8_lossy(&crate::wire::codec::encode(
                            m,
                            crate::wire::codec::Encoding::Json
                        ))
                    ));
                }
                seen.push(m);
            }
        }
        self.settings.schedule = schedule;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::master::operator_state::OperatorSettings;

    #[test]
    fn terminal_states_are_counted_by_name() {
        let mut s = OperatorSettings::default();
        s.count_terminal(TaskState::TaskKilled);
        s.count_terminal(TaskState::TaskRunning);
        s.count_terminal(TaskState::TaskKilled);
        assert_eq!(s.terminal.get("TASK_KILLED"), Some(&2));
        assert_eq!(s.terminal.len(), 1);
    }
}
