//! The master's state as the operator API shows it: agents, frameworks,
//! executors, tasks (GET_AGENTS ... GET_STATE, and SUBSCRIBED), roles, and
//! the framework and agent records of the operator events. Resources are
//! written the way Mesos's endpoints write them: agents' and frameworks'
//! totals with `role: "*"` and their allocation role, offers and tasks as
//! they were made.
//!
//! May import: `model`, `agent_admin`, and the cluster's leaf modules.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Framework, Master};
use crate::local::protocol::{AGENT_CAPABILITIES, VERSION};
use crate::local::resources::Resources;
use crate::wire::pb;
use pb::master::response::{self, get_agents, get_executors, get_frameworks};

/// Seconds since the epoch as a `TimeInfo`.
pub(crate) fn time_info(secs: f64) -> pb::TimeInfo {
    pb::TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    }
}

/// The allocation role of a resource list (its first allocated resource).
fn allocation_role(list: &[pb::Resource]) -> Option<String> {
    list.iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
}

/// A framework's live tasks and executors, by allocation role (optionally
/// on one agent only).
fn used_by_role(fw: &Framework, agent: Option<&str>) -> BTreeMap<String, Resources> {
    let default_role = fw.roles.first().cloned().unwrap_or_else(|| "*".into());
    let mut out: BTreeMap<String, Resources> = BTreeMap::new();
    for t in fw.tasks.values() {
        if t.released || agent.is_some_and(|a| t.task.agent_id.value != a) {
            continue;
        }
        let role = allocation_role(&t.task.resources).unwrap_or_else(|| default_role.clone());
        out.entry(role).or_default().add(&t.resources);
    }
    for ((a, _), e) in &fw.executors {
        if agent.is_some_and(|x| x != a) {
            continue;
        }
        let role = allocation_role(&e.info.resources).unwrap_or_else(|| default_role.clone());
        out.entry(role).or_default().add(&e.resources);
    }
    out
}

/// Resources by role in the endpoints' format.
fn by_role(map: &BTreeMap<String, Resources>) -> Vec<pb::Resource> {
    map.iter()
        .flat_map(|(role, r)| r.to_proto(true, Some(role)))
        .collect()
}

