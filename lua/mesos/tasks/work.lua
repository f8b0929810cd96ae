-- The frames of the work protocol: how items travel from the scheduler
-- (mesos.tasks.jobs) to a worker process and results come back.
--
-- A worker is one Mesos task on the Lua executor (mesos.tasks.lua_executor)
-- whose process (mesos.tasks.task, in worker mode) runs many items, one
-- after the other, each in a fresh sandbox. Items and results travel in
-- batches:
--
--   scheduler --framework message--> executor --channel (fd 3)--> worker
--   scheduler <--framework message-- executor <--channel (fd 3)-- worker
--
-- The executor does not decode what it forwards. A framework message is
--   PREFIX .. task_id .. "\n" .. generation .. "\n" .. body
-- where `generation` counts the worker's processes (the executor starts a
-- new one when one dies or is killed at an item's timeout): a batch sent
-- to a process that is gone is dropped, and the scheduler, told of the
-- loss, sends its items again. A channel frame is
--   PREFIX .. kind .. more .. chunk
-- with kind "I" (items, to the worker), "R" (results, from it), "B" (the
-- index of the item it begins, for the executor's timeouts), and more "+"
-- while chunks of one body follow (a channel message is at most
-- mesos.CHANNEL_MAX_MESSAGE bytes), "." on the last.
--
-- Bodies (mesos.serialize):
--   items    { batch = id, items = { { i = index, args = {...} }, ... } }
--   results  { batch = id, results = { { i = index, ok =, n =, values =,
--              error =, output = }, ... }, elapsed = seconds, last = bool }
--   lost     { lost = reason, generation = g, timed_out = index or nil }
--            (executor -> scheduler: the worker's process ended; it runs again
--            as generation g)
--
-- May require: mesos (for the channel's limit).

local mesos = require "mesos"

local M = {}

M.PREFIX = "mesos.work/1:"
local PREFIX, NP = M.PREFIX, #M.PREFIX
-- Room for the prefix and flags in one channel message.
local CHUNK = (mesos.CHANNEL_MAX_MESSAGE or 131072) - 64

-- Framework messages -------------------------------------------------------------

--- The framework message carrying `body` for worker `task_id`, generation `g`.
function M.message(task_id, g, body)
  return PREFIX .. task_id .. "\n" .. g .. "\n" .. body
end

--- task_id, generation, body of a work message; nil when `data` is not one.
function M.parse_message(data)
  if type(data) ~= "string" or data:sub(1, NP) ~= PREFIX then return nil end
  local id_end = data:find("\n", NP + 1, true)
  if not id_end then return nil end
  local g_end = data:find("\n", id_end + 1, true)
  if not g_end then return nil end
  local g = tonumber(data:sub(id_end + 1, g_end - 1))
  if not g then return nil end
  return data:sub(NP + 1, id_end - 1), g, data:sub(g_end + 1)
end

-- Channel frames -------------------------------------------------------------------

--- The channel frames of `body` of `kind`, appended to `list`.
function M.frames(kind, body, list)
  list = list or {}
  local at, n = 1, #body
  repeat
    local last = at + CHUNK > n
    list[#list + 1] = PREFIX .. kind .. (last and "." or "+") .. body:sub(at, at + CHUNK - 1)
    at = at + CHUNK
  until last
  return list
end

--- Sends `body` of `kind` over `chan`, waiting while the channel is full.
--- Returns true, or nil and the channel's error.
function M.send(chan, kind, body)
  for _, frame in ipairs(M.frames(kind, body)) do
    local ok, err = chan:send(frame, true)
    if not ok then return nil, err end
  end
  return true
end

--- True when a channel message is a work frame (not an events frame).
function M.is_frame(bytes)
  return bytes:sub(1, NP) == PREFIX
end

--- A reassembler of frames: feed(bytes) -> kind, body once a body is
--- whole; nil while chunks are missing or when `bytes` is no work frame.
function M.receiver()
  local parts, parts_kind = {}, nil
  return function(bytes)
    if bytes:sub(1, NP) ~= PREFIX then return nil end
    local kind, more = bytes:sub(NP + 1, NP + 1), bytes:sub(NP + 2, NP + 2)
    if parts_kind and parts_kind ~= kind then parts = {} end
    parts[#parts + 1] = bytes:sub(NP + 3)
    if more == "+" then
      parts_kind = kind
      return nil
    end
    local body = #parts == 1 and parts[1] or table.concat(parts)
    parts, parts_kind = {}, nil
    return kind, body
  end
end

return M
