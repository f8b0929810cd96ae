//! The agents' sandboxes as a files namespace, the way a Mesos agent
//! exposes them to `/files/*`: each run directory
//! (`<agent dir>/frameworks/<fw>/executors/<executor>/runs/<run>`) under
//! its own path, and `/frameworks/<fw>/executors/<executor>/runs/latest`
//! for an executor's newest run. A request path resolves through its
//! longest such prefix; the rest is looked up on disk, symlinks and `..`
//! resolved, and refused when the result leaves that sandbox. Nothing
//! outside the sandboxes is ever reachable, whatever the path.
//!
//! Nothing is registered: a prefix names a sandbox when the run directory
//! exists, so finished executors stay browsable (as until Mesos's garbage
//! collection) and no agent code needs to attach anything.
//!
//! May import: `std`, `libc` only (a leaf: `files_api` calls it).

use std::ffi::CStr;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Most bytes one read returns (16 pages, as Mesos).
pub const MAX_READ: u64 = 16 * 4096;

/// Why a path gives nothing.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SandboxError {
    /// No sandbox has that path, or nothing is there (404).
    #[error("not found")]
    NotFound,
    /// The path leads out of its sandbox (400); holds the path as joined.
    #[error("'{0}' is inaccessible")]
    Inaccessible(String),
    /// The path is a directory where a file was expected.
    #[error("is a directory")]
    Directory,
    /// The file could not be read (500).
    #[error("cannot read '{path}': {reason}")]
    Io { path: String, reason: String },
}

/// The sandboxes of some agents: their directories
/// (`<work_dir>/agents/<agent id>`), canonical.
#[derive(Debug, Clone)]
pub struct Sandboxes {
    agent_dirs: Vec<PathBuf>,
}

/// A path resolved into a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical path of the file or directory.
    pub real: PathBuf,
    pub is_dir: bool,
}

/// One entry of a listing, as `/files/browse` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The request path joined with the entry's name.
    pub path: String,
    /// `ls -l` style, e.g. `drwxr-xr-x`.
    pub mode: String,
    pub nlink: u64,
    pub size: u64,
    /// Seconds since the epoch (whole seconds).
    pub mtime: i64,
    pub uid: String,
    pub gid: String,
}

/// A name that can stand for one directory level of a sandbox's prefix.
fn plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".."
}

impl Sandboxes {
    pub fn new(agent_dirs: impl IntoIterator<Item = PathBuf>) -> Sandboxes {
        Sandboxes {
            agent_dirs: agent_dirs
                .into_iter()
                .map(|d| d.canonicalize().unwrap_or(d))
                .collect(),
        }
    }

    /// The run directory a prefix of `tokens` names, and how many tokens
    /// that prefix has: the longest match wins, as Mesos's lookup of
    /// attached paths does.
    fn sandbox_of(&self, tokens: &[&str]) -> Option<(PathBuf, usize)> {
        // Real run directories: `<agent dir>/frameworks/F/executors/E/runs/R`.
        let mut best: Option<(PathBuf, usize)> = None;
        for dir in &self.agent_dirs {
            let dir_tokens: Vec<String> = dir
                .to_string_lossy()
                .split('/')
                .map(str::to_string)
                .collect();
            let n = dir_tokens.len();
            if tokens.len() < n + 6 || tokens[..n] != dir_tokens[..] {
                continue;
            }
            let rest = &tokens[n..n + 6];
            if rest[0] == "frameworks"
                && rest[2] == "executors"
                && rest[4] == "runs"
                && [rest[1], rest[3], rest[5]].into_iter().all(plain_name)
            {
                let run = dir
                    .join("frameworks")
                    .join(rest[1])
                    .join("executors")
                    .join(rest[3])
                    .join("runs")
                    .join(rest[5]);
                if run.is_dir() && best.as_ref().is_none_or(|(_, k)| *k < n + 6) {
                    best = Some((run, n + 6));
                }
            }
        }
        if best.is_some() {
            return best;
        }
        // The virtual path of an executor's newest run:
        // `/frameworks/F/executors/E/runs/latest` (with several agents, the
        // newest of theirs, as the last one attached wins in Mesos).
        if tokens.len() >= 7
            && tokens[0].is_empty()
            && tokens[1] == "frameworks"
            && tokens[3] == "executors"
            && tokens[5] == "runs"
            && tokens[6] == "latest"
            && plain_name(tokens[2])
            && plain_name(tokens[4])
        {
            let newest = self
                .agent_dirs
                .iter()
                .filter_map(|d| {
                    let runs = d
                        .join("frameworks")
                        .join(tokens[2])
                        .join("executors")
                        .join(tokens[4])
                        .join("runs");
                    newest_run(&runs)
                })
                .max_by_key(|(_, t)| *t)
                .map(|(p, _)| p)?;
            return Some((newest, 7));
        }
        None
    }

