//! The agent's state as its operator API shows it: frameworks, executors,
//! tasks by stage, containers with what can be measured of their
//! processes, the agent itself, its flags and metrics, and the sandboxes
//! its files API serves.
//!
//! May import: `model`, `env`, and the cluster's leaf modules.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::env;
use super::model::{Agent, ExecutorKind, task_record};
use crate::local::files::{Attachments, sandbox_attachments};
use crate::local::protocol::{logging_level, metrics_of, now_secs, version_info};
use crate::local::resources::Resources;
use crate::wire::pb;
use pb::agent::call::Type as A;
use pb::agent::response::{self, Type as R, get_containers, get_executors, get_frameworks};

/// The repeated fields a Mesos agent writes even when empty.
pub(crate) const AGENT_JSON_KEEP: &[&str] = &[
    "mesos.v1.agent.Response.GetFrameworks.frameworks",
    "mesos.v1.agent.Response.GetFrameworks.completed_frameworks",
    "mesos.v1.agent.Response.GetExecutors.executors",
    "mesos.v1.agent.Response.GetExecutors.completed_executors",
    "mesos.v1.agent.Response.GetTasks.pending_tasks",
    "mesos.v1.agent.Response.GetTasks.queued_tasks",
    "mesos.v1.agent.Response.GetTasks.launched_tasks",
    "mesos.v1.agent.Response.GetTasks.terminated_tasks",
    "mesos.v1.agent.Response.GetTasks.completed_tasks",
];

/// CPU time and resident memory of a process, from `/proc` (Linux).
fn process_usage(pid: i32) -> Option<(f64, f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let utime = f.get(11)?.parse::<f64>().ok()? / ticks;
    let stime = f.get(12)?.parse::<f64>().ok()? / ticks;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let rss = f.get(21)?.parse::<u64>().ok()? * page;
    Some((utime, stime, rss))
}

impl Agent {
    /// The sandboxes this agent's files API serves.
    pub fn attachments(&self) -> Attachments {
        let mut live: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
        for (fw_id, fw) in &self.frameworks {
            for (exec_id, e) in &fw.executors {
                live.insert((fw_id.clone(), exec_id.clone()), e.directory.clone());
            }
        }
        sandbox_attachments(&self.dir, &live)
    }

    /// An executor's description as the agent reports it: the command
    /// executor's is made up from its task, as Mesos's agent makes it.
    #[allow(deprecated)]
    fn executor_info(&self, e: &super::model::Executor) -> pb::ExecutorInfo {
        let mut info = e.info.clone();
        if e.kind == ExecutorKind::Command
            && let Some(t) = e.tasks.values().next()
        {
            info.source = Some(info.executor_id.value.clone());
            if info.resources.is_empty() {
                info.resources = t.info.resources.clone();
            }
        }
        info
    }

    /// GET_FRAMEWORKS.
    pub fn frameworks_response(&self) -> response::GetFrameworks {
        let wrap = |info: &pb::FrameworkInfo| get_frameworks::Framework {
            framework_info: info.clone(),
        };
        response::GetFrameworks {
            frameworks: self.frameworks.values().map(|f| wrap(&f.info)).collect(),
            completed_frameworks: self.history.frameworks.iter().map(wrap).collect(),
        }
    }

    /// GET_EXECUTORS.
    pub fn executors_response(&self) -> response::GetExecutors {
        let wrap = |info: pb::ExecutorInfo| get_executors::Executor {
            executor_info: info,
        };
        let mut live = vec![];
        let mut ended = vec![];
        for fw in self.frameworks.values() {
            for e in fw.executors.values() {
                let info = wrap(self.executor_info(e));
                if e.terminated {
                    ended.push(info);
                } else {
                    live.push(info);
                }
            }
        }
        ended.extend(self.history.executors.iter().cloned().map(wrap));
        response::GetExecutors {
            executors: live,
            completed_executors: ended,
        }
    }

    /// GET_TASKS: queued (not yet handed to their executor), launched,
    /// terminated (ended, their executor still there) and completed.
    pub fn tasks_response(&self) -> response::GetTasks {
        let mut out = response::GetTasks::default();
        for (fw_id, fw) in &self.frameworks {
            for (exec_id, e) in &fw.executors {
                for t in e.tasks.values() {
                    let record = task_record(&self.id, fw_id, exec_id, e.kind, t);
                    if t.exited {
                        out.terminated_tasks.push(record);
                    } else if e.kind == ExecutorKind::Custom && !t.delivered {
                        out.queued_tasks.push(record);
                    } else {
                        out.launched_tasks.push(record);
                    }
                }
            }
        }
        out.completed_tasks = self.history.tasks.iter().cloned().collect();
        out
    }

    /// GET_STATE.
    pub fn state_response(&self) -> response::GetState {
        response::GetState {
            get_tasks: Some(self.tasks_response()),
            get_executors: Some(self.executors_response()),
            get_frameworks: Some(self.frameworks_response()),
        }
    }

