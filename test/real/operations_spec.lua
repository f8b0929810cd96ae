-- Offer operations the embedded local cluster does not have (it offers
-- unreserved resources only), against a real Mesos 1.11 master, in both
-- encodings: RESERVE with labels, a task on the reserved resources with
-- labels and a kill policy, KILL with a grace period, UNRESERVE; and a
-- failover stop, which leaves the framework to the master, inactive.
local h = require "test.helpers"
local real = require "test.realmesos"
local mesos = h.mesos

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

-- The offer's resources reserved for `role`, or nil.
local function reserved(offer)
  local out = {}
  for _, r in ipairs(offer.resources) do
    if r.reservations and #r.reservations > 0 then out[#out + 1] = r end
  end
  return #out > 0 and out or nil
end

for _, enc in ipairs { "protobuf", "json" } do
  describe("offer operations on real Mesos 1.11 over " .. enc, function()
    it("reserve, launch on the reservation, kill with a grace period, unreserve; a failover stop keeps the framework", function()
      local role = "ops-" .. enc
      local reservation = { type = "DYNAMIC", role = role, principal = "spec",
        labels = { labels = { { key = "owner", value = "lua-mesos" } } } }
      local cpus = { name = "cpus", type = "SCALAR", scalar = { value = 0.5 }, allocation_info = { role = role },
        reservations = { reservation } }
      local rec = { offers = {}, states = {}, failed = {} }
      local handler = {}
      function handler:offers(d, offers) for _, o in ipairs(offers) do rec.offers[#rec.offers + 1] = o end end
      function handler:update(d, s) rec.states[#rec.states + 1] = s.state end
      function handler:call_failed(d, ty, why) rec.failed[#rec.failed + 1] = ty .. ": " .. why end
      local d = mesos.scheduler(handler, real.driver_opts(kit, {
        encoding = enc,
        framework = { name = "operations", principal = "spec", roles = { role }, failover_timeout = 60,
          capabilities = { { type = "MULTI_ROLE" }, { type = "RESERVATION_REFINEMENT" } } },
      }))
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      -- The next offer that has (or, with want = false, has not) a reservation.
      local function next_offer(want)
        local found
        h.wait_until(d, function()
          while #rec.offers > 0 do
            local o = table.remove(rec.offers, 1)
            if (reserved(o) ~= nil) == want then found = o return true end
            d:decline(o.id, { refuse_seconds = 0 })
          end
          return false
        end, 20, want and "an offer with the reservation" or "an offer without reservations")
        return found
      end

      local o = next_offer(false)
      assert(d:accept(o.id, { { type = "RESERVE", reserve = { resources = { cpus } } } }, { refuse_seconds = 0 }))
      o = next_offer(true)
      local r = reserved(o)
      assert.are.equal(1, #r)
      assert.are.same({ "cpus", 0.5, role, "DYNAMIC", "owner", "lua-mesos" }, { r[1].name, r[1].scalar.value,
        r[1].reservations[1].role, r[1].reservations[1].type, r[1].reservations[1].labels.labels[1].key,
        r[1].reservations[1].labels.labels[1].value })

      d:launch(o.id, { {
        name = "on a reservation", task_id = { value = "reserved-task" }, agent_id = o.agent_id,
        resources = { cpus, { name = "mem", type = "SCALAR", scalar = { value = 32 }, allocation_info = { role = role } } },
        command = { value = "sleep 100" },
        labels = { labels = { { key = "spec", value = enc } } },
        kill_policy = { grace_period = { nanoseconds = 500000000 } },
      } }, { refuse_seconds = 0 })
      h.wait_until(d, function() return rec.states[#rec.states] == "TASK_RUNNING" end, 20, "TASK_RUNNING")
      local state = real.get(kit, "/master/tasks") or ""
      assert.truthy(state:find('"key":"spec","value":"' .. enc .. '"', 1, true), state)
      assert(d:kill("reserved-task", o.agent_id, { grace_period = { nanoseconds = 100000000 } }))
      h.wait_until(d, function() return rec.states[#rec.states] == "TASK_KILLED" end, 20, "TASK_KILLED")

      o = next_offer(true)
      assert(d:accept(o.id, { { type = "UNRESERVE", unreserve = { resources = reserved(o) } } }, { refuse_seconds = 0 }))
      o = next_offer(false)
      d:decline(o.id)
      assert.are.same({}, rec.failed)

      local id = d:framework_id()
      assert(d:stop(true))
      local frameworks = real.get(kit, "/master/frameworks") or ""
      local mine
      for obj in (frameworks:match('"frameworks":(%b[])') or ""):gmatch("%b{}") do
        if obj:find('"id":"' .. id .. '"', 1, true) then mine = obj end
      end
      assert.truthy(mine, frameworks)
      assert.truthy(mine:find('"active":false', 1, true), mine)
    end)
  end)
end
