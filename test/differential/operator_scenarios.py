"""Differential harness, operator API scenarios: `POST /api/v1` of the master
and of the agent (both encodings), the operator SUBSCRIBE stream, the calls
that change agents and frameworks (DEACTIVATE/REACTIVATE/DRAIN_AGENT,
TEARDOWN, MARK_AGENT_GONE), the files calls, and the master's other JSON
endpoints (/master/state-summary, /master/tasks, /master/roles,
/metrics/snapshot). scenarios.py appends these after its own; the last one
marks the only agent gone, so it must stay last.

Fields that depend on who wrote a task's statuses (the real kit's command
executor is a Python stand-in; mesos-local's sends TASK_STARTING, a
timestamp and a message) are left out of the comparisons."""

import base64
import http.client
import json
import time

from mesosclient import JSON, Framework, b64, command_task, keyset, request

SCENARIOS = []

PROTOBUF = "application/x-protobuf"


def scenario(name, known=None, group=False):
    def deco(fn):
        SCENARIOS.append({"name": name, "fn": fn, "known": known, "group": group})
        return fn
    return deco


# --------------------------------------------------------------------------
# Helpers

def op(t, body, headers=None, path="/api/v1", port=None):
    """A master (or agent) operator call in JSON."""
    h = {"Content-Type": JSON, "Accept": JSON} if headers is None else headers
    return request(port or t.port, "POST", path, body, h)


def agent_op(t, body, headers=None):
    """An agent operator call, at `/slave(1)/api/v1` of the agent's port."""
    path = t.agent_path.replace("/api/v1/executor", "/api/v1")
    return op(t, body, headers, path=path, port=t.agent_port)


def call(t, ty, **fields):
    body = {"type": ty}
    body.update(fields)
    return op(t, body)


def answer(r):
    """The JSON answer of a 200, else the plain observation."""
    if r.status == 200 and r.header("content-type") == JSON:
        return r.json()
    return r.observe()


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_call(type_number):
    """A call that only sets `type` (field 1), in protobuf."""
    return b"\x08" + varint(type_number)


def pb_fields(data):
    """The (field number, wire type, value) list of a protobuf message."""
    out, i = [], 0
    while i < len(data):
        key, i = _read_varint(data, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _read_varint(data, i)
        elif w == 2:
            n, i = _read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif w == 1:
            v, i = data[i:i + 8], i + 8
        elif w == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % w)
        out.append((f, w, v))
    return out


def _read_varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def pb_shape(data):
    """A protobuf answer's shape: its type number and, for the message that
    goes with it, the field numbers it holds (no schema needed)."""
    top = pb_fields(data)
    ty = [v for f, w, v in top if f == 1 and w == 0]
    inner = sorted({f for _, w, v in top if w == 2 for f, _, _ in _safe_fields(v)})
    return {"type": ty, "fields": sorted({f for f, _, _ in top}), "inner": inner}


def _safe_fields(v):
    try:
        return pb_fields(v)
    except (ValueError, IndexError):
        return []


def pb_observe(r):
    o = {"status": r.status, "content_type": r.header("content-type")}
    if r.status == 200 and r.body:
        o["shape"] = pb_shape(r.body)
    else:
        o["body"] = r.text()
    return o


def drop_status_details(v):
    """Removes what a task's statuses say only because of who wrote them."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "statuses":
                out[k] = [{kk: vv for kk, vv in s.items()
                           if kk in ("state", "task_id", "agent_id")} for s in x
                          if s.get("state") != "TASK_STARTING"]
            elif k == "status_update_state":
                continue
            elif k == "status_update_uuid":
                out[k] = bool(x)
            else:
                out[k] = drop_status_details(x)
        return out
    if isinstance(v, list):
        return [drop_status_details(x) for x in v]
    return v


def paths(v, p="", out=None):
    """The key paths of a JSON value (lists merged), for shape comparisons."""
    if out is None:
        out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(p + "." + k)
            paths(x, p + "." + k, out)
    elif isinstance(v, list):
        for x in v:
            paths(x, p + "[]", out)
    return out


def by_name(v):
    """A resource list in name order (the order of a list is not the
    point); anything else as it is."""
    if isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in v):
        return sorted(v, key=lambda x: x["name"])
    return v


def shape(v):
    return sorted(paths(drop_status_details(v)))


def wait_until(fn, timeout=20, what="condition"):
    """Polls fn until it returns a true value (its value), or raises."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise TimeoutError("no %s in %ss" % (what, timeout))
        time.sleep(0.05)


def agent_id(t):
    return t.state()["slaves"][0]["id"]


def running_task(fw, task_id, cmd="sleep 60"):
    """Launches a command task on the first offer; its RUNNING update
    (acknowledged, with the ones before it)."""
    o = fw.offers()[0]
    fw.launch(o, [command_task(o, task_id, cmd)], {"refuse_seconds": 0})
    return fw.wait_state(task_id, ("TASK_RUNNING",), 20)


class OperatorStream:
    """An operator SUBSCRIBE stream, reusing the scheduler stream reader."""

    def __init__(self, t, accept=JSON):
        from mesosclient import Subscription
        self.sub = Subscription(t, {"type": "SUBSCRIBE"},
                                {"Content-Type": JSON, "Accept": accept}, path="/api/v1")

    def until(self, pred, timeout=20, what="event"):
        return self.sub.wait(pred, timeout, what)

    def close(self):
        self.sub.close()


