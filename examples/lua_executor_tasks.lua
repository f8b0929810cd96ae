-- A scheduler of your own that runs Lua code on the Lua executor (the
-- executor mesolua and mesos.map use): it builds the ExecutorInfo, puts
-- each task's request in TaskInfo.data, and reads each task's reply from
-- its terminal status update. docs/lua-executor.md explains each step.
--
--   ./dev run examples/lua_executor_tasks.lua             (embedded local cluster)
--   ./dev run examples/lua_executor_tasks.lua m1:5050     (a real master: the agents need
--                                                          LuaJIT and the module)
local mesos = require "mesos"
local S = require "mesos.serialize"       -- the encoding of requests and replies
local E = require "mesos.tasks.lua_executor"        -- the executor's command line

local master = arg[1] or "local"

-- One executor per agent runs every task of this framework (same ExecutorID).
local executor = {
  executor_id = { value = "lua-executor" },
  name = "Lua executor",
  -- On this machine (the embedded cluster): this very interpreter, with this
  -- process's module paths. On other machines: `luajit` on the agents' PATH,
  -- through a shell that says what is missing if it cannot start.
  command = master == "local" and E.command_info(mesos.executable(), true) or E.remote_command_info("luajit"),
  resources = mesos.resources.parse("cpus:0.01;mem:32"), -- its own share
}

-- The work: one request (a table mesos.serialize can encode) per task.
local requests = {
  { code = "local a, b = ... return a * b, 'product'", args = { 6, 7 } },
  { code = "print('hello from task ' .. TASK_INDEX) return TASK_INDEX" },
  { code = "events.subscribe('echo') events.publish('echo', 'round trip') return (events.receive('echo', 10))" },
  { code = "local t = {} for i = 1, 3 do t[i] = i * i end return t" },
  { code = "error('this one fails')" },
}
for i, req in ipairs(requests) do
  req.index = i            -- the task's TASK_INDEX
  req.timeout = 30         -- seconds, then the executor kills the task
  req.memory_mb = 64       -- the task process's address-space limit
end

local task_resources = mesos.resources.parse("cpus:0.1;mem:64")
local pending = {}
for i = #requests, 1, -1 do pending[#pending + 1] = i end
local ended, failed = 0, 0

-- Tasks' events (mesos.events) reach the framework as framework messages:
-- a router answers them, so that tasks can publish and subscribe.
local router = mesos.router()

local handler = {}

function handler:offers(driver, offers)
  for _, offer in ipairs(offers) do
    local avail, tasks = offer.resources, {}
    -- The first launch on an agent starts the executor, which takes its share.
    local running = false
    for _, id in ipairs(offer.executor_ids or {}) do
      if id.value == executor.executor_id.value then running = true end
    end
    if not running then
      avail = mesos.resources.fits(executor.resources, avail) and mesos.resources.subtract(avail, executor.resources) or {}
    end
    while #pending > 0 and mesos.resources.fits(task_resources, avail) do
      local i = table.remove(pending)
      tasks[#tasks + 1] = {
        name = "lua task " .. i,
        task_id = { value = "lua-task-" .. i },
        agent_id = offer.agent_id,
        resources = task_resources,
        executor = executor,                 -- the Lua executor, not a command
        data = assert(S.encode(requests[i])), -- the request
      }
      avail = mesos.resources.subtract(avail, task_resources)
    end
    if #tasks > 0 then driver:launch(offer.id, tasks) else driver:decline(offer.id) end
  end
  if #pending == 0 then driver:suppress() end
end

local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for k = 1, #v do parts[k] = show(v[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function handler:update(driver, status)
  local i = tonumber(status.task_id.value:match("^lua%-task%-(%d+)$"))
  local st = status.state
  if not i or st == "TASK_STAGING" or st == "TASK_STARTING" or st == "TASK_RUNNING" then return end
  -- The reply travels in the terminal update's data: { ok = true, n =,
  -- values =, output = } or { ok = false, error =, output = }. A task the
  -- executor killed (timeout, KILL) or could not run has only a message.
  local reply = status.data and S.decode(status.data)
  if st == "TASK_FINISHED" and type(reply) == "table" and reply.ok then
    local shown = {}
    for k = 1, reply.n do shown[k] = show(reply.values[k]) end
    print(("task %d returned: %s"):format(i, table.concat(shown, ", ")))
  else
    failed = failed + 1
    local why = type(reply) == "table" and reply.error or status.message or st
    print(("task %d failed (%s): %s"):format(i, st, (tostring(why):match("^[^\n]*"))))
  end
  if type(reply) == "table" and reply.output ~= nil and reply.output ~= "" then
    io.write(("task %d printed: %s"):format(i, reply.output))
  end
  ended = ended + 1
  if ended == #requests then driver:stop() end -- TEARDOWN: the executors end too
end

function handler:message(driver, agent_id, executor_id, data)
  router:handle_message(driver, agent_id, executor_id, data)
end
function handler:failure(driver, info)
  if info.executor_id then router:forget(info.agent_id, info.executor_id) end
end
function handler:error(driver, message) print("error from master: " .. message) end

local driver = mesos.scheduler(handler, {
  master = master,
  framework = { name = "lua executor example" },
  local_cluster = { allocation_interval = 0.1 },
})
router:attach(driver)
driver:run()
print(("%d tasks ended, %d failed"):format(ended, failed))
os.exit(ended == #requests and failed == 1 and 0 or 1)
