-- The scheduler-driver scenarios of test/scheduler_spec.lua against a real
-- Apache Mesos 1.11 master and agent (test/realmesos.lua).
local real = require "test.realmesos"

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.scheduler" {
  name = "real Mesos 1.11",
  opts = function(o) return real.driver_opts(kit, o) end,
  -- Hard-coded in the 1.11 master (no flag).
  heartbeat = 15,
  -- Command tasks run under the kit's stand-in command executor, which
  -- sends no TASK_STARTING.
  command_states = { "TASK_RUNNING", "TASK_FINISHED" },
}
