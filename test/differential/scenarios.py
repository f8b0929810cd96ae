"""Differential harness, scenarios: each one runs the same script against a
target (real Mesos or mesos-local) and returns an observation (JSON-able)
that the runner normalises and compares. A scenario may instead return
{"<sub-name>": obs, ...} when declared with group=True: one setup, several
named comparisons, each reported on its own line.

`known` marks a documented difference (docs/local-cluster-vs-mesos.md): if
the two answers differ, the runner reports diff-known instead of failing."""

import base64
import os
import time
import uuid as uuidlib

from mesosclient import (JSON, Framework, b64, command_task, executor_task, keyset,
                         new_uuid_b64, read_lines, request, small_resources, wait_file)

SCENARIOS = []

FAKE_FW = {"value": "00000000-0000-4000-8000-000000000000-0000"}
FAKE_AGENT = {"value": "00000000-0000-4000-8000-000000000000-S0"}


def scenario(name, known=None, group=False):
    def deco(fn):
        SCENARIOS.append({"name": name, "fn": fn, "known": known, "group": group})
        return fn
    return deco


def _is_v4_bytes(b64text):
    raw = base64.b64decode(b64text)
    return len(raw) == 16 and raw[6] >> 4 == 4 and raw[8] >> 6 == 0b10


def _is_v4_text(text):
    try:
        u = uuidlib.UUID(text[:36])
    except (ValueError, TypeError):
        return False
    return u.version == 4 and u.variant == uuidlib.RFC_4122


# --------------------------------------------------------------------------
# Plain endpoints

@scenario("version", known="mesos-local is not a build of the Mesos sources: its /version has "
          "no git_sha/git_tag")
def _version(t):
    r = t.get("/version")
    return {"status": r.status, "content_type": r.header("content-type"),
            "keys": keyset(r.json()), "version": r.json().get("version")}


@scenario("health")
def _health(t):
    return {p: t.get(p).observe() for p in ("/health", "/master/health")}


@scenario("redirect")
def _redirect(t):
    return t.get("/master/redirect").observe("Location")


@scenario("state-essentials")
def _state(t):
    with Framework(t, {"name": "state-probe"}) as fw:
        fw.offers()
        s = t.state()
        frameworks = [f for f in s.get("frameworks", []) if f.get("id") == fw.id]
        essential = ["version", "id", "pid", "hostname", "leader", "leader_info", "flags",
                     "slaves", "frameworks", "completed_frameworks", "activated_slaves",
                     "start_time", "capabilities"]
        slave_keys = ["id", "pid", "hostname", "resources", "used_resources",
                      "offered_resources", "unreserved_resources", "attributes", "active",
                      "version", "registered_time", "port"]
        fw_keys = ["id", "name", "user", "active", "connected", "role", "hostname",
                   "failover_timeout", "checkpoint", "capabilities", "registered_time",
                   "offered_resources", "used_resources", "resources", "tasks",
                   "completed_tasks", "offers", "executors", "unregistered_time"]
        slave = (s.get("slaves") or [{}])[0]
        f = frameworks[0] if frameworks else {}
        return {"top": {k: k in s for k in essential},
                "slave": {k: k in slave for k in slave_keys},
                "slave_resources": slave.get("resources"),
                "framework": {k: k in f for k in fw_keys},
                "framework_values": {k: f.get(k) for k in ("name", "user", "active",
                                                           "connected", "role",
                                                           "failover_timeout", "checkpoint")},
                "offers": len(f.get("offers", []))}


@scenario("operator-get-version", known="mesos-local is not a build of the Mesos sources: "
          "its version info has no git_sha/git_tag")
def _op_version(t):
    r = t.post("/api/v1", {"type": "GET_VERSION"}, {"Content-Type": JSON, "Accept": JSON})
    o = r.observe()
    if r.status == 200:
        o["body"] = keyset(r.json().get("get_version", {}).get("version_info", {}))
    return o


@scenario("unknown-path")
def _unknown_path(t):
    r = t.get("/master/no-such-endpoint")
    return {"status": r.status}


# --------------------------------------------------------------------------
# Scheduler endpoint: HTTP-level rules

@scenario("scheduler-get")
def _sched_get(t):
    return t.get("/api/v1/scheduler").observe("Allow")


@scenario("scheduler-no-content-type")
def _no_ct(t):
    return t.scheduler({"type": "SUBSCRIBE"}, headers={}).observe()


@scenario("scheduler-content-type-text")
def _ct_text(t):
    return t.scheduler({"type": "SUBSCRIBE"}, headers={"Content-Type": "text/plain"}).observe()


@scenario("scheduler-content-type-charset")
def _ct_charset(t):
    return t.scheduler({"type": "SUBSCRIBE"},
                       headers={"Content-Type": "application/json; charset=utf-8"}).observe()


@scenario("subscribe-accept-html")
def _accept_html(t):
    sub = t.subscribe(headers={"Content-Type": JSON, "Accept": "text/html"})
    return {"status": sub.status, "content_type": sub.headers.get("content-type"),
            "body": sub.body.decode()}


@scenario("subscribe-accept-protobuf")
def _accept_pb(t):
    sub = t.subscribe(headers={"Content-Type": JSON, "Accept": "application/x-protobuf"})
    try:
        return {"status": sub.status, "content_type": sub.headers.get("content-type"),
                "stream_id": bool(sub.stream_id)}
    finally:
        sub.close()


@scenario("subscribe-no-accept")
def _no_accept(t):
    sub = t.subscribe(headers={"Content-Type": JSON})
    try:
        first = sub.next()
        return {"status": sub.status, "content_type": sub.headers.get("content-type"),
                "transfer_encoding": sub.headers.get("transfer-encoding"),
                "first": first and first.get("type")}
    finally:
        if sub.status == 200 and first:
            t.scheduler({"type": "TEARDOWN",
                         "framework_id": first["subscribed"]["framework_id"]}, sub.stream_id)
        sub.close()


@scenario("scheduler-bad-json")
def _bad_json(t):
    r = t.scheduler("{not json")
    o = r.observe()
    # The parser's own wording after the prefix is not Mesos's contract.
    o["body"] = o["body"].split(":")[0]
    return o


@scenario("scheduler-json-array")
def _json_array(t):
    return t.scheduler("[1, 2]").observe()


@scenario("scheduler-missing-type")
def _missing_type(t):
    return t.scheduler({"framework_id": FAKE_FW}).observe()


@scenario("scheduler-unknown-type-name")
def _unknown_type_name(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "NO_SUCH_CALL"}).observe()


