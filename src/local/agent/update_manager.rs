//! The agent's task status-update manager, free of sockets and threads:
//! per task, updates queue up in order, the first one is "in flight" (sent
//! to the master, resent with doubling backoff up to 10 minutes) until the
//! scheduler acknowledges its uuid; nothing is accepted after a terminal
//! update; a uuid seen twice is a duplicate.
//!
//! May import: `protocol` only (no agent state: the agent hands it updates
//! and acknowledgements and sends what it returns).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::local::protocol::{ToMaster, is_terminal};
use crate::wire::pb;
use pb::TaskState;

/// Longest retry interval.
pub const MAX_RETRY: Duration = Duration::from_secs(600);

/// An update to send to the master now, with the task's latest state.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub framework_id: String,
    pub status: pb::TaskStatus,
    pub latest_state: TaskState,
}

impl From<Forward> for ToMaster {
    fn from(f: Forward) -> ToMaster {
        ToMaster::StatusUpdate {
            framework_id: f.framework_id,
            status: Box::new(f.status),
            latest_state: f.latest_state,
        }
    }
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Acked {
    /// It did not match the update in flight (duplicate or stale).
    Ignored,
    /// Matched; this update is now in flight.
    Next(Box<Forward>),
    /// Matched; nothing is pending (and the task's stream is done if it
    /// was the terminal update).
    Done { terminal: bool },
}

struct Stream {
    pending: VecDeque<pb::TaskStatus>,
    latest: TaskState,
    terminal: bool,
    next_retry: Option<Instant>,
    backoff: Duration,
    received: BTreeSet<Vec<u8>>,
}

/// All streams of one agent, keyed by (framework id, task id).
pub struct StatusUpdateManager {
    initial: Duration,
    streams: BTreeMap<(String, String), Stream>,
}

impl StatusUpdateManager {
    pub fn new(initial_retry: Duration) -> Self {
        StatusUpdateManager {
            initial: initial_retry,
            streams: BTreeMap::new(),
        }
    }

    fn forward(fw: &str, s: &Stream) -> Option<Forward> {
        s.pending.front().map(|status| Forward {
            framework_id: fw.to_string(),
            status: status.clone(),
            latest_state: s.latest,
        })
    }

