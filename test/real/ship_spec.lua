-- Agents where the rock is not installed: a real Mesos 1.11 agent whose
-- executors get only a default PATH (luajit on it, no LUA_PATH/LUA_CPATH).
-- mesolua says what is missing, and runs once the module is shipped with
-- the tasks (--ship: through the agent's fetcher, here the kit's stand-in)
-- or its paths are passed on (--env).
local h = require "test.helpers"
local real = require "test.realmesos"
local mesolua = require("test.scenarios.mesolua").mesolua

local kit
setup(function()
  local env = real.executor_env()
  kit = real.start { executor_env = { PATH = env.PATH } }
end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

local function run(args) return mesolua("--master=" .. kit.master .. " " .. args) end

describe("mesolua on real Mesos 1.11 agents without the module", function()
  it("fails the task saying the module is missing and how to get it there", function()
    local out, err, code = run([[-e "return 'unreachable'"]])
    assert.are.equal(1, code)
    assert.are.equal("\n", out) -- the failed task's line, empty
    assert.matches("task 1 failed: the executor could not start on localhost: 'luajit' on the agent cannot load the module mesos", err, 1, true)
    assert.matches("--ship", err, 1, true)
  end)

  it("runs the tasks with --ship", function()
    local out, err, code = run([[--tasks 3 --ship -e "return 'shipped ' .. TASK_INDEX"]])
    assert.are.equal(0, code, err)
    assert.are.equal("shipped 1\nshipped 2\nshipped 3\n", out)
  end)

  it("runs the tasks with the module paths passed on by --env", function()
    local out, err, code = run([[--env LUA_CPATH --env LUA_PATH -e "return 'found'"]])
    assert.are.equal(0, code, err)
    assert.are.equal("found\n", out)
  end)

  it("names an interpreter the agent does not have", function()
    local out, err, code = run([[--interpreter=/nonexistent/luajit -e "return 1"]])
    assert.are.equal(1, code)
    assert.are.equal("\n", out) -- the failed task's line, empty
    assert.matches("the agent has no '/nonexistent/luajit' on the PATH its executors get", err, 1, true)
  end)

  it("declares the executor's own resources, which the real master accounts", function()
    local jobs = require "mesos.jobs"
    local state
    local res = assert(jobs.run_all({ { code = "return 1" }, { code = "return 2" } }, {
      master = kit.master, ship = true, executor_cpus = 0.02, executor_mem = 40,
      on_result = function(i) if i == 1 then state = real.get(kit, "/master/state") end end,
    }))
    assert.are.same({ 1, 2 }, { res[1].values[1], res[2].values[1] })
    local exec = (state or ""):match('"executors":%[(%b{})')
    assert.truthy(exec, state)
    assert.truthy(exec:find('"cpus":0.02', 1, true), exec)
    assert.truthy(exec:find('"mem":40.0', 1, true), exec)
  end)

  it("mesos.run ships the module with opts.ship", function()
    local v = assert(h.mesos.run("return 6 * 7", { master = kit.master, ship = true }))
    assert.are.equal(42, v)
  end)
end)