    /// Resolves a request path (`FilesProcess::resolve`): its sandbox
    /// prefix, then the rest on disk, which must stay in that sandbox once
    /// symlinks and `..` are resolved.
    pub fn resolve(&self, path: &str) -> Result<Resolved, SandboxError> {
        if !path.starts_with('/') {
            return Err(SandboxError::NotFound);
        }
        let trimmed = path.trim_end_matches('/');
        let tokens: Vec<&str> = trimmed.split('/').collect();
        let (base, used) = self.sandbox_of(&tokens).ok_or(SandboxError::NotFound)?;
        let mut joined = base.clone();
        for t in &tokens[used..] {
            joined.push(t);
        }
        let real = joined.canonicalize().map_err(|_| SandboxError::NotFound)?;
        let base_real = base.canonicalize().map_err(|_| SandboxError::NotFound)?;
        if !real.starts_with(&base_real) {
            return Err(SandboxError::Inaccessible(joined.display().to_string()));
        }
        let is_dir = real.is_dir();
        Ok(Resolved { real, is_dir })
    }

    /// The entries of a directory, sorted by path; none for a file.
    pub fn list(&self, path: &str) -> Result<Vec<Entry>, SandboxError> {
        let r = self.resolve(path)?;
        if !r.is_dir {
            return Ok(vec![]);
        }
        let Ok(rd) = fs::read_dir(&r.real) else {
            return Ok(vec![]);
        };
        let base = path.trim_end_matches('/');
        let mut out: Vec<Entry> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // Like `stat`: a symlink shows what it points to.
                let meta = fs::metadata(e.path()).ok()?;
                Some(entry(format!("{base}/{name}"), &meta))
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Reads up to `length` bytes (at most [`MAX_READ`]) at `offset`:
    /// (the file's size, the bytes).
    pub fn read(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(u64, Vec<u8>), SandboxError> {
        let r = self.resolve(path)?;
        if r.is_dir {
            return Err(SandboxError::Directory);
        }
        let io_err = |e: io::Error| SandboxError::Io {
            path: r.real.display().to_string(),
            reason: e.to_string(),
        };
        let mut f = fs::File::open(&r.real).map_err(io_err)?;
        let size = f.metadata().map_err(io_err)?.len();
        let n = read_length(size, offset, length);
        if n == 0 {
            return Ok((size, vec![]));
        }
        f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        let mut data = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        f.take(n).read_to_end(&mut data).map_err(io_err)?;
        Ok((size, data))
    }

    /// The file to download (not a directory).
    pub fn file(&self, path: &str) -> Result<PathBuf, SandboxError> {
        let r = self.resolve(path)?;
        if r.is_dir {
            return Err(SandboxError::Directory);
        }
        Ok(r.real)
    }
}

/// The newest run directory under `runs` and its modification time.
fn newest_run(runs: &Path) -> Option<(PathBuf, std::time::SystemTime)> {
    fs::read_dir(runs)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let t = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((e.path(), t))
        })
        .max_by_key(|(_, t)| *t)
}

/// How many bytes a read returns: none from or past the end, the rest of
/// the file without a length, never more than [`MAX_READ`].
pub fn read_length(size: u64, offset: u64, length: Option<u64>) -> u64 {
    if offset >= size {
        return 0;
    }
    length
        .unwrap_or(size - offset)
        .min(size - offset)
        .min(MAX_READ)
}

fn entry(path: String, meta: &fs::Metadata) -> Entry {
    Entry {
        path,
        mode: mode_string(meta.mode()),
        nlink: meta.nlink(),
        size: meta.size(),
        mtime: meta.mtime(),
        uid: name_of(meta.uid(), true),
        gid: name_of(meta.gid(), false),
    }
}

