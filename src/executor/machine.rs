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
mod tests {
    use super::*;
    use crate::wire::pb::{AgentInfo, ExecutorInfo, TaskGroupInfo, TaskId};

    fn cfg() -> Config {
        Config {
            executor_id: "ex".into(),
            framework_id: "fw".into(),
            agent_id: Some("env-agent".into()),
            checkpoint: true,
            recovery_timeout: Duration::from_secs(15 * 60),
            backoff_max: Duration::from_secs(2),
            shutdown_grace_period: Duration::from_secs(5),
            max_payload: 1000,
            watchdog: true,
        }
    }

    fn ev(ty: event::Type) -> Event {
        Event {
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }

    fn subscribed(agent: &str) -> Event {
        Event {
            subscribed: Some(event::Subscribed {
                executor_info: ExecutorInfo::default(),
                agent_info: AgentInfo {
                    id: Some(AgentId {
                        value: agent.into(),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..ev(event::Type::Subscribed)
        }
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            ..Default::default()
        }
    }

    fn launch(id: &str) -> Event {
        Event {
            launch: Some(event::Launch { task: task(id) }),
            ..ev(event::Type::Launch)
        }
    }

    fn acknowledged(id: &str, uuid: [u8; 16]) -> Event {
        Event {
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: id.into() },
                uuid: uuid.to_vec(),
            }),
            ..ev(event::Type::Acknowledged)
        }
    }

    fn running(id: &str) -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: id.into() },
            state: TaskState::TaskRunning as i32,
            ..Default::default()
        }
    }

    /// A distinct version-4 uuid per `n`.
    fn uuid(n: u8) -> [u8; 16] {
        let mut u = [n; 16];
        u[6] = 0x40 | (n & 0x0f);
        u[8] = 0x80 | (n & 0x3f);
        u
    }

    fn subscribed_machine(c: Config) -> Machine {
        let mut m = Machine::new(c);
        m.connected();
        assert!(m.event(&subscribed("agent-1")).is_empty());
        m
    }

    fn booked(sub: &Call) -> (Vec<String>, Vec<Vec<u8>>) {
        let s = sub.subscribe.as_ref().expect("a SUBSCRIBE");
        (
            s.unacknowledged_tasks
                .iter()
                .map(|t| t.task_id.value.clone())
                .collect(),
            s.unacknowledged_updates
                .iter()
                .filter_map(|u| u.status.uuid.clone())
                .collect(),
        )
    }

    /// What an action list says, in short.
    fn said(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Send(c) => format!("send {}", call_type(c)),
                Action::Resubscribe(d) => format!("resubscribe {d:?}"),
                Action::Deliver(Output::Event(e)) => {
                    format!("event {}", e.type_name().unwrap_or("?"))
                }
                Action::Deliver(Output::Disconnected(why)) => format!("disconnected: {why}"),
                Action::Deliver(Output::CallFailed { call_type, reason }) => {
                    format!("{call_type} failed: {reason}")
                }
                Action::Deliver(Output::Stopped(why)) => format!("stopped: {why}"),
                Action::ArmWatchdog(d) => format!("watchdog {d:?}"),
                Action::Stop => "stop".into(),
            })
            .collect()
    }

    #[test]
    fn the_book_is_resent_on_every_subscribe_and_emptied_by_acknowledged() {
        let mut m = subscribed_machine(cfg());
        let t0 = SystemTime::now();
        m.event(&launch("t1"));
        m.event(&Event {
            launch_group: Some(event::LaunchGroup {
                task_group: TaskGroupInfo {
                    tasks: vec![task("g1"), task("g2")],
                },
            }),
            ..ev(event::Type::LaunchGroup)
        });
        m.update(running("t1"), uuid(1), t0).unwrap();
        m.update(running("g1"), uuid(2), t0).unwrap();
        assert_eq!(m.unacknowledged_tasks().count(), 3);
        assert_eq!(m.unacknowledged_updates().count(), 2);

        // The agent restarts: the next SUBSCRIBE carries the whole book.
        m.stream_ended("agent gone".into(), Instant::now(), 0.5);
        let (tasks, updates) = booked(&m.connected());
        assert_eq!(tasks, ["g1", "g2", "t1"]);
        assert_eq!(updates, [uuid(1).to_vec(), uuid(2).to_vec()]);

        // ACKNOWLEDGED drops the update of that uuid and its task.
        m.event(&subscribed("agent-1"));
        m.event(&acknowledged("t1", uuid(1)));
        let (tasks, updates) = booked(&m.connected());
        assert_eq!(tasks, ["g1", "g2"]);
        assert_eq!(updates, [uuid(2).to_vec()]);
        // An unknown uuid changes nothing but the task it names.
        m.event(&acknowledged("g2", uuid(9)));
        assert_eq!(
            booked(&m.connected()),
            (vec!["g1".into()], vec![uuid(2).to_vec()])
        );
        m.event(&acknowledged("g1", uuid(2)));
        assert_eq!(booked(&m.connected()), (vec![], vec![]));
    }

    #[test]
    fn subscribe_carries_the_ids_and_subscribed_names_the_agent() {
        let mut m = Machine::new(cfg());
        assert_eq!(m.phase(), Phase::Disconnected);
        let sub = m.connected();
        assert_eq!(call_type(&sub), "SUBSCRIBE");
        assert_eq!(sub.executor_id.value, "ex");
        assert_eq!(sub.framework_id.value, "fw");
        assert_eq!(m.phase(), Phase::Subscribing);
        assert_eq!(m.agent_id(), None);
        m.event(&subscribed("agent-7"));
        assert_eq!(m.phase(), Phase::Subscribed);
        assert_eq!(m.agent_id(), Some("agent-7"));
    }

    #[test]
    fn with_checkpointing_a_lost_agent_has_the_recovery_timeout_to_come_back() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut c = cfg();
        c.recovery_timeout = Duration::from_secs(60);
        let mut m = subscribed_machine(c);

        let a = m.stream_ended("EOF".into(), t0, 0.5);
        assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);
        assert_eq!(m.phase(), Phase::Disconnected);
        // Further failures count from the first loss; the wait never
        // outlasts what is left.
        m.connected();
        let a = m.stream_ended("refused".into(), s(59), 0.99);
        assert_eq!(said(&a), ["disconnected: refused", "resubscribe 1s"]);
        let a = m.stream_ended("refused".into(), s(60), 0.0);
        assert_eq!(
            said(&a),
            [
                "disconnected: refused",
                "watchdog 5.5s",
                "event SHUTDOWN",
                "disconnected: agent did not come back within the recovery timeout (refused)",
                "stop"
            ]
        );

        // SUBSCRIBED again starts the clock anew at the next loss.
        let mut m = subscribed_machine(Config {
            recovery_timeout: Duration::from_secs(60),
            ..cfg()
        });
        m.stream_ended("EOF".into(), t0, 0.5);
        m.connected();
        m.event(&subscribed("agent-1"));
        let a = m.stream_ended("EOF".into(), s(100), 0.5);
        assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);
        let a = m.stream_ended("EOF".into(), s(159), 0.5);
        assert_eq!(said(&a), ["disconnected: EOF", "resubscribe 1s"]);

        // A zero timeout gives up at the first loss.
        let mut m = subscribed_machine(Config {
            recovery_timeout: Duration::ZERO,
            ..cfg()
        });
        assert_eq!(
            said(&m.stream_ended("EOF".into(), t0, 0.5)).last().unwrap(),
            "stop"
        );
    }

    #[test]
    fn without_checkpointing_a_lost_agent_means_shutdown_at_once() {
        let mut m = subscribed_machine(Config {
            checkpoint: false,
            ..cfg()
        });
        let a = m.stream_ended("EOF".into(), Instant::now(), 0.5);
        assert_eq!(
            said(&a),
            [
                "disconnected: EOF",
                "watchdog 5.5s",
                "event SHUTDOWN",
                "disconnected: EOF; framework does not checkpoint, shutting down",
                "stop"
            ]
        );
        assert_eq!(m.phase(), Phase::Disconnected);
    }

    #[test]
    fn backoff_is_uniform_up_to_the_maximum() {
        let max = Duration::from_secs(10);
        assert_eq!(backoff(max, 0.0), Duration::ZERO);
        assert_eq!(backoff(max, 0.25), Duration::from_millis(2500));
        assert!(backoff(max, 0.999_999) < max);
        // Out-of-range draws stay within the bounds instead of panicking.
        assert_eq!(backoff(max, 1.5), max);
        assert_eq!(backoff(max, -1.0), Duration::ZERO);
        assert_eq!(backoff(max, f64::NAN), Duration::ZERO);
        assert_eq!(backoff(Duration::ZERO, 0.7), Duration::ZERO);
        // The machine draws with MESOS_SUBSCRIPTION_BACKOFF_MAX.
        let mut m = subscribed_machine(cfg());
        let a = m.stream_ended("EOF".into(), Instant::now(), 0.75);
        assert_eq!(said(&a)[1], "resubscribe 1.5s");
    }

    #[test]
    fn the_watchdog_is_armed_once_after_shutdown_for_the_grace_period() {
        let mut m = subscribed_machine(cfg());
        assert_eq!(
            said(&m.event(&ev(event::Type::Shutdown))),
            ["watchdog 5.5s"]
        );
        assert!(m.event(&ev(event::Type::Shutdown)).is_empty(), "once");
        // A later synthetic SHUTDOWN does not arm it again.
        let a = m.stream_ended("EOF".into(), Instant::now(), 0.0);
        assert!(!said(&a).iter().any(|s| s.starts_with("watchdog")));

        let mut off = subscribed_machine(Config {
            watchdog: false,
            ..cfg()
        });
        assert!(off.event(&ev(event::Type::Shutdown)).is_empty());
        // Other events never arm it.
        let mut m = subscribed_machine(cfg());
        for t in [
            event::Type::Message,
            event::Type::Kill,
            event::Type::Error,
            event::Type::Heartbeat,
        ] {
            assert!(m.event(&ev(t)).is_empty());
        }
    }

    #[test]
    fn updates_are_stamped() {
        let mut m = Machine::new(cfg());
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let u = crate::uuid::v4();
        let c = m.update(running("t1"), u, now).unwrap();
        assert_eq!(call_type(&c), "UPDATE");
        assert_eq!(
            (c.executor_id.value.as_str(), c.framework_id.value.as_str()),
            ("ex", "fw")
        );
        let st = &c.update.as_ref().unwrap().status;
        assert_eq!(st.uuid.as_deref(), Some(u.as_slice()));
        assert!(crate::uuid::is_valid(st.uuid.as_deref().unwrap()));
        assert_eq!(st.source, Some(task_status::Source::Executor as i32));
        assert_eq!(st.executor_id.as_ref().unwrap().value, "ex");
        assert_eq!(st.timestamp, Some(1_700_000_000.25));
        // Before SUBSCRIBED, the environment's agent id; then SUBSCRIBED's.
        assert_eq!(st.agent_id.as_ref().unwrap().value, "env-agent");
        m.event(&subscribed("agent-1"));
        let c = m.update(running("t1"), uuid(2), now).unwrap();
        let st = &c.update.as_ref().unwrap().status;
        assert_eq!(st.agent_id.as_ref().unwrap().value, "agent-1");
        // The owner's own timestamp and agent id are kept.
        let mine = TaskStatus {
            timestamp: Some(42.0),
            agent_id: Some(AgentId {
                value: "mine".into(),
            }),
            ..running("t1")
        };
        let c = m.update(mine, uuid(3), now).unwrap();
        let st = &c.update.as_ref().unwrap().status;
        assert_eq!(st.timestamp, Some(42.0));
        assert_eq!(st.agent_id.as_ref().unwrap().value, "mine");
        // A clock before 1970 stamps 0.
        let c = m
            .update(running("t1"), uuid(4), UNIX_EPOCH - Duration::from_secs(1))
            .unwrap();
        assert_eq!(c.update.unwrap().status.timestamp, Some(0.0));
        // Every stamped update is booked as sent.
        let booked: Vec<_> = m.unacknowledged_updates().map(|s| s.uuid.clone()).collect();
        assert_eq!(booked.len(), 4);
        assert_eq!(booked[0].as_deref(), Some(u.as_slice()));
    }

    #[test]
    fn task_staging_is_refused_and_not_booked() {
        let mut m = Machine::new(cfg());
        let staging = TaskStatus {
            state: TaskState::TaskStaging as i32,
            ..running("t")
        };
        let e = m.update(staging, uuid(1), SystemTime::now()).unwrap_err();
        assert_eq!(e, Refused::Staging);
        assert_eq!(e.to_string(), "executors must not send TASK_STAGING");
        assert_eq!(m.unacknowledged_updates().count(), 0);
    }

    #[test]
    fn payloads_are_bounded() {
        let mut m = Machine::new(cfg());
        let now = SystemTime::now();
        let with = |data: usize, message: usize| TaskStatus {
            data: Some(vec![7; data]),
            message: Some("m".repeat(message)),
            ..running("t")
        };
        assert!(m.update(with(1000, 1000), uuid(1), now).is_ok());
        let Err(Refused::TooLarge(e)) = m.update(with(1001, 0), uuid(2), now) else {
            panic!("status data over the limit");
        };
        assert_eq!(
            (e.what.as_str(), e.size, e.max),
            ("status data", 1001, 1000)
        );
        let Err(Refused::TooLarge(e)) = m.update(with(0, 1001), uuid(3), now) else {
            panic!("status message over the limit");
        };
        assert_eq!(e.what, "status message");
        assert_eq!(
            m.unacknowledged_updates().count(),
            1,
            "refused ones not booked"
        );

        let c = m.message(vec![1; 1000]).unwrap();
        assert_eq!(call_type(&c), "MESSAGE");
        assert_eq!(c.message.unwrap().data.len(), 1000);
        let e = m.message(vec![1; 1001]).unwrap_err();
        assert_eq!(e.what, "framework message data");
        assert!(e.to_string().contains("max_payload_bytes"), "{e}");
    }

    #[test]
    fn calls_wait_for_the_subscription_and_failures_are_reported() {
        let mut m = Machine::new(cfg());
        let upd = m.update(running("t"), uuid(1), SystemTime::now()).unwrap();
        let msg = m.message(b"hi".to_vec()).unwrap();
        // Not subscribed: updates and heartbeats wait for the SUBSCRIBE,
        // other calls fail.
        assert!(m.outgoing(upd.clone()).is_empty());
        assert!(m.outgoing(m.heartbeat()).is_empty());
        assert_eq!(
            said(&m.outgoing(msg.clone())),
            ["MESSAGE failed: not subscribed to the agent"]
        );
        m.connected();
        assert_eq!(said(&m.outgoing(msg.clone())).len(), 1, "still subscribing");
        m.event(&subscribed("a"));
        assert_eq!(said(&m.outgoing(upd)), ["send UPDATE"]);
        assert_eq!(said(&m.outgoing(m.heartbeat())), ["send HEARTBEAT"]);

        // Answers: 200 and 202 are success; an UPDATE refused stays booked.
        assert!(m.call_answered("MESSAGE", 202, "").is_empty());
        assert!(m.call_answered("UPDATE", 200, "").is_empty());
        assert_eq!(
            said(&m.call_answered("UPDATE", 400, "bad")),
            ["UPDATE failed: HTTP 400 bad (will be resent on resubscription)"]
        );
        assert_eq!(
            said(&m.call_answered("MESSAGE", 503, "busy")),
            ["MESSAGE failed: HTTP 503 busy"]
        );
        // Transport errors: silent for updates and heartbeats.
        assert!(m.call_failed("UPDATE", "reset".into()).is_empty());
        assert!(m.call_failed("HEARTBEAT", "reset".into()).is_empty());
        assert_eq!(
            said(&m.call_failed("MESSAGE", "reset".into())),
            ["MESSAGE failed: reset"]
        );
        assert_eq!(m.unacknowledged_updates().count(), 1);
    }

    #[test]
    fn stopped_stays_stopped_when_the_stream_ends() {
        let mut m = subscribed_machine(cfg());
        m.stop();
        m.stream_ended("EOF".into(), Instant::now(), 0.5);
        m.connected();
        assert_eq!(m.phase(), Phase::Stopped);
        assert!(m.outgoing(m.heartbeat()).is_empty());
    }
}
