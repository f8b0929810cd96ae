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

describe("scheduler driver on real Mesos 1.11", function()
  it("fills an empty framework user with the user it runs as, which the real master keeps", function()
    local h = require "test.helpers"
    local subscribed = false
    local d = h.mesos.scheduler({ subscribed = function() subscribed = true end },
      { master = kit.master, framework = { name = "blank-user", user = "" } })
    d:start()
    h.wait_until(d, function() return subscribed end, 20, "SUBSCRIBED")
    local frameworks = real.get(kit, "/master/frameworks") or ""
    local user = frameworks:match('"name":"blank%-user".-"user":"([^"]*)"')
      or frameworks:match('"user":"([^"]*)"[^{}]-"name":"blank%-user"')
    assert.are.equal(h.mesos.current_user(), user, frameworks)
    d:stop()
  end)

  it("finds the master given as a list with a dead one, as a URL and by host name", function()
    local h = require "test.helpers"
    for _, m in ipairs { "127.0.0.1:1," .. kit.master, kit.master .. ",127.0.0.1:1",
      "http://" .. kit.master, "localhost:" .. kit.port } do
      local subscribed = false
      local d = h.mesos.scheduler({ subscribed = function() subscribed = true end },
        { master = m, backoff_min = 0.05, backoff_max = 0.2 })
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return subscribed end, 20, "SUBSCRIBED through " .. m)
      assert.matches(":" .. kit.port .. "$", d:stats().master)
      d:stop()
    end
  end)
end)
