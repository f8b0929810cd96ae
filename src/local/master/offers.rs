//! Offers and the allocator: each allocation cycle gives every agent's
//! unused, unfiltered resources, whole, to the eligible (framework, role)
//! with the lowest dominant share; refuse filters from DECLINE and from the
//! unused part of ACCEPTs; SUPPRESS and REVIVE per role.
//!
//! May import: `model`, and the cluster's leaf modules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::model::{Filter, Framework, Master, MasterOffer, event, framework_id_proto};
use crate::local::resources::Resources;
use crate::local::validation::{self, has_capability};
use crate::wire::pb;
use pb::framework_info::capability::Type as Capability;
use pb::scheduler::{Event, event as ev};

/// Longest `refuse_seconds` honoured (365 days).
const MAX_REFUSE: f64 = 31_536_000.0;

fn refuse_duration(filters: Option<&pb::Filters>) -> Duration {
    let secs = filters.map_or(5.0, |f| f.refuse_seconds());
    let secs = if secs.is_nan() || secs < 0.0 {
        5.0
    } else {
        secs.min(MAX_REFUSE)
    };
    Duration::from_secs_f64(secs)
}

impl Master {
    pub(super) fn new_offer_id(&mut self) -> String {
        let id = format!("{}-O{}", self.id, self.next_offer);
        self.next_offer += 1;
        id
    }

    /// Removes an offer; with `rescind`, tells the framework.
    pub(super) fn remove_offer(&mut self, offer_id: &str, rescind: bool) -> Option<MasterOffer> {
        let o = self.offers.remove(offer_id)?;
        if let Some(fw) = self.frameworks.get_mut(&o.framework_id) {
            fw.offers.remove(offer_id);
            if rescind {
                fw.send(&Event {
                    rescind: Some(ev::Rescind {
                        offer_id: pb::OfferId {
                            value: offer_id.into(),
                        },
                    }),
                    ..event(ev::Type::Rescind)
                });
            }
        }
        Some(o)
    }

    pub(super) fn discard_offers_of(&mut self, fw_id: &str) {
        let ids: Vec<String> = self
            .frameworks
            .get(fw_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_offer(&id, false);
        }
    }

