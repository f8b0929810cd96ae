//! The executor side: the agent's environment (env.rs), the protocol rules
//! as a sans-IO state machine (machine.rs: no sockets, threads, clocks or
//! randomness), and the driver that runs it on threads and sockets
//! (driver.rs).

pub mod driver;
pub mod env;
pub mod machine;
