//! Custom executors under the local agent, as a real Mesos agent runs them:
//! launch (once per executor, own sandbox, the agent's environment), the
//! executor API (queued tasks after SUBSCRIBE, reliable updates acknowledged
//! by the agent, messages both ways, KILL, SHUTDOWN), executor failures and
//! timeouts, URI fetching, executor authentication, and agent restarts with
//! checkpointing. The executors are `tests/executors/executor.py` (Python
//! standard library, v1 JSON API by hand) and a pymesos executor.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mesos::local::{ClusterConfig, LocalCluster};
use mesos::wire::codec::Encoding;
use mesos::wire::pb::scheduler::{Call, call};
use mesos::wire::pb::task_status::{Reason, Source};
use mesos::wire::pb::{self, TaskState};
use serde_json::Value as Json;
use support::{Sched, WAIT, capability, framework, scalar, small, wait_until};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("tests/executors/executor.py")
}

fn config() -> ClusterConfig {
    ClusterConfig {
        allocation_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(1),
        // Long: a resend in these tests comes from an agent restart.
        status_update_retry: Duration::from_secs(60),
        ..Default::default()
    }
}

fn start(cfg: ClusterConfig) -> LocalCluster {
    LocalCluster::start(cfg).expect("cluster starts")
}

fn checkpointing(name: &str) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        checkpoint: Some(true),
        ..framework(name)
    }
}

/// A custom executor running `executor.py <mode>`.
fn py_executor(s: &Sched, id: &str, mode: &str) -> pb::ExecutorInfo {
    command_executor(s, id, format!("exec python3 {} {mode}", script().display()))
}

fn command_executor(s: &Sched, id: &str, command: String) -> pb::ExecutorInfo {
    pb::ExecutorInfo {
        r#type: Some(pb::executor_info::Type::Custom as i32),
        executor_id: pb::ExecutorId { value: id.into() },
        framework_id: Some(s.framework_id()),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(pb::CommandInfo {
            value: Some(command),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A task for a custom executor; its name tells `executor.py` what to do.
fn task(offer: &pb::Offer, id: &str, name: &str, exec: &pb::ExecutorInfo) -> pb::TaskInfo {
    pb::TaskInfo {
        name: name.into(),
        task_id: pb::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: small(),
        executor: Some(exec.clone()),
        ..Default::default()
    }
}

/// The JSON report an `env` or `files` task puts in its RUNNING update.
fn report(st: &pb::TaskStatus) -> Json {
    serde_json::from_slice(st.data.as_deref().expect("data")).expect("JSON report")
}

fn data_text(st: &pb::TaskStatus) -> String {
    String::from_utf8_lossy(st.data.as_deref().unwrap_or_default()).into_owned()
}

/// Waits for the task's update in `state` and acknowledges it.
fn acked(s: &mut Sched, task: &str, state: TaskState) -> pb::TaskStatus {
    let st = s.update(task, state);
    s.ack(&st);
    st
}

fn failure(s: &mut Sched, exec: &str) -> pb::scheduler::event::Failure {
    let e = exec.to_string();
    s.expect(move |ev| {
        ev.failure
            .as_ref()
            .is_some_and(|f| f.executor_id.as_ref().is_some_and(|x| x.value == e))
    })
    .failure
    .expect("failure")
}

fn message(s: &mut Sched, offer: &pb::Offer, exec: &str, data: &str) {
    s.call_ok(Call {
        r#type: Some(call::Type::Message as i32),
        message: Some(call::Message {
            agent_id: offer.agent_id.clone(),
            executor_id: pb::ExecutorId { value: exec.into() },
            data: data.as_bytes().to_vec(),
        }),
        ..Default::default()
    });
}

fn expect_message(s: &mut Sched, data: &str) -> pb::scheduler::event::Message {
    let d = data.as_bytes().to_vec();
    s.expect(move |e| e.message.as_ref().is_some_and(|m| m.data == d))
        .message
        .expect("message")
}

fn kill(s: &mut Sched, task: &str) {
    s.call_ok(Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: pb::TaskId { value: task.into() },
            ..Default::default()
        }),
        ..Default::default()
    });
}

fn shutdown(s: &mut Sched, offer: &pb::Offer, exec: &str) {
    s.call_ok(Call {
        r#type: Some(call::Type::Shutdown as i32),
        shutdown: Some(call::Shutdown {
            executor_id: pb::ExecutorId { value: exec.into() },
            agent_id: offer.agent_id.clone(),
        }),
        ..Default::default()
    });
}

fn alive(pid: i64) -> bool {
    // SAFETY: kill(pid, 0) only checks for existence.
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

fn env_var<'a>(r: &'a Json, k: &str) -> Option<&'a str> {
    r["env"][k].as_str()
}

