-- A complete Mesos framework: subscribe, take one offer, run a shell command
-- as a task, print what it wrote, acknowledge, tear down.
--
--   ./dev run examples/command_task.lua                 (embedded local cluster)
--   ./dev run examples/command_task.lua m1:5050 json    (a real master, JSON)
local mesos = require "mesos"

local master, encoding = arg[1] or "local", arg[2] or "protobuf"
-- The task writes here; on the local cluster agent and scheduler share a disk.
local out = os.tmpname()

local handler, launched, result = {}, false, nil

function handler:subscribed(driver, info)
  print(("subscribed as %s (heartbeat every %ss)"):format(info.framework_id.value, info.heartbeat_interval_seconds))
end

function handler:offers(driver, offers)
  for _, offer in ipairs(offers) do
    local fits = mesos.resources.fits("cpus:0.1;mem:32", offer)
    if launched or not fits then
      driver:decline(offer.id)
    else
      launched = true
      print(("launching on %s (%s)"):format(offer.hostname, mesos.resources.format(offer)))
      driver:launch(offer.id, { {
        name = "hello",
        task_id = { value = "hello-1" },
        agent_id = offer.agent_id,
        resources = mesos.resources.parse("cpus:0.1;mem:32"),
        command = { value = ("echo \"hello from a Mesos task in $MESOS_SANDBOX\" > %s"):format(out) },
      } })
    end
  end
end

function handler:update(driver, status)
  print(("task %s is %s%s"):format(status.task_id.value, status.state,
    status.message and (" (" .. status.message .. ")") or ""))
  if status.state == "TASK_FINISHED" then
    local f = io.open(out)
    result = f and f:read("*a") or "(no output)"
    if f then f:close() end
    driver:stop() -- TEARDOWN
  elseif status.state ~= "TASK_STARTING" and status.state ~= "TASK_RUNNING" then
    result = "task failed: " .. status.state
    driver:stop()
  end
end

function handler:disconnected(driver, reason) print("disconnected: " .. reason) end
function handler:error(driver, message) print("error from master: " .. message) end

local driver = mesos.scheduler(handler, {
  master = master,
  encoding = encoding,
  framework = { name = "lua-mesos example", roles = { "*" } },
  local_cluster = { allocation_interval = 0.1 },
})
driver:run()
os.remove(out)
io.write("task output: ", result or "(none)\n")
os.exit(result and not result:match("^task failed") and 0 or 1, true)
