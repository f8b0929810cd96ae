//! Unit tests of the scheduler's state machine (`machine.rs`): every rule
//! with time and random draws passed in, no socket, no thread, no sleep;
//! and the fault scenarios of `tests/faults.rs` replayed at this level.

use super::*;

fn subscribed(m: &mut Machine, t: Instant) {
    m.subscribe_accepted(Some("stream-1".into()), t);
    assert!(m.event(
        &Seen::Subscribed {
            framework_id: "fw-1".into(),
            heartbeat_interval: Some(15.0)
        },
        t
    ));
}

#[test]
fn gives_up_only_after_the_limit_without_a_subscription() {
    let t0 = Instant::now();
    let s = |secs: u64| t0 + Duration::from_secs(secs);
    let mut never = Machine::new(Config::default(), None);
    never.attempt(t0);
    assert!(!never.should_give_up(s(1_000_000)));

    let cfg = Config {
        give_up_after: Some(Duration::from_secs(60)),
        ..Config::default()
    };
    let mut m = Machine::new(cfg, None);
    assert!(!m.should_give_up(s(100)), "no attempt yet");
    m.attempt(t0);
    m.disconnected(0.5);
    m.attempt(s(30)); // a later attempt keeps the first instant
    assert!(!m.should_give_up(s(59)));
    assert!(m.should_give_up(s(60)));

    // Subscribed: the clock starts again when the subscription is lost.
    subscribed(&mut m, s(61));
    assert!(!m.should_give_up(s(500)));
    m.disconnected(0.5);
    m.attempt(s(500));
    assert!(!m.should_give_up(s(559)));
    assert!(m.should_give_up(s(560)));
}

#[test]
fn lifecycle_and_call_ids() {
    let t0 = Instant::now();
    let mut m = Machine::new(Config::default(), None);
    assert_eq!(m.call_ids(), Err(NotSubscribed(Phase::Disconnected)));
    m.subscribe_accepted(Some("stream-1".into()), t0);
    assert_eq!(m.phase(), Phase::Subscribing);
    assert_eq!(m.call_ids(), Err(NotSubscribed(Phase::Subscribing)));
    subscribed(&mut m, t0);
    assert_eq!(m.call_ids(), Ok(("fw-1".into(), "stream-1".into())));
    m.disconnected(0.0);
    assert_eq!(m.phase(), Phase::Disconnected);
    assert_eq!(
        m.framework_id(),
        Some("fw-1"),
        "framework id survives for resubscription"
    );
    assert!(m.stream_id().is_none(), "a stale stream id is never reused");
}

#[test]
fn an_absurd_heartbeat_interval_means_no_watchdog_not_a_panic() {
    for interval in [1e300, 1e17, f64::INFINITY, f64::NAN, -1.0, 0.0] {
        let t0 = Instant::now();
        let mut m = Machine::new(Config::default(), None);
        m.subscribe_accepted(Some("s".into()), t0);
        assert!(m.event(
            &Seen::Subscribed {
                framework_id: "fw".into(),
                heartbeat_interval: Some(interval),
            },
            t0
        ));
        assert_eq!(m.phase(), Phase::Subscribed);
        assert!(!m.heartbeat_lost(t0 + Duration::from_secs(1_000_000)));
    }
}

#[test]
fn heartbeat_deadline_moves_with_every_event() {
    let t0 = Instant::now();
    let mut m = Machine::new(Config::default(), None);
    subscribed(&mut m, t0);
    assert_eq!(m.deadline(), Some(t0 + Duration::from_secs(75)));
    assert!(!m.heartbeat_lost(t0 + Duration::from_secs(74)));
    m.event(&Seen::Other, t0 + Duration::from_secs(60));
    assert!(!m.heartbeat_lost(t0 + Duration::from_secs(100)));
    assert!(m.heartbeat_lost(t0 + Duration::from_secs(135)));
}

