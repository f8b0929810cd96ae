-- The mesos.executor scenarios of test/executor_spec.lua against a real
-- Apache Mesos 1.11 agent: the Lua executors are started by the real agent
-- (real MesosContainerizer launch code, clean environment) and talk to the
-- real v1 executor API.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.executor" {
  name = "real Mesos 1.11",
  opts = function(o) return real.driver_opts(kit, o) end,
  -- In local mode the real agent lets executors inherit its stdio.
  log = function() return kit.log() end,
}
