-- The examples run as the README documents them (`./dev run examples/X.lua`
-- is `luajit examples/X.lua` with the module on the paths), against the
-- embedded local cluster.
local h = require "test.helpers"

local function run(file)
  local out, code = h.sh("luajit examples/" .. file)
  return out, code
end

describe("examples", function()
  it("command_task.lua: one command task and its output", function()
    local out, code = run("command_task.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("task hello-1 is TASK_FINISHED", 1, true), out)
    assert.truthy(out:find("task output: hello from a Mesos task in /", 1, true), out)
  end)

  it("luv_scheduler.lua: three tasks while the loop's timer keeps firing; logs routed to Lua", function()
    local out, code = run("luv_scheduler.lua")
    assert.are.equal(0, code, out)
    for i = 1, 3 do
      assert.truthy(out:find("task luv-" .. i .. " is TASK_FINISHED", 1, true), out)
    end
    -- mesos.set_log handed the library's records to the application.
    assert.truthy(out:find("[log] info scheduler: event stream open at", 1, true), out)
    assert.truthy(out:find("%[log%] info master: framework .- subscribed"), out)
    local ticks = tonumber(out:match("the timer fired (%d+) times"))
    assert.is_true(ticks and ticks >= 3, out)
  end)

  it("cqueues_scheduler.lua: three tasks beside another coroutine", function()
    local out, code = run("cqueues_scheduler.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("3 finished, 0 failed", 1, true), out)
    local beats = tonumber(out:match("the other coroutine ran (%d+) times"))
    assert.is_true(beats and beats >= 3, out)
  end)

  it("copas_scheduler.lua: a task while copas keeps stepping", function()
    local out, code = run("copas_scheduler.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("task ended TASK_FINISHED", 1, true), out)
    local worst = tonumber(out:match("the longest step took ([%d.]+) ms"))
    assert.is_true(worst ~= nil and worst < 250, out)
  end)

  it("events_reduce.lua: tasks combine partial sums over framework messages", function()
    local out, code = run("events_reduce.lua 5")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("combined total: 7007000 (expected 7007000)", 1, true), out)
    local progress = select(2, out:gsub("progress: partial sum %d+ from ", ""))
    assert.are.equal(4, progress, out)
  end)

  it("debug_session.lua: a scripted MobDebug controller stops a task, changes a local, steps, runs it out", function()
    local out, code = run("debug_session.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("paused at script.lua:5", 1, true), out)
    assert.truthy(out:find("total =\t55", 1, true), out)
    assert.truthy(out:find("stepped to script.lua:6", 1, true), out)
    assert.truthy(out:find("\n200\n$"), out)
  end)

  it("data_for_tasks.lua: tasks read a file attached with uris", function()
    local out, code = run("data_for_tasks.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("5-letter words: 2\n7-letter words: 2", 1, true), out)
  end)
end)
