-- A scheduler inside a luv (libuv) loop, as in a luvit service: the loop
-- keeps serving its own timer while the framework runs three tasks.
--
--   ./dev run examples/luv_scheduler.lua            (embedded local cluster)
--   ./dev run examples/luv_scheduler.lua m1:5050    (a real master)
local uv = require "luv"
local mesos = require "mesos"

local master = arg[1] or "local"
local TASKS = 3

-- Route the library's own log lines into the application's logger.
mesos.set_log("info", function(level, message, source)
  print(("[log] %s %s: %s"):format(level, source, message))
end)

local launched, finished, failed = 0, 0, 0
local handler = {}

function handler:subscribed(driver, info)
  print("subscribed as " .. info.framework_id.value)
end

function handler:offers(driver, offers)
  for _, offer in ipairs(offers) do
    local tasks, avail = {}, offer
    while launched < TASKS and mesos.resources.fits("cpus:0.1;mem:32", avail) do
      launched = launched + 1
      local res = mesos.resources.parse("cpus:0.1;mem:32")
      avail = mesos.resources.subtract(avail, res)
      tasks[#tasks + 1] = {
        name = "luv task " .. launched,
        task_id = { value = "luv-" .. launched },
        agent_id = offer.agent_id,
        resources = res,
        command = { value = "sleep 0.2" },
      }
    end
    if #tasks > 0 then driver:launch(offer.id, tasks) else driver:decline(offer.id) end
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
  framework = { name = "lua-mesos luv example" },
  local_cluster = { allocation_interval = 0.1 },
})

-- The application's own work: a 50 ms timer that measures how late it fires.
local ticks, worst, last = 0, 0, uv.hrtime()
local timer = uv.new_timer()
timer:start(50, 50, function()
  local now = uv.hrtime()
  worst = math.max(worst, (now - last) / 1e6 - 50)
  last, ticks = now, ticks + 1
  if driver:state() == "stopped" then timer:close() end
end)

assert(require("mesos.luv").attach(driver))
uv.run()

print(("%d finished, %d failed; the timer fired %d times, at worst %.1f ms late")
  :format(finished, failed, ticks, worst))
os.exit(finished == TASKS and 0 or 1, true)
