//! Where a master is: endpoints, master strings (host:port lists, URLs,
//! `file://` files, `zk://` groups), and redirect locations: what the parts
//! that `crate::net::url` splits mean for Mesos (default ports, schemes).
//! Pure parsing (a `file://` master string is the one file it reads), so
//! the transport, ZooKeeper and the local cluster can all use it.
//!
//! May import: `net::url` (the one URL parser), nothing else of the crate.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::net::url::{Form, HostPort, Url, UrlError, host_list};

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

    /// The endpoint a URL's authority names (userinfo ignored), with
    /// `default_port` when it names no port.
    pub fn from_url(url: &Url<'_>, tls: bool, default_port: u16) -> Result<Endpoint, UrlError> {
        let HostPort { host, port } = url.host_port()?;
        Ok(Endpoint::tcp(host, port.unwrap_or(default_port), tls))
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
/// `http://host[:port][/...]`, `https://...` (port 443 by default),
/// `[v6]:port`.
pub fn parse_endpoint(s: &str, default_port: u16) -> Result<Endpoint, MasterSpecError> {
    let bad = || MasterSpecError::Invalid(s.to_string());
    let u = Url::parse(s.trim(), Form::Authority);
    let tls = match u.scheme() {
        None => false,
        Some(_) if u.is("https") => true,
        Some(_) if u.is("http") => false,
        Some(_) => return Err(bad()),
    };
    Endpoint::from_url(&u, tls, if tls { 443 } else { default_port }).map_err(|_| bad())
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
    let url = Url::parse(spec, Form::Authority);
    if url.is("file") {
        let path = url.after_scheme();
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if Url::parse(text.trim(), Form::Authority).is("zk") {
            return parse_master_spec(text.trim());
        }
    }
    if url.is("zk") {
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
    let url = Url::parse(spec, Form::Authority);
    if url.is("file") {
        let path = url.after_scheme();
        let text = std::fs::read_to_string(path)
            .map_err(|e| MasterSpecError::File(path.to_string(), e.to_string()))?;
        if Url::parse(text.trim(), Form::Authority).is("file") {
            return Err(MasterSpecError::File(
                path.to_string(),
                "nested file:// master".into(),
            ));
        }
        return parse_masters(&text);
    }
    if url.is("zk") {
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
/// against the endpoint that sent it. Returns the new endpoint and the path
/// (with its query, without a fragment); `None` for another scheme or a
/// relative path.
pub fn resolve_location(from: &Endpoint, location: &str) -> Option<(Endpoint, String)> {
    let u = Url::parse(location.trim(), Form::Reference);
    let tls = match u.scheme() {
        None => from.tls,
        Some(_) if u.is("https") => true,
        Some(_) if u.is("http") => false,
        Some(_) => return None,
    };
    if u.authority().is_none() {
        let path = u.path_and_query();
        return path
            .starts_with('/')
            .then(|| (from.clone(), path.to_string()));
    }
    let ep = Endpoint::from_url(&u, tls, if tls { 443 } else { 80 }).ok()?;
    Some((ep, u.request_target()))
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
    /// Parses a `zk://` URL as `zookeeper::URL::parse` does: the
    /// credential, `user:password`, is passed on as written; the authority
    /// lists the servers (`host[:port]`, comma-separated); the path is
    /// required and is not `/`.
    pub fn parse(s: &str) -> Result<ZkUrl, String> {
        let u = Url::parse(s.trim(), Form::Reference);
        if !u.is("zk") {
            return Err("a ZooKeeper URL starts with zk://".to_string());
        }
        let path = u.tail();
        let path = if path.starts_with('/') { path } else { "" }.trim_end_matches('/');
        if path.is_empty() {
            return Err(
                "a ZooKeeper URL needs a path other than / (e.g. zk://h:2181/mesos)".into(),
            );
        }
        let servers = u.hosts().unwrap_or_default();
        if host_list(servers).is_err() {
            return Err(
                "a ZooKeeper URL needs host:port servers (zk://h1:2181,h2:2181/path)".into(),
            );
        }
        let auth = u.userinfo();
        if auth.is_some_and(|a| !a.contains(':')) {
            return Err("ZooKeeper credentials must be user:password".into());
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            auth: auth.map(str::to_string),
        })
    }

    /// The servers, each with its port (ZooKeeper's 2181 when none is given).
    pub fn server_list(&self) -> Vec<(String, u16)> {
        host_list(&self.servers)
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.host.to_string(), h.port.unwrap_or(2181)))
            .collect()
    }

    /// `user:pass` for ZooKeeper's `digest` scheme, if given.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }
}