# --------------------------------------------------------------------------
# HTTP rules of POST /api/v1 (master)

@scenario("operator-http-rules", group=True)
def _op_http(t):
    out = {}
    out["get"] = t.get("/api/v1").observe("Allow")
    out["no-content-type"] = op(t, {"type": "GET_HEALTH"}, {}).observe()
    out["content-type-text"] = op(t, {"type": "GET_HEALTH"},
                                  {"Content-Type": "text/plain"}).observe()
    out["content-type-charset"] = op(t, {"type": "GET_HEALTH"},
                                     {"Content-Type": "application/json; charset=utf-8"}).observe()
    bad = op(t, "{x").observe()
    bad["body"] = bad["body"].split(":")[0]
    out["bad-json"] = bad
    out["json-array"] = op(t, "[1]").observe()
    out["missing-type"] = op(t, {}).observe()
    out["unknown-type-name"] = op(t, {"type": "NO_SUCH_CALL"}).observe()
    out["type-as-number"] = op(t, {"type": 1}).observe()
    out["type-unknown"] = op(t, {"type": "UNKNOWN"}).observe()
    out["accept-html"] = op(t, {"type": "GET_HEALTH"},
                            {"Content-Type": JSON, "Accept": "text/html"}).observe()
    out["accept-html-invalid-call"] = op(t, {"type": "GET_METRICS"},
                                         {"Content-Type": JSON, "Accept": "text/html"}).observe()
    out["no-accept"] = op(t, {"type": "GET_HEALTH"}, {"Content-Type": JSON}).observe()
    out["accept-protobuf"] = pb_observe(op(t, {"type": "GET_HEALTH"},
                                           {"Content-Type": JSON, "Accept": PROTOBUF}))
    out["protobuf-call"] = op(t, pb_call(1), {"Content-Type": PROTOBUF}).observe()
    out["protobuf-unparsable"] = op(t, b"\xff\xff", {"Content-Type": PROTOBUF}).observe()
    out["protobuf-missing-required"] = op(t, b"\x08\x06\x1a\x00",
                                          {"Content-Type": PROTOBUF}).observe()
    out["empty-protobuf"] = op(t, b"", {"Content-Type": PROTOBUF}).observe()
    out["master-path"] = op(t, {"type": "GET_HEALTH"}, path="/master/api/v1").observe()
    for ty, field in [("GET_METRICS", "get_metrics"), ("SET_LOGGING_LEVEL", "set_logging_level"),
                      ("LIST_FILES", "list_files"), ("READ_FILE", "read_file"),
                      ("DRAIN_AGENT", "drain_agent"), ("DEACTIVATE_AGENT", "deactivate_agent"),
                      ("REACTIVATE_AGENT", "reactivate_agent"), ("TEARDOWN", "teardown"),
                      ("MARK_AGENT_GONE", "mark_agent_gone"), ("UPDATE_QUOTA", "update_quota"),
                      ("UPDATE_WEIGHTS", "update_weights"),
                      ("UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule")]:
        out["missing-" + field] = op(t, {"type": ty}).observe()
    out["missing-required-field"] = op(t, {"type": "SET_LOGGING_LEVEL",
                                           "set_logging_level": {}}).observe()
    return out


# --------------------------------------------------------------------------
# Read calls with nothing running

# Flags and metrics mesos-local models, by Mesos's names: each must exist on
# both sides (a real master has many more).
FLAGS = ["allocation_interval", "allocator", "authenticate_http_frameworks", "hostname",
         "max_completed_frameworks", "max_completed_tasks_per_framework",
         "max_operator_event_stream_subscribers", "port", "registry", "work_dir",
         "zk_session_timeout"]
METRICS = ["master/elected", "master/uptime_secs", "master/frameworks_active",
           "master/frameworks_inactive", "master/frameworks_connected",
           "master/frameworks_disconnected", "master/slaves_active", "master/slaves_inactive",
           "master/slaves_connected", "master/slaves_disconnected", "master/slaves_unreachable",
           "master/slave_registrations", "master/slave_removals", "master/outstanding_offers",
           "master/operator_event_stream_subscribers", "master/tasks_staging",
           "master/tasks_starting", "master/tasks_running", "master/tasks_killing",
           "master/tasks_unreachable", "master/tasks_finished", "master/tasks_failed",
           "master/tasks_killed", "master/tasks_lost", "master/tasks_error",
           "master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
           "master/cpus_total", "master/cpus_used", "master/cpus_percent", "master/mem_total",
           "master/mem_used", "master/mem_percent", "master/disk_total", "master/disk_used",
           "master/disk_percent", "master/gpus_total", "master/gpus_used",
           "master/gpus_percent", "system/cpus_total", "system/load_1min", "system/load_5min",
           "system/load_15min", "system/mem_free_bytes", "system/mem_total_bytes"]
METRIC_VALUES = ["master/elected", "master/slaves_active", "master/cpus_total",
                 "master/mem_total", "master/disk_total"]
TIMEOUT = {"timeout": {"nanoseconds": 2000000000}}


@scenario("operator-reads", group=True, known={
    "version": "mesos-local is not a build of the Mesos sources: no git_sha/git_tag"})