    /// Adds an update. `Ok(Some)` when it goes in flight at once, `Ok(None)`
    /// when it waits behind another, `Err(())` when it is dropped (a
    /// duplicate uuid, or anything after a terminal update).
    #[allow(clippy::result_unit_err)]
    pub fn update(
        &mut self,
        fw: &str,
        status: pb::TaskStatus,
        now: Instant,
    ) -> Result<Option<Forward>, ()> {
        let key = (fw.to_string(), status.task_id.value.clone());
        let s = self.streams.entry(key).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            latest: TaskState::TaskStaging,
            terminal: false,
            next_retry: None,
            backoff: self.initial,
            received: BTreeSet::new(),
        });
        if let Some(u) = &status.uuid
            && !s.received.insert(u.clone())
        {
            return Err(());
        }
        if s.terminal {
            return Err(());
        }
        s.latest = status.state();
        s.terminal = is_terminal(s.latest);
        s.pending.push_back(status);
        if s.pending.len() > 1 {
            return Ok(None);
        }
        s.backoff = self.initial;
        s.next_retry = Some(now + s.backoff);
        Ok(Self::forward(fw, s))
    }

    /// ACKNOWLEDGE of `uuid` for a task.
    pub fn acknowledge(&mut self, fw: &str, task: &str, uuid: &[u8], now: Instant) -> Acked {
        let key = (fw.to_string(), task.to_string());
        let Some(s) = self.streams.get_mut(&key) else {
            return Acked::Ignored;
        };
        if s.pending
            .front()
            .is_none_or(|st| st.uuid.as_deref() != Some(uuid))
        {
            return Acked::Ignored;
        }
        let acked = s.pending.pop_front();
        if let Some(next) = Self::forward(fw, s) {
            s.backoff = self.initial;
            s.next_retry = Some(now + s.backoff);
            return Acked::Next(Box::new(next));
        }
        s.next_retry = None;
        let terminal = acked.is_some_and(|st| is_terminal(st.state()));
        if terminal {
            self.streams.remove(&key);
        }
        Acked::Done { terminal }
    }

    /// Updates whose retry time has come (their backoff doubles).
    pub fn due(&mut self, now: Instant) -> Vec<Forward> {
        let mut out = vec![];
        for ((fw, _), s) in self.streams.iter_mut() {
            if s.next_retry.is_none_or(|t| t > now) {
                continue;
            }
            match Self::forward(fw, s) {
                Some(f) => {
                    s.backoff = (s.backoff * 2).min(MAX_RETRY);
                    s.next_retry = Some(now + s.backoff);
                    out.push(f);
                }
                None => s.next_retry = None,
            }
        }
        out
    }

    /// The updates in flight for a framework (to resend on resubscription).
    pub fn in_flight(&self, fw: &str) -> Vec<Forward> {
        self.streams
            .iter()
            .filter(|((f, _), _)| f == fw)
            .filter_map(|((f, _), s)| Self::forward(f, s))
            .collect()
    }

    /// Every update in flight, with fresh retry timers (an agent that comes
    /// back sends them all again).
    pub fn resend_all(&mut self, now: Instant) -> Vec<Forward> {
        let initial = self.initial;
        let mut out = vec![];
        for ((fw, _), s) in self.streams.iter_mut() {
            if let Some(f) = Self::forward(fw, s) {
                s.backoff = initial;
                s.next_retry = Some(now + initial);
                out.push(f);
            }
        }
        out
    }

    /// Forgets a framework's streams (it was removed).
    pub fn remove_framework(&mut self, fw: &str) {
        self.streams.retain(|(f, _), _| f != fw);
    }

    pub fn clear(&mut self) {
        self.streams.clear();
    }

    /// True while the framework has any stream (acknowledgements to wait for).
    pub fn has_framework(&self, fw: &str) -> bool {
        self.streams.keys().any(|(f, _)| f == fw)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.streams.values().filter_map(|s| s.next_retry).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(task: &str, state: TaskState, uuid: u8) -> pb::TaskStatus {
        pb::TaskStatus {
            task_id: pb::TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn one_in_flight_per_task_until_acknowledged() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new(Duration::from_secs(10));
        let f = m
            .update("fw", st("t", TaskState::TaskStarting, 1), t0)
            .unwrap()
            .unwrap();
        assert_eq!(f.latest_state, TaskState::TaskStarting);
        assert_eq!(
            m.update("fw", st("t", TaskState::TaskRunning, 2), t0),
            Ok(None)
        );
        assert_eq!(
            m.update("fw", st("t", TaskState::TaskFinished, 3), t0),
            Ok(None)
        );
        // Another task has its own stream.
        assert!(
            m.update("fw", st("u", TaskState::TaskStarting, 4), t0)
                .unwrap()
                .is_some()
        );
        // Resends carry the latest state.
        assert_eq!(m.in_flight("fw").len(), 2);
        assert_eq!(m.in_flight("fw")[0].latest_state, TaskState::TaskFinished);
        // Wrong uuid: ignored.
        assert_eq!(m.acknowledge("fw", "t", &[2; 16], t0), Acked::Ignored);
        let Acked::Next(next) = m.acknowledge("fw", "t", &[1; 16], t0) else {
            panic!("next update expected");
        };
        assert_eq!(next.status.state(), TaskState::TaskRunning);
        assert!(matches!(
            m.acknowledge("fw", "t", &[2; 16], t0),
            Acked::Next(_)
        ));
        assert_eq!(
            m.acknowledge("fw", "t", &[3; 16], t0),
            Acked::Done { terminal: true }
        );
        assert_eq!(m.acknowledge("fw", "t", &[3; 16], t0), Acked::Ignored);
        assert!(m.has_framework("fw"));
        m.remove_framework("fw");
        assert!(!m.has_framework("fw"));
    }

    #[test]
    fn duplicates_and_updates_after_terminal_are_dropped() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new(Duration::from_secs(10));
        assert!(
            m.update("fw", st("t", TaskState::TaskFailed, 1), t0)
                .is_ok()
        );
        assert_eq!(
            m.update("fw", st("t", TaskState::TaskFailed, 1), t0),
            Err(())
        );
        assert_eq!(
            m.update("fw", st("t", TaskState::TaskRunning, 2), t0),
            Err(())
        );
    }

    #[test]
    fn retries_double_up_to_ten_minutes() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new(Duration::from_secs(10));
        m.update("fw", st("t", TaskState::TaskRunning, 1), t0)
            .unwrap();
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(m.due(t0 + Duration::from_secs(9)).is_empty());
        let mut now = t0 + Duration::from_secs(10);
        let mut gaps = vec![];
        for _ in 0..8 {
            assert_eq!(m.due(now).len(), 1);
            let next = m.next_deadline().unwrap();
            gaps.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(gaps, [20, 40, 80, 160, 320, 600, 600, 600]);
        // An acknowledgement resets the backoff for the next update.
        m.update("fw", st("t", TaskState::TaskFinished, 2), now)
            .unwrap();
        assert!(matches!(
            m.acknowledge("fw", "t", &[1; 16], now),
            Acked::Next(_)
        ));
        assert_eq!(m.next_deadline(), Some(now + Duration::from_secs(10)));
    }
}
