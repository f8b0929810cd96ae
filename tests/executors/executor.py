#!/usr/bin/env python3
"""A test executor for the local agent: the v1 executor HTTP API in JSON,
with the Python standard library only.

It subscribes to $MESOS_AGENT_ENDPOINT, keeps its unacknowledged updates and
tasks and sends them again on every re-SUBSCRIBE, and reconnects after a
disconnection when the framework checkpoints. What it does with a task
depends on the task's name:

  env          RUNNING with a JSON report (environment, events so far, pid,
               cwd, auth probe results) as data, then FINISHED
  finish       RUNNING, then FINISHED with the task's data echoed
  wait         RUNNING, then waits for a KILL (-> TASK_KILLED)
  crash        RUNNING; exits with status 7 once the agent ACKNOWLEDGEs it
  ack-report   RUNNING; once the agent ACKNOWLEDGEs it, sends the framework
               message "acknowledged:<task id>:<base64 uuid>"
  down-update  RUNNING; when the agent goes away, makes a FINISHED update
               ("made while disconnected") that can only reach the agent
               in the next SUBSCRIBE
  files        RUNNING with a JSON listing of the sandbox, then FINISHED
  ignore       nothing at all (the executor forgets the task)

MESSAGE "x" is answered with MESSAGE "echo:x". SHUTDOWN kills the running
tasks (TASK_KILLED) and exits 0.

argv[1], the mode: normal, no-subscribe (never subscribes), no-reconnect
(does not re-subscribe after a disconnection), ignore-shutdown (ignores
SHUTDOWN and SIGTERM), auth-probe (first tries calls without and with a wrong
token), long-path (uses /slave(1)/api/v1/executor).
"""

import base64
import http.client
import json
import os
import signal
import sys
import threading
import time
import uuid

MODE = sys.argv[1] if len(sys.argv) > 1 else "normal"
ENV = os.environ
FW = ENV["MESOS_FRAMEWORK_ID"]
EX = ENV["MESOS_EXECUTOR_ID"]
HOST, PORT = ENV["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)
PORT = int(PORT)
TOKEN = ENV.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
CHECKPOINT = ENV.get("MESOS_CHECKPOINT") == "1"
PATH = "/slave(1)/api/v1/executor" if MODE == "long-path" else "/api/v1/executor"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}

lock = threading.RLock()
subscribed = False
unacked_updates = {}  # base64 uuid -> Call.Update
unacked_tasks = {}  # task id -> TaskInfo
tasks = {}  # task id -> TaskInfo, while not terminal
watch = {}  # base64 uuid -> what to do when it is acknowledged
events = []
subscriptions = 0
probe = None


def log(*args):
    print(*args, flush=True)


def b64(data):
    return base64.b64encode(data).decode()


def ids():
    return {"framework_id": {"value": FW}, "executor_id": {"value": EX}}


def headers(token=True):
    h = {"Content-Type": "application/json"}
    if token is True and TOKEN:
        h["Authorization"] = "Bearer " + TOKEN
    elif isinstance(token, str):
        h["Authorization"] = token
    return h


def post(call, token=True):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    try:
        conn.request("POST", PATH, body=json.dumps(call), headers=headers(token))
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def send(call):
    try:
        status, _, body = post(call)
        if status != 202:
            log("call", call["type"], "answered", status, body)
        return status
    except OSError as e:
        log("call", call["type"], "failed:", e)
        return None


def update(task, state, data=None, deliver=True, then=None):
    raw = uuid.uuid4().bytes
    status = {
        "task_id": task["task_id"],
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "uuid": b64(raw),
        "timestamp": time.time(),
    }
    if data is not None:
        status["data"] = b64(data.encode())
    upd = {"status": status}
    with lock:
        unacked_updates[status["uuid"]] = upd
        if then is not None:
            watch[status["uuid"]] = then
        if state in TERMINAL:
            tasks.pop(task["task_id"]["value"], None)
        connected = subscribed
    log("update", task["task_id"]["value"], state, status["uuid"])
    if deliver and connected:
        # Kept until ACKNOWLEDGED: resent with the next SUBSCRIBE otherwise.
        send(dict(type="UPDATE", update=upd, **ids()))


def message(text):
    send(dict(type="MESSAGE", message={"data": b64(text.encode())}, **ids()))


def sandbox_listing():
    out = {}
    for root, dirs, files in os.walk("."):
        for name in files:
            path = os.path.join(root, name)[2:]
            out[path] = {
                "executable": os.access(path, os.X_OK),
                "size": os.path.getsize(path),
            }
    return out


