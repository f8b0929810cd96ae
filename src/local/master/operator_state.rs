//! What the master keeps for the operator API, as data: the operator's
//! marks on agents (deactivated, draining), the open SUBSCRIBE streams and
//! the settings and counters operators read and change. The rules that use
//! them live with the master's methods in `agent_admin`, `operator_events`
//! and `operator_info`; `model` holds these in the master.
//!
//! May import: the wire layer and the cluster's leaf modules (`protocol`);
//! nothing of the master.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::local::protocol::{is_terminal, logging_level};
use crate::wire::codec::Encoding;
use crate::wire::pb;
use pb::TaskState;

/// A drain in progress or done.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drain {
    pub config: pb::DrainConfig,
    pub drained: bool,
    /// When it started, in whole seconds since the epoch (Mesos reports the
    /// estimated start of the drain with a seconds resolution).
    pub started: f64,
}

/// The operator's marks on one agent (`slaves.deactivated`,
/// `slaves.draining`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AgentAdmin {
    pub deactivated: bool,
    pub drain: Option<Drain>,
}

impl AgentAdmin {
    pub(crate) fn drain_info(&self) -> Option<pb::DrainInfo> {
        self.drain.as_ref().map(|d| pb::DrainInfo {
            state: if d.drained {
                pb::DrainState::Drained
            } else {
                pb::DrainState::Draining
            } as i32,
            config: d.config,
        })
    }
}

/// An open operator SUBSCRIBE stream.
pub(crate) struct OperatorStream {
    pub(super) id: u64,
    pub(super) enc: Encoding,
    pub(super) tx: Sender<Vec<u8>>,
    pub(super) next_heartbeat: Instant,
}

/// What operators have set, and the counters metrics need.
#[derive(Debug, Default)]
pub(crate) struct OperatorSettings {
    /// SET_LOGGING_LEVEL: the level, until when.
    pub(super) logging: Option<(u32, Instant)>,
    pub weights: BTreeMap<String, f64>,
    pub quotas: BTreeMap<String, pb::quota::QuotaConfig>,
    pub schedule: pb::maintenance::Schedule,
    /// Tasks that reached each terminal state, by state name.
    pub(super) terminal: BTreeMap<&'static str, u64>,
    pub agent_registrations: u64,
    pub agent_removals: u64,
}

impl OperatorSettings {
    pub(crate) fn count_terminal(&mut self, state: TaskState) {
        if is_terminal(state) {
            *self.terminal.entry(state.as_str_name()).or_default() += 1;
        }
    }

    pub(crate) fn set_logging_level(&mut self, level: u32, duration: Duration, now: Instant) {
        self.logging = Some((level, now + duration));
    }

    pub(crate) fn logging_level(&self, now: Instant) -> u32 {
        logging_level(self.logging, now)
    }
}
