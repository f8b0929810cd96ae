//! The environment an agent gives the processes it starts
//! (`executorEnvironment()` in `src/slave/slave.cpp`, plus the `MESOS_SANDBOX`
//! the Mesos containerizer adds), and stout's duration format, which the
//! duration variables use.
//!
//! The process inherits the agent's own environment first (as the Mesos docs
//! promise), then these variables are set, then `CommandInfo.environment`
//! (see the launcher): as in the Mesos containerizer, a variable the
//! framework sets wins over the agent's.

use std::path::Path;
use std::time::Duration;

use crate::net::url::HostPort;
use crate::wire::pb;

/// `--recovery_timeout`.
pub(crate) const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What `executorEnvironment()` is built from.
pub(crate) struct EnvSpec<'a> {
    pub framework: &'a pb::FrameworkInfo,
    pub executor: &'a pb::ExecutorInfo,
    /// The sandbox on the host (`MESOS_DIRECTORY`).
    pub directory: &'a Path,
    /// The sandbox as the process sees it (`MESOS_SANDBOX`).
    pub sandbox: &'a Path,
    pub agent_id: &'a str,
    /// `slave(1)@ip:port`.
    pub agent_pid: &'a str,
    /// `ip:port`.
    pub agent_endpoint: &'a str,
    /// `--executor_shutdown_grace_period`.
    pub default_grace: Duration,
    /// `--executor_reregistration_timeout`.
    pub reregistration_timeout: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, with executor authentication.
    pub token: Option<&'a str>,
    /// The agent endpoint is https: `LIBPROCESS_SSL_ENABLED=1`, as
    /// libprocess-based executors expect.
    pub tls: bool,
    /// `LIBPROCESS_SSL_CA_FILE`: the CA bundle to verify the agent with.
    pub ca_file: Option<&'a Path>,
}

/// `ExecutorInfo.shutdown_grace_period`, or the agent's default.
pub(crate) fn shutdown_grace(exec: &pb::ExecutorInfo, default: Duration) -> Duration {
    exec.shutdown_grace_period.as_ref().map_or(default, |d| {
        Duration::from_nanos(d.nanoseconds.max(0) as u64)
    })
}

/// The variables, in the order the agent sets them.
pub(crate) fn executor_environment(s: &EnvSpec<'_>) -> Vec<(String, String)> {
    let checkpoint = s.framework.checkpoint();
    let fw_id = s
        .executor
        .framework_id
        .as_ref()
        .or(s.framework.id.as_ref())
        .map(|i| i.value.clone())
        .unwrap_or_default();
    // The agent's own address (a Mesos agent passes on the LIBPROCESS_IP it
    // was started with), so libprocess-based executors bind where it does.
    let ip = HostPort::parse(s.agent_endpoint).map_or(s.agent_endpoint, |hp| hp.host);
    let mut env: Vec<(&str, String)> = vec![
        ("LIBPROCESS_IP", ip.into()),
        ("LIBPROCESS_PORT", "0".into()),
        ("MESOS_FRAMEWORK_ID", fw_id),
        ("MESOS_EXECUTOR_ID", s.executor.executor_id.value.clone()),
        ("MESOS_DIRECTORY", s.directory.display().to_string()),
        ("MESOS_SLAVE_ID", s.agent_id.into()),
        ("MESOS_SLAVE_PID", s.agent_pid.into()),
        ("MESOS_AGENT_ENDPOINT", s.agent_endpoint.into()),
        (
            "MESOS_CHECKPOINT",
            if checkpoint { "1" } else { "0" }.into(),
        ),
        ("MESOS_HTTP_COMMAND_EXECUTOR", "0".into()),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            stout(shutdown_grace(s.executor, s.default_grace)),
        ),
    ];
    if checkpoint {
        env.push(("MESOS_RECOVERY_TIMEOUT", stout(RECOVERY_TIMEOUT)));
        env.push((
            "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            stout(s.reregistration_timeout),
        ));
    }
    if let Some(t) = s.token {
        env.push(("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", t.into()));
    }
    if s.tls {
        env.push(("LIBPROCESS_SSL_ENABLED", "1".into()));
        if let Some(ca) = s.ca_file {
            env.push(("LIBPROCESS_SSL_CA_FILE", ca.display().to_string()));
        }
    }
    env.push(("MESOS_SANDBOX", s.sandbox.display().to_string()));
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A duration as stout prints it (`operator<<(ostream&, const Duration&)`):
/// the unit of the duration's magnitude, or the next smaller one when that
/// gives a whole number and the larger one does not; the number with up to
/// 15 significant digits. `5secs`, `15mins`, `500ms`, `90secs`, `1.5secs`.
pub(crate) fn stout(d: Duration) -> String {
    const US: u128 = 1_000;
    const MS: u128 = 1_000_000;
    const SECS: u128 = 1_000_000_000;
    const MINS: u128 = 60 * SECS;
    const HRS: u128 = 60 * MINS;
    const DAYS: u128 = 24 * HRS;
    const WEEKS: u128 = 7 * DAYS;
    let ns = d.as_nanos();
    let units: [(u128, &str); 7] = [
        (US, "us"),
        (MS, "ms"),
        (SECS, "secs"),
        (MINS, "mins"),
        (HRS, "hrs"),
        (DAYS, "days"),
        (WEEKS, "weeks"),
    ];
    if ns < US {
        return format!("{ns}ns");
    }
    // The bucket: the largest unit not above the duration.
    let i = units.iter().rposition(|(u, _)| ns >= *u).unwrap_or(0);
    let (unit, name) = units[i];
    let (smaller, smaller_name) = if i == 0 { (1, "ns") } else { units[i - 1] };
    let (unit, name) = if !ns.is_multiple_of(unit) && ns.is_multiple_of(smaller) {
        (smaller, smaller_name)
    } else {
        (unit, name)
    };
    if unit == 1 {
        return format!("{ns}ns");
    }
    format!("{}{name}", g15(ns as f64 / unit as f64))
}

