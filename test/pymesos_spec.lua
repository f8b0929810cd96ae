-- A third-party client (pymesos from PyPI, unchanged) against mesos-local.
local h = require "test.helpers"

local sh = h.sh

describe("mesos-local with pymesos", function()
  local ml

  setup(function()
    local out, code = sh("test/pymesos/setup")
    assert(code == 0, "pymesos setup failed:\n" .. out)
    ml = h.start_mesos_local("--allocation-interval 0.1")
  end)

  teardown(function()
    if ml then assert(ml.stop(), "mesos-local did not exit on SIGTERM") end
  end)

  it("runs a pymesos scheduler's task to TASK_FINISHED", function()
    local master = ml.master
    local out, code = sh("timeout 90 target/pymesos-venv/bin/python test/pymesos/scheduler.py " .. master)
    assert(code == 0, "pymesos scheduler failed:\n" .. out)
    assert.matches("registered", out)
    assert.matches("update pymesos%-task TASK_RUNNING", out)
    assert.matches("update pymesos%-task TASK_FINISHED", out)
  end)
end)