def launch(task):
    tid = task["task_id"]["value"]
    name = task.get("name", "")
    if name == "ignore":
        return
    with lock:
        tasks[tid] = task
        unacked_tasks[tid] = task
    if name == "env":
        report = {
            "env": dict(ENV),
            "events": list(events),
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "probe": probe,
        }
        update(task, "TASK_RUNNING", json.dumps(report))
        update(task, "TASK_FINISHED")
    elif name == "finish":
        data = base64.b64decode(task.get("data", "")).decode()
        update(task, "TASK_RUNNING")
        update(task, "TASK_FINISHED", data)
    elif name == "crash":
        update(task, "TASK_RUNNING", then=lambda _uuid: os._exit(7))
    elif name == "ack-report":
        def report(uuid_b64):
            message("acknowledged:%s:%s" % (tid, uuid_b64))
        update(task, "TASK_RUNNING", then=report)
    elif name == "files":
        update(task, "TASK_RUNNING", json.dumps(sandbox_listing()))
        update(task, "TASK_FINISHED")
    else:  # wait, down-update
        update(task, "TASK_RUNNING")


def handle(ev):
    global subscribed, subscriptions
    kind = ev.get("type")
    events.append(kind)
    log("event", kind)
    if kind == "SUBSCRIBED":
        with lock:
            subscribed = True
            subscriptions += 1
    elif kind == "LAUNCH":
        launch(ev["launch"]["task"])
    elif kind == "LAUNCH_GROUP":
        for task in ev["launch_group"]["task_group"]["tasks"]:
            launch(task)
    elif kind == "KILL":
        tid = ev["kill"]["task_id"]["value"]
        task = tasks.get(tid)
        if task is not None:
            update(task, "TASK_KILLED")
    elif kind == "ACKNOWLEDGED":
        ack = ev["acknowledged"]
        with lock:
            unacked_updates.pop(ack["uuid"], None)
            unacked_tasks.pop(ack["task_id"]["value"], None)
            then = watch.pop(ack["uuid"], None)
        if then is not None:
            then(ack["uuid"])
    elif kind == "MESSAGE":
        data = base64.b64decode(ev["message"]["data"]).decode()
        message("echo:" + data)
    elif kind == "SHUTDOWN":
        if MODE == "ignore-shutdown":
            log("ignoring SHUTDOWN")
            return
        for task in list(tasks.values()):
            update(task, "TASK_KILLED")
        os._exit(0)
    elif kind == "ERROR":
        log("error", ev)


def subscribe():
    """One subscription: returns why it ended."""
    global subscribed
    with lock:
        call = dict(
            type="SUBSCRIBE",
            subscribe={
                "unacknowledged_tasks": list(unacked_tasks.values()),
                "unacknowledged_updates": list(unacked_updates.values()),
            },
            **ids(),
        )
    conn = http.client.HTTPConnection(HOST, PORT, timeout=3600)
    h = headers()
    h["Accept"] = "application/json"
    conn.request("POST", PATH, body=json.dumps(call), headers=h)
    resp = conn.getresponse()
    if resp.status != 200:
        return "SUBSCRIBE answered %s %s" % (resp.status, resp.read())
    buf = b""
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                return "end of stream"
            buf += chunk
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                size = int(buf[:nl])
                if len(buf) < nl + 1 + size:
                    break
                record = buf[nl + 1 : nl + 1 + size]
                buf = buf[nl + 1 + size :]
                handle(json.loads(record))
    except (OSError, http.client.HTTPException) as e:
        return "stream broke: %r" % (e,)
    finally:
        with lock:
            subscribed = False
        conn.close()


def auth_probe():
    hb = dict(type="HEARTBEAT", **ids())
    out = {}
    for name, token in [("none", None), ("wrong", "Bearer not-the-token"), ("basic", "Basic dTpw"), ("good", True)]:
        status, hdrs, _ = post(hb, token=token)
        out[name] = [status, hdrs.get("www-authenticate")]
    return out


def main():
    global probe
    log("pid", os.getpid(), "mode", MODE)
    if MODE == "no-subscribe":
        time.sleep(3600)
        return
    if MODE == "ignore-shutdown":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if MODE == "auth-probe":
        probe = auth_probe()
    deadline = None
    while True:
        before = subscriptions
        try:
            why = subscribe()
        except (OSError, http.client.HTTPException) as e:
            why = "cannot subscribe: %r" % (e,)
        if subscriptions > before:
            deadline = None  # the recovery timer starts again
        log("disconnected:", why)
        for task in list(tasks.values()):
            if task.get("name") == "down-update":
                update(task, "TASK_FINISHED", "made while disconnected", deliver=False)
        if not CHECKPOINT:
            os._exit(0)
        if MODE == "no-reconnect":
            time.sleep(3600)
            return
        if deadline is None:
            deadline = time.time() + 60
        if time.time() > deadline:
            log("giving up")
            os._exit(1)
        time.sleep(0.05)


if __name__ == "__main__":
    main()