/// `%.15g` without the exponent form (durations never need it).
fn g15(x: f64) -> String {
    let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stout_durations() {
        let cases = [
            (Duration::from_secs(5), "5secs"),
            (Duration::from_secs(2), "2secs"),
            (Duration::from_secs(60), "1mins"),
            (Duration::from_secs(15 * 60), "15mins"),
            (Duration::from_secs(90), "90secs"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1500us"),
            (Duration::from_nanos(1500), "1500ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::ZERO, "0ns"),
            (Duration::from_secs(3600), "1hrs"),
            (Duration::from_secs(10 * 86400), "10days"),
            (Duration::from_secs(14 * 86400), "2weeks"),
            (Duration::from_nanos(1_500_000_001), "1.500000001secs"),
            (Duration::from_secs(90 * 60 + 1), "1.50027777777778hrs"),
        ];
        for (d, s) in cases {
            assert_eq!(stout(d), s, "{d:?}");
        }
    }

    #[test]
    fn environment_of_a_checkpointing_framework() {
        let fw = pb::FrameworkInfo {
            id: Some(pb::FrameworkId { value: "fw".into() }),
            checkpoint: Some(true),
            ..Default::default()
        };
        let exec = pb::ExecutorInfo {
            executor_id: pb::ExecutorId { value: "ex".into() },
            shutdown_grace_period: Some(pb::DurationInfo {
                nanoseconds: 250_000_000,
            }),
            ..Default::default()
        };
        let env = executor_environment(&EnvSpec {
            framework: &fw,
            executor: &exec,
            directory: Path::new("/d"),
            sandbox: Path::new("/s"),
            agent_id: "a",
            agent_pid: "slave(1)@127.0.0.1:5051",
            agent_endpoint: "127.0.0.1:5051",
            default_grace: Duration::from_secs(5),
            reregistration_timeout: Duration::from_secs(2),
            token: Some("t"),
            tls: false,
            ca_file: None,
        });
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MESOS_FRAMEWORK_ID"), Some("fw"));
        assert_eq!(get("MESOS_CHECKPOINT"), Some("1"));
        assert_eq!(get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"), Some("250ms"));
        assert_eq!(get("MESOS_RECOVERY_TIMEOUT"), Some("15mins"));
        assert_eq!(get("MESOS_SUBSCRIPTION_BACKOFF_MAX"), Some("2secs"));
        assert_eq!(get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), Some("t"));
        assert_eq!(get("MESOS_SANDBOX"), Some("/s"));
        assert_eq!(get("LIBPROCESS_PORT"), Some("0"));
        assert_eq!(get("LIBPROCESS_IP"), Some("127.0.0.1"));
        assert_eq!(get("MESOS_AGENT_ID"), None);
    }
}
