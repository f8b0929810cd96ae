-- The mesos.events scenarios of test/events_spec.lua against a real Apache
-- Mesos 1.11 master and two agents: framework messages between the
-- scheduler's router and the Lua executors go through the real master and
-- agents; over NATS, only the launches do.
local h = require "test.helpers"
local real = require "test.realmesos"

local kit, nats_server
setup(function()
  -- Two agents that each fit one 1-cpu task (and the executor's share).
  kit = real.start { agents = 2, resources = "cpus:1.5;mem:1024;disk:1024" }
end)
teardown(function()
  if nats_server then assert.is_true(nats_server.stop()) end
  if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end
end)

local target = {
  name = "real Mesos 1.11",
  master = function() return "--master=" .. kit.master end,
  opts = function(o)
    o.master = kit.master
    return o
  end,
}
target.two_agents = target.opts

local between_tasks = require "test.scenarios.events"
between_tasks(target, "framework messages", function() return nil end)
between_tasks(target, "NATS", function()
  nats_server = nats_server or h.start_nats()
  return nats_server.url
end)
