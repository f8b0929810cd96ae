-- A whole framework through the embedded local master, in both encodings.
local h = require "test.helpers"
local mesos = h.mesos

local function ids(offers)
  local out = {}
  for i, o in ipairs(offers) do out[i] = o.id end
  return out
end

for _, enc in ipairs { "protobuf", "json" } do
  describe("scheduler driver over " .. enc, function()
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
      local d = mesos.scheduler(handler, {
        master = "local", encoding = enc, local_cluster = h.local_opts(),
        framework = { name = "spec-" .. enc, roles = { "*" } },
      })
      assert.are.equal("idle", d:state())
      assert(d:start())
      h.wait_until(d, function() return rec.finished end, 30, "TASK_FINISHED")
      assert.are.equal("subscribed", d:state())
      assert.are.equal(rec.framework_id, d:framework_id())
      assert.are.equal(1, rec.heartbeat)
      assert.is_table(rec.master_info)
      assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
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
      local d = mesos.scheduler(handler, { master = "local", encoding = enc, local_cluster = h.local_opts() })
      d:start()
      h.wait_until(d, function() return rec.offers == 1 end, 20, "first offer")
      h.poll_for(d, 1.0) -- twenty allocation cycles
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
      local d = mesos.scheduler(handler, { master = "local", encoding = enc, local_cluster = h.local_opts() })
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
  end)
end

describe("scheduler driver", function()
  it("kills a running task", function()
    local rec = { states = {} }
    local handler = {}
    function handler:offers(d, offers)
      if rec.launched then return d:decline(ids(offers)) end
      rec.launched = true
      d:launch(offers[1].id, { h.command_task(offers[1], "sleeper", "sleep 100") })
    end
    function handler:update(d, s)
      table.insert(rec.states, s.state)
      if s.state == "TASK_RUNNING" then d:kill(s.task_id, s.agent_id) end
    end
    local d = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts() })
    d:start()
    h.wait_until(d, function() return rec.states[#rec.states] == "TASK_KILLED" end, 20, "TASK_KILLED")
    -- What it took, as driver:stats() counts it (the last acknowledgement
    -- is sent by the I/O thread after the handler returned).
    h.wait_until(d, function() return d:stats().calls_by_type.ACKNOWLEDGE == #rec.states end, 10, "acks")
    local st = d:stats()
    assert.are.equal(1, st.events_by_type.SUBSCRIBED)
    assert.is_true(st.events_by_type.OFFERS >= 1)
    assert.are.equal(#rec.states, st.events_by_type.UPDATE)
    assert.are.equal(1, st.calls_by_type.ACCEPT)
    assert.are.equal(1, st.calls_by_type.KILL)
    assert.are.equal(#rec.states, st.calls_by_type.ACKNOWLEDGE)
    assert.is_true(st.last_event_age >= 0 and st.last_event_age < 5, tostring(st.last_event_age))
    assert.matches("^http://127%.0%.0%.1:%d+$", st.master)
    assert.are.equal(1024, st.queue_size)
    assert.are.equal(0, st.reconnects)
    d:stop()
  end)

  it("fills an empty framework user with the user it runs as, as libmesos does", function()
    local c = assert(mesos.local_cluster(h.local_opts { port = 0 }))
    local subscribed = false
    local handler = { subscribed = function() subscribed = true end }
    local d = mesos.scheduler(handler, { master = c:url(), framework = { name = "blank-user", user = "" } })
    d:start()
    h.wait_until(d, function() return subscribed end, 20, "SUBSCRIBED")
    local me = h.sh("id -un"):gsub("%s+$", "")
    assert.are.equal(me, mesos.current_user())
    local state = h.sh("curl -s " .. c:url() .. "/master/state")
    local users = {}
    for u in state:gmatch('"user":"([^"]*)"') do users[#users + 1] = u end
    assert.are.same({ me }, users)
    d:stop()
    c:stop()
  end)

  it("propagates a handler error with its traceback and stays usable", function()
    local beats = 0
    local handler = {}
    function handler:subscribed() error("boom in subscribed") end
    function handler:heartbeat() beats = beats + 1 end
    local d = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts { heartbeat_interval = 0.2 } })
    d:start()
    local ok, err = pcall(h.wait_until, d, function() return false end, 20)
    assert.is_false(ok)
    assert.matches("handler:subscribed", err, 1, true)
    assert.matches("boom in subscribed", err, 1, true)
    assert.matches("stack traceback", err, 1, true)
    -- The driver goes on: heartbeats keep arriving.
    h.wait_until(d, function() return beats > 0 end, 20, "heartbeat after the error")
    assert.are.equal("subscribed", d:state())
    d:stop()
  end)

  it("keeps the fd readable exactly while events are queued", function()
    local d = mesos.scheduler({}, { master = "local", local_cluster = h.local_opts() })
    local fd = d:fd()
    assert.is_number(fd)
    assert.is_false(h.readable(fd, 0))
    d:start()
    assert.is_true(h.readable(fd, 10000), "SUBSCRIBED should wake the fd")
    local t0 = h.now()
    while d:pending() == 0 and h.now() - t0 < 5 do h.readable(fd, 100) end
    assert.is_true(d:pending() > 0)
    assert.are.equal(1, d:poll(0, 1))
    if d:pending() > 0 then assert.is_true(h.readable(fd, 0)) end
    d:poll(0)
    if d:pending() == 0 then assert.is_false(h.readable(fd, 0)) end
    d:stop(true)
  end)

  it("reports a call the master rejects through call_failed", function()
    local rec = {}
    local handler = {}
    function handler:subscribed(d)
      -- Mesos wants 16 raw bytes of uuid: the master answers 400.
      d:acknowledge("some-agent", "some-task", "short")
    end
    function handler:call_failed(d, ty, reason) rec.failed = { ty, reason } end
    local d = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts() })
    d:start()
    h.wait_until(d, function() return rec.failed end, 20, "call_failed")
    assert.are.equal("ACKNOWLEDGE", rec.failed[1])
    assert.matches("HTTP 400", rec.failed[2], 1, true)
    assert.matches("UUID", rec.failed[2], 1, true)
    assert.are.equal("subscribed", d:state())
    d:stop()
  end)

  it("reports an unreachable master through disconnected and failed calls", function()
    local rec = {}
    local handler = {}
    function handler:disconnected(d, reason) rec.reason = reason end
    function handler:call_failed(d, ty, reason) rec.failed = { ty, reason } end
    local d = mesos.scheduler(handler, { master = "127.0.0.1:1", backoff_min = 0.05, backoff_max = 0.1 })
    d:start()
    d:revive()
    h.wait_until(d, function() return rec.reason and rec.failed end, 10, "disconnected + call_failed")
    assert.matches("cannot connect", rec.reason)
    assert.are.equal("REVIVE", rec.failed[1])
    assert.matches("not subscribed", rec.failed[2])
    assert.are.equal("disconnected", d:state())
    d:abort()
  end)
end)

