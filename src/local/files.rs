//! The files the operator API serves (LIST_FILES, READ_FILE), the way
//! Mesos's files process serves them: directories are attached under
//! virtual paths, a path resolves through its longest attached prefix
//! (never outside the attached directory), listings are sorted by name,
//! and a read returns the whole file's size with up to 16 pages of data.
//!
//! May import: the crate's `wire` only (a leaf: the master and the agents
//! build the attachments and call it).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::wire::pb;

/// Most bytes one READ_FILE returns (16 pages).
pub(crate) const MAX_READ: u64 = 16 * 4096;

/// Why a listing or a read failed; each maps to Mesos's answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum FilesError {
    /// 404, with an empty body.
    #[error("not found")]
    NotFound,
    /// 400, with this body.
    #[error("{0}")]
    Invalid(String),
    /// 500, with this body.
    #[error("{0}")]
    Unknown(String),
}

impl FilesError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            FilesError::NotFound => 404,
            FilesError::Invalid(_) => 400,
            FilesError::Unknown(_) => 500,
        }
    }

    /// The response body.
    pub(crate) fn body(&self) -> String {
        match self {
            FilesError::NotFound => String::new(),
            FilesError::Invalid(m) | FilesError::Unknown(m) => m.clone(),
        }
    }
}

/// Virtual path → real path (a directory or a file).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attachments(BTreeMap<String, PathBuf>);

/// Where a virtual path leads, if anywhere: the attached prefix and the
/// rest of the path under it (pure: no file system access).
pub(crate) fn split_attached(
    attached: impl Fn(&str) -> bool,
    path: &str,
) -> Option<(String, Vec<&str>)> {
    let trimmed = path.trim_end_matches('/');
    let tokens: Vec<&str> = trimmed.split('/').collect();
    for n in (1..=tokens.len()).rev() {
        let prefix = tokens[..n].join("/");
        if attached(&prefix) {
            return Some((prefix, tokens[n..].to_vec()));
        }
    }
    None
}

impl Attachments {
    pub(crate) fn attach(&mut self, virtual_path: &str, real: PathBuf) {
        let v = virtual_path.trim_end_matches('/');
        self.0.insert(v.to_string(), real);
    }

    pub(crate) fn extend(&mut self, other: Attachments) {
        self.0.extend(other.0);
    }

    /// The real path of a virtual one (`FilesProcess::resolve`).
    pub(crate) fn resolve(&self, path: &str) -> Result<Option<PathBuf>, FilesError> {
        let Some((prefix, rest)) = split_attached(|p| self.0.contains_key(p), path) else {
            return Ok(None);
        };
        let Some(base) = self.0.get(&prefix) else {
            return Ok(None);
        };
        if !base.is_dir() {
            // A file was attached: only its own path leads to it.
            return Ok(rest.is_empty().then(|| base.clone()));
        }
        let mut full = base.clone();
        for part in rest {
            full.push(part);
        }
        let Ok(real) = full.canonicalize() else {
            return Ok(None);
        };
        let base_real = base.canonicalize().unwrap_or_else(|_| base.clone());
        if !real.starts_with(&base_real) {
            return Err(FilesError::Invalid(format!(
                "'{}' is inaccessible.\n",
                full.display()
            )));
        }
        Ok(Some(real))
    }

