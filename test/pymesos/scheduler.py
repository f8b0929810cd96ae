"""A third-party scheduler (pymesos, unchanged) against mesos-local: launch
one command task and exit 0 once it reports TASK_FINISHED."""

import os
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler


class OneTask(Scheduler):
    def __init__(self):
        self.launched = False
        self.states = []
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        print("registered", framework_id["value"], flush=True)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            if self.launched:
                driver.declineOffer(offer.id)
                continue
            self.launched = True
            task = Dict()
            task.task_id.value = "pymesos-task"
            task.agent_id.value = offer.agent_id.value
            task.name = "pymesos task"
            task.command.value = "echo from pymesos"
            task.resources = [
                dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                dict(name="mem", type="SCALAR", scalar={"value": 32}),
            ]
            driver.launchTasks(offer.id, [task])

    def statusUpdate(self, driver, update):
        print("update", update.task_id.value, update.state, flush=True)
        self.states.append(update.state)
        if update.state in ("TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"):
            self.done.set()


def main():
    master = sys.argv[1]
    sched = OneTask()
    framework = Dict(user=os.environ.get("USER", "root"), name="pymesos-test", hostname="localhost")
    # HTTP Basic credentials, when the master requires them.
    principal = os.environ.get("PYMESOS_PRINCIPAL")
    secret = os.environ.get("PYMESOS_SECRET")
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=True,
                                  principal=principal, secret=secret)
    driver.start()
    finished = sched.done.wait(60)
    driver.stop()
    driver.join()
    print("states", " ".join(sched.states), flush=True)
    ok = finished and sched.states[-1:] == ["TASK_FINISHED"] and "TASK_RUNNING" in sched.states
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
