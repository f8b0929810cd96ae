-- Running Lua code as Mesos tasks and collecting the results: the engine of
-- `mesolua`, `mesos.map` and `mesos.run`. A scheduler packs task requests
-- into offers, launches them on the Lua executor (mesos.executor), and
-- decodes each task's reply from its terminal update.

local mesos = require "mesos"
local S = require "mesos.serialize"
local R = mesos.resources

local M = {}

-- The executor's own share (at least Mesos's minimum: 0.01 cpus, 32 MB,
-- below which real agents warn that it will be refused one day).
-- A worker's share (opts.cpus and opts.mem): as many workers as offers
-- allow, up to one per item.
local DEFAULTS = { cpus = 0.1, mem = 64, executor_id = "mesos-lua-executor", executor_cpus = 0.01, executor_mem = 32 }

--- CommandInfo.URI tables from opts.uris: each a string (a path or URL)
--- or a table {value=, extract=, executable=, cache=, output_file=}.
--- Archives are extracted unless extract = false, as Mesos does; with
--- `cache` (opts.cache_uris), strings go through the agents' fetcher cache.
function M.uris(list, cache)
  if list == nil then return nil end
  if type(list) ~= "table" then error("opts.uris must be a list of URIs, got " .. type(list), 3) end
  local out = {}
  for i, u in ipairs(list) do
    if type(u) == "string" then
      out[i] = { value = u, extract = true, cache = cache and true or nil }
    elseif type(u) == "table" and type(u.value) == "string" then
      out[i] = u
    else
      error(("opts.uris[%d] must be a string or {value = ...}"):format(i), 3)
    end
  end
  return out
end

--- CommandInfo.Environment from opts.env: {NAME = "value"} sets NAME;
--- {NAME = true} (or a list entry "NAME") passes this process's NAME on,
--- e.g. LUA_PATH and LUA_CPATH for agents where the rock is elsewhere.
function M.environment(env)
  if env == nil then return nil end
  if type(env) ~= "table" then error("opts.env must be a table {NAME = value}, got " .. type(env), 3) end
  local vars, names = {}, {}
  for k, v in pairs(env) do
    if type(k) == "number" then k, v = v, true end
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      error("opts.env: " .. tostring(k) .. " is not a variable name", 3)
    end
    if v == true then v = os.getenv(k) end
    if v ~= nil and v ~= false then
      if type(v) ~= "string" and type(v) ~= "number" then
        error(("opts.env.%s must be a string, true or false, got %s"):format(k, type(v)), 3)
      end
      names[#names + 1] = k
      vars[k] = tostring(v)
    end
  end
  table.sort(names)
  local out = {}
  for i, k in ipairs(names) do out[i] = { name = k, value = vars[k] } end
  return { variables = out }
end

--- opts.ship: the module travels with the tasks, for agents that do not
--- have it. `true` serves this process's mesos.so from this machine (on
--- opts.ship_host, default the address that routes to the master); a
--- string is a URL or path of a mesos.so the agents' fetcher can get.
--- Returns {uri = CommandInfo.URI, server = file server or nil}, or nil.
function M.ship(opts)
  local ship = opts.ship
  if ship == nil or ship == false then return nil end
  local fetch = { output_file = "mesos.so", extract = false, cache = opts.cache_uris and true or nil }
  if type(ship) == "string" then
    fetch.value = ship
    return { uri = fetch }
  elseif ship ~= true then
    error("opts.ship must be true or the URL of a mesos.so, got " .. type(ship), 3)
  end
  local so = mesos.module_path()
  if not so then return nil, "opts.ship: cannot tell which file the module was loaded from" end
  local host = opts.ship_host
  if not host and (opts.master or "local") == "local" then host = "127.0.0.1" end
  if not host then
    local err
    host, err = mesos.local_address(opts.master)
    if not host then return nil, "opts.ship: " .. err .. " (set opts.ship_host)" end
  end
  local server, err = mesos.file_server { host = host, files = { ["/mesos.so"] = so } }
  if not server then return nil, "opts.ship: " .. err end
  fetch.value = server:url("/mesos.so")
  return { uri = fetch, server = server }
end

