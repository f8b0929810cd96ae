//! The master model: the master, its frameworks (with their subscription
//! streams, tasks, executors and refuse filters) and offers, as the master
//! keeps them; the events it sends schedulers and the statuses it makes.
//!
//! May import: `agent` (the master owns the agents), and the cluster's leaf
//! modules (`protocol`, `config`, `resources`, `validation`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::operator_state::{AgentAdmin, OperatorSettings, OperatorStream};
use crate::local::agent::{Agent, AgentCtx, ProcessReporter};
use crate::local::config::ClusterConfig;
use crate::local::protocol::{is_terminal, now_secs};
use crate::local::resources::Resources;
use crate::local::validation::has_capability;
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::TaskState;
use pb::framework_info::capability::Type as Capability;
use pb::scheduler::{Event, event};
use pb::task_status::{Reason, Source};

/// Messages to the ticker thread.
pub(crate) enum Tick {
    /// Something changed; recompute the next deadline.
    Wake,
    Stop,
}

pub(super) const MAX_COMPLETED_TASKS: usize = 1000;

pub(super) const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// An open subscription stream.
pub(crate) struct SchedulerStream {
    pub stream_id: String,
    pub(super) enc: Encoding,
    pub(super) tx: Sender<Vec<u8>>,
    pub(super) next_heartbeat: Instant,
}

/// The master's record of a task.
pub(crate) struct MasterTask {
    pub task: pb::Task,
    pub resources: Resources,
    /// Resources already given back (the task reached a terminal state).
    pub released: bool,
}

pub(crate) struct MasterExecutor {
    pub info: pb::ExecutorInfo,
    pub resources: Resources,
}

pub(crate) struct MasterOffer {
    pub offer: pb::Offer,
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Resources,
}

/// A refuse filter: `resources` on one agent are not offered to one role of
/// a framework until `expires`.
pub(crate) struct Filter {
    pub(super) resources: Resources,
    pub(super) expires: Instant,
}

pub(crate) struct Framework {
    pub id: String,
    pub info: pb::FrameworkInfo,
    pub roles: Vec<String>,
    pub suppressed: BTreeSet<String>,
    pub conn: Option<SchedulerStream>,
    pub active: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: f64,
    pub(super) failover_deadline: Option<Instant>,
    pub offers: BTreeSet<String>,
    pub(super) filters: BTreeMap<(String, String), Filter>,
    pub tasks: BTreeMap<String, MasterTask>,
    pub completed_tasks: VecDeque<pb::Task>,
    /// (agent id, executor id) → executor, for non-command executors.
    pub executors: BTreeMap<(String, String), MasterExecutor>,
    /// The offer constraints of the last SUBSCRIBE or UPDATE_FRAMEWORK.
    pub offer_constraints: Option<pb::scheduler::OfferConstraints>,
}

impl Framework {
    pub(super) fn new(
        info: pb::FrameworkInfo,
        roles: Vec<String>,
        suppressed: BTreeSet<String>,
    ) -> Framework {
        Framework {
            id: info
                .id
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            info,
            roles,
            suppressed,
            conn: None,
            active: false,
            registered_time: now_secs(),
            reregistered_time: None,
            unregistered_time: 0.0,
            failover_deadline: None,
            offers: BTreeSet::new(),
            filters: BTreeMap::new(),
            tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            executors: BTreeMap::new(),
            offer_constraints: None,
        }
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    pub fn partition_aware(&self) -> bool {
        has_capability(&self.info, Capability::PartitionAware)
    }

    /// Sends an event on the subscription stream, if there is one.
    pub(super) fn send(&mut self, ev: &Event) {
        if let Some(c) = &self.conn {
            let bytes = codec::encode(ev, c.enc);
            let _ = c.tx.send(recordio::encode(&bytes));
        }
    }

    /// Resources of the framework's live tasks and executors (optionally on one agent).
    pub fn used(&self, agent: Option<&str>) -> Resources {
        let mut r = Resources::new();
        for t in self.tasks.values() {
            if !t.released && agent.is_none_or(|a| t.task.agent_id.value == a) {
                r.add(&t.resources);
            }
        }
        for ((a, _), e) in &self.executors {
            if agent.is_none_or(|x| x == a) {
                r.add(&e.resources);
            }
        }
        r
    }
}

/// The result of a SUBSCRIBE: the stream to return (and what closes it).
pub(crate) struct Subscription {
    pub stream_id: String,
    pub rx: Receiver<Vec<u8>>,
    /// The subscribed framework (None if the subscription was refused).
    pub framework_id: Option<String>,
}

pub(crate) struct Master {
    pub cfg: ClusterConfig,
    pub id: String,
    pub info: pb::MasterInfo,
    pub started: bool,
    pub(super) stopped: bool,
    /// Elected (always, without ZooKeeper).
    pub leading: bool,
    pub start_time: f64,
    pub work_dir: PathBuf,
    pub addr: Option<SocketAddr>,
    pub(super) agent_total: Resources,
    pub(super) ctx: AgentCtx,
    pub agents: BTreeMap<String, Agent>,
    pub agent_registered: BTreeMap<String, f64>,
    pub agent_reregistered: BTreeMap<String, f64>,
    /// What operators did to agents (deactivation, draining).
    pub admin: BTreeMap<String, AgentAdmin>,
    /// Agents marked gone, with when.
    pub gone: BTreeMap<String, f64>,
    /// Threads waiting on the processes of agents removed from the cluster.
    pub(super) orphan_waiters: Vec<JoinHandle<()>>,
    /// Operator SUBSCRIBE streams.
    pub(super) op_streams: Vec<OperatorStream>,
    pub(super) next_op_stream: u64,
    /// Logging level, weights, quotas, maintenance, counters.
    pub settings: OperatorSettings,
    pub frameworks: BTreeMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub offers: BTreeMap<String, MasterOffer>,
    /// Kills for tasks on stopped agents, retried when they come back.
    pub(super) pending_kills: BTreeMap<String, Vec<(String, String)>>,
    pub(super) next_framework: u64,
    pub(super) next_offer: u64,
    pub(super) next_allocation: Instant,
    pub(super) waker: Sender<Tick>,
}

pub(super) fn framework_id_proto(id: &str) -> pb::FrameworkId {
    pb::FrameworkId { value: id.into() }
}

pub(super) fn event(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

pub(super) fn error_event(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.into(),
        }),
        ..event(event::Type::Error)
    }
}

