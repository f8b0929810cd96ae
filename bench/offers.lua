-- Offer intake: a recorded stream of N OFFERS events (one offer of 10
-- resources each, with port ranges and attributes) served over loopback by a
-- minimal RecordIO server; events/s reaching a Lua handler that reads every
-- offer's id and cpus, in both encodings. Prints a table.
--   ./dev run bench/offers.lua [N]
local mesos = require "mesos"
local N = tonumber(arg[1]) or 10000

local function offer(i)
  return {
    id = { value = "m1-O" .. i }, framework_id = { value = "m1-0001" }, agent_id = { value = "m1-S" .. (i % 100) },
    hostname = "agent-" .. (i % 100) .. ".example",
    resources = mesos.resources.parse(
      "cpus:3.5;mem:4096;disk:100000;gpus:0;ports:[31000-31099,32000-32000];cpus(web):1;mem(web):512;" ..
      "disk(web):1000;ports(web):[33000-33010];net:1000"),
    attributes = {
      { name = "rack", type = "TEXT", text = { value = "r" .. (i % 10) } },
      { name = "zone", type = "SET", set = { item = { "a", "b" } } },
    },
  }
end

local function frame(bytes) return #bytes .. "\n" .. bytes end

local function write_stream(path, enc)
  local f = assert(io.open(path, "wb"))
  f:write(frame(mesos.encode("mesos.v1.scheduler.Event", {
    type = "SUBSCRIBED", subscribed = { framework_id = { value = "m1-0001" }, heartbeat_interval_seconds = 15 } }, enc)))
  for i = 1, N do
    f:write(frame(mesos.encode("mesos.v1.scheduler.Event", { type = "OFFERS", offers = { offers = { offer(i) } } }, enc)))
  end
  f:close()
end

local now
do
  local ffi = require "ffi"
  ffi.cdef [[ typedef struct { long s; long us; } bench_tv; int gettimeofday(bench_tv *, void *); ]]
  local tv = ffi.new("bench_tv")
  now = function() ffi.C.gettimeofday(tv, nil) return tonumber(tv.s) + tonumber(tv.us) / 1e6 end
end

local pb, js = os.tmpname(), os.tmpname()
write_stream(pb, "protobuf")
write_stream(js, "json")
local server = assert(io.popen(("python3 bench/fake_master.py %s %s & echo $!"):format(pb, js)))
local pid = server:read("*l")
local port = assert(tonumber(server:read("*l")), "fake master did not start")

local rows = {}
for _, enc in ipairs { "protobuf", "json" } do
  local seen, cpus, t0, t1 = 0, 0, nil, nil
  local handler = {}
  function handler:subscribed() t0 = now() end
  function handler:offers(d, offers)
    for _, o in ipairs(offers) do
      local _ = o.id.value
      cpus = cpus + mesos.resources.scalar(o, "cpus")
      seen = seen + 1
    end
    if seen >= N then t1 = now(); d:abort() end
  end
  local d = mesos.scheduler(handler, { master = "127.0.0.1:" .. port, encoding = enc })
  d:run()
  assert(seen == N and t1, "stream incomplete")
  rows[#rows + 1] = { enc, N, t1 - t0, N / (t1 - t0) }
end
os.execute("kill " .. pid)
server:close()
os.remove(pb)
os.remove(js)

print(("%-10s %10s %10s %14s"):format("encoding", "events", "seconds", "events/s"))
for _, r in ipairs(rows) do
  print(("%-10s %10d %10.3f %14.0f"):format(r[1], r[2], r[3], r[4]))
end
