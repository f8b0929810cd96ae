-- HTTP Basic authentication of schedulers against `mesos-local
-- --credentials FILE` (the scenarios are in test/scenarios/auth.lua; real
-- Mesos runs them too, test/real/auth_spec.lua).
local h = require "test.helpers"

require "test.scenarios.auth" {
  name = "mesos-local",
  start = function(credentials)
    return h.start_mesos_local("--allocation-interval 0.1 --credentials " .. credentials)
  end,
}