def _op_reads(t):
    out = {}
    out["health"] = answer(call(t, "GET_HEALTH"))
    v = call(t, "GET_VERSION")
    out["version"] = {"status": v.status, "keys": keyset(v.json()["get_version"]["version_info"])}
    out["logging-level"] = answer(call(t, "GET_LOGGING_LEVEL"))
    out["set-logging-level"] = call(t, "SET_LOGGING_LEVEL", set_logging_level={
        "level": 1, "duration": {"nanoseconds": 30000000000}}).observe()
    out["raised-logging-level"] = answer(call(t, "GET_LOGGING_LEVEL"))
    call(t, "SET_LOGGING_LEVEL", set_logging_level={"level": 0, "duration": {"nanoseconds": 1}})
    m = call(t, "GET_MASTER").json()["get_master"]
    out["master"] = {"keys": keyset(m), "info_keys": keyset(m["master_info"]),
                     "info": {k: m["master_info"].get(k) for k in
                              ("version", "port", "pid", "capabilities")}}
    flags = {f["name"]: f.get("value") for f in call(t, "GET_FLAGS").json()["get_flags"]["flags"]}
    out["flags"] = {n: n in flags for n in FLAGS}
    # (`port` is the flag a real master was given, not the port it serves on.)
    out["flag-values"] = {n: flags.get(n) for n in ("allocation_interval", "registry")}
    r = call(t, "GET_METRICS", get_metrics=TIMEOUT)
    metrics = {x["name"]: x.get("value") for x in r.json()["get_metrics"]["metrics"]}
    out["metrics"] = {n: n in metrics for n in METRICS}
    out["metric-values"] = {n: metrics.get(n) for n in METRIC_VALUES}
    for ty in ("GET_OPERATIONS", "GET_WEIGHTS", "GET_QUOTA", "GET_MAINTENANCE_STATUS",
               "GET_MAINTENANCE_SCHEDULE", "GET_ROLES", "GET_EXECUTORS"):
        out[ty.lower()] = answer(call(t, ty))
    for ty, n in (("GET_HEALTH", 1), ("GET_STATE", 9), ("GET_AGENTS", 10), ("GET_TASKS", 13),
                  ("GET_FRAMEWORKS", 11), ("GET_MASTER", 17), ("GET_QUOTA", 28)):
        out["protobuf-" + ty.lower()] = pb_observe(
            op(t, pb_call(n), {"Content-Type": PROTOBUF, "Accept": PROTOBUF}))
    return out


@scenario("operator-weights-quota-maintenance", group=True)
def _op_settings(t):
    out = {}
    out["update-weights"] = call(t, "UPDATE_WEIGHTS", update_weights={
        "weight_infos": [{"role": "diff-w", "weight": 2.5}]}).observe()
    out["weights"] = answer(call(t, "GET_WEIGHTS"))
    out["roles"] = answer(call(t, "GET_ROLES"))
    out["update-quota"] = call(t, "UPDATE_QUOTA", update_quota={"quota_configs": [{
        "role": "diff-q", "guarantees": {"cpus": {"value": 1}},
        "limits": {"cpus": {"value": 2}}}]}).observe()
    out["quota"] = answer(call(t, "GET_QUOTA"))
    sched = {"windows": [{"machine_ids": [{"hostname": "diff-host", "ip": "10.9.9.9"}],
                          "unavailability": {"start": {"nanoseconds": 1}}}]}
    out["update-schedule"] = call(t, "UPDATE_MAINTENANCE_SCHEDULE", update_maintenance_schedule={
        "schedule": sched}).observe()
    out["schedule"] = answer(call(t, "GET_MAINTENANCE_SCHEDULE"))
    out["maintenance-status"] = answer(call(t, "GET_MAINTENANCE_STATUS"))
    out["clear-schedule"] = call(t, "UPDATE_MAINTENANCE_SCHEDULE", update_maintenance_schedule={
        "schedule": {}}).observe()
    out["schedule-after"] = answer(call(t, "GET_MAINTENANCE_SCHEDULE"))
    return out


