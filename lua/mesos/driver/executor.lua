-- The Lua face of the executor driver (`mesos.executor(handler, opts)`).
-- The Rust core (src/lua/userdata/executor_core.rs) talks to the agent; this file
-- turns its events into handler calls.
-- Internal: the module root (mesos.root) puts `new` in the module as
-- `mesos.executor`. May require: mesos._core, mesos.driver.common.

local core = require "mesos._core"
local common = require "mesos.driver.common"

local M = {}
local checked, call = common.checked, common.call

local Driver = {}
Driver.__index = Driver

--- Creates an executor driver from the MESOS_* environment (opts override).
function M.new(handler, opts)
  if type(handler) ~= "table" then
    error("mesos.executor: handler must be a table of methods, got " .. type(handler), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("mesos.executor: opts must be a table, got " .. type(opts), 2)
  end
  local c = checked(2, core.new_executor, opts)
  return setmetatable({ _core = c, _handler = handler }, Driver)
end

local dispatch = {
  SUBSCRIBED = function(d, h, ev) call(h, "subscribed", d, ev.subscribed or {}) end,
  LAUNCH = function(d, h, ev) call(h, "launch", d, ev.launch and ev.launch.task) end,
  LAUNCH_GROUP = function(d, h, ev) call(h, "launch_group", d, ev.launch_group and ev.launch_group.task_group) end,
  KILL = function(d, h, ev)
    local k = ev.kill or {}
    call(h, "kill", d, k.task_id, k.kill_policy)
  end,
  ACKNOWLEDGED = function(d, h, ev)
    local a = ev.acknowledged or {}
    call(h, "acknowledged", d, a.task_id, a.uuid)
  end,
  MESSAGE = function(d, h, ev) call(h, "message", d, ev.message and ev.message.data) end,
  SHUTDOWN = function(d, h) call(h, "shutdown", d) end,
  ERROR = function(d, h, ev) call(h, "error", d, ev.error and ev.error.message) end,
  HEARTBEAT = function(d, h) call(h, "heartbeat", d) end,
}

function Driver:_dispatch(kind, a, b) return common.dispatch(self, dispatch, kind, a, b) end

common.driver_methods(Driver)

--- Sends a TaskStatus (task_id and state required); returns its uuid.
function Driver:update(status)
  local c = self._core
  return checked(2, c.update, c, status)
end

--- Sends a framework message to the scheduler.
function Driver:message(data)
  local c = self._core
  return checked(2, c.message, c, data)
end

function Driver:stop()
  self._stop_called = true
  return self._core:stop()
end
function Driver:agent_id() return self._core:agent_id() end
function Driver:unacknowledged_updates() return self._core:unacknowledged_updates() end
function Driver:unacknowledged_tasks() return self._core:unacknowledged_tasks() end
function Driver:shutdown_grace_period() return self._core:shutdown_grace_period() end

Driver.__tostring = function(d) return ("mesos.ExecutorDriver(%s)"):format(d._core:state()) end

M.Driver = Driver
return M
