"""Differential harness, client side: starting and stopping the two servers
(real Mesos 1.11 through the realmesos kit, and bin/mesos-local), raw HTTP
calls, RecordIO event streams, and the normalisation of ids, timestamps,
uuids, hostnames and ports that makes the two servers' answers comparable.
Python 3 standard library only."""

import base64
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid as uuidlib

JSON = "application/json"


def free_port(lo, hi, taken=()):
    """A port in [lo, hi] nobody listens on (bind test on 127.0.0.1)."""
    for p in range(lo, hi + 1):
        if p in taken:
            continue
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def observe(self, *headers):
        """What a differential comparison looks at in a plain answer."""
        o = {"status": self.status, "content_type": self.header("content-type"),
             "body": self.text()}
        for h in headers:
            o[h.lower()] = self.header(h)
        return o


def request(port, method, path, body=None, headers=None, timeout=20):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


class Target:
    """One server under comparison: 'real' or 'local'."""

    def __init__(self, name, port, work):
        self.name = name
        self.port = port
        self.work = work
        self.proc = None
        self.agent_port = None
        self.agent_path = None     # "/slave(1)/api/v1/executor"
        self.hosts = ("localhost", "127.0.0.1")

    # -- plain calls -------------------------------------------------------
    def get(self, path, headers=None):
        return request(self.port, "GET", path, headers=headers)

    def post(self, path, body, headers=None, port=None):
        h = {"Content-Type": JSON}
        if headers is not None:
            h = headers
        return request(port or self.port, "POST", path, body, h)

    def scheduler(self, body, stream_id=None, headers=None):
        h = dict(headers) if headers is not None else {"Content-Type": JSON}
        if stream_id:
            h["Mesos-Stream-Id"] = stream_id
        return request(self.port, "POST", "/api/v1/scheduler", body, h)

    def executor_call(self, body, headers=None):
        h = headers if headers is not None else {"Content-Type": JSON}
        return request(self.agent_port, "POST", self.agent_path, body, h)

    def subscribe(self, framework_info=None, headers=None, extra=None):
        info = {"user": "root", "name": "differential"}
        info.update(framework_info or {})
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if extra:
            body["subscribe"].update(extra)
        return Subscription(self, body, headers)

    def framework(self, **kw):
        return Framework(self, **kw)

    def state(self):
        return self.get("/master/state").json()

    # -- lifecycle ---------------------------------------------------------
    def wait_ready(self, deadline):
        """Until /version answers and one agent is registered."""
        last = None
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("%s server exited with %s" % (self.name, self.proc.returncode))
            try:
                if request(self.port, "GET", "/version", timeout=2).status == 200:
                    slaves = self.state().get("slaves", [])
                    if slaves:
                        pid = slaves[0]["pid"]          # slave(1)@ip:port
                        who, hostport = pid.split("@", 1)
                        self.agent_port = int(hostport.rsplit(":", 1)[1])
                        self.agent_path = "/%s/api/v1/executor" % who
                        return
            except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("%s server not ready before the deadline (%s)" % (self.name, last))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- normalisation -----------------------------------------------------
    def normalise(self, value):
        ports = {self.port, self.agent_port}
        return _norm(value, ports, self.work)


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID_RULES = [
    (re.compile(_UUID + r"-S\d+"), "<AGENT_ID>"),
    (re.compile(_UUID + r"-O\d+"), "<OFFER_ID>"),
    (re.compile(_UUID + r"-\d{4,}"), "<FRAMEWORK_ID>"),
    (re.compile(_UUID), "<UUID>"),
]
_TIME_KEYS = {"timestamp", "registered_time", "reregistered_time", "unregistered_time",
              "start_time", "elected_time", "build_date", "build_time", "build_user",
              "git_sha", "git_tag", "unreachable_time"}


def _norm_str(s, ports, work):
    if work:
        s = s.replace(work, "<WORK>")
    for rx, rep in _ID_RULES:
        s = rx.sub(rep, s)
    s = re.sub(r"\b(localhost|127\.0\.0\.1)\b", "<HOST>", s)
    for p in ports:
        if p:
            s = re.sub(r"(?<=:)%d\b" % p, "<PORT>", s)
    return s


def _norm(v, ports, work, key=None):
    if isinstance(v, dict):
        return {k: _norm(x, ports, work, k) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x, ports, work, key) for x in v]
    if key in _TIME_KEYS and v is not None:
        return "<TIME>"
    if key == "uuid" and isinstance(v, str):
        return "<B64UUID>"
    if isinstance(v, str):
        return _norm_str(v, ports, work)
    if isinstance(v, int) and not isinstance(v, bool) and v in ports:
        return "<PORT>"
    return v


def keyset(d):
    """The sorted keys of a dict (shape comparison)."""
    return sorted(d.keys()) if isinstance(d, dict) else d


def b64(data):
    return base64.b64encode(data).decode()


def new_uuid_b64():
    return b64(uuidlib.uuid4().bytes)