impl Master {
    /// Offered resources by role (of one agent, or of one framework).
    fn offered_by_role(
        &self,
        agent: Option<&str>,
        fw: Option<&str>,
    ) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for o in self.offers.values() {
            if agent.is_some_and(|a| a != o.agent_id) || fw.is_some_and(|f| f != o.framework_id) {
                continue;
            }
            out.entry(o.role.clone()).or_default().add(&o.resources);
        }
        out
    }

    /// One registered agent (`createAgentResponse`).
    pub fn agent_view(&self, agent_id: &str) -> Option<get_agents::Agent> {
        let a = self.agents.get(agent_id)?;
        let admin = self.admin.get(agent_id);
        let mut info = a.info.clone();
        #[allow(deprecated)]
        {
            info.checkpoint = Some(true);
        }
        let mut allocated: BTreeMap<String, Resources> = BTreeMap::new();
        for fw in self.frameworks.values() {
            for (role, r) in used_by_role(fw, Some(agent_id)) {
                allocated.entry(role).or_default().add(&r);
            }
        }
        let drain = admin.and_then(|x| x.drain.as_ref());
        Some(get_agents::Agent {
            agent_info: info,
            active: self.agent_active(agent_id),
            deactivated: Some(admin.is_some_and(|x| x.deactivated)),
            version: VERSION.into(),
            pid: Some(a.pid.clone()),
            registered_time: self.agent_registered.get(agent_id).map(|t| time_info(*t)),
            reregistered_time: self.agent_reregistered.get(agent_id).map(|t| time_info(*t)),
            total_resources: a.total.to_proto(true, None),
            allocated_resources: by_role(&allocated),
            offered_resources: by_role(&self.offered_by_role(Some(agent_id), None)),
            capabilities: AGENT_CAPABILITIES
                .iter()
                .map(|t| pb::agent_info::Capability {
                    r#type: Some(*t as i32),
                })
                .collect(),
            resource_providers: vec![],
            drain_info: admin.and_then(|x| x.drain_info()),
            estimated_drain_start_time: drain.map(|d| time_info(d.started)),
        })
    }

    /// GET_AGENTS.
    pub fn agents_view(&self) -> response::GetAgents {
        response::GetAgents {
            agents: self
                .agents
                .keys()
                .filter_map(|id| self.agent_view(id))
                .collect(),
            recovered_agents: vec![],
        }
    }

    /// A framework as GET_FRAMEWORKS shows it (`model(Framework)`).
    fn framework_view(&self, fw: &Framework) -> get_frameworks::Framework {
        let nonzero = |t: f64| (t != 0.0).then(|| time_info(t));
        get_frameworks::Framework {
            framework_info: fw.info.clone(),
            active: fw.active,
            connected: fw.connected(),
            recovered: false,
            registered_time: nonzero(fw.registered_time),
            reregistered_time: nonzero(fw.reregistered_time.unwrap_or(fw.registered_time)),
            unregistered_time: nonzero(fw.unregistered_time),
            offers: fw
                .offers
                .iter()
                .filter_map(|id| self.offers.get(id))
                .map(|o| o.offer.clone())
                .collect(),
            inverse_offers: vec![],
            allocated_resources: by_role(&used_by_role(fw, None)),
            offered_resources: by_role(&self.offered_by_role(None, Some(&fw.id))),
            offer_constraints: Some(fw.offer_constraints.clone().unwrap_or_default()),
        }
    }

    /// A framework as the FRAMEWORK_ADDED and FRAMEWORK_UPDATED events
    /// carry it: its description, flags and times only.
    pub(super) fn framework_event_view(fw: &Framework) -> get_frameworks::Framework {
        get_frameworks::Framework {
            framework_info: fw.info.clone(),
            active: fw.active,
            connected: fw.connected(),
            recovered: false,
            registered_time: Some(time_info(fw.registered_time)),
            reregistered_time: Some(time_info(
                fw.reregistered_time.unwrap_or(fw.registered_time),
            )),
            unregistered_time: Some(time_info(fw.unregistered_time)),
            ..Default::default()
        }
    }

    /// GET_FRAMEWORKS.
    pub fn frameworks_view(&self) -> response::GetFrameworks {
        #[allow(deprecated)]
        response::GetFrameworks {
            frameworks: self
                .frameworks
                .values()
                .map(|f| self.framework_view(f))
                .collect(),
            completed_frameworks: self
                .completed_frameworks
                .iter()
                .map(|f| self.framework_view(f))
                .collect(),
            recovered_frameworks: vec![],
        }
    }

    /// GET_EXECUTORS: the executors the master knows (command executors
    /// are the agents' business).
    pub fn executors_view(&self) -> response::GetExecutors {
        #[allow(deprecated)]
        response::GetExecutors {
            executors: self
                .frameworks
                .values()
                .flat_map(|f| f.executors.iter())
                .map(|((agent, _), e)| get_executors::Executor {
                    executor_info: e.info.clone(),
                    agent_id: pb::AgentId {
                        value: agent.clone(),
                    },
                })
                .collect(),
            orphan_executors: vec![],
        }
    }

    /// GET_TASKS: live tasks (terminal ones until acknowledged) and the
    /// completed ones, of removed frameworks too. Mesos 1.11 leaves removed
    /// frameworks' tasks out of its protobuf answers (its serializer skips
    /// the completed frameworks it is allowed to show): `in_protobuf` does
    /// the same.
    pub fn tasks_view(&self, in_protobuf: bool) -> response::GetTasks {
        let removed = self.completed_frameworks.iter().filter(|_| !in_protobuf);
        let completed = self
            .frameworks
            .values()
            .chain(removed)
            .flat_map(|f| f.completed_tasks.iter().cloned());
        #[allow(deprecated)]
        response::GetTasks {
            pending_tasks: vec![],
            tasks: self
                .frameworks
                .values()
                .flat_map(|f| f.tasks.values().map(|t| t.task.clone()))
                .collect(),
            unreachable_tasks: vec![],
            completed_tasks: completed.collect(),
            orphan_tasks: vec![],
        }
    }

    /// GET_STATE (and the SUBSCRIBED event); see [`Self::tasks_view`].
    pub fn state_view(&self, in_protobuf: bool) -> response::GetState {
        response::GetState {
            get_tasks: Some(self.tasks_view(in_protobuf)),
            get_executors: Some(self.executors_view()),
            get_frameworks: Some(self.frameworks_view()),
            get_agents: Some(self.agents_view()),
        }
    }

    /// GET_ROLES: the roles frameworks use or operators configured, with
    /// their weight, frameworks, and allocated plus offered scalars.
    pub fn roles_view(&self) -> response::GetRoles {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for fw in self.frameworks.values() {
            names.extend(fw.roles.iter().cloned());
        }
        names.extend(self.settings.weights.keys().cloned());
        names.extend(self.settings.quotas.keys().cloned());
        let roles = names
            .into_iter()
            .map(|name| {
                let mut total = self
                    .offered_by_role(None, None)
                    .remove(&name)
                    .unwrap_or_default();
                for fw in self.frameworks.values() {
                    if let Some(r) = used_by_role(fw, None).get(&name) {
                        total.add(r);
                    }
                }
                let resources = ["cpus", "disk", "gpus", "mem"]
                    .iter()
                    .filter_map(|k| {
                        total.scalar(k).map(|v| pb::Resource {
                            name: (*k).into(),
                            r#type: pb::value::Type::Scalar as i32,
                            scalar: Some(pb::value::Scalar { value: v }),
                            ..Default::default()
                        })
                    })
                    .collect();
                pb::Role {
                    weight: self.settings.weights.get(&name).copied().unwrap_or(1.0),
                    frameworks: self
                        .frameworks
                        .values()
                        .filter(|f| f.roles.contains(&name))
                        .map(|f| pb::FrameworkId {
                            value: f.id.clone(),
                        })
                        .collect(),
                    resources,
                    name,
                }
            })
            .collect();
        response::GetRoles { roles }
    }
}
