-- A scheduler in a cqueues daemon: one coroutine runs the framework (the
-- driver is a cqueues pollable), another keeps doing the daemon's own work.
--
--   ./dev run examples/cqueues_scheduler.lua            (embedded local cluster)
--   ./dev run examples/cqueues_scheduler.lua m1:5050    (a real master)
local cqueues = require "cqueues"
local mesos = require "mesos"

local master = arg[1] or "local"
local TASKS = 3
local finished, failed, launched = 0, 0, 0

local handler = {}
function handler:subscribed(driver, info)
  print("subscribed as " .. info.framework_id.value)
end

function handler:offers(driver, offers)
  for _, offer in ipairs(offers) do
    if launched < TASKS and mesos.resources.fits("cpus:0.1;mem:32", offer) then
      launched = launched + 1
      driver:launch(offer.id, { {
        name = "cqueues task " .. launched,
        task_id = { value = "cq-" .. launched },
        agent_id = offer.agent_id,
        resources = mesos.resources.parse("cpus:0.1;mem:32"),
        command = { value = "echo task " .. launched },
      } })
    else
      driver:decline(offer.id)
    end
  end
end

function handler:update(driver, status)
  print(("task %s is %s"):format(status.task_id.value, status.state))
  if status.state == "TASK_FINISHED" then
    finished = finished + 1
  elseif status.state ~= "TASK_STARTING" and status.state ~= "TASK_RUNNING" then
    failed = failed + 1
  end
  if finished + failed == TASKS then driver:stop() end
end

local driver = mesos.scheduler(handler, {
  master = master,
  framework = { name = "lua-mesos cqueues example" },
  local_cluster = { allocation_interval = 0.1 },
})

local cq = cqueues.new()
assert(driver:start())
-- The framework's coroutine: wait on the driver, handle what is queued.
cq:wrap(function()
  while driver:state() ~= "stopped" or driver:pending() > 0 do
    cqueues.poll(driver, 1.0)
    driver:poll(0)
  end
end)
-- The daemon's own work goes on meanwhile.
local beats, worst = 0, 0
cq:wrap(function()
  while driver:state() ~= "stopped" do
    local t0 = cqueues.monotime()
    cqueues.sleep(0.05)
    worst = math.max(worst, (cqueues.monotime() - t0 - 0.05) * 1000)
    beats = beats + 1
  end
end)
assert(cq:loop())

print(("%d finished, %d failed; the other coroutine ran %d times, at worst %.1f ms late")
  :format(finished, failed, beats, worst))
os.exit(finished == TASKS and 0 or 1, true)
