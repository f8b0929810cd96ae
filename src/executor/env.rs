//! The environment a Mesos agent gives an executor (`MESOS_*` variables).

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::net::transport::{Endpoint, parse_endpoint};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EnvError {
    #[error("{0} is not set (is this process running under a Mesos agent?)")]
    Missing(&'static str),
    #[error("{0}={1:?} is not valid: {2}")]
    Invalid(&'static str, String, &'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    pub framework_id: String,
    pub executor_id: String,
    /// Where the agent's executor API is: the address of `MESOS_SLAVE_PID`
    /// (https when libprocess SSL is on), or its `MESOS_DOMAIN_SOCKET`.
    pub agent: Endpoint,
    /// `/slave(1)/api/v1/executor` (the process id of `MESOS_SLAVE_PID`), or
    /// `/api/v1/executor` when only `MESOS_AGENT_ENDPOINT` is known.
    pub path: String,
    pub agent_id: Option<String>,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
    pub token: Option<String>,
    pub directory: Option<String>,
    pub sandbox: Option<String>,
    /// `LIBPROCESS_SSL_CA_FILE`: CA certificates to verify an https agent.
    pub ssl_ca_file: Option<PathBuf>,
}

/// Parses a stout duration: `<number><unit>`, unit one of ns, us, ms, secs,
/// mins, hrs, days, weeks (the number may have a fraction).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "secs" => n,
        "mins" => n * 60.0,
        "hrs" => n * 3600.0,
        "days" => n * 86400.0,
        "weeks" => n * 604_800.0,
        _ => return None,
    };
    // Out of range (1e300weeks) is as invalid as negative or NaN.
    Duration::try_from_secs_f64(secs).ok()
}

/// The longest Unix socket path the kernel takes (`sun_path`, with its NUL).
const UNIX_PATH_MAX: usize = 108;

/// The agent's executor API, as libmesos's v1 executor library finds it:
/// `MESOS_SLAVE_PID` (`slave(1)@ip:port`) gives the address and the path
/// `/slave(1)/api/v1/executor`, which is right on every agent, also on a
/// process that hosts a master too; `MESOS_DOMAIN_SOCKET` (agent flag
/// `--http_executor_domain_sockets`) replaces the address by that socket;
/// `LIBPROCESS_SSL_ENABLED` makes it https. Without a pid (agents older than
/// the variable, or hand-made environments) `MESOS_AGENT_ENDPOINT` is used
/// with the agent's unprefixed route.
fn agent_url(get: &impl Fn(&str) -> Option<String>) -> Result<(Endpoint, String), EnvError> {
    let set = |k: &str| get(k).filter(|v| !v.is_empty());
    let (mut agent, path) = match (set("MESOS_SLAVE_PID"), set("MESOS_AGENT_ENDPOINT")) {
        (Some(pid), _) => {
            let bad =
                || EnvError::Invalid("MESOS_SLAVE_PID", pid.clone(), "expected slave(1)@ip:port");
            let (id, addr) = pid.split_once('@').ok_or_else(bad)?;
            if id.is_empty() || id.contains('/') {
                return Err(bad());
            }
            let ep = parse_endpoint(addr, 5051).map_err(|_| bad())?;
            (ep, format!("/{id}/api/v1/executor"))
        }
        (None, Some(ep)) => (
            parse_endpoint(&ep, 5051).map_err(|_| {
                EnvError::Invalid("MESOS_AGENT_ENDPOINT", ep.clone(), "expected ip:port")
            })?,
            "/api/v1/executor".to_string(),
        ),
        (None, None) => {
            return Err(EnvError::Missing(
                "MESOS_SLAVE_PID (or MESOS_AGENT_ENDPOINT)",
            ));
        }
    };
    if let Some(socket) = set("MESOS_DOMAIN_SOCKET") {
        agent.unix = Some(socket_path(
            &socket,
            std::env::current_dir().ok().as_deref(),
        )?);
        return Ok((agent, path));
    }
    // libprocess's switch (its older name too): the agent is served over TLS.
    let ssl = set("LIBPROCESS_SSL_ENABLED").or_else(|| set("SSL_ENABLED"));
    if matches!(ssl.as_deref(), Some("1" | "true" | "yes")) {
        agent.tls = true;
    }
    Ok((agent, path))
}

