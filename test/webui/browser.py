#!/usr/bin/env python3
"""The web UI in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by selenium (target/webui-venv, see setup).

Starts bin/mesos-local, opens its page, runs a framework (the differential
harness's stdlib client) that launches a command task printing known lines
and sleeping, plus tasks whose names are markup, and checks what a person
would see: the framework, the task TASK_RUNNING within 2 s of the scheduler
hearing it, its stdout growing live in the page, TASK_FINISHED after it
ended, all without a reload; names shown as text; no error in the browser's
console; only this origin contacted; "disconnected" when the cluster stops
and the new cluster's state once one listens again on the same port.

Prints one line per check, "webui-ok NAME" or "webui-failed NAME: why",
and saves screenshots to target/webui-screenshots/ (or $WEBUI_SHOTS).
Servers are started and stopped by PID; every wait polls with a deadline.

usage: test/webui/browser.py   (with ./dev env's LUA_PATH/LUA_CPATH)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "differential"))

from mesosclient import Framework, Target, command_task  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

SHOTS = os.environ.get("WEBUI_SHOTS") or os.path.join(ROOT, "target", "webui-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
LINE1 = "webui-line-one 7f3a"
LINE2 = "webui-line-two 9c1e"
XSS_NAMES = ["<script>alert(1)</script>", '<img src=x onerror="window.__xss=1">']

results = {"ok": 0, "failed": 0}


def report(name, ok, why=""):
    results["ok" if ok else "failed"] += 1
    print("webui-ok %s" % name if ok else "webui-failed %s: %s" % (name, why), flush=True)


def wait_for(what, fn, timeout=10, interval=0.05):
    """fn() until it returns something true, or raise after the deadline."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (WebDriverException, OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    raise TimeoutError("no %s within %ss%s" % (what, timeout, " (%s)" % last if last else ""))


class MesosLocal:
    """bin/mesos-local as a child process, stopped by its PID."""

    def __init__(self, work, port=0):
        env = dict(os.environ)
        env["LUA_CPATH"] = os.path.join(ROOT, "target", "lua", "?.so") + ";" + env.get("LUA_CPATH", ";")
        env["LUA_PATH"] = (os.path.join(ROOT, "lua", "?.lua") + ";" +
                           os.path.join(ROOT, "lua", "?", "init.lua") + ";" + env.get("LUA_PATH", ";"))
        self.log = open(os.path.join(work, "mesos-local-%d.log" % time.time_ns()), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "bin", "mesos-local"), "--port", str(port),
             "--allocation-interval", "0.1", "--work-dir", os.path.join(work, "cluster-%d" % time.time_ns())],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = wait_for("mesos-local's address", self._address, 30)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _address(self):
        if self.proc.poll() is not None:
            raise RuntimeError("mesos-local exited with %s" % self.proc.returncode)
        self.log.seek(0)
        for line in self.log.read().splitlines():
            if "master at " in line:
                return line.split("master at ", 1)[1].strip()
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Acknowledger(threading.Thread):
    """Acknowledges every update of a framework and records the first time
    each task reached each state."""

    def __init__(self, fw):
        super().__init__(daemon=True)
        self.fw = fw
        self.seen = {}
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                ev = self.fw.sub.next(0.2)
            except TimeoutError:
                continue
            if ev is None:
                return
            if ev.get("type") == "UPDATE":
                s = ev["update"]["status"]
                self.seen.setdefault((s["task_id"]["value"], s["state"]), time.time())
                if "uuid" in s:
                    self.fw.ack(s)

    def when(self, task, state, timeout=20):
        return wait_for("%s %s at the scheduler" % (task, state),
                        lambda: self.seen.get((task, state)), timeout)


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1100",
              "--user-data-dir=" + profile]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def task_row(d, task_id):
    for row in d.find_elements(By.CSS_SELECTOR, "#task-rows tr.task"):
        if row.get_attribute("data-task-id") == task_id:
            return row
    return None


def task_state(d, task_id):
    row = task_row(d, task_id)
    return row.find_element(By.CSS_SELECTOR, ".state").text if row else None


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def check(name, fn):
    """Runs one check; a failure is reported and does not stop the others
    unless they depend on it (fn raising StopChecks)."""
    try:
        fn()
        report(name, True)
        return True
    except Exception as e:     # a failed check is a result, not a crash
        if os.environ.get("WEBUI_DEBUG"):
            traceback.print_exc()
        report(name, False, "%s: %s" % (type(e).__name__, e))
        return False