@scenario("scheduler-type-unknown")
def _type_unknown(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "UNKNOWN"}).observe()


@scenario("scheduler-type-as-number")
def _type_number(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": 2}).observe()


@scenario("scheduler-framework-id-string")
def _fwid_string(t):
    return t.scheduler({"framework_id": "abc", "type": "TEARDOWN"}).observe()


@scenario("scheduler-no-framework-id")
def _no_fwid(t):
    return t.scheduler({"type": "TEARDOWN"}).observe()


@scenario("scheduler-unknown-framework")
def _unknown_fw(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "TEARDOWN"},
                       stream_id="0b5e0e7c-3f5e-4a57-9f2b-1b0d7c7d1d11").observe()


@scenario("scheduler-unknown-framework-no-stream-id")
def _unknown_fw_nosid(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "REVIVE"}).observe()


@scenario("subscribe-missing-subscribe")
def _sub_missing(t):
    return t.scheduler({"type": "SUBSCRIBE"}).observe()


@scenario("subscribe-missing-user")
def _sub_missing_user(t):
    return t.scheduler({"type": "SUBSCRIBE",
                        "subscribe": {"framework_info": {"name": "x"}}}).observe()


@scenario("subscribe-with-stream-id")
def _sub_with_sid(t):
    return t.scheduler({"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"user": "root", "name": "x"}}},
        stream_id="0b5e0e7c-3f5e-4a57-9f2b-1b0d7c7d1d11").observe()


@scenario("subscribe-framework-id-mismatch")
def _sub_mismatch(t):
    return t.scheduler({"type": "SUBSCRIBE", "framework_id": {"value": "a"}, "subscribe": {
        "framework_info": {"user": "root", "name": "x", "id": {"value": "b"}}}}).observe()


@scenario("subscribe-invalid-role")
def _sub_bad_role(t):
    sub = t.subscribe({"role": "-bad"})
    try:
        ev = sub.next(5)
        end = sub.next(5)
        return {"status": sub.status, "event": ev, "then_closed": end is None}
    finally:
        sub.close()


@scenario("subscribe-multi-role-without-capability")
def _sub_roles_nocap(t):
    sub = t.subscribe({"roles": ["a"]})
    try:
        ev = sub.next(5)
        end = sub.next(5)
        return {"status": sub.status, "event": ev, "then_closed": end is None}
    finally:
        sub.close()


# Every call type without its sub-message (validation comes before the
# framework lookup, so a made-up framework id shows the order too).
for _ty, _field in [("ACCEPT", "accept"), ("DECLINE", "decline"), ("KILL", "kill"),
                    ("SHUTDOWN", "shutdown"), ("ACKNOWLEDGE", "acknowledge"),
                    ("RECONCILE", "reconcile"), ("MESSAGE", "message"),
                    ("REQUEST", "request"), ("ACCEPT_INVERSE_OFFERS", "accept_inverse_offers"),
                    ("DECLINE_INVERSE_OFFERS", "decline_inverse_offers"),
                    ("RECONCILE_OPERATIONS", "reconcile_operations"),
                    ("UPDATE_FRAMEWORK", "update_framework"),
                    ("ACKNOWLEDGE_OPERATION_STATUS", "acknowledge_operation_status")]:
    def _missing(t, ty=_ty):
        return t.scheduler({"framework_id": FAKE_FW, "type": ty}).observe()
    scenario("missing-" + _field)(_missing)


@scenario("kill-missing-task-id")
def _kill_no_task(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "KILL", "kill": {}}).observe()


@scenario("shutdown-missing-agent-id")
def _shutdown_no_agent(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "SHUTDOWN",
                        "shutdown": {"executor_id": {"value": "e"}}}).observe()


@scenario("ack-uuid-wrong-length")
def _ack_short(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": FAKE_AGENT, "task_id": {"value": "t"}, "uuid": b64(b"short")}}).observe()


@scenario("ack-uuid-bad-version")
def _ack_badver(t):
    raw = bytearray(16)              # version nibble 0: not a valid UUID
    raw[8] = 0x80
    return t.scheduler({"framework_id": FAKE_FW, "type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": FAKE_AGENT, "task_id": {"value": "t"}, "uuid": b64(bytes(raw))}}).observe()


@scenario("ack-uuid-bad-variant")
def _ack_badvariant(t):
    raw = bytearray(os.urandom(16))  # version 4 but variant bits 0b0xx (NCS)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = raw[8] & 0x3F
    return t.scheduler({"framework_id": FAKE_FW, "type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": FAKE_AGENT, "task_id": {"value": "t"}, "uuid": b64(bytes(raw))}}).observe()


@scenario("ack-uuid-not-base64")
def _ack_notb64(t):
    r = t.scheduler({"framework_id": FAKE_FW, "type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": FAKE_AGENT, "task_id": {"value": "t"}, "uuid": "!!!"}})
    o = r.observe()
    o["body"] = o["body"].split(":")[0]
    return o


# --------------------------------------------------------------------------
# Subscribed frameworks: stream ids, events, offers

@scenario("missing-stream-id")
def _missing_sid(t):
    with Framework(t) as fw:
        return t.scheduler({"framework_id": {"value": fw.id}, "type": "REVIVE"}).observe()


@scenario("wrong-stream-id")
def _wrong_sid(t):
    with Framework(t) as fw:
        return t.scheduler({"framework_id": {"value": fw.id}, "type": "REVIVE"},
                           stream_id="0b5e0e7c-3f5e-4a57-9f2b-1b0d7c7d1d11").observe()


@scenario("subscribed-event")
def _subscribed(t):
    with Framework(t) as fw:
        sub = fw.subscribed
        # The master sends a HEARTBEAT at once (an OFFERS may come first).
        heartbeat = fw.sub.wait_type("HEARTBEAT", 5)["type"]
        mi = sub.get("master_info", {})
        return {"keys": keyset(sub), "heartbeat": sub.get("heartbeat_interval_seconds"),
                "master_info_keys": keyset(mi), "address": mi.get("address"),
                "ip": mi.get("ip"), "pid": mi.get("pid"),
                "capabilities": mi.get("capabilities"),
                "stream_headers": {"content_type": fw.sub.headers.get("content-type"),
                                   "transfer_encoding": fw.sub.headers.get("transfer-encoding")},
                "heartbeat_event": heartbeat,
                "stream_id_v4": _is_v4_text(fw.stream_id),
                "framework_id_v4": _is_v4_text(fw.id),
                "master_id_v4": _is_v4_text(mi.get("id", ""))}


