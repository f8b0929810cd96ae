//! The scheduler side: connection state machine and driver.

pub mod driver;
pub mod machine;
