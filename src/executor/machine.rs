//! The executor's protocol rules, free of sockets, threads, clocks and
//! randomness: the driver feeds the machine what happened (with the current
//! time, a uniform draw, a fresh uuid) and executes the actions it answers.
//!
//! What lives here: the unacknowledged book (updates kept until the agent
//! ACKNOWLEDGEs them, launched tasks until one of their updates is
//! acknowledged, both resent in every re-SUBSCRIBE), the phase, the recovery
//! deadline (`MESOS_RECOVERY_TIMEOUT` when checkpointing; without
//! checkpointing a lost agent means SHUTDOWN at once), the resubscription
//! backoff (uniform up to `MESOS_SUBSCRIPTION_BACKOFF_MAX`), the synthetic
//! SHUTDOWN of an agent gone for good, the shutdown watchdog's arming, the
//! stamping and limits of updates and messages, and which calls may be sent.
//!
//! May import: std, the wire (`wire::pb` types, `wire::codec` for the
//! synthetic SHUTDOWN, `wire::limits`), `crate::uuid`, and the drivers'
//! shared data types (`crate::driver::{Output, Phase}`). Nothing that does
//! I/O: the machine never blocks, sleeps or draws a random number.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use thiserror::Error;

pub use crate::driver::{Output, Phase};
use crate::wire::codec;
use crate::wire::limits::{self, TooLarge};
use crate::wire::pb::executor::{Call, Event, call, event};
use crate::wire::pb::{
    AgentId, ExecutorId, FrameworkId, TaskInfo, TaskState, TaskStatus, task_status,
};

/// What the watchdog waits beyond the grace period: the agent itself
/// escalates then, the watchdog only catches an agent that is gone.
pub const WATCHDOG_SLACK: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Config {
    pub executor_id: String,
    pub framework_id: String,
    /// The agent id of the environment, used until SUBSCRIBED names one.
    pub agent_id: Option<String>,
    /// The framework checkpoints: a lost agent may come back (recovery).
    pub checkpoint: bool,
    /// How long a lost agent may take to come back (`MESOS_RECOVERY_TIMEOUT`).
    pub recovery_timeout: Duration,
    /// Longest wait between resubscriptions (`MESOS_SUBSCRIPTION_BACKOFF_MAX`).
    pub backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
    /// Bound on one payload sent (`max_payload_bytes`).
    pub max_payload: usize,
    /// Arm the watchdog after a SHUTDOWN (off when embedded in tests).
    pub watchdog: bool,
}

/// What the driver must do. The machine's answers come in order; the driver
/// executes them in that order, with no lock on the machine held.
#[derive(Debug)]
pub enum Action {
    /// POST this call on the call connection, then report the answer
    /// (`call_answered`, `call_failed`).
    Send(Box<Call>),
    /// Wait this long, then connect and subscribe again (`connected`).
    Resubscribe(Duration),
    /// Hand this to the owner.
    Deliver(Output),
    /// Kill the process group after this long (the effect is the driver's).
    ArmWatchdog(Duration),
    /// The agent is gone for good: the stream is over.
    Stop,
}

/// Why an update or message is not taken.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Refused {
    #[error("executors must not send TASK_STAGING")]
    Staging,
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

#[derive(Debug)]
pub struct Machine {
    cfg: Config,
    phase: Phase,
    /// The agent id SUBSCRIBED named.
    agent_id: Option<String>,
    /// Updates not yet ACKNOWLEDGED, in the order they were made.
    updates: Vec<call::Update>,
    /// Tasks launched for which no update has been acknowledged yet.
    tasks: BTreeMap<String, TaskInfo>,
    /// When the agent was lost (checkpointing), until SUBSCRIBED again.
    lost_at: Option<Instant>,
    watchdog_armed: bool,
}