// ------------------------------------------------------------------ tests

#[test]
fn environment_sandbox_and_launch_after_subscribe() {
    let c = start(config());
    let agent = c.agent_addr(0).expect("agent").to_string();
    for checkpoint in [false, true] {
        let info = pb::FrameworkInfo {
            checkpoint: Some(checkpoint),
            ..framework("env")
        };
        let mut s = Sched::subscribe(&c, Encoding::Json, info);
        let offer = s.offers().remove(0);
        let mut exec = py_executor(&s, "env-exec", "normal");
        if !checkpoint {
            exec.shutdown_grace_period = Some(pb::DurationInfo {
                nanoseconds: 1_500_000_000,
            });
        }
        if let Some(cmd) = &mut exec.command {
            cmd.environment = Some(pb::Environment {
                variables: [("GREETING", "hello"), ("HOME", "/custom-home")]
                    .iter()
                    .map(|(k, v)| pb::environment::Variable {
                        name: k.to_string(),
                        value: Some(v.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            });
        }
        let other = py_executor(&s, "other-exec", "normal");
        s.launch(
            &offer,
            vec![
                task(&offer, "e1", "env", &exec),
                task(&offer, "e2", "env", &exec),
                task(&offer, "e3", "env", &other),
            ],
        );
        let mut reports = vec![];
        for id in ["e1", "e2", "e3"] {
            let running = acked(&mut s, id, TaskState::TaskRunning);
            assert_eq!(running.source(), Source::Executor);
            reports.push(report(&running));
            acked(&mut s, id, TaskState::TaskFinished);
        }
        let r = &reports[0];
        // One process per (framework, executor id).
        assert_eq!(r["pid"], reports[1]["pid"]);
        assert_ne!(r["pid"], reports[2]["pid"]);
        // The task was queued until SUBSCRIBE, and came right after SUBSCRIBED.
        assert_eq!(r["events"], serde_json::json!(["SUBSCRIBED", "LAUNCH"]));

        let get = |k: &str| env_var(r, k);
        assert_eq!(get("MESOS_FRAMEWORK_ID"), Some(s.framework_id.as_str()));
        assert_eq!(get("MESOS_EXECUTOR_ID"), Some("env-exec"));
        assert_eq!(get("MESOS_SLAVE_ID"), Some(offer.agent_id.value.as_str()));
        assert_eq!(get("MESOS_AGENT_ENDPOINT"), Some(agent.as_str()));
        assert_eq!(
            get("MESOS_SLAVE_PID"),
            Some(format!("slave(1)@{agent}").as_str())
        );
        assert_eq!(
            get("MESOS_CHECKPOINT"),
            Some(if checkpoint { "1" } else { "0" })
        );
        assert_eq!(get("MESOS_HTTP_COMMAND_EXECUTOR"), Some("0"));
        assert_eq!(get("LIBPROCESS_PORT"), Some("0"));
        assert_eq!(
            get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"),
            Some(if checkpoint { "5secs" } else { "1500ms" })
        );
        if checkpoint {
            assert_eq!(get("MESOS_RECOVERY_TIMEOUT"), Some("15mins"));
            assert_eq!(get("MESOS_SUBSCRIPTION_BACKOFF_MAX"), Some("2secs"));
        } else {
            assert_eq!(get("MESOS_RECOVERY_TIMEOUT"), None);
            assert_eq!(get("MESOS_SUBSCRIPTION_BACKOFF_MAX"), None);
        }
        assert_eq!(get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), None);
        // The agent's own environment is inherited (PATH found python3;
        // pyenv's shim may prepend to it).
        for (k, v) in std::env::vars() {
            match k.as_str() {
                // Overridden, or set by the shell that runs the command.
                "HOME" | "PWD" | "OLDPWD" | "SHLVL" | "_" => {}
                "PATH" => assert!(get("PATH").is_some_and(|p| p.ends_with(&v))),
                _ if k.starts_with("PYENV") => {}
                _ => assert_eq!(get(&k), Some(v.as_str()), "inherited {k}"),
            }
        }
        // CommandInfo.environment comes last: it can override.
        assert_eq!(get("GREETING"), Some("hello"));
        assert_eq!(get("HOME"), Some("/custom-home"));

        // Its own sandbox, with stdout and stderr.
        let dir = get("MESOS_DIRECTORY").expect("MESOS_DIRECTORY");
        assert_eq!(get("MESOS_SANDBOX"), Some(dir));
        assert_eq!(r["cwd"].as_str(), Some(dir));
        assert!(Path::new(dir).starts_with(c.work_dir()), "{dir}");
        assert!(
            dir.contains(&format!(
                "/frameworks/{}/executors/env-exec/runs/",
                s.framework_id
            )),
            "{dir}"
        );
        let dir = PathBuf::from(dir);
        let stdout = std::fs::read_to_string(dir.join("stdout")).expect("stdout");
        assert!(stdout.contains("event SUBSCRIBED"), "{stdout}");
        assert!(dir.join("stderr").exists());
        assert_ne!(
            env_var(&reports[2], "MESOS_DIRECTORY"),
            Some(dir.to_str().expect("utf-8"))
        );
        s.simple(call::Type::Teardown);
    }
}

#[test]
fn updates_acknowledged_by_the_agent_messages_kill_and_shutdown() {
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, framework("ack"));
    let offer = s.offers().remove(0);
    // This executor talks to /slave(1)/api/v1/executor.
    let exec = py_executor(&s, "ack-exec", "long-path");
    s.launch(
        &offer,
        vec![
            task(&offer, "a", "ack-report", &exec),
            task(&offer, "w", "wait", &exec),
        ],
    );
    let running = s.update("a", TaskState::TaskRunning);
    let uuid = running.uuid.clone().expect("uuid");
    assert_eq!(uuid.len(), 16);
    assert_eq!(running.source(), Source::Executor);
    assert_eq!(running.agent_id, Some(offer.agent_id.clone()));
    assert_eq!(
        running.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("ack-exec")
    );
    // The executor got ACKNOWLEDGED from the agent before the scheduler
    // acknowledged anything (it tells us with a framework message).
    let msg = expect_message(&mut s, &format!("acknowledged:a:{}", B64.encode(&uuid)));
    assert_eq!(msg.executor_id.value, "ack-exec");
    assert_eq!(msg.agent_id, offer.agent_id);
    s.ack(&running);
    acked(&mut s, "w", TaskState::TaskRunning);

    // Framework messages both ways.
    message(&mut s, &offer, "ack-exec", "ping");
    let echo = expect_message(&mut s, "echo:ping");
    assert_eq!(echo.executor_id.value, "ack-exec");

    // KILL goes to the executor, which answers TASK_KILLED.
    kill(&mut s, "w");
    let killed = acked(&mut s, "w", TaskState::TaskKilled);
    assert_eq!(killed.source(), Source::Executor);

    // SHUTDOWN: the executor kills its last task and exits 0.
    shutdown(&mut s, &offer, "ack-exec");
    acked(&mut s, "a", TaskState::TaskKilled);
    assert_eq!(failure(&mut s, "ack-exec").status, Some(0));
}

#[test]
fn task_group_on_a_custom_executor() {
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("group"));
    let offer = s.offers().remove(0);
    let mut exec = py_executor(&s, "group-exec", "normal");
    // Task groups need an executor with disk.
    exec.resources.push(scalar("disk", 10.0));
    let mut g1 = task(&offer, "g1", "finish", &exec);
    g1.data = Some(b"one".to_vec());
    let mut g2 = task(&offer, "g2", "finish", &exec);
    g2.data = Some(b"two".to_vec());
    for t in [&mut g1, &mut g2] {
        t.executor = None;
    }
    s.accept(
        vec![offer.id.clone()],
        vec![pb::offer::Operation {
            r#type: Some(pb::offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(pb::offer::operation::LaunchGroup {
                executor: exec,
                task_group: pb::TaskGroupInfo {
                    tasks: vec![g1, g2],
                },
            }),
            ..Default::default()
        }],
    );
    for (id, data) in [("g1", "one"), ("g2", "two")] {
        acked(&mut s, id, TaskState::TaskRunning);
        let done = acked(&mut s, id, TaskState::TaskFinished);
        assert_eq!(data_text(&done), data);
        assert_eq!(
            done.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("group-exec")
        );
    }
}

