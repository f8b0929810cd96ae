//! One agent's fetcher: each URI of a command into the sandbox, directly
//! or through the fetcher cache (waiting for a download of the same entry
//! in progress, reserving room, falling back to a direct fetch), then
//! `executable` or `extract`.
//!
//! May import: `error`, `uri`, `cache`, `download`, `extract`.

use std::fs::{self};
use std::path::{Component, Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::cache::{Cache, Claim, Key, Stored};
use super::download::Downloader;
use super::error::{FetchError, write_error};
use super::extract::{archive_kind, extract, make_executable};
use super::uri::{Source, redact};
use crate::base::lock;
use crate::wire::pb;

/// Mesos's `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_CACHE_SIZE: u64 = 2 << 30;

/// Mesos's `--fetcher_stall_timeout` default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One agent's fetcher settings.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// The agent's own cache directory (emptied on start).
    pub cache_dir: PathBuf,
    /// Bytes the cache may hold; 0 disables caching.
    pub cache_size: u64,
    /// Give up on a source that sends nothing for this long.
    pub stall_timeout: Duration,
    /// PEM CA certificates for https URIs; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// A new entry being downloaded: abandoned unless its download settles,
/// whatever happens to the fetch (an error, a panic), so that fetches
/// waiting for it never hang.
pub(super) struct NewEntry<'a> {
    pub(super) fetcher: &'a Fetcher,
    pub(super) key: &'a Key,
    pub(super) path: &'a Path,
    pub(super) settled: bool,
}

impl Drop for NewEntry<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.fetcher.abandon(self.key, self.path);
        }
    }
}

/// One agent's fetcher and fetcher cache.
pub struct Fetcher {
    pub(super) cfg: FetcherConfig,
    pub(super) net: Downloader,
    pub(super) cache: Mutex<Cache>,
    changed: Condvar,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("cfg", &self.cfg).finish()
    }
}

