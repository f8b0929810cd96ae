-- mesos.nats against a real nats-server (Debian's, started by
-- test/helpers.lua on a loopback port and killed by PID): pub/sub, queue
-- groups, unsubscribe, request/reply (with a responder in another
-- process), flush ordering, binary payloads, max_payload, credentials, a
-- server that dies or freezes, a slow consumer, fd() with
-- mesos.wait_readable, and misuse errors.
local h = require "test.helpers"
local mesos = h.mesos

-- Every message until `n` have come (or 5 s pass).
local function take(c, n)
  local out, t0 = {}, h.now()
  while #out < n and h.now() - t0 < 5 do
    local m, err = c:poll(0.1)
    assert(err == nil, err)
    if m then out[#out + 1] = m end
  end
  return out
end

local function drain(c)
  local out = {}
  while true do
    local m = c:poll(0)
    if not m then return out end
    out[#out + 1] = m
  end
end

describe("mesos.nats", function()
  local server

  setup(function() server = h.start_nats() end)
  teardown(function() if server then server.stop() end end)

  local function connect(opts)
    return assert(mesos.nats(server.url, opts))
  end

  it("publishes and subscribes, binary-safe", function()
    local sub, pub = connect({ name = "spec-sub" }), connect()
    assert.are.equal("connected", sub:state())
    local sid = assert(sub:subscribe("greet.*"))
    assert.are.equal("number", type(sid))
    assert.is_true(sub:flush())
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local payloads = { "hello", "", "a\r\nMSG x 1 3\r\nabc\r\n", table.concat(bytes), ("\0z"):rep(100000) }
    for i, p in ipairs(payloads) do assert.is_true(pub:publish("greet.n" .. i, p)) end
    assert.is_true(pub:publish("elsewhere", "not for us"))
    assert.is_true(pub:publish("greet.r", "answer me", "answers.1"))
    local got = take(sub, #payloads + 1)
    assert.are.equal(#payloads + 1, #got)
    for i, p in ipairs(payloads) do
      assert.are.equal("greet.n" .. i, got[i].subject)
      assert.are.equal(sid, got[i].sid)
      assert.is_nil(got[i].reply)
      assert.is_true(got[i].payload == p, "payload " .. i)
    end
    assert.are.equal("answers.1", got[#got].reply)
    assert.is_nil(sub:poll(0))
    local st = sub:stats()
    assert.are.same({ #payloads + 1, 0, "connected" }, { st.in_msgs, st.dropped, st.state })
    assert.are.equal(#payloads + 2, pub:stats().out_msgs)
    sub:close(); pub:close()
  end)

  it("shares a queue group's messages between its members", function()
    local a, b, watcher, pub = connect(), connect(), connect(), connect()
    for _, c in ipairs({ a, b }) do assert(c:subscribe("jobs", "workers")); assert(c:flush()) end
    assert(watcher:subscribe("jobs")); assert(watcher:flush())
    for i = 1, 30 do pub:publish("jobs", tostring(i)) end
    assert(pub:flush())
    assert.are.equal(30, #take(watcher, 30))
    local seen, t0 = {}, h.now()
    while #seen < 30 and h.now() - t0 < 5 do
      for _, c in ipairs({ a, b }) do
        for _, m in ipairs(drain(c)) do seen[#seen + 1] = tonumber(m.payload) end
      end
      mesos.wait_readable({ a:fd(), b:fd() }, 0.1)
    end
    table.sort(seen)
    local want = {}
    for i = 1, 30 do want[i] = i end
    assert.are.same(want, seen)
  end)

  it("unsubscribes now or after max messages", function()
    local c = connect()
    local a, b = c:subscribe("a"), c:subscribe("b")
    assert.is_true(c:unsubscribe(a))
    assert.is_true(c:unsubscribe(a))
    assert.is_true(c:unsubscribe(b, 2))
    for _ = 1, 5 do c:publish("a", "x"); c:publish("b", "y") end
    assert(c:flush())
    -- Own messages come back before the PONG: all are queued by now.
    local subjects = {}
    for _, m in ipairs(drain(c)) do subjects[#subjects + 1] = m.subject end
    assert.are.same({ "b", "b" }, subjects)
    local ok, err = c:unsubscribe(99)
    assert.is_nil(ok)
    assert.matches("unknown subscription", err)
  end)

  it("makes a subscription effective by flush, and keeps a publisher's order", function()
    local sub, pub = connect(), connect()
    for round = 1, 10 do
      local subject = "round." .. round
      local sid = sub:subscribe(subject)
      assert(sub:flush())
      for i = 1, 40 do pub:publish(subject, tostring(i)) end
      assert(pub:flush())
      local got = take(sub, 40)
      assert.are.equal(40, #got)
      for i, m in ipairs(got) do assert.are.equal(tostring(i), m.payload) end
      sub:unsubscribe(sid)
    end
  end)

  it("answers requests from another process", function()
    local dir = h.tmpdir()
    local script = dir .. "/responder.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local mesos = require "mesos"
      local c = assert(mesos.nats(%q))
      c:subscribe("math.double", "svc")
      assert(c:flush())
      c:publish("responder.ready", "yes")
      for _ = 1, 3 do
        local m, err = c:poll(10)
        assert(m, err or "no request")
        c:publish(m.reply, tostring(tonumber(m.payload) * 2))
      end
      assert(c:flush())
    ]]):format(server.url))
    f:close()
    local c = connect()
    c:subscribe("responder.ready")
    assert(c:flush())
    os.execute(("luajit %s > %s/out.log 2>&1 &"):format(script, dir))
    assert.are.equal(1, #take(c, 1), "the responder did not start: " .. (h.read_file(dir .. "/out.log") or ""))
    for _, n in ipairs({ 1, 21, 500 }) do
      assert.are.equal(tostring(n * 2), c:request("math.double", tostring(n), 5))
    end
    assert.is_nil(c:poll(0), "replies do not reach poll")
    local t0 = h.now()
    local r, err = c:request("nobody.home", "?", 0.2)
    assert.is_nil(r)
    assert.matches("timed out", err)
    assert.is_true(h.now() - t0 < 2)
    os.execute("rm -rf " .. dir)
  end)

  it("is readable through fd() while messages wait", function()
    local c, pub = connect(), connect()
    local fd = c:fd()
    assert.are.equal("number", type(fd))
    c:subscribe("f")
    assert(c:flush())
    assert.are.same({}, mesos.wait_readable({ fd }, 0.05))
    pub:publish("f", "1")
    assert.are.same({ fd }, mesos.wait_readable({ fd }, 5))
    assert.are.equal("1", c:poll(0).payload)
    assert.is_false(h.readable(fd))
    -- Own messages are queued once flush returns.
    c:publish("f", "2")
    c:publish("f", "3")
    assert(c:flush())
    assert.is_true(h.readable(fd))
    assert.are.equal("2", c:poll(0).payload)
    assert.is_true(h.readable(fd), "one left")
    assert.are.equal("3", c:poll(0).payload)
    assert.is_false(h.readable(fd))
  end)

  it("drops the newest messages of a slow consumer and counts them", function()
    local c = connect({ queue_size = 5 })
    c:subscribe("fast")
    for i = 1, 50 do c:publish("fast", tostring(i)) end
    assert(c:flush())
    local st = c:stats()
    assert.are.same({ 50, 5, 45 }, { st.in_msgs, st.queued, st.dropped })
    local kept = {}
    for _, m in ipairs(drain(c)) do kept[#kept + 1] = m.payload end
    assert.are.same({ "1", "2", "3", "4", "5" }, kept)
  end)

  it("refuses bad values with nil, err and misuse with an error naming the argument", function()
    local c = connect()
    for _, bad in ipairs({ "", "a b", "a\r\nPUB x 1", "\255" }) do
      local ok, err = c:publish(bad, "x")
      assert.is_nil(ok)
      assert.matches("invalid subject", err)
      ok, err = c:subscribe(bad)
      assert.is_nil(ok)
      assert.matches("invalid subject", err)
    end
    local ok, err = c:subscribe("ok", "bad group")
    assert.is_nil(ok)
    assert.matches("invalid queue group", err)
    local raises = {
      { function() c:publish(1, "x") end, "client:publish: subject must be a string, got number" },
      { function() c:publish("a", {}) end, "client:publish: payload must be a string, got table" },
      { function() c:publish("a", "x", 5) end, "client:publish: reply must be a string" },
      { function() c:subscribe() end, "client:subscribe: subject must be a string, got nil" },
      { function() c:subscribe("a", true) end, "client:subscribe: queue_group must be a string" },
      { function() c:unsubscribe("1") end, "client:unsubscribe: sid must be a positive integer" },
      { function() c:unsubscribe(1, 0) end, "client:unsubscribe: max must be a positive integer" },
      { function() c:poll("soon") end, "client:poll: timeout must be a non%-negative number" },
      { function() c:flush(-1) end, "client:flush: timeout must be a non%-negative number" },
      { function() c:request("a", nil) end, "client:request: payload must be a string" },
      { function() mesos.nats(42) end, "mesos.nats: url must be a string, got number" },
      { function() mesos.nats(server.url, "x") end, "mesos.nats: opts must be a table" },
      { function() mesos.nats(server.url, { timeout = "x" }) end, "mesos.nats: opts.timeout must be a number" },
      { function() mesos.nats(server.url, { queue_size = 1.5 }) end, "opts.queue_size must be an integer" },
    }
    for _, r in ipairs(raises) do
      local okk, e = pcall(r[1])
      assert.is_false(okk)
      assert.matches(r[2], tostring(e))
    end
    local none, why = mesos.nats("http://127.0.0.1:1")
    assert.is_nil(none)
    assert.matches("bad NATS URL", why)
    assert.are.equal("connected", c:state(), "still usable")
  end)

  it("closes idempotently, and on garbage collection", function()
    local c = connect()
    assert.matches("mesos.nats client", tostring(c))
    assert.is_true(c:close())
    assert.is_true(c:close())
    local m, err = c:poll(10)
    assert.is_nil(m)
    assert.matches("closed by the client", err)
    assert.are.equal("closed", c:stats().state)
    local ok, err2 = c:publish("a", "x")
    assert.is_nil(ok)
    assert.matches("closed", err2)
    -- Each client has one reader thread, joined when it is collected.
    local ffi = require "ffi"
    pcall(ffi.cdef, "int getpid(void);")
    local function readers()
      local out = h.sh(("cat /proc/%d/task/*/comm"):format(ffi.C.getpid()))
      return select(2, out:gsub("nats%-reader", ""))
    end
    local function open_20()
      local clients = {}
      for i = 1, 20 do clients[i] = connect() end
      return readers()
    end
    local with = open_20()
    assert.is_true(with >= 20)
    collectgarbage(); collectgarbage()
    -- (A joined thread may linger in /proc for a moment.)
    local t0 = h.now()
    while readers() > with - 20 and h.now() - t0 < 5 do mesos.wait_readable({}, 0.01) end
    assert.is_true(readers() <= with - 20, ("%d reader threads before, %d after"):format(with, readers()))
  end)
end)

describe("mesos.nats with a server of its own", function()
  it("respects max_payload", function()
    local s = h.start_nats(nil, "max_payload: 1024\n")
    local c = assert(mesos.nats(s.url))
    assert.are.equal(1024, c:info().max_payload)
    c:subscribe("p")
    local ok, err = c:publish("p", ("x"):rep(1025))
    assert.is_nil(ok)
    assert.matches("exceeds the server's max_payload of 1024", err)
    assert.is_true(c:publish("p", ("x"):rep(1024)))
    assert(c:flush())
    assert.are.equal(1024, #c:poll(0).payload)
    c:close()
    s.stop()
  end)

  it("sends credentials from the URL", function()
    local s = h.start_nats("--user alice --pass s3cret")
    local port = s.port
    local c = assert(mesos.nats(("nats://alice:s3cret@127.0.0.1:%d"):format(port)))
    assert.is_true(c:flush())
    local none, err = mesos.nats(("nats://alice:wrong-pw@127.0.0.1:%d"):format(port))
    assert.is_nil(none)
    assert.matches("Authorization Violation", err)
    assert.is_nil(err:find("wrong-pw", 1, true), "no secret in the error")
    c:close()
    s.stop()
  end)

  it("reports a dead server at once and never hangs", function()
    local s = h.start_nats()
    local c = assert(mesos.nats(s.url))
    c:subscribe("x")
    c:publish("x", "before")
    assert(c:flush())
    local fd = c:fd()
    assert(s.stop())
    local t0 = h.now()
    assert.are.equal("before", c:poll(5).payload)
    -- The fd wakes an event loop for the news.
    assert.are.same({ fd }, mesos.wait_readable({ fd }, 5))
    local m, err = c:poll(30)
    assert.is_nil(m)
    assert.matches("closed", err)
    assert.are.equal("closed", c:stats().state)
    assert.is_nil(c:publish("x", "after"))
    assert.is_nil(c:flush(30))
    assert.is_nil(c:request("x", "", 30))
    assert.is_true(h.now() - t0 < 5)
  end)

  it("finds a frozen server stale", function()
    local s = h.start_nats()
    local c = assert(mesos.nats(s.url, { ping_interval = 0.1 }))
    assert(c:flush())
    s.freeze()
    local t0 = h.now()
    local ok = c:flush(30)
    local _, err = c:poll(30)
    s.thaw()
    s.stop()
    assert.is_nil(ok)
    assert.matches("stale", err)
    assert.is_true(h.now() - t0 < 5)
  end)
end)
