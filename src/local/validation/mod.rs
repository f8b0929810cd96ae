//! Mesos's validation rules (`src/master/validation.cpp`,
//! `src/common/validation.cpp`, `src/common/roles.cpp`), with its messages:
//! scheduler calls, FrameworkInfo, tasks, task groups and executors.

//!
//! What lives here, by job: `names` (ids, roles), `framework`
//! (FrameworkInfo), `calls` (scheduler and executor calls), `operator`
//! (the master's and the agents' operator calls), `resources`,
//! `tasks` (tasks, task groups, executors). Pure functions only.
//!
//! May import: `resources` (the cluster's), the crate's `wire`; the master,
//! the agents and the HTTP layer import this.

mod calls;
mod framework;
mod names;
mod operator;
mod resources;
mod tasks;
#[cfg(test)]
mod tests;

pub use calls::{validate_call, validate_executor_call};
pub use framework::{
    failover_timeout, framework_roles, has_capability, validate_framework,
    validate_offer_constraints, validate_suppressed_roles, validate_update,
};
pub use names::validate_role;
pub use operator::{validate_agent_call, validate_master_call};
pub use resources::{validate_launch_resources, validate_resources};
pub use tasks::{TaskCtx, validate_task, validate_task_group};
