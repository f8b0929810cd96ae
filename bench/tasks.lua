-- End to end: N tiny Lua tasks through `mesolua --tasks N` on the embedded
-- local cluster, beside a plain local loop running one `luajit -e` process
-- per item (the same work, no Mesos). Prints tasks/s and the ratio, and
-- "RESULT tasks.mesolua|tasks.loop <tasks/s>" for bench/run.
--   ./dev run bench/tasks.lua [N]
local N = tonumber(arg[1]) or 10000

local ffi = require "ffi"
ffi.cdef [[ typedef struct { long s; long us; } bt_tv; int gettimeofday(bt_tv *, void *); ]]
local tv = ffi.new("bt_tv")
local function now() ffi.C.gettimeofday(tv, nil) return tonumber(tv.s) + tonumber(tv.us) / 1e6 end

local function run(cmd)
  local t0 = now()
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return now() - t0, out
end

local function count_lines(s)
  local n = 0
  for _ in s:gmatch("[^\n]+") do n = n + 1 end
  return n
end

local t_mesolua, out1 = run(("mesolua --quiet --tasks %d -e 'return TASK_INDEX * 2'"):format(N))
assert(count_lines(out1) == N, "mesolua returned " .. count_lines(out1) .. " results")
local t_loop, out2 = run(("i=1; while [ $i -le %d ]; do luajit -e \"print($i * 2)\"; i=$((i+1)); done"):format(N))
assert(count_lines(out2) == N, "loop returned " .. count_lines(out2) .. " results")

print(("RESULT tasks.mesolua %.1f"):format(N / t_mesolua))
print(("RESULT tasks.loop %.1f"):format(N / t_loop))
print(("%-34s %8s %10s %10s"):format("run", "tasks", "seconds", "tasks/s"))
print(("%-34s %8d %10.2f %10.0f"):format("mesolua --tasks N (local cluster)", N, t_mesolua, N / t_mesolua))
print(("%-34s %8d %10.2f %10.0f"):format("one luajit -e per item", N, t_loop, N / t_loop))
print(("%-34s %19s %10.2f"):format("ratio (mesolua / loop)", "", t_loop / t_mesolua))