    /// GET_CONTAINERS: one container per live executor whose process runs.
    pub fn containers_response(&self) -> Option<response::GetContainers> {
        let mut containers = vec![];
        for (fw_id, fw) in &self.frameworks {
            for (exec_id, e) in &fw.executors {
                if e.terminated {
                    continue;
                }
                let pid = match &e.custom {
                    Some(x) => x.pid,
                    None => e.tasks.values().find(|t| !t.exited).and_then(|t| t.pid),
                };
                let Some(pid) = pid else {
                    continue;
                };
                // The container holds the executor's resources and its
                // tasks' (the command executor's are its task's again, as
                // a Mesos agent gives it).
                let mut res =
                    Resources::from_proto(&self.executor_info(e).resources).unwrap_or_default();
                for t in e.tasks.values().filter(|t| !t.exited) {
                    res.add(&Resources::from_proto(&t.info.resources).unwrap_or_default());
                }
                let mem = res.scalar("mem").map(|m| (m * 1024.0 * 1024.0) as u64);
                let usage = process_usage(pid);
                let container_id = pb::ContainerId {
                    value: e.container_id.clone(),
                    parent: None,
                };
                containers.push(get_containers::Container {
                    framework_id: Some(pb::FrameworkId {
                        value: fw_id.clone(),
                    }),
                    executor_id: Some(pb::ExecutorId {
                        value: exec_id.clone(),
                    }),
                    executor_name: e.info.name.clone(),
                    container_id: container_id.clone(),
                    container_status: Some(pb::ContainerStatus {
                        container_id: Some(container_id),
                        executor_pid: u32::try_from(pid).ok(),
                        ..Default::default()
                    }),
                    resource_statistics: Some(pb::ResourceStatistics {
                        timestamp: now_secs(),
                        cpus_user_time_secs: usage.map(|u| u.0),
                        cpus_system_time_secs: usage.map(|u| u.1),
                        cpus_soft_limit: res.scalar("cpus"),
                        mem_limit_bytes: mem,
                        mem_soft_limit_bytes: mem,
                        mem_rss_bytes: usage.map(|u| u.2),
                        ..Default::default()
                    }),
                });
            }
        }
        // With no container, Mesos's answer has no `get_containers` at all.
        (!containers.is_empty()).then_some(response::GetContainers { containers })
    }

    /// GET_AGENT.
    pub fn agent_response(&self) -> response::GetAgent {
        let drain = self.drain_config();
        response::GetAgent {
            agent_info: Some(self.info.clone()),
            drain_config: drain.map(|(c, _)| *c),
            estimated_drain_start_time: drain.map(|(_, t)| pb::TimeInfo {
                nanoseconds: (t * 1e9) as i64,
            }),
        }
    }

    /// GET_FLAGS: the agent flags this cluster has, by Mesos's names.
    pub fn flags(&self) -> Vec<pb::Flag> {
        let port = self
            .endpoint
            .rsplit_once(':')
            .map_or("5051", |(_, p)| p)
            .to_string();
        let flags = [
            (
                "authenticate_http_executors",
                self.flags.executor_auth.to_string(),
            ),
            (
                "executor_registration_timeout",
                env::stout(self.flags.registration_timeout),
            ),
            (
                "executor_reregistration_timeout",
                env::stout(self.flags.reregistration_timeout),
            ),
            (
                "executor_shutdown_grace_period",
                env::stout(self.flags.shutdown_grace),
            ),
            ("hostname", self.info.hostname.clone()),
            ("port", port),
            ("recover", "reconnect".into()),
            ("resources", self.flags.resources.clone()),
            ("work_dir", self.dir.display().to_string()),
        ];
        flags
            .into_iter()
            .map(|(name, value)| pb::Flag {
                name: name.into(),
                value: Some(value),
            })
            .collect()
    }

    /// The agent's metrics (`slave/*` and `system/*`).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut m = vec![(
            "slave/valid_status_updates".to_string(),
            self.history.valid_status_updates as f64,
        )];
        for (name, state) in [
            ("slave/tasks_failed", "TASK_FAILED"),
            ("slave/tasks_finished", "TASK_FINISHED"),
            ("slave/tasks_gone", "TASK_GONE"),
            ("slave/tasks_killed", "TASK_KILLED"),
            ("slave/tasks_lost", "TASK_LOST"),
        ] {
            let n = self.history.terminal.get(state).copied().unwrap_or(0);
            m.push((name.to_string(), n as f64));
        }
        metrics_of(m)
    }
}

/// The answer to an agent operator call.
#[derive(Debug)]
pub(crate) enum AgentReply {
    /// 200 with this message.
    Response(Box<pb::agent::Response>),
    /// 200 with no body.
    Ok,
    /// An error status with a plain-text body.
    Error(u16, String),
}

