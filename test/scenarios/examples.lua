-- The examples that take a master (`luajit examples/X.lua [MASTER]`, as the
-- README documents them), shared by test/examples_spec.lua (the embedded
-- local cluster) and test/real/examples_spec.lua (real Mesos).
--
-- `target`:
--   name          what the describe block says it runs against
--   master_arg()  the examples' master argument, with a leading space ("" for local)
--   cluster_logs  the master's log records reach mesos.set_log (the embedded cluster)
local h = require "test.helpers"

local function run(file)
  local out, code = h.sh("luajit examples/" .. file)
  return out, code
end

local function define(target)
describe("examples on " .. target.name, function()
  it("command_task.lua: one command task and its output", function()
    local out, code = run("command_task.lua" .. target.master_arg())
    assert.are.equal(0, code, out)
    assert.truthy(out:find("task hello-1 is TASK_FINISHED", 1, true), out)
    assert.truthy(out:find("task output: hello from a Mesos task in /", 1, true), out)
  end)

  it("luv_scheduler.lua: three tasks while the loop's timer keeps firing; logs routed to Lua", function()
    local out, code = run("luv_scheduler.lua" .. target.master_arg())
    assert.are.equal(0, code, out)
    for i = 1, 3 do
      assert.truthy(out:find("task luv-" .. i .. " is TASK_FINISHED", 1, true), out)
    end
    -- mesos.set_log handed the library's records to the application.
    assert.truthy(out:find("[log] info scheduler: event stream open at", 1, true), out)
    if target.cluster_logs then
      -- The embedded cluster's own records go the same way.
      assert.truthy(out:find("%[log%] info master: framework .- subscribed"), out)
    end
    local ticks = tonumber(out:match("the timer fired (%d+) times"))
    assert.is_true(ticks and ticks >= 3, out)
  end)

  it("cqueues_scheduler.lua: three tasks beside another coroutine", function()
    local out, code = run("cqueues_scheduler.lua" .. target.master_arg())
    assert.are.equal(0, code, out)
    assert.truthy(out:find("3 finished, 0 failed", 1, true), out)
    local beats = tonumber(out:match("the other coroutine ran (%d+) times"))
    assert.is_true(beats and beats >= 3, out)
  end)

  it("copas_scheduler.lua: a task while copas keeps stepping", function()
    local out, code = run("copas_scheduler.lua" .. target.master_arg())
    assert.are.equal(0, code, out)
    assert.truthy(out:find("task ended TASK_FINISHED", 1, true), out)
    local worst = tonumber(out:match("the longest step took ([%d.]+) ms"))
    assert.is_true(worst ~= nil and worst < 250, out)
  end)
end)
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