class Subscription:
    """A SUBSCRIBE stream: its HTTP answer and, on 200, a reader thread that
    decodes RecordIO JSON events into a queue."""

    def __init__(self, target, body, headers=None, port=None, path="/api/v1/scheduler"):
        self.target = target
        h = headers if headers is not None else {"Content-Type": JSON, "Accept": JSON}
        self.conn = http.client.HTTPConnection("127.0.0.1", port or target.port, timeout=30)
        self.conn.request("POST", path, body=json.dumps(body), headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.stream_id = self.headers.get("mesos-stream-id")
        self.events = []
        self.closed = False
        self.q = queue.Queue()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.resp.read()
            self.conn.close()

    def _read(self):
        try:
            while True:
                n = b""
                while True:
                    ch = self.resp.read(1)
                    if not ch:
                        raise EOFError
                    if ch == b"\n":
                        break
                    n += ch
                self.q.put(json.loads(self.resp.read(int(n))))
        except Exception:     # EOF, reset, or our own close()
            self.q.put(None)

    def next(self, timeout=10):
        """The next event, or None at the end of the stream; raises on timeout."""
        if self.closed:
            return None
        try:
            ev = self.q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no event in %ss (had %s)" % (
                timeout, [e.get("type") for e in self.events]))
        if ev is None:
            self.closed = True
        else:
            self.events.append(ev)
        return ev

    def wait(self, pred, timeout=10, what="event"):
        """The first next event matching pred (earlier ones stay in events)."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no %s in %ss (had %s)" % (
                    what, timeout, [e.get("type") for e in self.events]))
            ev = self.next(left)
            if ev is None:
                raise EOFError("stream closed while waiting for %s" % what)
            if pred(ev):
                return ev

    def wait_type(self, ty, timeout=10):
        return self.wait(lambda e: e.get("type") == ty, timeout, ty)

    def wait_update(self, task, states=None, timeout=15):
        def pred(e):
            if e.get("type") != "UPDATE":
                return False
            s = e["update"]["status"]
            return s["task_id"]["value"] == task and (states is None or s["state"] in states)
        return self.wait(pred, timeout, "UPDATE of %s" % task)["update"]["status"]

    def drain_until_closed(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            try:
                self.next(max(0.01, deadline - time.time()))
            except TimeoutError:
                break
        return self.closed

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class Framework:
    """A subscribed framework: its stream, id, stream id, and calls."""

    def __init__(self, target, info=None, extra=None):
        self.t = target
        self.sub = target.subscribe(info, extra=extra)
        if self.sub.status != 200:
            raise RuntimeError("SUBSCRIBE answered %s: %s" % (self.sub.status, self.sub.body))
        self.subscribed = self.sub.wait_type("SUBSCRIBED")["subscribed"]
        self.id = self.subscribed["framework_id"]["value"]
        self.stream_id = self.sub.stream_id
        self.torn_down = False

    def call(self, ty, **fields):
        body = {"framework_id": {"value": self.id}, "type": ty}
        body.update(fields)
        return self.t.scheduler(body, self.stream_id)

    def offers(self, timeout=10):
        return self.sub.wait_type("OFFERS", timeout)["offers"]["offers"]

    def ack(self, status):
        return self.call("ACKNOWLEDGE", acknowledge={
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]})

    def wait_state(self, task, states, timeout=20):
        """The first update of task in one of states, acknowledging every
        update that asks for it on the way (an agent holds back a task's
        next update until the previous one is acknowledged)."""
        deadline = time.time() + timeout
        while True:
            s = self.sub.wait_update(task, None, max(0.1, deadline - time.time()))
            if "uuid" in s:
                self.ack(s)
            if s["state"] in states:
                return s

    def launch(self, offer, tasks, filters=None):
        accept = {"offer_ids": [offer["id"]],
                  "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}
        if filters is not None:
            accept["filters"] = filters
        return self.call("ACCEPT", accept=accept)

    def teardown(self):
        if not self.torn_down:
            self.torn_down = True
            try:
                self.call("TEARDOWN")
            except OSError:
                pass
        self.sub.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def small_resources():
    return [scalar("cpus", 0.1), scalar("mem", 32)]


def command_task(offer, task_id, cmd):
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": small_resources(), "command": {"value": cmd, "shell": True}}


def executor_task(offer, fw_id, task_id, exec_id, out_file, extra_env=None):
    """A task for the harness's own executor (executor.py), which writes what it
    sees to out_file as JSON lines."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = [{"name": "DIFF_OUT", "value": out_file}]
    for k, v in (extra_env or {}).items():
        env.append({"name": k, "value": v})
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": small_resources(),
            "executor": {"executor_id": {"value": exec_id}, "type": "CUSTOM",
                         "framework_id": {"value": fw_id},
                         "command": {"value": "exec python3 %s/executor.py" % here,
                                     "shell": True,
                                     "environment": {"variables": env}},
                         "resources": small_resources()}}


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_file(path, pred, timeout=15):
    """The first JSON line of path that matches pred (the executor's log)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for rec in read_lines(path):
            if pred(rec):
                return rec
        time.sleep(0.05)
    raise TimeoutError("%s: no matching line in %ss (has %s)" % (
        os.path.basename(path), timeout, [list(r) for r in read_lines(path)]))


def parse_url(u):
    return urllib.parse.urlsplit(u)