def _offer_shape(offers):
    o = offers[0]
    return {"count": len(offers), "keys": keyset(o), "url": o.get("url"),
            "hostname": o.get("hostname"),
            "allocation_info": o.get("allocation_info"),
            "resources": o.get("resources")}


@scenario("offers-single-role")
def _offers_single(t):
    with Framework(t) as fw:
        return _offer_shape(fw.offers())


@scenario("offers-multi-role")
def _offers_multi(t):
    with Framework(t, {"roles": ["diff"], "capabilities": [{"type": "MULTI_ROLE"}]}) as fw:
        return _offer_shape(fw.offers())


@scenario("offers-role-single")
def _offers_role(t):
    with Framework(t, {"role": "diff"}) as fw:
        return _offer_shape(fw.offers())


@scenario("decline-then-revive")
def _decline_revive(t):
    with Framework(t) as fw:
        offers = fw.offers()
        d = fw.call("DECLINE", decline={"offer_ids": [o["id"] for o in offers],
                                        "filters": {"refuse_seconds": 3600}})
        r = fw.call("REVIVE")
        again = fw.offers(10)
        return {"decline": d.observe(), "revive": r.observe(), "offered_again": len(again)}


@scenario("suppress")
def _suppress(t):
    with Framework(t) as fw:
        offers = fw.offers()
        s = fw.call("SUPPRESS")
        d = fw.call("DECLINE", decline={"offer_ids": [o["id"] for o in offers],
                                        "filters": {"refuse_seconds": 0}})
        try:
            fw.offers(1.5)          # 15 allocation cycles
            more = True
        except TimeoutError:
            more = False
        r = fw.call("REVIVE")
        again = fw.offers(10)
        return {"suppress": s.observe(), "decline": d.observe(), "offers_while_suppressed": more,
                "revive": r.observe(), "offers_after_revive": len(again)}


@scenario("accept-used-offer")
def _accept_used(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        first = fw.launch(o, [command_task(o, "t1", "sleep 30")], {"refuse_seconds": 0})
        second = fw.launch(o, [command_task(o, "t2", "sleep 30")])
        s = fw.sub.wait_update("t2")
        return {"first": first.observe(), "second": second.observe(),
                "t2": {k: s.get(k) for k in ("state", "source", "reason", "message")},
                "t2_keys": keyset(s)}


@scenario("accept-task-without-resources")
def _accept_nores(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        task = command_task(o, "t1", "true")
        task["resources"] = []
        r = fw.launch(o, [task])
        s = fw.sub.wait_update("t1")
        return {"accept": r.observe(),
                "t1": {k: s.get(k) for k in ("state", "source", "reason", "message")},
                "keys": keyset(s)}


@scenario("accept-task-too-big")
def _accept_big(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        task = command_task(o, "t1", "true")
        task["resources"] = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 100}}]
        r = fw.launch(o, [task])
        s = fw.sub.wait_update("t1")
        return {"accept": r.observe(),
                "t1": {k: s.get(k) for k in ("state", "source", "reason", "message")}}


@scenario("kill-unknown-task")
def _kill_unknown(t):
    with Framework(t) as fw:
        r = fw.call("KILL", kill={"task_id": {"value": "nope"}})
        s = fw.sub.wait_update("nope")
        return {"kill": r.observe(), "update": {k: s.get(k) for k in
                                                ("state", "source", "reason", "message")},
                "keys": keyset(s)}


@scenario("reconcile-unknown-explicit")
def _reconcile_unknown(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        r = fw.call("RECONCILE", reconcile={"tasks": [
            {"task_id": {"value": "ghost"}, "agent_id": o["agent_id"]},
            {"task_id": {"value": "ghost2"}}]})
        s1 = fw.sub.wait_update("ghost")
        s2 = fw.sub.wait_update("ghost2")
        pick = ("state", "source", "reason", "message", "uuid")
        return {"reconcile": r.observe(), "ghost": {k: s1.get(k) for k in pick},
                "ghost_keys": keyset(s1), "ghost2": {k: s2.get(k) for k in pick}}


@scenario("reconcile-unknown-partition-aware")
def _reconcile_unknown_pa(t):
    with Framework(t, {"capabilities": [{"type": "PARTITION_AWARE"}]}) as fw:
        o = fw.offers()[0]
        fw.call("RECONCILE", reconcile={"tasks": [
            {"task_id": {"value": "ghost"}, "agent_id": o["agent_id"]},
            {"task_id": {"value": "ghost2"}},
            {"task_id": {"value": "ghost3"}, "agent_id": {"value": "nowhere-S9"}}]})
        pick = ("state", "source", "reason", "message")
        got = {}
        while len(got) < 3:
            s = fw.sub.wait_type("UPDATE", 10)["update"]["status"]
            got[s["task_id"]["value"]] = {k: s.get(k) for k in pick}
        return got


@scenario("reconcile-implicit-empty")
def _reconcile_implicit(t):
    with Framework(t) as fw:
        r = fw.call("RECONCILE", reconcile={"tasks": []})
        try:
            fw.sub.wait_type("UPDATE", 1.0)
            got = True
        except TimeoutError:
            got = False
        return {"reconcile": r.observe(), "any_update": got}


@scenario("teardown")
def _teardown(t):
    fw = Framework(t)
    r = fw.call("TEARDOWN")
    fw.torn_down = True
    closed = fw.sub.drain_until_closed(10)
    after = fw.call("REVIVE")
    s = t.state()
    done = [f for f in s.get("completed_frameworks", []) if f.get("id") == fw.id]
    fw.sub.close()
    return {"teardown": r.observe(), "stream_closed": closed, "after": after.observe(),
            "completed": len(done), "completed_active": done[0].get("active") if done else None}


@scenario("subscribe-id-only-in-framework-info")
def _sub_id_in_info(t):
    return t.scheduler({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "root", "name": "x", "id": FAKE_FW}}}).observe()


@scenario("resubscribe-failover-with-id")
def _failover_id(t):
    fw = Framework(t, {"failover_timeout": 60})
    info = {"user": "root", "name": "differential", "failover_timeout": 60,
            "id": {"value": fw.id}}
    from mesosclient import Subscription
    sub2 = Subscription(t, {"type": "SUBSCRIBE", "framework_id": {"value": fw.id},
                            "subscribe": {"framework_info": info}})
    try:
        ev = sub2.wait_type("SUBSCRIBED")
        old = fw.sub.wait_type("ERROR", 5)
        closed = fw.sub.drain_until_closed(5)
        stale = fw.call("REVIVE")
        return {"new": sub2.status, "same_id": ev["subscribed"]["framework_id"]["value"] == fw.id,
                "old_error": old, "old_closed": closed, "old_stream_call": stale.observe()}
    finally:
        t.scheduler({"framework_id": {"value": fw.id}, "type": "TEARDOWN"}, sub2.stream_id)
        sub2.close()
        fw.sub.close()


