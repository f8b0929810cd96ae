//! The agent's `/state` JSON (`/slave(N)/state`).
//!
//! May import: `model`, `env`, and the cluster's leaf modules.

use serde_json::{Value as Json, json};

use super::env;
use super::model::{Agent, AgentTask, ExecutorKind};
use crate::local::protocol::{self};
use crate::local::resources::Resources;

impl Agent {
    /// The agent's `/state` (`/slave(N)/state`).
    pub fn state_json(&self) -> Json {
        let frameworks: Vec<Json> = self
            .frameworks
            .iter()
            .map(|(id, f)| {
                let executors: Vec<Json> = f
                    .executors
                    .iter()
                    .map(|(eid, e)| {
                        let task = |t: &AgentTask| {
                            json!({
                                "id": t.info.task_id.value,
                                "name": t.info.name,
                                "framework_id": id,
                                "executor_id": eid,
                                "slave_id": self.id,
                                "state": t.state.as_str_name(),
                                "resources": Resources::from_proto(&t.info.resources)
                                    .unwrap_or_default()
                                    .to_state_json(),
                            })
                        };
                        let queued: Vec<Json> = e.tasks.values().filter(|t| e.kind == ExecutorKind::Custom && !t.delivered && !t.exited).map(task).collect();
                        let live: Vec<Json> = e.tasks.values().filter(|t| !t.exited && (e.kind != ExecutorKind::Custom || t.delivered)).map(task).collect();
                        let done: Vec<Json> = e.tasks.values().filter(|t| t.exited).map(task).collect();
                        json!({
                            "id": eid,
                            "name": e.info.name.clone().unwrap_or_default(),
                            "source": eid,
                            "container": e.container_id,
                            "directory": e.directory.display().to_string(),
                            "resources": Resources::from_proto(&e.info.resources).unwrap_or_default().to_state_json(),
                            "type": match e.kind { ExecutorKind::Custom => "CUSTOM", _ => "DEFAULT" },
                            "tasks": live,
                            "queued_tasks": queued,
                            "completed_tasks": done,
                        })
                    })
                    .collect();
                json!({
                    "id": id,
                    "name": f.info.name,
                    "user": f.info.user,
                    "failover_timeout": f.info.failover_timeout(),
                    "checkpoint": f.info.checkpoint(),
                    "hostname": f.info.hostname.clone().unwrap_or_default(),
                    "executors": executors,
                    "completed_executors": [],
                })
            })
            .collect();
        json!({
            "version": protocol::VERSION,
            "id": self.id,
            "pid": self.pid,
            "hostname": self.info.hostname,
            "resources": self.total.to_state_json(),
            "attributes": {},
            "master_hostname": self.info.hostname,
            // The agent flags this cluster has, as Mesos prints them.
            "flags": {
                "hostname": self.info.hostname,
                "executor_registration_timeout": env::stout(self.flags.registration_timeout),
                "executor_reregistration_timeout": env::stout(self.flags.reregistration_timeout),
                "executor_shutdown_grace_period": env::stout(self.flags.shutdown_grace),
                "authenticate_http_executors": self.flags.executor_auth.to_string(),
            },
            "frameworks": frameworks,
            "completed_frameworks": [],
        })
    }
}