#[test]
fn executor_crash_fails_its_tasks() {
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("crash"));
    let offer = s.offers().remove(0);
    let exec = py_executor(&s, "crash-exec", "normal");
    s.launch(
        &offer,
        vec![
            task(&offer, "c", "crash", &exec),
            task(&offer, "w", "wait", &exec),
        ],
    );
    acked(&mut s, "c", TaskState::TaskRunning);
    acked(&mut s, "w", TaskState::TaskRunning);
    for id in ["c", "w"] {
        let failed = acked(&mut s, id, TaskState::TaskFailed);
        assert_eq!(failed.source(), Source::Agent);
        assert_eq!(failed.reason(), Reason::ExecutorTerminated);
        assert_eq!(failed.message.as_deref(), Some("Executor terminated"));
        assert!(failed.uuid.is_some());
    }
    let f = failure(&mut s, "crash-exec");
    assert_eq!(f.agent_id, Some(offer.agent_id.clone()));
    // The raw wait status: exited with 7.
    assert_eq!(f.status, Some(7 << 8));
}

#[test]
fn registration_timeout() {
    let c = start(ClusterConfig {
        executor_registration_timeout: Duration::from_millis(500),
        ..config()
    });
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("registration"));
    let offer = s.offers().remove(0);
    let silent = py_executor(&s, "silent-exec", "no-subscribe");
    s.launch(&offer, vec![task(&offer, "never", "wait", &silent)]);
    // An executor that never subscribes is destroyed.
    let failed = acked(&mut s, "never", TaskState::TaskFailed);
    assert_eq!(failed.reason(), Reason::ExecutorRegistrationTimeout);
    assert_eq!(failed.source(), Source::Agent);
    assert_eq!(
        failed.message.as_deref(),
        Some("Executor did not register within 500ms")
    );
    assert_eq!(failure(&mut s, "silent-exec").status, Some(libc::SIGKILL));
}

