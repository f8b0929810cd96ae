//! The scheduler side: connection state machine and driver.

pub mod machine;
