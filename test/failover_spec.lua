-- Framework failover with the driver against bin/mesos-local (the
-- scenarios are in test/scenarios/failover.lua; real Mesos runs them too,
-- test/real/failover_spec.lua).
local h = require "test.helpers"

local ml
setup(function() ml = h.start_mesos_local("--allocation-interval 0.05 --heartbeat-interval 0.5") end)
teardown(function() if ml then ml.stop() end end)

require "test.scenarios.failover" {
  name = "mesos-local",
  master = function() return ml.master end,
}
