-- A custom executor for the payload-limit scenario: with max_payload_bytes
-- set to $LIMIT_BYTES, on LAUNCH it sends a status update and a framework
-- message of exactly the limit, tries each one byte over (and a status
-- message one byte over), and reports what each attempt returned in one
-- framework message ("limits <ok>|<err>|<err>|<ok>|<err>"). It answers a
-- framework message from the scheduler with its size ("got N").
local mesos = require "mesos"

local LIMIT = assert(tonumber(os.getenv("LIMIT_BYTES")), "LIMIT_BYTES")
local h = {}
function h:launch(d, task)
  local id = task.task_id
  local ok1 = d:update { task_id = id, state = "TASK_RUNNING", data = string.rep("d", LIMIT) }
  local _, e2 = d:update { task_id = id, state = "TASK_RUNNING", data = string.rep("d", LIMIT + 1) }
  local _, e3 = d:update { task_id = id, state = "TASK_RUNNING", message = string.rep("m", LIMIT + 1) }
  local ok4 = d:message(string.rep("g", LIMIT))
  local _, e5 = d:message(string.rep("g", LIMIT + 1))
  d:message(("limits %s|%s|%s|%s|%s"):format(tostring(ok1 ~= nil), tostring(e2), tostring(e3), tostring(ok4), tostring(e5)))
end
function h:message(d, data) d:message("got " .. #data) end
function h:kill(d, task_id) d:update { task_id = task_id, state = "TASK_KILLED" } end
function h:shutdown(d) d:stop() end

local d = mesos.executor(h, { encoding = os.getenv("TEST_EXECUTOR_ENCODING"), max_payload_bytes = LIMIT })
d:run()
os.exit(0, true)
