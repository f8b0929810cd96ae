-- The Lua face of the operator API client (`mesos.operator(opts)`): calls
-- to a master's or an agent's `/api/v1`, one method per call (generated
-- from the lists below), and the master's event stream with the drivers'
-- event-loop face (poll/run/fd/events, so mesos.luv, mesos.cqueues,
-- mesos.copas and mesos.openresty drive it as they drive a driver).
-- The Rust core (src/lua/userdata/operator_core.rs) encodes, sends and
-- decodes; this file builds the calls and dispatches events.
-- Internal: the module root (mesos.root) puts `new` in the module as
-- `mesos.operator`. May require: mesos._core, mesos.driver.common.

local core = require "mesos._core"
local common = require "mesos.driver.common"

local M = {}
local checked, call = common.checked, common.call

local Operator = {}
Operator.__index = Operator
-- op:run() traps SIGINT/SIGTERM as a driver's run() does.
Operator._interruptible = true

-- The stream's core before op:subscribe(handler): idle, and the loop
-- methods say what to do.
local not_subscribed = setmetatable({
  state = function() return "idle" end,
  pending = function() return 0 end,
  stats = function() return { events = 0, reconnects = 0, queue_depth = 0, events_by_type = {} } end,
  stop = function() return true end,
  abort = function() return true end,
}, {
  __index = function()
    return function() error("mesos.operator: call op:subscribe(handler) first", 0) end
  end,
})

--- mesos.operator(opts) -> an operator client for opts.master or opts.agent.
function M.new(opts)
  if type(opts) ~= "table" then
    error("mesos.operator: opts must be a table, got " .. type(opts), 2)
  end
  local c = checked(2, core.new_operator, opts)
  return setmetatable({ _op = c, _core = not_subscribed }, Operator)
end

local function check_type(v, want, what, level)
  if type(v) ~= want then
    error(("mesos.operator: %s must be a %s, got %s"):format(what, want, type(v)), level + 1)
  end
end

-- Sends call `ty` with `body`; misuse errors name the line `level` frames
-- above the caller of send.
local function send(self, level, ty, body)
  check_type(ty, "string", "call type", level + 1)
  if body ~= nil then check_type(body, "table", "call body", level + 1) end
  local t = { type = ty }
  for k, v in pairs(body or {}) do
    if k ~= "type" then t[k] = v end
  end
  local op = self._op
  local r, err = checked(level + 1, op.call, op, t)
  return r, err
end

--- op:call(type [, body]) -> the Response table | true | nil, err
function Operator:call(ty, body)
  local r, err = send(self, 2, ty, body)
  return r, err
end

-- Seconds as a mesos.v1.DurationInfo.
local function duration(s, what)
  if s == nil then return nil end
  check_type(s, "number", what, 4)
  return { nanoseconds = math.floor(s * 1e9 + 0.5) }
end

-- An id: a string or an id table.
local function id(v, what)
  if type(v) ~= "string" and type(v) ~= "table" then
    error(("mesos.operator: %s must be a string or {value = ...}, got %s"):format(what, type(v)), 4)
  end
  return v
end

local function list(v, what)
  if type(v) ~= "table" then
    error(("mesos.operator: %s must be a table, got %s"):format(what, type(v)), 4)
  end
  return v
end