/// `ls -l`'s first column for a `st_mode`.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    // (read, write, execute bit, special bit, letter when special)
    let triples = [
        (0o400, 0o200, 0o100, 0o4000, 's'),
        (0o040, 0o020, 0o010, 0o2000, 's'),
        (0o004, 0o002, 0o001, 0o1000, 't'),
    ];
    for (r, w, x, special, letter) in triples {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        s.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A user or group name, or its number when it has none.
fn name_of(id: u32, user: bool) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: each call gets a zeroed record, a buffer and its true length;
    // the result pointer is read only when the call reports success, and
    // the name points into `buf`, which outlives its use here.
    unsafe {
        if user {
            let mut pw: libc::passwd = std::mem::zeroed();
            let mut out: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(id, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out);
            if rc == 0 && !out.is_null() && !pw.pw_name.is_null() {
                return CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned();
            }
        } else {
            let mut gr: libc::group = std::mem::zeroed();
            let mut out: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrgid_r(id, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut out);
            if rc == 0 && !out.is_null() && !gr.gr_name.is_null() {
                return CStr::from_ptr(gr.gr_name).to_string_lossy().into_owned();
            }
        }
    }
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// An agent dir with one run of executor `e` of framework `f`, a file
    /// outside it, and symlinks in and out.
    fn layout(tag: &str) -> (Tmp, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("sandbox-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let agent = root.join("agents").join("A-S0");
        let run = agent.join("frameworks/f/executors/e/runs/r1");
        fs::create_dir_all(run.join("sub")).unwrap();
        fs::write(run.join("stdout"), b"hello world").unwrap();
        fs::write(run.join("sub/a.txt"), b"txt").unwrap();
        fs::write(root.join("secret"), b"no").unwrap();
        symlink(root.join("secret"), run.join("out-link")).unwrap();
        symlink("sub", run.join("in-link")).unwrap();
        let agent = agent.canonicalize().unwrap();
        let run = run.canonicalize().unwrap();
        (Tmp(root), agent, run)
    }

    #[test]
    fn real_and_virtual_paths_resolve_inside_the_sandbox() {
        let (_t, agent, run) = layout("resolve");
        let s = Sandboxes::new([agent.clone()]);
        let real = run.display().to_string();
        assert_eq!(s.resolve(&real).unwrap().real, run);
        assert_eq!(s.resolve(&format!("{real}/")).unwrap().real, run);
        assert_eq!(
            s.resolve("/frameworks/f/executors/e/runs/latest/stdout")
                .unwrap()
                .real,
            run.join("stdout")
        );
        assert_eq!(
            s.resolve(&format!("{real}/in-link/a.txt")).unwrap().real,
            run.join("sub/a.txt")
        );
        assert_eq!(
            s.resolve(&format!("{real}/sub/../stdout")).unwrap().real,
            run.join("stdout")
        );
        // Out of the sandbox: by symlink or by `..`.
        assert!(matches!(
            s.resolve(&format!("{real}/out-link")),
            Err(SandboxError::Inaccessible(_))
        ));
        assert!(matches!(
            s.resolve(&format!("{real}/../../../../../../../secret")),
            Err(SandboxError::Inaccessible(_)) | Err(SandboxError::NotFound)
        ));
        assert!(matches!(
            s.resolve(&format!("{real}/..")),
            Err(SandboxError::Inaccessible(_))
        ));
        // Not a sandbox: the agent dir, its parents, other names, `..` in
        // the prefix, relative paths, missing runs, a longer last name.
        for p in [
            agent.display().to_string(),
            format!("{}/frameworks/f", agent.display()),
            format!(
                "{}/frameworks/../frameworks/f/executors/e/runs/r1",
                agent.display()
            ),
            format!("{real}x"),
            "/frameworks/f/executors/e/runs".into(),
            "/frameworks/f/executors/nope/runs/latest".into(),
            "/frameworks/../executors/e/runs/latest".into(),
            "relative".into(),
            "/etc/passwd".into(),
            format!("{real}/missing"),
        ] {
            assert_eq!(s.resolve(&p), Err(SandboxError::NotFound), "{p}");
        }
        // Another agent's sandboxes are not this one's.
        let other = Sandboxes::new([agent.join("nowhere")]);
        assert_eq!(other.resolve(&real), Err(SandboxError::NotFound));
    }

    #[test]
    fn listing_reading_and_files() {
        let (_t, agent, run) = layout("list");
        let s = Sandboxes::new([agent]);
        let v = "/frameworks/f/executors/e/runs/latest";
        let names: Vec<String> = s.list(v).unwrap().into_iter().map(|e| e.path).collect();
        // The outward symlink is listed (as Mesos lists it) but unreadable.
        assert_eq!(
            names,
            [
                format!("{v}/in-link"),
                format!("{v}/out-link"),
                format!("{v}/stdout"),
                format!("{v}/sub")
            ]
        );
        let sub = s.list(&format!("{v}/sub/")).unwrap();
        assert_eq!(sub.len(), 1);
        assert_eq!(sub[0].path, format!("{v}/sub/a.txt"));
        assert_eq!(sub[0].size, 3);
        assert!(sub[0].mode.starts_with('-'));
        assert_eq!(s.list(&format!("{v}/stdout")).unwrap(), vec![]);
        assert_eq!(
            s.read(&format!("{v}/stdout"), 6, None).unwrap(),
            (11, b"world".to_vec())
        );
        assert_eq!(
            s.read(&format!("{v}/stdout"), 0, Some(5)).unwrap().1,
            b"hello"
        );
        assert_eq!(
            s.read(&format!("{v}/stdout"), 99, None).unwrap(),
            (11, vec![])
        );
        assert_eq!(
            s.read(&format!("{v}/sub"), 0, None),
            Err(SandboxError::Directory)
        );
        assert_eq!(s.file(&format!("{v}/stdout")).unwrap(), run.join("stdout"));
        assert_eq!(s.file(v), Err(SandboxError::Directory));
    }

    #[test]
    fn latest_is_the_newest_run() {
        let (_t, agent, _run) = layout("latest");
        let runs = agent.join("frameworks/f/executors/e/runs");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::create_dir(runs.join("r2")).unwrap();
        let s = Sandboxes::new([agent]);
        assert_eq!(
            s.resolve("/frameworks/f/executors/e/runs/latest")
                .unwrap()
                .real,
            runs.join("r2")
        );
    }

    #[test]
    fn read_lengths_and_modes() {
        assert_eq!(read_length(10, 0, None), 10);
        assert_eq!(read_length(10, 4, Some(3)), 3);
        assert_eq!(read_length(10, 8, Some(5)), 2);
        assert_eq!(read_length(10, 10, None), 0);
        assert_eq!(read_length(1 << 20, 0, None), MAX_READ);
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o100600 | 0o2000), "-rw---S---");
    }
}
