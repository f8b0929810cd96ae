-- The control: a third-party scheduler (pymesos from PyPI, unchanged, see
-- test/pymesos/) runs a command task on the target. Shared by
-- test/pymesos_spec.lua (bin/mesos-local) and test/real/pymesos_spec.lua
-- (real Mesos).
--
-- `target`:
--   name      what the describe block says it runs against
--   master()  the master's host:port (a function: it is up once setup ran)
local h = require "test.helpers"

local function define(target)
describe("pymesos on " .. target.name, function()
  setup(function()
    local out, code = h.sh("test/pymesos/setup")
    assert(code == 0, "pymesos setup failed:\n" .. out)
  end)

  it("runs a pymesos scheduler's task to TASK_FINISHED", function()
    local out, code = h.sh("timeout 90 target/pymesos-venv/bin/python test/pymesos/scheduler.py " .. target.master())
    assert(code == 0, "pymesos scheduler failed:\n" .. out)
    assert.matches("registered", out)
    assert.matches("update pymesos%-task TASK_RUNNING", out)
    assert.matches("update pymesos%-task TASK_FINISHED", out)
  end)
end)
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
