-- The scheduler's side of the work protocol (mesos.tasks.work): a pool of
-- workers fed with batches of items.
--
-- Offers become workers (Mesos tasks on the Lua executor, each one
-- long-lived process running many items) as long as there is work they
-- could take. Each ready worker has at most two batches in flight; a
-- batch holds as many items as the worker runs in about BATCH_SECONDS,
-- learnt from the batches it returned (tiny items travel by thousands,
-- long ones one by one). Items are drawn from `next_item` only when a
-- batch needs them, so an iterator's input is never all in memory.
--
-- When a worker's process dies or is killed at an item's timeout, the
-- executor starts another and says so; when a worker's task ends (its
-- agent or executor lost), it is gone. Either way the items it had in
-- flight are sent again (each loss counts as an attempt, up to
-- 1 + `retries`; an item that timed out is failed, and the innocent
-- items of that worker are not charged). An item whose code raised is
-- never run again.
--
-- May require: mesos, mesos.serialize, mesos.tasks.work.

local mesos = require "mesos"
local S = require "mesos.serialize"
local work = require "mesos.tasks.work"
local R = mesos.resources

local M = {}

M.BATCH_SECONDS = 0.02      -- of work per batch, aimed at
M.FIRST_BATCH = 16          -- items, before anything is known
M.MAX_BATCH = 4096          -- items
M.MAX_BATCH_BYTES = 256 * 1024
M.IN_FLIGHT = 2             -- batches per worker
M.START_FAILURES = 1        -- workers that end before running while none runs: the run fails

local now = mesos.monotonic

--- A pool. cfg: next_item() -> index, item ({args =, code =, ...}) or nil
--- when the input is exhausted; task_for(worker_number, offer, resources)
--- -> the worker's TaskInfo (without resources); worker_resources(avail)
--- -> the resources of one more worker from `avail`, or nil; exec_res
--- and executor_id (the executor's own share, taken from an offer on an
--- agent not running it yet); retries; on_result(i, record);
--- on_start_failure(status) -> why (text) or nil.
function M.new(cfg)
  return setmetatable({
    cfg = cfg,
    queue = {},          -- items to send again, first: { i =, item =, attempts = }
    next_queued = 1,
    queued = 0,
    taken = 0,           -- items drawn from the input
    finished_items = 0,
    exhausted = false,
    inflight = {},       -- index -> { i =, item =, attempts =, worker = }
    inflight_count = 0,
    workers = {},        -- task id -> worker
    worker_count = 0,    -- launched and not gone
    ready_count = 0,
    launched = 0,
    batch_seq = 0,
    start_failures = 0,
  }, { __index = M })
end

-- The next item to send: one to send again first, else a new one.
function M:take()
  local q = self.queue[self.next_queued]
  if q then
    self.queue[self.next_queued] = nil
    self.next_queued = self.next_queued + 1
    self.queued = self.queued - 1
    return q
  end
  if self.exhausted then return nil end
  local i, item = self.cfg.next_item()
  if i == nil then
    self.exhausted = true
    return nil
  end
  self.taken = self.taken + 1
  return { i = i, item = item, attempts = 0 }
end

function M:requeue(entry)
  self.next_queued = self.next_queued - 1
  self.queue[self.next_queued] = entry
  self.queued = self.queued + 1
end

