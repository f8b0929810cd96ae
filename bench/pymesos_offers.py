"""Offer intake through pymesos (JSON only): a minimal pymesos scheduler
pointed at bench/fake_master.py, whose resourceOffers reads each offer's id
and sums its cpus, as bench/offers.lua's handler does. Timed from the first
offer reaching resourceOffers to the last.

    python bench/pymesos_offers.py HOST:PORT N     (the venv's python)

Prints "RESULT intake.pymesos.json <offers/s>"."""

import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler


class Intake(Scheduler):
    def __init__(self, n):
        self.n = n
        self.seen = 0
        self.cpus = 0.0
        self.t_first = None
        self.t_last = None
        self.done = threading.Event()

    def resourceOffers(self, driver, offers):
        if self.t_first is None:
            self.t_first = time.monotonic()
        for offer in offers:
            offer["id"]["value"]
            for r in offer["resources"]:
                if r["name"] == "cpus":
                    self.cpus += r["scalar"]["value"]
            self.seen += 1
        if self.seen >= self.n:
            self.t_last = time.monotonic()
            self.done.set()


def main():
    master, n = sys.argv[1], int(sys.argv[2])
    sched = Intake(n)
    framework = {"user": os.environ.get("USER", "root"), "name": "pymesos-bench"}
    # use_addict=False (the default): offers are plain dicts, pymesos's fastest path.
    driver = MesosSchedulerDriver(sched, framework, master)
    driver.start()
    finished = sched.done.wait(600)
    driver.stop()
    driver.join()
    if not finished or sched.seen != n or abs(sched.cpus - 4.5 * n) > 1e-6 * n:
        print("pymesos_offers: stream incomplete (%d of %d offers)" % (sched.seen, n), file=sys.stderr)
        sys.exit(1)
    rate = (n - 1) / (sched.t_last - sched.t_first)
    print("RESULT intake.pymesos.json %.1f" % rate, flush=True)
    print("pymesos     %10d %10.3f %14.0f" % (n, sched.t_last - sched.t_first, rate))


if __name__ == "__main__":
    main()
