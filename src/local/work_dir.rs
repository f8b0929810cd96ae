//! The work directories of embedded clusters that pick their own
//! (`<tmp>/lua-mesos-local-<id>`): each records its owner process, and a
//! new cluster removes those whose owner is gone (a process killed with
//! SIGKILL cannot clean up after itself). A directory whose owner lives, or
//! that records no owner, is left alone. Imports nothing from the crate.
//!
//! May import: nothing of the cluster; only `local` imports it.

use std::fs;
use std::path::{Path, PathBuf};

/// The prefix of an embedded cluster's own work directory.
pub const PREFIX: &str = "lua-mesos-local-";
/// The file in it naming the owner: "<pid> <start time>".
const OWNER_FILE: &str = "owner";

/// A process's start time (clock ticks since boot, field 22 of
/// `/proc/<pid>/stat`): with the pid, it names one process even after the
/// pid is reused.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process as an owner record.
fn owner_record() -> String {
    let pid = std::process::id();
    format!("{pid} {}", start_time(pid).unwrap_or(0))
}

/// Records this process as the owner of `dir`.
pub fn claim(dir: &Path) -> std::io::Result<()> {
    fs::write(dir.join(OWNER_FILE), owner_record())
}

/// Whether the owner recorded in `dir` is gone (false when unknown).
fn owner_gone(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(OWNER_FILE)) else {
        return false;
    };
    let mut it = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(started))) = (
        it.next().map(str::parse::<u32>),
        it.next().map(str::parse::<u64>),
    ) else {
        return false;
    };
    match start_time(pid) {
        None => true,
        Some(now) => now != started,
    }
}

/// Removes the work directories under `tmp` whose owner is gone; returns
/// the ones removed.
pub fn remove_stale(tmp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(tmp) else {
        return vec![];
    };
    let mut removed = vec![];
    for e in entries.flatten() {
        let path = e.path();
        let ours = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX));
        if ours && path.is_dir() && owner_gone(&path) && fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("work-dir-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    #[test]
    fn removes_only_directories_whose_owner_is_gone() {
        let tmp = scratch("stale");
        let mine = tmp.join(format!("{PREFIX}mine"));
        let dead = tmp.join(format!("{PREFIX}dead"));
        let reused = tmp.join(format!("{PREFIX}reused"));
        let unknown = tmp.join(format!("{PREFIX}unknown"));
        let other = tmp.join("not-ours");
        for d in [&mine, &dead, &reused, &unknown, &other] {
            fs::create_dir_all(d).expect("dir");
        }
        claim(&mine).expect("claim");
        // A pid above the kernel's limit is never alive.
        fs::write(dead.join(OWNER_FILE), "4194305 1").expect("owner");
        // This process's pid, but another start time: the pid was reused.
        fs::write(reused.join(OWNER_FILE), format!("{} 1", std::process::id())).expect("owner");
        fs::write(other.join(OWNER_FILE), "4194305 1").expect("owner");
        let mut removed = remove_stale(&tmp);
        removed.sort();
        let mut want = vec![dead.clone(), reused.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(mine.exists() && unknown.exists() && other.exists());
        let _ = fs::remove_dir_all(&tmp);
    }

    #[test]
    fn start_time_reads_this_process() {
        assert!(start_time(std::process::id()).is_some_and(|t| t > 0));
        assert_eq!(start_time(4_194_305), None);
    }
}
