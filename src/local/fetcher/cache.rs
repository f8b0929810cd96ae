//! The fetcher cache's bookkeeping, free of files and threads: entries
//! keyed by (user, URI), being downloaded or resident, referenced by the
//! fetches using them; what a fetch should do with an entry
//! ([`Cache::claim`]) and which entries to evict ([`Cache::evict`]).
//!
//! May import: `uri` (to redact URIs in the log).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::uri::redact;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) user: Option<String>,
    pub(super) uri: String,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) path: PathBuf,
    /// Reserved bytes while downloading; the file's size once resident.
    pub(super) size: u64,
    pub(super) resident: bool,
    /// Fetches using the entry (it cannot be evicted meanwhile).
    pub(super) refs: u32,
    pub(super) last_used: u64,
}

#[derive(Debug, Default)]
pub(super) struct Cache {
    pub(super) entries: HashMap<Key, Entry>,
    pub(super) serial: u64,
    pub(super) clock: u64,
    /// Fetches waiting for another's download (tests watch it).
    pub(super) waiting: usize,
}

impl Cache {
    pub(super) fn used(&self) -> u64 {
        self.entries.values().map(|e| e.size).sum()
    }

    /// What a fetch of `key` (landing as `name`) does with the cache, having
    /// `waited` for another's download already: use the resident file (now
    /// referenced), download into a new entry (created here, under
    /// `dir`), fall back to fetching bypassing the cache (the download it
    /// waited for failed), or `None`: wait for the download in progress.
    pub(super) fn claim(
        &mut self,
        key: &Key,
        name: &str,
        dir: &Path,
        waited: bool,
    ) -> Option<Claim> {
        self.clock += 1;
        let now = self.clock;
        match self.entries.get_mut(key) {
            Some(e) if e.resident => {
                e.refs += 1;
                e.last_used = now;
                Some(Claim::Resident(e.path.clone()))
            }
            Some(_) => None,
            None if waited => Some(Claim::Fallback),
            None => {
                self.serial += 1;
                let file = Path::new(name)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let path = dir.join(format!("c{}-{file}", self.serial));
                self.entries.insert(
                    key.clone(),
                    Entry {
                        path: path.clone(),
                        size: 0,
                        resident: false,
                        refs: 1,
                        last_used: now,
                    },
                );
                Some(Claim::Download(path))
            }
        }
    }

    /// Evicts least recently used idle entries until at most `capacity`
    /// bytes are used; returns the files to delete and whether it fits.
    pub(super) fn evict(&mut self, capacity: u64) -> (Vec<PathBuf>, bool) {
        let mut victims = vec![];
        while self.used() > capacity {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.resident && e.refs == 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(k) = oldest else { break };
            if let Some(e) = self.entries.remove(&k) {
                crate::log!(
                    crate::log::Level::Info,
                    "agent",
                    "fetcher cache: evicted {} ({} bytes)",
                    redact(&k.uri),
                    e.size
                );
                victims.push(e.path);
            }
        }
        let fits = self.used() <= capacity;
        (victims, fits)
    }
}

/// What a cached fetch found.
pub(super) enum Claim {
    /// A resident file (now referenced).
    Resident(PathBuf),
    /// A new entry this fetch downloads into.
    Download(PathBuf),
    /// The download waited for failed: fetch bypassing the cache.
    Fallback,
}

/// Whether a download went into the cache or (not fitting) straight to the sandbox.
pub(super) enum Stored {
    Cache,
    Sandbox,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> Key {
        Key {
            user: None,
            uri: uri.into(),
        }
    }

    /// Marks a claimed entry downloaded (`size` bytes) and no longer used.
    fn settle(c: &mut Cache, k: &Key, size: u64) {
        let e = c.entries.get_mut(k).expect("entry");
        e.size = size;
        e.resident = true;
        e.refs -= 1;
    }

    #[test]
    fn a_claim_downloads_waits_uses_or_falls_back() {
        let mut c = Cache::default();
        let dir = Path::new("/cache");
        let k = key("http://h/a.tar.gz");
        let Some(Claim::Download(path)) = c.claim(&k, "sub/a.tar.gz", dir, false) else {
            panic!("a new entry is downloaded");
        };
        assert_eq!(path, dir.join("c1-a.tar.gz"));
        // Another fetch waits while it is being downloaded...
        assert!(c.claim(&k, "a.tar.gz", dir, false).is_none());
        // ...and falls back if that download failed (its entry went away);
        // a later fetch downloads anew.
        c.entries.remove(&k);
        assert!(matches!(
            c.claim(&k, "a.tar.gz", dir, true),
            Some(Claim::Fallback)
        ));
        let Some(Claim::Download(path)) = c.claim(&k, "a.tar.gz", dir, false) else {
            panic!("downloaded anew");
        };
        assert_eq!(path, dir.join("c2-a.tar.gz"));
        settle(&mut c, &k, 10);
        let Some(Claim::Resident(p)) = c.claim(&k, "a.tar.gz", dir, true) else {
            panic!("a resident entry is used");
        };
        assert_eq!(p, path);
        assert_eq!(c.entries[&k].refs, 1);
    }

    #[test]
    fn eviction_takes_the_least_recently_used_idle_entries() {
        let mut c = Cache::default();
        let dir = Path::new("/cache");
        let (a, b, d) = (key("a"), key("b"), key("d"));
        for k in [&a, &b, &d] {
            c.claim(k, &k.uri, dir, false);
            settle(&mut c, k, 10);
        }
        // `a` is used again (most recent, and in use), `b` is the oldest idle.
        c.claim(&a, "a", dir, false);
        let (victims, fits) = c.evict(20);
        assert_eq!(victims, [dir.join("c2-b")]);
        assert!(fits);
        // What is in use stays, even past the capacity.
        let (victims, fits) = c.evict(0);
        assert_eq!(victims, [dir.join("c3-d")]);
        assert!(!fits);
        assert!(c.entries.contains_key(&a));
    }
}
