//! The master's operator API calls (`Master::Http::api` after its HTTP
//! checks): each validated call is answered here, as a response message,
//! an empty 200, or the error Mesos 1.11 gives. SUBSCRIBE is left to the
//! HTTP layer (it opens a stream, see `operator_events`). Calls whose
//! effects the local master does not model (reservations, volumes,
//! START/STOP_MAINTENANCE) answer 501 after Mesos's first checks.
//!
//! May import: `model`, `agent_admin`, `operator_info`, `operator_views`,
//! `agent`, and the cluster's leaf modules.

use std::time::{Duration, Instant};

use super::model::Master;
use crate::local::files::{Attachments, FilesError};
use crate::local::protocol::version_info;
use crate::wire::codec::Encoding;
use crate::wire::pb;
use pb::master::call::Type as C;
use pb::master::response::{self, Type as R};

/// The repeated fields Mesos's master writes even when empty (its
/// operator API writes these lists itself).
pub(crate) const MASTER_JSON_KEEP: &[&str] = &[
    "mesos.v1.master.Response.GetAgents.agents",
    "mesos.v1.master.Response.GetAgents.recovered_agents",
    "mesos.v1.master.Response.GetFrameworks.frameworks",
    "mesos.v1.master.Response.GetFrameworks.completed_frameworks",
    "mesos.v1.master.Response.GetExecutors.executors",
    "mesos.v1.master.Response.GetTasks.tasks",
    "mesos.v1.master.Response.GetTasks.unreachable_tasks",
    "mesos.v1.master.Response.GetTasks.completed_tasks",
];

/// The answer to an operator call.
#[derive(Debug)]
pub(crate) enum OperatorReply {
    /// 200 with this message, in the encoding the client accepts.
    Response(Box<pb::master::Response>),
    /// 200 with no body.
    Ok,
    /// An error status with a plain-text body.
    Error(u16, String),
}

impl OperatorReply {
    fn error(status: u16, body: impl Into<String>) -> Self {
        OperatorReply::Error(status, body.into())
    }

    /// libprocess's 501, whose body is its status line.
    pub(crate) fn not_implemented() -> Self {
        Self::error(501, "501 Not Implemented.")
    }

    fn files(e: FilesError) -> Self {
        Self::error(e.status(), e.body())
    }
}