@scenario("operator-settings-errors", group=True)
def _op_settings_errors(t):
    out = {}

    def quota(configs, force=None):
        body = {"quota_configs": configs}
        if force is not None:
            body["force"] = force
        return call(t, "UPDATE_QUOTA", update_quota=body).observe()
    out["quota-overcommit"] = quota([{"role": "diff-q2", "guarantees": {"cpus": {"value": 100}}}])
    out["quota-guarantee-above-limit"] = quota([{"role": "diff-q2",
                                                 "guarantees": {"cpus": {"value": 2}},
                                                 "limits": {"cpus": {"value": 1}}}])
    out["quota-negative"] = quota([{"role": "diff-q2", "guarantees": {"cpus": {"value": -1}}}])
    out["quota-bad-role"] = quota([{"role": "-bad"}])
    out["quota-nested-role"] = quota([{"role": "a/b"}])
    out["quota-ports"] = quota([{"role": "diff-q2", "guarantees": {"ports": {"value": 1}}}])
    out["set-quota"] = call(t, "SET_QUOTA", set_quota={"quota_request": {
        "role": "diff-sq", "guarantee": [{"name": "cpus", "type": "SCALAR",
                                          "scalar": {"value": 1}}]}}).observe()
    out["set-quota-again"] = call(t, "SET_QUOTA", set_quota={"quota_request": {
        "role": "diff-sq", "guarantee": [{"name": "cpus", "type": "SCALAR",
                                          "scalar": {"value": 1}}]}}).observe()
    q = call(t, "GET_QUOTA").json()["get_quota"]["status"]
    out["set-quota-config"] = [c for c in q.get("configs", []) if c["role"] == "diff-sq"]
    # (REMOVE_QUOTA of a role without quota aborts a Mesos 1.11 master.)
    out["remove-quota"] = call(t, "REMOVE_QUOTA", remove_quota={"role": "diff-sq"}).observe()
    q = call(t, "GET_QUOTA").json()["get_quota"]["status"]
    out["removed"] = [c for c in q.get("configs", []) if c["role"] == "diff-sq"]
    out["weight-zero"] = call(t, "UPDATE_WEIGHTS", update_weights={
        "weight_infos": [{"role": "w", "weight": 0}]}).observe()
    out["weight-bad-role"] = call(t, "UPDATE_WEIGHTS", update_weights={
        "weight_infos": [{"role": "-w", "weight": 1}]}).observe()
    window = lambda ids: {"schedule": {"windows": [  # noqa: E731
        {"machine_ids": ids, "unavailability": {"start": {"nanoseconds": 1}}}]}}
    out["schedule-no-machines"] = call(t, "UPDATE_MAINTENANCE_SCHEDULE",
                                       update_maintenance_schedule=window([])).observe()
    out["schedule-empty-machine"] = call(t, "UPDATE_MAINTENANCE_SCHEDULE",
                                         update_maintenance_schedule=window([{}])).observe()
    out["schedule-twice"] = call(t, "UPDATE_MAINTENANCE_SCHEDULE", update_maintenance_schedule={
        "schedule": {"windows": [
            {"machine_ids": [{"hostname": "a"}], "unavailability": {"start": {"nanoseconds": 1}}},
            {"machine_ids": [{"hostname": "a"}],
             "unavailability": {"start": {"nanoseconds": 1}}}]}}).observe()
    for ty, field in (("START_MAINTENANCE", "start_maintenance"),
                      ("STOP_MAINTENANCE", "stop_maintenance")):
        out[field + "-none"] = call(t, ty, **{field: {"machines": []}}).observe()
        out[field + "-unscheduled"] = call(t, ty, **{field: {
            "machines": [{"hostname": "nope"}]}}).observe()
    fake = {"agent_id": {"value": "nope"}}
    disk = {"name": "disk", "type": "SCALAR", "scalar": {"value": 1}}
    for ty, field, body in (
            ("RESERVE_RESOURCES", "reserve_resources", dict(fake, resources=[])),
            ("UNRESERVE_RESOURCES", "unreserve_resources", dict(fake, resources=[])),
            ("CREATE_VOLUMES", "create_volumes", dict(fake, volumes=[])),
            ("DESTROY_VOLUMES", "destroy_volumes", dict(fake, volumes=[])),
            ("GROW_VOLUME", "grow_volume", dict(fake, volume=disk, addition=disk)),
            ("SHRINK_VOLUME", "shrink_volume", dict(fake, volume=disk,
                                                     subtract={"value": 1}))):
        out[field + "-unknown-agent"] = call(t, ty, **{field: body}).observe()
    out["grow-volume-no-agent"] = call(t, "GROW_VOLUME", grow_volume={
        "volume": disk, "addition": disk}).observe()
    return out


# --------------------------------------------------------------------------
# State with a framework and a running task

@scenario("operator-state-with-task", group=True)
def _op_state(t):
    with Framework(t, {"name": "op-state", "roles": ["op"],
                       "capabilities": [{"type": "MULTI_ROLE"}]}) as fw:
        running_task(fw, "op1")

        def offered():
            fws = call(t, "GET_FRAMEWORKS").json()["get_frameworks"]["frameworks"]
            return any(f.get("offers") for f in fws if f["framework_info"]["id"]["value"] == fw.id)
        wait_until(offered, 10, "an offer of the rest of the agent")
        out = {}
        state = call(t, "GET_STATE").json()
        out["state-shape"] = shape(state)
        agents = call(t, "GET_AGENTS").json()["get_agents"]
        a = agents["agents"][0]
        out["agents-shape"] = shape(agents)
        out["agent"] = {k: by_name(a.get(k)) for k in ("active", "deactivated", "version",
                                                        "total_resources",
                                                        "allocated_resources")}
        out["agent-info"] = {k: a["agent_info"].get(k) for k in ("checkpoint", "id")}
        fws = call(t, "GET_FRAMEWORKS").json()["get_frameworks"]
        f = [x for x in fws["frameworks"] if x["framework_info"]["id"]["value"] == fw.id][0]
        out["framework-keys"] = keyset(f)
        out["framework"] = {k: by_name(f.get(k)) for k in ("active", "connected", "recovered",
                                                            "allocated_resources",
                                                            "offer_constraints",
                                                            "framework_info")}
        tasks = call(t, "GET_TASKS").json()["get_tasks"]
        task = [x for x in tasks["tasks"] if x["task_id"]["value"] == "op1"][0]
        out["tasks-keys"] = keyset(tasks)
        out["task"] = drop_status_details(task)
        out["executors"] = answer(call(t, "GET_EXECUTORS"))
        # How much is offered depends on what earlier scenarios' tasks
        # still hold: the resource names only.
        roles = call(t, "GET_ROLES").json()["get_roles"]["roles"]
        out["roles"] = [{"name": r["name"], "weight": r["weight"],
                         "frameworks": len(r.get("frameworks", [])),
                         "resources": sorted(x["name"] for x in r.get("resources", []))}
                        for r in roles]
        out["protobuf-state"] = pb_observe(op(t, pb_call(9), {"Content-Type": PROTOBUF,
                                                             "Accept": PROTOBUF}))
        return out


