//! The scheduler connection state machine, free of sockets, threads and
//! clocks: the driver feeds it what happened (with the current time and a
//! random draw) and asks it what to do. Disconnected → Subscribing
//! (SUBSCRIBE sent, 200 received) → Subscribed (SUBSCRIBED event), with the
//! stream id, the heartbeat deadline and the reconnection backoff; which
//! candidate master to try, what each answer to SUBSCRIBE or to a call
//! means (retry, redirect, give up), the redirect budget, when to give up
//! for good, the TEARDOWN handshake, the ids every call carries, and the
//! payload limits a call is checked against before it is queued.
//!
//! May import: std, the wire types, `endpoint` (pure parsing) and
//! `driver::Phase`. Nothing that does I/O.

use std::time::{Duration, Instant};

pub use crate::driver::Phase;
use crate::net::endpoint::{Endpoint, resolve_location};
use crate::wire::limits;
use crate::wire::pb::FrameworkId;
use crate::wire::pb::scheduler::{Call, call};
use prost::Message as _;

#[derive(Debug, Clone)]
pub struct Config {
    /// Silence of `factor × heartbeat_interval_seconds` means a dead stream.
    pub heartbeat_factor: f64,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long after the 200 answer to SUBSCRIBE the SUBSCRIBED event may
    /// take (a master sends it at once) before the stream counts as dead.
    pub subscribed_timeout: Duration,
    /// Give up after this long without an accepted subscription (from the
    /// first attempt, or from the loss of the last one); None: never.
    pub give_up_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_factor: 5.0,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(15),
            subscribed_timeout: Duration::from_secs(15),
            give_up_after: None,
        }
    }
}

/// What the stream delivered, as far as the connection logic cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Subscribed {
        framework_id: String,
        heartbeat_interval: Option<f64>,
    },
    Error(String),
    Other,
}

/// Why a call cannot be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSubscribed(pub Phase);

/// How one subscription attempt ended, as the I/O thread saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The stream was established and later ended for this reason.
    Ended(String),
    /// No stream: it failed before 200.
    Failed(String),
    /// The master will not take us (ERROR event, or a permanent 4xx).
    Fatal(String),
    /// The stream was open but the master went silent (no SUBSCRIBED, or
    /// no heartbeat in time).
    Unresponsive(String),
}

/// What the driver does after an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Report the disconnection (`why`), wait `delay`, try again.
    Retry { why: String, delay: Duration },
    /// Report the disconnection (`why`), then stop for good (`stopped`).
    Stop { why: String, stopped: String },
}

/// What an answer to SUBSCRIBE means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeAnswer {
    /// 200: the event stream follows.
    Stream,
    /// 307: follow the `Location` (within the redirect budget).
    Redirect,
    /// Worth another attempt (503 no leader, 404, 5xx).
    Failed(String),
    /// Not worth another attempt (401, 403, other 4xx).
    Fatal(String),
}

/// What an answer to a call means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAnswer {
    /// 200/202: the master took it.
    Taken,
    /// 307: follow the `Location` (within the redirect budget).
    Redirect,
    /// Refused: the reason for `call_failed`.
    Refused(String),
}

/// The answer to SUBSCRIBE with `status` from `target` (`body`: its text;
/// `principal`: the credentials sent, if any).
pub fn subscribe_answer(
    status: u16,
    target: &Endpoint,
    body: &str,
    principal: Option<&str>,
) -> SubscribeAnswer {
    match status {
        200 => SubscribeAnswer::Stream,
        307 => SubscribeAnswer::Redirect,
        401 => {
            let sent = match principal {
                Some(p) => format!("the credentials of principal '{p}' were refused"),
                None => "no credentials were given (set principal and secret)".into(),
            };
            SubscribeAnswer::Fatal(format!(
                "authentication failed: {target} answered HTTP 401; {sent}"
            ))
        }
        _ => {
            let why = format!("SUBSCRIBE rejected by {target}: HTTP {status} {body}");
            if status == 503 || status == 404 || (500..=599).contains(&status) {
                SubscribeAnswer::Failed(why)
            } else {
                SubscribeAnswer::Fatal(why)
            }
        }
    }
}

/// The answer to a call with `status` (`body`: its text).
pub fn call_answer(status: u16, body: &str) -> CallAnswer {
    match status {
        200 | 202 => CallAnswer::Taken,
        307 => CallAnswer::Redirect,
        401 => CallAnswer::Refused("authentication failed (HTTP 401)".into()),
        st => CallAnswer::Refused(format!("HTTP {st} {body}")),
    }
}

