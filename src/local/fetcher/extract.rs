//! After a URI has landed: making it executable, or unpacking the archives
//! `mesos-fetcher` extracts (by name: tar, zip, gzip) with the system's
//! `tar`, `unzip` and `gunzip`.
//!
//! May import: `error`.

use std::fs::{self, File};
use std::io::{self};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::error::{FetchError, write_error};

pub(super) fn make_executable(path: &Path) -> Result<(), FetchError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| write_error(path, e))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Archive {
    Tar,
    Zip,
    Gzip,
}

/// The archives `mesos-fetcher` extracts, by name.
pub(super) fn archive_kind(name: &str) -> Option<Archive> {
    let lower = name.to_ascii_lowercase();
    let tar = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ];
    if tar.iter().any(|s| lower.ends_with(s)) {
        Some(Archive::Tar)
    } else if lower.ends_with(".zip") {
        Some(Archive::Zip)
    } else if lower.ends_with(".gz") {
        Some(Archive::Gzip)
    } else {
        None
    }
}

/// Unpacks `path` (named `name`) into `sandbox`: tar and zip archives with
/// `tar`/`unzip`, a bare `.gz` gunzipped beside (as `name` without `.gz`).
pub(super) fn extract(
    kind: Archive,
    path: &Path,
    name: &str,
    sandbox: &Path,
) -> Result<(), FetchError> {
    let fail = |why: String| FetchError::Extract {
        name: name.to_string(),
        why,
    };
    let (program, status) = match kind {
        Archive::Tar => (
            "tar",
            Command::new("tar")
                .arg("-C")
                .arg(sandbox)
                .arg("-xf")
                .arg(path)
                .stdin(Stdio::null())
                .status(),
        ),
        Archive::Zip => (
            "unzip",
            Command::new("unzip")
                .args(["-o", "-q", "-d"])
                .arg(sandbox)
                .arg(path)
                .stdin(Stdio::null())
                .status(),
        ),
        Archive::Gzip => {
            let file = Path::new(name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let out_name = &file[..file.len().saturating_sub(3)];
            let out_path = sandbox.join(out_name);
            let out =
                File::create(&out_path).map_err(|e| fail(write_error(&out_path, e).to_string()))?;
            let input = File::open(path).map_err(|e| fail(e.to_string()))?;
            (
                "gunzip",
                Command::new("gunzip")
                    .args(["-d", "-c"])
                    .stdin(input)
                    .stdout(out)
                    .status(),
            )
        }
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(fail(format!("'{program}' {s}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(fail(format!("'{program}' is not installed")))
        }
        Err(e) => Err(fail(format!("'{program}' failed: {e}"))),
    }
}
