-- Framework failover scenarios shared by test/failover_spec.lua
-- (bin/mesos-local) and test/real/failover_spec.lua (real Mesos): a
-- scheduler process killed with -9 comes back with its framework id within
-- failover_timeout and gets its running task back through reconciliation;
-- a second driver subscribing with the id of a live one makes the master
-- send the old one ERROR "Framework failed over", and the old driver stops
-- cleanly.
--
-- `target`:
--   name      what the describe blocks say they run against
--   master()  the master's host:port (a function: it is up once setup ran)
local h = require "test.helpers"
local mesos = h.mesos

local function define(target)
describe("framework failover on " .. target.name, function()
  local dir
  setup(function() dir = h.tmpdir() end)
  teardown(function() if dir then os.execute("rm -rf " .. dir) end end)

  it("a killed scheduler restarts with its framework id and gets its task back", function()
    -- The first scheduler, in its own process.
    local script = dir .. "/first.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local mesos = require "mesos"
      local h = {}
      function h:offers(d, offers)
        if launched then return end
        launched = true
        local o = offers[1]
        d:launch(o.id, { { name = "keeper", task_id = { value = "keeper" }, agent_id = o.agent_id,
          resources = mesos.resources.parse("cpus:0.1;mem:32"), command = { value = "sleep 60" } } })
      end
      function h:update(d, s)
        if s.state == "TASK_RUNNING" then
          local out = io.open("%s/id.tmp", "w")
          out:write(d:framework_id())
          out:close()
          os.rename("%s/id.tmp", "%s/id")
        end
      end
      mesos.scheduler(h, { master = "%s", framework = { name = "failover", failover_timeout = 60 } }):run()
    ]]):format(dir, dir, dir, target.master()))
    f:close()
    local pid = tonumber(h.sh("luajit " .. script .. " > " .. dir .. "/first.log 2>&1 & echo $!"):match("%d+"))
    local t0 = h.now()
    while not h.read_file(dir .. "/id") do
      assert(h.now() - t0 < 30, "the first scheduler did not get its task running: " .. (h.read_file(dir .. "/first.log") or ""))
      os.execute("sleep 0.05")
    end
    local id = h.read_file(dir .. "/id")
    os.execute("kill -9 " .. pid)

    -- The restarted scheduler: same id, reconciles, finds its task.
    local rec = {}
    local handler = {}
    function handler:subscribed(d, info)
      rec.id = info.framework_id.value
      d:reconcile({ { task_id = { value = "keeper" } } })
    end
    function handler:update(d, s)
      if s.task_id.value == "keeper" then
        rec.state = s.state
        if s.state == "TASK_RUNNING" then d:kill("keeper") end
      end
    end
    local d = mesos.scheduler(handler, {
      master = target.master(), framework = { name = "failover", id = { value = id }, failover_timeout = 60 },
    })
    -- A failed assertion must not leave the framework holding offers.
    finally(function() d:abort() end)
    d:start()
    h.wait_until(d, function() return rec.state == "TASK_KILLED" end, 30, "the task back, then killed")
    assert.are.equal(id, rec.id)
    d:stop() -- TEARDOWN
    h.poll_for(d, 0.1)
  end)

  it("a Lua executor keeps talking to the restarted scheduler over framework messages", function()
    -- The first scheduler launches the echo executor and dies once it has
    -- heard from it.
    local script = dir .. "/first-exec.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local mesos = require "mesos"
      local h = {}
      function h:offers(d, offers)
        if launched then return end
        launched = true
        local o = offers[1]
        d:launch(o.id, { { name = "echo", task_id = { value = "echo-task" }, agent_id = o.agent_id,
          resources = mesos.resources.parse("cpus:0.1;mem:32"), data = "x",
          executor = { executor_id = { value = "echo" },
            command = { value = "luajit %s/test/executors/echo.lua" } } } })
      end
      function h:message(d, agent_id, executor_id, data)
        if data:match("^subscribed") then
          local out = io.open("%s/exec.tmp", "w")
          out:write(d:framework_id(), " ", agent_id.value)
          out:close()
          os.rename("%s/exec.tmp", "%s/exec")
        end
      end
      mesos.scheduler(h, { master = "%s", framework = { name = "failover-exec", failover_timeout = 60 } }):run()
    ]]):format(os.getenv("PWD") or ".", dir, dir, dir, target.master()))
    f:close()
    local pid = tonumber(h.sh("luajit " .. script .. " > " .. dir .. "/first-exec.log 2>&1 & echo $!"):match("%d+"))
    local t0 = h.now()
    while not h.read_file(dir .. "/exec") do
      assert(h.now() - t0 < 30, "the first scheduler did not hear from its executor: "
        .. (h.read_file(dir .. "/first-exec.log") or ""))
      os.execute("sleep 0.05")
    end
    local id, agent = h.read_file(dir .. "/exec"):match("^(%S+) (%S+)$")
    os.execute("kill -9 " .. pid)

    local rec = { heard = {} }
    local handler = {}
    function handler:subscribed(d, info)
      rec.id = info.framework_id.value
      d:message(agent, "echo", "are you still there")
    end
    function handler:message(d, agent_id, executor_id, data)
      -- "ack ..." tells of a status update acknowledged: the first
      -- scheduler may have died before it acknowledged the executor's
      -- TASK_RUNNING, which the agent then sends to this one.
      if data:match("^ack ") then return end
      rec.heard[#rec.heard + 1] = executor_id.value .. ": " .. data
    end
    local d = mesos.scheduler(handler, {
      master = target.master(), framework = { name = "failover-exec", id = { value = id }, failover_timeout = 60 },
    })
    -- A failed assertion must not leave the framework holding offers.
    finally(function() d:abort() end)
    d:start()
    h.wait_until(d, function() return #rec.heard > 0 end, 30, "the executor's answer")
    assert.are.equal(id, rec.id)
    assert.are.same({ "echo: echo are you still there" }, rec.heard)
    d:stop() -- TEARDOWN: the agent shuts the executor down
    h.poll_for(d, 0.1)
  end)

  it("the old driver gets ERROR 'Framework failed over' and stops cleanly", function()
    local old = { disconnected = 0 }
    local a, b
    -- A failed assertion must not leave the frameworks holding offers.
    finally(function()
      a:abort()
      if b then b:abort() end
    end)
    a = mesos.scheduler({
      subscribed = function(_, _, info) old.id = info.framework_id.value end,
      error = function(_, _, msg) old.error = msg end,
      disconnected = function() old.disconnected = old.disconnected + 1 end,
      stopped = function(_, _, why) old.stopped = why end,
    }, { master = target.master(), framework = { name = "twice", failover_timeout = 60 } })
    a:start()
    h.wait_until(a, function() return old.id ~= nil end, 20, "the first SUBSCRIBED")
    local new = {}
    b = mesos.scheduler({ subscribed = function(_, _, info) new.id = info.framework_id.value end },
      { master = target.master(), framework = { name = "twice", id = { value = old.id }, failover_timeout = 60 } })
    b:start()
    h.wait_until(b, function() return new.id ~= nil end, 20, "the second SUBSCRIBED")
    h.wait_until(a, function() return a:state() == "stopped" and a:pending() == 0 end, 20, "the old driver to stop")
    assert.are.equal(old.id, new.id)
    assert.are.equal("Framework failed over", old.error)
    assert.matches("Framework failed over", old.stopped)
    assert.is_true(old.disconnected <= 1, "the old driver tried again " .. old.disconnected .. " times")
    -- The new one is unaffected.
    assert.are.equal("subscribed", b:state())
    b:stop()
    h.poll_for(b, 0.1)
  end)
end)
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
