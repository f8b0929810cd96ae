//! Where a master is: endpoints, master strings (host:port lists, URLs,
//! `file://` files, `zk://` groups), and redirect locations. Pure parsing
//! (a `file://` master string is the one file it reads); imports nothing
//! from the crate, so the transport, ZooKeeper and the local cluster can
//! all use it.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// A Unix domain socket to connect to instead of `host:port` (an
    /// agent's `MESOS_DOMAIN_SOCKET`); always clear text.
    pub unix: Option<PathBuf>,
}

impl Endpoint {
    /// A TCP endpoint.
    pub fn tcp(host: impl Into<String>, port: u16, tls: bool) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls,
            unix: None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.unix {
            return write!(f, "http+unix://{}", path.display());
        }
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MasterSpecError {
    #[error(
        "invalid master {0:?}: expected host:port, http(s)://host:port or a comma-separated list"
    )]
    Invalid(String),
    #[error("master {0:?}: {1}")]
    Unsupported(String, String),
    #[error("master file {0}: {1}")]
    File(String, String),
}

/// Parses one endpoint: `host`, `host:port`, `master@host:port`,
/// `http://host[:port][/...]`, `https://...`, `[v6]:port`.
pub fn parse_endpoint(s: &str, default_port: u16) -> Result<Endpoint, MasterSpecError> {
    let bad = || MasterSpecError::Invalid(s.to_string());
    let s = s.trim();
    let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else {
        (false, s)
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    if hostport.is_empty() {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if tail.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (hostport.to_string(), if tls { 443 } else { default_port }),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(Endpoint::tcp(host, port, tls))
}

/// Where to find the leading master.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterSpec {
    /// Candidates tried in order.
    Endpoints(Vec<Endpoint>),
    /// Followed through a ZooKeeper group.
    ZooKeeper(ZkUrl),
}

/// Parses any master string: `zk://...` (also inside a `file://`), or what
/// [`parse_masters`] takes.
pub fn parse_master_spec(spec: &str) -> Result<MasterSpec, MasterSpecError> {
    let spec = spec.trim();
    if let Some(path) = spec.strip_prefix("file://") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if text.trim().starts_with("zk://") {
            return parse_master_spec(text.trim());
        }
    }
    if spec.starts_with("zk://") {
        // The URL may hold a password: errors never quote it.
        return ZkUrl::parse(spec)
            .map(MasterSpec::ZooKeeper)
            .map_err(|e| MasterSpecError::Unsupported("zk://...".into(), e));
    }
    parse_masters(spec).map(MasterSpec::Endpoints)
}

/// Parses a master string into the candidates to try in order.
/// `file:///path` is read and parsed again; `zk://` is not handled here.
pub fn parse_masters(spec: &str) -> Result<Vec<Endpoint>, MasterSpecError> {
    let spec = spec.trim();
    if let Some(path) = spec.strip_prefix("file://") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if text.trim().starts_with("file://") {
            return Err(MasterSpecError::File(
                path.to_string(),
                "nested file:// master".into(),
            ));
        }
        return parse_masters(&text);
    }
    if spec.starts_with("zk://") {
        return Err(MasterSpecError::Unsupported(
            "zk://...".into(),
            "a ZooKeeper group is not a list of endpoints (use parse_master_spec)".into(),
        ));
    }
    let out: Vec<Endpoint> = spec
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse_endpoint(p, 5050))
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(MasterSpecError::Invalid(spec.to_string()));
    }
    Ok(out)
}

/// Resolves a redirect `Location` (often protocol-relative, `//host:port/path`)
/// against the endpoint that sent it. Returns the new endpoint and path.
pub fn resolve_location(from: &Endpoint, location: &str) -> Option<(Endpoint, String)> {
    let loc = location.trim();
    let (tls, rest) = if let Some(r) = loc.strip_prefix("//") {
        (from.tls, r)
    } else if let Some(r) = loc.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = loc.strip_prefix("http://") {
        (false, r)
    } else if loc.starts_with('/') {
        return Some((from.clone(), loc.to_string()));
    } else {
        return None;
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if tls { 443 } else { 80 };
    let mut ep = parse_endpoint(hostport, default).ok()?;
    ep.tls = tls;
    Some((ep, path))
}

/// A `zk://[user:pass@]host1:port1,host2:port2/path` URL. The credential is
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host1:port1,host2:port2`.
    pub servers: String,
    /// The group's path, e.g. `/mesos` (not `/`).
    pub path: String,
    /// `user:pass` for ZooKeeper's `digest` scheme.
    auth: Option<String>,
}

impl fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = if self.auth.is_some() { "<user>@" } else { "" };
        write!(f, "zk://{auth}{}{}", self.servers, self.path)
    }
}

impl ZkUrl {
    /// Parses a `zk://` URL as `zookeeper::URL::parse` does: everything
    /// before the last `@` is the credential; the path is required and is
    /// not `/`.
    pub fn parse(s: &str) -> Result<ZkUrl, String> {
        let rest = s
            .trim()
            .strip_prefix("zk://")
            .ok_or_else(|| "a ZooKeeper URL starts with zk://".to_string())?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a.to_string()), r),
            None => (None, rest),
        };
        let (servers, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(
                "a ZooKeeper URL needs a path other than / (e.g. zk://h:2181/mesos)".into(),
            );
        }
        if servers.is_empty()
            || servers
                .split(',')
                .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(
                "a ZooKeeper URL needs host:port servers (zk://h1:2181,h2:2181/path)".into(),
            );
        }
        if auth.as_deref().is_some_and(|a| !a.contains(':')) {
            return Err("ZooKeeper credentials must be user:password".into());
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            auth,
        })
    }

    /// `user:pass` for ZooKeeper's `digest` scheme, if given.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }
}
