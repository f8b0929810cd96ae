-- MULTI_ROLE scenarios shared by test/roles_spec.lua (the embedded local
-- cluster) and test/real/roles_spec.lua (real Mesos 1.11): each offer is
-- allocated to one role, the driver gives LAUNCH resources without
-- allocation_info the offer's role, and what the master does with LAUNCH
-- resources with no, the right or another allocation role.
--
-- `target`:
--   name          what the describe blocks say they run against
--   opts(extra)   driver options for a new scheduler on the target
local h = require "test.helpers"
local mesos = h.mesos
local R = mesos.resources

local ROLES = { "web", "batch" }

local function other(role) return role == "web" and "batch" or "web" end

-- A driver for a MULTI_ROLE framework with ROLES that records, per role,
-- the offers it holds on to (the handler decides), every update by task id,
-- and every call it sends.
local function start(target, enc, on_offer)
  local rec = { updates = {}, sent = {}, offers = {}, errors = {} }
  local handler = {}
  function handler:offers(d, offers)
    for _, o in ipairs(offers) do
      local role = R.allocation_role(o)
      table.insert(rec.offers, o)
      if not on_offer(d, o, role) then d:decline(o.id, { refuse_seconds = 0 }) end
    end
  end
  function handler:update(d, s) rec.updates[s.task_id.value] = s end
  function handler:error(d, m) rec.errors[#rec.errors + 1] = m end
  local d = mesos.scheduler(handler, target.opts {
    encoding = enc, framework = { name = "roles-" .. enc, roles = ROLES },
  })
  -- Sees the calls the driver sends (after its own additions).
  local send = d._send
  d._send = function(self, call)
    rec.sent[#rec.sent + 1] = call
    return send(self, call)
  end
  return d, rec
end

local function final(s)
  return s and (s.state == "TASK_FINISHED" or s.state == "TASK_ERROR" or s.state == "TASK_FAILED"
    or s.state == "TASK_LOST" or s.state == "TASK_DROPPED")
end

local function define(target)
  for _, enc in ipairs { "protobuf", "json" } do
    describe("MULTI_ROLE framework over " .. enc .. " on " .. target.name, function()
      it("gets offers of each role, and launch gives the task's resources the offer's allocation role", function()
        local launched = {}
        local d, rec = start(target, enc, function(d, o, role)
          if launched[role] then return false end
          launched[role] = true
          -- Every resource of an offer is allocated to the offer's role.
          for _, r in ipairs(o.resources) do assert.are.equal(role, R.allocation_role(r)) end
          local task = h.command_task(o, "lib-" .. role .. "-" .. enc, "true")
          assert.is_nil(R.allocation_role(task.resources[1]))
          assert.is_true(R.fits(task.resources, o))
          assert.is_false(R.fits(R.allocate(task.resources, other(role)), o))
          d:launch(o.id, task)
          -- The caller's task is not changed.
          assert.is_nil(task.resources[1].allocation_info)
          -- The next offers go to the other role.
          d:suppress(role)
          return true
        end)
        finally(function() d:abort() end)
        d:start()
        h.wait_until(d, function() return final(rec.updates["lib-web-" .. enc]) and final(rec.updates["lib-batch-" .. enc]) end,
          30, "both tasks to end")
        for _, role in ipairs(ROLES) do
          local s = rec.updates["lib-" .. role .. "-" .. enc]
          assert.are.equal("TASK_FINISHED", s.state, s.message)
        end
        -- What went on the wire: each LAUNCH names its offer's role.
        local seen = {}
        for _, call in ipairs(rec.sent) do
          if call.type == "ACCEPT" then
            local task = call.accept.operations[1].launch.task_infos[1]
            local role = task.task_id.value:match("^lib%-(%a+)%-")
            seen[role] = true
            assert.are.equal("cpus(allocated: " .. role .. "):0.1;mem(allocated: " .. role .. "):32", R.format(task))
          end
        end
        assert.are.same({ web = true, batch = true }, seen)
        assert.are.same({}, rec.errors)
        d:stop()
      end)

      it("shows what the master does with LAUNCH resources with no, the right or another allocation role", function()
        -- One raw ACCEPT per offer, past the driver's additions (d:_send).
        local plan = { "none", "right", "wrong" }
        local n, roles = 0, {}
        local d, rec = start(target, enc, function(d, o, role)
          if n >= #plan then return false end
          n = n + 1
          local how = plan[n]
          local id = ("raw-%s-%s"):format(how, enc)
          roles[id] = role
          local task = h.command_task(o, id, "true")
          if how == "right" then task.resources = R.allocate(task.resources, role) end
          if how == "wrong" then task.resources = R.allocate(task.resources, other(role)) end
          d:_send { type = "ACCEPT", accept = { offer_ids = { o.id }, filters = { refuse_seconds = 0 },
            operations = { { type = "LAUNCH", launch = { task_infos = { task } } } } } }
          return true
        end)
        finally(function() d:abort() end)
        d:start()
        h.wait_until(d, function()
          for _, how in ipairs(plan) do
            if not final(rec.updates[("raw-%s-%s"):format(how, enc)]) then return false end
          end
          return true
        end, 30, "the three tasks to end")
        local none, right, wrong = rec.updates["raw-none-" .. enc], rec.updates["raw-right-" .. enc],
          rec.updates["raw-wrong-" .. enc]
        -- Without allocation_info the master uses the offer's role.
        assert.are.equal("TASK_FINISHED", none.state, none.message)
        assert.are.equal("TASK_FINISHED", right.state, right.message)
        -- Another role's allocation is refused.
        assert.are.equal("TASK_ERROR", wrong.state)
        assert.are.equal("REASON_TASK_INVALID", wrong.reason)
        assert.are.equal("SOURCE_MASTER", wrong.source)
        local offer_role = roles["raw-wrong-" .. enc]
        -- Real Mesos's words (the local cluster says the same): the
        -- resources are counted under their role, absent from the offer.
        local task_role = other(offer_role)
        assert.matches(("^Total resources cpus%%(allocated: %s%%):0%%.1; mem%%(allocated: %s%%):32 required by task"
          .. " and its executor is more than available .*cpus%%(allocated: %s%%):"):format(task_role, task_role, offer_role),
          wrong.message)
        d:stop()
      end)
    end)
  end
end

return h.scenarios(define)
