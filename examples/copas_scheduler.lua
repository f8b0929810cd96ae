-- A scheduler in a copas application: mesos.copas adds a copas thread that
-- waits on the driver's fd; the application's own copas threads keep running.
--
--   ./dev run examples/copas_scheduler.lua            (embedded local cluster)
--   ./dev run examples/copas_scheduler.lua m1:5050    (a real master)
local copas = require "copas"
local mesos = require "mesos"

local master = arg[1] or "local"
local state, launched = nil, false

local handler = {}
function handler:offers(driver, offers)
  for _, offer in ipairs(offers) do
    if launched or not mesos.resources.fits("cpus:0.1;mem:32", offer) then
      driver:decline(offer.id)
    else
      launched = true
      driver:launch(offer.id, { {
        name = "copas task",
        task_id = { value = "copas-1" },
        agent_id = offer.agent_id,
        resources = mesos.resources.parse("cpus:0.1;mem:32"),
        command = { value = "sleep 0.2" },
      } })
    end
  end
end

function handler:update(driver, status)
  print(("task %s is %s"):format(status.task_id.value, status.state))
  state = status.state
  if state ~= "TASK_STARTING" and state ~= "TASK_RUNNING" then driver:stop() end
end

local driver = mesos.scheduler(handler, {
  master = master,
  framework = { name = "lua-mesos copas example" },
  local_cluster = { allocation_interval = 0.1 },
})
assert(require("mesos.copas").attach(driver))

-- Debian's copas 1.2 has no copas.loop() that ends (nor copas.sleep), so the
-- application steps it itself until the driver stops; its own sockets would
-- be served by the same steps.
local steps, worst = 0, 0
local socket = require "socket"
local last = socket.gettime()
while driver:state() ~= "stopped" or driver:pending() > 0 do
  copas.step(0.05)
  local now = socket.gettime()
  worst = math.max(worst, now - last)
  last, steps = now, steps + 1
end

print(("task ended %s; copas stepped %d times, the longest step took %.1f ms")
  :format(tostring(state), steps, worst * 1000))
os.exit(state == "TASK_FINISHED" and 0 or 1, true)