/// The payloads of a call (a framework message's data, each launched task's
/// data) against `max_payload`, and the whole call against Mesos's ceiling,
/// before it is queued: over a limit, nothing is sent and the caller hears
/// why at once.
pub fn check_size(c: &Call, max_payload: usize) -> Result<(), limits::TooLarge> {
    if let Some(m) = &c.message {
        limits::payload("framework message data", m.data.len(), max_payload)?;
    }
    let tasks = c
        .accept
        .iter()
        .flat_map(|a| &a.operations)
        .filter_map(|op| op.launch.as_ref())
        .flat_map(|l| &l.task_infos);
    for t in tasks {
        let size = t.data.as_ref().map_or(0, Vec::len);
        limits::payload(
            &format!("task {}'s data", t.task_id.value),
            size,
            max_payload,
        )?;
    }
    limits::message(&call_type_name(c), c.encoded_len())
}

pub fn call_type_name(c: &Call) -> String {
    c.r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|| "UNKNOWN".into())
}

/// The redirects one request may follow (`max_redirects`), shared by
/// SUBSCRIBE and calls.
#[derive(Debug, Clone)]
pub struct Redirects {
    followed: usize,
    max: usize,
}

impl Redirects {
    pub fn new(max: usize) -> Self {
        Redirects { followed: 0, max }
    }