impl Machine {
    pub fn new(cfg: Config) -> Self {
        Machine {
            cfg,
            phase: Phase::Disconnected,
            agent_id: None,
            updates: vec![],
            tasks: BTreeMap::new(),
            lost_at: None,
            watchdog_armed: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The agent id SUBSCRIBED named.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// Updates not yet acknowledged by the agent.
    pub fn unacknowledged_updates(&self) -> impl Iterator<Item = &TaskStatus> {
        self.updates.iter().map(|u| &u.status)
    }

    /// Tasks launched for which no update was acknowledged yet.
    pub fn unacknowledged_tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks.values()
    }

    fn set_phase(&mut self, p: Phase) {
        if self.phase != Phase::Stopped {
            self.phase = p;
        }
    }

    /// A call of `type` with the executor's ids.
    fn call(&self, ty: call::Type) -> Call {
        Call {
            executor_id: ExecutorId {
                value: self.cfg.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.cfg.framework_id.clone(),
            },
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }

    /// The stream connection to the agent is open: the SUBSCRIBE to send,
    /// with every unacknowledged task and update.
    pub fn connected(&mut self) -> Call {
        self.set_phase(Phase::Subscribing);
        Call {
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: self.tasks.values().cloned().collect(),
                unacknowledged_updates: self.updates.clone(),
            }),
            ..self.call(call::Type::Subscribe)
        }
    }