@scenario("update-framework-mismatch")
def _update_fw(t):
    with Framework(t) as fw:
        r = fw.call("UPDATE_FRAMEWORK", update_framework={"framework_info": {
            "user": "root", "name": "x", "id": {"value": "other"}}})
        return r.observe()


# --------------------------------------------------------------------------
# Tasks

def _pick(s, keys=("state", "source", "reason")):
    return {k: s.get(k) for k in keys}


@scenario("command-task", known="the real agent's command executor is a Python stand-in "
          "(no TASK_STARTING, its own messages); only the master/agent parts are real")
def _command_task(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        r = fw.launch(o, [command_task(o, "c1", "exit 0")])
        seq = []
        while True:
            s = fw.sub.wait_update("c1", timeout=20)
            seq.append(_pick(s) | {"has_uuid": "uuid" in s})
            if "uuid" in s:
                fw.ack(s)
            if s["state"] in ("TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
                break
        return {"accept": r.observe(), "updates": seq}


@scenario("command-task-terminal")
def _command_task_terminal(t):
    # What must match whatever executor runs it: the terminal state and who
    # sent it.
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "c1", "exit 3")])
        while True:
            s = fw.sub.wait_update("c1", timeout=20)
            if "uuid" in s:
                a = fw.ack(s)
            if s["state"] not in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"):
                return {"terminal": _pick(s) | {"has_uuid": "uuid" in s},
                        "uuid_v4": _is_v4_bytes(s["uuid"]),
                        "ack": a.observe(), "executor_id": "executor_id" in s,
                        "agent_id": "agent_id" in s}


@scenario("kill-command-task")
def _kill_command(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "k1", "sleep 60")])
        fw.wait_state("k1", ("TASK_RUNNING",), 20)
        r = fw.call("KILL", kill={"task_id": {"value": "k1"}, "agent_id": o["agent_id"]})
        s = fw.sub.wait_update("k1", ("TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"), 20)
        return {"kill": r.observe(), "final": s["state"], "source": s.get("source")}


@scenario("reconcile-known-task")
def _reconcile_known(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "r1", "sleep 60")])
        fw.wait_state("r1", ("TASK_RUNNING",), 20)
        fw.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "r1"}}]})
        e = fw.sub.wait_update("r1", timeout=10)
        fw.call("RECONCILE", reconcile={"tasks": []})
        i = fw.sub.wait_update("r1", timeout=10)
        pick = ("state", "source", "reason", "message")
        return {"explicit": _pick(e, pick) | {"has_uuid": "uuid" in e},
                "explicit_keys": sorted(set(keyset(e)) - {"message"}),
                "implicit": _pick(i, pick) | {"has_uuid": "uuid" in i}}


# --------------------------------------------------------------------------
# A custom executor (executor.py) on each side

def _exec_out(t, name):
    path = os.path.join(t.work, "exec-%s-%d.jsonl" % (name, int(time.time() * 1000)))
    return path


INHERITED_ENV = ("mesos-local starts executors with the agent's own environment (so Lua "
                 "executors find LUA_PATH/LUA_CPATH and the tools on PATH); a Mesos agent "
                 "gives them only MESOS_*/LIBPROCESS_* and a default PATH")


@scenario("custom-executor", group=True, known={"executor-env-path": INHERITED_ENV,
                                               "executor-env-other": INHERITED_ENV})
