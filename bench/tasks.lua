-- Row 4, end to end: N tiny Lua items through `mesos.map` and `mesolua
-- --tasks N` (items on warm workers), beside the same work without Mesos:
-- a shell loop running one `luajit -e` per item, and `xargs -P$(nproc)`
-- running one `luajit` per item in parallel. Then CPU-bound items (10 ms
-- of work each) through mesos.map: their parallel efficiency on this
-- machine's cores. Prints "RESULT key value" lines for bench/run and a
-- table.
--   ./dev run bench/tasks.lua [N] [--cpu-items M] [--real]
-- With --real, the map and mesolua runs go to the real Mesos kit (started
-- here, test/realmesos.lua) and their keys are tasks.real.*; the baselines
-- are not run again.
local mesos = require "mesos"

local N, CPU_ITEMS, master, label = 10000, 1000, nil, nil
local i = 1
while arg[i] do
  if arg[i] == "--cpu-items" then CPU_ITEMS = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == "--real" then label = "real"
  else N = tonumber(arg[i]) end
  i = i + 1
end

local kit
if label == "real" then
  package.path = "./?.lua;" .. package.path
  kit = require("test.realmesos").start()
  master = kit.master
end

local now = mesos.monotonic
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

local function result(key, v) print(("RESULT %s %.1f"):format(key, v)) end
local rows = {}
local function row(name, items, secs) rows[#rows + 1] = { name, items, secs } end

-- mesos.map and mesolua on the cluster --------------------------------------------
local prefix = label and ("tasks." .. label .. ".") or "tasks."
local map_opts = master and { master = master } or nil
local inputs = {}
for k = 1, N do inputs[k] = k end
local t0 = now()
local r = assert(mesos.map(function(x) return x * 2 end, inputs, map_opts))
local t_map = now() - t0
assert(r.n == N and r[N] == 2 * N, "mesos.map returned wrong results")
result(prefix .. "map", N / t_map)
row("mesos.map" .. (label and (" (" .. label .. ")") or ""), N, t_map)

local flag = master and ("--master=" .. master) or ""
local t_mesolua, out = run(("mesolua --quiet %s --tasks %d -e 'return TASK_INDEX * 2'"):format(flag, N))
assert(count_lines(out) == N, "mesolua returned " .. count_lines(out) .. " results")
result(prefix .. "mesolua", N / t_mesolua)
row("mesolua --tasks N" .. (label and (" (" .. label .. ")") or ""), N, t_mesolua)

-- CPU-bound items: efficiency on the machine's cores -----------------------------
local cores = tonumber(io.popen("nproc"):read("*l")) or 1
local cpu_inputs = {}
for k = 1, CPU_ITEMS do cpu_inputs[k] = k end
t0 = now()
local cr = assert(mesos.map(function(x)
  local t = os.clock()
  while os.clock() - t < 0.01 do end
  return x
end, cpu_inputs, map_opts))
local t_cpu = now() - t0
assert(cr.n == CPU_ITEMS)
local efficiency = 100 * (CPU_ITEMS * 0.01 / cores) / t_cpu
result(prefix .. "cpu.efficiency", efficiency)
result("tasks.cpu.ideal", 100)
row(("%d items of 10 ms (%d cores: %.0f %%)"):format(CPU_ITEMS, cores, efficiency), CPU_ITEMS, t_cpu)

if not master then
  -- Baselines: the same work with no Mesos ----------------------------------------
  local t_loop, out2 = run(("i=1; while [ $i -le %d ]; do luajit -e \"print($i * 2)\"; i=$((i+1)); done"):format(N))
  assert(count_lines(out2) == N, "loop returned " .. count_lines(out2) .. " results")
  result("tasks.loop", N / t_loop)
  row("one luajit -e per item", N, t_loop)
  local t_xargs, out3 = run(("seq 1 %d | xargs -P%d -I{} luajit -e 'print({} * 2)'"):format(N, cores))
  assert(count_lines(out3) == N, "xargs returned " .. count_lines(out3) .. " results")
  result("tasks.xargs", N / t_xargs)
  row(("xargs -P%d, one luajit per item"):format(cores), N, t_xargs)
end

if kit then kit.stop() end
print(("%-44s %8s %10s %10s"):format("run", "items", "seconds", "items/s"))
for _, x in ipairs(rows) do
  print(("%-44s %8d %10.2f %10.0f"):format(x[1], x[2], x[3], x[2] / x[3]))
end