pub(super) fn update_event(status: pb::TaskStatus) -> Event {
    Event {
        update: Some(event::Update { status }),
        ..event(event::Type::Update)
    }
}

/// A status update generated by the master (no uuid: never acknowledged).
pub(super) fn master_status(
    task_id: &str,
    agent_id: Option<&str>,
    state: TaskState,
    message: &str,
    reason: Reason,
    executor_id: Option<&str>,
) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: pb::TaskId {
            value: task_id.into(),
        },
        state: state as i32,
        message: Some(message.into()),
        source: Some(Source::Master as i32),
        reason: Some(reason as i32),
        agent_id: agent_id.map(|a| pb::AgentId { value: a.into() }),
        executor_id: executor_id.map(|e| pb::ExecutorId { value: e.into() }),
        timestamp: Some(now_secs()),
        ..Default::default()
    }
}

/// The capabilities a Mesos 1.11 master announces in `MasterInfo`:
/// AGENT_UPDATE, AGENT_DRAINING, and QUOTA_V2, which 1.11's v1 `MasterInfo`
/// does not name yet, so its JSON shows it as an empty object (a type left
/// unset here writes the same `{}`).
pub(crate) fn master_capabilities() -> Vec<pb::master_info::Capability> {
    use pb::master_info::{Capability, capability::Type};
    vec![
        Capability {
            r#type: Some(Type::AgentUpdate as i32),
        },
        Capability {
            r#type: Some(Type::AgentDraining as i32),
        },
        Capability { r#type: None },
    ]
}

/// Records an update in the master's task (`Master::updateTask`): the
/// task takes `latest` unless it has ended already, the update joins its
/// statuses without its `data` (replacing the last one when that had the
/// same state), and resources are released at a terminal state. True when
/// the update brings a new state, which operator subscribers hear of.
pub(super) fn record_status(
    t: &mut MasterTask,
    status: &pb::TaskStatus,
    latest: TaskState,
) -> bool {
    if status.uuid.is_some() {
        t.task.status_update_state = Some(status.state);
        t.task.status_update_uuid = status.uuid.clone();
    }
    let was_terminal = is_terminal(t.task.state());
    if !was_terminal {
        t.task.set_state(latest);
    }
    let mut recorded = status.clone();
    recorded.data = None;
    let same = t
        .task
        .statuses
        .last()
        .is_some_and(|s| s.state == recorded.state);
    if same {
        t.task.statuses.pop();
    }
    t.task.statuses.push(recorded);
    if !was_terminal && is_terminal(latest) {
        t.released = true;
    }
    !same
}

pub(super) fn push_completed(list: &mut VecDeque<pb::Task>, t: pb::Task) {
    list.push_back(t);
    while list.len() > MAX_COMPLETED_TASKS {
        list.pop_front();
    }
}

impl Master {
    pub fn new(
        cfg: ClusterConfig,
        id: String,
        work_dir: PathBuf,
        agent_total: Resources,
        report: ProcessReporter,
        waker: Sender<Tick>,
    ) -> Master {
        Master {
            ctx: AgentCtx { report },
            cfg,
            id,
            info: pb::MasterInfo::default(),
            started: false,
            stopped: false,
            leading: true,
            start_time: now_secs(),
            work_dir,
            addr: None,
            agent_total,
            agents: BTreeMap::new(),
            agent_registered: BTreeMap::new(),
            agent_reregistered: BTreeMap::new(),
            admin: BTreeMap::new(),
            gone: BTreeMap::new(),
            orphan_waiters: vec![],
            op_streams: vec![],
            next_op_stream: 0,
            settings: OperatorSettings::default(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            offers: BTreeMap::new(),
            pending_kills: BTreeMap::new(),
            next_framework: 0,
            next_offer: 0,
            next_allocation: Instant::now(),
            waker,
        }
    }

    /// Stops everything: kills the task processes, closes the streams.
    /// Returns the threads waiting on task processes (join them unlocked).
    pub fn shutdown(&mut self) -> Vec<JoinHandle<()>> {
        self.stopped = true;
        for fw in self.frameworks.values_mut() {
            fw.conn = None;
        }
        self.op_streams.clear();
        let mut waiters = std::mem::take(&mut self.orphan_waiters);
        for a in self.agents.values_mut() {
            waiters.extend(a.kill_all());
        }
        waiters
    }

    pub(super) fn wake(&self) {
        let _ = self.waker.send(Tick::Wake);
    }

    pub(super) fn allocate_soon(&mut self) {
        self.next_allocation = Instant::now();
        self.wake();
    }
}
