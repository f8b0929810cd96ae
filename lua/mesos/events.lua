-- Distributed events between the tasks of a framework and its scheduler:
-- publish(topic, value), subscribe(topic), receive(topic, timeout).
--
-- Three parts, one per process kind:
--   * the task side (M.task_api): the `events` table task code sees, talking
--     to its executor over the task process's channel (fd 3);
--   * the executor side (M.bridge): keeps which of its tasks subscribed to
--     what, forwards their publications, hands them what arrives;
--   * the scheduler side (M.router): knows which executors subscribed to a
--     topic, fans publications out to them, keeps retained values, and
--     gives the framework's own code the same topics.
-- Between the executor and the scheduler travel Mesos framework messages
-- (the default transport, nothing to install) or NATS (M.nats_transport).
--
-- Delivery is at most once: a value reaches the subscriptions in effect
-- when the router handles it, in the order its publisher published (per
-- publisher, while nothing is lost); a slow task loses what overflows its
-- inbox (counted). `subscribe` returns once the router has the
-- subscription, so everything published after that reaches it. A value
-- published with { retain = true } is kept (the last one per topic) and
-- handed to every later subscriber first.

local mesos = require "mesos"
local S = require "mesos.serialize"

local M = {}

M.MAGIC = "mesos.events/1:"          -- prefix of our framework messages
M.MAX_TOPIC = 256                    -- bytes
M.MAX_VALUE = (mesos.CHANNEL_MAX_MESSAGE or 131072) - 1024 -- encoded bytes
M.INBOX_LIMIT = 10000                -- values waiting in one task
M.SUBSCRIBE_TIMEOUT = 30             -- seconds

local now = mesos.monotonic