def _custom(t):
    out = {}
    path = _exec_out(t, "custom")
    with Framework(t) as fw:
        o = fw.offers()[0]
        acc = fw.launch(o, [executor_task(o, fw.id, "x1", "e1", path)])
        s = fw.sub.wait_update("x1", ("TASK_RUNNING",), 30)
        env = wait_file(path, lambda r: "env" in r)
        sub = wait_file(path, lambda r: r.get("event", {}).get("type") == "SUBSCRIBED")["event"]
        launch = wait_file(path, lambda r: r.get("event", {}).get("type") == "LAUNCH")["event"]
        upd = wait_file(path, lambda r: r.get("call") == "UPDATE")
        e = env["env"]
        out["executor-env-names"] = sorted(k for k in e if k.startswith(("MESOS_", "LIBPROCESS_")))
        out["executor-env-values"] = {
            k: e.get(k) for k in ("MESOS_CHECKPOINT", "MESOS_HTTP_COMMAND_EXECUTOR",
                                  "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "LIBPROCESS_PORT",
                                  "MESOS_RECOVERY_TIMEOUT", "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                                  "MESOS_SLAVE_PID", "MESOS_AGENT_ENDPOINT", "LIBPROCESS_IP",
                                  "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_SLAVE_ID")}
        out["executor-env-path"] = e.get("PATH")
        out["executor-env-other"] = sorted(k for k in e if not k.startswith(("MESOS_", "LIBPROCESS_"))
                                           and k not in ("PWD", "SHLVL", "_", "LC_CTYPE"))
        out["executor-uid"] = env["uid"]
        out["executor-subscribe"] = {
            "status": wait_file(path, lambda r: "subscribe_status" in r)["subscribe_status"],
            "keys": keyset(sub.get("subscribed")),
            "agent_info_keys": keyset(sub.get("subscribed", {}).get("agent_info")),
            "executor_info_keys": keyset(sub.get("subscribed", {}).get("executor_info")),
            "framework_info_keys": keyset(sub.get("subscribed", {}).get("framework_info"))}
        out["executor-launch"] = {"keys": keyset(launch.get("launch")),
                                  "task_keys": keyset(launch.get("launch", {}).get("task"))}
        out["executor-update-answer"] = {k: upd.get(k) for k in ("status", "body")}
        out["scheduler-update-from-executor"] = {
            "accept": acc.observe(), "status": _pick(s) | {"has_uuid": "uuid" in s},
            "keys": sorted(set(keyset(s)) - {"data", "message"})}
        a = fw.ack(s)
        ackd = wait_file(path, lambda r: r.get("event", {}).get("type") == "ACKNOWLEDGED")
        out["executor-acknowledged"] = {"ack": a.observe(),
                                        "event_keys": keyset(ackd["event"].get("acknowledged"))}

        # Scheduler -> executor -> scheduler messages.
        m = fw.call("MESSAGE", message={"agent_id": o["agent_id"], "executor_id": {"value": "e1"},
                                        "data": b64(b"echo:pong")})
        got = wait_file(path, lambda r: r.get("event", {}).get("type") == "MESSAGE")["event"]
        back = fw.sub.wait_type("MESSAGE", 10)
        ans = wait_file(path, lambda r: r.get("call") == "MESSAGE")
        out["framework-message"] = {
            "call": m.observe(), "executor_event": got,
            "executor_call": {k: ans.get(k) for k in ("status", "body")},
            "scheduler_event": back}
        bad = fw.call("MESSAGE", message={"agent_id": o["agent_id"],
                                          "executor_id": {"value": "nope"}, "data": b64(b"x")})
        out["message-unknown-executor"] = bad.observe()

        # Executor API probes with the live framework and executor ids.
        fwid, exid = {"value": fw.id}, {"value": "e1"}

        def xcall(**kw):
            body = {"framework_id": fwid, "executor_id": exid}
            body.update(kw)
            return t.executor_call(body).observe()
        out["executor-api-message-unknown-executor"] = (
            t.executor_call({"framework_id": fwid, "executor_id": {"value": "e-other"},
                                       "type": "MESSAGE", "message": {"data": b64(b"x")}}).observe())
        out["executor-api-update-unknown-task"] = xcall(type="UPDATE", update={"status": {
            "task_id": {"value": "nope"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR",
            "uuid": new_uuid_b64()}})
        out["executor-api-message"] = xcall(type="MESSAGE", message={"data": b64(b"hi")})
        m2 = fw.sub.wait_type("MESSAGE", 10)
        out["executor-api-message-event"] = m2

        # The executor finishes its task, then the scheduler kills... nothing;
        # then the executor exits non-zero: FAILURE, then TASK_FAILED.
        fw.launch(fw.offers()[0], [executor_task(o, fw.id, "x2", "e1", path)])
        s2 = fw.sub.wait_update("x2", ("TASK_RUNNING",), 20)
        fw.ack(s2)
        k = fw.call("KILL", kill={"task_id": {"value": "x2"}, "agent_id": o["agent_id"]})
        ev = wait_file(path, lambda r: r.get("event", {}).get("type") == "KILL")["event"]
        s3 = fw.sub.wait_update("x2", ("TASK_KILLED",), 20)
        fw.ack(s3)
        out["kill-executor-task"] = {"kill": k.observe(), "event": ev,
                                     "update": _pick(s3) | {"has_uuid": "uuid" in s3}}

        fw.call("MESSAGE", message={"agent_id": o["agent_id"], "executor_id": {"value": "e1"},
                                    "data": b64(b"exit:3")})
        fail = fw.sub.wait_type("FAILURE", 20)
        lost = fw.sub.wait_update("x1", None, 20)
        out["executor-failure-event"] = {"keys": keyset(fail["failure"]),
                                         "status": fail["failure"].get("status"),
                                         "executor_id": fail["failure"].get("executor_id")}
        out["executor-exit-task-update"] = _pick(lost, ("state", "source", "reason", "message")) \
            | {"has_uuid": "uuid" in lost, "uuid_v4": _is_v4_bytes(lost.get("uuid", ""))}
        if "uuid" in lost:
            fw.ack(lost)
    return out


@scenario("custom-executor-big-payloads")
def _big_payloads(t):
    """Payloads over the 16 MiB that once vanished: a 17 MB status update
    and a 17 MB framework message, executor -> scheduler, through each
    cluster (docs/limits.md). A framework of its own, so that waiting for
    these events takes nothing another step waits for."""
    path = _exec_out(t, "big")
    big = 17 * 1000 * 1000
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [executor_task(o, fw.id, "b1", "eb", path)])
        fw.wait_state("b1", ["TASK_RUNNING"], 30)
        fw.call("MESSAGE", message={"agent_id": o["agent_id"], "executor_id": {"value": "eb"},
                                    "data": b64(("bigupdate:b1:%d" % big).encode())})
        bu = fw.sub.wait(lambda e: e.get("type") == "UPDATE"
                         and len(e["update"]["status"].get("data", "")) > 1000, 120, "big update")
        status = bu["update"]["status"]
        fw.ack(status)
        fw.call("MESSAGE", message={"agent_id": o["agent_id"], "executor_id": {"value": "eb"},
                                    "data": b64(("bigmsg:%d" % big).encode())})
        bm = fw.sub.wait(lambda e: e.get("type") == "MESSAGE"
                         and len(e["message"].get("data", "")) > 1000, 120, "big message")
        answers = [(r.get("call"), r.get("status"), r.get("body"))
                   for r in read_lines(path) if "size" in r]
        return {"update_data": len(base64.b64decode(status["data"])),
                "message_data": len(base64.b64decode(bm["message"]["data"])),
                "executor_answers": answers}


# --------------------------------------------------------------------------
# Executor endpoint: rules that apply before any lookup

X_FW = {"value": "00000000-0000-4000-8000-000000000000-0000"}
X_EX = {"value": "e"}


def _x_update(t, **status):
    st = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR",
          "uuid": new_uuid_b64()}
    st.update(status)
    st = {k: v for k, v in st.items() if v is not None}
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX, "type": "UPDATE",
                            "update": {"status": st}}).observe()


@scenario("executor-api-get")
def _x_get(t):
    return request(t.agent_port, "GET", t.agent_path).observe("Allow")


@scenario("executor-api-no-content-type")
def _x_noct(t):
    return t.executor_call({"type": "HEARTBEAT"}, headers={}).observe()


@scenario("executor-api-content-type-text")
def _x_ct(t):
    return t.executor_call({"type": "HEARTBEAT"}, headers={"Content-Type": "text/plain"}).observe()


@scenario("executor-api-bad-json")
def _x_badjson(t):
    o = t.executor_call("{nope").observe()
    o["body"] = o["body"].split(":")[0]
    return o


@scenario("executor-api-missing-ids")
def _x_missing_ids(t):
    return t.executor_call({"type": "HEARTBEAT"}).observe()


@scenario("executor-api-heartbeat-dummy-ids")
def _x_hb(t):
    return t.executor_call({"framework_id": {"value": "unused"}, "executor_id": {"value": "unused"},
                            "type": "HEARTBEAT"}).observe()


