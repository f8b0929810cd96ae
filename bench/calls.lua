-- Calls: ACKNOWLEDGE calls/s and small ACCEPT calls/s that the scheduler
-- driver gets accepted by the local master.
--   ./dev run bench/calls.lua [N] [--master M] [--encoding E]
-- M defaults to "local" (an embedded cluster in this process); bench/run
-- points this and bench/pymesos_calls.py at one `mesos-local` instead.
--
-- The measure: the N calls' arguments are built first (not timed); then the
-- clock runs from the first call handed to the driver until all N are
-- answered by the master. The end is seen without busy polling: after the N
-- calls comes one RECONCILE of an unknown task, which the driver sends only
-- once the N before it are answered (one call connection, call after call)
-- and which the master answers with an UPDATE event; the clock stops when
-- that update reaches the handler, the loop blocking in driver:poll
-- meanwhile. The driver's stats must then count exactly N more calls of
-- the type (`stats().calls_by_type`) and no failure. So it covers Lua table
-- -> protobuf/JSON, the queue to the I/O thread, the HTTP request and the
-- master's answer, N times, plus one reconciliation round trip;
-- bench/pymesos_calls.py ends the same way.
--   ACKNOWLEDGE: agent_id of the agent that offered, an unknown task id, a
--     16-byte uuid; the master answers 202 and forwards it to the agent,
--     which ignores it (as Mesos does).
--   ACCEPT: one unknown offer id and one LAUNCH of one task (cpus:0.01;mem:1,
--     command "true"); the master answers 202 and sends back a TASK_LOST or
--     TASK_DROPPED update per call ("invalid offers"), which this loop also
--     receives and hands to its (empty) update handler.
-- Prints "RESULT calls.lua.<encoding>.<acknowledge|accept> <calls/s>".
local mesos = require "mesos"

local N, master, enc = 2000, "local", "protobuf"
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--master" then master = arg[i + 1]; i = i + 1
    elseif arg[i] == "--encoding" then enc = arg[i + 1]; i = i + 1
    else N = assert(tonumber(arg[i]), "usage: calls.lua [N] [--master M] [--encoding E]") end
    i = i + 1
  end
end

local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")

local agent_id, failed, sentinels = nil, {}, {}
local handler = {}
function handler:offers(_, offers) agent_id = agent_id or offers[1].agent_id end
function handler:call_failed(_, ty, reason) failed[#failed + 1] = ty .. ": " .. tostring(reason) end
function handler:update(_, status)
  local id = status.task_id and status.task_id.value
  if id and id:find("^bench%-sentinel") then sentinels[id] = now() end
end

local d = mesos.scheduler(handler, { master = master, encoding = enc, framework = { name = "calls-bench" } })
assert(d:start())
local deadline = now() + 60
while not agent_id do
  d:poll(0.1)
  assert(now() < deadline, "no offer within 60 s")
end

local function answered(ty) return d:stats().calls_by_type[ty] or 0 end

-- Sends N calls with `send(i)`, returns calls/s until all are answered.
local function measure(ty, send)
  local before = answered(ty)
  local sentinel = "bench-sentinel-" .. ty
  local t0 = now()
  for i = 1, N do send(i) end
  local queued = now()
  d:reconcile { { task_id = { value = sentinel }, agent_id = agent_id } }
  while not sentinels[sentinel] do
    d:poll(1)
    if #failed > 0 then error("call failed: " .. failed[1]) end
    assert(now() - t0 < 120, "calls not answered within 120 s")
  end
  local t1 = sentinels[sentinel]
  assert(answered(ty) == before + N, ("%d %s calls answered, not %d"):format(answered(ty) - before, ty, N))
  return N / (t1 - t0), queued - t0, t1 - t0
end

local acks = {}
for i = 1, N do
  local uuid = ("%016d"):format(i) -- 16 bytes, a well-formed UUID for the master
  acks[i] = { "bench-task-" .. i, uuid }
end
local ack_rate, ack_q, ack_t = measure("ACKNOWLEDGE", function(i)
  d:acknowledge(agent_id, acks[i][1], acks[i][2])
end)

local resources = mesos.resources.parse("cpus:0.01;mem:1")
local accepts = {}
for i = 1, N do
  accepts[i] = {
    { value = "bench-offer-" .. i },
    { { type = "LAUNCH", launch = { task_infos = { {
      name = "b", task_id = { value = "bench-launch-" .. i }, agent_id = agent_id,
      resources = resources, command = { value = "true" },
    } } } } },
  }
end
local acc_rate, acc_q, acc_t = measure("ACCEPT", function(i)
  d:accept(accepts[i][1], accepts[i][2])
end)

d:stop()

print(("RESULT calls.lua.%s.acknowledge %.1f"):format(enc, ack_rate))
print(("RESULT calls.lua.%s.accept %.1f"):format(enc, acc_rate))
print(("%-12s %-9s %7s %12s %12s %10s"):format("call", "encoding", "calls", "queued (s)", "answered (s)", "calls/s"))
print(("%-12s %-9s %7d %12.3f %12.3f %10.0f"):format("ACKNOWLEDGE", enc, N, ack_q, ack_t, ack_rate))
print(("%-12s %-9s %7d %12.3f %12.3f %10.0f"):format("ACCEPT", enc, N, acc_q, acc_t, acc_rate))