#[test]
fn shutdown_grace_period_then_kill() {
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("grace"));
    let offer = s.offers().remove(0);
    let mut stubborn = py_executor(&s, "stubborn-exec", "ignore-shutdown");
    stubborn.shutdown_grace_period = Some(pb::DurationInfo {
        nanoseconds: 300_000_000,
    });
    s.launch(&offer, vec![task(&offer, "w", "wait", &stubborn)]);
    // An executor that ignores SHUTDOWN (and SIGTERM) is killed after its
    // grace period; its live task fails.
    acked(&mut s, "w", TaskState::TaskRunning);
    shutdown(&mut s, &offer, "stubborn-exec");
    let failed = acked(&mut s, "w", TaskState::TaskFailed);
    assert_eq!(failed.reason(), Reason::ExecutorTerminated);
    assert_eq!(failure(&mut s, "stubborn-exec").status, Some(libc::SIGKILL));
}

#[test]
fn teardown_sends_shutdown_to_the_executor() {
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("teardown"));
    let offer = s.offers().remove(0);
    let exec = py_executor(&s, "td-exec", "normal");
    s.launch(
        &offer,
        vec![
            task(&offer, "e", "env", &exec),
            task(&offer, "w", "wait", &exec),
        ],
    );
    let r = report(&acked(&mut s, "e", TaskState::TaskRunning));
    acked(&mut s, "w", TaskState::TaskRunning);
    let pid = r["pid"].as_i64().expect("pid");
    let stdout = PathBuf::from(env_var(&r, "MESOS_DIRECTORY").expect("dir")).join("stdout");
    assert!(alive(pid));
    assert_eq!(s.simple(call::Type::Teardown).status, 202);
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&stdout)
            .is_ok_and(|o| o.contains("event SHUTDOWN"))),
        "the executor got no SHUTDOWN"
    );
    assert!(wait_until(WAIT, || !alive(pid)), "the executor still runs");
}

