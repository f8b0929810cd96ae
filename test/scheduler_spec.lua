-- A whole framework through the embedded local master, in both encodings.
local h = require "test.helpers"
local mesos = h.mesos

-- The scenarios real Mesos runs too (test/real/scheduler_spec.lua).
require "test.scenarios.scheduler" {
  name = "the embedded local cluster",
  opts = function(o)
    o.master, o.local_cluster = "local", h.local_opts()
    return o
  end,
  heartbeat = 1,
  command_states = { "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" },
}

describe("scheduler driver", function()
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

  it("hands the handler nothing but stopped once stop() was called (events already queued are dropped)", function()
    for _, how in ipairs { "stop", "abort" } do
      local seen, after = {}, {}
      local handler = setmetatable({}, { __index = function(_, name)
        return function()
          seen[#seen + 1] = name
          if name == "subscribed" then
            local d = after.driver
            if how == "stop" then d:stop() else d:abort() end
            after.stopped_at = #seen
          end
        end
      end })
      local d = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts() })
      after.driver = d
      assert(d:start())
      -- SUBSCRIBED and what follows it (HEARTBEAT, OFFERS) queued before any dispatch.
      local deadline = h.now() + 20
      while d:pending() < 2 do
        assert(h.now() < deadline, "the master sent fewer than 2 events")
        mesos.wait_readable({ d:fd() }, 0.05)
      end
      d:run()
      assert.are.equal(1, after.stopped_at, how)
      assert.are.same({ "subscribed", "stopped" }, seen, how)
    end
  end)

  it("gives up after give_up_after seconds without a subscription, naming each master and its error", function()
    local why
    local handler = { stopped = function(_, _, r) why = r end }
    local d = mesos.scheduler(handler, { master = "127.0.0.1:1,127.0.0.1:2", give_up_after = 0.5, backoff_min = 0.05 })
    assert(d:start())
    h.wait_until(d, function() return why ~= nil end, 20, "stopped")
    assert.matches("gave up after 0.5s without a subscription", why, 1, true)
    assert.matches("http://127.0.0.1:1: Connection refused", why, 1, true)
    assert.matches("http://127.0.0.1:2: Connection refused", why, 1, true)
    assert.are.equal("stopped", d:state())
    assert.is_true(d:stats().reconnects >= 2, "every attempt counts")
  end)

  it("mesolua and mesos.map give up on a master they cannot reach", function()
    local out, code = h.sh("bin/mesolua --master=127.0.0.1:1 --give-up-after 0.5 -e 'return 1'")
    assert.are.equal(1, code, out)
    assert.matches("mesolua: gave up after 0.5s without a subscription (cannot connect to master http://127.0.0.1:1", out, 1, true)
    local r, err = mesos.map("return ...", { 1 }, { master = "127.0.0.1:1", give_up_after = 0.5 })
    assert.is_nil(r)
    assert.matches("gave up after", err, 1, true)
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
