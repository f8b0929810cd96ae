//! The environment a Mesos agent gives an executor (`MESOS_*` variables).

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::transport::{Endpoint, parse_endpoint};

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
    pub agent: Endpoint,
    /// `/api/v1/executor`, or `/slave(1)/api/v1/executor` when only the
    /// libprocess pid is known.
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
        let (mut agent, path) = match (get("MESOS_AGENT_ENDPOINT"), get("MESOS_SLAVE_PID")) {
            (Some(ep), _) if !ep.is_empty() => (
                parse_endpoint(&ep, 5051).map_err(|_| {
                    EnvError::Invalid("MESOS_AGENT_ENDPOINT", ep.clone(), "expected ip:port")
                })?,
                "/api/v1/executor".to_string(),
            ),
            (_, Some(pid)) if !pid.is_empty() => {
                let (id, addr) = pid.split_once('@').ok_or(EnvError::Invalid(
                    "MESOS_SLAVE_PID",
                    pid.clone(),
                    "expected slave(1)@ip:port",
                ))?;
                (
                    parse_endpoint(addr, 5051).map_err(|_| {
                        EnvError::Invalid(
                            "MESOS_SLAVE_PID",
                            pid.clone(),
                            "expected slave(1)@ip:port",
                        )
                    })?,
                    format!("/{id}/api/v1/executor"),
                )
            }
            _ => return Err(EnvError::Missing("MESOS_AGENT_ENDPOINT")),
        };
        // libprocess's switch: the agent endpoint (an ip:port) is https.
        if matches!(
            get("LIBPROCESS_SSL_ENABLED").as_deref(),
            Some("1" | "true" | "yes")
        ) {
            agent.tls = true;
        }
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

    #[test]
    fn clear_errors() {
        assert_eq!(
            env(&[]).unwrap_err(),
            EnvError::Missing("MESOS_AGENT_ENDPOINT")
        );
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
