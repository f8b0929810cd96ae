-- mesos.events scenarios shared by test/events_spec.lua (the embedded local
-- cluster) and test/real/events_spec.lua (real Mesos): tasks talking to
-- each other and to the framework through the scheduler's router, over
-- framework messages (through the master) or NATS.
--
-- `target`:
--   name              what the describe blocks say they run against
--   master()          the --master flag for mesolua ("" for its default, local)
--   opts(extra)       options for mesos.map/jobs.run_all on the target
--   two_agents(extra) the same, on a cluster of two agents that each fit
--                     one task of 1 cpu and no second one
local h = require "test.helpers"
local mesos = h.mesos
local jobs = require "mesos.jobs"

-- The same tests over each transport: `url()` is nil (framework messages) or
-- the NATS server's URL.
local function between_tasks(target, transport, url)
describe("mesos.events between tasks on " .. target.name .. " over " .. transport, function()
  it("runs a distributed reduce with mesolua: N tasks publish partial sums, task 1 combines them", function()
    local dir = h.tmpdir()
    local f = assert(io.open(dir .. "/reduce.lua", "w"))
    f:write([[
      local n = tonumber((...))
      if TASK_INDEX == 1 then
        assert(events.subscribe("partial"))
        assert(events.publish("go", true, { retain = true }))
        local total, from = 0, {}
        for _ = 1, n - 1 do
          local v, who = assert(events.receive("partial", 60))
          total, from[#from + 1] = total + v, who
        end
        return total, #from
      end
      assert(events.subscribe("go"))
      assert(events.receive("go", 60))
      local s = 0
      for i = 1, 1000 do s = s + i * TASK_INDEX end
      assert(events.publish("partial", s))
      return s
    ]])
    f:close()
    local nats = url() and (" --nats=" .. url()) or ""
    local out, code = h.sh("bin/mesolua --quiet --tasks 8 " .. target.master() .. nats .. " " .. dir .. "/reduce.lua 8")
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    local expected = 0
    for i = 2, 8 do
      expected = expected + 500500 * i
      assert.are.equal(tostring(500500 * i), lines[i])
    end
    assert.are.equal(("%d\t7"):format(expected), lines[1])
  end)

  it("plays ping-pong between two tasks on two agents, in order", function()
    local code = [[
      local role, rounds = ...
      local me, other = role, role == "ping" and "pong" or "ping"
      assert(events.subscribe(me))
      assert(events.publish("ready." .. me, true, { retain = true }))
      assert(events.subscribe("ready." .. other))
      assert(events.receive("ready." .. other, 60))
      local got = {}
      for i = 1, rounds do
        if role == "ping" then
          assert(events.publish("pong", i))
          got[i] = assert(events.receive("ping", 60))
        else
          got[i] = assert(events.receive("pong", 60))
          assert(events.publish("ping", got[i] * 10))
        end
      end
      return table.concat(got, ",")
    ]]
    local router = mesos.router { nats = url() }
    local res = assert(jobs.run_all(
      { { code = code, args = { "ping", 100 } }, { code = code, args = { "pong", 100 } } },
      target.two_agents { cpus = 1, events = router }))
    local pings, pongs = {}, {}
    for i = 1, 100 do pings[i], pongs[i] = i * 10, i end
    assert.is_true(res[1].ok, res[1].error)
    assert.are.equal(table.concat(pings, ","), res[1].values[1])
    assert.are.equal(table.concat(pongs, ","), res[2].values[1])
    assert.are_not.equal(res[1].agent_id, res[2].agent_id)
    -- Both tasks ended: so did their subscriptions.
    assert.are.equal(0, router:stats().topics)
    router:close()
  end)

  it("lets the framework's code publish to tasks and hear from them", function()
    local router = mesos.router { nats = url() }
    assert(router:publish("config", { factor = 3 }, { retain = true }))
    local heard = {}
    router:subscribe("progress", function(v, from) heard[#heard + 1] = v .. "@" .. from:match("%d+$") end)
    local out = assert(mesos.map([[
      local i = ...
      assert(events.subscribe("config"))
      local cfg = assert(events.receive("config", 60))
      assert(events.publish("progress", i * cfg.factor))
      return i * cfg.factor
    ]], { 1, 2, 3 }, target.opts { events = router }))
    assert.are.same({ 3, 6, 9 }, { out[1], out[2], out[3] })
    table.sort(heard)
    assert.are.same({ "3@1", "6@2", "9@3" }, heard)
    router:close()
  end)

  it("keeps events inside the sandbox's rules: values must serialise", function()
    local r = assert(jobs.run_all({ { code = [[
      local ok, err = events.publish("x", function() end)
      local ok2, err2 = pcall(events.receive, "not-mine", 0)
      return ok, err, ok2, err2
    ]] } }, target.opts { nats = url() }))
    local v = r[1].values
    assert.is_true(r[1].ok, r[1].error)
    assert.is_nil(v[1])
    assert.matches("events.publish: .*function", v[2])
    assert.is_false(v[3])
    assert.matches("not subscribed to topic not%-mine", v[4])
  end)
end)
end

-- Called by a spec file with its target, transport name and NATS URL function.
return h.scenarios(between_tasks)