#[test]
fn restart_agent_with_checkpointing() {
    let mut c = start(ClusterConfig {
        executor_reregistration_timeout: Duration::from_secs(5),
        ..config()
    });
    let agent_before = c.agent_addr(0);

    // A checkpointing framework and one that does not checkpoint (which
    // gets what the first one leaves).
    let mut s1 = Sched::subscribe(&c, Encoding::Json, checkpointing("ckpt"));
    let offer1 = s1.offers().remove(0);
    let mut s2 = Sched::subscribe(&c, Encoding::Json, framework("plain"));
    let exec1 = py_executor(&s1, "ckpt-exec", "normal");
    s1.launch(
        &offer1,
        vec![
            task(&offer1, "e1", "env", &exec1),
            task(&offer1, "down", "down-update", &exec1),
            task(&offer1, "w1", "wait", &exec1),
            // Delivered, but the executor forgets it.
            task(&offer1, "ign", "ignore", &exec1),
        ],
    );
    let offer2 = s2.offers().remove(0);
    let exec2 = py_executor(&s2, "plain-exec", "normal");
    s2.launch(
        &offer2,
        vec![
            task(&offer2, "e2", "env", &exec2),
            task(&offer2, "w2", "wait", &exec2),
        ],
    );
    let r1 = report(&acked(&mut s1, "e1", TaskState::TaskRunning));
    acked(&mut s1, "e1", TaskState::TaskFinished);
    acked(&mut s1, "down", TaskState::TaskRunning);
    // Left unacknowledged: the agent must send it again after its restart.
    let w1_running = s1.update("w1", TaskState::TaskRunning);
    let r2 = report(&acked(&mut s2, "e2", TaskState::TaskRunning));
    acked(&mut s2, "e2", TaskState::TaskFinished);
    acked(&mut s2, "w2", TaskState::TaskRunning);
    let (pid1, pid2) = (
        r1["pid"].as_i64().expect("pid"),
        r2["pid"].as_i64().expect("pid"),
    );

    c.stop_agent(0).expect("stop");
    let port = agent_before.expect("agent").port();
    assert!(
        mesos::http::client::Conn::connect("127.0.0.1", port, Duration::from_secs(1)).is_err(),
        "the agent's endpoint is closed"
    );
    let state: Json = serde_json::from_slice(&s1.get("/master/state").body).expect("state");
    assert_eq!(state["deactivated_slaves"], 1);
    // A kill while the agent is away is retried when it is back.
    kill(&mut s1, "w1");
    c.start_agent(0).expect("start");
    assert_eq!(c.agent_addr(0), agent_before, "same endpoint");

    // The unacknowledged update comes again, the same update; then the
    // retried kill reaches the re-subscribed executor.
    let again = s1.update("w1", TaskState::TaskRunning);
    assert_eq!(again.uuid, w1_running.uuid);
    s1.ack(&again);
    let killed = acked(&mut s1, "w1", TaskState::TaskKilled);
    assert_eq!(killed.source(), Source::Executor);
    // The update the executor made while the agent was away reaches the
    // scheduler through its re-SUBSCRIBE.
    let finished = acked(&mut s1, "down", TaskState::TaskFinished);
    assert_eq!(data_text(&finished), "made while disconnected");
    assert_eq!(finished.source(), Source::Executor);
    // A task still STAGING that the executor did not list when it
    // re-subscribed was lost in the restart.
    let lost = acked(&mut s1, "ign", TaskState::TaskLost);
    assert_eq!(lost.reason(), Reason::AgentRestarted);
    assert_eq!(lost.source(), Source::Agent);
    assert_eq!(
        lost.message.as_deref(),
        Some("Task launched during agent restart")
    );
    // The same executor process, subscribed again: messages work.
    assert!(alive(pid1));
    message(&mut s1, &offer1, "ckpt-exec", "after restart");
    expect_message(&mut s1, "echo:after restart");
    let stdout = PathBuf::from(env_var(&r1, "MESOS_DIRECTORY").expect("dir")).join("stdout");
    let out = std::fs::read_to_string(stdout).expect("stdout");
    assert_eq!(out.matches("event SUBSCRIBED").count(), 2, "{out}");

    // The framework that did not checkpoint lost its executor and task.
    let lost = acked(&mut s2, "w2", TaskState::TaskLost);
    assert_eq!(lost.reason(), Reason::Reconciliation);
    assert_eq!(lost.source(), Source::Agent);
    assert_eq!(
        lost.message.as_deref(),
        Some("Reconciliation: task unknown to the agent")
    );
    assert!(
        wait_until(WAIT, || !alive(pid2)),
        "executor of 'plain' survived"
    );

    // The agent offers again.
    s2.clear();
    assert!(!s2.offers().is_empty());
}

