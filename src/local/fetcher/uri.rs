//! URIs and sizes: what a URI names (a local path or an `http(s)://` URL,
//! and the schemes refused with a reason), its base name, redirects,
//! passwords masked for messages, and Mesos's `Bytes` syntax.
//!
//! May import: `error`.

use std::path::PathBuf;

use base64::Engine;

use super::error::FetchError;
use crate::net::transport::{self, Endpoint};

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
pub(super) struct HttpUrl {
    pub(super) ep: Endpoint,
    /// Path and query, from the first `/`.
    pub(super) path: String,
    /// `Authorization` for a `user:password@` part.
    pub(super) auth: Option<String>,
}

impl HttpUrl {
    pub(super) fn parse(value: &str) -> Result<HttpUrl, FetchError> {
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
    pub(super) fn basename(&self) -> Option<&str> {
        let path = self.path.split('?').next().unwrap_or("");
        path.rsplit('/').next().filter(|s| !s.is_empty())
    }

    /// Where a redirect leads; credentials go only to the same server.
    pub(super) fn follow(&self, location: &str) -> Option<HttpUrl> {
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

/// Decodes `%XX` escapes; a malformed one stays as it is.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = crate::base::percent_decode(s, crate::base::Escapes::Lenient).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
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
