-- The scenarios of test/map_spec.lua (mesos.map and mesolua on warm
-- workers) against a real Apache Mesos 1.11 master and agent.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.map" {
  name = "real Mesos 1.11",
  master = function() return "--master=" .. kit.master end,
  opts = function(o)
    o.master = kit.master
    return o
  end,
}
