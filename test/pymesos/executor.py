"""A third-party executor (pymesos, unchanged) under the local agent: each
launched task gets TASK_RUNNING, then TASK_FINISHED with data; framework
messages are echoed back; SHUTDOWN stops the driver."""

import threading
import time

from addict import Dict
from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class OneShot(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        print("registered", executor_info.executor_id.value, flush=True)

    def launchTask(self, driver, task):
        def run():
            running = Dict()
            running.task_id.value = task.task_id.value
            running.state = "TASK_RUNNING"
            running.timestamp = time.time()
            driver.sendStatusUpdate(running)

            finished = Dict()
            finished.task_id.value = task.task_id.value
            finished.state = "TASK_FINISHED"
            finished.timestamp = time.time()
            finished.data = encode_data(b"finished by pymesos " + decode_data(task.data or ""))
            driver.sendStatusUpdate(finished)

        threading.Thread(target=run, daemon=True).start()

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(encode_data(b"pymesos echo " + decode_data(message)))

    def shutdown(self, driver):
        print("shutdown", flush=True)


def main():
    driver = MesosExecutorDriver(OneShot(), use_addict=True)
    driver.run()


if __name__ == "__main__":
    main()