impl Fetcher {
    /// A fetcher whose cache starts empty (a leftover cache directory is
    /// removed, as an agent's recovery does).
    pub fn new(cfg: FetcherConfig) -> Fetcher {
        if cfg.cache_dir.exists()
            && let Err(e) = fs::remove_dir_all(&cfg.cache_dir)
        {
            crate::log!(
                crate::log::Level::Warn,
                "agent",
                "cannot empty the fetcher cache {}: {e}",
                cfg.cache_dir.display()
            );
        }
        Fetcher {
            net: Downloader::new(cfg.ca_file.clone(), cfg.stall_timeout),
            cfg,
            cache: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    /// Aborts every fetch in progress and any later one (the cluster stops).
    pub fn cancel(&self) {
        self.net.cancel();
        let _c = lock(&self.cache);
        self.changed.notify_all();
    }

    /// Empties the cache (but for entries in use), as an agent restart does.
    pub fn clear(&self) {
        let (victims, _) = lock(&self.cache).evict(0);
        remove_files(&victims);
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.net.is_cancelled()
    }

    /// Fetches the URIs of `command` into `sandbox`, in order, for `user`
    /// (the cache key's user). The error names the URI and the cause.
    pub fn fetch_all(
        &self,
        command: &pb::CommandInfo,
        user: Option<&str>,
        sandbox: &Path,
    ) -> Result<(), String> {
        for uri in &command.uris {
            self.fetch(uri, user, sandbox)
                .map_err(|e| format!("Failed to fetch '{}': {e}", redact(&uri.value)))?;
        }
        Ok(())
    }

    /// Fetches one URI into `sandbox`.
    pub fn fetch(
        &self,
        uri: &pb::command_info::Uri,
        user: Option<&str>,
        sandbox: &Path,
    ) -> Result<(), FetchError> {
        if self.is_cancelled() {
            return Err(FetchError::Cancelled);
        }
        let source = Source::parse(&uri.value)?;
        let name = match &uri.output_file {
            Some(f) => {
                let ok = !f.is_empty()
                    && Path::new(f)
                        .components()
                        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !ok {
                    return Err(FetchError::OutputFile(f.clone()));
                }
                f.clone()
            }
            None => source.basename(&uri.value)?,
        };
        let job = Job {
            uri,
            source: &source,
            name: &name,
            sandbox,
            dest: sandbox.join(&name),
        };
        if let Some(parent) = job.dest.parent() {
            fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        if uri.cache() && self.cfg.cache_size > 0 {
            let key = Key {
                user: user.map(str::to_string),
                uri: uri.value.clone(),
            };
            self.fetch_cached(&job, &key)
        } else {
            self.fetch_direct(&job)
        }
    }

    /// Downloads into the sandbox, then `executable` or `extract`.
    pub(super) fn fetch_direct(&self, job: &Job<'_>) -> Result<(), FetchError> {
        let mut body = self.net.open(job.source)?;
        self.net.save(&mut body, &job.dest)?;
        job.finish_in_sandbox()
    }

    pub(super) fn fetch_cached(&self, job: &Job<'_>, key: &Key) -> Result<(), FetchError> {
        match self.claim(key, job.name)? {
            Claim::Fallback => {
                crate::log!(
                    crate::log::Level::Warn,
                    "agent",
                    "fetcher cache: the download of {} failed elsewhere; fetching it bypassing the cache",
                    redact(&key.uri)
                );
                self.fetch_direct(job)
            }
            Claim::Resident(path) => {
                let r = job.deliver_from_cache(&path);
                self.release(key);
                r
            }
            Claim::Download(path) => {
                let mut entry = NewEntry {
                    fetcher: self,
                    key,
                    path: &path,
                    settled: false,
                };
                match self.download_into_cache(job, &mut entry)? {
                    Stored::Cache => {
                        let r = job.deliver_from_cache(&path);
                        self.release(key);
                        r
                    }
                    Stored::Sandbox => job.finish_in_sandbox(),
                }
            }
        }
    }

    /// Finds or creates the cache entry of `key`, waiting for a download
    /// of it in progress.
    pub(super) fn claim(&self, key: &Key, name: &str) -> Result<Claim, FetchError> {
        let mut c = lock(&self.cache);
        let mut waited = false;
        loop {
            if self.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            if let Some(claim) = c.claim(key, name, &self.cfg.cache_dir, waited) {
                return Ok(claim);
            }
            waited = true;
            c.waiting += 1;
            c = self.changed.wait(c).unwrap_or_else(|e| e.into_inner());
            c.waiting -= 1;
        }
    }

    /// Downloads `key`'s new entry into `path`, or (no room, size unknown)
    /// drops the entry and downloads straight into the sandbox.
    pub(super) fn download_into_cache(
        &self,
        job: &Job<'_>,
        entry: &mut NewEntry<'_>,
    ) -> Result<Stored, FetchError> {
        let (key, path) = (entry.key, entry.path);
        let mut body = self.net.open(job.source)?;
        if let Err(why) = self.reserve(key, body.size()) {
            crate::log!(
                crate::log::Level::Warn,
                "agent",
                "fetcher cache: {why}; fetching {} bypassing the cache",
                redact(&key.uri)
            );
            entry.settled = true;
            self.abandon(key, path);
            self.net.save(&mut body, &job.dest)?;
            return Ok(Stored::Sandbox);
        }
        let size = self.net.save(&mut body, path)?;
        let mut c = lock(&self.cache);
        if let Some(e) = c.entries.get_mut(key) {
            e.size = size;
            e.resident = true;
        }
        entry.settled = true;
        self.changed.notify_all();
        Ok(Stored::Cache)
    }

    /// Reserves `size` bytes for `key`'s entry, evicting as needed.
    pub(super) fn reserve(&self, key: &Key, size: Option<u64>) -> Result<(), String> {
        let size = size.ok_or("the size is not known up front")?;
        if size > self.cfg.cache_size {
            return Err(format!(
                "{size} bytes do not fit a cache of {} bytes",
                self.cfg.cache_size
            ));
        }
        fs::create_dir_all(&self.cfg.cache_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.cfg.cache_dir.display()))?;
        let mut c = lock(&self.cache);
        if let Some(e) = c.entries.get_mut(key) {
            e.size = size;
        }
        let (victims, fits) = c.evict(self.cfg.cache_size);
        drop(c);
        remove_files(&victims);
        if fits {
            Ok(())
        } else {
            Err(format!("no room for {size} bytes: the cache is in use"))
        }
    }

    /// A fetch is done with a resident entry; the cache shrinks back to
    /// its size if it had grown past it.
    pub(super) fn release(&self, key: &Key) {
        let mut c = lock(&self.cache);
        if let Some(e) = c.entries.get_mut(key) {
            e.refs = e.refs.saturating_sub(1);
        }
        let (victims, _) = c.evict(self.cfg.cache_size);
        drop(c);
        remove_files(&victims);
    }

    /// Drops a new entry whose download failed or bypassed the cache;
    /// fetches waiting for it fall back.
    pub(super) fn abandon(&self, key: &Key, path: &Path) {
        let mut c = lock(&self.cache);
        c.entries.remove(key);
        self.changed.notify_all();
        drop(c);
        remove_files(&[path.to_path_buf()]);
    }

    /// Fetches waiting for another's download (for tests).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        lock(&self.cache).waiting
    }
}

pub(super) fn remove_files(paths: &[PathBuf]) {
    for p in paths {
        let _ = fs::remove_file(p);
    }
}

/// One URI being fetched into one sandbox.
pub(super) struct Job<'a> {
    pub(super) uri: &'a pb::command_info::Uri,
    pub(super) source: &'a Source,
    /// Relative to the sandbox: `output_file` or the URI's base name.
    pub(super) name: &'a str,
    pub(super) sandbox: &'a Path,
    pub(super) dest: PathBuf,
}

impl Job<'_> {
    /// After a download into the sandbox: `executable`, else `extract`
    /// (the archive stays beside its contents).
    pub(super) fn finish_in_sandbox(&self) -> Result<(), FetchError> {
        if self.uri.executable() {
            return make_executable(&self.dest);
        }
        if self.uri.extract()
            && let Some(kind) = archive_kind(self.name)
        {
            return extract(kind, &self.dest, self.name, self.sandbox);
        }
        Ok(())
    }

    /// From a resident cache file: an archive to extract is unpacked from
    /// the cache; anything else is copied (then made executable).
    pub(super) fn deliver_from_cache(&self, cached: &Path) -> Result<(), FetchError> {
        if !self.uri.executable()
            && self.uri.extract()
            && let Some(kind) = archive_kind(self.name)
        {
            return extract(kind, cached, self.name, self.sandbox);
        }
        fs::copy(cached, &self.dest).map_err(|e| write_error(&self.dest, e))?;
        if self.uri.executable() {
            make_executable(&self.dest)?;
        }
        Ok(())
    }
}
