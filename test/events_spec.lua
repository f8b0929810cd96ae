-- Distributed events (mesos.events): the task API, the executor's bridge and
-- the scheduler's router on their own, then tasks talking across agents on
-- the local cluster over framework messages.
local h = require "test.helpers"
local mesos = h.mesos
local events = require "mesos.events"
local S = require "mesos.serialize"

local function frame(bytes) return assert(S.decode(bytes)) end

-- A transport that records what the bridge sends to the router.
local function recorder()
  local sent = {}
  return { send = function(msg) sent[#sent + 1] = msg end }, sent
end

describe("mesos.events inbox", function()
  it("keeps each topic in order, pops the oldest across topics, drops the oldest when full", function()
    local box = events.new_inbox(3)
    box.push("a", { v = 1 })
    box.push("b", { v = 2 })
    box.push("a", { v = 3 })
    assert.are.equal(1, box.pop("a").v)
    box.push("b", { v = 4 })
    box.push("b", { v = 5 }) -- full (3): the oldest of "b" goes
    assert.are.equal(1, box.dropped)
    assert.are.equal(3, box.pop(nil).v)
    assert.are.equal(4, box.pop("b").v)
    assert.are.equal(5, box.pop(nil).v)
    assert.is_nil(box.pop(nil))
  end)
end)

describe("mesos.events bridge (executor side)", function()
  local function task(b, id)
    local mine, theirs = mesos.channel_pair()
    b.attach(id, mine)
    return theirs
  end
  local function send(ch, msg) assert(ch:send(assert(S.encode(msg)), true)) end
  local function recv(ch) local bytes = ch:recv(5) return bytes and frame(bytes) end

  it("subscribes once per topic, acks every waiting task, and hands later ones the retained value", function()
    local transport, sent = recorder()
    local b = events.bridge(transport)
    local t1, t2 = task(b, "t1"), task(b, "t2")
    send(t1, { op = "sub", topic = "x" })
    send(t2, { op = "sub", topic = "x" })
    b.pump()
    assert.are.same({ { op = "sub", topic = "x" } }, sent)
    assert.is_nil(t1:recv(0)) -- not acked before the router answers
    b.on_router { op = "suback", topic = "x", retained = S.encode("kept"), retained_from = "t9" }
    for _, t in ipairs { t1, t2 } do
      assert.are.same({ op = "suback", topic = "x" }, recv(t))
      local m = recv(t)
      assert.are.same({ "msg", "kept", "t9" }, { m.op, S.decode(m.value), m.from })
    end
    -- A third task: acked at once, retained value first.
    local t3 = task(b, "t3")
    send(t3, { op = "sub", topic = "x" })
    b.pump()
    assert.are.equal(1, #sent)
    assert.are.equal("suback", recv(t3).op)
    assert.are.equal("kept", S.decode(recv(t3).value))
  end)

  it("reads only the tasks that are ready (pump_ready) or named (pump_task)", function()
    local transport, sent = recorder()
    local b = events.bridge(transport)
    local chans = {}
    local t1, t2 = task(b, "t1"), task(b, "t2")
    for fd, rec in pairs(b.by_fd) do chans[rec.id] = fd end
    send(t1, { op = "pub", topic = "a", value = S.encode(1) })
    send(t2, { op = "pub", topic = "b", value = S.encode(2) })
    -- Only t2's fd is reported ready: t1's message stays queued.
    b.pump_ready { chans.t2 }
    assert.are.same({ "b" }, { sent[1].topic, sent[2] })
    b.pump_ready { 12345 } -- an fd that is no task's: ignored
    assert.are.equal(1, #sent)
    b.pump_task "t1"
    assert.are.same({ "b", "a" }, { sent[1].topic, sent[2].topic })
    b.pump_task "unknown"
    assert.are.equal(2, #sent)
  end)

  it("forwards publications with the publisher's task id and ends subscriptions with the task", function()
    local transport, sent = recorder()
    local b = events.bridge(transport)
    local t1 = task(b, "t1")
    send(t1, { op = "sub", topic = "x" })
    send(t1, { op = "pub", topic = "y", value = S.encode(42), retain = true })
    b.pump()
    assert.are.same({ op = "pub", topic = "y", value = S.encode(42), from = "t1", retain = true }, sent[2])
    b.on_router { op = "suback", topic = "x" }
    b.on_router { op = "msg", topic = "x", value = S.encode(7), from = "t5" }
    assert.are.equal("suback", recv(t1).op)
    assert.are.equal(7, S.decode(recv(t1).value))
    assert.are.equal(0, b.detach("t1"))
    assert.are.same({ op = "unsub", topic = "x" }, sent[3])
    b.on_router { op = "msg", topic = "x", value = S.encode(8), from = "t5" } -- nobody left: ignored
    assert.is_nil(next(b.tasks))
  end)

  it("drops and counts what a task that stops reading cannot take, without blocking", function()
    local transport = recorder()
    local b = events.bridge(transport)
    local t1 = task(b, "t1")
    send(t1, { op = "sub", topic = "x" })
    b.pump()
    b.on_router { op = "suback", topic = "x" }
    local big = S.encode(string.rep("v", 100 * 1024))
    for _ = 1, 50 do b.on_router { op = "msg", topic = "x", value = big, from = "s" } end
    local dropped = b.detach("t1")
    assert.is_true(dropped > 0 and dropped < 50, tostring(dropped))
  end)
end)

describe("mesos.events router (scheduler side)", function()
  local function fake_driver()
    local out = {}
    return {
      out = out,
      message = function(_, agent_id, executor_id, data)
        out[#out + 1] = { agent = agent_id.value, executor = executor_id.value, msg = events.unpack(data) }
        return true
      end,
    }
  end
  local A1, E1 = { value = "a1" }, { value = "e1" }
  local A2, E2 = { value = "a2" }, { value = "e2" }

  it("fans publications out to subscribed executors and its own handlers, and replays the retained value", function()
    local d = fake_driver()
    local r = mesos.router():attach(d)
    local seen = {}
    r:subscribe("x", function(v, from, topic) seen[#seen + 1] = { v, from, topic } end)
    -- Not ours: left to the framework.
    assert.is_false(r:handle_message(d, A1, E1, "hello"))
    -- Published before anyone subscribed and not retained: nobody gets it.
    assert.is_true(r:handle_message(d, A1, E1, events.pack { op = "pub", topic = "x", value = S.encode(1), from = "t1" }))
    assert.are.equal(0, #d.out)
    assert.are.same({ { 1, "t1", "x" } }, seen)
    r:handle_message(d, A1, E1, events.pack { op = "sub", topic = "x" })
    r:handle_message(d, A2, E2, events.pack { op = "sub", topic = "x" })
    assert.are.same({ "suback", "suback" }, { d.out[1].msg.op, d.out[2].msg.op })
    assert.is_true(r:publish("x", { k = 2 }, { retain = true }))
    assert.are.same({ "a1", "a2" }, (function()
      local a = { d.out[3].agent, d.out[4].agent }
      table.sort(a)
      return a
    end)())
    assert.are.same({ k = 2 }, S.decode(d.out[3].msg.value))
    assert.are.same({ { k = 2 }, "scheduler", "x" }, seen[2])
    -- A late subscriber gets the retained value with its ack.
    r:forget(A2, E2)
    r:handle_message(d, A2, E2, events.pack { op = "sub", topic = "x" })
    local ack = d.out[#d.out].msg
    assert.are.same({ "suback", { k = 2 }, "scheduler" }, { ack.op, S.decode(ack.retained), ack.retained_from })
    -- Unsubscribed executors get nothing more.
    r:handle_message(d, A1, E1, events.pack { op = "unsub", topic = "x" })
    local n = #d.out
    r:publish("x", 3)
    assert.are.equal(n + 1, #d.out)
    assert.are.equal("a2", d.out[#d.out].agent)
    local st = r:stats()
    assert.are.same({ 1, 0 }, { st.topics, st.lost })
  end)

  it("refuses values that cannot travel and misuse", function()
    local r = mesos.router()
    local ok, err = r:publish("x", function() end)
    assert.is_nil(ok)
    assert.matches("router:publish: .*function", err)
    ok, err = r:publish("x", nil)
    assert.matches("must not be nil", err)
    assert.has_error(function() r:publish("", 1) end)
    assert.has_error(function() r:subscribe("x", 5) end)
    ok, err = r:publish("x", string.rep("z", events.MAX_VALUE + 1))
    assert.matches("max_bytes", err)
  end)

  it("ignores malformed messages", function()
    assert.is_nil(events.unpack(events.MAGIC .. "garbage"))
    assert.is_nil(events.unpack(events.pack { op = "pub", topic = "" }))
    assert.is_nil(events.unpack(42))
  end)
end)

describe("mesos.events task API", function()
  it("says events need the Lua executor when there is no channel", function()
    local api = events.task_api(nil)
    local ok, err = api.publish("x", 1)
    assert.is_nil(ok)
    assert.matches("Lua executor", err)
  end)

  it("times out, raises on misuse and reports a gone executor", function()
    local mine, theirs = mesos.channel_pair()
    local api = events.task_api(theirs)
    local ok, err = api.subscribe("x", 0.05)
    assert.is_nil(ok)
    assert.matches("no answer from the router", err)
    assert.are.equal("sub", frame(mine:recv(0)).op)
    assert.has_error(function() api.receive("never-subscribed", 0) end,
      "events.receive: not subscribed to topic never-subscribed")
    assert.has_error(function() api.publish(5, 1) end)
    mine:send(assert(S.encode { op = "suback", topic = "x" }))
    assert.is_true(api.subscribe("x"))
    ok, err = api.receive("x", 0.01)
    assert.are.same({ nil, "timeout" }, { ok, err })
    mine:send(assert(S.encode { op = "msg", topic = "x", value = S.encode { 1, 2 }, from = "t7" }))
    local v, from, topic = api.receive(nil, 5)
    assert.are.same({ { 1, 2 }, "t7", "x" }, { v, from, topic })
    mine:close()
    ok, err = api.publish("x", 1)
    assert.are.same({ nil, "the executor is gone" }, { ok, err })
  end)
end)

-- The scenarios real Mesos runs too (test/real/events_spec.lua).
local local_target = {
  name = "the local cluster",
  master = function() return "" end,
  opts = function(o) return o end,
  two_agents = function(o)
    -- 1.5 cpus: one task of 1 cpu and the executor's own share fit, two tasks do not.
    o.local_cluster = { agents = 2, resources = "cpus:1.5;mem:1024" }
    return o
  end,
}
local between_tasks = require "test.scenarios.events"

between_tasks(local_target, "framework messages", function() return nil end)

local nats_server
between_tasks(local_target, "NATS", function()
  nats_server = nats_server or h.start_nats()
  return nats_server.url
end)

describe("mesos.events over NATS", function()
  it("sends the values through the NATS server, not through the master", function()
    nats_server = nats_server or h.start_nats()
    local spy = assert(mesos.nats(nats_server.url))
    assert(spy:subscribe("mesos-events.>"))
    assert(spy:flush(10))
    local router = mesos.router { nats = nats_server.url }
    local out = assert(mesos.map([[
      assert(events.subscribe("t"))
      assert(events.publish("t", "v" .. TASK_INDEX))
      return (assert(events.receive("t", 60)))
    ]], { 1, 2 }, { events = router }))
    assert.are.equal(2, #out)
    local seen = {}
    for _ = 1, 1000 do
      local m = spy:poll(0)
      if not m then break end
      local msg = events.unpack(m.payload)
      if msg and msg.op == "msg" then seen[#seen + 1] = S.decode(msg.value) end
    end
    table.sort(seen)
    assert.are.same({ "v1", "v2" }, seen)
    router:close()
    spy:close()
  end)

  it("reports an unreachable NATS server", function()
    local ok, err = mesos.map("return 1", { 1 }, { nats = "nats://127.0.0.1:1" })
    assert.is_nil(ok)
    assert.matches("cannot reach NATS at nats://127.0.0.1:1", err)
    assert.has_error(function() mesos.router { nats = 5 } end, "mesos.router: opts.nats must be a nats:// URL")
  end)

  teardown(function()
    if nats_server then assert.is_true(nats_server.stop()) end
  end)
end)