    /// LIST_FILES: the entries of a directory (none for a file).
    pub(crate) fn list(&self, path: &str) -> Result<Vec<pb::FileInfo>, FilesError> {
        let real = self.resolve(path)?.ok_or(FilesError::NotFound)?;
        let Ok(entries) = fs::read_dir(&real) else {
            return Ok(vec![]);
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let base = path.trim_end_matches('/');
        Ok(names
            .into_iter()
            .filter_map(|name| {
                let meta = fs::metadata(real.join(&name)).ok()?;
                Some(file_info(&format!("{base}/{name}"), &meta))
            })
            .collect())
    }

    /// READ_FILE: (the file's size, the bytes read).
    pub(crate) fn read(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(u64, Vec<u8>), FilesError> {
        let real = self.resolve(path)?.ok_or(FilesError::NotFound)?;
        if real.is_dir() {
            return Err(FilesError::Invalid("Cannot read a directory.\n".into()));
        }
        let open_error = |e: std::io::Error| {
            FilesError::Unknown(format!(
                "Failed to open file at '{}': {e}.\n",
                real.display()
            ))
        };
        let mut f = fs::File::open(&real).map_err(open_error)?;
        let size = f.metadata().map_err(open_error)?.len();
        let n = read_length(size, offset, length);
        if n == 0 {
            return Ok((size, vec![]));
        }
        f.seek(SeekFrom::Start(offset)).map_err(open_error)?;
        let mut data = Vec::with_capacity(n as usize);
        f.take(n).read_to_end(&mut data).map_err(open_error)?;
        Ok((size, data))
    }
}

/// How many bytes a read returns: none from or past the end, the rest of
/// the file without a length, never more than [`MAX_READ`].
pub(crate) fn read_length(size: u64, offset: u64, length: Option<u64>) -> u64 {
    if offset >= size {
        return 0;
    }
    length
        .unwrap_or(size - offset)
        .min(size - offset)
        .min(MAX_READ)
}

/// A user or group name, or its number when it has none.
fn name_of(id: u32, user: bool) -> String {
    let mut buf = vec![0u8; 4096];
    let mut out = std::ptr::null_mut();
    // SAFETY: each call gets a zeroed record, a buffer and its true length,
    // and `out` is read only when the call says it filled the record; the
    // name points into `buf`, which outlives its use here.
    unsafe {
        if user {
            let mut pw: libc::passwd = std::mem::zeroed();
            let rc = libc::getpwuid_r(id, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out);
            if rc == 0 && !out.is_null() && !pw.pw_name.is_null() {
                return CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned();
            }
        } else {
            let mut gr: libc::group = std::mem::zeroed();
            let mut gout = std::ptr::null_mut();
            let rc = libc::getgrgid_r(id, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut gout);
            if rc == 0 && !gout.is_null() && !gr.gr_name.is_null() {
                return CStr::from_ptr(gr.gr_name).to_string_lossy().into_owned();
            }
        }
    }
    id.to_string()
}

/// A directory entry as LIST_FILES describes it (`createFileInfo`):
/// modification time in whole seconds.
fn file_info(virtual_path: &str, meta: &fs::Metadata) -> pb::FileInfo {
    pb::FileInfo {
        path: virtual_path.into(),
        nlink: Some(meta.nlink() as i32),
        size: Some(meta.size()),
        mtime: Some(pb::TimeInfo {
            nanoseconds: meta.mtime().saturating_mul(1_000_000_000),
        }),
        mode: Some(meta.mode()),
        uid: Some(name_of(meta.uid(), true)),
        gid: Some(name_of(meta.gid(), false)),
    }
}

/// The sandboxes of an agent rooted at `agent_dir`, attached as a Mesos
/// agent attaches them: each run directory under its own path, and
/// `/frameworks/<fw>/executors/<executor>/runs/latest` for the run that
/// `latest` names (the live one, else the newest).
pub(crate) fn sandbox_attachments(
    agent_dir: &Path,
    live: &BTreeMap<(String, String), PathBuf>,
) -> Attachments {
    let mut a = Attachments::default();
    let dirs = |p: &Path| -> Vec<(String, PathBuf)> {
        fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (fw, fw_dir) in dirs(&agent_dir.join("frameworks")) {
        for (exec, exec_dir) in dirs(&fw_dir.join("executors")) {
            let runs = dirs(&exec_dir.join("runs"));
            for (_, run) in &runs {
                a.attach(&run.display().to_string(), run.clone());
            }
            let newest = runs
                .iter()
                .max_by_key(|(_, p)| fs::metadata(p).and_then(|m| m.modified()).ok())
                .map(|(_, p)| p.clone());
            if let Some(latest) = live.get(&(fw.clone(), exec.clone())).cloned().or(newest) {
                a.attach(
                    &format!("/frameworks/{fw}/executors/{exec}/runs/latest"),
                    latest,
                );
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_resolves_through_its_longest_attached_prefix() {
        let attached = |p: &str| p == "/a" || p == "/a/b";
        assert_eq!(
            split_attached(attached, "/a/b/c/d"),
            Some(("/a/b".to_string(), vec!["c", "d"]))
        );
        assert_eq!(
            split_attached(attached, "/a/x/"),
            Some(("/a".to_string(), vec!["x"]))
        );
        assert_eq!(
            split_attached(attached, "/a/b/"),
            Some(("/a/b".to_string(), vec![]))
        );
        assert_eq!(split_attached(attached, "/z"), None);
    }

    #[test]
    fn reads_are_bounded_by_the_file_and_sixteen_pages() {
        assert_eq!(read_length(10, 0, None), 10);
        assert_eq!(read_length(10, 4, Some(3)), 3);
        assert_eq!(read_length(10, 8, Some(5)), 2);
        assert_eq!(read_length(10, 10, None), 0);
        assert_eq!(read_length(10, 0, Some(0)), 0);
        assert_eq!(read_length(1 << 20, 0, None), MAX_READ);
    }

    #[test]
    fn listing_and_reading_an_attached_directory() {
        let dir = std::env::temp_dir().join(format!("files-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("out"), b"hello world").unwrap();
        let mut a = Attachments::default();
        a.attach("/sandbox/", dir.clone());
        let names: Vec<String> = a
            .list("/sandbox")
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(names, ["/sandbox/out", "/sandbox/sub"]);
        assert_eq!(a.list("/sandbox/out").unwrap(), vec![]);
        assert_eq!(a.list("/nowhere"), Err(FilesError::NotFound));
        assert_eq!(
            a.read("/sandbox/out", 6, None).unwrap(),
            (11, b"world".to_vec())
        );
        assert_eq!(a.read("/sandbox/out", 0, Some(5)).unwrap().1, b"hello");
        assert_eq!(
            a.read("/sandbox/sub", 0, None),
            Err(FilesError::Invalid("Cannot read a directory.\n".into()))
        );
        assert_eq!(a.read("/sandbox/none", 0, None), Err(FilesError::NotFound));
        assert!(matches!(
            a.read("/sandbox/../..", 0, None),
            Err(FilesError::Invalid(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
