//! URIs and sizes: what a URI names (a local path or an `http(s)://` URL,
//! and the schemes refused with a reason), its base name, redirects,
//! passwords masked for messages, and Mesos's `Bytes` syntax. URIs are
//! split by `crate::net::url`, the one URL parser.
//!
//! May import: `error`, `crate::base`, `crate::net` (endpoints, the URL
//! parser).

use std::path::PathBuf;

use base64::Engine;

use super::error::FetchError;
use crate::base::Escapes;
use crate::net::endpoint::{Endpoint, resolve_location};
use crate::net::url::{Form, Url};

/// `value` with the password of a `user:password@` part masked, for messages.
pub fn redact(value: &str) -> String {
    Url::parse(value, Form::Reference).redacted()
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
pub(super) struct HttpUrl {
    pub(super) ep: Endpoint,
    /// Path and query, from the first `/`.
    pub(super) path: String,
    /// `Authorization` for a `user:password@` part.
    pub(super) auth: Option<String>,
}

impl HttpUrl {
    #[cfg(test)]
    pub(super) fn parse(value: &str) -> Result<HttpUrl, FetchError> {
        Self::from_url(&Url::parse(value, Form::Reference))
    }

    fn from_url(u: &Url<'_>) -> Result<HttpUrl, FetchError> {
        let bad = || FetchError::Malformed(u.redacted());
        let tls = match u.scheme() {
            Some(_) => u.is("https"),
            None => return Err(bad()),
        };
        let ep = Endpoint::from_url(u, tls, if tls { 443 } else { 80 }).map_err(|_| bad())?;
        // Lenient decoding never fails; a bad escape stays as it is.
        let auth = u.credentials(Escapes::Lenient).ok().flatten().map(|c| {
            let plain = format!("{}:{}", c.user, c.password.unwrap_or_default());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(plain)
            )
        });
        Ok(HttpUrl {
            ep,
            path: u.request_target(),
            auth,
        })
    }

    /// The path without the query.
    fn path_only(&self) -> &str {
        Url::parse(&self.path, Form::Origin).path()
    }

    /// The last path segment (without the query), if any.
    pub(super) fn basename(&self) -> Option<&str> {
        self.path_only()
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
    }

    /// Where a redirect leads; credentials go only to the same server.
    pub(super) fn follow(&self, location: &str) -> Option<HttpUrl> {
        let loc = location.trim();
        let (ep, path) = match resolve_location(&self.ep, loc) {
            Some(found) => found,
            None => {
                // A relative reference: next to the current path.
                let u = Url::parse(loc, Form::Reference);
                if loc.is_empty() || u.scheme().is_some() || u.authority().is_some() {
                    return None;
                }
                let dir = self.path_only();
                let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
                (self.ep.clone(), format!("{dir}{loc}"))
            }
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

/// Where a URI's bytes come from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Path(PathBuf),
    Http(HttpUrl),
}

impl Source {
    pub(super) fn parse(value: &str) -> Result<Source, FetchError> {
        if value.is_empty() {
            return Err(FetchError::Malformed("empty URI".into()));
        }
        let u = Url::parse(value, Form::Reference);
        let Some(scheme) = u.scheme() else {
            return Ok(Source::Path(value.into()));
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            // Mesos takes all that follows `file://` as the path.
            "file" => Ok(Source::Path(u.after_scheme().into())),
            "http" | "https" => HttpUrl::from_url(&u).map(Source::Http),
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
    pub(super) fn basename(&self, value: &str) -> Result<String, FetchError> {
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
