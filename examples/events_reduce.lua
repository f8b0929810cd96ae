-- Distributed events: N tasks each publish a partial sum, task 1 combines
-- them, and the framework's own code watches the progress topic.
--
--   ./dev run examples/events_reduce.lua [N] [--nats nats://127.0.0.1:4222]
--
-- Runs on the embedded local cluster; with --nats the values travel through
-- a NATS server instead of Mesos framework messages.
local mesos = require "mesos"

local n, nats = 8, nil
local i = 1
while arg[i] do
  if arg[i] == "--nats" then nats = arg[i + 1]; i = i + 1 else n = tonumber(arg[i]) end
  i = i + 1
end

local router = mesos.router { nats = nats }
router:subscribe("progress", function(value, from)
  print(("progress: %s from %s"):format(value, from))
end)
-- Retained: every task that subscribes gets it, whenever it starts.
router:publish("config", { size = 1000 }, { retain = true })

local task = [[
  local n = ...
  assert(events.subscribe("config"))
  local cfg = assert(events.receive("config", 60))
  if TASK_INDEX == 1 then
    assert(events.subscribe("partial"))
    -- Tell the others this task is listening (retained, so late starters see it).
    assert(events.publish("combiner-ready", true, { retain = true }))
    local total = 0
    for _ = 2, n do total = total + assert(events.receive("partial", 60)) end
    return total
  end
  assert(events.subscribe("combiner-ready"))
  assert(events.receive("combiner-ready", 60))
  local sum = 0
  for k = 1, cfg.size do sum = sum + k * TASK_INDEX end
  assert(events.publish("partial", sum))
  assert(events.publish("progress", "partial sum " .. sum))
  return sum
]]

local inputs = {}
for k = 1, n do inputs[k] = n end
local results = assert(mesos.map(task, inputs, { events = router }))
local expected = 0
for k = 2, n do expected = expected + 500500 * k end
print(("combined total: %d (expected %d)"):format(results[1], expected))
os.exit(results[1] == expected and 0 or 1)