@scenario("executor-api-subscribe-missing-subscribe")
def _x_sub_missing(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX,
                            "type": "SUBSCRIBE"}).observe()


@scenario("executor-api-subscribe-unknown-framework")
def _x_sub_unknown(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX, "type": "SUBSCRIBE",
                            "subscribe": {}}).observe()


@scenario("executor-api-message-unknown-framework")
def _x_msg_unknown(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX, "type": "MESSAGE",
                            "message": {"data": b64(b"x")}}).observe()


@scenario("executor-api-missing-update")
def _x_missing_update(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX,
                            "type": "UPDATE"}).observe()


@scenario("executor-api-missing-message")
def _x_missing_message(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX,
                            "type": "MESSAGE"}).observe()


@scenario("executor-api-update-no-uuid")
def _x_nouuid(t):
    return _x_update(t, uuid=None)


@scenario("executor-api-update-uuid-wrong-length")
def _x_shortuuid(t):
    return _x_update(t, uuid=b64(b"0123456789"))


@scenario("executor-api-update-uuid-bad-version")
def _x_badver(t):
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F           # version nibble 0
    return _x_update(t, uuid=b64(bytes(raw)))


@scenario("executor-api-update-uuid-version-6")
def _x_ver6(t):
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x60
    raw[8] = (raw[8] & 0x3F) | 0x80
    return _x_update(t, uuid=b64(bytes(raw)))


@scenario("executor-api-update-wrong-source")
def _x_source(t):
    return _x_update(t, source="SOURCE_MASTER")


@scenario("executor-api-update-no-source")
def _x_nosource(t):
    return _x_update(t, source=None)


@scenario("executor-api-update-staging")
def _x_staging(t):
    return _x_update(t, state="TASK_STAGING")


@scenario("executor-api-update-executor-id-mismatch")
def _x_exmismatch(t):
    return _x_update(t, executor_id={"value": "other"})


@scenario("executor-api-update-unknown-framework")
def _x_update_unknown(t):
    return _x_update(t)



# --------------------------------------------------------------------------
# More offer, task and endpoint rules

@scenario("offer-after-partial-use")
def _offer_after_use(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        task = command_task(o, "p1", "sleep 60")
        task["resources"].append({"name": "ports", "type": "RANGES",
                                  "ranges": {"range": [{"begin": 31000, "end": 31001}]}})
        fw.launch(o, [task], {"refuse_seconds": 0})
        # The next offer and TASK_RUNNING come in either order.
        nxt, running = None, False
        while nxt is None or not running:
            ev = fw.sub.next(20)
            if ev is None:
                raise EOFError("stream closed")
            if ev["type"] == "OFFERS" and nxt is None:
                nxt = ev["offers"]["offers"][0]
            elif ev["type"] == "UPDATE" and ev["update"]["status"]["task_id"]["value"] == "p1":
                st = ev["update"]["status"]
                if "uuid" in st:
                    fw.ack(st)
                running = running or st["state"] == "TASK_RUNNING"
        return {"keys": keyset(nxt), "resources": nxt["resources"],
                "executor_ids": nxt.get("executor_ids")}


@scenario("state-after-launch")
def _state_after_launch(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "s1", "sleep 60")], {"refuse_seconds": 0})
        fw.wait_state("s1", ("TASK_RUNNING",), 20)
        s = t.state()
        f = [f for f in s["frameworks"] if f["id"] == fw.id][0]
        task = f["tasks"][0] if f.get("tasks") else {}
        keys = ["id", "name", "framework_id", "executor_id", "slave_id", "state",
                "resources", "statuses", "role", "container"]
        return {"tasks": len(f.get("tasks", [])),
                "task_has": {k: k in task for k in keys},
                "task_state": task.get("state"), "task_role": task.get("role"),
                "task_resources": task.get("resources"),
                "statuses": [x.get("state") for x in task.get("statuses", [])][-1:],
                "used": f.get("used_resources")}


@scenario("accept-unknown-offer")
def _accept_unknown(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        bogus = dict(o, id={"value": "no-such-offer"})
        r = fw.launch(bogus, [command_task(o, "u1", "true")])
        s = fw.sub.wait_update("u1")
        return {"accept": r.observe(), "u1": _pick(s, ("state", "source", "reason", "message"))}


@scenario("accept-one-good-one-unknown-offer")
def _accept_mixed(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        r = fw.call("ACCEPT", accept={
            "offer_ids": [o["id"], {"value": "no-such-offer"}],
            "operations": [{"type": "LAUNCH", "launch": {
                "task_infos": [command_task(o, "m1", "true")]}}]})
        s = fw.sub.wait_update("m1")
        again = fw.offers(10)   # the good offer's resources come back
        return {"accept": r.observe(), "m1": _pick(s, ("state", "source", "reason", "message")),
                "reoffered": len(again)}


@scenario("decline-unknown-offer")
def _decline_unknown(t):
    with Framework(t) as fw:
        return fw.call("DECLINE", decline={"offer_ids": [{"value": "nope"}]}).observe()


@scenario("request-call")
def _request(t):
    with Framework(t) as fw:
        return fw.call("REQUEST", request={"requests": [{"resources": small_resources()}]}).observe()


@scenario("message-unknown-agent")
def _message_unknown_agent(t):
    with Framework(t) as fw:
        return fw.call("MESSAGE", message={"agent_id": FAKE_AGENT, "executor_id": {"value": "e"},
                                           "data": b64(b"x")}).observe()


@scenario("shutdown-unknown-executor")
def _shutdown_unknown(t):
    with Framework(t) as fw:
        return fw.call("SHUTDOWN", shutdown={"agent_id": FAKE_AGENT,
                                             "executor_id": {"value": "e"}}).observe()


@scenario("suppress-roles-without-multi-role")
def _suppress_roles(t):
    with Framework(t) as fw:
        return {"suppress": fw.call("SUPPRESS", suppress={"roles": ["other"]}).observe(),
                "revive": fw.call("REVIVE", revive={"roles": ["other"]}).observe()}


@scenario("revive-unsubscribed-role")
def _revive_role(t):
    with Framework(t, {"roles": ["diff"], "capabilities": [{"type": "MULTI_ROLE"}]}) as fw:
        return {"revive": fw.call("REVIVE", revive={"roles": ["nope"]}).observe(),
                "suppress": fw.call("SUPPRESS", suppress={"roles": ["nope"]}).observe(),
                "good": fw.call("REVIVE", revive={"roles": ["diff"]}).observe()}


@scenario("subscribe-suppressed-roles-not-subset")
def _sub_suppressed(t):
    sub = t.subscribe({"roles": ["a"], "capabilities": [{"type": "MULTI_ROLE"}]},
                      extra={"suppressed_roles": ["b"]})
    try:
        ev = sub.next(5)
        return {"status": sub.status, "event": ev, "then_closed": sub.next(5) is None}
    finally:
        sub.close()


@scenario("subscribe-negative-failover-timeout")
def _sub_neg_failover(t):
    sub = t.subscribe({"failover_timeout": -1})
    try:
        ev = sub.next(5)
        if ev and ev.get("type") == "SUBSCRIBED":
            t.scheduler({"type": "TEARDOWN", "framework_id": ev["subscribed"]["framework_id"]},
                        sub.stream_id)
            ev = {"type": "SUBSCRIBED"}
        return {"status": sub.status, "event": ev}
    finally:
        sub.close()


@scenario("scheduler-master-path-alias")
def _alias(t):
    return request(t.port, "POST", "/master/api/v1/scheduler", {"framework_id": FAKE_FW},
                   {"Content-Type": JSON}).observe()


@scenario("state-jsonp")
def _jsonp(t):
    r = t.get("/master/state?jsonp=cb")
    return {"status": r.status, "content_type": r.header("content-type"),
            "head": r.text()[:3], "tail": r.text()[-2:]}


@scenario("frameworks-and-slaves-endpoints")
def _fw_slaves(t):
    out = {}
    for p in ("/master/frameworks", "/master/slaves"):
        r = t.get(p)
        out[p] = {"status": r.status, "content_type": r.header("content-type"),
                  "keys": keyset(r.json()) if r.status == 200 else None}
    return out


@scenario("reconcile-known-task-wrong-agent")
def _reconcile_wrong_agent(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "w1", "sleep 60")])
        fw.wait_state("w1", ("TASK_RUNNING",), 20)
        fw.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "w1"},
                                                   "agent_id": FAKE_AGENT}]})
        s = fw.sub.wait_update("w1", timeout=10)
        return _pick(s, ("state", "source", "reason", "message"))


