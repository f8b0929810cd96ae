-- The body of a task process: read ONE request from stdin, run it in the
-- sandbox (mesos.sandbox), write ONE reply to stdout, exit 0 (unless killed).
--
--   luajit -e 'require("mesos.tasks.task").main()'
--
-- or in a child forked by a zygote (M.zygote; mesos.zygote), which passes
-- the request's bytes to main() instead. A request with worker = true makes
-- the process a worker (M.worker, mesos.tasks.work): it runs items from its
-- channel until the channel closes, and writes no reply.
--
-- Request (mesos.serialize): { code = "...", args = {...}, index = n,
--   allow_bytecode = bool, allow_env = bool,
--   chunkname = "@file.lua" (default "=task": the name in messages and for
--   the debugger),
--   debug = "host:port" (connect to a MobDebug controller first, see
--   mesos.debugger; JIT off), debug_root = dir (where relative chunk names
--   are, on the controller's side),
--   read_dir = path (the directory io.open/io.lines may read: the sandbox),
--   max_result_bytes = n (default 64 MiB: the whole encoded reply),
--   channel = bool (the executor passed a message channel on fd 3: task code
--   gets the `events` API of mesos.events over it) }
-- Reply (mesos.serialize):
--   { ok = true, n = count, values = { ... }, output = "printed text" }
--   { ok = false, error = "message\ntraceback", output = "printed text" }
-- A result that cannot be serialised (function, cycle, too big, ...) makes
-- the reply ok = false with the serialiser's error ("... at result[2].x").
-- Printed output is kept up to a quarter of max_result_bytes (at most 16 MiB).
-- CPU, memory and wall-clock limits are the executor's job (rlimits, kill).

local S = require "mesos.serialize"
local sandbox = require "mesos.tasks.sandbox"
-- mesos.debugger is loaded by the tasks that ask for it (req.debug) only.

local M = {}

M.MAX_RESULT = S.MAX_BYTES
-- The reply's keys, n and the lengths of its strings. The values are measured
-- encoded on their own, version marker included; inside the reply they share
-- its one marker, so that marker needs no room of its own.
local REPLY_OVERHEAD = 256
M.REPLY_OVERHEAD = REPLY_OVERHEAD

local function failure(err, output)
  return { ok = false, error = err, output = output or "" }
end

local function result_limit(req)
  local limit = type(req) == "table" and req.max_result_bytes
  if type(limit) == "number" and limit >= 4096 then return limit end
  return M.MAX_RESULT
end

-- Runs a decoded request; returns the reply table (never raises). `chan`:
-- the executor's channel when the caller holds it already (a worker).
function M.run_request(req, chan)
  if type(req) ~= "table" then return failure("bad request: expected a table, got " .. type(req)) end
  if req.closure ~= nil and (type(req.closure) ~= "table" or type(req.closure.code) ~= "string") then
    return failure("bad request: closure must be a packed function")
  end
  if req.closure == nil and type(req.code) ~= "string" then return failure("bad request: code must be a string") end
  if req.args ~= nil and type(req.args) ~= "table" then return failure("bad request: args must be a table") end
  if req.index ~= nil and type(req.index) ~= "number" then return failure("bad request: index must be a number") end
  if req.chunkname ~= nil and type(req.chunkname) ~= "string" then
    return failure("bad request: chunkname must be a string")
  end
  local session
  if req.debug ~= nil then
    -- Reliable line hooks need the JIT off from the start (and only here:
    -- a task process runs one task).
    if jit then jit.off() end
    local err
    session, err = require("mesos.tasks.debugger").connect(req.debug, {
      root = type(req.debug_root) == "string" and req.debug_root or nil,
      on_exit = M.on_debug_exit,
    })
    if not session then return failure(err) end
  end

  local limit = result_limit(req)
  local shared_chan = chan ~= nil
  if chan == nil and req.channel == true then
    local err
    chan, err = require("mesos").channel_open()
    if not chan then return failure("cannot open the executor's channel: " .. tostring(err)) end
  end
  if session then session:start() end
  local events_api, events_close = require("mesos.tasks.events.task_side").task_api(chan)
  local ok, a, b, c = sandbox.run(req.code, {
    closure = req.closure,
    api = { events = events_api },
    args = req.args, index = req.index, chunkname = req.chunkname,
    max_output = math.min(sandbox.MAX_OUTPUT, math.floor(limit / 4)),
    allow_bytecode = req.allow_bytecode == true, allow_env = req.allow_env == true,
    read_dir = type(req.read_dir) == "string" and req.read_dir or nil,
    on_output = session and function(s) return session:output(s) end,
  })
  if session then session:finish(ok, a) end
  -- A worker's channel outlives the item: so must not its subscriptions.
  if shared_chan then events_close() end
  if not ok then return failure(a, b) end -- message, output
  local n, values, output = a, b, c
  local encoded, err = S.encode_values(n, values, { max_bytes = limit - #output - REPLY_OVERHEAD })
  if not encoded then
    if err:find("exceeds max_bytes", 1, true) then
      err = ("result too big: over the limit of %d bytes (max_result_bytes) for the reply, output included (%s)")
        :format(limit, err)
    end
    return failure(err, output)
  end
  return { ok = true, n = n, values = values, output = output }
end

-- Encodes a reply within max_bytes; one that does not fit or cannot be
-- encoded becomes a short error reply.
function M.encode_reply(reply, max_bytes)
  local bytes, err = S.encode(reply, { name = "reply", max_bytes = max_bytes or M.MAX_RESULT })
  if bytes then return bytes end
  return assert(S.encode(failure("cannot encode the reply: " .. err)))
end

-- Worker mode (mesos.tasks.work) ---------------------------------------------------

-- The request of one item of a worker: the worker's request with the
-- item's index and arguments (and code, chunk name or result limit when the
-- item has its own).
local function item_request(req, item)
  local r = {}
  for k, v in pairs(req) do r[k] = v end
  r.worker, r.channel = nil, nil
  r.index, r.args = item.i, item.args
  if item.code then r.code, r.allow_bytecode, r.closure = item.code, item.allow_bytecode, nil end
  if item.closure then r.closure, r.code = item.closure, nil end
  if item.chunkname then r.chunkname = item.chunkname end
  if item.max_result_bytes then r.max_result_bytes = item.max_result_bytes end
  return r
end

-- Results are sent when a batch ends, and meanwhile at least this often
-- (seconds) or once this many bytes of output are waiting.
local FLUSH_EVERY, FLUSH_BYTES = 0.1, 1024 * 1024
local GC_GROWTH_KB = 8 * 1024

--- A worker's life: takes batches of items from the executor over the
--- channel, runs each item in its own sandbox as a task would run, and
--- sends the results back per batch. Ends when the channel closes.
function M.worker(req)
  local mesos = require "mesos"
  local work = require "mesos.tasks.work"
  local chan, err = mesos.channel_open()
  if not chan then return failure("cannot open the executor's channel: " .. tostring(err)) end
  local feed, batches = work.receiver(), {}
  -- The channel as task code's `events` sees it: work frames that arrive
  -- while an item waits for events are kept for the loop below.
  local events_chan = {
    recv = function(_, wait)
      local bytes, rerr = chan:recv(wait)
      if bytes and work.is_frame(bytes) then
        local kind, body = feed(bytes)
        if kind == "I" then batches[#batches + 1] = body end
        return nil
      end
      return bytes, rerr
    end,
    send = function(_, bytes, block) return chan:send(bytes, block) end,
  }
  local now = mesos.monotonic
  -- A debugger controller's EXIT ends the item it debugs (the debugger
  -- raises), not the worker.
  M.on_debug_exit = nil
  collectgarbage()
  local heap_after_gc = collectgarbage("count")
  local function run_batch(body)
    local batch = S.decode(body)
    if type(batch) ~= "table" or type(batch.items) ~= "table" then return end
    local results, output_bytes, started, flushed = {}, 0, now(), now()
    local function flush(last)
      local t = now()
      local bytes = S.encode({ batch = batch.batch, results = results, elapsed = t - started, last = last })
        or assert(S.encode({ batch = batch.batch, results = {}, elapsed = t - started, last = last }))
      assert(work.send(chan, last and "Z" or "R", bytes))
      results, output_bytes, flushed, started = {}, 0, t, t
    end
    local n = #batch.items
    for k, item in ipairs(batch.items) do
      local ireq = item_request(req, item)
      if ireq.timeout or item.timeout then
        assert(work.send(chan, "B", ("%d %g"):format(item.i, item.timeout or ireq.timeout)))
      end
      local reply = M.run_request(ireq, events_chan)
      if not reply.ok and type(reply.error) == "string" then
        if reply.error:find("^debugger: the controller ended the task") then
          reply.error = "the debugger controller ended the task (EXIT)"
        elseif ireq.memory_mb and reply.error:find("not enough memory", 1, true) then
          reply.error = ("memory limit exceeded (%g MB): %s"):format(ireq.memory_mb, reply.error)
        end
      end
      reply.i = item.i
      results[#results + 1] = reply
      -- What an item left behind is not the next one's to carry (a
      -- memory limit holds for each item): a full collection when the
      -- heap grew by much.
      if collectgarbage("count") > heap_after_gc + GC_GROWTH_KB then
        collectgarbage()
        heap_after_gc = collectgarbage("count")
      end
      output_bytes = output_bytes + #(reply.output or "")
      if k < n and (now() - flushed >= FLUSH_EVERY or output_bytes >= FLUSH_BYTES) then flush(false) end
    end
    flush(true)
  end
  while true do
    local body = table.remove(batches, 1)
    if body then
      run_batch(body)
    else
      local bytes = chan:recv(nil)
      if not bytes then break end -- the executor is gone
      if work.is_frame(bytes) then
        local kind, b = feed(bytes)
        if kind == "I" then run_batch(b) end
      end
      -- An events frame with no item running has nobody to go to.
    end
  end
  return nil
end

--- Runs one request and exits. `stdin` is the request's bytes (default:
--- read from stdin).
function M.main(stdin)
  local reply, limit
  -- A controller's EXIT ends the task at once, with this reply.
  M.on_debug_exit = function()
    io.stdout:write(M.encode_reply(failure("the debugger controller ended the task (EXIT)")))
    io.stdout:flush()
    os.exit(0)
  end
  local ok, err = pcall(function()
    local req, derr = S.decode(stdin or io.stdin:read("*a") or "")
    limit = result_limit(req)
    if derr then
      reply = failure("bad request: " .. derr)
    elseif type(req) == "table" and req.worker == true then
      reply = M.worker(req)
      if reply == nil then os.exit(0) end
    else
      reply = M.run_request(req)
    end
  end)
  if not ok then reply = failure("task runner error: " .. tostring(err)) end
  io.stdout:write(M.encode_reply(reply, limit))
  io.stdout:flush()
  os.exit(0)
end

--- The body of a zygote process (mesos.zygote, started by the executor as
---   luajit -e 'require "mesos"; require "mesos.tasks.task".zygote()'):
--- loads what tasks use once, then forks one fresh child per task; each
--- child runs main() on its request, as a task process would.
function M.zygote()
  local mesos = require "mesos"
  require "mesos.tasks.events"
  -- Children start from a collected heap.
  collectgarbage()
  local stdin, err = mesos.zygote_serve()
  if stdin == nil then
    if err then io.stderr:write(err, "\n") end
    os.exit(err and 1 or 0)
  end
  M.main(stdin)
end

return M