    /// An event decoded from the stream (the driver hands the event itself
    /// to the owner after these actions).
    pub fn event(&mut self, ev: &Event) -> Vec<Action> {
        let mut out = vec![];
        match ev.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                // As before the machine: even a stopping driver records it.
                self.phase = Phase::Subscribed;
                self.lost_at = None;
                if let Some(sub) = &ev.subscribed {
                    self.agent_id = sub.agent_info.id.as_ref().map(|a| a.value.clone());
                }
            }
            Some(event::Type::Launch) => {
                if let Some(l) = &ev.launch {
                    self.tasks
                        .insert(l.task.task_id.value.clone(), l.task.clone());
                }
            }
            Some(event::Type::LaunchGroup) => {
                if let Some(g) = &ev.launch_group {
                    for t in &g.task_group.tasks {
                        self.tasks.insert(t.task_id.value.clone(), t.clone());
                    }
                }
            }
            Some(event::Type::Acknowledged) => {
                if let Some(a) = &ev.acknowledged {
                    self.updates
                        .retain(|u| u.status.uuid.as_deref() != Some(a.uuid.as_slice()));
                    self.tasks.remove(&a.task_id.value);
                }
            }
            Some(event::Type::Shutdown) => out.extend(self.arm_watchdog()),
            _ => {}
        }
        out
    }

    /// The stream ended or could not be made (connection refused, SUBSCRIBE
    /// rejected, EOF, read error): `why`. `u` is uniform in [0, 1), for the
    /// backoff. Ends in `Resubscribe` or, the agent gone for good, `Stop`.
    pub fn stream_ended(&mut self, why: String, now: Instant, u: f64) -> Vec<Action> {
        self.set_phase(Phase::Disconnected);
        let mut out = vec![Action::Deliver(Output::Disconnected(why.clone()))];
        if !self.cfg.checkpoint {
            let why = format!("{why}; framework does not checkpoint, shutting down");
            out.extend(self.give_up(why));
            return out;
        }
        let lost_at = *self.lost_at.get_or_insert(now);
        let left = self
            .cfg
            .recovery_timeout
            .saturating_sub(now.saturating_duration_since(lost_at));
        if left.is_zero() {
            let why = format!("agent did not come back within the recovery timeout ({why})");
            out.extend(self.give_up(why));
            return out;
        }
        out.push(Action::Resubscribe(
            backoff(self.cfg.backoff_max, u).min(left),
        ));
        out
    }

    /// The agent is gone for good: a SHUTDOWN as the C++ library makes up.
    fn give_up(&mut self, why: String) -> Vec<Action> {
        let mut out: Vec<Action> = self.arm_watchdog().into_iter().collect();
        if let Ok(ev) = shutdown_event() {
            out.push(Action::Deliver(Output::Event(ev.into())));
        }
        self.set_phase(Phase::Disconnected);
        out.push(Action::Deliver(Output::Disconnected(why)));
        out.push(Action::Stop);
        out
    }

    /// After a SHUTDOWN: kill the process once the grace period has passed,
    /// as Mesos's own executor library does (once, if enabled).
    fn arm_watchdog(&mut self) -> Option<Action> {
        if !self.cfg.watchdog || std::mem::replace(&mut self.watchdog_armed, true) {
            return None;
        }
        Some(Action::ArmWatchdog(
            self.cfg
                .shutdown_grace_period
                .saturating_add(WATCHDOG_SLACK),
        ))
    }

    /// The owner stops the driver.
    pub fn stop(&mut self) {
        self.phase = Phase::Stopped;
    }

    /// The owner sends a status update: checked, stamped (the `uuid` given,
    /// source, executor and agent ids, timestamp `now` unless set), booked
    /// until acknowledged. Returns the UPDATE call to hand `outgoing`.
    pub fn update(
        &mut self,
        mut status: TaskStatus,
        uuid: [u8; 16],
        now: SystemTime,
    ) -> Result<Call, Refused> {
        if status.state == TaskState::TaskStaging as i32 {
            return Err(Refused::Staging);
        }
        let max = self.cfg.max_payload;
        limits::payload("status data", status.data.as_ref().map_or(0, Vec::len), max)?;
        limits::payload(
            "status message",
            status.message.as_ref().map_or(0, String::len),
            max,
        )?;
        status.uuid = Some(uuid.to_vec());
        status.source = Some(task_status::Source::Executor as i32);
        status.executor_id = Some(ExecutorId {
            value: self.cfg.executor_id.clone(),
        });
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        status.timestamp = Some(status.timestamp.unwrap_or(secs));
        if status.agent_id.is_none() {
            let agent = self.agent_id.clone().or_else(|| self.cfg.agent_id.clone());
            status.agent_id = agent.map(|value| AgentId { value });
        }
        let update = call::Update { status };
        // The call around the update adds its ids and a few tags.
        let around = self.cfg.executor_id.len() + self.cfg.framework_id.len() + 32;
        limits::message("UPDATE", update.encoded_len() + around)?;
        self.updates.push(update.clone());
        Ok(Call {
            update: Some(update),
            ..self.call(call::Type::Update)
        })
    }

    /// The owner sends a framework message (best effort, not booked).
    pub fn message(&self, data: Vec<u8>) -> Result<Call, TooLarge> {
        limits::payload("framework message data", data.len(), self.cfg.max_payload)?;
        Ok(Call {
            message: Some(call::Message { data }),
            ..self.call(call::Type::Message)
        })
    }

    /// The optional HEARTBEAT call, when its timer fires.
    pub fn heartbeat(&self) -> Call {
        self.call(call::Type::Heartbeat)
    }

    /// A call is about to go out: sent while subscribed; otherwise updates
    /// and heartbeats wait (the next SUBSCRIBE carries every unacknowledged
    /// update) and other calls fail.
    pub fn outgoing(&self, c: Call) -> Vec<Action> {
        if self.phase == Phase::Subscribed {
            return vec![Action::Send(Box::new(c))];
        }
        let ty = call_type(&c);
        if quiet(&ty) {
            return vec![];
        }
        failed(&ty, "not subscribed to the agent".into())
    }

    /// The agent answered a call of type `ty` (`call_type`) with HTTP
    /// `status` and `body`.
    pub fn call_answered(&self, ty: &str, status: u16, body: &str) -> Vec<Action> {
        if status == 202 || status == 200 {
            return vec![];
        }
        let reason = if ty == "UPDATE" {
            // Kept in the book: resent on the next SUBSCRIBE.
            format!("HTTP {status} {body} (will be resent on resubscription)")
        } else {
            format!("HTTP {status} {body}")
        };
        failed(ty, reason)
    }

    /// A call of type `ty` could not be delivered: `why`.
    pub fn call_failed(&self, ty: &str, why: String) -> Vec<Action> {
        if quiet(ty) {
            return vec![];
        }
        failed(ty, why)
    }
}

/// Tells the owner a call of type `ty` failed.
fn failed(ty: &str, reason: String) -> Vec<Action> {
    vec![Action::Deliver(Output::CallFailed {
        call_type: ty.into(),
        reason,
    })]
}

/// Calls whose failure the owner is not told: updates (resent on the next
/// SUBSCRIBE) and heartbeats.
fn quiet(ty: &str) -> bool {
    ty == "UPDATE" || ty == "HEARTBEAT"
}

/// A call's type name (`"UPDATE"`, ...; `"UNKNOWN"` if unset).
pub fn call_type(c: &Call) -> String {
    c.r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .map_or("UNKNOWN", |t| t.as_str_name())
        .to_string()
}

/// A resubscription wait: uniform in [0, `max`) for `u` uniform in [0, 1).
pub fn backoff(max: Duration, u: f64) -> Duration {
    let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
    max.mul_f64(u)
}

fn shutdown_event() -> Result<prost_reflect::DynamicMessage, codec::CodecError> {
    codec::to_dynamic(&Event {
        r#type: Some(event::Type::Shutdown as i32),
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
