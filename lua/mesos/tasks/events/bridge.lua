-- The executor side of mesos.tasks.events: a bridge that keeps which of the
-- executor's tasks subscribed to what, forwards their publications to the
-- router and hands them what arrives; and the framework-message transport
-- between the bridge and the router.
-- May require: mesos.serialize, mesos.tasks.events.wire.

local S = require "mesos.serialize"
local W = require "mesos.tasks.events.wire"

local M = {}

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
    if type(f) ~= "table" or not W.valid_topic(f.topic) then return end
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

  --- `other(bytes)`, when given, sees every frame from the task first and
  --- returns true for those that are not events (a worker's work frames).
  function b.attach(task_id, chan, other)
    local rec = { id = task_id, chan = chan, topics = {}, dropped = 0, other = other }
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
      if not (rec.other and rec.other(bytes)) then from_task(rec, bytes) end
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
      local ok, err = driver:message(W.pack(msg))
      if not ok and log then log("events: message to the scheduler lost:", tostring(err)) end
    end,
  }
end

return M