# --------------------------------------------------------------------------
# The operator event stream

def _event_summary(ev):
    ty = ev["type"]
    body = ev.get(ty.lower(), {})
    o = {"type": ty, "keys": keyset(body)}
    if ty == "TASK_ADDED":
        o["task_keys"] = keyset(body["task"])
        o["state"] = body["task"]["state"]
    elif ty == "TASK_UPDATED":
        s = body["status"]
        o["state"] = body["state"]
        o["status"] = {k: s.get(k) for k in ("state", "source", "reason")}
        if s.get("source") == "SOURCE_MASTER":
            o["status"]["message"] = s.get("message")
            o["status"]["keys"] = keyset(s)
    elif ty in ("FRAMEWORK_ADDED", "FRAMEWORK_UPDATED"):
        o["framework_keys"] = keyset(body["framework"])
        o["flags"] = {k: body["framework"].get(k) for k in ("active", "connected", "recovered")}
    elif ty == "FRAMEWORK_REMOVED":
        o["info_keys"] = keyset(body["framework_info"])
    return o


def _protobuf_subscribe(t):
    """The answer to a protobuf SUBSCRIBE, and its first record's shape."""
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=20)
    try:
        conn.request("POST", "/api/v1", body=json.dumps({"type": "SUBSCRIBE"}),
                     headers={"Content-Type": JSON, "Accept": PROTOBUF})
        r = conn.getresponse()
        n = b""
        while not n.endswith(b"\n"):
            n += r.read(1)
        record = r.read(int(n))
        return {"status": r.status, "content_type": r.getheader("content-type"),
                "first": pb_shape(record)}
    finally:
        conn.close()


@scenario("operator-subscribe", group=True)
def _op_subscribe(t):
    out = {}
    s = OperatorStream(t)
    try:
        out["http"] = {"status": s.sub.status, "content_type": s.sub.headers.get("content-type"),
                       "transfer_encoding": s.sub.headers.get("transfer-encoding")}
        first = s.sub.next(10)
        out["subscribed"] = {"type": first["type"],
                             "keys": keyset(first["subscribed"]),
                             "state_keys": keyset(first["subscribed"]["get_state"]),
                             "heartbeat": first["subscribed"]["heartbeat_interval_seconds"]}
        out["second"] = s.sub.next(10)["type"]
        seen = []
        fw = Framework(t, {"name": "op-sub"})
        try:
            running_task(fw, "sub1")
            fw.call("TEARDOWN")
            fw.torn_down = True

            def done(ev):
                if ev["type"] not in ("HEARTBEAT",):
                    if not (ev["type"] == "TASK_UPDATED"
                            and ev["task_updated"]["state"] == "TASK_STARTING"):
                        seen.append(_event_summary(ev))
                return ev["type"] == "FRAMEWORK_REMOVED"
            s.until(done, 20, "FRAMEWORK_REMOVED")
        finally:
            fw.teardown()
        out["events"] = seen
    finally:
        s.close()
    out["protobuf"] = _protobuf_subscribe(t)
    out["accept-html"] = op(t, {"type": "SUBSCRIBE"},
                            {"Content-Type": JSON, "Accept": "text/html"}).observe()
    return out


@scenario("operator-framework-updated", group=True)
def _op_fw_updated(t):
    s = OperatorStream(t)
    try:
        s.sub.next(10)
        fw = Framework(t, {"name": "op-upd", "failover_timeout": 60})
        try:
            added = s.until(lambda e: e["type"] == "FRAMEWORK_ADDED", 10)
            r = fw.call("UPDATE_FRAMEWORK", update_framework={"framework_info": {
                "user": "root", "name": "op-upd2", "id": {"value": fw.id},
                "failover_timeout": 60}})
            upd = s.until(lambda e: e["type"] == "FRAMEWORK_UPDATED", 10)
            return {"added": _event_summary(added), "update": r.observe(),
                    "updated": _event_summary(upd),
                    "name": upd["framework_updated"]["framework"]["framework_info"]["name"]}
        finally:
            fw.teardown()
    finally:
        s.close()


# --------------------------------------------------------------------------
# Calls that change things

@scenario("operator-teardown", group=True)
def _op_teardown(t):
    out = {"unknown": call(t, "TEARDOWN", teardown={"framework_id": {
        "value": "00000000-0000-4000-8000-000000000000-0099"}}).observe()}
    fw = Framework(t, {"name": "op-td", "failover_timeout": 60})
    try:
        running_task(fw, "td1")
        out["teardown"] = call(t, "TEARDOWN", teardown={"framework_id": {"value": fw.id}}).observe()
        out["stream-closed"] = fw.sub.drain_until_closed(10)
        out["again"] = call(t, "TEARDOWN", teardown={"framework_id": {"value": fw.id}}).observe()
        tasks = call(t, "GET_TASKS").json()["get_tasks"]
        done = [x for x in tasks["completed_tasks"] if x["task_id"]["value"] == "td1"]
        last = done[0]["statuses"][-1] if done else {}
        out["task"] = {"state": done[0]["state"] if done else None,
                       "last_status": {k: last.get(k) for k in
                                       ("state", "source", "reason", "message")}}
        fws = call(t, "GET_FRAMEWORKS").json()["get_frameworks"]
        out["completed"] = [x["framework_info"]["name"] for x in fws["completed_frameworks"]
                            if x["framework_info"]["id"]["value"] == fw.id]
    finally:
        fw.torn_down = True
        fw.teardown()
    return out


