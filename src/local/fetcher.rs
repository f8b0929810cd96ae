//! The agent's fetcher: what Mesos's fetcher process and `mesos-fetcher`
//! do with a `CommandInfo`'s URIs before its process starts, for the
//! schemes a local agent serves: paths, `file://`, `http://` and `https://`
//! (our HTTP client; rustls trusting the cluster's `tls_ca_file`, else the
//! system's roots; at most [`MAX_REDIRECTS`] redirects). Other schemes
//! (`hdfs://`, `s3://`, `ftp://`, ...) fail with a message saying so.
//!
//! Each URI lands in the sandbox under its base name (or `output_file`);
//! then `executable` makes it executable (0755) or else `extract` unpacks
//! archives (by name: tar, zip, gzip) into the sandbox.
//!
//! With `cache`, the URI goes through the agent's fetcher cache (Mesos
//! `--fetcher_cache_dir`, `--fetcher_cache_size`, see Mesos's
//! `docs/fetcher.md`):
//! - an entry is keyed by (user, URI) and is either being downloaded or
//!   resident; a fetch that finds it being downloaded waits for that
//!   download, so concurrent fetches download once;
//! - space is reserved as soon as the size is known (Content-Length, or
//!   the file's size), evicting the least recently used entries that no
//!   fetch is using; a URI whose size is unknown, or that cannot fit,
//!   bypasses the cache (Mesos's fallback);
//! - a failed download leaves no entry and no file behind; fetches that
//!   waited for it fetch on their own, bypassing the cache (as in Mesos);
//! - from the cache, an archive with `extract` is unpacked straight from
//!   the cache file (only its contents reach the sandbox); anything else
//!   is copied;
//! - the cache is emptied when the agent starts, as an agent's recovery
//!   does; a cache size of 0 disables it.
//!
//! Downloads give up when no byte arrives for the stall timeout (Mesos
//! `--fetcher_stall_timeout`), which also bounds connecting and the TLS
//! handshake; stopping the cluster aborts them at once.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use thiserror::Error;

use crate::http::Headers;
use crate::http::client::{OwnedBodyStream, is_timeout};
use crate::http::tls::TlsClient;
use crate::transport::{self, Endpoint};
use crate::wire::pb;

/// Mesos's `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_CACHE_SIZE: u64 = 2 << 30;
/// Mesos's `--fetcher_stall_timeout` default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed for one URI.
pub const MAX_REDIRECTS: usize = 10;

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

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(
        "the local agent does not fetch {scheme}:// URIs ({elsewhere}); it fetches paths, file://, http:// and https://"
    )]
    Unsupported {
        scheme: String,
        elsewhere: &'static str,
    },
    #[error("malformed URI: {0}")]
    Malformed(String),
    #[error("output_file {0:?} must be a relative path inside the sandbox")]
    OutputFile(String),
    /// Connecting or the TLS handshake failed (the text names the server).
    #[error("{0}")]
    Connect(String),
    #[error("the server answered HTTP {status}{via}")]
    Status { status: u16, via: Via },
    #[error("more than {MAX_REDIRECTS} redirects")]
    Redirects,
    #[error("{url} redirected to {location:?}, which the local agent cannot fetch")]
    Redirect { url: String, location: String },
    #[error("no data for {secs} s, the fetcher's stall timeout{via}")]
    Stalled { secs: f64, via: Via },
    #[error("the download failed: {source}{via}")]
    Read { source: io::Error, via: Via },
    /// A local file that cannot be read (the message quotes the URI).
    #[error("{0}")]
    Source(io::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("failed to extract {name}: {why}")]
    Extract { name: String, why: String },
    #[error("the agent is stopping")]
    Cancelled,
}

/// Where a download was after redirects, said only if it had moved.
#[derive(Debug, Clone, Default)]
pub struct Via(Option<String>);

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(url) => write!(f, " (redirected to {url})"),
            None => Ok(()),
        }
    }
}

/// `value` with the password of a `user:password@` part masked, for messages.
pub fn redact(value: &str) -> String {
    let Some(i) = value.find("://") else {
        return value.to_string();
    };
    let start = i + 3;
    let end = value[start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |j| start + j);
    match value[start..end].rfind('@') {
        Some(at) => match value[start..start + at].find(':') {
            Some(colon) => format!("{}:xxxxx{}", &value[..start + colon], &value[start + at..]),
            None => value.to_string(),
        },
        None => value.to_string(),
    }
}

