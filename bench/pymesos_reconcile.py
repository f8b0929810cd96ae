"""Reconcile burst through pymesos (JSON): one reconcileTasks naming N tasks
the master does not know, timed until the N-th statusUpdate; the RSS growth
of this process over the burst too. The same master as bench/reconcile.lua.

    python bench/pymesos_reconcile.py HOST:PORT N     (the venv's python)

Prints "RESULT reconcile.pymesos.N <seconds>" and "...rss_mb"/"...peak_mb"."""

import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Burst(Scheduler):
    def __init__(self, n):
        self.n = n
        self.seen = 0
        self.t_last = None
        self.subscribed = threading.Event()
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        self.subscribed.set()

    def resourceOffers(self, driver, offers):
        driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 3600})

    def statusUpdate(self, driver, status):
        if status["task_id"]["value"].startswith("recon-"):
            self.seen += 1
            if self.seen == self.n:
                self.t_last = time.monotonic()
                self.done.set()


def main():
    master, n = sys.argv[1], int(sys.argv[2])
    sched = Burst(n)
    framework = {"user": os.environ.get("USER", "root"), "name": "pymesos-reconcile-bench"}
    driver = MesosSchedulerDriver(sched, framework, master)
    driver.start()
    if not sched.subscribed.wait(60):
        print("pymesos_reconcile: not subscribed", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.2)
    tasks = [{"task_id": {"value": "recon-%d" % i}} for i in range(1, n + 1)]
    rss0 = status_kb("VmRSS")
    t0 = time.monotonic()
    driver.reconcileTasks(tasks)
    finished = sched.done.wait(600)
    rss1, hwm = status_kb("VmRSS"), status_kb("VmHWM")
    driver.stop()
    driver.join()
    if not finished:
        print("pymesos_reconcile: %d of %d updates" % (sched.seen, n), file=sys.stderr)
        sys.exit(1)
    secs = sched.t_last - t0
    print("RESULT reconcile.pymesos.%d %.4f" % (n, secs))
    print("RESULT reconcile.pymesos.%d.rss_mb %.1f" % (n, (rss1 - rss0) / 1024))
    print("RESULT reconcile.pymesos.%d.peak_mb %.1f" % (n, (hwm - rss0) / 1024), flush=True)
    print("pymesos   %8d %10.3f %12.0f %10.1f %10.1f" % (n, secs, n / secs, (rss1 - rss0) / 1024, (hwm - rss0) / 1024))


if __name__ == "__main__":
    main()