-- Items known to be waiting (nil while the input's length is unknown).
function M:known_waiting()
  if not self.cfg.total then return nil end
  return self.cfg.total - self.taken + self.queued
end

--- True when every item has come back.
function M:done()
  return self.exhausted and self.inflight_count == 0 and self.queue[self.next_queued] == nil
end

-- Whether more workers could help: items wait to be sent (how many
-- workers at most is worker_limit's question).
function M:wants_workers()
  return self.queue[self.next_queued] ~= nil or not self.exhausted
end

--- Launches workers from `offers` (driver `d`); declines what is left.
function M:offers(d, offers)
  for _, offer in ipairs(offers) do
    local tasks, avail = {}, offer.resources
    local has_executor = false
    for _, e in ipairs(offer.executor_ids or {}) do
      if e.value == self.cfg.executor_id then has_executor = true end
    end
    if not has_executor then
      avail = R.fits(self.cfg.exec_res, avail) and R.subtract(avail, self.cfg.exec_res) or {}
    end
    while self:wants_workers() and self.worker_count + #tasks < self:worker_limit() do
      local res = self.cfg.worker_resources(avail)
      if not res then break end
      self.launched = self.launched + 1
      local task = self.cfg.task_for(self.launched, offer)
      task.resources = res
      tasks[#tasks + 1] = task
      self.workers[task.task_id.value] = {
        id = task.task_id.value, agent_id = offer.agent_id, state = "launching",
        generation = 1, batches = {}, batch_count = 0, per_item = nil,
      }
      avail = R.subtract(avail, res)
    end
    self.worker_count = self.worker_count + #tasks
    local refuse = self:wants_workers() and 0 or 3600
    if #tasks > 0 then
      d:launch(offer.id, tasks, { refuse_seconds = refuse })
    else
      d:decline(offer.id, { refuse_seconds = refuse })
    end
  end
  if not self:wants_workers() or self.worker_count >= self:worker_limit() then d:suppress() end
end

-- No more workers than items left (when the input's length is known):
-- small runs get one worker per item, all running at once (items that
-- wait for each other's events need that).
function M:worker_limit()
  local limit = self.cfg.max_workers or math.huge
  if self.cfg.total then limit = math.min(limit, self.cfg.total - self.finished_items) end
  return limit
end

-- Items for one batch of worker `w`.
function M:batch_for(w)
  local size = M.FIRST_BATCH
  if w.per_item then
    size = math.max(1, math.min(M.MAX_BATCH, math.floor(M.BATCH_SECONDS / math.max(w.per_item, 1e-6))))
  end
  if w.batch_limit then size = math.min(size, w.batch_limit) end
  -- Spread what is known over the workers there are.
  local waiting = self:known_waiting()
  if waiting then size = math.min(size, math.max(1, math.ceil(waiting / math.max(1, self.worker_count)))) end
  local entries, items = {}, {}
  while #entries < size do
    local e = self:take()
    if not e then break end
    entries[#entries + 1] = e
    local it = { i = e.i }
    for k, v in pairs(e.item) do it[k] = v end
    items[#items + 1] = it
  end
  return entries, items
end

--- Sends batches to the ready workers that have room: one each first,
--- then (once no worker is still starting) a second one each, so that
--- the next batch is there when a worker ends one.
function M:dispatch(d)
  for round = 1, M.IN_FLIGHT do
    if round > 1 and self.ready_count < self.worker_count then return end
    for _, w in pairs(self.workers) do
      if w.state == "ready" and w.batch_count < round then
        if not self:send_batch(d, w) then return end
      end
    end
  end
end

-- One batch for worker `w`; false when there is nothing to send.
function M:send_batch(d, w)
  for _ = 1, 8 do
      local entries, items = self:batch_for(w)
      if #entries == 0 then return false end
      self.batch_seq = self.batch_seq + 1
      local id = self.batch_seq
      local body, err = S.encode({ batch = id, items = items })
      if not body then
        -- An input that cannot travel fails its item only; the others go
        -- in the next batch (a smaller one, when it was the size).
        w.batch_limit = math.max(1, math.floor(#entries / 2))
        for k = #entries, 1, -1 do
          local e = entries[k]
          local one, why = S.encode({ args = e.item.args })
          if one then
            self:requeue(e)
          else
            self:result(d, e.i, { ok = false, state = "TASK_FAILED", error = "cannot serialise its input: " .. tostring(why) })
          end
        end
        mesos.log("debug", "batch not encoded: " .. tostring(err))
        goto again
      end
      if #body > M.MAX_BATCH_BYTES and #entries > 1 then
        -- Smaller batches for this worker from now on.
        w.batch_limit = math.max(1, math.floor(#entries / 2))
      end
      local ok, serr = d:message(w.agent_id, { value = self.cfg.executor_id }, work.message(w.id, w.generation, body))
      if not ok then
        for k = #entries, 1, -1 do self:requeue(entries[k]) end
        mesos.log("warn", "work for " .. w.id .. " not sent: " .. tostring(serr))
        return false
      end
      local batch = { id = id, entries = {}, order = {} }
      for k, e in ipairs(entries) do
        e.worker = w.id
        batch.entries[e.i] = e
        batch.order[k] = e.i
        self.inflight[e.i] = e
        self.inflight_count = self.inflight_count + 1
      end
      w.batches[id] = batch
      w.batch_count = w.batch_count + 1
      do return true end
      ::again::
  end
  return true
end

-- The record of item i is in: once.
function M:result(d, i, record)
  self.finished_items = self.finished_items + 1
  local e = self.inflight[i]
  if e then
    self.inflight[i] = nil
    self.inflight_count = self.inflight_count - 1
  end
  self.cfg.on_result(i, record)
end

-- The items of worker `w` that are still out come back to the queue;
-- `charge`: each loss counts as an attempt (false: the worker was killed
-- for another item's timeout). `why`: what lost them.
function M:lose_inflight(d, w, why, charge, except)
  for bid, batch in pairs(w.batches) do
    for i, e in pairs(batch.entries) do
      if i ~= except and self.inflight[i] == e then
        self.inflight[i] = nil
        self.inflight_count = self.inflight_count - 1
        e.worker = nil
        if charge then e.attempts = e.attempts + 1 end
        if e.attempts > (self.cfg.retries or 0) then
          self.finished_items = self.finished_items + 1
          self.cfg.on_result(i, { ok = false, state = "TASK_LOST", error = ("worker lost: %s"):format(why),
            attempts = e.attempts })
        else
          self:requeue(e)
        end
      end
    end
    w.batches[bid] = nil
  end
  w.batch_count = 0
end

--- A framework message; true when it was ours.
function M:message(d, data)
  local task_id, g, body = work.parse_message(data)
  if not task_id then return false end
  local w = self.workers[task_id]
  local msg = S.decode(body)
  if not w or type(msg) ~= "table" then return true end
  if msg.lost then
    if g < w.generation then return true end -- an older report
    w.generation = g
    local timed_out = msg.timed_out
    if timed_out and self.inflight[timed_out] and self.inflight[timed_out].worker == w.id then
      self:result(d, timed_out, { ok = false, state = "TASK_FAILED", error = tostring(msg.lost) })
    end
    self:lose_inflight(d, w, tostring(msg.lost), timed_out == nil and not msg.innocent, timed_out)
    self:dispatch(d)
    return true
  end
  local batch = w.batches[msg.batch]
  for _, r in ipairs(type(msg.results) == "table" and msg.results or {}) do
    local i = r.i
    local e = self.inflight[i]
    if e and e.worker == w.id then
      if batch then batch.entries[i] = nil end
      r.i = nil
      local agent = w.agent_id and w.agent_id.value
      if r.ok then
        self:result(d, i, { ok = true, n = r.n or 0, values = r.values or {}, output = r.output or "", agent_id = agent })
      else
        self:result(d, i, { ok = false, state = "TASK_FAILED", error = tostring(r.error), output = r.output or "",
          agent_id = agent })
      end
    end
  end
  if batch and type(msg.elapsed) == "number" and type(msg.results) == "table" and #msg.results > 0 then
    local per = msg.elapsed / #msg.results
    w.per_item = w.per_item and (w.per_item * 0.5 + per * 0.5) or per
  end
  if batch and msg.last then
    w.batches[msg.batch] = nil
    w.batch_count = w.batch_count - 1
  end
  self:dispatch(d)
  return true
end

local TERMINAL = { TASK_FINISHED = true, TASK_FAILED = true, TASK_KILLED = true, TASK_LOST = true,
  TASK_ERROR = true, TASK_DROPPED = true, TASK_GONE = true, TASK_GONE_BY_OPERATOR = true,
  TASK_UNREACHABLE = true }

--- A status update of a worker's task.
function M:update(d, status)
  local w = self.workers[status.task_id.value]
  if not w then return end
  local st = status.state
  if st == "TASK_RUNNING" then
    if w.state == "launching" then
      w.state = "ready"
      self.ready_count = self.ready_count + 1
      self.start_failures = 0
    end
    self:dispatch(d)
    return
  end
  if not TERMINAL[st] then return end
  self.workers[w.id] = nil
  self.worker_count = self.worker_count - 1
  local was_ready = w.state == "ready"
  if was_ready then self.ready_count = self.ready_count - 1 end
  w.state = "gone"
  local why = status.message and status.message ~= "" and status.message or st
  if st == "TASK_LOST" and status.reason == "REASON_INVALID_OFFERS" then
    -- The offer went away before our ACCEPT: nothing was lost.
  elseif not was_ready then
    self.start_failures = self.start_failures + 1
    if self.start_failures >= M.START_FAILURES and self.ready_count == 0 then
      self.failed = self.cfg.on_start_failure(status) or ("workers could not start: " .. why)
    end
  end
  self:lose_inflight(d, w, why, true)
  if self:wants_workers() then d:revive() end
  self:dispatch(d)
end

return M