describe("misuse of the Lua API", function()
  local d
  setup(function() d = mesos.scheduler({}, { master = "127.0.0.1:1" }) end)
  teardown(function() d:abort() end)

  it("raises on bad constructor arguments", function()
    assert.has_error(function() mesos.scheduler("x") end, "mesos.scheduler: handler must be a table of methods, got string")
    local ok, err = pcall(mesos.scheduler, {}, { encoding = "xml" })
    assert.matches('opts.encoding must be "protobuf" or "json"', err, 1, true)
    ok, err = pcall(mesos.scheduler, {}, { master = 5050 })
    assert.matches("opts.master must be a string", err, 1, true)
    ok, err = pcall(mesos.scheduler, {}, { master = "host:notaport" })
    assert.matches("invalid master", err, 1, true)
    -- Out of range seconds: an error naming the option, not a Rust panic.
    ok, err = pcall(mesos.scheduler, {}, { master = "127.0.0.1:1", call_timeout = 1e300 })
    assert.is_false(ok)
    assert.matches("opts.call_timeout must be a non-negative number of seconds", err, 1, true)
    ok, err = pcall(mesos.scheduler, {}, { master = "127.0.0.1:1", framework = { name = 7 } })
    assert.matches("framework", err, 1, true)
    assert.matches("name: expected a string", err, 1, true)
  end)

  it("raises naming the field for malformed calls", function()
    local ok, err = pcall(d.launch, d, "o1", { { name = "t", task_id = "t1", agent_id = "a1", resources = 5 } })
    assert.is_false(ok)
    assert.matches("bad ACCEPT call", err, 1, true)
    assert.matches("accept.operations[1].launch.task_infos[1].resources: expected a list", err, 1, true)
    ok, err = pcall(d.kill, d)
    assert.matches("missing required field kill.task_id", err, 1, true)
    ok, err = pcall(d.launch, d, "o1", { { task_id = "t1", agent_id = "a1" } })
    assert.matches("task_infos[1].name", err, 1, true)
    ok, err = pcall(d.decline, d, 42)
    assert.matches("offer_ids", err, 1, true)
    ok, err = pcall(d.acknowledge, d, { task_id = "t", agent_id = "a" })
    assert.matches("no uuid", err, 1, true)
    ok, err = pcall(d.message, d, "a", "e", {})
    assert.matches("message.data: expected a string", err, 1, true)
  end)

  it("accepts ids as strings or {value=...}", function()
    assert.is_true(d:decline({ "o1", { value = "o2" } }))
    assert.is_true(d:kill("t1", { value = "a1" }))
  end)
end)

describe("driver:reconcile", function()
  it("takes task ids in every shape, and still words the error for a bad one", function()
    local view = require "mesos.view"
    local answers = {}
    local handler = {}
    function handler:offers(d, offers)
      local ids = {}
      for i, o in ipairs(offers) do ids[i] = o.id end
      d:decline(ids, { refuse_seconds = 3600 })
    end
    function handler:update(_, st)
      answers[st.task_id.value] = { state = st.state, agent = st.agent_id and st.agent_id.value }
    end
    local d = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts() })
    assert(d:start())
    h.wait_until(d, function() return d:state() == "subscribed" end, 20, "subscribed")
    local tid = assert(view.decode("TaskID", mesos.encode("TaskID", { value = "e" })))
    local aid = assert(view.decode("AgentID", mesos.encode("AgentID", { value = "ag2" })))
    assert(d:reconcile { "a", { value = "b" }, { task_id = "c" }, { task_id = { value = "d" }, agent_id = "ag" },
      tid, { task_id = tid, agent_id = aid } })
    -- A shape only the general path takes: a status-like table with a
    -- metatable.
    assert(d:reconcile { setmetatable({}, { __index = { task_id = { value = "f" } } }) })
    h.wait_until(d, function()
      for _, k in ipairs { "a", "b", "c", "d", "e", "f" } do
        if not answers[k] then return false end
      end
      return true
    end, 20, "every answer")
    for _, k in ipairs { "a", "b", "c", "d", "e", "f" } do assert.are.equal("TASK_LOST", answers[k].state, k) end
    assert.are.equal("ag", answers.d.agent)
    assert.has_error(function() d:reconcile { 42 } end)
    local ok, err = pcall(d.reconcile, d, { { task_id = 42 } })
    assert.is_false(ok)
    assert.matches("task_id", err)
    d:stop()
  end)
end)
