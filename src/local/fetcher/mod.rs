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
//!
//! What lives here, by job:
//! - `uri`: what a URI names, base names, redirects, `Bytes` sizes;
//! - `cache`: the cache's bookkeeping (claims, eviction), pure;
//! - `download`: reading a file or an HTTP(S) source;
//! - `extract`: `executable`, and unpacking archives;
//! - `fetch`: the fetcher itself, tying them together;
//! - `error`: the errors and their messages.
//!
//! May import: the crate's HTTP client, TLS and transport; nothing of the
//! master or the agents (the agents' launcher calls [`Fetcher::fetch_all`]).

mod cache;
mod download;
mod error;
mod extract;
mod fetch;
#[cfg(test)]
mod tests;
mod uri;

pub use fetch::{DEFAULT_CACHE_SIZE, DEFAULT_STALL_TIMEOUT, Fetcher, FetcherConfig};
pub use uri::parse_bytes;
