-- The task side of mesos.tasks.events: the `events` table task code sees
-- (publish, subscribe, receive, ...), talking to its executor over the task
-- process's channel (fd 3).
-- May require: mesos, mesos.serialize, mesos.tasks.events.wire.

local mesos = require "mesos"
local S = require "mesos.serialize"
local W = require "mesos.tasks.events.wire"

local M = {}

local now = mesos.monotonic

--- The `events` table for task code, over channel `chan` (nil: the task does
--- not run under the Lua executor, and every call says so), and a function
--- that ends its subscriptions.
function M.task_api(chan)
  local subscribed = {}   -- topic -> true once the router has it
  local inbox = W.new_inbox(W.INBOX_LIMIT)
  local stats = { published = 0, received = 0 }
  local broken = chan == nil and "events are only available in tasks run by the Lua executor" or nil

  local function fail(err)
    if err == "closed" then broken = "the executor is gone" return nil, broken end
    return nil, err
  end

  local function handle(bytes)
    local f = S.decode(bytes)
    if type(f) ~= "table" or not W.valid_topic(f.topic) then return end
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
    if not W.valid_topic(topic) then error(W.topic_error("events.subscribe", topic), 0) end
    if broken then return nil, broken end
    if subscribed[topic] then return true end
    local ok, err = send { op = "sub", topic = topic }
    if not ok then return nil, err end
    ok, err = pump(function() return subscribed[topic] end, now() + (timeout or W.SUBSCRIBE_TIMEOUT))
    if not ok then
      if err == "timeout" then err = "events.subscribe: no answer from the router for topic " .. topic end
      return nil, err
    end
    return true
  end

  --- events.unsubscribe(topic) -> true | nil, err
  function api.unsubscribe(topic)
    if not W.valid_topic(topic) then error(W.topic_error("events.unsubscribe", topic), 0) end
    if broken then return nil, broken end
    if not subscribed[topic] then return true end
    subscribed[topic] = nil
    inbox.clear(topic)
    return send { op = "unsub", topic = topic }
  end

  --- events.publish(topic, value [, {retain = true}]) -> true | nil, err
  function api.publish(topic, value, opts)
    if not W.valid_topic(topic) then error(W.topic_error("events.publish", topic), 0) end
    if opts ~= nil and type(opts) ~= "table" then
      error("events.publish: opts must be a table, got " .. type(opts), 0)
    end
    if broken then return nil, broken end
    local bytes, err = W.encode_value(value, "events.publish")
    if not bytes then return nil, err end
    local ok, serr = send { op = "pub", topic = topic, value = bytes, retain = opts and opts.retain == true or nil }
    if ok then stats.published = stats.published + 1 end
    return ok, serr
  end

  --- events.receive([topic] [, timeout]) -> value, from, topic | nil, "timeout" | nil, err
  function api.receive(topic, timeout)
    if topic ~= nil then
      if not W.valid_topic(topic) then error(W.topic_error("events.receive", topic), 0) end
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

  -- For the runtime, not task code: ends every subscription (a worker's
  -- item is done; the next item starts with none).
  local function close()
    if broken then return end
    for topic in pairs(subscribed) do api.unsubscribe(topic) end
  end

  return api, close
end

return M