def _agent_flags(t, aid, offers=True):
    a = [x for x in call(t, "GET_AGENTS").json()["get_agents"]["agents"]
         if x["agent_info"]["id"]["value"] == aid]
    if not a:
        return None
    a = a[0]
    out = {"active": a.get("active"), "deactivated": a.get("deactivated"),
           "drain_info": a.get("drain_info"),
           "has_drain_start": "estimated_drain_start_time" in a}
    # Whether offers are out yet is timing, except for a deactivated agent.
    if offers:
        out["offered"] = len(a.get("offered_resources", []))
    return out


@scenario("operator-deactivate-reactivate", group=True)
def _op_deactivate(t):
    aid = agent_id(t)
    out = {}
    fake = {"agent_id": {"value": "nope"}}
    out["deactivate-unknown"] = call(t, "DEACTIVATE_AGENT", deactivate_agent=fake).observe()
    out["reactivate-unknown"] = call(t, "REACTIVATE_AGENT", reactivate_agent=fake).observe()
    out["reactivate-active"] = call(t, "REACTIVATE_AGENT", reactivate_agent={
        "agent_id": {"value": aid}}).observe()
    with Framework(t, {"name": "op-deact"}) as fw:
        offer = fw.offers()[0]
        out["deactivate"] = call(t, "DEACTIVATE_AGENT", deactivate_agent={
            "agent_id": {"value": aid}}).observe()
        resc = fw.sub.wait_type("RESCIND", 10)
        out["rescinded"] = resc["rescind"]["offer_id"]["value"] == offer["id"]["value"]
        out["agent-deactivated"] = _agent_flags(t, aid)
        out["deactivate-again"] = call(t, "DEACTIVATE_AGENT", deactivate_agent={
            "agent_id": {"value": aid}}).observe()
        out["reactivate"] = call(t, "REACTIVATE_AGENT", reactivate_agent={
            "agent_id": {"value": aid}}).observe()
        out["offered-again"] = fw.offers(10)[0]["agent_id"]["value"] == aid
        out["agent-active"] = _agent_flags(t, aid, offers=False)
    return out


