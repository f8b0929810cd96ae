-- Roles on a real Apache Mesos 1.11 master and agent (test/realmesos.lua):
-- the MULTI_ROLE scenarios of test/roles_spec.lua, then static reservations
-- in the offers' legacy and refinement formats.
local real = require "test.realmesos"
local h = require "test.helpers"
local mesos = h.mesos
local R = mesos.resources

local kit
setup(function() kit = real.start() end)
teardown(function() if kit then assert(kit.stop(), "the kit did not exit on SIGTERM") end end)

require "test.scenarios.roles" {
  name = "real Mesos 1.11",
  opts = function(o) return real.driver_opts(kit, o) end,
  -- Mesos gives the task's resources their own allocation role and finds
  -- them missing from the offer (src/master/validation.cpp).
}

describe("reserved resources on real Mesos 1.11", function()
  local rkit
  setup(function()
    rkit = real.start { resources = "cpus:2;mem:1024;disk:1000;ports:[31000-31100];cpus(web):1;mem(web):256" }
  end)
  teardown(function() if rkit then assert(rkit.stop(), "the kit did not exit on SIGTERM") end end)

  for _, refinement in ipairs { false, true } do
    it("reads, fits and launches on static reservations " .. (refinement and "with" or "without")
      .. " RESERVATION_REFINEMENT", function()
      local caps = { { type = "MULTI_ROLE" } }
      if refinement then caps[2] = { type = "RESERVATION_REFINEMENT" } end
      local want = "cpus(web):0.5;mem(web):64"
      local id = "reserved-" .. tostring(refinement)
      local rec = { updates = {}, batch = 0 }
      local handler = {}
      function handler:offers(d, offers)
        for _, o in ipairs(offers) do
          local role = R.allocation_role(o)
          local reserved = R.filter(o, { reserved = true })
          if role == "batch" then
            rec.batch = rec.batch + 1
            assert.are.same({}, reserved)
            assert.is_false(R.fits(want, o))
            d:decline(o.id, { refuse_seconds = 0 })
          elseif rec.launched or #reserved == 0 then
            d:decline(o.id, { refuse_seconds = 0 })
          else
            rec.launched = true
            assert.are.equal("web", role)
            assert.are.equal("cpus(web)(allocated: web):1;mem(web)(allocated: web):256", R.format(reserved))
            for _, r in ipairs(reserved) do
              if refinement then
                assert.are.same({ { type = "STATIC", role = "web" } }, r.reservations)
                assert.is_nil(r.role)
              else
                assert.are.equal("web", r.role)
                assert.is_nil(r.reservations)
              end
            end
            assert.is_true(R.fits(want, o))
            assert.is_false(R.fits("cpus(web):1.5", o))
            local left = R.filter(R.subtract(o, want), { reserved = true })
            assert.are.equal("cpus(web)(allocated: web):0.5;mem(web)(allocated: web):192", R.format(left))
            d:launch(o.id, { name = id, task_id = { value = id }, agent_id = o.agent_id,
              resources = R.parse(want), command = { value = "true" } })
          end
        end
      end
      function handler:update(d, s) rec.updates[s.task_id.value] = s end
      local d = mesos.scheduler(handler, real.driver_opts(rkit, {
        framework = { name = id, roles = { "web", "batch" }, capabilities = caps } }))
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function()
        local s = rec.updates[id]
        return s and s.state ~= "TASK_RUNNING" and s.state ~= "TASK_STARTING" and rec.batch > 0
      end, 30, "the task on reserved resources, and a batch offer")
      local s = rec.updates[id]
      assert.are.equal("TASK_FINISHED", s.state, s.message)
      d:stop()
    end)
  end
end)
