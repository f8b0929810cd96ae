//! Reading option tables passed from Lua, with errors that name the option.

use std::time::Duration;

use mlua::prelude::*;

use std::path::Path;

use crate::local::ClusterConfig;
use crate::net::credentials::Credential;

/// The longest duration an option takes, in seconds.
pub const MAX_SECONDS: f64 = 1e9;

pub struct Opts<'a> {
    t: &'a LuaTable,
    who: &'a str,
}

impl<'a> Opts<'a> {
    pub fn new(t: &'a LuaTable, who: &'a str) -> Self {
        Opts { t, who }
    }

    fn get(&self, key: &str) -> LuaResult<LuaValue> {
        self.t.get::<LuaValue>(key)
    }

    fn bad(&self, key: &str, want: &str, got: &LuaValue) -> LuaError {
        LuaError::runtime(format!(
            "{}: opts.{key} must be {want}, got {}",
            self.who,
            got.type_name()
        ))
    }

    pub fn string(&self, key: &str) -> LuaResult<Option<String>> {
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::String(s) => Ok(Some(s.to_str()?.to_string())),
            v => Err(self.bad(key, "a string", &v)),
        }
    }

    pub fn number(&self, key: &str) -> LuaResult<Option<f64>> {
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::Integer(i) => Ok(Some(i as f64)),
            LuaValue::Number(n) => Ok(Some(n)),
            v => Err(self.bad(key, "a number", &v)),
        }
    }

    pub fn integer(&self, key: &str) -> LuaResult<Option<i64>> {
        match self.number(key)? {
            Some(n) if n.fract() == 0.0 => Ok(Some(n as i64)),
            Some(n) => Err(LuaError::runtime(format!(
                "{}: opts.{key} must be an integer, got {n}",
                self.who
            ))),
            None => Ok(None),
        }
    }

    /// Seconds (a number, 0 to `MAX_SECONDS`) as a duration.
    pub fn duration(&self, key: &str) -> LuaResult<Option<Duration>> {
        match self.number(key)? {
            // At most about 31 years: anything longer is a mistake, and
            // would overflow clocks downstream.
            Some(n) if (0.0..=MAX_SECONDS).contains(&n) => Ok(Some(Duration::from_secs_f64(n))),
            Some(n) => Err(LuaError::runtime(format!(
                "{}: opts.{key} must be a non-negative number of seconds (at most {MAX_SECONDS}), got {n}",
                self.who
            ))),
            None => Ok(None),
        }
    }

    /// A size: a number of bytes, or a string in Mesos's `Bytes` syntax
    /// (`"512MB"`, `"2GB"`).
    pub fn bytes(&self, key: &str) -> LuaResult<Option<u64>> {
        let fail = |e: String| LuaError::runtime(format!("{}: opts.{key}: {e}", self.who));
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::Integer(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| fail(format!("{n} is negative"))),
            LuaValue::Number(n) if n.is_finite() && n >= 0.0 => Ok(Some(n as u64)),
            LuaValue::Number(n) => Err(fail(format!("{n} is not a size"))),
            LuaValue::String(s) => crate::local::parse_bytes(&s.to_str()?)
                .map(Some)
                .map_err(fail),
            v => Err(self.bad(key, "a number of bytes or a size such as \"512MB\"", &v)),
        }
    }

    pub fn string_list(&self, key: &str) -> LuaResult<Option<Vec<String>>> {
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::String(s) => Ok(Some(vec![s.to_str()?.to_string()])),
            LuaValue::Table(t) => {
                let mut out = vec![];
                for v in t.sequence_values::<LuaValue>() {
                    match v? {
                        LuaValue::String(s) => out.push(s.to_str()?.to_string()),
                        v => return Err(self.bad(key, "a list of strings", &v)),
                    }
                }
                Ok(Some(out))
            }
            v => Err(self.bad(key, "a string or a list of strings", &v)),
        }
    }

    pub fn boolean(&self, key: &str) -> LuaResult<Option<bool>> {
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::Boolean(b) => Ok(Some(b)),
            v => Err(self.bad(key, "a boolean", &v)),
        }
    }

    /// `opts.max_payload_bytes`: a whole number of bytes from 1 up to the
    /// default (`limits::DEFAULT_MAX_PAYLOAD`, Mesos's ceiling less room
    /// for the rest of a message).
    pub fn payload_limit(&self) -> LuaResult<Option<usize>> {
        let key = crate::wire::limits::PAYLOAD_OPTION;
        let max = crate::wire::limits::DEFAULT_MAX_PAYLOAD;
        match self.integer(key)? {
            None => Ok(None),
            Some(n) if n >= 1 && n as u64 <= max as u64 => Ok(Some(n as usize)),
            Some(n) => Err(LuaError::runtime(format!(
                "{}: opts.{key} must be from 1 to {max}, got {n}",
                self.who
            ))),
        }
    }

    /// `opts.ca_file`, checked now: a CA file that cannot be used is a
    /// configuration error, not a failed connection later.
    pub fn ca_file(&self) -> LuaResult<Option<std::path::PathBuf>> {
        let Some(f) = self.string("ca_file")? else {
            return Ok(None);
        };
        let path = std::path::PathBuf::from(f);
        crate::net::http::tls::TlsClient::new(Some(path.clone()))
            .config()
            .map_err(|e| LuaError::runtime(format!("{}: opts.ca_file: {e}", self.who)))?;
        Ok(Some(path))
    }

    /// `opts.credentials`: a credentials file's path, or a list of
    /// `{principal = ..., secret = ...}` tables.
    pub fn credentials(&self, key: &str) -> LuaResult<Option<Vec<Credential>>> {
        let fail = |e: crate::net::credentials::CredentialError| {
            LuaError::runtime(format!("{}: opts.{key}: {e}", self.who))
        };
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::String(path) => {
                crate::net::credentials::read_file(Path::new(&*path.to_str()?))
                    .map(Some)
                    .map_err(fail)
            }
            LuaValue::Table(t) => {
                let mut out = vec![];
                for item in t.sequence_values::<LuaValue>() {
                    let item = item?;
                    let LuaValue::Table(c) = &item else {
                        return Err(self.bad(key, "a list of {principal=, secret=} tables", &item));
                    };
                    let o = Opts::new(c, self.who);
                    let principal = o.string("principal")?.unwrap_or_default();
                    let secret = o.string("secret")?.unwrap_or_default();
                    out.push(Credential::new(&principal, &secret).map_err(fail)?);
                }
                Ok(Some(out))
            }
            v => Err(self.bad(key, "a file name or a list of credentials", &v)),
        }
    }

    /// A scheduler's own credential: `opts.principal` (+ `opts.secret`) or
    /// `opts.credential_file` (its first entry).
    pub fn credential(&self) -> LuaResult<Option<Credential>> {
        let principal = self.string("principal")?;
        let secret = self.string("secret")?;
        let file = self.string("credential_file")?;
        let fail = |e: crate::net::credentials::CredentialError| {
            LuaError::runtime(format!("{}: {e}", self.who))
        };
        match (principal, file) {
            (Some(_), Some(_)) => Err(LuaError::runtime(format!(
                "{}: give opts.principal or opts.credential_file, not both",
                self.who
            ))),
            (Some(p), None) => Credential::new(&p, &secret.unwrap_or_default())
                .map(Some)
                .map_err(fail),
            (None, Some(f)) => {
                if secret.is_some() {
                    return Err(LuaError::runtime(format!(
                        "{}: opts.secret needs opts.principal",
                        self.who
                    )));
                }
                let mut list = crate::net::credentials::read_file(Path::new(&f)).map_err(fail)?;
                Ok(Some(list.swap_remove(0)))
            }
            (None, None) if secret.is_some() => Err(LuaError::runtime(format!(
                "{}: opts.secret needs opts.principal",
                self.who
            ))),
            (None, None) => Ok(None),
        }
    }

    /// Raises on a key that is not one of `known`, naming it and the
    /// closest known name (a misspelled option must not pass unnoticed).
    pub fn only(&self, known: &[&str]) -> LuaResult<()> {
        match unknown_option(self.t, known)? {
            Some(msg) => Err(LuaError::runtime(format!("{}: {msg}", self.who))),
            None => Ok(()),
        }
    }

    pub fn table(&self, key: &str) -> LuaResult<Option<LuaTable>> {
        match self.get(key)? {
            LuaValue::Nil => Ok(None),
            LuaValue::Table(t) => Ok(Some(t)),
            v => Err(self.bad(key, "a table", &v)),
        }
    }
}

