"""Calls through pymesos (JSON only), the peer of bench/calls.lua: the same
N ACKNOWLEDGE calls and N small ACCEPT calls (one unknown offer id, one
LAUNCH of one task) to the same master, arguments built first, the clock
running from the first call until the master's answer to one RECONCILE sent
after them arrives as an UPDATE. pymesos sends each call synchronously on
one keep-alive connection.

    python bench/pymesos_calls.py HOST:PORT N     (the venv's python)

Prints "RESULT calls.pymesos.json.<acknowledge|accept> <calls/s>"."""

import base64
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler


class FirstOffer(Scheduler):
    def __init__(self):
        self.agent_id = None
        self.got = threading.Event()
        self.sentinels = {}

    def resourceOffers(self, driver, offers):
        if self.agent_id is None and offers:
            self.agent_id = offers[0]["agent_id"]
            self.got.set()

    def statusUpdate(self, driver, status):
        task_id = status["task_id"]["value"]
        if task_id.startswith("bench-sentinel"):
            self.sentinels[task_id].set()


def finish(driver, sched, kind):
    """One RECONCILE of an unknown task after the calls; returns once the
    master's answering UPDATE arrives (as bench/calls.lua does)."""
    task_id = "bench-sentinel-" + kind
    sched.sentinels[task_id] = threading.Event()
    driver.reconcileTasks([{"task_id": {"value": task_id}, "agent_id": sched.agent_id}])
    if not sched.sentinels[task_id].wait(120):
        print("pymesos_calls: no reconciliation update", file=sys.stderr)
        sys.exit(1)


def main():
    master, n = sys.argv[1], int(sys.argv[2])
    sched = FirstOffer()
    framework = {"user": os.environ.get("USER", "root"), "name": "pymesos-calls-bench"}
    driver = MesosSchedulerDriver(sched, framework, master)
    driver.start()
    if not sched.got.wait(60):
        print("pymesos_calls: no offer within 60 s", file=sys.stderr)
        sys.exit(1)
    agent_id = sched.agent_id

    acks = [
        {
            "agent_id": agent_id,
            "task_id": {"value": "bench-task-%d" % i},
            "uuid": base64.b64encode(b"%016d" % i).decode("ascii"),
        }
        for i in range(1, n + 1)
    ]
    t0 = time.monotonic()
    for status in acks:
        driver.acknowledgeStatusUpdate(status)
    finish(driver, sched, "acknowledge")
    ack_rate = n / (time.monotonic() - t0)

    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1}},
    ]
    accepts = [
        (
            [{"value": "bench-offer-%d" % i}],
            [
                {
                    "type": "LAUNCH",
                    "launch": {
                        "task_infos": [
                            {
                                "name": "b",
                                "task_id": {"value": "bench-launch-%d" % i},
                                "agent_id": agent_id,
                                "resources": resources,
                                "command": {"value": "true"},
                            }
                        ]
                    },
                }
            ],
        )
        for i in range(1, n + 1)
    ]
    t0 = time.monotonic()
    for offer_ids, operations in accepts:
        driver.acceptOffers(offer_ids, operations)
    finish(driver, sched, "accept")
    accept_rate = n / (time.monotonic() - t0)

    driver.stop()
    driver.join()
    print("RESULT calls.pymesos.json.acknowledge %.1f" % ack_rate)
    print("RESULT calls.pymesos.json.accept %.1f" % accept_rate, flush=True)


if __name__ == "__main__":
    main()
