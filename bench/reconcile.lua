-- Reconcile burst, the shape of Mesos's own scheduler benchmark: one
-- RECONCILE naming N tasks the master does not know, answered by N UPDATE
-- events (TASK_LOST, or TASK_UNKNOWN for partition-aware frameworks, from
-- the master itself: no uuid, nothing to acknowledge). Timed from the call
-- (built from Lua tables and sent) until the N-th update reached the
-- handler; the RSS growth of this process over the burst is reported too.
--   luajit bench/reconcile.lua N --master HOST:PORT [--encoding E] [--views]
-- Prints "RESULT reconcile.lua.N <seconds>", "RESULT reconcile.lua.N.rss_mb
-- <MB>" (RSS after the burst minus before) and "...peak_mb" (the high water
-- mark minus RSS before).
local mesos = require "mesos"

local N, master, enc, views = 1000, "local", "protobuf", false
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--master" then master = arg[i + 1]; i = i + 1
    elseif arg[i] == "--encoding" then enc = arg[i + 1]; i = i + 1
    elseif arg[i] == "--views" then views = true
    else N = assert(tonumber(arg[i]), "usage: reconcile.lua N [--master M] [--encoding E] [--views]") end
    i = i + 1
  end
end

local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")

local status_kb = dofile((arg[0]:match("^(.*)/") or ".") .. "/rss.lua")

local subscribed, seen, t_last, failed = false, 0, nil, nil
local handler = {}
function handler:subscribed() subscribed = true end
function handler:offers(d, offers)
  local ids = {}
  for i, o in ipairs(offers) do ids[i] = o.id end
  d:decline(ids, { refuse_seconds = 3600 })
end
function handler:update(_, status)
  if status.task_id.value:find("^recon%-") then
    seen = seen + 1
    if seen == N then t_last = now() end
  end
end
function handler:call_failed(_, ty, reason) failed = ty .. ": " .. tostring(reason) end

local d = mesos.scheduler(handler, { master = master, encoding = enc, views = views,
  framework = { name = "reconcile-bench" } })
assert(d:start())
local deadline = now() + 60
while not subscribed do
  d:poll(0.1)
  assert(now() < deadline, "not subscribed within 60 s")
end
d:poll(0.2) -- let the first offers go by

local tasks = {}
for i = 1, N do tasks[i] = { value = ("recon-%d"):format(i) } end
collectgarbage()
local rss0 = status_kb("VmRSS")
local t0 = now()
d:reconcile(tasks)
while not t_last do
  d:poll(1)
  if failed then error("call failed: " .. failed) end
  assert(now() - t0 < 600, ("%d of %d updates within 600 s"):format(seen, N))
end
local secs = t_last - t0
local rss1, hwm = status_kb("VmRSS"), status_kb("VmHWM")
d:stop()
local tag = views and "views." or ""
print(("RESULT reconcile.lua.%s%d %.4f"):format(tag, N, secs))
print(("RESULT reconcile.lua.%s%d.rss_mb %.1f"):format(tag, N, (rss1 - rss0) / 1024))
print(("RESULT reconcile.lua.%s%d.peak_mb %.1f"):format(tag, N, (hwm - rss0) / 1024))
print(("%-10s %8s %10s %12s %10s %10s"):format("encoding", "tasks", "seconds", "updates/s", "RSS +MB", "peak +MB"))
print(("%-10s %8d %10.3f %12.0f %10.1f %10.1f"):format(enc, N, secs, N / secs, (rss1 - rss0) / 1024, (hwm - rss0) / 1024))