#[test]
fn backoff_grows_is_capped_and_resets_on_subscribed() {
    let mut m = Machine::new(Config::default(), None);
    let d: Vec<Duration> = (0..8).map(|_| m.disconnected(1.0)).collect();
    assert_eq!(d[0], Duration::from_millis(500));
    assert_eq!(d[1], Duration::from_secs(1));
    assert_eq!(d[7], Duration::from_secs(15));
    subscribed(&mut m, Instant::now());
    assert_eq!(m.disconnected(1.0), Duration::from_millis(500));
    // Jitter stays within the upper half of the cap.
    assert_eq!(
        backoff(3, Duration::from_millis(500), Duration::from_secs(15), 0.0),
        Duration::from_secs(2)
    );
}

#[test]
fn subscribed_only_counts_while_subscribing() {
    let mut m = Machine::new(Config::default(), None);
    let seen = Seen::Subscribed {
        framework_id: "x".into(),
        heartbeat_interval: None,
    };
    assert!(!m.event(&seen, Instant::now()));
    assert_eq!(m.phase(), Phase::Disconnected);
}

fn ep(s: &str) -> Endpoint {
    crate::net::endpoint::parse_endpoint(s, 5050).expect("endpoint")
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

fn retry(next: Next) -> (String, Duration) {
    match next {
        Next::Retry { why, delay } => (why, delay),
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[test]
fn subscribe_answers_retry_what_may_pass_and_stop_on_what_will_not() {
    let m = ep("m1:5050");
    assert_eq!(subscribe_answer(200, &m, "", None), SubscribeAnswer::Stream);
    assert_eq!(
        subscribe_answer(307, &m, "", None),
        SubscribeAnswer::Redirect
    );
    for st in [503, 404, 500, 502] {
        assert!(
            matches!(subscribe_answer(st, &m, "no leader", None), SubscribeAnswer::Failed(ref w)
                if w == &format!("SUBSCRIBE rejected by http://m1:5050: HTTP {st} no leader")),
            "{st}"
        );
    }
    for st in [400, 403, 409] {
        assert!(
            matches!(
                subscribe_answer(st, &m, "", None),
                SubscribeAnswer::Fatal(_)
            ),
            "{st}"
        );
    }
    assert_eq!(
        subscribe_answer(401, &m, "", Some("alice")),
        SubscribeAnswer::Fatal(
            "authentication failed: http://m1:5050 answered HTTP 401; the credentials of principal 'alice' were refused"
                .into()
        )
    );
    assert!(matches!(subscribe_answer(401, &m, "", None),
        SubscribeAnswer::Fatal(ref w) if w.ends_with("no credentials were given (set principal and secret)")));
}

#[test]
fn call_answers() {
    assert_eq!(call_answer(202, ""), CallAnswer::Taken);
    assert_eq!(call_answer(200, ""), CallAnswer::Taken);
    assert_eq!(call_answer(307, ""), CallAnswer::Redirect);
    assert_eq!(
        call_answer(401, "x"),
        CallAnswer::Refused("authentication failed (HTTP 401)".into())
    );
    assert_eq!(
        call_answer(400, "Failed to validate"),
        CallAnswer::Refused("HTTP 400 Failed to validate".into())
    );
}

#[test]
fn redirects_follow_locations_within_the_budget() {
    let mut r = Redirects::new(2);
    let from = ep("m1:5050");
    let (to, path) = r
        .follow(&from, "//m2:5050/master/api/v1/scheduler")
        .expect("first");
    assert_eq!(
        (to.to_string(), path.as_str()),
        ("http://m2:5050".into(), "/master/api/v1/scheduler")
    );
    assert!(r.follow(&to, "http://m3:5050/api/v1/scheduler").is_ok());
    assert_eq!(
        r.follow(&to, "http://m4:5050/api/v1/scheduler"),
        Err("too many redirects (last to http://m4:5050/api/v1/scheduler)".into())
    );
    let mut r = Redirects::new(10);
    assert_eq!(
        r.follow(&from, "ftp://x"),
        Err("bad redirect location \"ftp://x\" from http://m1:5050".into())
    );
}

#[test]
fn attempts_move_to_the_next_candidate_unless_an_established_stream_ended() {
    let t0 = Instant::now();
    let mut m = Machine::new(Config::default(), None);
    assert_eq!(m.candidate(2), 0);
    retry(m.attempt_ended("A", Attempt::Ended("EOF".into()), t0, 0.5));
    assert_eq!(m.candidate(2), 0, "a stream that ended: the same master");
    retry(m.attempt_ended("A", Attempt::Failed("refused".into()), t0, 0.5));
    assert_eq!(m.candidate(2), 1);
    retry(m.attempt_ended("B", Attempt::Unresponsive("silent".into()), t0, 0.5));
    assert_eq!(m.candidate(2), 0, "wraps around");
    assert_eq!(m.candidate(0), 0, "no masters (ZooKeeper): index 0");
}

#[test]
fn a_fatal_attempt_stops_for_good_and_says_why_twice() {
    let mut m = Machine::new(Config::default(), None);
    let next = m.attempt_ended(
        "A",
        Attempt::Fatal("master sent ERROR: bye".into()),
        Instant::now(),
        0.5,
    );
    assert_eq!(
        next,
        Next::Stop {
            why: "master sent ERROR: bye".into(),
            stopped: "master sent ERROR: bye".into()
        }
    );
}

#[test]
fn giving_up_names_each_master_tried_with_its_last_error() {
    let t0 = Instant::now();
    let cfg = Config {
        give_up_after: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let mut m = Machine::new(cfg, None);
    m.attempt(t0);
    retry(m.attempt_ended(
        "http://a:1",
        Attempt::Failed("cannot connect to master http://a:1: refused".into()),
        secs(t0, 1.0),
        0.5,
    ));
    m.attempt(secs(t0, 2.0));
    retry(m.attempt_ended(
        "http://b:2",
        Attempt::Failed("HTTP 503".into()),
        secs(t0, 3.0),
        0.5,
    ));
    m.attempt(secs(t0, 4.0));
    retry(m.attempt_ended(
        "http://a:1",
        Attempt::Failed("cannot connect to master http://a:1: timed out".into()),
        secs(t0, 5.0),
        0.5,
    ));
    m.attempt(secs(t0, 9.0));
    let next = m.attempt_ended(
        "http://b:2",
        Attempt::Failed("HTTP 500".into()),
        secs(t0, 10.0),
        0.5,
    );
    assert_eq!(
        next,
        Next::Stop {
            why: "HTTP 500".into(),
            stopped: "gave up after 10s without a subscription (cannot connect to master http://a:1: timed out; http://b:2: HTTP 500)".into()
        }
    );
}

#[test]
fn teardown_handshake() {
    let mut m = Machine::new(Config::default(), None);
    subscribed(&mut m, Instant::now());
    assert!(!m.teardown_pending());
    m.teardown_queued();
    assert!(
        m.teardown_pending(),
        "the stream's end is expected: wait for the outcome"
    );
    m.teardown_settled(false);
    assert!(!m.teardown_pending());
    assert_eq!(
        m.phase(),
        Phase::Subscribed,
        "a failed TEARDOWN changes nothing"
    );
    m.teardown_queued();
    m.teardown_settled(true);
    assert!(!m.teardown_pending());
    assert_eq!(m.phase(), Phase::Stopped);
}

#[test]
fn calls_are_stamped_with_the_subscriptions_ids_only_while_subscribed() {
    use crate::wire::pb::scheduler::call;
    let mut m = Machine::new(Config::default(), Some("fw-0".into()));
    let mut c = Call {
        update_framework: Some(call::UpdateFramework::default()),
        ..Default::default()
    };
    assert_eq!(m.stamp(&mut c), Err(NotSubscribed(Phase::Disconnected)));
    assert!(c.framework_id.is_none(), "nothing stamped when refused");
    subscribed(&mut m, Instant::now());
    assert_eq!(m.stamp(&mut c), Ok("stream-1".into()));
    assert_eq!(
        c.framework_id.as_ref().map(|f| f.value.as_str()),
        Some("fw-1")
    );
    let inner = c
        .update_framework
        .as_ref()
        .and_then(|u| u.framework_info.id.as_ref());
    assert_eq!(inner.map(|f| f.value.as_str()), Some("fw-1"));
}

// ---------------------------------------------- fault scenarios, replayed
// The scenarios of tests/faults.rs (docs/faults.md), as the machine sees
// them: the same inputs, the decisions the driver then carries out.

/// Config of the fault suite: heartbeat 250 ms × 4, backoff 20–200 ms.
fn fault_config() -> Config {
    Config {
        heartbeat_factor: 4.0,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        subscribed_timeout: Duration::from_secs(1),
        give_up_after: None,
    }
}

fn subscribe(m: &mut Machine, t: Instant, framework_id: &str, stream: &str) {
    m.attempt(t);
    m.subscribe_accepted(Some(stream.into()), t);
    assert!(m.event(
        &Seen::Subscribed {
            framework_id: framework_id.into(),
            heartbeat_interval: Some(0.25)
        },
        t
    ));
}

#[test]
fn replay_a_cut_and_c_truncated_record_resubscribe_at_the_same_master_with_the_same_id() {
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    let (why, delay) = retry(m.attempt_ended(
        "http://proxy:1",
        Attempt::Ended("event stream error: connection closed inside a chunked body".into()),
        secs(t0, 1.0),
        0.5,
    ));
    assert!(why.contains("chunked body"));
    assert!(
        delay >= Duration::from_millis(10) && delay <= Duration::from_millis(20),
        "{delay:?}"
    );
    assert_eq!(m.candidate(1), 0);
    assert_eq!(m.framework_id(), Some("fw-1"));
    assert!(
        m.stream_id().is_none(),
        "the old stream id is never used again"
    );
    subscribe(&mut m, secs(t0, 1.1), "fw-1", "s2");
    assert_eq!(m.call_ids(), Ok(("fw-1".into(), "s2".into())));
}

#[test]
fn replay_b_stall_is_heartbeat_loss_after_factor_times_interval() {
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    m.event(&Seen::Other, secs(t0, 0.25));
    assert!(!m.heartbeat_lost(secs(t0, 1.2)));
    assert!(
        m.heartbeat_lost(secs(t0, 1.25)),
        "1 s of silence after the last event"
    );
}

#[test]
fn replay_e_master_restarted_backs_off_then_keeps_the_framework_id() {
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    retry(m.attempt_ended(
        "http://m:1",
        Attempt::Ended("master closed the event stream".into()),
        secs(t0, 1.0),
        1.0,
    ));
    let mut delays = vec![];
    for i in 0..3 {
        m.attempt(secs(t0, 1.0 + f64::from(i)));
        let (_, d) = retry(m.attempt_ended(
            "http://m:1",
            Attempt::Failed("refused".into()),
            secs(t0, 1.5 + f64::from(i)),
            1.0,
        ));
        delays.push(d);
    }
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert_eq!(*delays.last().expect("delays"), Duration::from_millis(160));
    assert_eq!(
        m.framework_id(),
        Some("fw-1"),
        "the new master adopts the old id"
    );
    subscribe(&mut m, secs(t0, 5.0), "fw-1", "s2");
    assert_eq!(
        retry(m.attempt_ended("http://m:1", Attempt::Ended("x".into()), secs(t0, 6.0), 1.0)).1,
        Duration::from_millis(20),
        "backoff starts over after a subscription"
    );
}

#[test]
fn replay_g_redirect_loop_moves_to_the_next_candidate() {
    let mut r = Redirects::new(10);
    let loop_at = ep("127.0.0.1:7000");
    let mut last = Ok((loop_at.clone(), String::new()));
    for _ in 0..11 {
        last = r.follow(&loop_at, "http://127.0.0.1:7000/api/v1/scheduler");
    }
    let why = last.expect_err("the 11th redirect is over the budget");
    assert!(why.starts_with("too many redirects"), "{why}");
    let mut m = Machine::new(fault_config(), None);
    retry(m.attempt_ended(
        "http://127.0.0.1:7000",
        Attempt::Failed(why),
        Instant::now(),
        0.5,
    ));
    assert_eq!(m.candidate(2), 1, "the real master next");
}

#[test]
fn replay_h_503_until_a_leader_is_elected_keeps_retrying() {
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), Some("fw-1".into()));
    let front = ep("front:5050");
    for i in 0..3 {
        m.attempt(secs(t0, f64::from(i)));
        let SubscribeAnswer::Failed(why) = subscribe_answer(503, &front, "No leader elected", None)
        else {
            panic!("503 is worth another attempt");
        };
        retry(m.attempt_ended(
            "http://front:5050",
            Attempt::Failed(why),
            secs(t0, f64::from(i) + 0.1),
            0.5,
        ));
    }
    assert_ne!(m.phase(), Phase::Stopped);
    subscribe(&mut m, secs(t0, 4.0), "fw-1", "s2");
    assert_eq!(m.call_ids(), Ok(("fw-1".into(), "s2".into())));
}

#[test]
fn replay_i3_i4_a_silent_master_counts_against_it() {
    let t0 = Instant::now();
    // i3: SUBSCRIBED and one HEARTBEAT, then silence.
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    assert!(m.heartbeat_lost(secs(t0, 1.0)));
    retry(m.attempt_ended(
        "fake",
        Attempt::Unresponsive("no event or heartbeat in time".into()),
        secs(t0, 1.0),
        0.5,
    ));
    assert_eq!(
        m.candidate(2),
        1,
        "the real master next, not the fake again"
    );
    // i4: 200 to SUBSCRIBE, then no SUBSCRIBED within subscribed_timeout.
    let mut m = Machine::new(fault_config(), None);
    m.attempt(t0);
    m.subscribe_accepted(Some("s1".into()), t0);
    assert!(!m.heartbeat_lost(secs(t0, 0.9)));
    assert!(m.heartbeat_lost(secs(t0, 1.0)));
    retry(m.attempt_ended(
        "mute",
        Attempt::Unresponsive("no SUBSCRIBED event in time".into()),
        secs(t0, 1.0),
        0.5,
    ));
    assert_eq!(m.candidate(2), 1);
}

#[test]
fn replay_d_delay_below_the_deadline_is_no_disconnection() {
    // 100 ms on every chunk: heartbeats every 250 ms arrive 100 ms late;
    // the 1 s deadline moves with each one.
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    for i in 1..=20 {
        let at = secs(t0, 0.25 * f64::from(i) + 0.1);
        assert!(!m.heartbeat_lost(at), "heartbeat {i}");
        m.event(&Seen::Other, at);
    }
    assert_eq!(m.phase(), Phase::Subscribed);
}

#[test]
fn replay_f_agent_restart_leaves_the_subscription_alone() {
    // The agent's restart only shows as updates (events) on the stream.
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    subscribe(&mut m, t0, "fw-1", "s1");
    for i in 1..=6 {
        m.event(&Seen::Other, secs(t0, 0.2 * f64::from(i)));
    }
    assert_eq!(m.call_ids(), Ok(("fw-1".into(), "s1".into())));
}

#[test]
fn replay_i1_i2_a_master_gone_silent_is_left_for_the_next_candidate_for_good() {
    // Candidates A (stops heartbeating, or hangs) and the real master.
    let t0 = Instant::now();
    let mut m = Machine::new(fault_config(), None);
    assert_eq!(m.candidate(2), 0);
    subscribe(&mut m, t0, "fw-1", "s1");
    assert!(m.heartbeat_lost(secs(t0, 1.0)));
    let (why, delay) = retry(m.attempt_ended(
        "A",
        Attempt::Unresponsive("no event or heartbeat from A in time; resubscribing".into()),
        secs(t0, 1.0),
        0.5,
    ));
    assert!(why.contains("in time"));
    assert!(delay <= Duration::from_millis(20), "{delay:?}");
    assert_eq!(m.candidate(2), 1, "the real master, at once");
    subscribe(&mut m, secs(t0, 1.05), "fw-1", "s2");
    // A stream that ends later is retried at the master that took us.
    retry(m.attempt_ended("real", Attempt::Ended("EOF".into()), secs(t0, 2.0), 0.5));
    assert_eq!(
        m.candidate(2),
        1,
        "never back to A while the real master answers"
    );
}