/// Mesos `Bytes` syntax: `2GB`, `512MB`, `100KB`, `10B` (units of 1024),
/// or a bare number of bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("invalid size {s:?} (expected e.g. 2GB, 512MB, 100KB or bytes)");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// An `http(s)://` URL, split for our client.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    ep: Endpoint,
    /// Path and query, from the first `/`.
    path: String,
    /// `Authorization` for a `user:password@` part.
    auth: Option<String>,
}

impl HttpUrl {
    fn parse(value: &str) -> Result<HttpUrl, FetchError> {
        let bad = || FetchError::Malformed(redact(value));
        let (scheme, rest) = value.split_once("://").ok_or_else(bad)?;
        let tls = scheme.eq_ignore_ascii_case("https");
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut ep =
            transport::parse_endpoint(hostport, if tls { 443 } else { 80 }).map_err(|_| bad())?;
        ep.tls = tls;
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let auth = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let plain = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(plain)
            )
        });
        Ok(HttpUrl { ep, path, auth })
    }

    /// The last path segment (without the query), if any.
    fn basename(&self) -> Option<&str> {
        let path = self.path.split('?').next().unwrap_or("");
        path.rsplit('/').next().filter(|s| !s.is_empty())
    }

    /// Where a redirect leads; credentials go only to the same server.
    fn follow(&self, location: &str) -> Option<HttpUrl> {
        let loc = location.trim();
        let (ep, path) = match transport::resolve_location(&self.ep, loc) {
            Some(found) => found,
            // A relative reference: next to the current path.
            None if !loc.contains("://") && !loc.is_empty() => {
                let dir = self.path.split('?').next().unwrap_or("/");
                let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
                (self.ep.clone(), format!("{dir}{loc}"))
            }
            None => return None,
        };
        let auth = if ep == self.ep {
            self.auth.clone()
        } else {
            None
        };
        Some(HttpUrl { ep, path, auth })
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.ep, self.path)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a URI's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    Path(PathBuf),
    Http(HttpUrl),
}

impl Source {
    fn parse(value: &str) -> Result<Source, FetchError> {
        if value.is_empty() {
            return Err(FetchError::Malformed("empty URI".into()));
        }
        let Some(i) = value.find("://") else {
            return Ok(Source::Path(value.into()));
        };
        let scheme = value[..i].to_ascii_lowercase();
        match scheme.as_str() {
            "file" => Ok(Source::Path(value[i + 3..].into())),
            "http" | "https" => HttpUrl::parse(value).map(Source::Http),
            "ftp" | "ftps" => Err(FetchError::Unsupported {
                scheme,
                elsewhere: "Mesos agents fetch them with libcurl",
            }),
            _ => Err(FetchError::Unsupported {
                scheme,
                elsewhere: "Mesos agents hand them to the Hadoop client when it is installed",
            }),
        }
    }

    /// Mesos's `Fetcher::basename`: the file name a URI lands under.
    fn basename(&self, value: &str) -> Result<String, FetchError> {
        let name = match self {
            Source::Path(p) => p.file_name().and_then(|n| n.to_str()),
            Source::Http(u) => u.basename(),
        };
        match name {
            Some(n) if n != ".." && n != "." => Ok(n.to_string()),
            _ => Err(FetchError::Malformed(format!(
                "{} names no file (give output_file)",
                redact(value)
            ))),
        }
    }
}

/// An open source: its size when known up front, and its bytes.
enum Body<'a> {
    File {
        file: File,
        size: u64,
    },
    Http {
        via: Via,
        size: Option<u64>,
        stream: OwnedBodyStream,
        _sock: SockGuard<'a>,
    },
}

impl Body<'_> {
    fn size(&self) -> Option<u64> {
        match self {
            Body::File { size, .. } => Some(*size),
            Body::Http { size, .. } => *size,
        }
    }
}

/// Keeps a download's socket where [`Fetcher::cancel`] can shut it down.
struct SockGuard<'a> {
    fetcher: &'a Fetcher,
    id: u64,
}

impl Drop for SockGuard<'_> {
    fn drop(&mut self) {
        lock(&self.fetcher.sockets).remove(&self.id);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: Option<String>,
    uri: String,
}

#[derive(Debug)]
struct Entry {
    path: PathBuf,
    /// Reserved bytes while downloading; the file's size once resident.
    size: u64,
    resident: bool,
    /// Fetches using the entry (it cannot be evicted meanwhile).
    refs: u32,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    serial: u64,
    clock: u64,
    /// Fetches waiting for another's download (tests watch it).
    waiting: usize,
}

