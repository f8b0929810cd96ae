//! The master: frameworks and their subscription streams, offers and the
//! allocator, the scheduler calls, the master's view of tasks, its agents,
//! and the timers (allocation cycles, heartbeats, failover timeouts).
//! Semantics follow `src/master/master.cpp` of Mesos 1.11.
//!
//! What lives here, by job:
//! - `model`: the master, its frameworks, tasks, executors and offers;
//! - `frameworks`: SUBSCRIBE, failover, TEARDOWN, UPDATE_FRAMEWORK;
//! - `accept`: ACCEPT with LAUNCH and LAUNCH_GROUP;
//! - `scheduler_calls`: KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE...;
//! - `offers`: offers, refuse filters and the allocator;
//! - `agents`: registering agents, their restarts;
//! - `from_agents`: status updates and other messages from the agents, and
//!   their process threads' events;
//! - `executor_api`: the executor API, relayed to the right agent;
//! - `timers`: allocation cycles, heartbeats, failover timeouts;
//! - `agent_admin`: what operators do to agents (deactivate, reactivate,
//!   drain, mark gone) and removing an agent;
//! - `operator_api`: the operator API's calls, dispatched;
//! - `operator_views`: the master's state as operator API messages;
//! - `operator_info`: flags, metrics, logging level, weights, quotas and
//!   maintenance as the operator API shows and changes them;
//! - `operator_events`: operator SUBSCRIBE streams and their events;
//! - `quota`: the checks of quota changes (pure).
//!
//! May import: `agent` (the master owns its agents and calls them; they
//! answer through their outboxes) and the cluster's leaf modules
//! (`protocol`, `config`, `fetcher`, `resources`, `validation`); never the
//! HTTP layer (`api`, `agent_api`, `state`) or `local` itself.

mod accept;
mod agent_admin;
mod agents;
mod executor_api;
mod frameworks;
mod from_agents;
mod model;
mod offers;
mod operator_api;
mod operator_events;
mod operator_info;
mod operator_state;
mod operator_views;
mod quota;
mod scheduler_calls;
mod timers;

pub(crate) use agent_admin::AdminError;
pub(crate) use model::{Framework, Master, MasterOffer, Tick};
pub(crate) use operator_api::{MASTER_JSON_KEEP, OperatorReply};