-- The calls' bodies from the methods' arguments (calls not listed take none).
local bodies = {
  get_metrics = function(timeout) return { timeout = duration(timeout, "timeout") } end,
  list_files = function(path)
    check_type(path, "string", "path", 3)
    return { path = path }
  end,
  read_file = function(path, offset, length)
    check_type(path, "string", "path", 3)
    if length ~= nil then check_type(length, "number", "length", 3) end
    if offset ~= nil then check_type(offset, "number", "offset", 3) end
    return { path = path, offset = offset or 0, length = length }
  end,
  set_logging_level = function(level, secs)
    check_type(level, "number", "level", 3)
    return { level = level, duration = duration(secs or 0, "duration") }
  end,
  drain_agent = function(agent_id, opts)
    if opts ~= nil then list(opts, "drain options") end
    opts = opts or {}
    return { agent_id = id(agent_id, "agent_id"), max_grace_period = duration(opts.max_grace_period, "max_grace_period"),
      mark_gone = opts.mark_gone }
  end,
  deactivate_agent = function(agent_id) return { agent_id = id(agent_id, "agent_id") } end,
  reactivate_agent = function(agent_id) return { agent_id = id(agent_id, "agent_id") } end,
  mark_agent_gone = function(agent_id) return { agent_id = id(agent_id, "agent_id") } end,
  teardown = function(framework_id) return { framework_id = id(framework_id, "framework_id") } end,
  update_maintenance_schedule = function(schedule) return { schedule = list(schedule, "schedule") } end,
  start_maintenance = function(machines) return { machines = list(machines, "machines") } end,
  stop_maintenance = function(machines) return { machines = list(machines, "machines") } end,
  reserve_resources = function(agent_id, resources)
    return { agent_id = id(agent_id, "agent_id"), resources = list(resources, "resources") }
  end,
  unreserve_resources = function(agent_id, resources)
    return { agent_id = id(agent_id, "agent_id"), resources = list(resources, "resources") }
  end,
  create_volumes = function(agent_id, volumes)
    return { agent_id = id(agent_id, "agent_id"), volumes = list(volumes, "volumes") }
  end,
  destroy_volumes = function(agent_id, volumes)
    return { agent_id = id(agent_id, "agent_id"), volumes = list(volumes, "volumes") }
  end,
  update_quota = function(configs, force)
    return { quota_configs = list(configs, "quota_configs"), force = force }
  end,
  kill_nested_container = function(container_id, signal)
    return { container_id = id(container_id, "container_id"), signal = signal }
  end,
}

--- The calls that get a method (op:get_state(), ...), master's and agent's.
M.CALLS = {
  "get_health", "get_flags", "get_version", "get_metrics", "get_logging_level", "set_logging_level",
  "list_files", "read_file", "get_state", "get_agents", "get_frameworks", "get_executors", "get_tasks",
  "get_roles", "get_operations", "get_master", "get_quota", "get_maintenance_status",
  "get_maintenance_schedule", "update_maintenance_schedule", "start_maintenance", "stop_maintenance",
  "drain_agent", "deactivate_agent", "reactivate_agent", "mark_agent_gone", "teardown",
  "reserve_resources", "unreserve_resources", "create_volumes", "destroy_volumes", "update_quota",
  "get_containers", "get_resource_providers", "kill_nested_container",
}

for _, name in ipairs(M.CALLS) do
  local ty, build = name:upper(), bodies[name]
  Operator[name] = function(self, ...)
    local body
    if build then body = { [name] = build(...) } end
    local r, err = send(self, 2, ty, body)
    if type(r) ~= "table" then return r, err end
    return r[name] or {}
  end
end

-- Events: handler:<type in snake_case>(op, event.<type in snake_case>).
local events = setmetatable({}, {
  __index = function(t, ty)
    local name = ty:lower()
    local f = function(op, h, ev) call(h, name, op, ev[name]) end
    rawset(t, ty, f)
    return f
  end,
})

--- op:subscribe(handler) -> op | nil, err: opens the master's event stream.
function Operator:subscribe(handler)
  check_type(handler, "table", "handler", 2)
  if self._core ~= not_subscribed then error("mesos.operator: already subscribed", 2) end
  local op = self._op
  self._core = checked(2, op.watch, op)
  self._handler = handler
  local ok, err = self._core:start()
  if not ok then return nil, err end
  return self
end

function Operator:_dispatch(kind, a, b) return common.dispatch(self, events, kind, a, b) end

common.driver_methods(Operator)

--- op:stop(): closes the event stream (queued events are dropped).
function Operator:stop()
  self._stop_called = true
  return self._core:stop()
end

--- op:target() -> the master or agent as given; op:is_agent().
function Operator:target() return self._op:target() end
function Operator:is_agent() return self._op:is_agent() end
function Operator:encoding() return self._op:encoding() end

Operator.__tostring = function(op)
  return ("mesos.Operator(%s %s)"):format(op._op:is_agent() and "agent" or "master", op._op:target())
end

M.Operator = Operator
return M
