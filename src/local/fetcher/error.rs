//! The fetcher's errors, as the messages of a failed fetch word them.
//!
//! May import: nothing of the cluster.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Redirects followed for one URI.
pub const MAX_REDIRECTS: usize = 10;

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
pub struct Via(pub(super) Option<String>);

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(url) => write!(f, " (redirected to {url})"),
            None => Ok(()),
        }
    }
}

pub(super) fn write_error(path: &Path, e: io::Error) -> FetchError {
    FetchError::Write {
        path: path.to_path_buf(),
        source: e,
    }
}