    /// Follows a 307 from `from` to `location`: the endpoint and path to try
    /// next, or why not (over the budget, or a location that is no URL).
    pub fn follow(
        &mut self,
        from: &Endpoint,
        location: &str,
    ) -> Result<(Endpoint, String), String> {
        self.followed += 1;
        match resolve_location(from, location) {
            Some(next) if self.followed <= self.max => Ok(next),
            Some(_) => Err(format!("too many redirects (last to {location})")),
            None => Err(format!("bad redirect location {location:?} from {from}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Machine {
    cfg: Config,
    phase: Phase,
    framework_id: Option<String>,
    stream_id: Option<String>,
    heartbeat: Option<Duration>,
    last_event: Option<Instant>,
    failures: u32,
    /// Since when no subscription was accepted (None while subscribed).
    unsubscribed_since: Option<Instant>,
    /// How many times the next candidate was chosen (index modulo the
    /// number of masters).
    candidate: usize,
    /// Each master tried (or ZooKeeper) and its last error, in first-tried
    /// order: what a driver that gives up says.
    tried: Vec<(String, String)>,
    /// A TEARDOWN is on its way: the master closing the stream is expected.
    tearing_down: bool,
}

impl Machine {
    pub fn new(cfg: Config, framework_id: Option<String>) -> Self {
        Machine {
            cfg,
            phase: Phase::Disconnected,
            framework_id,
            stream_id: None,
            heartbeat: None,
            last_event: None,
            failures: 0,
            unsubscribed_since: None,
            candidate: 0,
            tried: vec![],
            tearing_down: false,
        }
    }

    /// Which of `n` candidate masters to try now.
    pub fn candidate(&self, n: usize) -> usize {
        self.candidate % n.max(1)
    }

    /// The attempt at `tried` (a master, or "ZooKeeper") ended so. A stream
    /// that ended is retried at the same master; a failed or silent one
    /// moves to the next candidate; a fatal one, or no subscription for
    /// `give_up_after`, stops for good (the driver reports why, then calls
    /// [`stop`](Self::stop): the owner must not see a stopped driver before
    /// the reports). `u`: a uniform draw in [0, 1) for
    /// the backoff's jitter.
    pub fn attempt_ended(&mut self, tried: &str, outcome: Attempt, now: Instant, u: f64) -> Next {
        let delay = self.disconnected(u);
        let why = match outcome {
            Attempt::Fatal(why) => {
                return Next::Stop {
                    stopped: why.clone(),
                    why,
                };
            }
            Attempt::Ended(why) => why,
            Attempt::Failed(why) | Attempt::Unresponsive(why) => {
                self.candidate += 1;
                why
            }
        };
        match self.tried.iter_mut().find(|(m, _)| m == tried) {
            Some(entry) => entry.1 = why.clone(),
            None => self.tried.push((tried.to_string(), why.clone())),
        }
        if self.should_give_up(now) {
            let limit = self.cfg.give_up_after.unwrap_or_default();
            let tried: Vec<String> = self
                .tried
                .iter()
                .map(|(m, e)| {
                    if e.contains(m.as_str()) {
                        e.clone()
                    } else {
                        format!("{m}: {e}")
                    }
                })
                .collect();
            let stopped = format!(
                "gave up after {}s without a subscription ({})",
                limit.as_secs_f64(),
                tried.join("; ")
            );
            return Next::Stop { why, stopped };
        }
        Next::Retry { why, delay }
    }

    /// A TEARDOWN was queued: the stream's end that follows is expected.
    pub fn teardown_queued(&mut self) {
        self.tearing_down = true;
    }

    /// The TEARDOWN went out (the framework is gone: stop) or failed (the
    /// stream's end is a disconnection again).
    pub fn teardown_settled(&mut self, sent: bool) {
        self.tearing_down = false;
        if sent {
            self.stop();
        }
    }

    /// Whether the stream thread must wait for the TEARDOWN's outcome
    /// before it counts the stream's end as a disconnection.
    pub fn teardown_pending(&self) -> bool {
        self.tearing_down
    }

    /// Stamps `call` with the subscription's framework id (also inside
    /// UPDATE_FRAMEWORK); the stream id it must carry.
    pub fn stamp(&self, call: &mut Call) -> Result<String, NotSubscribed> {
        let (framework_id, stream_id) = self.call_ids()?;
        if let Some(u) = call.update_framework.as_mut() {
            u.framework_info.id = Some(FrameworkId {
                value: framework_id.clone(),
            });
        }
        call.framework_id = Some(FrameworkId {
            value: framework_id,
        });
        Ok(stream_id)
    }

    /// A subscription attempt is about to start.
    pub fn attempt(&mut self, now: Instant) {
        if self.phase != Phase::Subscribed && self.unsubscribed_since.is_none() {
            self.unsubscribed_since = Some(now);
        }
    }

    /// True once `give_up_after` passed without an accepted subscription.
    pub fn should_give_up(&self, now: Instant) -> bool {
        match (self.cfg.give_up_after, self.unsubscribed_since) {
            (Some(limit), Some(since)) => now.saturating_duration_since(since) >= limit,
            _ => false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// The master answered SUBSCRIBE with 200 and this stream id.
    pub fn subscribe_accepted(&mut self, stream_id: Option<String>, now: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.phase = Phase::Subscribing;
        self.stream_id = stream_id;
        self.last_event = Some(now);
    }

    /// An event arrived on the stream. Returns true if it completed the
    /// subscription (SUBSCRIBED).
    pub fn event(&mut self, seen: &Seen, now: Instant) -> bool {
        self.last_event = Some(now);
        match seen {
            Seen::Subscribed {
                framework_id,
                heartbeat_interval,
            } if self.phase == Phase::Subscribing => {
                self.phase = Phase::Subscribed;
                self.framework_id = Some(framework_id.clone());
                // A master's absurd interval (NaN, negative, 1e300) means
                // no watchdog rather than a panic.
                self.heartbeat = heartbeat_interval
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok());
                self.failures = 0;
                self.unsubscribed_since = None;
                true
            }
            _ => false,
        }
    }

    /// The stream ended (EOF, error, heartbeat loss, failed attempt). Returns
    /// the delay before the next attempt, given `u` uniform in [0, 1).
    pub fn disconnected(&mut self, u: f64) -> Duration {
        if self.phase != Phase::Stopped {
            self.phase = Phase::Disconnected;
        }
        self.stream_id = None;
        self.heartbeat = None;
        self.last_event = None;
        let d = backoff(self.failures, self.cfg.backoff_min, self.cfg.backoff_max, u);
        self.failures = self.failures.saturating_add(1);
        d
    }

    pub fn stop(&mut self) {
        self.phase = Phase::Stopped;
        self.stream_id = None;
    }

    /// The instant after which silence means the connection is dead.
    pub fn deadline(&self) -> Option<Instant> {
        if self.phase == Phase::Subscribing {
            return self.last_event?.checked_add(self.cfg.subscribed_timeout);
        }
        // Far beyond any clock (a huge interval): no deadline, not a panic.
        let allowed =
            Duration::try_from_secs_f64(self.heartbeat?.as_secs_f64() * self.cfg.heartbeat_factor)
                .ok()?;
        self.last_event?.checked_add(allowed)
    }

    /// When the last event (or the subscription) arrived, while subscribed.
    pub fn last_event(&self) -> Option<Instant> {
        self.last_event
    }

    pub fn heartbeat_lost(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// The ids a non-SUBSCRIBE call must carry: framework id and stream id.
    pub fn call_ids(&self) -> Result<(String, String), NotSubscribed> {
        match (self.phase, &self.framework_id, &self.stream_id) {
            (Phase::Subscribed, Some(f), Some(s)) => Ok((f.clone(), s.clone())),
            (p, _, _) => Err(NotSubscribed(p)),
        }
    }
}

/// Exponential backoff with jitter: the cap doubles from `min` per failure up
/// to `max`, and the delay is drawn uniformly from the upper half of the cap.
pub fn backoff(failures: u32, min: Duration, max: Duration, u: f64) -> Duration {
    let cap = min
        .saturating_mul(1u32 << failures.min(20))
        .min(max)
        .max(min);
    cap.mul_f64(0.5 + 0.5 * u.clamp(0.0, 1.0))
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