def _agent_frameworks(t):
    return agent_op(t, {"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]["frameworks"]


@scenario("operator-drain", group=True)
def _op_drain(t):
    aid = agent_id(t)
    out = {"drain-unknown": call(t, "DRAIN_AGENT", drain_agent={
        "agent_id": {"value": "nope"}}).observe()}
    # An agent drains until it has no framework left at all: start with
    # none (earlier scenarios' executors may still be shutting down).
    out["idle"] = wait_until(lambda: not _agent_frameworks(t), 30, "an idle agent")
    try:
        _drain_steps(t, aid, out)
    finally:
        call(t, "REACTIVATE_AGENT", reactivate_agent={"agent_id": {"value": aid}})
    return out


def _drain_steps(t, aid, out):
    with Framework(t, {"name": "op-drain"}) as fw:
        running_task(fw, "dr1")
        out["drain"] = call(t, "DRAIN_AGENT", drain_agent={
            "agent_id": {"value": aid}, "max_grace_period": {"seconds": 1}}).observe()
        killed = fw.sub.wait_update("dr1", ("TASK_KILLED",), 20)
        out["killed"] = {k: killed.get(k) for k in ("state", "source", "reason")}
        out["draining"] = _agent_flags(t, aid)
        out["reactivate-while-draining"] = call(t, "REACTIVATE_AGENT", reactivate_agent={
            "agent_id": {"value": aid}}).observe()
        fw.ack(killed)
        out["drained"] = wait_until(
            lambda: (lambda f: f if f and (f.get("drain_info") or {}).get("state") == "DRAINED"
                     else None)(_agent_flags(t, aid, offers=False)), 20, "DRAINED")
        # The agent itself drains until its last framework is gone, which
        # a real agent sees only once the executor has been reaped: a task
        # that comes before that is dropped. Wait for it.
        out["agent-done"] = wait_until(
            lambda: "drain_config" not in agent_op(t, {"type": "GET_AGENT"}).json()["get_agent"],
            20, "the agent to finish draining")
        out["reactivate"] = call(t, "REACTIVATE_AGENT", reactivate_agent={
            "agent_id": {"value": aid}}).observe()
        out["after"] = _agent_flags(t, aid, offers=False)
        out["offered-again"] = fw.offers(10)[0]["agent_id"]["value"] == aid


# --------------------------------------------------------------------------
# The agent's operator API

AGENT_FLAGS = ["authenticate_http_executors", "executor_registration_timeout",
               "executor_reregistration_timeout", "executor_shutdown_grace_period", "hostname",
               "port", "recover", "resources", "work_dir"]
AGENT_METRICS = ["slave/tasks_failed", "slave/tasks_finished", "slave/tasks_gone",
                 "slave/tasks_killed", "slave/tasks_lost", "slave/valid_status_updates",
                 "system/cpus_total", "system/load_1min", "system/mem_total_bytes"]


@scenario("agent-operator-api", group=True, known={
    "version": "mesos-local is not a build of the Mesos sources: no git_sha/git_tag"})
def _agent_op(t):
    out = {}
    out["get"] = request(t.agent_port, "GET",
                         t.agent_path.replace("/api/v1/executor", "/api/v1")).observe("Allow")
    out["missing-type"] = agent_op(t, {}).observe()
    out["unknown"] = agent_op(t, {"type": "UNKNOWN"}).observe()
    out["missing-get-metrics"] = agent_op(t, {"type": "GET_METRICS"}).observe()
    out["health"] = answer(agent_op(t, {"type": "GET_HEALTH"}))
    v = agent_op(t, {"type": "GET_VERSION"})
    out["version"] = {"status": v.status, "keys": keyset(v.json()["get_version"]["version_info"])}
    flags = {f["name"] for f in agent_op(t, {"type": "GET_FLAGS"}).json()["get_flags"]["flags"]}
    out["flags"] = {n: n in flags for n in AGENT_FLAGS}
    metrics = {m["name"] for m in agent_op(t, {"type": "GET_METRICS", "get_metrics": TIMEOUT})
               .json()["get_metrics"]["metrics"]}
    out["metrics"] = {n: n in metrics for n in AGENT_METRICS}
    out["nested-no-parent"] = agent_op(t, {"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": {"value": "x"}}}).observe()
    out["nested-unknown"] = agent_op(t, {"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": {"value": "x", "parent": {"value": "y"}}}}).observe()
    out["kill-container-unknown"] = agent_op(t, {"type": "KILL_CONTAINER", "kill_container": {
        "container_id": {"value": "x"}}}).observe()
    out["wait-container-unknown"] = agent_op(t, {"type": "WAIT_CONTAINER", "wait_container": {
        "container_id": {"value": "x"}}}).observe()
    out["operations"] = answer(agent_op(t, {"type": "GET_OPERATIONS"}))
    out["resource-providers"] = answer(agent_op(t, {"type": "GET_RESOURCE_PROVIDERS"}))
    ag = agent_op(t, {"type": "GET_AGENT"}).json()["get_agent"]
    out["agent"] = {"keys": keyset(ag), "info_keys": keyset(ag["agent_info"])}
    with Framework(t, {"name": "op-agent"}) as fw:
        running_task(fw, "ag1")
        state = agent_op(t, {"type": "GET_STATE"}).json()["get_state"]
        out["state-keys"] = {k: keyset(v) for k, v in state.items()}
        tasks = state["get_tasks"]
        out["launched"] = [drop_status_details(x) for x in tasks["launched_tasks"]
                           if x["task_id"]["value"] == "ag1"]
        fws = agent_op(t, {"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]
        out["frameworks"] = [x["framework_info"]["name"] for x in fws["frameworks"]]
        ex = agent_op(t, {"type": "GET_EXECUTORS"}).json()["get_executors"]
        live = [x["executor_info"] for x in ex["executors"]]
        out["executors"] = [{"id": x["executor_id"]["value"], "source": x.get("source")}
                            for x in live]
        c = agent_op(t, {"type": "GET_CONTAINERS"}).json()["get_containers"]["containers"]
        out["containers"] = [{"keys": keyset(x), "status_keys": keyset(x["container_status"]),
                              "stats": {k: k in x["resource_statistics"] for k in
                                        ("timestamp", "cpus_user_time_secs",
                                         "cpus_system_time_secs", "cpus_soft_limit",
                                         "mem_limit_bytes", "mem_rss_bytes")},
                              "cpus": x["resource_statistics"].get("cpus_soft_limit")}
                             for x in c]
        out["protobuf-state"] = pb_observe(agent_op(t, pb_call(9), {"Content-Type": PROTOBUF,
                                                                   "Accept": PROTOBUF}))
    return out


# --------------------------------------------------------------------------
# Files

@scenario("operator-files", group=True)
def _op_files(t):
    out = {}
    with Framework(t, {"name": "op-files"}) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "f1", "printf 'hello sandbox' > out.txt; mkdir d")])
        fw.wait_state("f1", ("TASK_FINISHED",), 20)
        base = "/frameworks/%s/executors/f1/runs/latest" % fw.id
        for who, fn in (("master", lambda b: op(t, b)), ("agent", lambda b: agent_op(t, b))):
            lst = fn({"type": "LIST_FILES", "list_files": {"path": base}})
            if lst.status == 200:
                infos = lst.json()["list_files"].get("file_infos", [])
                named = {i["path"].rsplit("/", 1)[-1]: i for i in infos}
                out[who + "-list"] = {
                    "has": {n: n in named for n in ("out.txt", "d")},
                    "keys": keyset(named.get("out.txt", {})),
                    "size": named.get("out.txt", {}).get("size"),
                    "mtime_whole_seconds": named.get("out.txt", {}).get(
                        "mtime", {}).get("nanoseconds", 1) % 1000000000 == 0}
            else:
                out[who + "-list"] = lst.observe()
            out[who + "-list-file"] = answer(fn({"type": "LIST_FILES",
                                                 "list_files": {"path": base + "/out.txt"}}))
            out[who + "-list-missing"] = fn({"type": "LIST_FILES",
                                             "list_files": {"path": "/nope"}}).observe()
            for name, rf in (("all", {"offset": 0}), ("part", {"offset": 6, "length": 3}),
                             ("past-end", {"offset": 100}), ("zero", {"offset": 0, "length": 0})):
                rf = dict(rf, path=base + "/out.txt")
                r = fn({"type": "READ_FILE", "read_file": rf})
                o2 = answer(r)
                if isinstance(o2, dict) and "read_file" in o2:
                    o2 = {"size": o2["read_file"]["size"],
                          "data": base64.b64decode(o2["read_file"].get("data", "")).decode()}
                out[who + "-read-" + name] = o2
            out[who + "-read-dir"] = fn({"type": "READ_FILE", "read_file": {
                "path": base + "/d", "offset": 0}}).observe()
            out[who + "-read-missing"] = fn({"type": "READ_FILE", "read_file": {
                "path": base + "/none", "offset": 0}}).observe()
    return out


