//! What the master and its agents share: the version they claim, how agent
//! ids are made, which task states are terminal, the messages an agent
//! sends the master, and ids and timestamps as Mesos writes them.
//!
//! May import: the crate's `wire` and `uuid` only. Both `master` and
//! `agent` import this; it imports neither.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::pb;
use pb::TaskState;

/// The Mesos version we claim to be.
pub const VERSION: &str = "1.11.0";

/// The id of the `n`-th agent (from 0) of the master `master_id`.
pub(crate) fn agent_id(master_id: &str, n: usize) -> String {
    format!("{master_id}-S{n}")
}

/// True for the states a task never leaves.
pub(crate) fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

/// Messages from an agent to the master.
pub(crate) enum ToMaster {
    StatusUpdate {
        framework_id: String,
        status: Box<pb::TaskStatus>,
        latest_state: TaskState,
    },
    ExitedExecutor {
        framework_id: String,
        executor_id: String,
        status: i32,
    },
    FrameworkMessage {
        framework_id: String,
        executor_id: String,
        data: Vec<u8>,
    },
}

/// A version-4 UUID ([`crate::uuid::v4`]).
pub(crate) fn new_uuid() -> [u8; 16] {
    crate::uuid::v4()
}

/// The canonical 8-4-4-4-12 form.
pub(crate) fn uuid_string(b: &[u8; 16]) -> String {
    crate::uuid::to_string(b)
}

/// Seconds since the epoch, as Mesos timestamps are.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
