-- A third-party client (pymesos from PyPI, unchanged) against mesos-local
-- (the scenario is in test/scenarios/pymesos.lua; real Mesos runs it too,
-- test/real/pymesos_spec.lua).
local h = require "test.helpers"

local ml
setup(function() ml = h.start_mesos_local("--allocation-interval 0.1") end)
teardown(function() if ml then assert(ml.stop(), "mesos-local did not exit on SIGTERM") end end)

require "test.scenarios.pymesos" {
  name = "mesos-local",
  master = function() return ml.master end,
}
