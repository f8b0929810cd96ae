-- The Lua face of the scheduler driver (`mesos.scheduler(handler, opts)`).
-- The Rust core (src/lua/userdata/scheduler_core.rs) owns the connection and
-- hands over events one at a time; this file turns them into handler calls
-- and builds the Mesos calls from Lua arguments.
-- Internal: the module root (mesos.root) puts `new` in the module as
-- `mesos.scheduler`. May require: mesos._core, mesos.driver.common,
-- mesos.resources, mesos.view (for views).

local core = require "mesos._core"
local common = require "mesos.driver.common"
local resources = require "mesos.resources"

local M = {}

local checked, call = common.checked, common.call

local Driver = {}
Driver.__index = Driver
-- driver:run() traps SIGINT/SIGTERM: a signal tears the framework down and
-- ends the program (common.interruptible).
Driver._interruptible = true

-- A message given as a table or as a view (mesos.view).
local function is_message(v)
  local t = type(v)
  return t == "table" or t == "cdata"
end

local function is_id(v)
  return type(v) == "string" or (is_message(v) and v.value ~= nil)
end

-- One id or a list of ids, as a list.
local function id_list(v, what)
  if v == nil then return {} end
  if is_id(v) then return { v } end
  if type(v) ~= "table" then
    error(("%s: expected an id (string, {value=...} or a view) or a list of ids, got %s"):format(what, type(v)), 3)
  end
  return v
end

local function string_list(v, what)
  if v == nil then return nil end
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then
    error(("%s: expected a string or a list of strings, got %s"):format(what, type(v)), 3)
  end
  return v
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- As libmesos's driver: an unset or empty FrameworkInfo.user is the user
-- this process runs as (an empty one reaches the agents as user '', which
-- fails every task).
local function default_user()
  local env = os.getenv("USER")
  return core.current_user() or (env ~= "" and env) or "root"
end