/// The first key of `t` that is not one of `known`, as a message naming it
/// and the closest known name; None when every key is known.
pub fn unknown_option(t: &LuaTable, known: &[&str]) -> LuaResult<Option<String>> {
    let mut keys = vec![];
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, _) = pair?;
        match k {
            LuaValue::String(s) => keys.push(s.to_str()?.to_string()),
            other => {
                return Ok(Some(format!(
                    "options are named: a key of type {} is not an option",
                    other.type_name()
                )));
            }
        }
    }
    keys.sort();
    Ok(keys
        .into_iter()
        .find(|k| !known.contains(&k.as_str()))
        .map(|k| match closest(&k, known) {
            Some(c) => format!("unknown option '{k}' (did you mean '{c}'?)"),
            None => format!("unknown option '{k}'"),
        }))
}

/// The known name nearest to `name` by edit distance, if near enough to be
/// a slip (at most a third of its length, and at least 1, apart).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Edit distance over characters, a swap of two neighbours counting as one
/// edit (optimal string alignment: typing slips are mostly swaps).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * w + j] + 1)
                    .min(d[i * w + j - 1] + 1)
                    .min(d[(i - 1) * w + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * w + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * w + b.len()]
}

/// The options of `mesos.local_cluster` (and a scheduler's `local_cluster`).
pub const CLUSTER_OPTIONS: &[&str] = &[
    "port",
    "host",
    "agents",
    "resources",
    "heartbeat_interval",
    "allocation_interval",
    "status_update_retry",
    "work_dir",
    "hostname",
    "tls_cert",
    "tls_key",
    "tls_ca_file",
    "fetcher_cache_dir",
    "fetcher_cache_size",
    "fetcher_stall_timeout",
    "zk",
    "zk_session_timeout",
    "credentials",
    "executor_auth",
    "executor_registration_timeout",
    "executor_reregistration_timeout",
    "executor_shutdown_grace_period",
];

