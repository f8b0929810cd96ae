#!/usr/bin/python3
"""The differential harness's custom executor (v1 HTTP executor API, stdlib
only). Started by a real Mesos agent or by a mesos-local agent with the same
ExecutorInfo; appends what it sees to $DIFF_OUT as JSON lines, so the harness
can compare the two agents: its environment, every event, and the answers
to its own calls.

Behaviour: (with DIFF_PRESUB=1, first a MESSAGE call before subscribing)
SUBSCRIBE; on LAUNCH send TASK_RUNNING; on KILL send TASK_KILLED;
on MESSAGE with data "echo:X" send MESSAGE X back, "finish:T" send
TASK_FINISHED for task T, "exit:N" exit with status N, "bigupdate:T:N" send
TASK_RUNNING for task T with N bytes of data, "bigmsg:N" send a MESSAGE of
N bytes back (the answers are recorded, the data is not); a MESSAGE of
more than 1 KiB is recorded by its size only; on SHUTDOWN exit 0.
"""
import base64
import http.client
import json
import os
import sys
import uuid

OUT = os.environ.get("DIFF_OUT", "/dev/null")
pid = os.environ["MESOS_SLAVE_PID"]            # slave(1)@ip:port
who, hostport = pid.split("@", 1)
host, port = hostport.rsplit(":", 1)
PATH = "/%s/api/v1/executor" % who
FW = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
EX = {"value": os.environ["MESOS_EXECUTOR_ID"]}
HDR = {"Content-Type": "application/json", "Accept": "application/json"}


def record(**kw):
    with open(OUT, "a") as f:
        f.write(json.dumps(kw) + "\n")


def call(body):
    c = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        c.request("POST", PATH, body=json.dumps(body), headers=HDR)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def update(task_id, state, quiet=False, **extra):
    status = {"task_id": task_id, "state": state, "source": "SOURCE_EXECUTOR",
              "uuid": base64.b64encode(uuid.uuid4().bytes).decode(), "executor_id": EX}
    status.update(extra)
    st, body = call({"framework_id": FW, "executor_id": EX, "type": "UPDATE",
                     "update": {"status": status}})
    if quiet:
        record(call="UPDATE", state=state, status=st, body=body, size=len(extra.get("data", "")))
    else:
        record(call="UPDATE", state=state, status=st, body=body)


def records(resp):
    while True:
        n = b""
        while True:
            ch = resp.read(1)
            if not ch:
                return
            if ch == b"\n":
                break
            n += ch
        yield json.loads(resp.read(int(n)))


def main():
    record(env={k: v for k, v in os.environ.items() if k != "DIFF_OUT"}, argv=sys.argv[1:],
           uid=os.getuid(), cwd=os.getcwd())
    if os.environ.get("DIFF_PRESUB") == "1":
        # Calls before subscribing: what does the agent answer?
        st, body = call({"framework_id": FW, "executor_id": EX, "type": "MESSAGE",
                         "message": {"data": base64.b64encode(b"early").decode()}})
        record(call="PRESUB_MESSAGE", status=st, body=body)
    c = http.client.HTTPConnection(host, int(port), timeout=None)
    c.request("POST", PATH, headers=HDR, body=json.dumps(
        {"framework_id": FW, "executor_id": EX, "type": "SUBSCRIBE",
         "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}}))
    r = c.getresponse()
    record(subscribe_status=r.status, content_type=r.getheader("Content-Type"))
    if r.status != 200:
        record(subscribe_body=r.read().decode("utf-8", "replace"))
        return 1
    for ev in records(r):
        t = ev.get("type")
        if t == "MESSAGE" and len(ev["message"].get("data", "")) > 1400:
            record(event={"type": "MESSAGE", "size": len(base64.b64decode(ev["message"]["data"]))})
            continue
        record(event=ev)
        if t == "LAUNCH":
            update(ev["launch"]["task"]["task_id"], "TASK_RUNNING")
        elif t == "KILL":
            update(ev["kill"]["task_id"], "TASK_KILLED")
        elif t == "MESSAGE":
            data = base64.b64decode(ev["message"]["data"]).decode()
            if data.startswith("echo:"):
                st, body = call({"framework_id": FW, "executor_id": EX, "type": "MESSAGE",
                                 "message": {"data": base64.b64encode(data[5:].encode()).decode()}})
                record(call="MESSAGE", status=st, body=body)
            elif data.startswith("finish:"):
                update({"value": data[7:]}, "TASK_FINISHED")
            elif data.startswith("bigupdate:"):
                task, n = data[10:].rsplit(":", 1)
                update({"value": task}, "TASK_RUNNING", quiet=True,
                       data=base64.b64encode(b"x" * int(n)).decode())
            elif data.startswith("bigmsg:"):
                blob = base64.b64encode(b"y" * int(data[7:])).decode()
                st, body = call({"framework_id": FW, "executor_id": EX, "type": "MESSAGE",
                                 "message": {"data": blob}})
                record(call="MESSAGE", status=st, body=body, size=int(data[7:]))
            elif data.startswith("exit:"):
                record(exiting=int(data[5:]))
                os._exit(int(data[5:]))
        elif t == "SHUTDOWN":
            record(exiting=0)
            return 0
    record(stream="closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
