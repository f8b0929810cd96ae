//! The master: frameworks and their subscription streams, offers and the
//! allocator, the scheduler calls, the master's view of tasks, and the
//! timers (allocation cycles, heartbeats, failover timeouts). Semantics
//! follow `src/master/master.cpp` of Mesos 1.11.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::wire::pb::executor as xpb;
use crossbeam_channel::{Receiver, Sender};

use super::agent::{
    Agent, AgentCtx, AgentFlags, HttpError, ProcKey, ProcessEvent, ProcessReporter,
};
use super::config::ClusterConfig;
use super::fetcher::{Fetcher, FetcherConfig};
use super::launcher::Exit;
use super::protocol::{ToMaster, VERSION, agent_id, is_terminal, new_uuid, now_secs, uuid_string};
use super::resources::Resources;
use super::validation::{self, TaskCtx, framework_roles, has_capability};
use crate::wire::codec::{self, Encoding};
use crate::wire::{pb, recordio};
use pb::TaskState;
use pb::framework_info::capability::Type as Cap;
use pb::scheduler::{Event, event};
use pb::task_status::{Reason, Source};

mod agents;
mod offers;

use offers::Filter;

/// Messages to the ticker thread.
pub(crate) enum Tick {
    /// Something changed; recompute the next deadline.
    Wake,
    Stop,
}

const MAX_COMPLETED_TASKS: usize = 1000;
const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// An open subscription stream.
pub(crate) struct SchedulerStream {
    pub stream_id: String,
    enc: Encoding,
    tx: Sender<Vec<u8>>,
    next_heartbeat: Instant,
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
    failover_deadline: Option<Instant>,
    pub offers: BTreeSet<String>,
    filters: BTreeMap<(String, String), Filter>,
    pub tasks: BTreeMap<String, MasterTask>,
    pub completed_tasks: VecDeque<pb::Task>,
    /// (agent id, executor id) → executor, for non-command executors.
    pub executors: BTreeMap<(String, String), MasterExecutor>,
}

impl Framework {
    fn new(info: pb::FrameworkInfo, roles: Vec<String>, suppressed: BTreeSet<String>) -> Framework {
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
        }
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    pub fn partition_aware(&self) -> bool {
        has_capability(&self.info, Cap::PartitionAware)
    }

    /// Sends an event on the subscription stream, if there is one.
    fn send(&mut self, ev: &Event) {
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
    stopped: bool,
    /// Elected (always, without ZooKeeper).
    pub leading: bool,
    pub start_time: f64,
    pub work_dir: PathBuf,
    pub addr: Option<SocketAddr>,
    agent_total: Resources,
    ctx: AgentCtx,
    pub agents: BTreeMap<String, Agent>,
    pub agent_registered: BTreeMap<String, f64>,
    pub frameworks: BTreeMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub offers: BTreeMap<String, MasterOffer>,
    /// Kills for tasks on stopped agents, retried when they come back.
    pending_kills: BTreeMap<String, Vec<(String, String)>>,
    next_framework: u64,
    next_offer: u64,
    next_allocation: Instant,
    waker: Sender<Tick>,
}

fn framework_id_proto(id: &str) -> pb::FrameworkId {
    pb::FrameworkId { value: id.into() }
}

fn event(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn error_event(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.into(),
        }),
        ..event(event::Type::Error)
    }
}

fn update_event(status: pb::TaskStatus) -> Event {
    Event {
        update: Some(event::Update { status }),
        ..event(event::Type::Update)
    }
}

