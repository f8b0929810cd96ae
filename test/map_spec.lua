-- mesos.map and mesolua on warm workers (items in batches, per-item
-- results and errors, retries, timeouts, closures) on the embedded local
-- cluster; test/real/map_spec.lua runs the same against real Mesos.
local h = require "test.helpers"

require "test.scenarios.map" {
  name = "the embedded local cluster",
  master = function() return "" end,
  opts = function(o)
    o.local_cluster = h.local_opts()
    return o
  end,
}
