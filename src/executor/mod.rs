//! The executor side: the agent's environment and the executor driver.

pub mod driver;
pub mod env;
