//! A warm template process ("zygote") that forks one fresh child per task.
//!
//! Starting a task as `luajit -e 'require "mesos" ...'` costs an exec, the
//! dynamic loading of this library and the compilation of its Lua sources,
//! every time. A zygote pays that once: it is started like a task process,
//! loads everything, and then (in [`serve`]) waits for requests; for each
//! it forks a child, which returns from `serve` with the request's stdin
//! bytes and runs the task in a fresh copy of the warm process. Each task
//! still gets a process of its own (nothing a task does reaches the zygote
//! or another task), its own process group, an address-space limit, its
//! stdout and stderr on pipes to the parent, and a channel on fd 3.
//!
//! The parent side is [`ZygoteSpawner`], with the interface of
//! [`crate::os::process::Spawner`]: `spawn` returns (id, pid), completions come
//! out of `reap` and make `fd` readable.
//!
//! Protocol, over two Unix sockets the zygote finds on fds 3 and 4:
//! - control (stream), parent to zygote: a request ([`encode_request`]:
//!   flags, memory limit, the stdin bytes) with the child's stdout and
//!   stderr pipe ends (and its channel end) as `SCM_RIGHTS`; the zygote
//!   answers each with 8 bytes: the child's pid, or minus an errno.
//! - exits (seqpacket), zygote to parent: (pid, wait status) of each child
//!   it reaped.
//!
//! The parent closing the control socket ends the zygote once its
//! children have ended.
//!
//! Files: `request.rs` (the request's bytes and wait statuses),
//! `fd_passing.rs` (sockets, pipes and `SCM_RIGHTS`), `serve.rs` (the
//! zygote's side: reading requests, forking, setting up each child),
//! `spawner.rs` (the parent's side: [`ZygoteSpawner`] and its collector
//! thread). May import `crate::base`, `crate::queue` and `crate::os::process`.

mod fd_passing;
mod request;
mod serve;
mod spawner;
#[cfg(test)]
mod tests;

pub use request::{
    CONTROL_FD, EXITS_FD, MAX_STDIN, Request, decode_header, encode_request, wait_status,
};
pub use serve::serve;
pub use spawner::{Forked, ZygoteSpawner};
