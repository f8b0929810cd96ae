-- What the three parts of mesos.tasks.events share: the limits, topic
-- checks, the frame of our framework messages (pack/unpack), value
-- encoding and a bounded inbox.
-- May require: mesos, mesos.serialize.

local mesos = require "mesos"
local S = require "mesos.serialize"

local M = {}

M.MAGIC = "mesos.events/1:"          -- prefix of our framework messages
M.MAX_TOPIC = 256                    -- bytes
M.MAX_VALUE = (mesos.CHANNEL_MAX_MESSAGE or 131072) - 1024 -- encoded bytes
M.INBOX_LIMIT = 10000                -- values waiting in one task
M.SUBSCRIBE_TIMEOUT = 30             -- seconds

function M.topic_error(who, topic)
  return ("%s: topic must be a non-empty string of at most %d bytes, got %s"):format(
    who, M.MAX_TOPIC, type(topic) == "string" and ("%d bytes"):format(#topic) or type(topic))
end

function M.valid_topic(topic)
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
  if type(msg) == "table" and type(msg.op) == "string" and M.valid_topic(msg.topic) then return msg end
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
function M.new_inbox(limit)
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

return M
