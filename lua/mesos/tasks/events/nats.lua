-- mesos.tasks.events over NATS. With a NATS server, values go from the
-- publishing executor straight to the subscribing ones through NATS
-- subjects; the router still answers subscriptions (with the retained
-- value) and keeps retained values, over its control subject. Each router
-- has its own namespace of subjects.
-- May require: mesos, mesos.tasks.events.wire.

local mesos = require "mesos"
local W = require "mesos.tasks.events.wire"

local M = {}

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- The NATS subject of a topic in a router's namespace (any bytes are fine
--- in a topic: it is hex-encoded into one subject token).
function M.subject(ns, topic) return ("mesos-events.%s.t.%s"):format(ns, hex(topic)) end
function M.control_subject(ns) return ("mesos-events.%s.router"):format(ns) end

function M.random_token()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(8)
  if f then f:close() end
  if not bytes or #bytes < 8 then
    bytes = tostring(os.time()) .. tostring(mesos.monotonic()) .. tostring({})
  end
  return hex(bytes):sub(1, 16)
end

-- Hands every queued NATS message's events payload to fn(msg, nats_msg).
function M.drain(client, fn, budget)
  for _ = 1, budget or 4096 do
    local m = client:poll(0)
    if not m then return end
    local msg = W.unpack(m.payload)
    if msg then fn(msg, m) end
  end
end

--- The NATS transport for an executor's bridge: `url` of the server, `ns`
--- the router's namespace. Returns the transport, or nil and an error.
function M.transport(url, ns, log)
  local client, err = mesos.nats(url, { name = "mesos.executor events" })
  if not client then return nil, err end
  local inbox = ("mesos-events.%s.inbox.%s"):format(ns, M.random_token())
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
      check(client:publish(M.control_subject(ns), W.pack { op = "sub", topic = msg.topic, reply = inbox }))
    elseif msg.op == "unsub" then
      if sids[msg.topic] then check(client:unsubscribe(sids[msg.topic])) end
      sids[msg.topic] = nil
    elseif msg.op == "pub" then
      local frame = W.pack { op = "msg", topic = msg.topic, value = msg.value, from = msg.from }
      if msg.retain then
        -- Through the router, which keeps it and publishes it, so that no
        -- subscriber can miss both the live value and the retained one.
        check(client:publish(M.control_subject(ns), W.pack {
          op = "retain", topic = msg.topic, value = msg.value, from = msg.from }))
      else
        check(client:publish(M.subject(ns, msg.topic), frame))
      end
    end
  end
  function t.fd() return client:fd() end
  function t.pump(deliver) M.drain(client, deliver) end
  function t.close() client:close() end
  return t
end

return M