--- Creates a scheduler driver. See docs/api.md.
function M.new(handler, opts)
  if type(handler) ~= "table" then
    error("mesos.scheduler: handler must be a table of methods, got " .. type(handler), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("mesos.scheduler: opts must be a table, got " .. type(opts), 2)
  end
  local fw = opts.framework or {}
  if type(fw) ~= "table" then
    error("mesos.scheduler: opts.framework must be a table, got " .. type(fw), 2)
  end
  fw = copy(fw)
  if fw.name == nil then fw.name = "lua-mesos" end
  if fw.user == nil or fw.user == "" then fw.user = default_user() end
  local multi_role = false
  for _, c in ipairs(fw.capabilities or {}) do
    if c.type == "MULTI_ROLE" then multi_role = true end
  end
  if fw.roles ~= nil and not multi_role then
    -- Mesos only honours `roles` for frameworks with MULTI_ROLE.
    local caps = copy(fw.capabilities or {})
    caps[#caps + 1] = { type = "MULTI_ROLE" }
    fw.capabilities = caps
    multi_role = true
  end
  local o = copy(opts)
  o.framework = fw
  local c = checked(2, core.new_scheduler, o)
  local implicit = opts.implicit_acknowledgements
  if implicit == nil then implicit = true end
  local views = opts.views and require("mesos.view") or nil
  local q
  if views then q = { i = 1, n = 0, staging = views.staging(c:staging()) } end
  local d = { _core = c, _handler = handler, _implicit = implicit, _views = views, _q = q }
  if multi_role then
    -- The allocation role of each outstanding offer (offer id -> role), so
    -- that LAUNCH and LAUNCH_GROUP resources get the offer's when they
    -- have none (see Driver:_allocated).
    d._offer_roles = {}
    local roles = type(fw.roles) == "table" and fw.roles or {}
    if #roles == 1 and type(roles[1]) == "string" then d._only_role = roles[1] end
  end
  return setmetatable(d, Driver)
end

-- With views, events received as protobuf come as views (mesos.view),
-- taken from the core in batches: for each, q holds where its bytes are
-- (an offset in the core's staging area, or a string), their length, the
-- message index and the type (q.i the next, q.n the count), then the output
-- that ended the batch.
function Driver:_next(timeout, limit)
  local v = self._views
  if not v then return self._core:next(timeout) end
  local q = self._q
  local i = q.i
  if i <= q.n then
    q.i = i + 1
    -- The event stays in the staging area while it is dispatched (false
    -- stands for it): most handlers get a part of it, made into a view
    -- from there; Driver:_event() makes the whole event a view.
    q.cur = 4 * i
    return "event", false, q[4 * i]
  end
  local kind = q.kind
  if kind then
    local a, b = q.a, q.b
    q.kind, q.a, q.b = nil, nil, nil
    return kind, a, b
  end
  local n, a, b
  n, kind, a, b = self._core:next_raw_batch(timeout, q, limit)
  q.i, q.n, q.kind, q.a, q.b = 1, n, kind, a, b
  if n == 0 and kind == nil then return nil end
  return self:_next(0)
end

-- The event being dispatched, as a view (false: the staged one).
function Driver:_event(ev)
  if ev ~= false then return ev end
  local q, k = self._q, self._q.cur
  return self._views.wrap_at(q.staging, q[k - 3], q[k - 2], q[k - 1])
end

function Driver:_buffered()
  local q = self._q
  if not q then return 0 end
  return q.n - q.i + 1 + (q.kind and 1 or 0)
end

-- ev[a] or ev[a][b] (nil if ev[a] is unset); with views, without a view of
-- the event or of ev[a].
local function get(d, ev, a, b)
  local v = d._views
  if ev == false then
    local q = d._q
    local k = q.cur
    local x = v.get_staged(q.staging, q[k - 3], q[k - 2], q[k - 1], a, b)
    return x
  end
  if v and v.is_view(ev) then
    local x = v.get(ev, a, b)
    return x
  end
  local t = ev[a]
  if b == nil then return t end
  return t and t[b]
end

-- Notes each offer's allocation role (MULTI_ROLE frameworks only).
local function note_offers(d, offers)
  local roles = d._offer_roles
  for _, o in ipairs(offers) do
    local id, a = o.id, o.allocation_info
    if id ~= nil and a ~= nil and a.role ~= nil then roles[id.value] = a.role end
  end
end

-- Forgets offers that were used or rescinded.
local function forget_offers(d, ids)
  local roles = d._offer_roles
  if not roles then return end
  for _, id in ipairs(ids) do
    roles[type(id) == "string" and id or id.value] = nil
  end
end

local dispatch = {
  SUBSCRIBED = function(d, h, ev)
    -- A new subscription: the offers of the old one are gone.
    if d._offer_roles then d._offer_roles = {} end
    call(h, "subscribed", d, get(d, ev, "subscribed") or {})
  end,
  OFFERS = function(d, h, ev)
    local offers = get(d, ev, "offers", "offers") or {}
    if d._offer_roles then note_offers(d, offers) end
    call(h, "offers", d, offers)
  end,
  INVERSE_OFFERS = function(d, h, ev)
    call(h, "inverse_offers", d, get(d, ev, "inverse_offers", "inverse_offers") or {})
  end,
  RESCIND = function(d, h, ev)
    local id = get(d, ev, "rescind", "offer_id")
    if id ~= nil then forget_offers(d, { id }) end
    call(h, "rescind", d, id)
  end,
  RESCIND_INVERSE_OFFER = function(d, h, ev)
    call(h, "rescind_inverse_offer", d, get(d, ev, "rescind_inverse_offer", "inverse_offer_id"))
  end,
  UPDATE = function(d, h, ev)
    local status = get(d, ev, "update", "status") or {}
    call(h, "update", d, status)
    if d._implicit and status.uuid ~= nil and status.agent_id ~= nil then
      d:acknowledge(status)
    end
  end,
  UPDATE_OPERATION_STATUS = function(d, h, ev)
    call(h, "update_operation_status", d, get(d, ev, "update_operation_status", "status"))
  end,
  MESSAGE = function(d, h, ev)
    local m = get(d, ev, "message") or {}
    call(h, "message", d, m.agent_id, m.executor_id, m.data)
  end,
  FAILURE = function(d, h, ev) call(h, "failure", d, get(d, ev, "failure") or {}) end,
  ERROR = function(d, h, ev) call(h, "error", d, get(d, ev, "error", "message")) end,
  HEARTBEAT = function(d, h) call(h, "heartbeat", d) end,
}

function Driver:_dispatch(kind, a, b) return common.dispatch(self, dispatch, kind, a, b) end

common.driver_methods(Driver)

function Driver:stop(failover)
  self._stop_called = true
  return self._core:stop(failover and true or false)
end
function Driver:framework_id() return self._core:framework_id() end
function Driver:master() return self._core:master() end
-- The embedded cluster's URL (its web UI is there) with master = "local".
function Driver:cluster_url() return self._core:cluster_url() end

-- Calls ------------------------------------------------------------------

-- The result of a call method, returned from the method's own frame:
-- `self:_send`, which raises misuse errors at level 3 (the method's
-- caller), runs before this tail call, so no frame is skipped.
local function sent(ok, err) return ok, err end

function Driver:_send(call)
  local c = self._core
  -- Not a tail call: level 3 counts this frame, then the method's.
  local ok, err = checked(3, c.send, c, call)
  return ok, err
end

-- For a MULTI_ROLE framework, `operations` with the offers' allocation
-- role on the LAUNCH/LAUNCH_GROUP resources that have none (Mesos needs
-- every resource a MULTI_ROLE framework uses to name its allocation role;
-- docs: README, mesos.resources). The role is the first known offer's, or
-- the framework's only role. Forgets the offers: an offer is used once.
function Driver:_allocated(ids, operations)
  local roles = self._offer_roles
  if not roles then return operations end
  local role
  for _, id in ipairs(ids) do
    role = role or roles[type(id) == "string" and id or id.value]
  end
  role = role or self._only_role
  forget_offers(self, ids)
  if role == nil or type(operations) ~= "table" then return operations end
  return resources.allocate_operations(operations, role)
end

function Driver:accept(offer_ids, operations, filters)
  local ids = id_list(offer_ids, "accept: offer_ids")
  return sent(self:_send { type = "ACCEPT", accept = {
    offer_ids = ids, operations = self:_allocated(ids, operations or {}), filters = filters } })
end

function Driver:launch(offer_ids, tasks, filters)
  if type(tasks) ~= "table" then
    error("launch: tasks must be a list of TaskInfo tables, got " .. type(tasks), 2)
  end
  if tasks.task_id ~= nil then tasks = { tasks } end
  local ids = id_list(offer_ids, "launch: offer_ids")
  return sent(self:_send { type = "ACCEPT", accept = {
    offer_ids = ids,
    operations = self:_allocated(ids, { { type = "LAUNCH", launch = { task_infos = tasks } } }),
    filters = filters } })
end

function Driver:decline(offer_ids, filters)
  local ids = id_list(offer_ids, "decline: offer_ids")
  forget_offers(self, ids)
  return sent(self:_send { type = "DECLINE", decline = { offer_ids = ids, filters = filters } })
end

function Driver:accept_inverse_offers(ids, filters)
  return sent(self:_send { type = "ACCEPT_INVERSE_OFFERS", accept_inverse_offers = {
    inverse_offer_ids = id_list(ids, "accept_inverse_offers: ids"), filters = filters } })
end

function Driver:decline_inverse_offers(ids, filters)
  return sent(self:_send { type = "DECLINE_INVERSE_OFFERS", decline_inverse_offers = {
    inverse_offer_ids = id_list(ids, "decline_inverse_offers: ids"), filters = filters } })
end

function Driver:revive(roles)
  return sent(self:_send { type = "REVIVE", revive = { roles = string_list(roles, "revive: roles") } })
end

function Driver:suppress(roles)
  return sent(self:_send { type = "SUPPRESS", suppress = { roles = string_list(roles, "suppress: roles") } })
end

function Driver:kill(task_id, agent_id, kill_policy)
  return sent(self:_send { type = "KILL", kill = { task_id = task_id, agent_id = agent_id, kill_policy = kill_policy } })
end

function Driver:shutdown(executor_id, agent_id)
  return sent(self:_send { type = "SHUTDOWN", shutdown = { executor_id = executor_id, agent_id = agent_id } })
end

function Driver:acknowledge(status, task_id, uuid)
  local ack
  if is_message(status) and task_id == nil then
    if status.uuid == nil then
      error("acknowledge: this status has no uuid (master-generated updates must not be acknowledged)", 2)
    end
    ack = { agent_id = status.agent_id, task_id = status.task_id, uuid = status.uuid }
  else
    ack = { agent_id = status, task_id = task_id, uuid = uuid }
  end
  return sent(self:_send { type = "ACKNOWLEDGE", acknowledge = ack })
end

function Driver:acknowledge_operation_status(status)
  if not is_message(status) then
    error("acknowledge_operation_status: expected an OperationStatus table, got " .. type(status), 2)
  end
  local uuid = status.uuid
  if is_message(uuid) then uuid = uuid.value end
  return sent(self:_send { type = "ACKNOWLEDGE_OPERATION_STATUS", acknowledge_operation_status = {
    agent_id = status.agent_id, resource_provider_id = status.resource_provider_id,
    uuid = uuid, operation_id = status.operation_id } })
end

function Driver:reconcile(tasks)
  if tasks ~= nil and type(tasks) ~= "table" then
    error("reconcile: tasks must be a list of task ids or TaskStatus tables, got " .. type(tasks), 2)
  end
  if type(tasks) == "table" and tasks[1] ~= nil then
    -- The common shapes go straight from this list to the call.
    local c = self._core
    local ok, err = checked(2, c.send_reconcile, c, tasks)
    if ok ~= false then return ok, err end
  end
  local list = {}
  for i, t in ipairs(tasks or {}) do
    if is_id(t) then
      list[i] = { task_id = t }
    else
      list[i] = { task_id = t.task_id, agent_id = t.agent_id }
    end
  end
  return sent(self:_send { type = "RECONCILE", reconcile = { tasks = list } })
end

function Driver:reconcile_operations(operations)
  if operations ~= nil and type(operations) ~= "table" then
    error("reconcile_operations: operations must be a list, got " .. type(operations), 2)
  end
  local list = {}
  for i, o in ipairs(operations or {}) do
    if is_id(o) then list[i] = { operation_id = o } else list[i] = o end
  end
  return sent(self:_send { type = "RECONCILE_OPERATIONS", reconcile_operations = { operations = list } })
end

function Driver:message(agent_id, executor_id, data)
  return sent(self:_send { type = "MESSAGE", message = { agent_id = agent_id, executor_id = executor_id, data = data } })
end

function Driver:request(requests)
  return sent(self:_send { type = "REQUEST", request = { requests = requests or {} } })
end

function Driver:teardown()
  return sent(self:_send { type = "TEARDOWN" })
end

function Driver:update_framework(framework_info, suppressed_roles)
  return sent(self:_send { type = "UPDATE_FRAMEWORK", update_framework = {
    framework_info = framework_info, suppressed_roles = string_list(suppressed_roles, "update_framework: suppressed_roles") } })
end

Driver.__tostring = function(d) return ("mesos.SchedulerDriver(%s)"):format(d._core:state()) end

M.Driver = Driver
return M
