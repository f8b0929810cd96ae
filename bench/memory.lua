-- Memory: the RSS of a scheduler process over a long stream and during a
-- burst its handler cannot keep up with.
--   luajit bench/memory.lua flat N --master HOST:PORT
--     N OFFERS events (a fake master repeating a recorded stream); VmRSS
--     after a full collection at 10% of the stream (warm) and at the end.
--     Prints "RESULT memory.flat.warm_mb", "...end_mb", "...drift_mb".
--   luajit bench/memory.lua burst N --master HOST:PORT [--queue Q] [--us U]
--     the same stream, a handler that spends U µs (default 20) on each
--     event: the driver's queue (Q events, default 1024) fills and the
--     stream stops being read (TCP backpressure). Prints the growth of the
--     high water mark over the RSS before subscribing:
--     "RESULT memory.burst.N.peak_mb", and the deepest queue seen.
local mesos = require "mesos"

local mode, N, master, queue, us = arg[1], tonumber(arg[2]), nil, 1024, 20
do
  local i = 3
  while i <= #arg do
    if arg[i] == "--master" then master = arg[i + 1]
    elseif arg[i] == "--queue" then queue = tonumber(arg[i + 1])
    elseif arg[i] == "--us" then us = tonumber(arg[i + 1])
    else error("usage: memory.lua flat|burst N --master HOST:PORT [--queue Q] [--us U]") end
    i = i + 2
  end
end
assert((mode == "flat" or mode == "burst") and N and master, "usage: memory.lua flat|burst N --master HOST:PORT")

local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")

local status_kb = dofile((arg[0]:match("^(.*)/") or ".") .. "/rss.lua")
local function rss_mb()
  collectgarbage("collect")
  collectgarbage("collect")
  return status_kb("VmRSS") / 1024
end

collectgarbage("collect")
local rss_start = status_kb("VmRSS")
local seen, warm, deepest, done = 0, nil, 0, false
local handler = {}
function handler:offers(d, offers)
  if done then return end -- queued after the abort
  seen = seen + #offers
  if mode == "flat" then
    if not warm and seen >= N / 10 then warm = rss_mb() end
  else
    local t = now() + us / 1e6
    while now() < t do end
    local depth = d:pending()
    if depth > deepest then deepest = depth end
  end
  if seen >= N then done = true; d:abort() end
end
function handler:disconnected(_, reason) error("stream lost: " .. tostring(reason)) end

local d = mesos.scheduler(handler, { master = master, queue_size = queue })
d:run()
assert(done and seen == N, ("stream incomplete: %d of %d"):format(seen, N))
if mode == "flat" then
  local final = rss_mb()
  print(("RESULT memory.flat.warm_mb %.2f"):format(warm))
  print(("RESULT memory.flat.end_mb %.2f"):format(final))
  print(("RESULT memory.flat.drift_mb %.2f"):format(final - warm))
  print(("events %d: RSS %.1f MB after %d (full GC), %.1f MB at the end: drift %+.2f MB")
    :format(N, warm, N / 10, final, final - warm))
else
  local peak = (status_kb("VmHWM") - rss_start) / 1024
  print(("RESULT memory.burst.%d.peak_mb %.2f"):format(N, peak))
  print(("RESULT memory.burst.%d.deepest %d"):format(N, deepest))
  print(("burst of %d events, queue %d, handler %d µs/event: peak RSS +%.1f MB, deepest queue %d")
    :format(N, queue, us, peak, deepest))
end
