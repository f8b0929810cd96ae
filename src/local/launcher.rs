//! Starting task processes the way the Mesos command executor does: fetch
//! the `CommandInfo.uris` into the sandbox (`fetcher`), run `sh -c <value>` (or the
//! executable with `arguments` as argv) in its own process group with
//! `stdout`/`stderr` files in the sandbox, and describe how it ended.
//!
//! May import: `fetcher`; the agents import it.

use std::fs::{self, File};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;

use super::fetcher::Fetcher;
use crate::wire::pb;

/// Everything needed to start one task process.
#[derive(Debug, Clone)]
pub struct Spec {
    pub command: pb::CommandInfo,
    /// The task's sandbox: working directory, `stdout`, `stderr`, fetched URIs.
    pub sandbox: PathBuf,
    /// Environment added on top of the agent's own (before the command's).
    pub env: Vec<(String, String)>,
    /// The agent's fetcher, and the user its cache files the URIs under
    /// (`CommandInfo.user`, else `FrameworkInfo.user`).
    pub fetcher: Arc<Fetcher>,
    pub user: Option<String>,
}

/// Fetches the URIs and starts the process. The error is a message for
/// a TASK_FAILED update.
pub fn launch(spec: &Spec) -> Result<Child, String> {
    fs::create_dir_all(&spec.sandbox).map_err(|e| format!("Failed to create sandbox: {e}"))?;
    spec.fetcher
        .fetch_all(&spec.command, spec.user.as_deref(), &spec.sandbox)?;
    let out = File::create(spec.sandbox.join("stdout"))
        .map_err(|e| format!("Failed to create stdout: {e}"))?;
    let err = File::create(spec.sandbox.join("stderr"))
        .map_err(|e| format!("Failed to create stderr: {e}"))?;

    let cmd = &spec.command;
    let value = cmd.value.clone().unwrap_or_default();
    let mut c = if cmd.shell() {
        if value.is_empty() {
            return Err("Shell command of the task is not specified".into());
        }
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&value);
        c
    } else {
        if value.is_empty() {
            return Err("Executable of the task is not specified".into());
        }
        let mut c = Command::new(&value);
        if let Some((argv0, rest)) = cmd.arguments.split_first() {
            c.arg0(argv0);
            c.args(rest);
        }
        c
    };
    c.current_dir(&spec.sandbox)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    for (k, v) in &spec.env {
        c.env(k, v);
    }
    if let Some(env) = &cmd.environment {
        for var in &env.variables {
            match var.r#type() {
                pb::environment::variable::Type::Secret => {
                    if let Some(data) = var.secret.as_ref().and_then(|s| s.value.as_ref()) {
                        c.env(&var.name, String::from_utf8_lossy(&data.data).as_ref());
                    }
                }
                _ => {
                    c.env(&var.name, var.value.as_deref().unwrap_or(""));
                }
            }
        }
    }
    c.spawn()
        .map_err(|e| format!("Failed to launch '{value}': {e}"))
}

/// Sends `sig` to the process group led by `pid`.
pub fn signal_group(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub success: bool,
    /// Mesos's `WSTRINGIFY`: "exited with status 1", "terminated with signal Killed".
    pub message: String,
    /// The raw wait status (what Event.Failure.status carries).
    pub raw: i32,
}

pub fn describe(status: io::Result<ExitStatus>) -> Exit {
    match status {
        Err(e) => Exit {
            success: false,
            message: format!("could not be waited for: {e}"),
            raw: -1,
        },
        Ok(st) => {
            let message = if let Some(code) = st.code() {
                format!("exited with status {code}")
            } else if let Some(sig) = st.signal() {
                let mut m = format!("terminated with signal {}", signal_name(sig));
                if st.core_dumped() {
                    m.push_str(" (core dumped)");
                }
                m
            } else {
                format!("wait status {}", st.into_raw())
            };
            Exit {
                success: st.success(),
                message,
                raw: st.into_raw(),
            }
        }
    }
}

/// `strsignal(3)`.
fn signal_name(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local string
    // (or NULL); we copy it out immediately.
    unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            format!("Unknown signal {sig}")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}
