-- A custom executor written with mesos.executor, for the executor specs:
-- finishes each task with its data reversed, reports acknowledgements and
-- echoes framework messages, and leaves a marker file when it shuts down.
local mesos = require "mesos"

local acks = 0
local h = {}
function h:subscribed(d, info)
  d:message("subscribed " .. ((info.agent_info and info.agent_info.id and info.agent_info.id.value) or "?"))
end
function h:launch(d, task)
  d:update { task_id = task.task_id, state = "TASK_RUNNING" }
  d:update { task_id = task.task_id, state = "TASK_FINISHED", data = (task.data or ""):reverse() }
end
function h:acknowledged(d, task_id, uuid)
  acks = acks + 1
  d:message(("ack %s %d %d"):format(task_id.value, #uuid, acks))
end
function h:message(d, data) d:message("echo " .. data) end
function h:kill(d, task_id) d:update { task_id = task_id, state = "TASK_KILLED" } end
function h:shutdown(d)
  local marker = os.getenv("ECHO_EXECUTOR_MARKER")
  if marker then
    -- Written aside, then renamed: whoever polls for the marker never reads
    -- it half written.
    local f = io.open(marker .. ".tmp", "w")
    if f then
      f:write("shutdown ", os.getenv("MESOS_EXECUTOR_ID") or "?")
      f:close()
      os.rename(marker .. ".tmp", marker)
    end
  end
  d:stop()
end

-- TEST_EXECUTOR_ENCODING: "json" to talk JSON to the agent (default protobuf).
local d = mesos.executor(h, { encoding = os.getenv("TEST_EXECUTOR_ENCODING") })
d:run()
os.exit(0, true)