/// A socket path the kernel takes: one too long is tried relative to the
/// working directory (the sandbox), as libmesos does.
fn socket_path(socket: &str, cwd: Option<&Path>) -> Result<PathBuf, EnvError> {
    let too_long = || {
        EnvError::Invalid(
            "MESOS_DOMAIN_SOCKET",
            socket.to_string(),
            "longer than a Unix socket path can be (107 bytes), also relative to the working directory",
        )
    };
    if socket.len() < UNIX_PATH_MAX {
        return Ok(PathBuf::from(socket));
    }
    let rel = cwd
        .and_then(|c| relative_to(Path::new(socket), c))
        .ok_or_else(too_long)?;
    let short = Path::new(".").join(rel);
    if short.as_os_str().len() < UNIX_PATH_MAX {
        Ok(short)
    } else {
        Err(too_long())
    }
}

/// `path` relative to the directory `base` (both absolute).
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    Some(out)
}

impl ExecutorEnv {
    /// Reads the variables through `get` (normally `std::env::var`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let req = |k: &'static str| get(k).filter(|v| !v.is_empty()).ok_or(EnvError::Missing(k));
        let dur = |k: &'static str, default: Duration| -> Result<Duration, EnvError> {
            match get(k) {
                None => Ok(default),
                Some(v) => parse_duration(&v).ok_or(EnvError::Invalid(
                    k,
                    v,
                    "expected a duration such as 5secs",
                )),
            }
        };
        let (agent, path) = agent_url(&get)?;
        let checkpoint = match get("MESOS_CHECKPOINT").as_deref() {
            None | Some("0") | Some("") => false,
            Some("1") => true,
            Some(v) => {
                return Err(EnvError::Invalid(
                    "MESOS_CHECKPOINT",
                    v.to_string(),
                    "expected 1 or 0",
                ));
            }
        };
        Ok(ExecutorEnv {
            framework_id: req("MESOS_FRAMEWORK_ID")?,
            executor_id: req("MESOS_EXECUTOR_ID")?,
            agent,
            path,
            agent_id: get("MESOS_SLAVE_ID").filter(|v| !v.is_empty()),
            checkpoint,
            recovery_timeout: dur("MESOS_RECOVERY_TIMEOUT", Duration::from_secs(15 * 60))?,
            subscription_backoff_max: dur(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                Duration::from_secs(2),
            )?,
            shutdown_grace_period: dur(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                Duration::from_secs(5),
            )?,
            token: get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN").filter(|v| !v.is_empty()),
            directory: get("MESOS_DIRECTORY"),
            sandbox: get("MESOS_SANDBOX"),
            ssl_ca_file: get("LIBPROCESS_SSL_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    pub fn from_process() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<ExecutorEnv, EnvError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ExecutorEnv::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5secs"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("15mins"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1.5mins"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        // Out of Duration's range: invalid, not a panic.
        assert_eq!(parse_duration("1e300weeks"), None);
        assert_eq!(parse_duration("-1secs"), None);
    }

    #[test]
    fn reads_the_agent_environment() {
        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "1mins"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok"),
        ])
        .unwrap();
        assert_eq!(e.agent.port, 5051);
        assert_eq!(e.path, "/api/v1/executor");
        assert!(e.checkpoint);
        assert_eq!(e.recovery_timeout, Duration::from_secs(60));
        assert_eq!(e.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(e.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(e.token.as_deref(), Some("tok"));

        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_SLAVE_PID", "slave(1)@10.0.0.5:5051"),
        ])
        .unwrap();
        assert_eq!(e.path, "/slave(1)/api/v1/executor");
        assert_eq!(e.agent.host, "10.0.0.5");
        assert!(!e.checkpoint);
    }

    /// What libmesos's executor library does: the pid decides, whatever
    /// `MESOS_AGENT_ENDPOINT` says (on a master+agent process the bare
    /// path reaches the master, which cannot parse executor calls).
    #[test]
    fn the_agent_pid_decides_the_url() {
        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5050"),
            ("MESOS_SLAVE_PID", "slave(2)@127.0.0.1:5050"),
        ])
        .unwrap();
        assert_eq!(e.path, "/slave(2)/api/v1/executor");
        assert_eq!(
            (e.agent.host.as_str(), e.agent.port, e.agent.tls),
            ("127.0.0.1", 5050, false)
        );
        assert_eq!(e.agent.unix, None);

        let ssl = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_SLAVE_PID", "slave(1)@10.0.0.5:5051"),
            ("LIBPROCESS_SSL_ENABLED", "true"),
        ])
        .unwrap();
        assert!(ssl.agent.tls);
        assert_eq!(ssl.agent.to_string(), "https://10.0.0.5:5051");
    }

    #[test]
    fn a_domain_socket_replaces_the_address() {
        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_SLAVE_PID", "slave(1)@10.0.0.5:5051"),
            ("MESOS_DOMAIN_SOCKET", "/run/mesos/agent.sock"),
            // Never https over a domain socket.
            ("LIBPROCESS_SSL_ENABLED", "1"),
        ])
        .unwrap();
        assert_eq!(
            e.agent.unix.as_deref(),
            Some(Path::new("/run/mesos/agent.sock"))
        );
        assert!(!e.agent.tls);
        assert_eq!(e.path, "/slave(1)/api/v1/executor");
        assert_eq!(e.agent.to_string(), "http+unix:///run/mesos/agent.sock");
    }

    #[test]
    fn a_long_socket_path_is_taken_relative_to_the_sandbox() {
        let dir = format!("/var/lib/mesos/{}", "d".repeat(100));
        let sock = format!("{dir}/agent.sock");
        assert_eq!(
            socket_path(&sock, Some(Path::new(&dir))).unwrap(),
            PathBuf::from("./agent.sock")
        );
        let sandbox = format!("{dir}/slaves/s/frameworks/f/executors/e/runs/r");
        assert_eq!(
            socket_path(&sock, Some(Path::new(&sandbox))).unwrap(),
            PathBuf::from("./../../../../../../../../agent.sock")
        );
        let far = format!("/{}", "x/".repeat(60));
        let err = socket_path(&sock, Some(Path::new(&far))).unwrap_err();
        assert!(err.to_string().contains("MESOS_DOMAIN_SOCKET"), "{err}");
        assert_eq!(socket_path("/s", None).unwrap(), PathBuf::from("/s"));
    }

    #[test]
    fn clear_errors() {
        assert_eq!(
            env(&[]).unwrap_err().to_string(),
            "MESOS_SLAVE_PID (or MESOS_AGENT_ENDPOINT) is not set (is this process running under a Mesos agent?)"
        );
        let base = [("MESOS_FRAMEWORK_ID", "f"), ("MESOS_EXECUTOR_ID", "e")];
        for pid in ["10.0.0.5:5051", "@10.0.0.5:5051", "slave(1)@", "a/b@h:1"] {
            let mut vars = base.to_vec();
            vars.push(("MESOS_SLAVE_PID", pid));
            let err = env(&vars).unwrap_err().to_string();
            assert!(err.contains("MESOS_SLAVE_PID"), "{pid}: {err}");
        }
        let err = env(&[
            ("MESOS_AGENT_ENDPOINT", "h:1"),
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_CHECKPOINT", "true"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("MESOS_CHECKPOINT"));
    }
}
