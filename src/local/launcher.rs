//! Starting task processes the way the Mesos command executor does: fetch
//! the `CommandInfo.uris` into the sandbox, run `sh -c <value>` (or the
//! executable with `arguments` as argv) in its own process group with
//! `stdout`/`stderr` files in the sandbox, and describe how it ended.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::http::Headers;
use crate::http::client::Conn;
use crate::wire::pb;

/// Everything needed to start one task process.
#[derive(Debug, Clone)]
pub struct Spec {
    pub command: pb::CommandInfo,
    /// The task's sandbox: working directory, `stdout`, `stderr`, fetched URIs.
    pub sandbox: PathBuf,
    /// Environment added on top of the agent's own (before the command's).
    pub env: Vec<(String, String)>,
}

/// Fetches the URIs and starts the process. The error is a message for
/// a TASK_FAILED update.
pub fn launch(spec: &Spec) -> Result<Child, String> {
    fs::create_dir_all(&spec.sandbox).map_err(|e| format!("Failed to create sandbox: {e}"))?;
    for uri in &spec.command.uris {
        fetch(uri, &spec.sandbox).map_err(|e| format!("Failed to fetch '{}': {e}", uri.value))?;
    }
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

/// The Mesos fetcher, for the cases a local cluster meets: local paths,
/// `file://` and plain `http://` URIs into the sandbox (or `output_file`
/// there); `executable` makes the file executable, otherwise `extract`
/// unpacks archives with tar/unzip and bare `.gz` files with gunzip.
fn fetch(uri: &pb::command_info::Uri, sandbox: &Path) -> Result<(), String> {
    let value = uri.value.as_str();
    let base = value
        .rsplit('/')
        .find(|s| !s.is_empty())
        .ok_or("cannot derive a file name")?;
    let name = uri.output_file.as_deref().unwrap_or(base);
    let dest = sandbox.join(name);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    if let Some(rest) = value.strip_prefix("http://") {
        http_get(rest, &dest)?;
    } else if value.contains("://") && !value.starts_with("file://") {
        return Err("only local paths, file:// and http:// URIs are supported".into());
    } else {
        let src = value.strip_prefix("file://").unwrap_or(value);
        fs::copy(src, &dest).map_err(|e| e.to_string())?;
    }
    if uri.executable() {
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if uri.extract() {
        extract(&dest, sandbox)?;
    }
    Ok(())
}

/// The fetcher's `extract`: archives (by name) go into the sandbox; a bare
/// `.gz` is gunzipped into the sandbox; anything else stays as fetched.
fn extract(path: &Path, sandbox: &Path) -> Result<(), String> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    let tar = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ]
    .iter()
    .any(|s| lower.ends_with(s));
    let (program, status) = if tar {
        let st = Command::new("tar")
            .arg("-C")
            .arg(sandbox)
            .arg("-xf")
            .arg(path)
            .stdin(Stdio::null())
            .status();
        ("tar", st)
    } else if lower.ends_with(".zip") {
        let st = Command::new("unzip")
            .arg("-o")
            .arg("-q")
            .arg("-d")
            .arg(sandbox)
            .arg(path)
            .stdin(Stdio::null())
            .status();
        ("unzip", st)
    } else if lower.ends_with(".gz") {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out_name = &name[..name.len().saturating_sub(3)];
        let out = File::create(sandbox.join(out_name))
            .map_err(|e| format!("cannot create '{out_name}': {e}"))?;
        let input = File::open(path).map_err(|e| e.to_string())?;
        let st = Command::new("gunzip")
            .args(["-d", "-c"])
            .stdin(input)
            .stdout(out)
            .status();
        ("gunzip", st)
    } else {
        return Ok(());
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "Failed to extract '{}': '{program}' {s}",
            path.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "Failed to extract '{}': '{program}' is not installed",
            path.display()
        )),
        Err(e) => Err(format!(
            "Failed to extract '{}': '{program}' failed: {e}",
            path.display()
        )),
    }
}

fn http_get(rest: &str, dest: &Path) -> Result<(), String> {
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {hostport}"))?,
        ),
        None => (hostport, 80),
    };
    let mut conn = Conn::connect(host, port, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let resp = conn
        .roundtrip(
            "GET",
            path,
            &Headers::default().with("Connection", "close"),
            &[],
        )
        .map_err(|e| e.to_string())?;
    if resp.status != 200 {
        return Err(format!("HTTP {}", resp.status));
    }
    let mut f = File::create(dest).map_err(|e| e.to_string())?;
    f.write_all(&resp.body).map_err(|e| e.to_string())
}
