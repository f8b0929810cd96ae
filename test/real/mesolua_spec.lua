-- The mesolua, mesos.map/run and --uri scenarios of test/mesolua_spec.lua
-- against a real Apache Mesos 1.11 master and agent: the Lua executor is
-- started by the real agent (clean environment, the module found through
-- the agent's executor_environment_variables), URIs go through the kit's
-- stand-in fetcher.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.mesolua" {
  name = "real Mesos 1.11",
  master = function() return "--master=" .. kit.master end,
  opts = function(o)
    o.master = kit.master
    return o
  end,
  tasks = 100,
}

-- The processes (executors, zygotes, tasks) of the kit's containers: those
-- whose MESOS_SANDBOX is under the kit's work directory.
local function container_pids()
  local h = require "test.helpers"
  local out = h.sh(("grep -alsF 'MESOS_SANDBOX=%s/' /proc/[0-9]*/environ"):format(kit.dir), false)
  local pids = {}
  for pid in out:gmatch("/proc/(%d+)/environ") do pids[#pids + 1] = tonumber(pid) end
  return pids
end

describe("mesolua killed with -9 on real Mesos 1.11", function()
  it("leaves nothing running: the master drops the framework, the agent stops the executor and its tasks", function()
    local h = require "test.helpers"
    local pid = tonumber(h.sh(("bin/mesolua --master=%s --tasks 2 -e 'while true do end' > /dev/null 2>&1 & echo $!")
      :format(kit.master)):match("%d+"))
    finally(function() os.execute("kill -9 " .. pid .. " 2>/dev/null") end)
    local framework_id
    local function running()
      local n = 0
      for task in ((real.get(kit, "/master/tasks") or ""):match('"tasks":(%b[])') or ""):gmatch("%b{}") do
        if task:match('"state":"([%u_]+)"') == "TASK_RUNNING" then
          n = n + 1
          framework_id = task:match('"framework_id":"([^"]+)"')
        end
      end
      return n
    end
    local t0 = h.now()
    while running() < 2 do
      assert(h.now() - t0 < 30, "the tasks did not start")
      os.execute("sleep 0.05")
    end
    -- The executor, its zygote and the two spinning task processes, at least.
    assert.is_true(#container_pids() >= 3, "processes: " .. #container_pids())
    os.execute("kill -9 " .. pid)
    t0 = h.now()
    while #container_pids() > 0 do
      assert(h.now() - t0 < 30, "still running: " .. table.concat(container_pids(), " "))
      os.execute("sleep 0.1")
    end
    local active = (real.get(kit, "/master/frameworks") or ""):match('"frameworks":(%b[])')
    assert.is_string(framework_id)
    assert.is_nil(active:find(framework_id, 1, true), active)
  end)
end)

describe("the Lua executor on real Mesos 1.11", function()
  it("has exited with status 0 every time the agent started it for the runs above", function()
    local h = require "test.helpers"
    -- Once every framework is gone from the agent, so are its executors.
    local t0 = h.now()
    while (real.get(kit, "/slave(1)/state") or ""):match('"frameworks":(%b[])') ~= "[]" do
      assert(h.now() - t0 < 30, "frameworks left on the agent")
      os.execute("sleep 0.1")
    end
    local log = kit.log()
    -- The run whose URI is missing never started its executor.
    local not_started, failed_fetches = {}, 0
    for fw in log:gmatch("for executor 'mesos%-lua%-executor' of framework (%S+) failed to start: Failed to fetch") do
      not_started[fw] = true
      failed_fetches = failed_fetches + 1
    end
    assert.are.equal(1, failed_fetches)
    local statuses, n = {}, 0
    for id, fw, status in log:gmatch("Executor '([^']+)' of framework (%S+) exited with status (%d+)") do
      if not not_started[fw] then
        n = n + 1
        statuses[status] = (statuses[status] or 0) + 1
        assert.are.equal("mesos-lua-executor", id)
      end
    end
    assert.is_true(n >= 10, "only " .. n .. " executor exits in the log")
    assert.are.same({ ["0"] = n }, statuses)
  end)
end)

-- Warnings of the kit that are not about what we sent, each with why.
local NOT_OURS = {
  -- Start-up banners of a master and agent run without authentication.
  "master%.cpp:%d+%] $", "slave%.cpp:%d+%] $", "No credentials provided, authentication requests will be refused",
  -- The framework tore down (as every run ends) while its executor was still
  -- alive; the agent reports the exit of an executor the master already forgot.
  "Ignoring unknown exited executor 'mesos%-lua%-executor'",
  -- The same end for a framework whose tasks still ran (mesolua killed with
  -- -9): the executor answers SHUTDOWN with TASK_KILLED for each task, as a
  -- Mesos executor must, and the agent has already let the framework go.
  "Ignoring status update TASK_KILLED %(Status UUID: [%x%-]+%) for task [%w%-]+ of framework [%w%-]+ for terminating framework",
  -- The scenario that names a missing URI on purpose: the fetcher fails, the
  -- container is destroyed before it started.
  "Failed to run mesos%-fetcher: Failed to fetch all URIs", "failed to start: Failed to fetch all URIs",
  "Begin fetcher log", "End fetcher log", "Ignoring update for unknown container",
}

describe("the real Mesos 1.11 kit after the mesolua runs", function()
  it("logged no warning about what we sent (executor resources, deprecated fields, refused calls)", function()
    local ours, seen = {}, 0
    for line in kit.log():gmatch("[^\n]+") do
      if line:match("^[WE]%d%d%d%d ") then
        seen = seen + 1
        local known = false
        for _, p in ipairs(NOT_OURS) do
          if line:find(p) then known = true break end
        end
        if not known then ours[#ours + 1] = line end
      end
    end
    assert.is_true(seen > 0, "the kit's log holds no warning at all: is it the glog log?")
    assert.are.same({}, ours)
  end)
end)