# --------------------------------------------------------------------------
# The master's other JSON endpoints

SUMMARY_SLAVE = ["id", "hostname", "port", "attributes", "pid", "registered_time", "resources",
                 "used_resources", "offered_resources", "reserved_resources",
                 "unreserved_resources", "active", "deactivated", "version", "capabilities",
                 "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
                 "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR",
                 "TASK_UNREACHABLE", "framework_ids"]
SUMMARY_FRAMEWORK = ["id", "name", "used_resources", "offered_resources", "capabilities",
                     "hostname", "webui_url", "active", "connected", "recovered",
                     "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
                     "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR",
                     "TASK_UNREACHABLE", "slave_ids"]


@scenario("master-json-endpoints", group=True)
def _json_endpoints(t):
    out = {}
    with Framework(t, {"name": "op-json"}) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "j1", "true")], {"refuse_seconds": 0})
        fw.wait_state("j1", ("TASK_FINISHED",), 20)
        running_task(fw, "j2")
        s = t.get("/master/state-summary")
        js = s.json()
        out["summary"] = {"status": s.status, "content_type": s.header("content-type"),
                          "keys": keyset(js)}
        slave = js["slaves"][0]
        out["summary-slave"] = {k: k in slave for k in SUMMARY_SLAVE}
        out["summary-slave-counts"] = {k: slave.get(k) for k in ("TASK_RUNNING",
                                                                  "TASK_FINISHED")}
        f = [x for x in js["frameworks"] if x["id"] == fw.id][0]
        out["summary-framework"] = {k: k in f for k in SUMMARY_FRAMEWORK}
        out["summary-framework-counts"] = {k: f.get(k) for k in ("TASK_RUNNING",
                                                                  "TASK_FINISHED")}
        q = "/master/tasks?framework_id=%s" % fw.id
        tk = t.get(q).json()
        out["tasks"] = sorted((x["id"], x["state"]) for x in tk["tasks"])
        out["tasks-keys"] = keyset(tk["tasks"][0]) if tk["tasks"] else None
        # Tasks sort by their first status's time, which the real kit's
        # command executor (a stand-in) does not send: only the sets and
        # the page sizes are compared.
        out["tasks-order-desc"] = sorted(x["id"] for x in t.get(q).json()["tasks"])
        out["tasks-order-asc"] = sorted(x["id"] for x in t.get(q + "&order=asc").json()["tasks"])
        out["tasks-limit"] = len(t.get(q + "&order=asc&limit=1&offset=1").json()["tasks"])
        out["tasks-offset-past-end"] = t.get(q + "&offset=5").json()
        out["tasks-by-id"] = [x["id"] for x in t.get("/master/tasks?task_id=j1").json()["tasks"]]
        roles = t.get("/master/roles").json()
        star = [r for r in roles["roles"] if r["name"] == "*"]
        out["roles-keys"] = keyset(star[0]) if star else None
        out["roles-quota-keys"] = keyset(star[0]["quota"]) if star else None
        out["roles-allocated"] = star[0]["allocated"] if star else None
        m = t.get("/metrics/snapshot?timeout=2secs")
        mj = m.json()
        out["metrics"] = {"status": m.status, "content_type": m.header("content-type"),
                          "has": {n: n in mj for n in METRICS},
                          "values": {n: mj.get(n) for n in METRIC_VALUES + ["master/tasks_running"]}}
    return out


# --------------------------------------------------------------------------
# Last: marks the only agent gone (nothing runs after it)

@scenario("operator-mark-agent-gone", group=True)
def _op_gone(t):
    aid = agent_id(t)
    out = {"unknown": call(t, "MARK_AGENT_GONE", mark_agent_gone={
        "agent_id": {"value": "nope"}}).observe()}
    stream = OperatorStream(t)
    try:
        stream.sub.next(10)
        with Framework(t, {"name": "op-gone", "capabilities": [
                {"type": "PARTITION_AWARE"}]}) as fw:
            running_task(fw, "g1")
            out["gone"] = call(t, "MARK_AGENT_GONE", mark_agent_gone={
                "agent_id": {"value": aid}}).observe()
            s = fw.sub.wait_update("g1", ("TASK_GONE_BY_OPERATOR",), 10)
            out["update"] = {k: s.get(k) for k in ("state", "source", "reason", "message")}
            out["update-keys"] = keyset(s)
            failure = fw.sub.wait_type("FAILURE", 10)
            out["failure"] = failure["failure"]
            out["again"] = call(t, "MARK_AGENT_GONE", mark_agent_gone={
                "agent_id": {"value": aid}}).observe()
            out["deactivate"] = call(t, "DEACTIVATE_AGENT", deactivate_agent={
                "agent_id": {"value": aid}}).observe()
            out["drain"] = call(t, "DRAIN_AGENT", drain_agent={
                "agent_id": {"value": aid}}).observe()
            agents = call(t, "GET_AGENTS").json()["get_agents"]
            out["agents"] = agents
            ev = stream.until(lambda e: e["type"] == "TASK_UPDATED"
                              and e["task_updated"]["state"] == "TASK_GONE_BY_OPERATOR", 10)
            out["event"] = _event_summary(ev)
    finally:
        stream.close()
    return out
