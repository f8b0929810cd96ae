-- The examples that take a master (test/examples_spec.lua) against a real
-- Apache Mesos 1.11 master and agent.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.examples" {
  name = "real Mesos 1.11",
  master_arg = function() return " " .. kit.master end,
}