    /// Puts declined resources back, with a refuse filter.
    pub(super) fn decline_resources(
        &mut self,
        fw_id: &str,
        role: &str,
        agent_id: &str,
        res: Resources,
        filters: Option<&pb::Filters>,
    ) {
        let d = refuse_duration(filters);
        if d.is_zero() || res.is_empty() {
            return;
        }
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            fw.filters.insert(
                (role.to_string(), agent_id.to_string()),
                Filter {
                    resources: res,
                    expires: Instant::now() + d,
                },
            );
        }
    }

    /// Resources on an agent neither used nor offered.
    pub(super) fn available(&self, agent_id: &str) -> Resources {
        let Some(a) = self.agents.get(agent_id) else {
            return Resources::new();
        };
        let mut avail = a.total.clone();
        for fw in self.frameworks.values() {
            avail.subtract(&fw.used(Some(agent_id)));
        }
        for o in self.offers.values().filter(|o| o.agent_id == agent_id) {
            avail.subtract(&o.resources);
        }
        avail
    }

    /// Dominant share of a framework (used + offered over the cluster total).
    pub(super) fn share(&self, fw: &Framework) -> f64 {
        let mut total = Resources::new();
        for a in self.agents.values() {
            total.add(&a.total);
        }
        let mut alloc = fw.used(None);
        for o in fw.offers.iter().filter_map(|id| self.offers.get(id)) {
            alloc.add(&o.resources);
        }
        ["cpus", "mem", "disk", "gpus"]
            .iter()
            .filter_map(|k| {
                let t = total.scalar(k)?;
                (t > 0.0).then(|| alloc.scalar(k).unwrap_or(0.0) / t)
            })
            .fold(0.0, f64::max)
    }

    /// One allocation cycle: each agent's unused, unfiltered resources go,
    /// whole, to the eligible (framework, role) with the lowest share.
    pub(super) fn allocate(&mut self, now: Instant) {
        for fw in self.frameworks.values_mut() {
            fw.filters.retain(|_, f| f.expires > now);
        }
        let mut new_offers: BTreeMap<String, Vec<pb::Offer>> = BTreeMap::new();
        let agent_ids: Vec<String> = self.agents.keys().cloned().collect();
        for agent_id in agent_ids {
            // A stopped or deactivated agent: nothing of it is offered.
            if !self.agent_active(&agent_id) {
                continue;
            }
            let avail = self.available(&agent_id);
            if !avail.allocatable() {
                continue;
            }
            let mut best: Option<(f64, String, String)> = None;
            for fw in self.frameworks.values() {
                if !fw.active || fw.conn.is_none() {
                    continue;
                }
                for role in &fw.roles {
                    if fw.suppressed.contains(role) {
                        continue;
                    }
                    let filtered = fw
                        .filters
                        .get(&(role.clone(), agent_id.clone()))
                        .is_some_and(|f| f.resources.contains(&avail));
                    if filtered {
                        continue;
                    }
                    let share = self.share(fw);
                    if best.as_ref().is_none_or(|(s, _, _)| share < *s) {
                        best = Some((share, fw.id.clone(), role.clone()));
                    }
                }
            }
            let Some((_, fw_id, role)) = best else {
                continue;
            };
            let offer_id = self.new_offer_id();
            let Some(agent) = self.agents.get(&agent_id) else {
                continue;
            };
            let Some(fw) = self.frameworks.get_mut(&fw_id) else {
                continue;
            };
            let multi_role = has_capability(&fw.info, Capability::MultiRole);
            let refinement = has_capability(&fw.info, Capability::ReservationRefinement);
            let executor_ids = fw
                .executors
                .keys()
                .filter(|(a, _)| *a == agent_id)
                .map(|(_, e)| pb::ExecutorId { value: e.clone() })
                .collect();
            let mut offer = pb::Offer {
                id: pb::OfferId {
                    value: offer_id.clone(),
                },
                framework_id: framework_id_proto(&fw_id),
                agent_id: pb::AgentId {
                    value: agent_id.clone(),
                },
                hostname: agent.info.hostname.clone(),
                url: Some(pb::Url {
                    scheme: "http".into(),
                    address: pb::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: self.addr.map(|a| a.ip().to_string()),
                        port: agent.info.port.unwrap_or(5051),
                    },
                    path: agent.pid.split('@').next().map(|p| format!("/{p}")),
                    ..Default::default()
                }),
                resources: avail.to_proto(false, Some(&role)),
                executor_ids,
                allocation_info: Some(pb::resource::AllocationInfo {
                    role: Some(role.clone()),
                }),
                ..Default::default()
            };
            // What the framework sees (MESOS-8237: no AllocationInfo for
            // pre-MULTI_ROLE schedulers; `role: "*"` without refinement).
            let mut sent = offer.clone();
            sent.resources = avail.to_proto(!refinement, multi_role.then_some(role.as_str()));
            if !multi_role {
                sent.allocation_info = None;
            }
            fw.offers.insert(offer_id.clone());
            new_offers.entry(fw_id.clone()).or_default().push(sent);
            offer.resources = avail.to_proto(false, Some(&role));
            self.offers.insert(
                offer_id,
                MasterOffer {
                    offer,
                    framework_id: fw_id,
                    agent_id,
                    role,
                    resources: avail,
                },
            );
        }
        for (fw_id, offers) in new_offers {
            if let Some(fw) = self.frameworks.get_mut(&fw_id) {
                fw.send(&Event {
                    offers: Some(ev::Offers { offers }),
                    ..event(ev::Type::Offers)
                });
            }
        }
    }

    pub fn decline(&mut self, fw_id: &str, d: pb::scheduler::call::Decline) {
        for oid in &d.offer_ids {
            let owned = self
                .offers
                .get(&oid.value)
                .is_some_and(|o| o.framework_id == fw_id);
            if !owned {
                continue;
            }
            if let Some(o) = self.remove_offer(&oid.value, false) {
                self.decline_resources(
                    fw_id,
                    &o.role,
                    &o.agent_id,
                    o.resources,
                    d.filters.as_ref(),
                );
            }
        }
    }

    fn roles_arg(fw: &Framework, roles: &[String]) -> Option<Vec<String>> {
        if roles.is_empty() {
            return Some(fw.roles.clone());
        }
        for r in roles {
            if validation::validate_role(r).is_err() || !fw.roles.contains(r) {
                return None; // the whole call is dropped
            }
        }
        Some(roles.to_vec())
    }

    pub fn revive(&mut self, fw_id: &str, roles: &[String]) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let Some(roles) = Self::roles_arg(fw, roles) else {
            return;
        };
        for r in &roles {
            fw.suppressed.remove(r);
        }
        fw.filters.retain(|(role, _), _| !roles.contains(role));
        self.allocate_soon();
    }

    pub fn suppress(&mut self, fw_id: &str, roles: &[String]) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let Some(roles) = Self::roles_arg(fw, roles) else {
            return;
        };
        fw.suppressed.extend(roles);
    }
}