#[test]
fn executor_that_does_not_reregister_is_destroyed() {
    let mut c = start(ClusterConfig {
        executor_reregistration_timeout: Duration::from_millis(300),
        ..config()
    });
    let mut info = checkpointing("lazy");
    info.capabilities = vec![capability(
        pb::framework_info::capability::Type::PartitionAware,
    )];
    let mut s = Sched::subscribe(&c, Encoding::Json, info);
    let offer = s.offers().remove(0);
    let exec = py_executor(&s, "lazy-exec", "no-reconnect");
    s.launch(&offer, vec![task(&offer, "w", "wait", &exec)]);
    acked(&mut s, "w", TaskState::TaskRunning);
    c.restart_agent(0).expect("restart");
    let gone = acked(&mut s, "w", TaskState::TaskGone);
    assert_eq!(gone.reason(), Reason::ExecutorReregistrationTimeout);
    assert_eq!(gone.source(), Source::Agent);
    assert_eq!(
        gone.message.as_deref(),
        Some("Executor did not reregister within 300ms")
    );
    assert_eq!(failure(&mut s, "lazy-exec").status, Some(libc::SIGKILL));
}

#[test]
fn bearer_token_required_when_enabled() {
    let c = start(ClusterConfig {
        executor_auth: true,
        ..config()
    });
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("auth"));
    let offer = s.offers().remove(0);
    let exec = py_executor(&s, "auth-exec", "auth-probe");
    let other = py_executor(&s, "other-exec", "normal");
    s.launch(
        &offer,
        vec![
            task(&offer, "e", "env", &exec),
            task(&offer, "w", "wait", &other),
        ],
    );
    let r = report(&acked(&mut s, "e", TaskState::TaskRunning));
    acked(&mut s, "w", TaskState::TaskRunning);
    let realm = r#"Bearer realm="mesos-agent-executor""#;
    let probe = &r["probe"];
    assert_eq!(probe["none"], serde_json::json!([401, realm]));
    assert_eq!(probe["wrong"][0], 401);
    let wrong = probe["wrong"][1].as_str().expect("challenge");
    assert!(
        wrong.starts_with(realm) && wrong.contains(r#"error="invalid_token""#),
        "{wrong}"
    );
    let basic = probe["basic"][1].as_str().expect("challenge");
    assert!(basic.contains("Scheme 'Basic' unsupported"), "{basic}");
    assert_eq!(probe["good"][0], 202);
    let token = env_var(&r, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN").expect("token");
    assert!(token.len() >= 32);

    // The token is one executor's: another executor's calls are forbidden.
    let port = c.agent_addr(0).expect("agent").port();
    let body = format!(
        r#"{{"type":"MESSAGE","framework_id":{{"value":"{}"}},"executor_id":{{"value":"other-exec"}},"message":{{"data":"eA=="}}}}"#,
        s.framework_id
    );
    let post = |auth: Option<&str>| {
        let mut h = mesos::http::Headers::default().with("Content-Type", "application/json");
        if let Some(a) = auth {
            h.add("Authorization", a);
        }
        support::connect_to(port)
            .roundtrip("POST", "/api/v1/executor", &h, body.as_bytes())
            .expect("post")
    };
    let r = post(Some(&format!("Bearer {token}")));
    assert_eq!(r.status, 403, "{}", r.body_text());
    assert!(r.body_text().contains("'eid' claim"), "{}", r.body_text());
    let r = post(None);
    assert_eq!(r.status, 401);
    assert_eq!(r.headers.get("www-authenticate"), Some(realm));
}

#[test]
fn uris_are_fetched_for_executors() {
    let c = start(config());
    let inputs = c.work_dir().join("inputs");
    std::fs::create_dir_all(inputs.join("pkg")).expect("mkdir");
    std::fs::write(inputs.join("pkg/hello.txt"), "hello\n").expect("write");
    std::fs::write(inputs.join("plain.txt"), "plain\n").expect("write");
    std::fs::write(inputs.join("data.txt"), "data\n").expect("write");
    std::fs::write(inputs.join("tool.sh"), "#!/bin/sh\necho tool\n").expect("write");
    let sh = |cmd: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&inputs)
            .status()
            .expect("sh");
        assert!(st.success(), "{cmd}");
    };
    sh("tar czf archive.tar.gz pkg && gzip data.txt");
    let have_unzip = std::process::Command::new("unzip")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_unzip {
        sh(
            "python3 -c \"import zipfile; z = zipfile.ZipFile('bundle.zip', 'w'); z.writestr('z/inner.txt', 'zipped'); z.close()\"",
        );
    }

    let mut s = Sched::subscribe(&c, Encoding::Json, framework("uris"));
    let offer = s.offers().remove(0);
    let uri = |value: String, executable: bool, output: Option<&str>| pb::command_info::Uri {
        value,
        executable: Some(executable),
        output_file: output.map(str::to_string),
        ..Default::default()
    };
    let input = |name: &str| inputs.join(name).display().to_string();
    // The executor itself is fetched: the command runs it from the sandbox.
    let mut exec = command_executor(&s, "fetch-exec", "exec ./executor.py normal".into());
    if let Some(cmd) = &mut exec.command {
        cmd.uris = vec![
            uri(script().display().to_string(), true, None),
            uri(input("archive.tar.gz"), false, None),
            uri(input("data.txt.gz"), false, None),
            uri(input("plain.txt"), false, None),
            uri(input("tool.sh"), true, Some("bin/tool")),
            uri(
                format!("http://{}/version", c.addr()),
                false,
                Some("sub/version.json"),
            ),
        ];
        if have_unzip {
            cmd.uris.push(uri(input("bundle.zip"), false, None));
        }
    }
    let mut broken = command_executor(&s, "broken-exec", "exec true".into());
    if let Some(cmd) = &mut broken.command {
        cmd.uris = vec![uri(input("missing.tar.gz"), false, None)];
    }
    s.launch(
        &offer,
        vec![
            task(&offer, "f", "files", &exec),
            task(&offer, "b", "wait", &broken),
        ],
    );
    let files = report(&acked(&mut s, "f", TaskState::TaskRunning));
    acked(&mut s, "f", TaskState::TaskFinished);
    let exec_bit = |name: &str| files[name]["executable"].as_bool();
    assert_eq!(exec_bit("executor.py"), Some(true), "{files}");
    assert_eq!(exec_bit("bin/tool"), Some(true), "{files}");
    for name in [
        "pkg/hello.txt",
        "archive.tar.gz",
        "data.txt",
        "data.txt.gz",
        "plain.txt",
        "sub/version.json",
        "stdout",
        "stderr",
    ] {
        assert!(files.get(name).is_some(), "{name} missing: {files}");
    }
    assert_eq!(exec_bit("plain.txt"), Some(false));
    assert_eq!(files["data.txt"]["size"], 5);
    if have_unzip {
        assert!(files.get("z/inner.txt").is_some(), "{files}");
    } else {
        eprintln!("note: no unzip here; zip extraction not tested");
    }

    // A fetch failure fails the executor's tasks before it starts.
    let failed = acked(&mut s, "b", TaskState::TaskFailed);
    assert_eq!(failed.reason(), Reason::ContainerLaunchFailed);
    assert_eq!(failed.source(), Source::Agent);
    let msg = failed.message.unwrap_or_default();
    assert!(
        msg.contains("Failed to fetch") && msg.contains("missing.tar.gz"),
        "{msg}"
    );
    failure(&mut s, "broken-exec");
}