def main():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            report("browser", False, "%s is missing (./dev installs chromium and chromium-driver)" % path)
            return
    work = tempfile.mkdtemp(prefix="webui-test-")
    shutil.rmtree(SHOTS, ignore_errors=True)
    ml = d = fw = acks = None
    try:
        ml = MesosLocal(work)
        d = browser(os.path.join(work, "profile"))
        d.set_page_load_timeout(20)
        base = ml.url

        def page_loads():
            d.get(base + "/")
            wait_for("the connected badge", lambda: "connected" == d.find_element(By.ID, "conn").text)
            wait_for("the agent row", lambda: d.find_elements(By.CSS_SELECTOR, "#agent-rows tr.agent"))
            # Survives only if the page is never reloaded.
            d.execute_script("window.__noReload = 42;")
            shot(d, "1-empty-cluster")
        if not check("page-loads", page_loads):
            return

        t = Target("local", ml.port, work)
        t.wait_ready(time.time() + 20)
        fw = Framework(t, {"name": "webui-test"})
        acks = None
        offer = fw.offers()

        def framework_shown():
            def row():
                for r in d.find_elements(By.CSS_SELECTOR, "#framework-rows tr.framework"):
                    if r.get_attribute("data-framework-id") == fw.id:
                        return r
                return None
            r = wait_for("the framework's row", row, 5)
            assert "webui-test" in r.text, r.text
        check("framework-shown", framework_shown)

        o = offer[0]
        main_task = command_task(o, "main-task", "echo '%s'; sleep 3; echo '%s'; sleep 3" % (LINE1, LINE2))
        main_task["name"] = "webui main task"
        tasks = [main_task]
        for i, name in enumerate(XSS_NAMES):
            x = command_task(o, "xss-%d" % i, "echo '<b>not bold</b>'")
            x["name"] = name
            tasks.append(x)
        acks = Acknowledger(fw)
        r = fw.launch(o, tasks)
        assert r.status == 202, r.status
        acks.start()

        def running_within_2s():
            t_run = acks.when("main-task", "TASK_RUNNING")
            wait_for("TASK_RUNNING in the page", lambda: task_state(d, "main-task") == "TASK_RUNNING", 5)
            took = time.time() - t_run
            shot(d, "2-task-running")
            assert took <= 2.0, "shown %.2fs after the scheduler heard TASK_RUNNING" % took
        check("task-running-within-2s", running_within_2s)

        def names_are_text():
            for i, name in enumerate(XSS_NAMES):
                wait_for("the row of xss-%d" % i, lambda: task_row(d, "xss-%d" % i), 5)
                shown = task_row(d, "xss-%d" % i).find_element(By.CSS_SELECTOR, ".task-name").text
                assert shown == name, "name shown as %r" % shown
            try:
                d.switch_to.alert
                raise AssertionError("an alert opened")
            except NoAlertPresentException:
                pass
            assert d.execute_script("return window.__xss === undefined"), "markup in a name ran"
            assert d.execute_script("return document.scripts.length") == 1, "a script element was added"
            assert not d.execute_script(
                "return Array.from(document.querySelectorAll('#task-rows img, #task-rows b')).length"), \
                "markup from a name became elements"
        check("task-names-are-text", names_are_text)

        def stdout_live():
            row = task_row(d, "main-task")
            row.find_element(By.CSS_SELECTOR, "a.sandbox-link").click()
            wait_for("the sandbox's file list",
                     lambda: any(e.text == "stdout" for e in d.find_elements(By.CSS_SELECTOR, "#sb-files a.path")), 5)
            pre = d.find_element(By.ID, "file-view")
            wait_for("the first line in stdout", lambda: LINE1 in pre.text, 5)
            assert task_state_in_sandbox(d) == "TASK_RUNNING", "the task should still run"
            shot(d, "3-sandbox-following")
            assert LINE2 not in pre.text, "the second line came too early to tell"
            wait_for("the second line, appended live", lambda: LINE2 in pre.text, 8)
            text = pre.text
            assert text.count(LINE1) == 1 and text.index(LINE1) < text.index(LINE2), repr(text)
        check("stdout-followed-live", stdout_live)

        def finished_without_reload():
            acks.when("main-task", "TASK_FINISHED", 20)
            wait_for("TASK_FINISHED in the sandbox view", lambda: task_state_in_sandbox(d) == "TASK_FINISHED", 3)
            shot(d, "4-sandbox-finished")
            d.find_element(By.CSS_SELECTOR, "header h1 a").click()
            wait_for("TASK_FINISHED in the task list", lambda: task_state(d, "main-task") == "TASK_FINISHED", 3)
            history = task_row(d, "main-task").find_element(By.CSS_SELECTOR, "ol.history").text
            assert "TASK_RUNNING" in history and "TASK_FINISHED" in history, history
            assert d.execute_script("return window.__noReload") == 42, "the page was reloaded"
            shot(d, "5-task-finished")
        check("task-finished-without-reload", finished_without_reload)

        def download_and_files():
            d.execute_script("location.hash = arguments[0]",
                             "#/sandbox?fw=%s&task=main-task" % fw.id)
            link = wait_for("the stdout download link", lambda: next(
                (a for a in d.find_elements(By.CSS_SELECTOR, "#sb-files tr.file")
                 if a.find_element(By.CSS_SELECTOR, "a.path").text == "stdout"), None), 5)
            href = link.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
            assert href.startswith(base + "/files/download?path="), href
            with urllib.request.urlopen(href, timeout=10) as resp:
                body = resp.read().decode()
                assert "attachment" in resp.headers.get("Content-Disposition", ""), resp.headers
            assert body == "%s\n%s\n" % (LINE1, LINE2), repr(body)
            d.find_element(By.CSS_SELECTOR, "header h1 a").click()
        check("stdout-downloadable", download_and_files)

        def filters():
            Select(d.find_element(By.ID, "filter-state")).select_by_value("TASK_FINISHED")
            wait_for("only finished tasks", lambda: all(
                r.find_element(By.CSS_SELECTOR, ".state").text == "TASK_FINISHED"
                for r in d.find_elements(By.CSS_SELECTOR, "#task-rows tr.task")), 3)
            assert task_row(d, "main-task") is not None
            Select(d.find_element(By.ID, "filter-state")).select_by_value("")
            Select(d.find_element(By.ID, "filter-framework")).select_by_value(fw.id)
            wait_for("the framework's tasks", lambda: len(d.find_elements(By.CSS_SELECTOR, "#task-rows tr.task")) == 3, 3)
            Select(d.find_element(By.ID, "filter-framework")).select_by_value("")
        check("filters", filters)

        def console_clean():
            errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
            assert not errors, json.dumps(errors)[:600]
            origins = d.execute_script(
                "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
                ".concat([location.origin])")
            assert set(origins) == {base}, "contacted %s" % sorted(set(origins))
        check("console-has-no-errors", console_clean)

        # Teardown: the framework becomes completed and stays listed.
        acks.stop = True
        fw.teardown()
        fw = None

        def completed_framework_listed():
            wait_for("the completed framework", lambda: any(
                "completed" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#framework-rows tr.framework")), 5)
        check("completed-framework-listed", completed_framework_listed)

        def reconnects():
            port = ml.port
            ml.stop()
            wait_for("'disconnected'", lambda: "disconnected" in d.find_element(By.ID, "conn").text, 5)
            shot(d, "6-disconnected")
            again = MesosLocal(work, port)
            try:
                wait_for("'connected' again", lambda: d.find_element(By.ID, "conn").text == "connected", 10)
                wait_for("the new cluster's (empty) state", lambda: not d.find_elements(
                    By.CSS_SELECTOR, "#framework-rows tr.framework"), 5)
                assert d.execute_script("return window.__noReload") == 42, "the page was reloaded"
                shot(d, "7-reconnected")
            finally:
                again.stop()
        check("disconnected-then-reconnected", reconnects)
    except Exception as e:     # set-up failures: report, then clean up
        traceback.print_exc()
        report("setup", False, "%s: %s" % (type(e).__name__, e))
    finally:
        if acks:
            acks.stop = True
        if fw is not None:
            try:
                fw.teardown()
            except Exception:
                pass
        if d is not None:
            d.quit()
        if ml is not None:
            ml.stop()
        if os.environ.get("WEBUI_KEEP"):
            print("webui: work directory kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def task_state_in_sandbox(d):
    return d.find_element(By.ID, "sb-state").text


if __name__ == "__main__":
    main()
    print("webui: %d passed, %d failed (screenshots in %s)" % (results["ok"], results["failed"], SHOTS))
    sys.exit(0 if results["failed"] == 0 and results["ok"] > 0 else 1)
