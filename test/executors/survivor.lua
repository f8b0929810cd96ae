-- A checkpointing executor for the agent-restart spec: reports RUNNING on
-- launch, and when the agent goes away finishes its task at once; that
-- update must reach the scheduler after the agent comes back.
local mesos = require "mesos"

local task_id
local h = {}
function h:launch(d, task)
  task_id = task.task_id
  d:update { task_id = task_id, state = "TASK_RUNNING" }
end
function h:disconnected(d, reason)
  if task_id then
    d:update { task_id = task_id, state = "TASK_FINISHED", data = "made while the agent was away" }
    task_id = nil
  end
end
function h:shutdown(d) d:stop() end

local d = mesos.executor(h)
d:run()
os.exit(0, true)