fn respond(ty: R, fill: impl FnOnce(&mut pb::agent::Response)) -> AgentReply {
    let mut r = pb::agent::Response {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    fill(&mut r);
    AgentReply::Response(Box::new(r))
}

fn files_error(e: crate::local::files::FilesError) -> AgentReply {
    AgentReply::Error(e.status(), e.body())
}

/// `Container '<parent>.<child>' cannot be found (or is already killed)`.
fn container_name(id: &pb::ContainerId) -> String {
    match &id.parent {
        Some(p) => format!("{}.{}", container_name(p), id.value),
        None => id.value.clone(),
    }
}

impl Agent {
    /// Answers a validated agent operator call (`Slave::Http::api`). Calls
    /// about containers and resource providers the local agent does not
    /// have answer as a Mesos agent answers for an unknown container (404)
    /// or, where that is not the question, 501.
    pub fn operator_call(&mut self, ty: A, call: pb::agent::Call, now: Instant) -> AgentReply {
        #[allow(deprecated)]
        match ty {
            A::Unknown => AgentReply::Error(501, "501 Not Implemented.".into()),
            A::GetHealth => respond(R::GetHealth, |r| {
                r.get_health = Some(response::GetHealth { healthy: true })
            }),
            A::GetFlags => respond(R::GetFlags, |r| {
                r.get_flags = Some(response::GetFlags {
                    flags: self.flags(),
                })
            }),
            A::GetVersion => respond(R::GetVersion, |r| {
                r.get_version = Some(response::GetVersion {
                    version_info: version_info(),
                })
            }),
            A::GetMetrics => respond(R::GetMetrics, |r| {
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
            A::GetLoggingLevel => respond(R::GetLoggingLevel, |r| {
                r.get_logging_level = Some(response::GetLoggingLevel {
                    level: logging_level(self.logging, now),
                })
            }),
            A::SetLoggingLevel => {
                if let Some(s) = call.set_logging_level {
                    let d = Duration::from_nanos(s.duration.nanoseconds.max(0) as u64);
                    self.logging = Some((s.level, now + d));
                }
                AgentReply::Ok
            }
            A::ListFiles => {
                let path = call.list_files.map(|l| l.path).unwrap_or_default();
                match self.attachments().list(&path) {
                    Ok(file_infos) => respond(R::ListFiles, |r| {
                        r.list_files = Some(response::ListFiles { file_infos })
                    }),
                    Err(e) => files_error(e),
                }
            }
            A::ReadFile => {
                let Some(rf) = call.read_file else {
                    return AgentReply::Error(400, "Expecting 'read_file' to be present".into());
                };
                match self.attachments().read(&rf.path, rf.offset, rf.length) {
                    Ok((size, data)) => respond(R::ReadFile, |r| {
                        r.read_file = Some(response::ReadFile { size, data })
                    }),
                    Err(e) => files_error(e),
                }
            }
            A::GetState => respond(R::GetState, |r| r.get_state = Some(self.state_response())),
            A::GetContainers => respond(R::GetContainers, |r| {
                r.get_containers = self.containers_response()
            }),
            A::GetFrameworks => respond(R::GetFrameworks, |r| {
                r.get_frameworks = Some(self.frameworks_response())
            }),
            A::GetExecutors => respond(R::GetExecutors, |r| {
                r.get_executors = Some(self.executors_response())
            }),
            A::GetOperations => respond(R::GetOperations, |r| {
                r.get_operations = Some(response::GetOperations { operations: vec![] })
            }),
            A::GetTasks => respond(R::GetTasks, |r| r.get_tasks = Some(self.tasks_response())),
            A::GetAgent => respond(R::GetAgent, |r| r.get_agent = Some(self.agent_response())),
            A::GetResourceProviders => respond(R::GetResourceProviders, |r| {
                r.get_resource_providers = Some(response::GetResourceProviders::default())
            }),
            // No nested or standalone containers run here: every one named
            // is unknown.
            A::KillNestedContainer | A::KillContainer => {
                let id = call
                    .kill_nested_container
                    .map(|k| k.container_id)
                    .or(call.kill_container.map(|k| k.container_id))
                    .unwrap_or_default();
                AgentReply::Error(
                    404,
                    format!(
                        "Container '{}' cannot be found (or is already killed)",
                        container_name(&id)
                    ),
                )
            }
            A::WaitNestedContainer | A::WaitContainer => {
                let id = call
                    .wait_nested_container
                    .map(|k| k.container_id)
                    .or(call.wait_container.map(|k| k.container_id))
                    .unwrap_or_default();
                AgentReply::Error(
                    404,
                    format!("Container {} cannot be found", container_name(&id)),
                )
            }
            _ => AgentReply::Error(501, "501 Not Implemented.".into()),
        }
    }
}
