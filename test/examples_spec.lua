-- The examples run as the README documents them (`./dev run examples/X.lua`
-- is `luajit examples/X.lua` with the module on the paths), against the
-- embedded local cluster.
local h = require "test.helpers"

local function run(file)
  local out, code = h.sh("luajit examples/" .. file)
  return out, code
end

-- The examples real Mesos runs too (test/real/examples_spec.lua).
require "test.scenarios.examples" {
  name = "the embedded local cluster",
  master_arg = function() return "" end,
  cluster_logs = true,
}

describe("examples", function()
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

  it("lua_executor_tasks.lua: a scheduler of its own runs Lua tasks on the Lua executor and reads their replies", function()
    local out, code = run("lua_executor_tasks.lua")
    assert.are.equal(0, code, out)
    for _, line in ipairs {
      "task 1 returned: 42, product\n",
      "task 2 returned: 2\n",
      "task 2 printed: hello from task 2\n",
      "task 3 returned: round trip\n",
      "task 4 returned: {1, 4, 9}\n",
      "task 5 failed (TASK_FAILED): task:1: this one fails\n",
      "5 tasks ended, 1 failed\n",
    } do
      assert.truthy(out:find(line, 1, true), line .. " in:\n" .. out)
    end
  end)

  it("data_for_tasks.lua: tasks read a file attached with uris", function()
    local out, code = run("data_for_tasks.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("5-letter words: 2\n7-letter words: 2", 1, true), out)
  end)
end)