/// A third-party executor, unchanged: pymesos (its venv is made by
/// `test/pymesos/setup`; skipped with a notice if that cannot be done).
#[test]
fn pymesos_executor_runs_a_task() {
    let python = root().join("target/pymesos-venv/bin/python");
    if !python.exists() {
        let setup = std::process::Command::new(root().join("test/pymesos/setup")).status();
        if !setup.is_ok_and(|s| s.success()) || !python.exists() {
            eprintln!("skipped: cannot create target/pymesos-venv (test/pymesos/setup failed)");
            return;
        }
    }
    let c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Json, framework("pymesos-exec"));
    let offer = s.offers().remove(0);
    let exec = command_executor(
        &s,
        "pymesos-exec",
        format!(
            "exec {} {}",
            python.display(),
            root().join("test/pymesos/executor.py").display()
        ),
    );
    let mut t = task(&offer, "py", "pymesos task", &exec);
    t.data = Some(b"payload".to_vec());
    s.launch(&offer, vec![t]);
    let running = acked(&mut s, "py", TaskState::TaskRunning);
    assert_eq!(running.source(), Source::Executor);
    assert_eq!(running.uuid.as_ref().map(Vec::len), Some(16));
    let finished = acked(&mut s, "py", TaskState::TaskFinished);
    assert_eq!(data_text(&finished), "finished by pymesos payload");
    message(&mut s, &offer, "pymesos-exec", "hi");
    expect_message(&mut s, "pymesos echo hi");
    shutdown(&mut s, &offer, "pymesos-exec");
    failure(&mut s, "pymesos-exec");
}

// ------------------------------------------------ the Rust executor driver

