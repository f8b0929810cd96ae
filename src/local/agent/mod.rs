//! One agent: its executors and task processes, its side of the executor
//! HTTP API, and its task status-update manager (per task, one update in
//! flight to the master, retried with doubling backoff until the
//! scheduler's acknowledgement comes back).
//!
//! Three kinds of executors, as on a real agent:
//! - command tasks run the way the Mesos command executor runs them
//!   (executor id = task id, one process per task);
//! - DEFAULT-executor task groups run the way the default executor runs them
//!   (one process per task; a failed or killed task kills its group);
//! - custom executors are real processes that subscribe to
//!   `/api/v1/executor` and get LAUNCH/KILL/SHUTDOWN events.
//!
//! The agent talks to the master only through [`ToMaster`] messages in its
//! outbox, and its process threads through a [`ProcessReporter`]; the
//! master calls the agent, never the other way round.
//!
//! What lives here, by job:
//! - `model`: the agent, its frameworks, executors and tasks;
//! - `builtin_executors`: command tasks and the default executor's groups;
//! - `custom_executors`: launching and feeding a framework's executor;
//! - `executor_api`: the agent's side of `/api/v1/executor`;
//! - `processes`: process threads and what their start and exit do;
//! - `kill`: KILL, SHUTDOWN, framework removal (decisions in pure functions);
//! - `drain`: draining the agent for DRAIN_AGENT (rules in pure functions);
//! - `operator_api`: the agent's state as operator API messages;
//! - `status_updates` and `update_manager`: reliable status updates;
//! - `timers`: retries, kill escalation, executor timeouts;
//! - `recovery`: agent restarts (`--recover=reconnect`);
//! - `env`: the environment of the processes it starts;
//! - `state`: the agent's `/state` JSON.
//!
//! May import: the cluster's leaf modules (`protocol`, `config`, `fetcher`,
//! `launcher`, `resources`, `validation`); never `master` or the HTTP
//! layer.
//!
//! [`ToMaster`]: crate::local::protocol::ToMaster

mod builtin_executors;
mod custom_executors;
mod drain;
mod env;
mod executor_api;
mod kill;
mod model;
mod operator_api;
mod processes;
mod recovery;
mod state;
mod status_updates;
mod timers;
mod update_manager;

pub(crate) use env::stout;
pub(crate) use executor_api::HttpError;
pub(crate) use model::{Agent, AgentFlags};
pub(crate) use operator_api::{AGENT_JSON_KEEP, AgentReply};
pub(crate) use processes::{AgentCtx, ProcKey, ProcessEvent, ProcessReporter};
