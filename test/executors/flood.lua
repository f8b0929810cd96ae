-- A custom executor for the many-updates spec: on LAUNCH it sends the number
-- of status updates the task's data names (TASK_RUNNING with data "1", "2",
-- ..., the last one TASK_FINISHED), counts the ACKNOWLEDGED events and the
-- calls the agent refused, and once every update is acknowledged tells the
-- scheduler "acked A unacked U failed F".
local mesos = require "mesos"

local want, acks, failed, reported = 0, 0, 0, false
local h = {}
function h:launch(d, task)
  want = assert(tonumber(task.data), "the task's data is the number of updates")
  for i = 1, want do
    d:update { task_id = task.task_id, state = i < want and "TASK_RUNNING" or "TASK_FINISHED", data = tostring(i) }
  end
end
function h:acknowledged(d)
  acks = acks + 1
  if acks == want and not reported then
    reported = true
    d:message(("acked %d unacked %d failed %d"):format(acks, #d:unacknowledged_updates(), failed))
  end
end
function h:call_failed(d, call, reason)
  failed = failed + 1
  io.stderr:write("flood executor: ", tostring(call), " failed: ", tostring(reason), "\n")
end
function h:shutdown(d) d:stop() end

-- TEST_EXECUTOR_ENCODING: "json" to talk JSON to the agent (default protobuf).
local d = mesos.executor(h, { encoding = os.getenv("TEST_EXECUTOR_ENCODING") })
d:run()
os.exit(0, true)