-- The options of run_all, map and run.
local OPTIONS = {
  "master", "encoding", "ca_file", "principal", "secret", "credential_file", "uris", "cache_uris",
  "cpus", "mem", "executor_cpus", "executor_mem", "interpreter", "env", "ship", "ship_host",
  "timeout", "memory_mb", "allow_bytecode", "debug", "debug_root", "executor_command", "executor_id",
  "name", "framework_name", "role", "local_cluster", "on_result", "events", "nats", "args",
  "give_up_after", "max_result_bytes", "retries", "max_workers", "errors", "all_values", "on_driver",
}
local NUMBERS = { cpus = true, mem = true, executor_cpus = true, executor_mem = true, timeout = true, memory_mb = true,
  give_up_after = true, max_result_bytes = true, retries = true, max_workers = true }
-- Seconds without a subscription after which a run ends with an error
-- (opts.give_up_after; false: never).
local GIVE_UP_AFTER = 60
local STRINGS = { master = true, encoding = true, ca_file = true, principal = true, secret = true,
  credential_file = true, interpreter = true, ship_host = true, debug = true, debug_root = true,
  executor_command = true, executor_id = true, name = true, framework_name = true, role = true, nats = true,
  errors = true }

--- Raises (at `level` above the caller) for an options table with an
--- unknown key or a value of the wrong type.
function M.check_options(who, opts, level)
  level = (level or 1) + 1
  if opts == nil then return end
  if type(opts) ~= "table" then error(("%s: opts must be a table, got %s"):format(who, type(opts)), level) end
  local bad = mesos._unknown_option(opts, OPTIONS)
  if bad then error(("%s: %s"):format(who, bad), level) end
  for k, v in pairs(opts) do
    if NUMBERS[k] and type(v) ~= "number" and not (k == "give_up_after" and v == false) then
      error(("%s: opts.%s must be a number, got %s"):format(who, k, type(v)), level)
    elseif STRINGS[k] and type(v) ~= "string" then
      error(("%s: opts.%s must be a string, got %s"):format(who, k, type(v)), level)
    elseif (k == "on_result" or k == "on_driver") and type(v) ~= "function" then
      error(("%s: opts.%s must be a function, got %s"):format(who, k, type(v)), level)
    end
  end
end

-- Fields of a request that travel with each item; the rest (timeout,
-- memory_mb, allow_bytecode, debug) are the worker's, from opts or from
-- the first request.
local ITEM_FIELDS = { "code", "closure", "allow_bytecode", "chunkname", "max_result_bytes", "timeout" }