/// A status update generated by the master (no uuid: never acknowledged).
fn master_status(
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

    /// Called once the servers listen: fixes the addresses, registers the
    /// agents (one per address in `agent_addrs`).
    pub fn start(&mut self, addr: SocketAddr, agent_addrs: &[SocketAddr]) {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => v4,
            _ => std::net::Ipv4Addr::LOCALHOST,
        };
        let host = self.cfg.hostname.clone();
        let port = addr.port();
        self.addr = Some(addr);
        self.info = pb::MasterInfo {
            id: self.id.clone(),
            // The IPv4 address in network byte order, read as a host integer.
            ip: u32::from_ne_bytes(ip.octets()),
            port: u32::from(port),
            pid: Some(format!("master@{ip}:{port}")),
            hostname: Some(host.clone()),
            version: Some(VERSION.into()),
            address: Some(pb::Address {
                hostname: Some(host.clone()),
                ip: Some(ip.to_string()),
                port: i32::from(port),
            }),
            capabilities: master_capabilities(),
            ..Default::default()
        };
        for (n, agent_addr) in agent_addrs.iter().enumerate() {
            let agent_id = agent_id(&self.id, n);
            let agent_port = agent_addr.port();
            let info = pb::AgentInfo {
                hostname: host.clone(),
                port: Some(i32::from(agent_port)),
                resources: self.agent_total.to_proto(false, None),
                id: Some(pb::AgentId {
                    value: agent_id.clone(),
                }),
                ..Default::default()
            };
            let dir = self.work_dir.join("agents").join(&agent_id);
            let fetcher = Fetcher::new(FetcherConfig {
                cache_dir: self
                    .cfg
                    .fetcher_cache_dir
                    .clone()
                    .unwrap_or_else(|| self.work_dir.join("fetch"))
                    .join(format!("agent-{n}")),
                cache_size: self.cfg.fetcher_cache_size,
                stall_timeout: self.cfg.fetcher_stall_timeout,
                ca_file: self.cfg.tls_ca_file.clone(),
            });
            self.agents.insert(
                agent_id.clone(),
                Agent::new(
                    agent_id.clone(),
                    format!("{ip}:{agent_port}"),
                    info,
                    self.agent_total.clone(),
                    dir,
                    AgentFlags::from_config(&self.cfg),
                    Arc::new(fetcher),
                ),
            );
            self.agent_registered.insert(agent_id, now_secs());
        }
        self.next_allocation = Instant::now();
        self.started = true;
    }

    /// Stops everything: kills the task processes, closes the streams.
    /// Returns the threads waiting on task processes (join them unlocked).
    pub fn shutdown(&mut self) -> Vec<JoinHandle<()>> {
        self.stopped = true;
        for fw in self.frameworks.values_mut() {
            fw.conn = None;
        }
        let mut waiters = vec![];
        for a in self.agents.values_mut() {
            waiters.extend(a.kill_all());
        }
        waiters
    }

    fn wake(&self) {
        let _ = self.waker.send(Tick::Wake);
    }

    fn allocate_soon(&mut self) {
        self.next_allocation = Instant::now();
        self.wake();
    }

    // ------------------------------------------------------------ timers

    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.started || self.stopped {
            return None;
        }
        let mut d = Some(self.next_allocation);
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |x| x.min(t)));
            }
        };
        for fw in self.frameworks.values() {
            earliest(fw.conn.as_ref().map(|c| c.next_heartbeat));
            earliest(fw.failover_deadline);
        }
        for a in self.agents.values() {
            earliest(a.next_deadline());
        }
        d
    }

    pub fn tick(&mut self, now: Instant) {
        if !self.started || self.stopped {
            return;
        }
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| f.conn.is_none() && f.failover_deadline.is_some_and(|d| d <= now))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.remove_framework(&id);
        }
        let interval = self.cfg.heartbeat_interval;
        let hb = event(event::Type::Heartbeat);
        for fw in self.frameworks.values_mut() {
            let due = fw.conn.as_ref().is_some_and(|c| c.next_heartbeat <= now);
            if due {
                fw.send(&hb);
                if let Some(c) = &mut fw.conn {
                    c.next_heartbeat = now + interval;
                }
            }
        }
        for a in self.agents.values_mut() {
            a.tick(now);
        }
        if self.next_allocation <= now {
            self.allocate(now);
            self.next_allocation = now + self.cfg.allocation_interval;
        }
        self.pump();
    }

    // ------------------------------------------------------------ agents → master

    /// Processes everything the agents have queued for the master.
    pub fn pump(&mut self) {
        self.reregister_ready_agents();
        loop {
            let mut msgs = vec![];
            // A stopped agent cannot reach the master.
            for a in self.agents.values_mut().filter(|a| a.registered) {
                for m in a.outbox.drain(..) {
                    msgs.push((a.id.clone(), m));
                }
            }
            if msgs.is_empty() {
                return;
            }
            for (agent_id, m) in msgs {
                match m {
                    ToMaster::StatusUpdate {
                        framework_id,
                        status,
                        latest_state,
                    } => self.status_update(&agent_id, &framework_id, *status, latest_state),
                    ToMaster::ExitedExecutor {
                        framework_id,
                        executor_id,
                        status,
                    } => self.exited_executor(&agent_id, &framework_id, &executor_id, status),
                    ToMaster::FrameworkMessage {
                        framework_id,
                        executor_id,
                        data,
                    } => {
                        if let Some(fw) = self.frameworks.get_mut(&framework_id) {
                            fw.send(&Event {
                                message: Some(event::Message {
                                    agent_id: pb::AgentId {
                                        value: agent_id.clone(),
                                    },
                                    executor_id: pb::ExecutorId { value: executor_id },
                                    data,
                                }),
                                ..event(event::Type::Message)
                            });
                        }
                    }
                }
            }
        }
    }

    /// `Master::statusUpdate` + `forward` + `updateTask`.
    fn status_update(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        status: pb::TaskStatus,
        latest: TaskState,
    ) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        fw.send(&update_event(status.clone()));
        let Some(t) = fw.tasks.get_mut(&status.task_id.value) else {
            return;
        };
        if t.task.agent_id.value != agent_id {
            return;
        }
        if status.uuid.is_some() {
            t.task.status_update_state = Some(status.state);
            t.task.status_update_uuid = status.uuid.clone();
        }
        let was_terminal = is_terminal(t.task.state());
        if !was_terminal {
            t.task.set_state(latest);
        }
        let mut recorded = status;
        recorded.data = None;
        if t.task
            .statuses
            .last()
            .is_some_and(|s| s.state == recorded.state)
        {
            t.task.statuses.pop();
        }
        t.task.statuses.push(recorded);
        if !was_terminal && is_terminal(latest) {
            t.released = true;
        }
    }

    fn exited_executor(&mut self, agent_id: &str, fw_id: &str, exec_id: &str, status: i32) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw
            .executors
            .remove(&(agent_id.to_string(), exec_id.to_string()))
            .is_none()
        {
            return;
        }
        fw.send(&Event {
            failure: Some(event::Failure {
                agent_id: Some(pb::AgentId {
                    value: agent_id.into(),
                }),
                executor_id: Some(pb::ExecutorId {
                    value: exec_id.into(),
                }),
                status: Some(status),
            }),
            ..event(event::Type::Failure)
        });
    }

    /// What became of a task or executor process (from its thread).
    pub fn process_event(&mut self, key: &ProcKey, event: ProcessEvent) {
        match event {
            ProcessEvent::Started(pid) => self.proc_started(key, pid),
            ProcessEvent::LaunchFailed(msg) => self.proc_launch_failed(key, msg),
            ProcessEvent::Exited(exit) => self.proc_exited(key, exit),
        }
    }

    /// A task or executor process started (from its thread).
    fn proc_started(&mut self, key: &ProcKey, pid: i32) {
        if self.stopped {
            super::launcher::signal_group(pid, libc::SIGKILL);
            return;
        }
        if let Some(a) = self.agents.get_mut(&key.agent_id) {
            a.proc_started(key, pid);
        }
        self.pump();
        self.wake();
    }

    fn proc_launch_failed(&mut self, key: &ProcKey, msg: String) {
        if self.stopped {
            return;
        }
        if let Some(a) = self.agents.get_mut(&key.agent_id) {
            a.launch_failed(key, msg);
        }
        self.pump();
        self.wake();
    }

    fn proc_exited(&mut self, key: &ProcKey, exit: Exit) {
        if self.stopped {
            return;
        }
        if let Some(a) = self.agents.get_mut(&key.agent_id) {
            a.proc_exited(key, exit);
        }
        self.pump();
        self.wake();
    }

    // ------------------------------------------------------------ executor API

    /// The executor an authentication token belongs to, on an agent.
    pub fn token_claims(&self, agent_id: &str, token: &str) -> Option<(String, String, String)> {
        self.agents.get(agent_id)?.token_claims(token)
    }

    pub fn executor_lookup(
        &self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        claims: Option<&(String, String, String)>,
    ) -> Result<bool, HttpError> {
        match self.agents.get(agent_id) {
            Some(a) if !a.running => Err((503, "Agent has not finished recovery".into())),
            Some(a) => a.executor_lookup(fw_id, exec_id, claims),
            None => Err((400, "Framework cannot be found".into())),
        }
    }

    pub fn executor_subscribe(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        sub: xpb::call::Subscribe,
        enc: Encoding,
    ) -> Option<(Receiver<Vec<u8>>, u64)> {
        let a = self.agents.get_mut(agent_id)?;
        let r = a.executor_subscribe(fw_id, exec_id, sub, enc);
        self.pump();
        self.wake();
        Some(r)
    }

    pub fn executor_update(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        status: pb::TaskStatus,
    ) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_update(fw_id, exec_id, status);
        }
        self.pump();
        self.wake();
    }

    pub fn executor_message(&mut self, agent_id: &str, fw_id: &str, exec_id: &str, data: Vec<u8>) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_message(fw_id, exec_id, data);
        }
        self.pump();
    }

    pub fn executor_stream_closed(
        &mut self,
        agent_id: &str,
        fw_id: &str,
        exec_id: &str,
        conn_id: u64,
    ) {
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.executor_stream_closed(fw_id, exec_id, conn_id);
        }
    }

    // ------------------------------------------------------------ subscription

    /// SUBSCRIBE (after the HTTP-level checks): always a stream; an invalid
    /// subscription gets one ERROR event and the stream closes.
    pub fn subscribe(
        &mut self,
        sub: pb::scheduler::call::Subscribe,
        enc: Encoding,
    ) -> Subscription {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stream_id = uuid_string(&new_uuid());
        let refuse = |msg: &str| {
            let bytes = codec::encode(&error_event(msg), enc);
            let _ = tx.send(recordio::encode(&bytes));
        };
        let mut info = sub.framework_info;
        if let Err(e) = validation::validate_framework(&info) {
            refuse(&e);
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let requested = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        if let Some(id) = &requested
            && self.completed_frameworks.iter().any(|f| &f.id == id)
        {
            refuse("Framework has been removed");
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let roles = framework_roles(&info);
        let checks =
            validation::validate_suppressed_roles(&roles, &sub.suppressed_roles).and_then(|_| {
                validation::validate_offer_constraints(&roles, sub.offer_constraints.as_ref())
            });
        if let Err(e) = checks {
            refuse(&e);
            return Subscription {
                stream_id,
                rx,
                framework_id: None,
            };
        }
        let suppressed: BTreeSet<String> = sub.suppressed_roles.into_iter().collect();
        let now = Instant::now();
        let conn = SchedulerStream {
            stream_id: stream_id.clone(),
            enc,
            tx: tx.clone(),
            next_heartbeat: now + self.cfg.heartbeat_interval,
        };

        let id = match requested {
            None => {
                let id = format!("{}-{:04}", self.id, self.next_framework);
                self.next_framework += 1;
                info.id = Some(framework_id_proto(&id));
                let mut fw = Framework::new(info, roles, suppressed);
                fw.conn = Some(conn);
                fw.active = true;
                self.frameworks.insert(id.clone(), fw);
                id
            }
            Some(id) => {
                if let Some(old) = self.frameworks.get(&id) {
                    // Changes to these are ignored on re-subscription.
                    info.user = old.info.user.clone();
                    info.checkpoint = old.info.checkpoint;
                    if let Err(e) = validation::validate_update(&old.info, &info) {
                        refuse(&e);
                        return Subscription {
                            stream_id,
                            rx,
                            framework_id: None,
                        };
                    }
                } else {
                    // An id this master does not know: the framework was
                    // registered with an earlier master; adopt it.
                    self.frameworks.insert(
                        id.clone(),
                        Framework::new(info.clone(), roles.clone(), BTreeSet::new()),
                    );
                }
                // Failover: the old connection (if any) gets an ERROR and closes,
                // the old offers are discarded.
                self.discard_offers_of(&id);
                let Some(fw) = self.frameworks.get_mut(&id) else {
                    return Subscription {
                        stream_id,
                        rx,
                        framework_id: None,
                    };
                };
                if fw.conn.is_some() {
                    fw.send(&error_event("Framework failed over"));
                }
                fw.info = info;
                fw.roles = roles;
                fw.suppressed = suppressed;
                fw.conn = Some(conn);
                fw.active = true;
                fw.failover_deadline = None;
                fw.reregistered_time = Some(now_secs());
                id
            }
        };
        crate::log!(
            crate::log::Level::Info,
            "master",
            "framework {id} subscribed (stream {stream_id})"
        );
        let subscribed = Event {
            subscribed: Some(event::Subscribed {
                framework_id: framework_id_proto(&id),
                heartbeat_interval_seconds: Some(self.cfg.heartbeat_interval.as_secs_f64()),
                master_info: Some(self.info.clone()),
            }),
            ..event(event::Type::Subscribed)
        };
        if let Some(fw) = self.frameworks.get_mut(&id) {
            fw.send(&subscribed);
            fw.send(&event(event::Type::Heartbeat));
        }
        for a in self.agents.values_mut().filter(|a| a.registered) {
            a.framework_resubscribed(&id);
        }
        self.allocate_soon();
        Subscription {
            stream_id,
            rx,
            framework_id: Some(id),
        }
    }

    /// The subscription stream ended (client went away, or we closed it).
    pub fn stream_closed(&mut self, fw_id: &str, stream_id: &str) {
        if self.stopped {
            return;
        }
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        if fw.conn.as_ref().is_none_or(|c| c.stream_id != stream_id) {
            return; // an older stream of a framework that has failed over
        }
        fw.conn = None;
        fw.active = false;
        fw.unregistered_time = now_secs();
        let timeout = validation::failover_timeout(&fw.info).unwrap_or_default();
        fw.failover_deadline = Some(Instant::now() + timeout);
        // Its offers are rescinded (the events go nowhere: it is disconnected).
        self.discard_offers_of(fw_id);
        self.wake();
    }

    /// No longer elected: every scheduler's stream closes (they go to the
    /// new leader); the frameworks wait out their failover timeouts here.
    pub fn abdicate(&mut self) {
        let ids: Vec<(String, String)> = self
            .frameworks
            .values()
            .filter_map(|f| f.conn.as_ref().map(|c| (f.id.clone(), c.stream_id.clone())))
            .collect();
        for (fw, stream) in ids {
            self.stream_closed(&fw, &stream);
        }
    }

    /// Removes a framework: kills its tasks, closes its stream.
    fn remove_framework(&mut self, fw_id: &str) {
        self.discard_offers_of(fw_id);
        let Some(mut fw) = self.frameworks.remove(fw_id) else {
            return;
        };
        fw.conn = None;
        fw.active = false;
        fw.unregistered_time = now_secs();
        // A stopped agent hears of it when it comes back.
        for a in self.agents.values_mut().filter(|a| a.registered) {
            a.shutdown_framework(fw_id);
        }
        let tasks = std::mem::take(&mut fw.tasks);
        for (_, mut t) in tasks {
            if !is_terminal(t.task.state()) {
                t.task.set_state(TaskState::TaskKilled);
            }
            push_completed(&mut fw.completed_tasks, t.task);
        }
        fw.executors.clear();
        fw.filters.clear();
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
    }

    // ------------------------------------------------------------ calls

    pub fn teardown(&mut self, fw_id: &str) {
        self.remove_framework(fw_id);
    }

    /// ACCEPT (`Master::accept` + `_accept`).
    pub fn accept(&mut self, fw_id: &str, accept: pb::scheduler::call::Accept) {
        use pb::offer::operation::Type as Op;
        let error = if accept.offer_ids.is_empty() {
            Some("No offers specified".to_string())
        } else {
            self.validate_offers(fw_id, &accept.offer_ids).err()
        };
        if let Some(error) = error {
            for oid in &accept.offer_ids {
                if self
                    .offers
                    .get(&oid.value)
                    .is_some_and(|o| o.framework_id == fw_id)
                {
                    self.remove_offer(&oid.value, false);
                }
            }
            let Some(fw) = self.frameworks.get_mut(fw_id) else {
                return;
            };
            let state = if fw.partition_aware() {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            let msg = format!("Task launched with invalid offers: {error}");
            for op in &accept.operations {
                for task in op_tasks(op) {
                    fw.send(&update_event(master_status(
                        &task.task_id.value,
                        Some(&task.agent_id.value),
                        state,
                        &msg,
                        Reason::InvalidOffers,
                        None,
                    )));
                }
                if op.id.is_some() && !matches!(op.r#type(), Op::Launch | Op::LaunchGroup) {
                    send_operation_error(
                        fw,
                        op,
                        &format!("Operation attempted with invalid offers: {error}"),
                    );
                }
            }
            return;
        }

        // Take the offers.
        let mut offered = Resources::new();
        let (mut agent_id, mut role) = (String::new(), String::new());
        for oid in &accept.offer_ids {
            if let Some(o) = self.remove_offer(&oid.value, false) {
                offered.add(&o.resources);
                agent_id = o.agent_id;
                role = o.role;
            }
        }
        let mut remaining = offered;
        let Some(fw) = self.frameworks.get(fw_id) else {
            return;
        };
        let fw_info = fw.info.clone();
        let mut launched: BTreeSet<String> = BTreeSet::new();

        for mut op in accept.operations {
            match op.r#type() {
                Op::Launch => {
                    let tasks = op.launch.take().map(|l| l.task_infos).unwrap_or_default();
                    if let Err(msg) = validation::validate_launch_resources(&tasks) {
                        for task in &tasks {
                            self.send_task_error(fw_id, task, &msg, Reason::TaskInvalid);
                        }
                        continue;
                    }
                    for mut task in tasks {
                        inject_allocation_role(&mut task.resources, &role);
                        if let Some(e) = &mut task.executor {
                            if e.framework_id.is_none() {
                                e.framework_id = Some(framework_id_proto(fw_id));
                            }
                            inject_allocation_role(&mut e.resources, &role);
                        }
                        let result = if op.id.is_some() {
                            Err("The `id` field cannot be set on LAUNCH operations".to_string())
                        } else {
                            self.validate_task(
                                fw_id,
                                &agent_id,
                                &role,
                                &remaining,
                                &launched,
                                |ctx| validation::validate_task(&task, ctx),
                            )
                        };
                        match result {
                            Err(msg) => {
                                self.send_task_error(fw_id, &task, &msg, Reason::TaskInvalid)
                            }
                            Ok(consumed) => {
                                remaining.subtract(&consumed);
                                launched.insert(task.task_id.value.clone());
                                self.launch_task(fw_id, &agent_id, &fw_info, task);
                            }
                        }
                    }
                }
                Op::LaunchGroup => {
                    let Some(lg) = op.launch_group.take() else {
                        continue;
                    };
                    let mut executor = lg.executor;
                    let mut group = lg.task_group;
                    if let Err(msg) = validation::validate_resources(&executor.resources)
                        .and_then(|_| validation::validate_launch_resources(&group.tasks))
                    {
                        for t in &group.tasks {
                            self.send_task_error(fw_id, t, &msg, Reason::TaskGroupInvalid);
                        }
                        continue;
                    }
                    inject_allocation_role(&mut executor.resources, &role);
                    for t in &mut group.tasks {
                        inject_allocation_role(&mut t.resources, &role);
                        if t.executor.is_none() {
                            t.executor = Some(executor.clone());
                        } else if let Some(e) = &mut t.executor {
                            inject_allocation_role(&mut e.resources, &role);
                        }
                    }
                    let result = if op.id.is_some() {
                        Err("The `id` field cannot be set on LAUNCH_GROUP operations".to_string())
                    } else {
                        self.validate_task(fw_id, &agent_id, &role, &remaining, &launched, |ctx| {
                            validation::validate_task_group(&group, &executor, ctx)
                        })
                    };
                    match result {
                        Err(msg) => {
                            for t in &group.tasks {
                                self.send_task_error(fw_id, t, &msg, Reason::TaskGroupInvalid);
                            }
                        }
                        Ok(consumed) => {
                            remaining.subtract(&consumed);
                            for t in &group.tasks {
                                launched.insert(t.task_id.value.clone());
                            }
                            self.launch_group(fw_id, &agent_id, &fw_info, executor, group);
                        }
                    }
                }
                Op::Unknown => {}
                _ => {
                    // Reservations, volumes and disks are not supported on
                    // the local agents (no RESOURCE_PROVIDER capability).
                    if op.id.is_some()
                        && let Some(fw) = self.frameworks.get_mut(fw_id)
                    {
                        send_operation_error(
                            fw,
                            &op,
                            &format!(
                                "Operation requested feedback, but agent {agent_id} does not have the required RESOURCE_PROVIDER capability"
                            ),
                        );
                    }
                }
            }
        }
        self.decline_resources(fw_id, &role, &agent_id, remaining, accept.filters.as_ref());
    }

    /// Runs a task validator with the context of this framework and agent.
    fn validate_task(
        &self,
        fw_id: &str,
        agent_id: &str,
        role: &str,
        remaining: &Resources,
        launched: &BTreeSet<String>,
        f: impl FnOnce(&TaskCtx<'_>) -> Result<Resources, String>,
    ) -> Result<Resources, String> {
        let fw = self
            .frameworks
            .get(fw_id)
            .ok_or("Framework cannot be found")?;
        let exists = |id: &str| fw.tasks.contains_key(id) || launched.contains(id);
        let existing = |id: &str| {
            fw.executors
                .get(&(agent_id.to_string(), id.to_string()))
                .map(|e| e.info.clone())
        };
        let ctx = TaskCtx {
            framework_id: fw_id,
            agent_id,
            task_exists: &exists,
            existing_executor: &existing,
            available: remaining,
            role,
        };
        f(&ctx)
    }

    fn send_task_error(&mut self, fw_id: &str, task: &pb::TaskInfo, msg: &str, reason: Reason) {
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            fw.send(&update_event(master_status(
                &task.task_id.value,
                Some(&task.agent_id.value),
                TaskState::TaskError,
                msg,
                reason,
                None,
            )));
        }
    }

    /// ACCEPT offer checks (`validation::offer::validate`).
    fn validate_offers(&self, fw_id: &str, ids: &[pb::OfferId]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id.value.as_str()) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        let mut offers = vec![];
        for id in ids {
            let o = self
                .offers
                .get(&id.value)
                .ok_or_else(|| format!("Offer {} is no longer valid", id.value))?;
            offers.push(o);
        }
        for o in &offers {
            if o.framework_id != fw_id {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {} is expected",
                    o.offer.id.value, o.framework_id, fw_id
                ));
            }
        }
        if let Some(first) = offers.first() {
            for o in &offers {
                if o.role != first.role {
                    return Err(format!(
                        "Aggregated offers must be allocated to the same role. Offer {} uses role '{} but another is using role '{}",
                        o.offer.id.value, o.role, first.role
                    ));
                }
            }
            for o in &offers {
                if o.agent_id != first.agent_id {
                    return Err(format!(
                        "Aggregated offers must belong to one single agent. Offer {} uses agent {} and agent {}",
                        o.offer.id.value, o.agent_id, first.agent_id
                    ));
                }
            }
        }
        Ok(())
    }

    fn add_task(
        &mut self,
        fw_id: &str,
        agent_id: &str,
        fw_info: &pb::FrameworkInfo,
        task: &pb::TaskInfo,
    ) {
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let user = task
            .command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| Some(fw_info.user.clone()));
        let record = pb::Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: framework_id_proto(fw_id),
            executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: pb::AgentId {
                value: agent_id.into(),
            },
            state: TaskState::TaskStaging as i32,
            resources: task.resources.clone(),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user,
            limits: task.limits.clone(),
            ..Default::default()
        };
        let resources = Resources::from_proto(&task.resources).unwrap_or_default();
        fw.tasks.insert(
            task.task_id.value.clone(),
            MasterTask {
                task: record,
                resources,
                released: false,
            },
        );
        if let Some(e) = &task.executor {
            let key = (agent_id.to_string(), e.executor_id.value.clone());
            fw.executors.entry(key).or_insert_with(|| MasterExecutor {
                info: e.clone(),
                resources: Resources::from_proto(&e.resources).unwrap_or_default(),
            });
        }
    }

    fn launch_task(
        &mut self,
        fw_id: &str,
        agent_id: &str,
        fw_info: &pb::FrameworkInfo,
        task: pb::TaskInfo,
    ) {
        self.add_task(fw_id, agent_id, fw_info, &task);
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.run_task(&self.ctx, fw_info, task);
        }
    }

    fn launch_group(
        &mut self,
        fw_id: &str,
        agent_id: &str,
        fw_info: &pb::FrameworkInfo,
        executor: pb::ExecutorInfo,
        group: pb::TaskGroupInfo,
    ) {
        for t in &group.tasks {
            self.add_task(fw_id, agent_id, fw_info, t);
        }
        if let Some(a) = self.agents.get_mut(agent_id) {
            a.run_task_group(&self.ctx, fw_info, executor, group);
        }
    }

    /// KILL: unknown tasks are answered by reconciliation.
    pub fn kill(&mut self, fw_id: &str, kill: pb::scheduler::call::Kill) {
        let Some(fw) = self.frameworks.get(fw_id) else {
            return;
        };
        let Some(t) = fw.tasks.get(&kill.task_id.value) else {
            let task = pb::scheduler::call::reconcile::Task {
                task_id: kill.task_id.clone(),
                agent_id: kill.agent_id.clone(),
            };
            self.reconcile(fw_id, vec![task]);
            return;
        };
        if kill
            .agent_id
            .as_ref()
            .is_some_and(|a| a.value != t.task.agent_id.value)
        {
            return;
        }
        let agent_id = t.task.agent_id.value.clone();
        match self.agents.get_mut(&agent_id) {
            Some(a) if a.registered => {
                a.kill_task(fw_id, &kill.task_id.value, kill.kill_policy.as_ref())
            }
            // "Kill will be retried if the agent reregisters."
            Some(_) => self
                .pending_kills
                .entry(agent_id)
                .or_default()
                .push((fw_id.to_string(), kill.task_id.value)),
            None => {}
        }
    }

    /// SHUTDOWN: dropped if the agent is stopped (as Mesos drops it for a
    /// disconnected agent).
    pub fn shutdown_executor(&mut self, fw_id: &str, s: pb::scheduler::call::Shutdown) {
        if let Some(a) = self.agents.get_mut(&s.agent_id.value)
            && a.registered
        {
            a.shutdown_executor(fw_id, &s.executor_id.value);
        }
    }

    /// ACKNOWLEDGE: forwarded to the agent; a task whose terminal update is
    /// acknowledged leaves the master (into `completed_tasks`).
    /// Dropped if the agent is stopped: it resends the update when it comes
    /// back.
    pub fn acknowledge(&mut self, fw_id: &str, ack: pb::scheduler::call::Acknowledge) {
        let agent_id = ack.agent_id.value.clone();
        if !self.agents.get(&agent_id).is_some_and(|a| a.registered) {
            return;
        }
        let task_id = ack.task_id.value.clone();
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            let remove = fw.tasks.get(&task_id).is_some_and(|t| {
                t.task.agent_id.value == agent_id
                    && t.task.status_update_state.is_some_and(|s| {
                        TaskState::try_from(s).is_ok_and(is_terminal)
                            && t.task.status_update_uuid.as_deref() == Some(&ack.uuid)
                    })
            });
            if remove && let Some(t) = fw.tasks.remove(&task_id) {
                push_completed(&mut fw.completed_tasks, t.task);
            }
        }
        if let Some(a) = self.agents.get_mut(&agent_id) {
            a.acknowledge(fw_id, &task_id, &ack.uuid);
        }
    }

    /// RECONCILE (`Master::reconcile`).
    pub fn reconcile(&mut self, fw_id: &str, tasks: Vec<pb::scheduler::call::reconcile::Task>) {
        let agents: BTreeSet<String> = self.agents.keys().cloned().collect();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        let known = |t: &MasterTask| {
            let state = t
                .task
                .status_update_state
                .and_then(|s| TaskState::try_from(s).ok())
                .unwrap_or(t.task.state());
            let mut st = master_status(
                &t.task.task_id.value,
                Some(&t.task.agent_id.value),
                state,
                "Reconciliation: Latest task state",
                Reason::Reconciliation,
                t.task.executor_id.as_ref().map(|e| e.value.as_str()),
            );
            if let Some(last) = t.task.statuses.last() {
                st.healthy = last.healthy;
                st.container_status = last.container_status.clone();
            }
            st
        };
        let mut out = vec![];
        if tasks.is_empty() {
            out.extend(fw.tasks.values().map(known));
        } else {
            let pa = fw.partition_aware();
            for t in tasks {
                let tid = t.task_id.value.as_str();
                let agent = t.agent_id.as_ref().map(|a| a.value.as_str());
                let st = if let Some(task) = fw.tasks.get(tid) {
                    known(task)
                } else if let Some(a) = agent.filter(|a| agents.contains(*a)) {
                    master_status(
                        tid,
                        Some(a),
                        if pa {
                            TaskState::TaskGone
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown to the agent",
                        Reason::Reconciliation,
                        None,
                    )
                } else {
                    master_status(
                        tid,
                        agent,
                        if pa {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown",
                        Reason::Reconciliation,
                        None,
                    )
                };
                out.push(st);
            }
        }
        for st in out {
            fw.send(&update_event(st));
        }
    }

    /// MESSAGE: delivered to a subscribed custom executor, else dropped
    /// (best effort, as in Mesos).
    pub fn message(&mut self, fw_id: &str, m: pb::scheduler::call::Message) {
        if let Some(a) = self.agents.get_mut(&m.agent_id.value)
            && a.registered
        {
            a.framework_message(fw_id, &m.executor_id.value, m.data);
        }
    }

    /// RECONCILE_OPERATIONS: the local agents have no operations.
    pub fn reconcile_operations(
        &mut self,
        fw_id: &str,
        r: pb::scheduler::call::ReconcileOperations,
    ) {
        let agents: BTreeSet<String> = self.agents.keys().cloned().collect();
        let Some(fw) = self.frameworks.get_mut(fw_id) else {
            return;
        };
        for op in r.operations {
            let agent = op.agent_id.as_ref().map(|a| a.value.clone());
            let message = match &agent {
                Some(a) if agents.contains(a) => "Reconciliation: Operation is unknown",
                Some(_) => "Reconciliation: Both operation and agent are unknown",
                None => "Reconciliation: Operation is unknown and no 'agent_id' was provided",
            };
            let status = pb::OperationStatus {
                operation_id: Some(op.operation_id),
                state: pb::OperationState::OperationUnknown as i32,
                message: Some(message.into()),
                agent_id: agent.map(|value| pb::AgentId { value }),
                resource_provider_id: op.resource_provider_id,
                ..Default::default()
            };
            fw.send(&Event {
                update_operation_status: Some(event::UpdateOperationStatus { status }),
                ..event(event::Type::UpdateOperationStatus)
            });
        }
    }

    /// UPDATE_FRAMEWORK: `Err((code, body))` on rejection.
    pub fn update_framework(
        &mut self,
        fw_id: &str,
        uf: pb::scheduler::call::UpdateFramework,
    ) -> Result<(), String> {
        let info = uf.framework_info;
        validation::validate_framework(&info)
            .map_err(|e| format!("Supplied FrameworkInfo is not valid: {e}"))?;
        let Some(fw) = self.frameworks.get(fw_id) else {
            return Err("Framework cannot be found".into());
        };
        validation::validate_update(&fw.info, &info)
            .map_err(|e| format!("FrameworkInfo update is not valid: {e}"))?;
        let roles = framework_roles(&info);
        validation::validate_suppressed_roles(&roles, &uf.suppressed_roles)
            .and_then(|_| {
                validation::validate_offer_constraints(&roles, uf.offer_constraints.as_ref())
            })
            .map_err(|e| format!("'UpdateFramework' call is not valid: {e}"))?;
        let stale: Vec<String> = fw
            .offers
            .iter()
            .filter(|o| {
                self.offers
                    .get(*o)
                    .is_some_and(|o| !roles.contains(&o.role))
            })
            .cloned()
            .collect();
        for o in stale {
            self.remove_offer(&o, true);
        }
        if let Some(fw) = self.frameworks.get_mut(fw_id) {
            fw.info = info;
            fw.filters.retain(|(r, _), _| roles.contains(r));
            fw.roles = roles;
            fw.suppressed = uf.suppressed_roles.into_iter().collect();
        }
        self.allocate_soon();
        Ok(())
    }
}

fn push_completed(list: &mut VecDeque<pb::Task>, t: pb::Task) {
    list.push_back(t);
    while list.len() > MAX_COMPLETED_TASKS {
        list.pop_front();
    }
}

/// Sets `allocation_info.role` where the scheduler left it out.
fn inject_allocation_role(res: &mut [pb::Resource], role: &str) {
    for r in res {
        if r.allocation_info.is_none() {
            r.allocation_info = Some(pb::resource::AllocationInfo {
                role: Some(role.into()),
            });
        }
    }
}

/// The tasks a LAUNCH or LAUNCH_GROUP operation carries.
fn op_tasks(op: &pb::offer::Operation) -> Vec<&pb::TaskInfo> {
    use pb::offer::operation::Type as Op;
    match op.r#type() {
        Op::Launch => op.launch.iter().flat_map(|l| l.task_infos.iter()).collect(),
        Op::LaunchGroup => op
            .launch_group
            .iter()
            .flat_map(|l| l.task_group.tasks.iter())
            .collect(),
        _ => vec![],
    }
}

/// UPDATE_OPERATION_STATUS with OPERATION_ERROR for a dropped operation
/// that asked for feedback (`Master::drop`: no uuid, nothing to acknowledge).
fn send_operation_error(fw: &mut Framework, op: &pb::offer::Operation, message: &str) {
    let status = pb::OperationStatus {
        operation_id: op.id.clone(),
        state: pb::OperationState::OperationError as i32,
        message: Some(message.into()),
        ..Default::default()
    };
    fw.send(&Event {
        update_operation_status: Some(event::UpdateOperationStatus { status }),
        ..event(event::Type::UpdateOperationStatus)
    });
}