/// Local cluster settings from `opts.local_cluster` (or `opts["local"]`) of
/// the scheduler, or the table itself (`mesos.local_cluster`).
pub fn parse_local_config(o: &Opts<'_>) -> LuaResult<ClusterConfig> {
    let t = match o.table("local_cluster")? {
        Some(t) => Some(t),
        None => o.table("local")?,
    };
    match t {
        Some(t) => cluster_config(&Opts::new(&t, "mesos.scheduler: opts.local_cluster")),
        None => Ok(ClusterConfig::default()),
    }
}

pub fn cluster_config(o: &Opts<'_>) -> LuaResult<ClusterConfig> {
    o.only(CLUSTER_OPTIONS)?;
    let mut cfg = ClusterConfig::default();
    if let Some(n) = o.integer("port")? {
        let port = u16::try_from(n)
            .map_err(|_| LuaError::runtime(format!("{}: opts.port out of range", o.who)))?;
        let host = o.string("host")?.unwrap_or_else(|| "127.0.0.1".into());
        cfg.bind = format!("{host}:{port}");
    } else if let Some(h) = o.string("host")? {
        cfg.bind = format!("{h}:0");
    }
    if let Some(n) = o.integer("agents")? {
        cfg.agents = usize::try_from(n.max(0)).unwrap_or(0);
    }
    if let Some(r) = o.string("resources")? {
        cfg.agent_resources = r;
    }
    if let Some(d) = o.duration("heartbeat_interval")? {
        cfg.heartbeat_interval = d;
    }
    if let Some(d) = o.duration("allocation_interval")? {
        cfg.allocation_interval = d;
    }
    if let Some(d) = o.duration("status_update_retry")? {
        cfg.status_update_retry = d;
    }
    if let Some(w) = o.string("work_dir")? {
        cfg.work_dir = Some(w.into());
    }
    if let Some(h) = o.string("hostname")? {
        cfg.hostname = h;
    }
    if let Some(d) = o.duration("executor_registration_timeout")? {
        cfg.executor_registration_timeout = d;
    }
    if let Some(d) = o.duration("executor_reregistration_timeout")? {
        cfg.executor_reregistration_timeout = d;
    }
    if let Some(d) = o.duration("executor_shutdown_grace_period")? {
        cfg.executor_shutdown_grace_period = d;
    }
    if let Some(b) = o.boolean("executor_auth")? {
        cfg.executor_auth = b;
    }
    if let Some(f) = o.string("tls_cert")? {
        cfg.tls_cert = Some(f.into());
    }
    if let Some(f) = o.string("tls_key")? {
        cfg.tls_key = Some(f.into());
    }
    if let Some(f) = o.string("tls_ca_file")? {
        cfg.tls_ca_file = Some(f.into());
    }
    if let Some(d) = o.string("fetcher_cache_dir")? {
        cfg.fetcher_cache_dir = Some(d.into());
    }
    if let Some(n) = o.bytes("fetcher_cache_size")? {
        cfg.fetcher_cache_size = n;
    }
    if let Some(d) = o.duration("fetcher_stall_timeout")? {
        cfg.fetcher_stall_timeout = d;
    }
    cfg.framework_credentials = o.credentials("credentials")?;
    cfg.zk = o.string("zk")?;
    if let Some(d) = o.duration("zk_session_timeout")? {
        cfg.zk_session_timeout = d;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_are_named_with_the_option_meant() {
        let known = ["heartbeat_factor", "timeout", "cpus", "mem"];
        assert_eq!(closest("hearbeat_factor", &known), Some("heartbeat_factor"));
        assert_eq!(closest("timout", &known), Some("timeout"));
        assert_eq!(closest("cpu", &known), Some("cpus"));
        assert_eq!(closest("flavour", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("nast", "nats"), 1);
        assert_eq!(closest("nast", &["nats"]), Some("nats"));
    }
}
