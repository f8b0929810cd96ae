//! The scheduler connection state machine, free of sockets and clocks: the
//! driver feeds it what happened (with the current time) and asks it what to
//! do. Disconnected → Subscribing (SUBSCRIBE sent, 200 received) → Subscribed
//! (SUBSCRIBED event), with the stream id, the heartbeat deadline and the
//! reconnection backoff.

use std::time::{Duration, Instant};

pub use crate::driver::Phase;

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
        }
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
mod tests {
    use super::*;

    fn subscribed(m: &mut Machine, t: Instant) {
        m.subscribe_accepted(Some("stream-1".into()), t);
        assert!(m.event(
            &Seen::Subscribed {
                framework_id: "fw-1".into(),
                heartbeat_interval: Some(15.0)
            },
            t
        ));
    }

    #[test]
    fn gives_up_only_after_the_limit_without_a_subscription() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut never = Machine::new(Config::default(), None);
        never.attempt(t0);
        assert!(!never.should_give_up(s(1_000_000)));

        let cfg = Config {
            give_up_after: Some(Duration::from_secs(60)),
            ..Config::default()
        };
        let mut m = Machine::new(cfg, None);
        assert!(!m.should_give_up(s(100)), "no attempt yet");
        m.attempt(t0);
        m.disconnected(0.5);
        m.attempt(s(30)); // a later attempt keeps the first instant
        assert!(!m.should_give_up(s(59)));
        assert!(m.should_give_up(s(60)));

        // Subscribed: the clock starts again when the subscription is lost.
        subscribed(&mut m, s(61));
        assert!(!m.should_give_up(s(500)));
        m.disconnected(0.5);
        m.attempt(s(500));
        assert!(!m.should_give_up(s(559)));
        assert!(m.should_give_up(s(560)));
    }

    #[test]
    fn lifecycle_and_call_ids() {
        let t0 = Instant::now();
        let mut m = Machine::new(Config::default(), None);
        assert_eq!(m.call_ids(), Err(NotSubscribed(Phase::Disconnected)));
        m.subscribe_accepted(Some("stream-1".into()), t0);
        assert_eq!(m.phase(), Phase::Subscribing);
        assert_eq!(m.call_ids(), Err(NotSubscribed(Phase::Subscribing)));
        subscribed(&mut m, t0);
        assert_eq!(m.call_ids(), Ok(("fw-1".into(), "stream-1".into())));
        m.disconnected(0.0);
        assert_eq!(m.phase(), Phase::Disconnected);
        assert_eq!(
            m.framework_id(),
            Some("fw-1"),
            "framework id survives for resubscription"
        );
        assert!(m.stream_id().is_none(), "a stale stream id is never reused");
    }

    #[test]
    fn an_absurd_heartbeat_interval_means_no_watchdog_not_a_panic() {
        for interval in [1e300, 1e17, f64::INFINITY, f64::NAN, -1.0, 0.0] {
            let t0 = Instant::now();
            let mut m = Machine::new(Config::default(), None);
            m.subscribe_accepted(Some("s".into()), t0);
            assert!(m.event(
                &Seen::Subscribed {
                    framework_id: "fw".into(),
                    heartbeat_interval: Some(interval),
                },
                t0
            ));
            assert_eq!(m.phase(), Phase::Subscribed);
            assert!(!m.heartbeat_lost(t0 + Duration::from_secs(1_000_000)));
        }
    }

    #[test]
    fn heartbeat_deadline_moves_with_every_event() {
        let t0 = Instant::now();
        let mut m = Machine::new(Config::default(), None);
        subscribed(&mut m, t0);
        assert_eq!(m.deadline(), Some(t0 + Duration::from_secs(75)));
        assert!(!m.heartbeat_lost(t0 + Duration::from_secs(74)));
        m.event(&Seen::Other, t0 + Duration::from_secs(60));
        assert!(!m.heartbeat_lost(t0 + Duration::from_secs(100)));
        assert!(m.heartbeat_lost(t0 + Duration::from_secs(135)));
    }

    #[test]
    fn backoff_grows_is_capped_and_resets_on_subscribed() {
        let mut m = Machine::new(Config::default(), None);
        let d: Vec<Duration> = (0..8).map(|_| m.disconnected(1.0)).collect();
        assert_eq!(d[0], Duration::from_millis(500));
        assert_eq!(d[1], Duration::from_secs(1));
        assert_eq!(d[7], Duration::from_secs(15));
        subscribed(&mut m, Instant::now());
        assert_eq!(m.disconnected(1.0), Duration::from_millis(500));
        // Jitter stays within the upper half of the cap.
        assert_eq!(
            backoff(3, Duration::from_millis(500), Duration::from_secs(15), 0.0),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn subscribed_only_counts_while_subscribing() {
        let mut m = Machine::new(Config::default(), None);
        let seen = Seen::Subscribed {
            framework_id: "x".into(),
            heartbeat_interval: None,
        };
        assert!(!m.event(&seen, Instant::now()));
        assert_eq!(m.phase(), Phase::Disconnected);
    }
}