@scenario("teardown-kills-tasks")
def _teardown_tasks(t):
    fw = Framework(t)
    o = fw.offers()[0]
    fw.launch(o, [command_task(o, "d1", "sleep 60")])
    fw.wait_state("d1", ("TASK_RUNNING",), 20)
    fw.teardown()
    deadline = time.time() + 15
    while time.time() < deadline:
        done = [f for f in t.state().get("completed_frameworks", []) if f.get("id") == fw.id]
        if done and done[0].get("completed_tasks"):
            task = done[0]["completed_tasks"][0]
            return {"state": task.get("state"), "tasks": len(done[0].get("tasks", [])),
                    "used": done[0].get("used_resources")}
        time.sleep(0.05)
    return {"state": None}


@scenario("executor-api-subscribe-accept-html")
def _x_accept(t):
    return t.executor_call({"framework_id": X_FW, "executor_id": X_EX, "type": "SUBSCRIBE",
                            "subscribe": {}},
                           headers={"Content-Type": JSON, "Accept": "text/html"}).observe()


@scenario("custom-executor-checkpoint-shutdown", group=True)
def _custom_ckpt(t):
    out = {}
    path = _exec_out(t, "ckpt")
    with Framework(t, {"checkpoint": True}) as fw:
        o = fw.offers()[0]
        fw.launch(o, [executor_task(o, fw.id, "y1", "e2", path, {"DIFF_PRESUB": "1"})])
        s = fw.wait_state("y1", ("TASK_RUNNING",), 30)
        early = wait_file(path, lambda r: r.get("call") == "PRESUB_MESSAGE")
        out["executor-call-before-subscribe"] = {k: early.get(k) for k in ("status", "body")}
        e = wait_file(path, lambda r: "env" in r)["env"]
        out["checkpoint-env"] = {k: v for k, v in e.items()
                                 if k.startswith(("MESOS_", "LIBPROCESS_"))
                                 and k not in ("MESOS_DIRECTORY", "MESOS_SANDBOX")}
        out["checkpoint-update"] = _pick(s) | {"has_uuid": "uuid" in s}
        r = fw.call("SHUTDOWN", shutdown={"agent_id": o["agent_id"],
                                          "executor_id": {"value": "e2"}})
        ev = wait_file(path, lambda r: r.get("event", {}).get("type") == "SHUTDOWN")["event"]
        fail = fw.sub.wait_type("FAILURE", 20)
        lost = fw.sub.wait_update("y1", None, 20)
        out["shutdown"] = {"call": r.observe(), "executor_event": ev,
                           "failure_keys": keyset(fail["failure"]),
                           "failure_status": fail["failure"].get("status"),
                           "task": _pick(lost, ("state", "source", "reason", "message"))}
    return out


@scenario("protobuf-call-unknown-framework")
def _pb_unknown(t):
    fwid = FAKE_FW["value"].encode()
    inner = b"\x0a" + bytes([len(fwid)]) + fwid           # FrameworkID.value
    body = b"\x0a" + bytes([len(inner)]) + inner + b"\x10\x02"   # framework_id, type=TEARDOWN
    return t.scheduler(body, headers={"Content-Type": "application/x-protobuf"}).observe()


@scenario("protobuf-unparsable")
def _pb_bad(t):
    return t.scheduler(b"\xff\xff\xff",
                       headers={"Content-Type": "application/x-protobuf"}).observe()


@scenario("protobuf-kill-missing-task-id")
def _pb_kill(t):
    fwid = FAKE_FW["value"].encode()
    inner = b"\x0a" + bytes([len(fwid)]) + fwid
    body = b"\x0a" + bytes([len(inner)]) + inner + b"\x10\x06" + b"\x32\x00"  # kill = {}
    return t.scheduler(body, headers={"Content-Type": "application/x-protobuf"}).observe()


@scenario("reconcile-finished-task")
def _reconcile_finished(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "f1", "exit 0")])
        fw.wait_state("f1", ("TASK_FINISHED",), 20)
        fw.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "f1"},
                                                   "agent_id": o["agent_id"]}]})
        s = fw.sub.wait_update("f1", timeout=10)
        return _pick(s, ("state", "source", "reason", "message"))


