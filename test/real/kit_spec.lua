-- The real-Mesos kit helper itself (test/realmesos.lua): a kit that cannot
-- start is an error that shows its log, another server on its port is not
-- taken for it, and a started kit gives executors this checkout's module
-- paths.
local h = require "test.helpers"
local real = require "test.realmesos"

describe("the real Mesos kit", function()
  it("is an error, with the kit's log, when it cannot start", function()
    local t0 = h.now()
    -- The agent refuses resources it cannot parse and exits.
    local ok, err = pcall(real.start, { resources = "cpus:lots", timeout = 30 })
    assert.is_false(ok)
    assert.matches("the real Mesos kit on port %d+ exited while starting", err)
    assert.matches("Failed to determine agent resources", err, 1, true)
    assert.is_true(h.now() - t0 < 30, "it waited for the deadline instead of noticing the exit")
  end)

  it("does not take another kit that answers on its port for its own", function()
    local first = real.start()
    finally(function() assert.is_true(first.stop()) end)
    local ok, err = pcall(real.start, { port = first.port, timeout = 30 })
    assert.is_false(ok)
    assert.are.equal(("the real Mesos kit found its port taken by another server (port %d)"):format(first.port), err)
    -- Without a fixed port, it moves on to a free one.
    local second = real.start()
    assert.are_not.equal(first.port, second.port)
    assert.is_true(second.stop())
  end)

  it("hands executors the module's paths and luajit through the agent's flags", function()
    local kit = real.start()
    finally(function() assert.is_true(kit.stop()) end)
    local flags = real.get(kit, "/slave(1)/flags") or ""
    assert.matches('"executor_environment_variables":', flags, 1, true)
    for _, v in pairs(real.executor_env()) do
      assert.truthy(flags:find(v, 1, true), v)
    end
    local mflags = real.get(kit, "/master/flags") or ""
    assert.matches('"allocation_interval":"100ms"', mflags, 1, true)
  end)
end)