impl Cache {
    fn used(&self) -> u64 {
        self.entries.values().map(|e| e.size).sum()
    }

    /// Evicts least recently used idle entries until at most `capacity`
    /// bytes are used; returns the files to delete and whether it fits.
    fn evict(&mut self, capacity: u64) -> (Vec<PathBuf>, bool) {
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

/// A new entry being downloaded: abandoned unless its download settles,
/// whatever happens to the fetch (an error, a panic), so that fetches
/// waiting for it never hang.
struct NewEntry<'a> {
    fetcher: &'a Fetcher,
    key: &'a Key,
    path: &'a Path,
    settled: bool,
}

impl Drop for NewEntry<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.fetcher.abandon(self.key, self.path);
        }
    }
}

/// What a cached fetch found.
enum Claim {
    /// A resident file (now referenced).
    Resident(PathBuf),
    /// A new entry this fetch downloads into.
    Download(PathBuf),
    /// The download waited for failed: fetch bypassing the cache.
    Fallback,
}

/// Whether a download went into the cache or (not fitting) straight to the sandbox.
enum Stored {
    Cache,
    Sandbox,
}

/// One agent's fetcher and fetcher cache.
pub struct Fetcher {
    cfg: FetcherConfig,
    tls: TlsClient,
    cache: Mutex<Cache>,
    changed: Condvar,
    cancelled: AtomicBool,
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("cfg", &self.cfg).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
            tls: TlsClient::new(cfg.ca_file.clone()),
            cfg,
            cache: Mutex::default(),
            changed: Condvar::new(),
            cancelled: AtomicBool::new(false),
            sockets: Mutex::default(),
            next_socket: AtomicU64::new(0),
        }
    }

    /// Aborts every fetch in progress and any later one (the cluster stops).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        for s in lock(&self.sockets).values() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let _c = lock(&self.cache);
        self.changed.notify_all();
    }

    /// Empties the cache (but for entries in use), as an agent restart does.
    pub fn clear(&self) {
        let (victims, _) = lock(&self.cache).evict(0);
        remove_files(&victims);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
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
    fn fetch_direct(&self, job: &Job<'_>) -> Result<(), FetchError> {
        let mut body = self.open(job.source)?;
        self.save(&mut body, &job.dest)?;
        job.finish_in_sandbox()
    }

    fn fetch_cached(&self, job: &Job<'_>, key: &Key) -> Result<(), FetchError> {
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
    fn claim(&self, key: &Key, name: &str) -> Result<Claim, FetchError> {
        let mut c = lock(&self.cache);
        let mut waited = false;
        loop {
            if self.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            c.clock += 1;
            let now = c.clock;
            match c.entries.get_mut(key) {
                Some(e) if e.resident => {
                    e.refs += 1;
                    e.last_used = now;
                    return Ok(Claim::Resident(e.path.clone()));
                }
                Some(_) => {
                    waited = true;
                    c.waiting += 1;
                    c = self.changed.wait(c).unwrap_or_else(|e| e.into_inner());
                    c.waiting -= 1;
                }
                None if waited => return Ok(Claim::Fallback),
                None => {
                    c.serial += 1;
                    let file = Path::new(name)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let path = self.cfg.cache_dir.join(format!("c{}-{file}", c.serial));
                    c.entries.insert(
                        key.clone(),
                        Entry {
                            path: path.clone(),
                            size: 0,
                            resident: false,
                            refs: 1,
                            last_used: now,
                        },
                    );
                    return Ok(Claim::Download(path));
                }
            }
        }
    }

    /// Downloads `key`'s new entry into `path`, or (no room, size unknown)
    /// drops the entry and downloads straight into the sandbox.
    fn download_into_cache(
        &self,
        job: &Job<'_>,
        entry: &mut NewEntry<'_>,
    ) -> Result<Stored, FetchError> {
        let (key, path) = (entry.key, entry.path);
        let mut body = self.open(job.source)?;
        if let Err(why) = self.reserve(key, body.size()) {
            crate::log!(
                crate::log::Level::Warn,
                "agent",
                "fetcher cache: {why}; fetching {} bypassing the cache",
                redact(&key.uri)
            );
            entry.settled = true;
            self.abandon(key, path);
            self.save(&mut body, &job.dest)?;
            return Ok(Stored::Sandbox);
        }
        let size = self.save(&mut body, path)?;
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
    fn reserve(&self, key: &Key, size: Option<u64>) -> Result<(), String> {
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
    fn release(&self, key: &Key) {
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
    fn abandon(&self, key: &Key, path: &Path) {
        let mut c = lock(&self.cache);
        c.entries.remove(key);
        self.changed.notify_all();
        drop(c);
        remove_files(&[path.to_path_buf()]);
    }

    /// Opens a source: the file, or the HTTP response after redirects.
    fn open(&self, source: &Source) -> Result<Body<'_>, FetchError> {
        match source {
            Source::Path(path) => {
                let file = File::open(path).map_err(FetchError::Source)?;
                let meta = file.metadata().map_err(FetchError::Source)?;
                if meta.is_dir() {
                    return Err(FetchError::Source(io::Error::other("is a directory")));
                }
                Ok(Body::File {
                    file,
                    size: meta.len(),
                })
            }
            Source::Http(url) => self.get(url),
        }
    }

    /// GET, following up to [`MAX_REDIRECTS`] redirects.
    fn get(&self, first: &HttpUrl) -> Result<Body<'_>, FetchError> {
        let mut url = first.clone();
        for hop in 0..=MAX_REDIRECTS {
            let via = Via((hop > 0).then(|| url.to_string()));
            let timeout = self.cfg.stall_timeout;
            let mut conn = transport::connect(&url.ep, timeout, &self.tls).map_err(|e| {
                let text = e.to_string();
                if text.starts_with("TLS handshake") {
                    FetchError::Connect(text)
                } else {
                    FetchError::Connect(format!("cannot connect to {}: {text}", url.ep))
                }
            })?;
            let guard = self.register(&conn);
            if self.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            let read_err = |e: io::Error| self.read_error(&via, e);
            conn.set_read_timeout(Some(timeout)).map_err(read_err)?;
            let mut h = Headers::default()
                .with(
                    "User-Agent",
                    concat!("lua-mesos-fetcher/", env!("CARGO_PKG_VERSION")),
                )
                .with("Accept", "*/*")
                .with("Connection", "close");
            if let Some(a) = &url.auth {
                h.add("Authorization", a.clone());
            }
            conn.send_request("GET", &url.path, &h, &[])
                .map_err(read_err)?;
            let (status, headers) = conn.read_response_head().map_err(read_err)?;
            match status {
                200 => {
                    let size = if headers.is_chunked() {
                        None
                    } else {
                        headers.content_length().map(|n| n as u64)
                    };
                    return Ok(Body::Http {
                        via,
                        size,
                        stream: conn.into_stream(&headers),
                        _sock: guard,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = headers.get("location").unwrap_or("").to_string();
                    url = url.follow(&location).ok_or_else(|| FetchError::Redirect {
                        url: url.to_string(),
                        location,
                    })?;
                }
                status => {
                    return Err(FetchError::Status { status, via });
                }
            }
        }
        Err(FetchError::Redirects)
    }

    fn register(&self, conn: &crate::http::client::Conn) -> SockGuard<'_> {
        let id = self.next_socket.fetch_add(1, Ordering::SeqCst);
        if let Ok(s) = conn.shutdown_handle() {
            lock(&self.sockets).insert(id, s);
        }
        SockGuard { fetcher: self, id }
    }

    fn read_error(&self, via: &Via, e: io::Error) -> FetchError {
        if self.is_cancelled() {
            FetchError::Cancelled
        } else if is_timeout(&e) {
            FetchError::Stalled {
                secs: self.cfg.stall_timeout.as_secs_f64(),
                via: via.clone(),
            }
        } else {
            FetchError::Read {
                source: e,
                via: via.clone(),
            }
        }
    }

    /// Writes the body to `path` (removed again if anything fails);
    /// returns the bytes written.
    fn save(&self, body: &mut Body<'_>, path: &Path) -> Result<u64, FetchError> {
        let mut out = File::create(path).map_err(|e| write_error(path, e))?;
        let r = self.copy(body, &mut out, path);
        if r.is_err() {
            drop(out);
            let _ = fs::remove_file(path);
        }
        r
    }

    fn copy(&self, body: &mut Body<'_>, out: &mut File, path: &Path) -> Result<u64, FetchError> {
        let mut total = 0u64;
        match body {
            Body::File { file, .. } => {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FetchError::Source(e)),
                    };
                    out.write_all(&buf[..n]).map_err(|e| write_error(path, e))?;
                    total += n as u64;
                }
            }
            Body::Http { via, stream, .. } => {
                let mut buf = Vec::with_capacity(64 * 1024);
                loop {
                    buf.clear();
                    match stream.read_data(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {
                            out.write_all(&buf).map_err(|e| write_error(path, e))?;
                            total += buf.len() as u64;
                        }
                        Err(e) => return Err(self.read_error(via, e)),
                    }
                }
            }
        }
        Ok(total)
    }

    /// Fetches waiting for another's download (for tests).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.cache).waiting
    }
}

