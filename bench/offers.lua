-- Offer intake: a recorded stream of N OFFERS events (one offer of 10
-- resources each, with port ranges and attributes) served over loopback by a
-- minimal RecordIO server; events/s reaching a Lua handler that reads every
-- offer's id and cpus, in both encodings. Timed from the first offer reaching
-- the handler to the last, as bench/pymesos_offers.py times pymesos.
--   ./dev run bench/offers.lua [N]                 generates the stream, serves it, prints a table
--   luajit bench/offers.lua N --master HOST:PORT   consumes a stream that bench/run serves
-- Prints "RESULT intake.lua.<encoding> <events/s>" lines for bench/run.
local mesos = require "mesos"

local here = (arg[0]:match("^(.*)/") or ".") .. "/"
local N, master, encodings = 10000, nil, { "protobuf", "json", "protobuf-views", "json-views" }
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--master" then master = arg[i + 1]; i = i + 1
    elseif arg[i] == "--encoding" then encodings = { arg[i + 1] }; i = i + 1
    else N = assert(tonumber(arg[i]), "usage: offers.lua [N] [--master HOST:PORT] [--encoding E]") end
    i = i + 1
  end
end

local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")

local server_pid, server
if not master then
  local gen = assert(loadfile(here .. "gen_offers.lua"))("--module")
  local paths = gen.write(N, "target/bench")
  server = assert(io.popen(("python3 %sfake_master.py %s %s & echo $!"):format(here, paths.protobuf, paths.json)))
  server_pid = server:read("*l")
  master = "127.0.0.1:" .. assert(tonumber(server:read("*l")), "fake master did not start")
end

-- The handler every consumer runs: each offer's id, and the sum of its cpus.
local function intake(enc, views)
  local seen, cpus, t_first, t_last = 0, 0, nil, nil
  local handler = {}
  function handler:offers(d, offers)
    if not t_first then t_first = now() end
    for _, o in ipairs(offers) do
      local _ = o.id.value
      for _, r in ipairs(o.resources) do
        if r.name == "cpus" then cpus = cpus + r.scalar.value end
      end
      seen = seen + 1
    end
    if seen >= N then t_last = now(); d:abort() end
  end
  function handler:disconnected(_, reason) error("stream lost: " .. tostring(reason)) end
  local d = mesos.scheduler(handler, { master = master, encoding = enc, views = views })
  d:run()
  assert(seen == N and t_last, "stream incomplete")
  assert(math.abs(cpus - 4.5 * N) < 1e-6 * N, "wrong cpus sum")
  return (N - 1) / (t_last - t_first), t_last - t_first
end

local rows = {}
for _, enc in ipairs(encodings) do
  local rate, secs = intake(enc:match("^%a+"), enc:match("%-views$") ~= nil)
  rows[#rows + 1] = { enc, secs, rate }
  print(("RESULT intake.lua.%s %.1f"):format(enc, rate))
end
if server_pid then
  os.execute("kill " .. server_pid)
  server:close()
end

print(("%-15s %10s %10s %14s"):format("encoding", "offers", "seconds", "offers/s"))
for _, r in ipairs(rows) do
  print(("%-15s %10d %10.3f %14.0f"):format(r[1], N, r[2], r[3]))
end
