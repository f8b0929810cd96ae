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
