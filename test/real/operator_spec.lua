-- The operator API scenarios of test/operator_spec.lua against a real
-- Apache Mesos 1.11 master and agent.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.operator" {
  name = "real Mesos 1.11",
  master = function() return kit.master end,
}
