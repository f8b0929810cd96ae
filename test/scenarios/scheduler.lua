-- Scheduler-driver scenarios shared by test/scheduler_spec.lua (the
-- embedded local cluster) and test/real/scheduler_spec.lua (real Mesos).
--
-- `target`:
--   name            what the describe blocks say they run against
--   opts(extra)     driver options for a new scheduler on the target (a
--                   function: a real kit is only up once setup ran)
--   heartbeat       the heartbeat_interval_seconds SUBSCRIBED carries
--   command_states  the updates a command task sends on its way to FINISHED
local h = require "test.helpers"
local mesos = h.mesos

local function ids(offers)
  local out = {}
  for i, o in ipairs(offers) do out[i] = o.id end
  return out
end

local function define(target)
for _, enc in ipairs { "protobuf", "json" } do
  describe("scheduler driver over " .. enc .. " on " .. target.name, function()
    it("subscribes, launches a command task, acks, reconciles and tears down", function()
      local dir = h.tmpdir()
      local task_id = "hello-" .. enc
      local rec = { states = {}, reconciled = {}, offers = 0 }
      local handler = {}
      function handler:subscribed(d, info)
        rec.framework_id = info.framework_id.value
        rec.heartbeat = info.heartbeat_interval_seconds
        rec.master_info = info.master_info
      end
      function handler:offers(d, offers)
        rec.offers = rec.offers + #offers
        if rec.launched then
          d:decline(ids(offers))
          return
        end
        rec.launched = true
        local o = offers[1]
        rec.agent_id = o.agent_id
        assert(mesos.resources.scalar(o, "cpus") > 0)
        d:launch(o.id, { h.command_task(o, task_id,
          ("printf hello > %s/out; printf %%s \"$MESOS_SANDBOX\" > %s/sandbox"):format(dir, dir)) })
      end
      function handler:update(d, status)
        if status.reason == "REASON_RECONCILIATION" then
          rec.reconciled[status.task_id.value] = status
          return
        end
        table.insert(rec.states, status.state)
        assert.are.equal(16, #status.uuid)
        assert.are.equal("SOURCE_EXECUTOR", status.source)
        if status.state == "TASK_FINISHED" then
          rec.finished = true
          d:reconcile { { task_id = task_id, agent_id = status.agent_id }, "no-such-task" }
        end
      end
      local d = mesos.scheduler(handler, target.opts {
        encoding = enc, framework = { name = "spec-" .. enc, roles = { "*" } },
      })
      assert.are.equal("idle", d:state())
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      assert(d:start())
      h.wait_until(d, function() return rec.finished end, 30, "TASK_FINISHED")
      assert.are.equal("subscribed", d:state())
      assert.are.equal(rec.framework_id, d:framework_id())
      assert.are.equal(target.heartbeat, rec.heartbeat)
      assert.is_table(rec.master_info)
      assert.are.same(target.command_states, rec.states)
      assert.are.equal("hello", h.read_file(dir .. "/out"))
      local sandbox = h.read_file(dir .. "/sandbox")
      assert.truthy(sandbox and #sandbox > 0)

      h.wait_until(d, function() return rec.reconciled[task_id] and rec.reconciled["no-such-task"] end, 20,
        "reconciliation answers")
      local known, unknown = rec.reconciled[task_id], rec.reconciled["no-such-task"]
      assert.are.equal("TASK_FINISHED", known.state)
      assert.is_nil(known.uuid)
      assert.are.equal("SOURCE_MASTER", known.source)
      assert.are.equal("TASK_LOST", unknown.state)
      assert.is_nil(unknown.uuid)

      -- Implicit acknowledgements happened: no update is retried.
      local before = #rec.states
      h.poll_for(d, 1.2)
      assert.are.equal(before, #rec.states)

      function handler:disconnected(d, reason) rec.disconnected = reason end
      assert(d:stop())
      assert.are.equal("stopped", d:state())
      d:poll(0)
      assert.is_nil(rec.disconnected, "TEARDOWN closing the stream is not a disconnection")
      local ok, err = d:revive()
      assert.is_nil(ok)
      assert.matches("stopped", err)
      os.execute("rm -rf " .. dir)
    end)

    it("honours decline filters and revive", function()
      local rec = { offers = 0 }
      local handler = {}
      function handler:offers(d, offers)
        rec.offers = rec.offers + #offers
        d:decline(ids(offers), { refuse_seconds = 3600 })
      end
      local d = mesos.scheduler(handler, target.opts { encoding = enc })
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return rec.offers == 1 end, 20, "first offer")
      h.poll_for(d, 1.0) -- many allocation cycles
      assert.are.equal(1, rec.offers, "declined agent offered again inside its filter")
      d:revive()
      h.wait_until(d, function() return rec.offers == 2 end, 20, "offer after revive")
      d:stop()
    end)

    it("gets the Mesos failure updates for a bad ACCEPT", function()
      local rec = { updates = {} }
      local handler = {}
      function handler:offers(d, offers)
        if rec.sent then return d:decline(ids(offers)) end
        rec.sent = true
        local o = offers[1]
        -- An offer id the master never made.
        d:launch({ value = "bogus-offer" }, { h.command_task(o, "t-lost", "true") })
        -- More cpus than offered.
        d:launch(o.id, { h.command_task(o, "t-error", "true", "cpus:1000;mem:32") })
      end
      function handler:update(d, s) rec.updates[s.task_id.value] = s end
      local d = mesos.scheduler(handler, target.opts { encoding = enc })
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return rec.updates["t-lost"] and rec.updates["t-error"] end, 20, "failure updates")
      local lost, bad = rec.updates["t-lost"], rec.updates["t-error"]
      assert.are.equal("TASK_LOST", lost.state)
      assert.are.equal("REASON_INVALID_OFFERS", lost.reason)
      assert.are.equal("SOURCE_MASTER", lost.source)
      assert.is_nil(lost.uuid)
      assert.are.equal("TASK_ERROR", bad.state)
      assert.are.equal("REASON_TASK_INVALID", bad.reason)
      d:stop()
    end)

    it("reconciles implicitly, then kills a running task", function()
      local rec = { states = {} }
      local handler = {}
      function handler:offers(d, offers)
        if rec.launched then return d:decline(ids(offers)) end
        rec.launched = true
        d:launch(offers[1].id, { h.command_task(offers[1], "sleeper", "sleep 100") })
      end
      function handler:update(d, s)
        if s.reason == "REASON_RECONCILIATION" then
          rec.implicit = s
          -- The master knows the task runs: now kill it.
          d:kill(s.task_id, s.agent_id)
          return
        end
        table.insert(rec.states, s.state)
        -- Implicit reconciliation: no task named, the master answers for every
        -- task it knows of this framework.
        if s.state == "TASK_RUNNING" then d:reconcile {} end
      end
      local d = mesos.scheduler(handler, target.opts { encoding = enc })
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return rec.states[#rec.states] == "TASK_KILLED" end, 20, "TASK_KILLED")
      assert.are.same({ "sleeper", "TASK_RUNNING", "SOURCE_MASTER" },
        { rec.implicit.task_id.value, rec.implicit.state, rec.implicit.source })
      assert.is_nil(rec.implicit.uuid)
      -- What it took, as driver:stats() counts it (the last acknowledgement
      -- is sent by the I/O thread after the handler returned).
      h.wait_until(d, function() return d:stats().calls_by_type.ACKNOWLEDGE == #rec.states end, 10, "acks")
      local st = d:stats()
      assert.are.equal(1, st.events_by_type.SUBSCRIBED)
      assert.is_true(st.events_by_type.OFFERS >= 1)
      assert.are.equal(#rec.states + 1, st.events_by_type.UPDATE)
      assert.are.equal(1, st.calls_by_type.ACCEPT)
      assert.are.equal(1, st.calls_by_type.RECONCILE)
      assert.are.equal(1, st.calls_by_type.KILL)
      assert.are.equal(#rec.states, st.calls_by_type.ACKNOWLEDGE)
      assert.is_true(st.last_event_age >= 0 and st.last_event_age < 5, tostring(st.last_event_age))
      assert.matches("^http://127%.0%.0%.1:%d+$", st.master)
      assert.are.equal(1024, st.queue_size)
      assert.are.equal(0, st.reconnects)
      d:stop()
    end)

    it("has the master take the other calls: suppress/revive by role, UPDATE_FRAMEWORK, REQUEST, "
      .. "RECONCILE_OPERATIONS, 1 MiB messages both ways, SHUTDOWN of an executor", function()
      local rec = { failed = {}, offers = 0 }
      local handler = {}
      function handler:offers(d, offers)
        rec.offers = rec.offers + 1
        if rec.launched or rec.offers < 2 then return d:decline(ids(offers)) end
        rec.launched = true
        local o = offers[1]
        rec.agent_id = o.agent_id
        d:launch(o.id, { {
          name = "echo", task_id = { value = "e1" }, agent_id = o.agent_id,
          resources = mesos.resources.parse("cpus:0.1;mem:32"),
          executor = {
            executor_id = { value = "echo" },
            command = { value = ("luajit %s/test/executors/echo.lua"):format(os.getenv("PWD") or ".") },
          },
        } })
      end
      function handler:message(d, _, _, data) rec.echo = data end
      function handler:failure(d, info) rec.failure = info end
      function handler:call_failed(d, ty, reason) rec.failed[#rec.failed + 1] = ty .. ": " .. reason end
      local d = mesos.scheduler(handler, target.opts {
        encoding = enc,
        framework = { name = "calls", roles = { "*" }, capabilities = { { type = "MULTI_ROLE" } } },
      })
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return rec.offers == 1 end, 20, "the first offer")
      assert(d:suppress { "*" })
      assert(d:request {})
      assert(d:reconcile_operations {})
      assert(d:update_framework { name = "calls, renamed", user = mesos.current_user(), roles = { "*" }, capabilities = { { type = "MULTI_ROLE" } } })
      assert(d:revive { "*" })
      h.wait_until(d, function() return rec.echo end, 30, "the executor's first message")
      local big = string.rep("0123456789abcdef", 64 * 1024)
      d:message(rec.agent_id, { value = "echo" }, big)
      h.wait_until(d, function() return rec.echo == "echo " .. big end, 30, "the 1 MiB echo")
      d:shutdown({ value = "echo" }, rec.agent_id)
      h.wait_until(d, function() return rec.failure end, 30, "the executor's end")
      assert.are.same({ "echo", 0 }, { rec.failure.executor_id.value, rec.failure.status })
      assert.are.same({}, rec.failed)
      assert.are.equal(1, d:stats().calls_by_type.UPDATE_FRAMEWORK)
      d:stop()
    end)

    it("reports a call the master rejects through call_failed", function()
      local rec = {}
      local handler = {}
      function handler:subscribed(d)
        -- Mesos wants 16 raw bytes of uuid: the master answers 400.
        d:acknowledge("some-agent", "some-task", "short")
      end
      function handler:call_failed(d, ty, reason) rec.failed = { ty, reason } end
      local d = mesos.scheduler(handler, target.opts { encoding = enc })
      -- A failed assertion must not leave the framework holding offers.
      finally(function() d:abort() end)
      d:start()
      h.wait_until(d, function() return rec.failed end, 20, "call_failed")
      assert.are.equal("ACKNOWLEDGE", rec.failed[1])
      assert.matches("HTTP 400", rec.failed[2], 1, true)
      assert.matches("UUID", rec.failed[2], 1, true)
      assert.are.equal("subscribed", d:state())
      d:stop()
    end)
  end)
end
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