@scenario("subscribe-unknown-framework-id")
def _sub_unknown_id(t):
    fid = {"value": "11111111-2222-4333-8444-555555555555-0007"}
    from mesosclient import Subscription
    sub = Subscription(t, {"type": "SUBSCRIBE", "framework_id": fid, "subscribe": {
        "framework_info": {"user": "root", "name": "x", "id": fid}}})
    try:
        ev = sub.next(5)
        out = {"status": sub.status, "event": ev and ev.get("type")}
        if ev and ev.get("type") == "SUBSCRIBED":
            out["same_id"] = ev["subscribed"]["framework_id"] == fid
            t.scheduler({"type": "TEARDOWN", "framework_id": fid}, sub.stream_id)
        elif ev:
            out["event"] = ev
        return out
    finally:
        sub.close()


@scenario("agent-state-essentials")
def _agent_state(t):
    r = request(t.agent_port, "GET", "/slave(1)/state")
    s = r.json()
    keys = ["id", "pid", "hostname", "resources", "frameworks", "completed_frameworks",
            "version", "flags", "attributes", "start_time", "master_hostname"]
    return {"status": r.status, "content_type": r.header("content-type"),
            "has": {k: k in s for k in keys}, "pid": s.get("pid"),
            "resources": s.get("resources")}


# --------------------------------------------------------------------------
# Task validation by the master: one ACCEPT, many invalid tasks, each
# answered with TASK_ERROR / REASON_TASK_INVALID and Mesos's message.

def _invalid_tasks(o, fw_id):
    def cmd(tid):
        return command_task(o, tid, "true")

    def with_exec(tid, **exec_fields):
        t = cmd(tid)
        del t["command"]
        ex = {"executor_id": {"value": "ex-" + tid}, "framework_id": {"value": fw_id},
              "command": {"value": "true"}, "resources": small_resources()}
        ex.update(exec_fields)
        t["executor"] = {k: v for k, v in ex.items() if v is not None}
        return t

    tasks = {}
    t = cmd("both")
    t["executor"] = with_exec("both")["executor"]
    tasks["both"] = t
    t = cmd("neither")
    del t["command"]
    tasks["neither"] = t
    tasks["bad/id"] = cmd("bad/id")
    t = cmd("wrong-agent")
    t["agent_id"] = FAKE_AGENT
    tasks["wrong-agent"] = t
    t = cmd("negative-grace")
    t["kill_policy"] = {"grace_period": {"nanoseconds": -1}}
    tasks["negative-grace"] = t
    t = cmd("negative-completion")
    t["max_completion_time"] = {"nanoseconds": -5}
    tasks["negative-completion"] = t
    tasks["exec-no-framework-id"] = with_exec("exec-no-framework-id", framework_id=None)
    tasks["exec-wrong-framework-id"] = with_exec("exec-wrong-framework-id",
                                                 framework_id={"value": "other"})
    tasks["exec-default-type"] = with_exec("exec-default-type", type="DEFAULT", command=None)
    tasks["exec-custom-no-command"] = with_exec("exec-custom-no-command", type="CUSTOM",
                                                command=None)
    tasks["exec-bad-id"] = with_exec("exec-bad-id", executor_id={"value": "a b/c"})
    t = cmd("secret-without-secret")
    t["command"]["environment"] = {"variables": [{"name": "X", "type": "SECRET"}]}
    tasks["secret-without-secret"] = t
    t = cmd("value-without-value")
    t["command"]["environment"] = {"variables": [{"name": "X", "type": "VALUE"}]}
    tasks["value-without-value"] = t
    t = cmd("limits-disk")
    t["limits"] = {"disk": {"value": 10}}
    tasks["limits-disk"] = t
    t = cmd("negative-cpus")
    t["resources"] = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}]
    tasks["negative-cpus"] = t
    t = cmd("reserved-role")
    t["resources"] = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1},
                       "role": "other"}]
    tasks["reserved-role"] = t
    return tasks


@scenario("task-validation", group=True, known={
    "task-reserved-role": "mesos-local has unreserved resources only and refuses a reserved "
                          "resource in a task with its own message; Mesos finds it missing "
                          "from the offer ('more than available', with its reservation)"})
def _task_validation(t):
    with Framework(t) as fw:
        o = fw.offers()[0]
        tasks = _invalid_tasks(o, fw.id)
        dup = command_task(o, "dup", "sleep 30")
        # One LAUNCH per task (Mesos validates the resources of a whole
        # operation first; see invalid-resource-in-launch), the duplicate
        # pair in one.
        ops = [[task] for task in tasks.values()] + [[dup, dict(dup)]]
        r = fw.call("ACCEPT", accept={"offer_ids": [o["id"]], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": op}} for op in ops]})
        out = {"accept": r.observe()}
        want = set(tasks) | {"dup"}
        seen = {}
        deadline = time.time() + 20
        while r.status == 202 and want - set(seen) and time.time() < deadline:
            try:
                ev = fw.sub.next(max(0.1, deadline - time.time()))
            except TimeoutError:
                break
            if ev is None:
                break
            if ev["type"] != "UPDATE":
                continue
            s = ev["update"]["status"]
            tid = s["task_id"]["value"]
            if "uuid" in s:
                fw.ack(s)
            if tid == "dup":
                if s["state"] == "TASK_ERROR":
                    seen["dup"] = s
                continue
            seen.setdefault(tid, s)
        for tid in sorted(want):
            s = seen.get(tid)
            out["task-" + tid.replace("/", "-")] = (
                _pick(s, ("state", "source", "reason", "message")) if s else None)
        return out


@scenario("json-map-value-wrong-type")
def _json_map(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "ACCEPT", "accept": {
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{"limits": {"disk": 10}}]}}]}}
    ).observe()


@scenario("json-repeated-item-wrong-type")
def _json_repeated(t):
    return t.scheduler({"framework_id": FAKE_FW, "type": "DECLINE",
                        "decline": {"offer_ids": ["x"]}}).observe()


@scenario("invalid-resource-in-launch")
def _invalid_res_launch(t):
    # A task with invalid resources next to a valid one in one LAUNCH.
    with Framework(t) as fw:
        o = fw.offers()[0]
        bad = command_task(o, "bad", "true")
        bad["resources"] = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}]
        good = command_task(o, "good", "sleep 30")
        r = fw.launch(o, [good, bad])
        out = {"accept": r.observe()}
        for tid in ("good", "bad"):
            s = fw.sub.wait_update(tid, None, 15) if tid not in out else None
            out[tid] = _pick(s, ("state", "source", "reason", "message"))
            if "uuid" in s:
                fw.ack(s)
        return out


# The operator API's scenarios come last (the very last one marks the
# only agent gone).
import operator_scenarios  # noqa: E402

SCENARIOS.extend(operator_scenarios.SCENARIOS)
