-- The control: the pymesos scenario of test/pymesos_spec.lua against a real
-- Apache Mesos 1.11 master and agent. When this fails too, the kit (not
-- lua-mesos) is the suspect.
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.pymesos" {
  name = "real Mesos 1.11",
  master = function() return kit.master end,
}
