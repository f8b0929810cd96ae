-- A real Mesos 1.11 master that goes away and comes back on the same
-- address (a new master and agent, nothing recovered): the driver
-- reconnects on its own, subscribes again with its framework id, which the
-- new master takes, and gets the new agent's offers.
local h = require "test.helpers"
local real = require "test.realmesos"

describe("scheduler driver and a restarted real Mesos 1.11 master", function()
  it("subscribes again with its framework id and gets the new agent's offers", function()
    local kits, d = { real.start() }, nil
    finally(function()
      if d then d:abort() end
      for _, k in ipairs(kits) do k.stop() end
    end)
    local rec = { subscribed = {}, offers_from = {}, disconnected = 0 }
    local handler = {}
    function handler:subscribed(d, info) rec.subscribed[#rec.subscribed + 1] = info.framework_id.value end
    function handler:offers(d, offers)
      for _, o in ipairs(offers) do rec.offers_from[o.agent_id.value] = true end
      d:decline(offers[1].id)
    end
    function handler:disconnected() rec.disconnected = rec.disconnected + 1 end
    d = h.mesos.scheduler(handler, {
      master = kits[1].master, backoff_min = 0.1, backoff_max = 0.5,
      framework = { name = "master-restart", failover_timeout = 60 },
    })
    d:start()
    h.wait_until(d, function() return next(rec.offers_from) ~= nil end, 20, "the first agent's offer")
    local first_agent = next(rec.offers_from)
    assert.is_true(kits[1].stop())
    h.wait_until(d, function() return rec.disconnected > 0 end, 20, "the disconnection")
    kits[2] = real.start { port = kits[1].port }
    h.wait_until(d, function() return #rec.subscribed == 2 end, 30, "the second SUBSCRIBED")
    h.wait_until(d, function()
      for agent in pairs(rec.offers_from) do if agent ~= first_agent then return true end end
      return false
    end, 30, "an offer from the new agent")
    assert.are.equal(rec.subscribed[1], rec.subscribed[2])
    assert.are.equal("subscribed", d:state())
    local frameworks = real.get(kits[2], "/master/frameworks") or ""
    assert.truthy(frameworks:find('"id":"' .. rec.subscribed[1] .. '"', 1, true), frameworks)
    d:stop()
  end)
end)
