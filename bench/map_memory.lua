-- Row 6c: the scheduler's peak RSS while mesos.map runs N small items (an
-- iterator: never the whole input in memory) against a master given with
-- --master (bench/run starts a mesos-local), after the same for 1,000
-- items. Prints "RESULT tasks.map.<N>.peak_mb MB".
--   luajit bench/map_memory.lua N --master HOST:PORT
local mesos = require "mesos"
local status_kb = dofile((arg[0]:match("^(.*)/") or ".") .. "/rss.lua")

local N, master = tonumber(arg[1]) or 1000000, nil
for i = 1, #arg do if arg[i] == "--master" then master = arg[i + 1] end end
assert(master, "usage: luajit bench/map_memory.lua N --master HOST:PORT")

local function map(n)
  local k = 0
  local r = assert(mesos.map("return (...) + 1", function()
    k = k + 1
    if k <= n then return k end
  end, { master = master }))
  assert(r.n == n and r[n] == n + 1)
  return status_kb("VmHWM") / 1024
end

print(("RESULT tasks.map.1000.peak_mb %.1f"):format(map(1000)))
print(("RESULT tasks.map.%d.peak_mb %.1f"):format(N, map(N)))