fn write_error(path: &Path, e: io::Error) -> FetchError {
    FetchError::Write {
        path: path.to_path_buf(),
        source: e,
    }
}

fn remove_files(paths: &[PathBuf]) {
    for p in paths {
        let _ = fs::remove_file(p);
    }
}

/// One URI being fetched into one sandbox.
struct Job<'a> {
    uri: &'a pb::command_info::Uri,
    source: &'a Source,
    /// Relative to the sandbox: `output_file` or the URI's base name.
    name: &'a str,
    sandbox: &'a Path,
    dest: PathBuf,
}

impl Job<'_> {
    /// After a download into the sandbox: `executable`, else `extract`
    /// (the archive stays beside its contents).
    fn finish_in_sandbox(&self) -> Result<(), FetchError> {
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
    fn deliver_from_cache(&self, cached: &Path) -> Result<(), FetchError> {
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

fn make_executable(path: &Path) -> Result<(), FetchError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| write_error(path, e))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archive {
    Tar,
    Zip,
    Gzip,
}

/// The archives `mesos-fetcher` extracts, by name.
fn archive_kind(name: &str) -> Option<Archive> {
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
fn extract(kind: Archive, path: &Path, name: &str, sandbox: &Path) -> Result<(), FetchError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::server::{Reply, Request, Server};
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let d = std::env::temp_dir().join(format!(
                "lua-mesos-fetcher-{}-{tag}-{}",
                std::process::id(),
                crate::local::protocol::uuid_string(&crate::local::protocol::new_uuid())
            ));
            fs::create_dir_all(&d).expect("mkdir");
            Scratch(d)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn fetcher(dir: &Path, cache_size: u64, stall: Duration) -> Fetcher {
        Fetcher::new(FetcherConfig {
            cache_dir: dir.join("cache"),
            cache_size,
            stall_timeout: stall,
            ca_file: None,
        })
    }

    fn uri(value: &str, cache: bool) -> pb::command_info::Uri {
        pb::command_info::Uri {
            value: value.into(),
            cache: Some(cache),
            ..Default::default()
        }
    }

    fn cached_files(f: &Fetcher) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&f.cfg.cache_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn wait_until(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "condition never held");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A plain HTTP server counting the requests of each path.
    struct Counting {
        server: Server,
        hits: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl Counting {
        fn start(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Counting {
            let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
            let h = hits.clone();
            let server = Server::bind(
                "127.0.0.1:0",
                Arc::new(move |req: Request| {
                    *lock(&h).entry(req.path.clone()).or_default() += 1;
                    reply(&req)
                }),
            )
            .expect("bind");
            Counting { server, hits }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.server.addr())
        }

        fn hits(&self, path: &str) -> usize {
            lock(&self.hits).get(path).copied().unwrap_or(0)
        }
    }

    #[test]
    fn sizes_in_mesos_bytes_syntax() {
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("512MB"), Ok(512 << 20));
        assert_eq!(parse_bytes(" 10 KB "), Ok(10 << 10));
        assert_eq!(parse_bytes("1.5KB"), Ok(1536));
        assert_eq!(parse_bytes("100B"), Ok(100));
        assert_eq!(parse_bytes("0"), Ok(0));
        for bad in ["", "GB", "-1MB", "12 parsecs", "1e3"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("https://alice:s3cret@h:1/p@x"),
            "https://alice:xxxxx@h:1/p@x"
        );
        assert_eq!(redact("https://alice@h/x"), "https://alice@h/x");
        assert_eq!(redact("/tmp/a@b:c"), "/tmp/a@b:c");
        let f = fetcher(Path::new("/nonexistent"), 0, DEFAULT_STALL_TIMEOUT);
        let cmd = pb::CommandInfo {
            uris: vec![uri("hdfs://bob:hunter2@nn/x", false)],
            ..Default::default()
        };
        let e = f
            .fetch_all(&cmd, None, Path::new("/nonexistent"))
            .expect_err("hdfs");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("hdfs://bob:xxxxx@nn/x"), "{e}");
    }

    #[test]
    fn urls_redirects_and_base_names() {
        let u = HttpUrl::parse("https://u:p%40ss@h:8443/a/b.tgz?x=1#frag").expect("url");
        assert_eq!(u.ep.to_string(), "https://h:8443");
        assert_eq!(u.path, "/a/b.tgz?x=1");
        assert_eq!(u.basename(), Some("b.tgz"));
        let basic = base64::engine::general_purpose::STANDARD.encode("u:p@ss");
        assert_eq!(u.auth.as_deref(), Some(format!("Basic {basic}").as_str()));
        assert_eq!(u.to_string(), "https://h:8443/a/b.tgz?x=1");

        let same = u.follow("c.txt").expect("relative");
        assert_eq!(
            (same.path.as_str(), same.auth.is_some()),
            ("/a/c.txt", true)
        );
        let abs = u.follow("/d").expect("absolute path");
        assert_eq!((abs.path.as_str(), abs.ep == u.ep), ("/d", true));
        let other = u.follow("//mirror:80/e").expect("protocol-relative");
        assert_eq!(other.ep.to_string(), "https://mirror:80");
        assert!(other.auth.is_none(), "credentials stay with their server");
        assert!(u.follow("http://plain/f").is_some_and(|x| !x.ep.tls));
        assert!(u.follow("ftp://x/y").is_none());

        let bare = HttpUrl::parse("http://h").expect("url");
        assert_eq!((bare.ep.port, bare.path.as_str()), (80, "/"));
        assert_eq!(bare.basename(), None);
        assert!(HttpUrl::parse("http:///x").is_err());
    }

    #[test]
    fn unsupported_schemes_say_so() {
        for (value, hint) in [
            ("hdfs://nn:8020/data/x.csv", "Hadoop"),
            ("s3://bucket/x", "Hadoop"),
            ("s3a://bucket/x", "Hadoop"),
            ("ftp://host/x", "libcurl"),
        ] {
            let e = Source::parse(value).expect_err(value).to_string();
            let scheme = &value[..value.find(':').unwrap_or(0)];
            assert!(
                e.contains(&format!("does not fetch {scheme}:// URIs")) && e.contains(hint),
                "{e}"
            );
        }
        assert!(matches!(Source::parse("FILE:///x"), Ok(Source::Path(p)) if p == Path::new("/x")));
    }

    #[test]
    fn output_file_stays_inside_the_sandbox() {
        let s = Scratch::new("outfile");
        fs::write(s.0.join("a.txt"), "a").expect("write");
        let f = fetcher(&s.0, 0, DEFAULT_STALL_TIMEOUT);
        let sandbox = s.0.join("sandbox");
        for bad in ["../escape", "/abs", "", "x/../../y"] {
            let mut u = uri(&s.0.join("a.txt").display().to_string(), false);
            u.output_file = Some(bad.into());
            assert!(
                matches!(f.fetch(&u, None, &sandbox), Err(FetchError::OutputFile(_))),
                "{bad}"
            );
        }
        let mut u = uri(&s.0.join("a.txt").display().to_string(), false);
        u.output_file = Some("./sub/b.txt".into());
        f.fetch(&u, None, &sandbox).expect("fetch");
        assert_eq!(text(&sandbox, "sub/b.txt").as_deref(), Some("a"));
    }

    #[test]
    fn the_cache_is_keyed_by_user_and_uri_and_evicts_the_least_recently_used() {
        let s = Scratch::new("lru");
        for name in ["a", "b", "c"] {
            fs::write(s.0.join(name), vec![b'x'; 100]).expect("write");
        }
        let f = fetcher(&s.0, 250, DEFAULT_STALL_TIMEOUT);
        let sandbox = s.0.join("sandbox");
        let get = |name: &str, user: Option<&str>| {
            let got = fetch_text(&f, &s.0.join(name).display().to_string(), user, &sandbox);
            assert_eq!(got.map(|t| t.len()), Some(100));
        };
        get("a", None);
        get("b", None);
        assert_eq!(cached_files(&f), ["c1-a", "c2-b"]);
        get("a", None); // resident: used again, not fetched again
        assert_eq!(cached_files(&f), ["c1-a", "c2-b"]);
        get("c", None); // evicts b, the least recently used
        assert_eq!(cached_files(&f), ["c1-a", "c3-c"]);
        get("a", Some("alice")); // another user: its own entry, evicting a
        assert_eq!(cached_files(&f), ["c3-c", "c4-a"]);
        assert!(lock(&f.cache).used() <= 250);

        // Too large for the cache: fetched anyway, bypassing it.
        fs::write(s.0.join("big"), vec![b'y'; 300]).expect("write");
        let big = fetch_text(&f, &s.0.join("big").display().to_string(), None, &sandbox);
        assert_eq!(big.map(|t| t.len()), Some(300));
        assert_eq!(cached_files(&f), ["c3-c", "c4-a"]);

        f.clear();
        assert!(cached_files(&f).is_empty());
        assert_eq!(lock(&f.cache).used(), 0);
    }

    /// Fetches `value` with `cache` into `sandbox`; the fetched file's text.
    fn fetch_text(f: &Fetcher, value: &str, user: Option<&str>, sandbox: &Path) -> Option<String> {
        f.fetch(&uri(value, true), user, sandbox).expect("fetch");
        let name = Source::parse(value).ok()?.basename(value).ok()?;
        text(sandbox, &name)
    }

    fn text(dir: &Path, name: &str) -> Option<String> {
        fs::read_to_string(dir.join(name)).ok()
    }

    #[test]
    fn concurrent_fetches_of_one_uri_download_once() {
        let (release, gate) = crossbeam_channel::bounded::<()>(0);
        let srv = Counting::start(move |_| {
            let _ = gate.recv(); // until the test drops `release`
            Reply::text(200, "shared data")
        });
        let s = Scratch::new("concurrent");
        let f = Arc::new(fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT));
        let url = srv.url("/shared.txt");
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let (f, url, sandbox) = (f.clone(), url.clone(), s.0.join(format!("s{i}")));
                std::thread::spawn(move || {
                    f.fetch(&uri(&url, true), Some("u"), &sandbox)
                        .map(|()| text(&sandbox, "shared.txt"))
                })
            })
            .collect();
        // One download in flight, the two other fetches waiting for it.
        wait_until(|| srv.hits("/shared.txt") == 1 && f.waiting() == 2);
        drop(release);
        for t in threads {
            let got = t.join().expect("thread").expect("fetch");
            assert_eq!(got.as_deref(), Some("shared data"));
        }
        assert_eq!(srv.hits("/shared.txt"), 1);
        assert_eq!(cached_files(&f).len(), 1);
    }

    #[test]
    fn a_failed_download_leaves_nothing_and_is_retried_next_time() {
        let fail = Arc::new(AtomicBool::new(true));
        let fail2 = fail.clone();
        let srv = Counting::start(move |req| match req.path.as_str() {
            "/flaky.bin" if fail2.load(Ordering::SeqCst) => Reply::text(500, "no"),
            "/flaky.bin" => Reply::text(200, "fine"),
            "/loop" => Reply::status(302).with_header("Location", "/loop"),
            "/hop" => Reply::status(307).with_header("Location", "sub/flaky.bin"),
            "/sub/flaky.bin" => Reply::text(200, "hopped"),
            "/gone" => Reply::status(301).with_header("Location", "/nowhere"),
            "/chunked.txt" => {
                let (tx, rx) = crossbeam_channel::unbounded();
                let _ = tx.send(b"in chunks".to_vec());
                Reply::Stream {
                    headers: Headers::default(),
                    rx,
                    on_close: Box::new(|| {}),
                }
            }
            _ => Reply::text(404, "not found"),
        });
        let s = Scratch::new("failed");
        let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
        let sandbox = s.0.join("sandbox");
        let e = f
            .fetch(&uri(&srv.url("/flaky.bin"), true), None, &sandbox)
            .expect_err("500");
        assert_eq!(e.to_string(), "the server answered HTTP 500");
        assert!(lock(&f.cache).entries.is_empty());
        assert!(cached_files(&f).is_empty());
        assert!(!sandbox.join("flaky.bin").exists());
        fail.store(false, Ordering::SeqCst);
        f.fetch(&uri(&srv.url("/flaky.bin"), true), None, &sandbox)
            .expect("second try");
        assert_eq!(srv.hits("/flaky.bin"), 2);
        assert_eq!(cached_files(&f), ["c2-flaky.bin"]);

        let e = f
            .fetch(&uri(&srv.url("/loop"), false), None, &sandbox)
            .expect_err("loop");
        assert!(matches!(e, FetchError::Redirects), "{e}");
        assert_eq!(srv.hits("/loop"), MAX_REDIRECTS + 1);

        let mut hop = uri(&srv.url("/hop"), false);
        hop.output_file = Some("hopped.txt".into());
        f.fetch(&hop, None, &sandbox).expect("relative redirect");
        assert_eq!(text(&sandbox, "hopped.txt").as_deref(), Some("hopped"));
        let e = f
            .fetch(&uri(&srv.url("/gone"), false), None, &sandbox)
            .expect_err("404");
        let moved = format!(" (redirected to {})", srv.url("/nowhere"));
        assert_eq!(
            e.to_string(),
            format!("the server answered HTTP 404{moved}")
        );

        // No size up front: delivered, but not cached.
        f.fetch(&uri(&srv.url("/chunked.txt"), true), None, &sandbox)
            .expect("chunked");
        assert_eq!(text(&sandbox, "chunked.txt").as_deref(), Some("in chunks"));
        assert_eq!(cached_files(&f), ["c2-flaky.bin"]);
    }

    #[test]
    fn archives_from_the_cache_leave_only_their_contents() {
        let s = Scratch::new("extract");
        fs::create_dir_all(s.0.join("pkg")).expect("mkdir");
        fs::write(s.0.join("pkg/inside.txt"), "packed\n").expect("write");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&s.0)
            .args(["-czf", "pkg.tar.gz", "pkg"])
            .current_dir(&s.0)
            .status()
            .expect("tar");
        assert!(st.success());
        let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
        let value = s.0.join("pkg.tar.gz").display().to_string();
        for (cache, sandbox) in [(false, "direct"), (true, "cached"), (true, "again")] {
            let sandbox = s.0.join(sandbox);
            f.fetch(&uri(&value, cache), None, &sandbox).expect("fetch");
            assert_eq!(
                text(&sandbox, "pkg/inside.txt").as_deref(),
                Some("packed\n")
            );
            assert_eq!(sandbox.join("pkg.tar.gz").exists(), !cache, "{cache}");
        }
        assert_eq!(cached_files(&f), ["c1-pkg.tar.gz"]);
    }

    #[test]
    fn a_body_cut_short_leaves_no_partial_file() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().expect("accept");
            let mut r = io::BufReader::new(c.try_clone().expect("clone"));
            crate::http::read_head(&mut r).expect("request");
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
                .expect("write");
        });
        let s = Scratch::new("short");
        let f = fetcher(&s.0, 1 << 20, DEFAULT_STALL_TIMEOUT);
        let sandbox = s.0.join("sandbox");
        let e = f
            .fetch(
                &uri(&format!("http://{addr}/short.bin"), true),
                None,
                &sandbox,
            )
            .expect_err("short body");
        server.join().expect("server");
        assert!(e.to_string().contains("body ended early"), "{e}");
        assert!(lock(&f.cache).entries.is_empty());
        assert!(cached_files(&f).is_empty());
        assert!(!sandbox.join("short.bin").exists());
    }

    #[test]
    fn a_silent_server_stalls_out_and_cancel_stops_a_fetch_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = accepted.clone();
        // Accepts connections and never answers (they close with the test).
        let held = Arc::new(Mutex::new(vec![]));
        let held2 = held.clone();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                lock(&held2).push(c);
                acc.fetch_add(1, Ordering::SeqCst);
            }
        });
        let s = Scratch::new("stall");
        let url = format!("http://{addr}/silent.txt");

        let f = fetcher(&s.0, 1 << 20, Duration::from_millis(300));
        let t0 = Instant::now();
        let e = f
            .fetch(&uri(&url, true), None, &s.0.join("a"))
            .expect_err("stall");
        assert!(matches!(e, FetchError::Stalled { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "no data for 0.3 s, the fetcher's stall timeout"
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(cached_files(&f).is_empty());

        let f = Arc::new(fetcher(&s.0, 1 << 20, Duration::from_secs(600)));
        let (f2, url2, sandbox) = (f.clone(), url.clone(), s.0.join("b"));
        let t = std::thread::spawn(move || f2.fetch(&uri(&url2, true), None, &sandbox));
        wait_until(|| !lock(&f.sockets).is_empty());
        let t0 = Instant::now();
        f.cancel();
        let e = t.join().expect("thread").expect_err("cancelled");
        assert!(matches!(e, FetchError::Cancelled), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(lock(&f.cache).entries.is_empty());
    }
}