--- Runs work items on workers: `next_item()` -> index, request ({code=,
--- args=, ...}) or nil at the end; see run_all for opts. `on_result(i,
--- record)` gets each item's record once; `total` when known (for
--- opts.on_result's progress). Returns true, or nil and why the run ended
--- early; opts.stop_when() ending it on purpose (a failed item, fail-fast)
--- is no error.
function M.run_items(next_item, opts, on_result, stop_when, total)
  if opts.debug ~= nil then
    local ok, err = require("mesos.tasks.debugger").parse_address(opts.debug)
    if not ok then error("opts.debug: " .. err, 3) end
  end
  local debug_root = opts.debug_root or os.getenv("PWD")
  local mem = opts.mem or DEFAULTS.mem
  local exec_res = R.parse(("cpus:%g;mem:%g"):format(opts.executor_cpus or DEFAULTS.executor_cpus,
    opts.executor_mem or DEFAULTS.executor_mem))
  -- On the local cluster the executor runs on this machine: give it our
  -- module paths. Real agents need the module: installed there (the rock),
  -- found through opts.env's LUA_CPATH, or shipped (opts.ship).
  local on_this_machine = (opts.master or "local") == "local"
  local interpreter = on_this_machine and mesos.executable() or opts.interpreter or "luajit"
  -- opts.executor_command is a shell command line; by default the agent
  -- starts the interpreter directly (no shell in front) on this machine,
  -- and through a shell that checks it is there on other machines.
  local E = require "mesos.tasks.lua_executor"
  local executor_command
  if opts.executor_command then
    executor_command = { value = opts.executor_command }
  elseif on_this_machine then
    executor_command = E.command_info(interpreter, true)
  else
    executor_command = E.remote_command_info(interpreter)
  end
  executor_command.uris = M.uris(opts.uris, opts.cache_uris) or {}
  executor_command.environment = M.environment(opts.env)
  local shipped, ship_err = M.ship(opts)
  if ship_err then return nil, ship_err end
  if shipped then table.insert(executor_command.uris, shipped.uri) end
  local prefix = ("work-%d-%d-"):format(os.time(), math.random(1, 1e9))

  -- Events between tasks (mesos.events): this scheduler is their router.
  local router = opts.events
  if not router then
    local ok, r = pcall(require("mesos.tasks.events").router, { nats = opts.nats })
    if not ok then return nil, tostring(r) end
    router = r
  end
  local task_events = router:task_events()

  local executor_info = {
    executor_id = { value = opts.executor_id or DEFAULTS.executor_id },
    name = "mesos.executor (Lua)",
    -- opts.uris: files for the tasks, fetched into the executor's sandbox
    -- (which task code may read with io.open/io.lines).
    command = executor_command,
    resources = exec_res,
  }
  local agent_hosts, executor_failed = {}, {} -- agent id -> hostname, why its executor ended

  -- The worker's own request: what every item shares.
  local first_index, first = next_item()
  local worker_req = {
    worker = true,
    code = first and first.code or "",
    closure = first and first.closure,
    timeout = first and first.timeout or opts.timeout,
    max_result_bytes = opts.max_result_bytes,
    memory_mb = opts.memory_mb or mem,
    allow_bytecode = opts.allow_bytecode or (first and first.allow_bytecode),
    allow_env = first and first.allow_env,
    chunkname = first and first.chunkname,
    events = task_events,
    debug = opts.debug,
    debug_root = opts.debug and debug_root or nil,
  }
  -- Items carry what differs from the worker's request.
  local function item_of(req)
    local it = { args = req.args }
    for _, k in ipairs(ITEM_FIELDS) do
      if req[k] ~= nil and req[k] ~= worker_req[k] then it[k] = req[k] end
    end
    if it.code and req.allow_bytecode then it.allow_bytecode = true end
    return it
  end
  local pending_first = first_index ~= nil
  local function next_work()
    if pending_first then
      pending_first = false
      return first_index, item_of(first)
    end
    local i, req = next_item()
    if i == nil then return nil end
    return i, item_of(req)
  end
  local worker_data, derr = S.encode(worker_req)
  if not worker_data then return nil, "cannot serialise the workers' request: " .. tostring(derr) end

  local worker_res = R.parse(("cpus:%g;mem:%g"):format(opts.cpus or DEFAULTS.cpus, mem))
  local pool = require("mesos.tasks.pool").new {
    executor_id = executor_info.executor_id.value,
    exec_res = exec_res,
    retries = opts.retries,
    max_workers = opts.max_workers,
    total = total,
    next_item = next_work,
    task_for = function(n, offer)
      agent_hosts[offer.agent_id.value] = offer.hostname
      return {
        name = ("%sworker %d"):format(opts.name or "lua ", n),
        task_id = { value = prefix .. n },
        agent_id = offer.agent_id,
        executor = executor_info,
        data = worker_data,
      }
    end,
    worker_resources = function(avail)
      return R.fits(worker_res, avail) and worker_res or nil
    end,
    on_result = on_result,
    on_start_failure = function(status)
      local agent = status.agent_id and status.agent_id.value
      if status.reason == "REASON_EXECUTOR_TERMINATED" and agent and executor_failed[agent] then
        return ("the executor could not start on %s: %s"):format(agent_hosts[agent] or agent, executor_failed[agent])
      end
      return nil
    end,
  }

  local failed_launch
  local handler = {}
  function handler:offers(d, offers) pool:offers(d, offers) end
  function handler:update(d, status)
    pool:update(d, status)
    if pool.failed or pool:done() or (stop_when and stop_when()) then d:stop() end
  end
  function handler:message(d, agent_id, executor_id, data)
    if pool:message(d, data) then
      if pool:done() or (stop_when and stop_when()) then d:stop() end
      return
    end
    router:handle_message(d, agent_id, executor_id, data)
  end
  function handler:error(d, message) failed_launch = "master error: " .. tostring(message) end
  local stopped_why
  function handler:stopped(d, why) stopped_why = why end
  function handler:failure(d, info)
    if info.executor_id then
      router:forget(info.agent_id, info.executor_id)
      -- Said before the agent's TASK_FAILED for its tasks (same link, in order).
      local why = not on_this_machine and not opts.executor_command and E.exit_reason(info.status, interpreter)
      if why and info.agent_id then executor_failed[info.agent_id.value] = why end
    end
  end

  if first_index == nil then return true end
  local local_cluster = opts.local_cluster
  if local_cluster == nil and on_this_machine then local_cluster = { allocation_interval = 0.01 } end
  local d = mesos.scheduler(handler, {
    master = opts.master or "local",
    encoding = opts.encoding,
    ca_file = opts.ca_file,
    principal = opts.principal, secret = opts.secret, credential_file = opts.credential_file,
    framework = { name = opts.framework_name or "mesos.jobs", roles = opts.role and { opts.role } or nil },
    local_cluster = local_cluster,
    give_up_after = opts.give_up_after ~= false and (opts.give_up_after or GIVE_UP_AFTER) or nil,
  })
  -- E.g. to say where the embedded cluster (and its web UI) is.
  if opts.on_driver then opts.on_driver(d) end
  router:attach(d)
  if router:fd() then
    -- NATS traffic for the router's own topics and control subject.
    local ok, err = d:start()
    if not ok then return nil, err end
    -- SIGINT/SIGTERM as in driver:run().
    mesos._interruptible(d, function(slice)
      if d:state() == "stopped" and d:pending() == 0 then return true end
      mesos.wait_readable({ d:fd(), router:fd() }, slice)
      d:poll(0)
      router:pump()
      return false
    end)
  else
    d:run()
  end
  if not opts.events then router:close() end
  if shipped and shipped.server then shipped.server:close() end
  if pool:done() or (stop_when and stop_when()) then return true end
  if pool.failed then return nil, pool.failed, "workers" end
  if failed_launch then return nil, failed_launch end
  if stopped_why then return nil, stopped_why end
  return nil, "the run ended before every item came back"
