-- Lazy views (mesos.view): every field reads as the eager tables hold it,
-- views go back into calls, and a scheduler with views = true runs a whole
-- framework on the embedded local cluster.
local h = require "test.helpers"
local mesos = h.mesos
local view = require "mesos.view"

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  s = s:gsub("[^%w%+/]", "")
  local out, bits, n = {}, 0, 0
  for c in s:gmatch(".") do
    bits = bits * 64 + (B64:find(c, 1, true) - 1)
    n = n + 6
    if n >= 8 then
      n = n - 8
      local b = math.floor(bits / 2 ^ n)
      out[#out + 1] = string.char(b)
      bits = bits - b * 2 ^ n
    end
  end
  return table.concat(out)
end

local function vectors()
  local out = {}
  for _, f in ipairs { "scheduler-events", "scheduler-calls", "executor-events", "executor-calls" } do
    for line in io.lines("test/vectors/" .. f .. ".jsonl") do
      local name = line:match('"name": "([^"]+)"')
      local message = line:match('"message": "([^"]+)"')
      local pb = line:match('"protobuf_b64": "([^"]+)"')
      if name and message and pb then out[#out + 1] = { name = name, message = message, bytes = unbase64(pb) } end
    end
  end
  assert(#out >= 29, "golden vectors")
  return out
end

local function is_list(t) return t[1] ~= nil end

-- The view `v` reads exactly as the table `t`: the same fields set, the
-- same values, lists as plain tables of the same length.
local function same(v, t, path)
  local n = 0
  for k in view.pairs(v) do
    n = n + 1
    assert(t[k] ~= nil, path .. "." .. k .. ": set in the view only")
  end
  for k, x in pairs(t) do
    n = n - 1
    local y, p = v[k], path .. "." .. tostring(k)
    if type(x) ~= "table" then
      assert.are.equal(x, y, p)
    elseif is_list(x) then
      assert.is_table(y, p)
      assert.are.equal(#x, #y, p .. ": length")
      for i, item in ipairs(x) do
        if type(item) == "table" then same(y[i], item, p .. "[" .. i .. "]")
        else assert.are.equal(item, y[i], p .. "[" .. i .. "]") end
      end
    elseif view.is_view(y) then
      same(y, x, p)
    else
      assert.are.same(x, y, p) -- a map field: read through the tables
    end
  end
  assert.are.equal(0, n, path .. ": a different number of fields")
end

describe("mesos.view", function()
  it("reads every golden vector field by field as the tables do", function()
    for _, vec in ipairs(vectors()) do
      local v = assert(view.decode(vec.message, vec.bytes))
      assert.are.equal(vec.message, view.type_name(v))
      same(v, assert(mesos.decode(vec.message, vec.bytes)), vec.name)
      assert.are.same(mesos.decode(vec.message, vec.bytes), view.plain(v))
    end
  end)

  local offer = {
    id = { value = "o-1" }, framework_id = { value = "f-1" }, agent_id = { value = "a-1" }, hostname = "h1",
    url = { scheme = "http", address = { hostname = "h1", ip = "10.0.0.1", port = 5051 }, path = "/slave(1)" },
    resources = {
      { name = "cpus", type = "SCALAR", scalar = { value = 2.5 } },
      { name = "mem", type = "SCALAR", scalar = { value = 1024 }, reservations = { { type = "DYNAMIC", role = "r", principal = "p",
        labels = { labels = { { key = "k", value = "v" } } } } } },
      { name = "ports", type = "RANGES", ranges = { range = { { begin = 31000, ["end"] = 31999 }, { begin = 1, ["end"] = 2 } } } },
      { name = "disks", type = "SET", set = { item = { "a", "b", "c" } } },
    },
    attributes = { { name = "rack", type = "TEXT", text = { value = "r1" } }, { name = "n", type = "SCALAR", scalar = { value = -3 } } },
    executor_ids = { { value = "e1" }, { value = "e2" } },
  }

  it("reads nested messages, lists, enums, numbers and bytes", function()
    local bytes = mesos.encode("Offer", offer)
    local v = assert(view.decode("Offer", bytes))
    assert.are.equal("o-1", v.id.value)
    assert.are.equal(5051, v.url.address.port)
    assert.are.equal(4, #v.resources)
    assert.are.equal("RANGES", v.resources[3].type)
    assert.are.equal(31999, v.resources[3].ranges.range[1]["end"])
    assert.are.same({ "a", "b", "c" }, v.resources[4].set.item)
    assert.are.equal("k", v.resources[2].reservations[1].labels.labels[1].key)
    assert.are.equal(-3, v.attributes[2].scalar.value)
    assert.is_nil(v.unavailability) -- unset message
    assert.is_nil(v.no_such_field)
    assert.is_nil(v.resources[1].ranges) -- unset list
    same(v, mesos.decode("Offer", bytes), "offer")
    -- 64-bit, negative and signed numbers, booleans, bytes.
    local st = { task_id = { value = "t" }, state = "TASK_RUNNING", data = "\0\1\255",
      timestamp = 1764140000.25, healthy = false, uuid = "\16\32",
      limitation = { resources = { { name = "x", type = "SCALAR", scalar = { value = 1e15 } } } } }
    local sb = mesos.encode("TaskStatus", st)
    local sv = assert(view.decode("TaskStatus", sb))
    assert.are.equal("\0\1\255", sv.data)
    assert.are.equal(false, sv.healthy)
    assert.are.equal(1764140000.25, sv.timestamp)
    same(sv, mesos.decode("TaskStatus", sb), "status")
  end)

  it("reads repeated messages as merged and lists as appended, as protobuf does", function()
    local a = mesos.encode("Offer", offer)
    local b = mesos.encode("Offer", { id = { value = "o-2" }, framework_id = { value = "f-1" },
      agent_id = { value = "a-1" }, hostname = "h2", url = { scheme = "https", address = { port = 1 } },
      resources = { { name = "gpus", type = "SCALAR", scalar = { value = 1 } } } })
    local v = assert(view.decode("Offer", a .. b))
    assert.are.equal("o-2", v.id.value) -- the last value of a scalar
    assert.are.equal("https", v.url.scheme) -- a message merged...
    assert.are.equal("h1", v.url.address.hostname) -- ...keeps what the second leaves unset
    assert.are.equal(5, #v.resources) -- lists append
    same(v, mesos.decode("Offer", a .. b), "merged")
  end)

  it("gives clear errors for bad bytes and misuse", function()
    local v = assert(view.decode("Offer", mesos.encode("Offer", offer)))
    local ok, err = view.decode("Offer", "\255\255\255")
    assert.is_nil(ok)
    assert.matches("decode", err)
    assert.is_nil(view.decode("Offer", "\10\2\10")) -- truncated
    assert.has_error(function() view.decode(1, "") end, "mesos.view.decode: type must be a string, got number")
    assert.has_error(function() view.decode("Offer", {}) end, "mesos.view.decode: bytes must be a string, got table")
    assert.has_error(function() view.decode("NoSuchMessage", "") end, "mesos.view.decode: unknown message type NoSuchMessage")
    assert.has_error(function() v.hostname = "x" end)
    local _, e = pcall(function() v.hostname = "x" end)
    assert.matches("read%-only", e)
    assert.has_error(function() v._vlen = 1 end) -- its own fields are constant
    assert.has_error(function() view.type_name({}) end, "mesos.view.type_name: expected a view, got table")
    assert.has_error(function() view.pairs("x") end, "mesos.view.pairs: expected a view, got string")
    local t = {}
    assert.are.equal(t, view.plain(t))
    assert.matches("mesos view: mesos.v1.Offer %(%d+ bytes%)", tostring(v))
    assert.is_false(view.is_view({}))
    assert.is_true(view.is_view(v))
  end)

  it("goes back into calls and encodings as its bytes", function()
    local bytes = mesos.encode("Offer", offer)
    local v = assert(view.decode("Offer", bytes))
    assert.are.equal(bytes, view.bytes(v))
    assert.are.equal(bytes, mesos.encode("Offer", v))
    assert.are.equal(mesos.encode("OfferID", { value = "o-1" }), mesos.encode("OfferID", v.id))
    local call = mesos.encode("mesos.v1.scheduler.Call", { type = "ACCEPT", framework_id = v.framework_id,
      accept = { offer_ids = { v.id }, operations = { { type = "LAUNCH", launch = { task_infos = { {
        name = "t", task_id = { value = "t" }, agent_id = v.agent_id, resources = { v.resources[1] } } } } } } } })
    local back = mesos.decode("mesos.v1.scheduler.Call", call)
    assert.are.equal("o-1", back.accept.offer_ids[1].value)
    assert.are.equal("cpus", back.accept.operations[1].launch.task_infos[1].resources[1].name)
    -- A view of another type where a message is expected, even one of the
    -- same shape.
    local ok, err = pcall(mesos.encode, "OfferID", v.agent_id)
    assert.is_false(ok)
    assert.matches("expected a table %(OfferID%), got a view of mesos.v1.AgentID", err)
    local ok2, err2 = pcall(mesos.encode, "Offer", v.id)
    assert.is_false(ok2)
    assert.matches("view of mesos.v1.OfferID", err2)
  end)

  for _, enc in ipairs { "protobuf", "json" } do
    it("drives a whole framework with views = true over " .. enc, function()
      local dir = h.tmpdir()
      local rec = { states = {}, views = 0 }
      local handler = {}
      function handler:subscribed(d, info) rec.framework_id = info.framework_id.value end
      function handler:offers(d, offers)
        if view.is_view(offers[1]) then rec.views = rec.views + 1 end
        if rec.launched then
          local ids = {}
          for i, o in ipairs(offers) do ids[i] = o.id end
          return d:decline(ids)
        end
        rec.launched = true
        local o = offers[1]
        assert.is_true(mesos.resources.scalar(o, "cpus") > 0)
        d:launch(o.id, { h.command_task(o, "vt", ("printf ok > %s/out"):format(dir)) })
      end
      function handler:update(d, status)
        if status.reason == "REASON_RECONCILIATION" then
          rec.reconciled = status.state
          return
        end
        table.insert(rec.states, status.state)
        assert.are.equal(16, #status.uuid)
        if status.state == "TASK_FINISHED" then
          rec.finished = true
          d:reconcile { { task_id = status.task_id, agent_id = status.agent_id } }
        end
      end
      local d = mesos.scheduler(handler, { master = "local", encoding = enc, views = true,
        local_cluster = h.local_opts(), framework = { name = "view-spec-" .. enc } })
      assert(d:start())
      h.wait_until(d, function() return rec.finished end, 30, "TASK_FINISHED")
      h.wait_until(d, function() return rec.reconciled end, 20, "reconciliation")
      assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
      assert.are.equal("TASK_FINISHED", rec.reconciled)
      assert.are.equal(rec.framework_id, d:framework_id())
      assert.are.equal("ok", h.read_file(dir .. "/out"))
      -- (JSON events are transcoded to protobuf for views.)
      assert.is_true(rec.views > 0, "offers came as views")
      -- Implicit acknowledgements went out: nothing is retried.
      local before = #rec.states
      h.poll_for(d, 1.2)
      assert.are.equal(before, #rec.states)
      d:stop()
      os.execute("rm -rf " .. dir)
    end)
  end

  it("gives views from driver:events() too", function()
    local d = mesos.scheduler({}, { master = "local", views = true, local_cluster = h.local_opts() })
    assert(d:start())
    local seen
    for ev in d:events(5) do
      if ev.type == "OFFERS" then seen = ev; break end
    end
    assert.is_true(view.is_view(seen))
    assert.are.equal("OFFERS", seen.type)
    assert.is_true(#seen.offers.offers >= 1)
    d:abort()
  end)

  it("reports a handler's error with its name and a traceback, and polls on", function()
    local calls = 0
    local handler = {}
    function handler:offers(d, offers)
      calls = calls + 1
      local ids = {}
      for i, o in ipairs(offers) do ids[i] = o.id end
      d:decline(ids, { refuse_seconds = 0 })
      if calls == 1 then error("boom") end
    end
    local d = mesos.scheduler(handler, { master = "local", views = true, local_cluster = h.local_opts(),
      framework = { name = "view-error" } })
    assert(d:start())
    local err
    local deadline = h.now() + 20
    while not err and h.now() < deadline do
      local ok, e = pcall(d.poll, d, 0.1)
      if not ok then err = e end
    end
    assert(err, "no error from the handler within 20 s")
    assert.matches("^mesos: error in handler:offers: .*boom", err)
    assert.matches("stack traceback", err)
    h.wait_until(d, function() return calls >= 2 end, 20, "offers after the error")
    d:abort()
  end)

  it("keeps the rest of a batch when a handler fails in the middle of it", function()
    -- A core that hands over one batch of three OFFERS events.
    local msg = view.decode("mesos.v1.scheduler.Event", mesos.encode("mesos.v1.scheduler.Event", { type = "HEARTBEAT" }))._vmsg
    local function offers_event(id)
      return mesos.encode("mesos.v1.scheduler.Event", { type = "OFFERS", offers = { offers = { {
        id = { value = id }, framework_id = { value = "f" }, agent_id = { value = "a" }, hostname = "h" } } } })
    end
    local served = false
    local core = {}
    function core:next_raw_batch(_, q)
      if served then return 0 end
      served = true
      for i, id in ipairs { "o1", "o2", "o3" } do
        local b = offers_event(id)
        q[4 * i - 3], q[4 * i - 2], q[4 * i - 1], q[4 * i] = b, #b, msg, "OFFERS"
      end
      return 3
    end
    function core:pending() return 0 end
    local seen = {}
    local handler = {}
    function handler:offers(_, offers)
      seen[#seen + 1] = offers[1].id.value
      if #seen == 2 then error("second fails") end
    end
    local real = mesos.scheduler(handler, { master = "127.0.0.1:1" })
    local d = setmetatable({ _core = core, _handler = handler, _views = view, _q = { i = 1, n = 0 } }, getmetatable(real))
    -- poll(0, 1) asks the core for one event at most.
    local limits = {}
    local take = core.next_raw_batch
    function core:next_raw_batch(t, q, limit)
      limits[#limits + 1] = limit
      return take(self, t, q, limit)
    end
    assert.are.equal(1, d:poll(0, 1))
    assert.are.same({ 1 }, limits)
    assert.are.equal(2, d:pending()) -- the rest of the batch waits
    d._q, served, seen = { i = 1, n = 0 }, false, {}
    function core:next_raw_batch(t, q) return take(self, t, q) end
    local ok, err = pcall(d.poll, d, 0)
    assert.is_false(ok)
    assert.matches("second fails", err)
    assert.are.equal(1, d:pending())
    assert.are.equal(1, d:poll(0))
    assert.are.same({ "o1", "o2", "o3" }, seen)
    assert.are.equal(0, d:pending())
  end)
end)
