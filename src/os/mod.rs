//! The operating system side: child processes for tasks (`process`), the
//! warm template process that forks them (`zygote`), message channels
//! between executor and task (`channel`), and SIGINT/SIGTERM (`signals`).
//!
//! May import: base, queue, log; never the network, the drivers, the local
//! cluster or the binding.

pub mod channel;
pub mod process;
pub mod signals;
pub mod zygote;