end

--- Runs `requests` (a list of {code=, args=, index=, ...}) on workers (see
--- mesos.tasks.pool): every request is one item.
--- opts: master, encoding, ca_file, principal, secret, credential_file, uris, cache_uris,
--- cpus (per worker: default one worker per cpu of an offer), mem (per worker, MB),
--- executor_cpus, executor_mem (the executor's own share, default
--- 0.01 and 32), interpreter (the agents' luajit, default "luajit" on PATH),
--- env (see M.environment), ship, ship_host (see M.ship),
--- give_up_after (seconds without a subscription before the run ends with
--- an error naming each master tried, default 60; false: never),
--- timeout (per item), memory_mb (per worker process), allow_bytecode,
--- retries (times an item is sent again after its worker was lost, default 0),
--- max_workers,
--- debug ("host:port" of a MobDebug controller each item connects to, see
--- mesos.debugger), debug_root (the directory relative chunk names are in,
--- default $PWD),
--- executor_command, name, local_cluster, on_result(i, result, done, total),
--- on_driver(driver) (called once the scheduler driver is made, before it
--- starts: `driver:cluster_url()` is the embedded cluster's address),
--- events (a mesos.events router: the framework's own end of the tasks'
--- topics; one is made when absent, so tasks can always talk), nats (a
--- nats:// URL: the router made here sends events through NATS).
--- Returns the list of results in request order, or nil and an error.
function M.run_all(requests, opts)
  M.check_options("mesos.jobs.run_all", opts, 2)
  opts = opts or {}
  local total = #requests
  if total == 0 then return {} end
  local results, done = {}, 0
  local k = 0
  local ok, err, kind = M.run_items(function()
    k = k + 1
    if k > total then return nil end
    return k, requests[k]
  end, opts, function(i, r)
    if results[i] then return end
    results[i] = r
    done = done + 1
    if opts.on_result then opts.on_result(i, r, done, total) end
  end, nil, total)
  if not ok then
    -- Items the run could not finish say why, each (when workers could
    -- not start, or some items came back); else the run failed.
    if done == 0 and kind ~= "workers" then return nil, err end
    for i = 1, total do
      if not results[i] then
        results[i] = { ok = false, state = "TASK_LOST", error = err, output = "" }
        done = done + 1
        if opts.on_result then opts.on_result(i, results[i], done, total) end
      end
    end
  end
  return results
end

-- The code of fn_or_code: Lua source, or a function as bytecode, or (a
-- function with upvalues) a packed closure (mesos.tasks.closure).
local function code_of(fn, who)
  if type(fn) == "function" then
    local closure = require "mesos.tasks.closure"
    if closure.has_upvalues(fn) then
      local ok, packed = pcall(closure.pack, fn)
      if not ok then error(("%s: %s"):format(who, tostring(packed)), 3) end
      return nil, true, packed
    end
    return string.dump(fn), true
  elseif type(fn) == "string" then
    return fn, false
  end
  error(("%s: expected a function or Lua source, got %s"):format(who, type(fn)), 3)
end

-- What an item gives back: its first value, or all of them ({n =, ...})
-- with all_values.
local function value_of(r, all_values)
  if not all_values then return r.values[1] end
  local t = { n = r.n }
  for k = 1, r.n do t[k] = r.values[k] end
  return t
end

--- mesos.map(fn_or_code, inputs, opts) -> results (results[i] the first
--- value item i returned; `n` the count), or nil, err naming the first
--- failed item (opts.errors = "fail", the default). With opts.errors =
--- "collect": results, errors (errors[i] the message of each failed item,
--- results[i] nil there). opts.all_values: results[i] = {n =, ...} with
--- every value. `inputs` is a list, or an iterator function returning the
--- next input (nil at the end). A function travels as bytecode with the
--- values of its upvalues (mesos.tasks.closure: raises here for one that
--- cannot travel); source code gets the input as `...`.
function M.map(fn, inputs, opts)
  M.check_options("mesos.map", opts, 2)
  opts = opts or {}
  local code, bytecode, packed = code_of(fn, "mesos.map")
  local next_input
  if type(inputs) == "table" then
    local n, k = #inputs, 0
    next_input = function()
      k = k + 1
      if k > n then return nil end
      return k, inputs[k]
    end
  elseif type(inputs) == "function" then
    local k = 0
    next_input = function()
      local v = inputs()
      if v == nil then return nil end
      k = k + 1
      return k, v
    end
  else
    error("mesos.map: inputs must be a list or an iterator function, got " .. type(inputs), 2)
  end
  local collect = opts.errors == "collect"
  if opts.errors ~= nil and opts.errors ~= "collect" and opts.errors ~= "fail" then
    error('mesos.map: opts.errors must be "fail" or "collect", got ' .. tostring(opts.errors), 2)
  end
  local results, errors, count, first_error = {}, {}, 0, nil
  local on_result = opts.on_result
  local ok, err = M.run_items(function()
    local i, v = next_input()
    if i == nil then return nil end
    count = i
    return i, { code = code, closure = packed, args = { v, n = 1 }, allow_bytecode = bytecode }
  end, opts, function(i, r)
    if r.ok then
      results[i] = value_of(r, opts.all_values)
    else
      errors[i] = r.error
      if not first_error or i < first_error then first_error = i end
    end
    if on_result then on_result(i, r) end
  end, function() return not collect and first_error ~= nil end, type(inputs) == "table" and #inputs or nil)
  if first_error and not collect then
    return nil, ("task %d failed: %s"):format(first_error, errors[first_error])
  end
  if not ok then return nil, err end
  results.n = count
  if collect then return results, errors end
  return results
end

--- mesos.run(code, opts) -> the values the task returned, or nil, err.
--- opts.args is passed as `...`.
function M.run(fn, opts)
  M.check_options("mesos.run", opts, 2)
  opts = opts or {}
  local code, bytecode, packed = code_of(fn, "mesos.run")
  local record
  local ok, err = M.run_items(function()
    if record ~= nil then return nil end
    record = false
    return 1, { code = code, closure = packed, args = opts.args or {}, allow_bytecode = bytecode }
  end, opts, function(_, r) record = r end, nil, 1)
  if record and not record.ok then return nil, ("task 1 failed: %s"):format(record.error) end
  if not ok then return nil, err end
  return unpack(record.values, 1, record.n)
end

return M
