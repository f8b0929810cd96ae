-- The scheduler side of mesos.tasks.events: the router knows which
-- executors subscribed to a topic, fans publications out to them, keeps
-- retained values, and gives the framework's own code the same topics.
-- May require: mesos, mesos.serialize, mesos.tasks.events.wire,
-- mesos.tasks.events.nats.

local mesos = require "mesos"
local S = require "mesos.serialize"
local W = require "mesos.tasks.events.wire"
local nats = require "mesos.tasks.events.nats"

local M = {}

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
    r.nats, r.nats_url, r.ns, r.sids = client, opts.nats, nats.random_token(), {}
    local ok, serr = client:subscribe(nats.control_subject(r.ns))
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
  nats.drain(self.nats, function(msg, m)
    if m.subject == nats.control_subject(self.ns) then
      if msg.op == "sub" and type(msg.reply) == "string" then
        local r = self.retained[msg.topic]
        self.nats:publish(msg.reply, W.pack {
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
  local ok = self.driver:message(sub.agent_id, sub.executor_id, W.pack(msg))
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
    local ok = self.nats:publish(nats.subject(self.ns, topic), W.pack(msg))
    self.stats_[ok and "delivered" or "lost"] = self.stats_[ok and "delivered" or "lost"] + 1
    return
  end
  for _, sub in pairs(self.subs[topic] or {}) do send_to(self, sub, msg) end
  self:call_handlers(topic, bytes, from)
end

--- Handles a framework message; true when it was an events message.
function Router:handle_message(driver, agent_id, executor_id, data)
  local msg = W.unpack(data)
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
  if not W.valid_topic(topic) then error(W.topic_error("router:subscribe", topic), 2) end
  if type(fn) ~= "function" then error("router:subscribe: fn must be a function, got " .. type(fn), 2) end
  local hs = self.handlers[topic] or {}
  self.handlers[topic] = hs
  hs[#hs + 1] = fn
  if self.nats and not self.sids[topic] then
    self.sids[topic] = self.nats:subscribe(nats.subject(self.ns, topic))
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
  if not W.valid_topic(topic) then error(W.topic_error("router:publish", topic), 2) end
  local bytes, err = W.encode_value(value, "router:publish")
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
return M
