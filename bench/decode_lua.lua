-- Reference for row 1 (not in bench/run's table): the recorded offer stream
-- decoded AND turned into Lua tables by one Lua thread, `mesos.decode` on
-- each record read from the file (no socket, no I/O thread, no queue), with
-- the same handler as bench/offers.lua. Median of 3 passes per encoding.
-- (`mesos.decode` takes protobuf straight into tables, the driver's path
-- plus the required-field check; JSON through a DynamicMessage.)
--   ./dev run bench/decode_lua.lua [N]     (after bench/run or gen_offers.lua N)
-- Prints "RESULT decode.lua.<encoding> <offers/s>".
local mesos = require "mesos"
local N = tonumber(arg[1]) or 20000

local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")

local function records(path)
  local data = assert(io.open(path, "rb"), path .. " (run bench/gen_offers.lua first)"):read("*a")
  local out, pos = {}, 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local n = tonumber(data:sub(pos, nl - 1))
    out[#out + 1] = data:sub(nl + 1, nl + n)
    pos = nl + n + 1
  end
  return out
end

for _, enc in ipairs { "protobuf", "json" } do
  local recs = records(("target/bench/offers-%d-%s.recordio"):format(N, enc))
  local rates = {}
  for pass = 1, 3 do
    local cpus, t0 = 0, now()
    for i = 2, #recs do -- record 1 is SUBSCRIBED
      local o = mesos.decode("mesos.v1.scheduler.Event", recs[i], enc).offers.offers[1]
      local _ = o.id.value
      for _, r in ipairs(o.resources) do
        if r.name == "cpus" then cpus = cpus + r.scalar.value end
      end
    end
    rates[pass] = (#recs - 1) / (now() - t0)
    assert(math.abs(cpus - 4.5 * (#recs - 1)) < 1e-6 * #recs, "wrong cpus sum")
  end
  table.sort(rates)
  print(("RESULT decode.lua.%s %.1f"):format(enc, rates[2]))
end