fn response(ty: R, fill: impl FnOnce(&mut pb::master::Response)) -> OperatorReply {
    let mut r = pb::master::Response {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    fill(&mut r);
    OperatorReply::Response(Box::new(r))
}

/// 200 with no body, or 400 with the reason.
fn bad_request(r: Result<(), String>) -> OperatorReply {
    match r {
        Ok(()) => OperatorReply::Ok,
        Err(e) => OperatorReply::error(400, e),
    }
}

fn duration_of(d: &pb::DurationInfo) -> Duration {
    Duration::from_nanos(d.nanoseconds.max(0) as u64)
}

/// `google.protobuf.Duration` as Mesos's `DurationInfo`.
fn duration_info(d: &pb::google::protobuf::Duration) -> pb::DurationInfo {
    pb::DurationInfo {
        nanoseconds: d.seconds.saturating_mul(1_000_000_000) + i64::from(d.nanos),
    }
}

impl Master {
    /// The files the master serves: its agents' sandboxes (in `mesos-local`
    /// the master and its agents share one files namespace).
    pub fn files(&self) -> Attachments {
        let mut a = Attachments::default();
        for agent in self.agents.values() {
            a.extend(agent.attachments());
        }
        a
    }

    /// Answers a validated call other than SUBSCRIBE, for a client that
    /// accepts `enc`.
    pub fn operator_call(&mut self, ty: C, call: pb::master::Call, enc: Encoding) -> OperatorReply {
        let now = Instant::now();
        let pb = enc == Encoding::Protobuf;
        #[allow(deprecated)]
        let reply = match ty {
            C::Unknown | C::Subscribe => OperatorReply::not_implemented(),
            C::GetHealth => response(R::GetHealth, |r| {
                r.get_health = Some(response::GetHealth { healthy: true })
            }),
            C::GetFlags => response(R::GetFlags, |r| {
                r.get_flags = Some(response::GetFlags {
                    flags: self.flags(),
                })
            }),
            C::GetVersion => response(R::GetVersion, |r| {
                r.get_version = Some(response::GetVersion {
                    version_info: version_info(),
                })
            }),
            C::GetMetrics => response(R::GetMetrics, |r| {
                r.get_metrics = Some(response::GetMetrics {
                    metrics: self
                        .metrics()
                        .into_iter()
                        .map(|(name, value)| pb::Metric {
                            name,
                            value: Some(value),
                        })
                        .collect(),
                })
            }),
            C::GetLoggingLevel => response(R::GetLoggingLevel, |r| {
                r.get_logging_level = Some(response::GetLoggingLevel {
                    level: self.settings.logging_level(now),
                })
            }),
            C::SetLoggingLevel => {
                if let Some(s) = call.set_logging_level {
                    self.settings
                        .set_logging_level(s.level, duration_of(&s.duration), now);
                }
                OperatorReply::Ok
            }
            C::ListFiles => {
                let path = call.list_files.map(|l| l.path).unwrap_or_default();
                match self.files().list(&path) {
                    Ok(file_infos) => response(R::ListFiles, |r| {
                        r.list_files = Some(response::ListFiles { file_infos })
                    }),
                    Err(e) => OperatorReply::files(e),
                }
            }
            C::ReadFile => {
                let Some(rf) = call.read_file else {
                    return OperatorReply::error(400, "Expecting 'read_file' to be present");
                };
                match self.files().read(&rf.path, rf.offset, rf.length) {
                    Ok((size, data)) => response(R::ReadFile, |r| {
                        r.read_file = Some(response::ReadFile { size, data })
                    }),
                    Err(e) => OperatorReply::files(e),
                }
            }
            C::GetState => response(R::GetState, |r| r.get_state = Some(self.state_view(pb))),
            C::GetAgents => response(R::GetAgents, |r| r.get_agents = Some(self.agents_view())),
            C::GetFrameworks => response(R::GetFrameworks, |r| {
                r.get_frameworks = Some(self.frameworks_view())
            }),
            C::GetExecutors => response(R::GetExecutors, |r| {
                r.get_executors = Some(self.executors_view())
            }),
            C::GetOperations => response(R::GetOperations, |r| {
                r.get_operations = Some(response::GetOperations { operations: vec![] })
            }),
            C::GetTasks => response(R::GetTasks, |r| r.get_tasks = Some(self.tasks_view(pb))),
            C::GetRoles => response(R::GetRoles, |r| r.get_roles = Some(self.roles_view())),
            C::GetWeights => response(R::GetWeights, |r| r.get_weights = self.weights()),
            C::UpdateWeights => {
                let infos = call
                    .update_weights
                    .map(|u| u.weight_infos)
                    .unwrap_or_default();
                bad_request(self.update_weights(infos))
            }
            C::GetMaster => response(R::GetMaster, |r| {
                r.get_master = Some(self.master_description())
            }),
            C::GetMaintenanceStatus => response(R::GetMaintenanceStatus, |r| {
                r.get_maintenance_status = Some(response::GetMaintenanceStatus {
                    status: self.maintenance_status(),
                })
            }),
            C::GetMaintenanceSchedule => response(R::GetMaintenanceSchedule, |r| {
                r.get_maintenance_schedule = Some(response::GetMaintenanceSchedule {
                    schedule: self.settings.schedule.clone(),
                })
            }),
            C::UpdateMaintenanceSchedule => {
                let schedule = call
                    .update_maintenance_schedule
                    .map(|u| u.schedule)
                    .unwrap_or_default();
                match self.update_schedule(schedule) {
                    Ok(()) => OperatorReply::Ok,
                    Err(e) => OperatorReply::error(400, e),
                }
            }
            C::GetQuota => response(R::GetQuota, |r| {
                r.get_quota = Some(response::GetQuota {
                    status: self.quota_status(),
                })
            }),
            C::UpdateQuota => {
                let u = call.update_quota.unwrap_or_default();
                let force = u.force();
                bad_request(self.update_quota(u.quota_configs, force))
            }
            C::SetQuota => match call.set_quota {
                Some(s) => bad_request(self.set_quota(&s.quota_request)),
                None => OperatorReply::error(400, "Expecting 'set_quota' to be present"),
            },
            C::RemoveQuota => {
                let role = call.remove_quota.map(|r| r.role).unwrap_or_default();
                bad_request(self.remove_quota(&role))
            }
            C::StartMaintenance | C::StopMaintenance => {
                let machines = call
                    .start_maintenance
                    .map(|s| s.machines)
                    .or(call.stop_maintenance.map(|s| s.machines))
                    .unwrap_or_default();
                match self.check_machines(&machines) {
                    // Machines never go down here.
                    Ok(()) => OperatorReply::not_implemented(),
                    Err(e) => OperatorReply::error(400, e),
                }
            }
            C::DeactivateAgent => {
                let id = call.deactivate_agent.map(|d| d.agent_id.value);
                self.admin_reply(|m| m.deactivate_agent(&id.unwrap_or_default()))
            }
            C::ReactivateAgent => {
                let id = call.reactivate_agent.map(|d| d.agent_id.value);
                self.admin_reply(|m| m.reactivate_agent(&id.unwrap_or_default()))
            }
            C::DrainAgent => {
                let Some(d) = call.drain_agent else {
                    return OperatorReply::error(400, "Expecting 'drain_agent' to be present");
                };
                let grace = d.max_grace_period.as_ref().map(duration_info);
                let mark_gone = d.mark_gone();
                self.admin_reply(|m| m.drain_agent(&d.agent_id.value, grace, mark_gone))
            }
            C::MarkAgentGone => {
                let id = call.mark_agent_gone.map(|d| d.agent_id.value);
                self.admin_reply(|m| m.mark_agent_gone(&id.unwrap_or_default()))
            }
            C::Teardown => {
                let id = call
                    .teardown
                    .map(|t| t.framework_id.value)
                    .unwrap_or_default();
                if self.frameworks.contains_key(&id) {
                    self.teardown(&id);
                    OperatorReply::Ok
                } else {
                    OperatorReply::error(400, "No framework found with specified ID")
                }
            }
            // The local agents have unreserved resources and no volumes:
            // Mesos's first check (the agent) is made, then 501.
            C::ReserveResources
            | C::UnreserveResources
            | C::CreateVolumes
            | C::DestroyVolumes
            | C::GrowVolume
            | C::ShrinkVolume => {
                let agent = call
                    .reserve_resources
                    .map(|c| c.agent_id)
                    .or(call.unreserve_resources.map(|c| c.agent_id))
                    .or(call.create_volumes.map(|c| c.agent_id))
                    .or(call.destroy_volumes.map(|c| c.agent_id))
                    .or(call.grow_volume.and_then(|c| c.agent_id))
                    .or(call.shrink_volume.and_then(|c| c.agent_id));
                match agent {
                    Some(a) if self.agents.contains_key(&a.value) => {
                        OperatorReply::not_implemented()
                    }
                    _ => OperatorReply::error(400, "No agent found with specified ID"),
                }
            }
        };
        self.pump();
        reply
    }

    fn admin_reply(
        &mut self,
        f: impl FnOnce(&mut Master) -> Result<(), super::AdminError>,
    ) -> OperatorReply {
        match f(self) {
            Ok(()) => OperatorReply::Ok,
            Err(e) => OperatorReply::error(e.status(), e.to_string()),
        }
    }
}