/// When the agent runs this test binary as an executor (see
/// `rust_driver_executor`), this "test" is an executor built on
/// `mesos::executor::driver`: RUNNING for each task; TASK_KILLED on KILL;
/// a task named "down-update" gets a FINISHED update made while the agent
/// is away; SHUTDOWN exits.
#[test]
fn rust_driver_executor_process() {
    use mesos::executor::driver::{Driver, Options, Output};
    use mesos::executor::env::ExecutorEnv;
    use mesos::wire::pb::executor::{Event, event::Type as T};
    if std::env::var("LOCAL_EXECUTOR_RUST_DRIVER").is_err() {
        return;
    }
    let env = ExecutorEnv::from_process().expect("executor environment");
    let mut d = Driver::new(Options::new(env)).expect("driver");
    d.start().expect("start");
    let status = |t: &pb::TaskInfo, state: TaskState, data: Option<&str>| pb::TaskStatus {
        task_id: t.task_id.clone(),
        state: state as i32,
        data: data.map(|s| s.as_bytes().to_vec()),
        ..Default::default()
    };
    let mut tasks: Vec<pb::TaskInfo> = vec![];
    loop {
        match d.recv(Duration::from_secs(1)) {
            None | Some(Output::CallFailed { .. }) => {}
            Some(Output::Event(ev)) => {
                let ev: Event = ev.transcode_to().expect("an executor event");
                match ev.r#type() {
                    T::Launch => {
                        let t = ev.launch.expect("launch").task;
                        d.update(status(&t, TaskState::TaskRunning, None))
                            .expect("update");
                        tasks.push(t);
                    }
                    T::Kill => {
                        let id = ev.kill.expect("kill").task_id;
                        if let Some(i) = tasks.iter().position(|t| t.task_id == id) {
                            let t = tasks.remove(i);
                            d.update(status(&t, TaskState::TaskKilled, None))
                                .expect("update");
                        }
                    }
                    T::Shutdown => std::process::exit(0),
                    _ => {}
                }
            }
            Some(Output::Disconnected(why)) => {
                println!("disconnected: {why}");
                for t in tasks.iter().filter(|t| t.name == "down-update") {
                    let st = status(t, TaskState::TaskFinished, Some("made while disconnected"));
                    d.update(st).expect("update");
                }
                tasks.retain(|t| t.name != "down-update");
            }
            Some(Output::Stopped(_)) => std::process::exit(0),
        }
    }
}

/// The executor `rust_driver_executor_process` is.
fn rust_driver_executor(s: &Sched, id: &str) -> pb::ExecutorInfo {
    let exe = std::env::current_exe()
        .expect("test binary")
        .display()
        .to_string();
    let mut exec = command_executor(s, id, exe.clone());
    exec.command = Some(pb::CommandInfo {
        shell: Some(false),
        value: Some(exe.clone()),
        arguments: vec![
            exe,
            "--exact".into(),
            "rust_driver_executor_process".into(),
            "--nocapture".into(),
            "--test-threads=1".into(),
        ],
        // CommandInfo.environment wins over the agent's variables: a short
        // backoff makes the driver re-subscribe well within the agent's
        // 2 s re-registration timeout (with the agent's own value, 2 s,
        // the first retry could come too late).
        environment: Some(pb::Environment {
            variables: [
                ("LOCAL_EXECUTOR_RUST_DRIVER", "1"),
                ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "200ms"),
            ]
            .iter()
            .map(|(k, v)| pb::environment::Variable {
                name: k.to_string(),
                value: Some(v.to_string()),
                ..Default::default()
            })
            .collect(),
        }),
        ..Default::default()
    });
    exec
}

#[test]
fn rust_driver_executor_survives_agent_restart() {
    let mut c = start(config());
    let mut s = Sched::subscribe(&c, Encoding::Protobuf, checkpointing("rust-driver"));
    let offer = s.offers().remove(0);
    let exec = rust_driver_executor(&s, "rust-exec");
    s.launch(
        &offer,
        vec![
            task(&offer, "down", "down-update", &exec),
            task(&offer, "w", "wait", &exec),
        ],
    );
    acked(&mut s, "down", TaskState::TaskRunning);
    acked(&mut s, "w", TaskState::TaskRunning);
    c.restart_agent(0).expect("restart");
    // The driver re-subscribed with the update it made while the agent was
    // away.
    let finished = acked(&mut s, "down", TaskState::TaskFinished);
    assert_eq!(data_text(&finished), "made while disconnected");
    kill(&mut s, "w");
    acked(&mut s, "w", TaskState::TaskKilled);
    shutdown(&mut s, &offer, "rust-exec");
    assert_eq!(failure(&mut s, "rust-exec").status, Some(0));
}
