-- The operator API client and mesos-ctl against bin/mesos-local (the
-- scenarios are in test/scenarios/operator.lua; real Mesos runs them too,
-- test/real/operator_spec.lua).
local h = require "test.helpers"

local ml
setup(function() ml = h.start_mesos_local("--allocation-interval 0.05") end)
teardown(function() if ml then ml.stop() end end)

require "test.scenarios.operator" {
  name = "mesos-local",
  master = function() return ml.master end,
}