local function topic_error(who, topic)
  return ("%s: topic must be a non-empty string of at most %d bytes, got %s"):format(
    who, M.MAX_TOPIC, type(topic) == "string" and ("%d bytes"):format(#topic) or type(topic))
end

local function valid_topic(topic)
  return type(topic) == "string" and topic ~= "" and #topic <= M.MAX_TOPIC
end

--- Encodes a message for the wire between executors and the router.
function M.pack(msg)
  return M.MAGIC .. assert(S.encode(msg))
end

--- The message in `data`, or nil when it is not one of ours.
function M.unpack(data)
  if type(data) ~= "string" or data:sub(1, #M.MAGIC) ~= M.MAGIC then return nil end
  local msg = S.decode(data:sub(#M.MAGIC + 1))
  if type(msg) == "table" and type(msg.op) == "string" and valid_topic(msg.topic) then return msg end
  return nil
end

--- Encodes a value for publishing; nil, err when it cannot travel.
function M.encode_value(value, who)
  if value == nil then return nil, who .. ": value must not be nil" end
  local bytes, err = S.encode(value, { name = "value", max_bytes = M.MAX_VALUE })
  if not bytes then return nil, ("%s: %s"):format(who, err) end
  return bytes
end

-- A FIFO per topic, bounded in total, oldest dropped first.
local function new_inbox(limit)
  local queues, total, seq = {}, 0, 0
  local box = { dropped = 0 }
  function box.push(topic, item)
    local q = queues[topic]
    if not q then q = { first = 1, last = 0 }; queues[topic] = q end
    if total >= limit then
      -- Drop the oldest value of the fullest-fed topic: this one.
      local victim = q.last >= q.first and q or nil
      if not victim then
        for _, other in pairs(queues) do if other.last >= other.first then victim = other break end end
      end
      victim[victim.first] = nil
      victim.first = victim.first + 1
      total = total - 1
      box.dropped = box.dropped + 1
    end
    seq = seq + 1
    item.seq = seq
    q.last = q.last + 1
    q[q.last] = item
    total = total + 1
  end
  -- The oldest item of `topic` (or of any topic when nil).
  function box.pop(topic)
    local q = topic and queues[topic]
    if not topic then
      for _, other in pairs(queues) do
        if other.last >= other.first and (not q or other[other.first].seq < q[q.first].seq) then q = other end
      end
    end
    if not q or q.last < q.first then return nil end
    local item = q[q.first]
    q[q.first] = nil
    q.first = q.first + 1
    total = total - 1
    return item
  end
  function box.clear(topic)
    local q = queues[topic]
    if q then total = total - (q.last - q.first + 1); queues[topic] = nil end
  end
  return box
end

-- The task side ---------------------------------------------------------------

--- The `events` table for task code, over channel `chan` (nil: the task does
--- not run under the Lua executor, and every call says so).
function M.task_api(chan)
  local subscribed = {}   -- topic -> true once the router has it
  local inbox = new_inbox(M.INBOX_LIMIT)
  local stats = { published = 0, received = 0 }
  local broken = chan == nil and "events are only available in tasks run by the Lua executor" or nil

  local function fail(err)
    if err == "closed" then broken = "the executor is gone" return nil, broken end
    return nil, err
  end

  local function handle(bytes)
    local f = S.decode(bytes)
    if type(f) ~= "table" or not valid_topic(f.topic) then return end
    if f.op == "suback" then
      subscribed[f.topic] = true
    elseif f.op == "msg" and subscribed[f.topic] and type(f.value) == "string" then
      inbox.push(f.topic, { topic = f.topic, value = f.value, from = f.from })
    end
  end

  -- Takes frames from the executor until `done()` or the deadline (nil:
  -- none). Returns true, or nil and "timeout" or an error.
  local function pump(done, deadline)
    while not done() do
      local wait = deadline and math.max(0, deadline - now()) or nil
      local bytes, err = chan:recv(wait)
      if bytes then
        handle(bytes)
      elseif err then
        return fail(err)
      elseif deadline and now() >= deadline then
        return nil, "timeout"
      end
    end
    return true
  end

  local function send(frame)
    local ok, err = chan:send(assert(S.encode(frame)), true)
    if not ok then return fail(err) end
    return true
  end

  local api = {}

  --- events.subscribe(topic [, timeout]) -> true | nil, err
  function api.subscribe(topic, timeout)
    if not valid_topic(topic) then error(topic_error("events.subscribe", topic), 0) end
    if broken then return nil, broken end
    if subscribed[topic] then return true end
    local ok, err = send { op = "sub", topic = topic }
    if not ok then return nil, err end
    ok, err = pump(function() return subscribed[topic] end, now() + (timeout or M.SUBSCRIBE_TIMEOUT))
    if not ok then
      if err == "timeout" then err = "events.subscribe: no answer from the router for topic " .. topic end
      return nil, err
    end
    return true
  end

  --- events.unsubscribe(topic) -> true | nil, err
  function api.unsubscribe(topic)
    if not valid_topic(topic) then error(topic_error("events.unsubscribe", topic), 0) end
    if broken then return nil, broken end
    if not subscribed[topic] then return true end
    subscribed[topic] = nil
    inbox.clear(topic)
    return send { op = "unsub", topic = topic }
  end

  --- events.publish(topic, value [, {retain = true}]) -> true | nil, err
  function api.publish(topic, value, opts)
    if not valid_topic(topic) then error(topic_error("events.publish", topic), 0) end
    if opts ~= nil and type(opts) ~= "table" then
      error("events.publish: opts must be a table, got " .. type(opts), 0)
    end
    if broken then return nil, broken end
    local bytes, err = M.encode_value(value, "events.publish")
    if not bytes then return nil, err end
    local ok, serr = send { op = "pub", topic = topic, value = bytes, retain = opts and opts.retain == true or nil }
    if ok then stats.published = stats.published + 1 end
    return ok, serr
  end

  --- events.receive([topic] [, timeout]) -> value, from, topic | nil, "timeout" | nil, err
  function api.receive(topic, timeout)
    if topic ~= nil then
      if not valid_topic(topic) then error(topic_error("events.receive", topic), 0) end
      if not subscribed[topic] then error("events.receive: not subscribed to topic " .. topic, 0) end
    end
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
      error("events.receive: timeout must be a number of seconds, got " .. type(timeout), 0)
    end
    local item
    local function got() item = inbox.pop(topic) return item ~= nil end
    if not got() then
      if broken then return nil, broken end
      local ok, err = pump(got, timeout and now() + timeout)
      if not ok then return nil, err end
    end
    local value, err = S.decode(item.value)
    if value == nil then return nil, "events.receive: undecodable value: " .. tostring(err) end
    stats.received = stats.received + 1
    return value, item.from, item.topic
  end

  --- events.stats() -> { published =, received =, dropped = }
  function api.stats()
    return { published = stats.published, received = stats.received, dropped = inbox.dropped }
  end

  return api
end

-- The executor side ---------------------------------------------------------

--- A bridge between this executor's tasks and the router. `transport` has
--- send(msg) (a table to the router). Returns an object with attach(task_id,
--- chan), detach(task_id), fds(), pump(readable_fds), on_router(msg).
function M.bridge(transport)
  local b = { transport = transport, tasks = {}, by_fd = {}, topics = {} }
  -- topics[topic] = { state = "pending"|"acked", subs = {task_id = "pending"|"acked"}, n = count,
  --                   retained = {value=, from=} }

  local function to_task(rec, frame)
    local ok, err = rec.chan:send(assert(S.encode(frame)), false)
    if not ok and err == "full" then rec.dropped = rec.dropped + 1 end
    return ok
  end

  local function ack(rec, topic, t)
    t.subs[rec.id] = "acked"
    to_task(rec, { op = "suback", topic = topic })
    if t.retained then
      to_task(rec, { op = "msg", topic = topic, value = t.retained.value, from = t.retained.from })
    end
  end

  local function unsubscribe(rec, topic)
    local t = b.topics[topic]
    if not (t and t.subs[rec.id]) then return end
    t.subs[rec.id] = nil
    rec.topics[topic] = nil
    t.n = t.n - 1
    if t.n == 0 then
      b.topics[topic] = nil
      transport.send { op = "unsub", topic = topic }
    end
  end

  local function from_task(rec, bytes)
    local f = S.decode(bytes)
    if type(f) ~= "table" or not valid_topic(f.topic) then return end
    if f.op == "sub" then
      if rec.topics[f.topic] then return ack(rec, f.topic, b.topics[f.topic]) end
      local t = b.topics[f.topic]
      if not t then
        t = { state = "pending", subs = {}, n = 0 }
        b.topics[f.topic] = t
        transport.send { op = "sub", topic = f.topic }
      end
      rec.topics[f.topic] = true
      t.n = t.n + 1
      t.subs[rec.id] = "pending"
      if t.state == "acked" then ack(rec, f.topic, t) end
    elseif f.op == "unsub" then
      unsubscribe(rec, f.topic)
    elseif f.op == "pub" and type(f.value) == "string" then
      transport.send { op = "pub", topic = f.topic, value = f.value, from = rec.id, retain = f.retain == true or nil }
    end
  end

  function b.attach(task_id, chan)
    local rec = { id = task_id, chan = chan, topics = {}, dropped = 0 }
    b.tasks[task_id] = rec
    b.by_fd[chan:fd()] = rec
  end

  function b.detach(task_id)
    local rec = b.tasks[task_id]
    if not rec then return end
    for topic in pairs(rec.topics) do unsubscribe(rec, topic) end
    b.tasks[task_id] = nil
    b.by_fd[rec.chan:fd()] = nil
    rec.chan:close()
    return rec.dropped
  end

  function b.fds(list)
    for fd in pairs(b.by_fd) do list[#list + 1] = fd end
    if transport.fd then list[#list + 1] = transport.fd() end
    return list
  end

  local function drain(rec, budget)
    for _ = 1, budget or 256 do
      local bytes = rec.chan:recv(0)
      if not bytes then break end
      from_task(rec, bytes)
    end
  end

  --- Reads what the tasks sent (at most `budget` frames per task per call,
  --- so one chatty task cannot starve the executor).
  function b.pump(budget)
    if transport.pump then transport.pump(b.on_router) end
    for _, rec in pairs(b.tasks) do drain(rec, budget) end
  end

  --- The same for the tasks whose channel fds are in `ready` (a list of
  --- fds, as mesos.wait_readable returns): no call for the quiet ones.
  function b.pump_ready(ready, budget)
    if transport.pump then transport.pump(b.on_router) end
    for _, fd in ipairs(ready) do
      local rec = b.by_fd[fd]
      if rec then drain(rec, budget) end
    end
  end

  --- Reads what one task sent (before it is detached).
  function b.pump_task(task_id, budget)
    local rec = b.tasks[task_id]
    if rec then drain(rec, budget) end
  end

  --- A message from the router.
  function b.on_router(msg)
    local t = b.topics[msg.topic]
    if not t then return end
    if msg.op == "suback" then
      t.state = "acked"
      if type(msg.retained) == "string" then t.retained = { value = msg.retained, from = msg.retained_from } end
      for id, st in pairs(t.subs) do
        if st == "pending" then ack(b.tasks[id], msg.topic, t) end
      end
    elseif msg.op == "msg" and type(msg.value) == "string" then
      if msg.retain then t.retained = { value = msg.value, from = msg.from } end
      local frame = { op = "msg", topic = msg.topic, value = msg.value, from = msg.from }
      for id, st in pairs(t.subs) do
        if st == "acked" then to_task(b.tasks[id], frame) end
      end
    end
  end

  --- Subscriptions to announce again (after the router lost them).
  function b.resubscribe()
    for topic, t in pairs(b.topics) do
      transport.send { op = "sub", topic = topic }
      t.state = t.state == "acked" and "acked" or "pending"
    end
  end

  return b
end

--- The framework-message transport for an executor: messages to the router
--- go out as framework messages through `driver`.
function M.framework_transport(driver, log)
  return {
    send = function(msg)
      local ok, err = driver:message(M.pack(msg))
      if not ok and log then log("events: message to the scheduler lost:", tostring(err)) end
    end,
  }
end

-- NATS -----------------------------------------------------------------------
-- With a NATS server, values go from the publishing executor straight to
-- the subscribing ones through NATS subjects; the router still answers
-- subscriptions (with the retained value) and keeps retained values, over
-- its control subject. Each router has its own namespace of subjects.

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- The NATS subject of a topic in a router's namespace (any bytes are fine
--- in a topic: it is hex-encoded into one subject token).
function M.subject(ns, topic) return ("mesos-events.%s.t.%s"):format(ns, hex(topic)) end
local function control_subject(ns) return ("mesos-events.%s.router"):format(ns) end

local function random_token()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(8)
  if f then f:close() end
  if not bytes or #bytes < 8 then
    bytes = tostring(os.time()) .. tostring(mesos.monotonic()) .. tostring({})
  end
  return hex(bytes):sub(1, 16)
end

-- Hands every queued NATS message's events payload to fn(msg, nats_msg).
local function drain(client, fn, budget)
  for _ = 1, budget or 4096 do
    local m = client:poll(0)
    if not m then return end
    local msg = M.unpack(m.payload)
    if msg then fn(msg, m) end
  end
end

--- The NATS transport for an executor's bridge: `url` of the server, `ns`
--- the router's namespace. Returns the transport, or nil and an error.
function M.nats_transport(url, ns, log)
  local client, err = mesos.nats(url, { name = "mesos.executor events" })
  if not client then return nil, err end
  local inbox = ("mesos-events.%s.inbox.%s"):format(ns, random_token())
  local ok, serr = client:subscribe(inbox)
  if not ok then client:close() return nil, serr end
  local sids = {}
  local function check(r, e)
    if not r and log then log("events: NATS:", tostring(e)) end
    return r
  end
  local t = { client = client }
  function t.send(msg)
    if msg.op == "sub" then
      -- SUB before asking the router: NATS handles one connection's
      -- commands in order, so the subscription is in effect at the server
      -- when the router answers.
      sids[msg.topic] = sids[msg.topic] or check(client:subscribe(M.subject(ns, msg.topic)))
      check(client:publish(control_subject(ns), M.pack { op = "sub", topic = msg.topic, reply = inbox }))
    elseif msg.op == "unsub" then
      if sids[msg.topic] then check(client:unsubscribe(sids[msg.topic])) end
      sids[msg.topic] = nil
    elseif msg.op == "pub" then
      local frame = M.pack { op = "msg", topic = msg.topic, value = msg.value, from = msg.from }
      if msg.retain then
        -- Through the router, which keeps it and publishes it, so that no
        -- subscriber can miss both the live value and the retained one.
        check(client:publish(control_subject(ns), M.pack {
          op = "retain", topic = msg.topic, value = msg.value, from = msg.from }))
      else
        check(client:publish(M.subject(ns, msg.topic), frame))
      end
    end
  end
  function t.fd() return client:fd() end
  function t.pump(deliver) drain(client, deliver) end
  function t.close() client:close() end
  return t
end

-- The scheduler side --------------------------------------------------------

local Router = {}
Router.__index = Router

--- A router: the hub of a framework's topics (one per scheduler). Pass it
--- as opts.events to mesos.map/mesos.run/jobs.run_all, or call
--- router:handle_message from your scheduler's `message` handler.
--- opts.nats = "nats://host:port": values travel through that NATS server.
--- Returns the router, or raises when the NATS server cannot be reached
--- (use pcall, or mesos.map's opts.nats, which returns nil, err).
function M.router(opts)
  if opts ~= nil and type(opts) ~= "table" then error("mesos.router: opts must be a table", 2) end
  opts = opts or {}
  local bad = mesos._unknown_option(opts, { "nats" })
  if bad then error("mesos.router: " .. bad, 2) end
  local r = setmetatable({
    subs = {},       -- topic -> { [agent/executor key] = {agent_id=, executor_id=} }
    handlers = {},   -- topic -> list of fn(value, from, topic)
    retained = {},   -- topic -> { value = bytes, from = }
    stats_ = { published = 0, delivered = 0, lost = 0 },
  }, Router)
  if opts.nats ~= nil then
    if type(opts.nats) ~= "string" then error("mesos.router: opts.nats must be a nats:// URL", 2) end
    local client, err = mesos.nats(opts.nats, { name = "mesos.router" })
    if not client then error(("mesos.router: cannot reach NATS at %s: %s"):format(opts.nats, tostring(err)), 2) end
    r.nats, r.nats_url, r.ns, r.sids = client, opts.nats, random_token(), {}
    local ok, serr = client:subscribe(control_subject(r.ns))
    if ok then ok, serr = client:flush(10) end
    if not ok then
      client:close()
      error("mesos.router: NATS: " .. tostring(serr), 2)
    end
  end
  return r
end

--- What tasks need to know to reach this router (in their requests).
function Router:task_events()
  if self.nats then return { nats = self.nats_url, ns = self.ns } end
  return nil
end

--- The fd to wait on for NATS traffic (nil without NATS).
function Router:fd()
  return self.nats and self.nats:fd() or nil
end

--- Handles what arrived from NATS (no-op without NATS); never blocks.
function Router:pump()
  if not self.nats then return end
  drain(self.nats, function(msg, m)
    if m.subject == control_subject(self.ns) then
      if msg.op == "sub" and type(msg.reply) == "string" then
        local r = self.retained[msg.topic]
        self.nats:publish(msg.reply, M.pack {
          op = "suback", topic = msg.topic, retained = r and r.value, retained_from = r and r.from })
      elseif msg.op == "retain" and type(msg.value) == "string" then
        self:route(msg.topic, msg.value, msg.from, true)
      end
    elseif msg.op == "msg" and type(msg.value) == "string" then
      self:call_handlers(msg.topic, msg.value, msg.from)
    end
  end)
end

function Router:close()
  if self.nats then self.nats:close() end
end

local function executor_key(agent_id, executor_id)
  return tostring(agent_id and agent_id.value) .. "\0" .. tostring(executor_id and executor_id.value)
end

--- Sets the scheduler driver publications go out through.
function Router:attach(driver)
  self.driver = driver
  return self
end

local function send_to(self, sub, msg)
  if not self.driver then return end
  local ok = self.driver:message(sub.agent_id, sub.executor_id, M.pack(msg))
  if ok then
    self.stats_.delivered = self.stats_.delivered + 1
  else
    self.stats_.lost = self.stats_.lost + 1
  end
end

function Router:call_handlers(topic, bytes, from)
  local hs = self.handlers[topic]
  if hs and #hs > 0 then
    local value = S.decode(bytes)
    for _, fn in ipairs({ unpack(hs) }) do fn(value, from, topic) end
  end
end

-- Hands an encoded value to every subscription of `topic`.
function Router:route(topic, bytes, from, retain)
  self.stats_.published = self.stats_.published + 1
  if retain then self.retained[topic] = { value = bytes, from = from } end
  local msg = { op = "msg", topic = topic, value = bytes, from = from, retain = retain or nil }
  if self.nats then
    -- NATS fans it out, to this router's own subscriptions too.
    local ok = self.nats:publish(M.subject(self.ns, topic), M.pack(msg))
    self.stats_[ok and "delivered" or "lost"] = self.stats_[ok and "delivered" or "lost"] + 1
    return
  end
  for _, sub in pairs(self.subs[topic] or {}) do send_to(self, sub, msg) end
  self:call_handlers(topic, bytes, from)
end

--- Handles a framework message; true when it was an events message.
function Router:handle_message(driver, agent_id, executor_id, data)
  local msg = M.unpack(data)
  if not msg then return false end
  self.driver = self.driver or driver
  local key = executor_key(agent_id, executor_id)
  if msg.op == "sub" then
    local subs = self.subs[msg.topic] or {}
    self.subs[msg.topic] = subs
    local sub = { agent_id = agent_id, executor_id = executor_id }
    subs[key] = sub
    local r = self.retained[msg.topic]
    send_to(self, sub, { op = "suback", topic = msg.topic, retained = r and r.value, retained_from = r and r.from })
  elseif msg.op == "unsub" then
    local subs = self.subs[msg.topic]
    if subs then
      subs[key] = nil
      if next(subs) == nil then self.subs[msg.topic] = nil end
    end
  elseif msg.op == "pub" and type(msg.value) == "string" then
    self:route(msg.topic, msg.value, msg.from, msg.retain == true)
  end
  return true
end

--- Drops every subscription of an executor (it is gone).
function Router:forget(agent_id, executor_id)
  local key = executor_key(agent_id, executor_id)
  for topic, subs in pairs(self.subs) do
    subs[key] = nil
    if next(subs) == nil then self.subs[topic] = nil end
  end
end

--- router:subscribe(topic, fn) -> fn: fn(value, from, topic) runs (on the
--- scheduler's thread, from the driver's dispatch) for every value published
--- to topic; a retained value is handed over at once.
function Router:subscribe(topic, fn)
  if not valid_topic(topic) then error(topic_error("router:subscribe", topic), 2) end
  if type(fn) ~= "function" then error("router:subscribe: fn must be a function, got " .. type(fn), 2) end
  local hs = self.handlers[topic] or {}
  self.handlers[topic] = hs
  hs[#hs + 1] = fn
  if self.nats and not self.sids[topic] then
    self.sids[topic] = self.nats:subscribe(M.subject(self.ns, topic))
    self.nats:flush(10)
  end
  local r = self.retained[topic]
  if r then fn(S.decode(r.value), r.from, topic) end
  return fn
end

--- router:unsubscribe(topic [, fn]): one handler, or all of the topic's.
function Router:unsubscribe(topic, fn)
  local hs = self.handlers[topic]
  if not hs then return end
  for i = #hs, 1, -1 do
    if fn == nil or hs[i] == fn then table.remove(hs, i) end
  end
end

--- router:publish(topic, value [, {retain = true}]) -> true | nil, err
function Router:publish(topic, value, opts)
  if not valid_topic(topic) then error(topic_error("router:publish", topic), 2) end
  local bytes, err = M.encode_value(value, "router:publish")
  if not bytes then return nil, err end
  self:route(topic, bytes, "scheduler", opts and opts.retain == true)
  return true
end

--- router:stats() -> { published =, delivered =, lost =, topics = }
function Router:stats()
  local topics = 0
  for _ in pairs(self.subs) do topics = topics + 1 end
  return {
    published = self.stats_.published, delivered = self.stats_.delivered,
    lost = self.stats_.lost, topics = topics,
  }
end

M.Router = Router
M.new_inbox = new_inbox
return M
