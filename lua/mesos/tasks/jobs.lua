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
local DEFAULTS = { cpus = 0.1, mem = 64, executor_id = "mesos-lua-executor", executor_cpus = 0.01, executor_mem = 32 }

-- A task's result record: { ok = true, n = N, values = {...}, output = "..." }
-- or { ok = false, error = "...", state = "TASK_FAILED", output = "..." }.
local function result_of(status)
  local reply = status.data and S.decode(status.data) or nil
  if status.state == "TASK_FINISHED" and type(reply) == "table" and reply.ok then
    return { ok = true, n = reply.n or 0, values = reply.values or {}, output = reply.output or "" }
  end
  local err = (type(reply) == "table" and reply.error) or status.message or status.state
  return {
    ok = false, state = status.state, error = tostring(err),
    output = type(reply) == "table" and reply.output or "",
  }
end

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
  "give_up_after", "max_result_bytes",
}
local NUMBERS = { cpus = true, mem = true, executor_cpus = true, executor_mem = true, timeout = true, memory_mb = true,
  give_up_after = true, max_result_bytes = true }
-- Seconds without a subscription after which a run ends with an error
-- (opts.give_up_after; false: never).
local GIVE_UP_AFTER = 60
local STRINGS = { master = true, encoding = true, ca_file = true, principal = true, secret = true,
  credential_file = true, interpreter = true, ship_host = true, debug = true, debug_root = true,
  executor_command = true, executor_id = true, name = true, framework_name = true, role = true, nats = true }

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
    elseif k == "on_result" and type(v) ~= "function" then
      error(("%s: opts.on_result must be a function, got %s"):format(who, type(v)), level)
    end
  end
end

--- Runs `requests` (a list of {code=, args=, index=, ...}) as tasks.
--- opts: master, encoding, ca_file, principal, secret, credential_file, uris, cache_uris,
--- cpus, mem, executor_cpus, executor_mem (the executor's own share, default
--- 0.01 and 32), interpreter (the agents' luajit, default "luajit" on PATH),
--- env (see M.environment), ship, ship_host (see M.ship),
--- give_up_after (seconds without a subscription before the run ends with
--- an error naming each master tried, default 60; false: never),
--- timeout, memory_mb, allow_bytecode,
--- debug ("host:port" of a MobDebug controller each task connects to, see
--- mesos.debugger), debug_root (the directory relative chunk names are in,
--- default $PWD),
--- executor_command, name, local_cluster, on_result(i, result, done, total),
--- events (a mesos.events router: the framework's own end of the tasks'
--- topics; one is made when absent, so tasks can always talk), nats (a
--- nats:// URL: the router made here sends events through NATS).
--- Returns the list of results in request order, or nil and an error.
function M.run_all(requests, opts)
  M.check_options("mesos.jobs.run_all", opts, 2)
  opts = opts or {}
  local total = #requests
  if total == 0 then return {} end
  if opts.debug ~= nil then
    local ok, err = require("mesos.tasks.debugger").parse_address(opts.debug)
    if not ok then error("opts.debug: " .. err, 2) end
  end
  local debug_root = opts.debug_root or os.getenv("PWD")
  local cpus, mem = opts.cpus or DEFAULTS.cpus, opts.mem or DEFAULTS.mem
  local task_res = R.parse(("cpus:%g;mem:%g"):format(cpus, mem))
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
  local prefix = ("job-%d-%d-"):format(os.time(), math.random(1, 1e9))

  -- Events between tasks (mesos.events): this scheduler is their router.
  local router = opts.events
  if not router then
    local ok, r = pcall(require("mesos.tasks.events").router, { nats = opts.nats })
    if not ok then return nil, tostring(r) end
    router = r
  end
  local task_events = router:task_events()

  local pending = {}
  for i = total, 1, -1 do pending[#pending + 1] = i end -- a stack: pop launches 1 first
  local results, done, failed_launch = {}, 0, nil
  local handler = {}
  local executor_info = {
    executor_id = { value = opts.executor_id or DEFAULTS.executor_id },
    name = "mesos.executor (Lua)",
    -- opts.uris: files for the tasks, fetched into the executor's sandbox
    -- (which task code may read with io.open/io.lines).
    command = executor_command,
    resources = exec_res,
  }
  local agent_hosts, executor_failed = {}, {} -- agent id -> hostname, why its executor ended

  local function task_for(i, offer)
    local req = {}
    for k, v in pairs(requests[i]) do req[k] = v end
    req.index = req.index or i
    req.timeout = req.timeout or opts.timeout
    req.max_result_bytes = req.max_result_bytes or opts.max_result_bytes
    req.memory_mb = req.memory_mb or opts.memory_mb or mem
    req.allow_bytecode = req.allow_bytecode or opts.allow_bytecode
    req.events = task_events
    req.debug = req.debug or opts.debug
    if req.debug then req.debug_root = req.debug_root or debug_root end
    local data, err = S.encode(req)
    if not data then error(("task %d: cannot serialise its request: %s"):format(i, err), 0) end
    return {
      name = ("%s%d"):format(opts.name or "lua task ", i),
      task_id = { value = prefix .. i },
      agent_id = offer.agent_id,
      resources = task_res,
      executor = executor_info,
      data = data,
    }
  end

  local function runs_our_executor(offer)
    for _, e in ipairs(offer.executor_ids or {}) do
      if e.value == executor_info.executor_id.value then return true end
    end
    return false
  end

  function handler:offers(d, offers)
    for _, offer in ipairs(offers) do
      agent_hosts[offer.agent_id.value] = offer.hostname
      local tasks, avail = {}, offer.resources
      -- The first tasks on an agent also start the executor, which takes
      -- its own share of the offer.
      if not runs_our_executor(offer) then
        avail = R.fits(exec_res, avail) and R.subtract(avail, exec_res) or {}
      end
      while #pending > 0 and R.fits(task_res, avail) do
        local i = table.remove(pending)
        tasks[#tasks + 1] = task_for(i, offer)
        avail = R.subtract(avail, task_res)
      end
      -- While work is pending, leftovers come back at the next allocation
      -- (no filter); once everything is launched, stay out of the way.
      local refuse = #pending > 0 and 0 or 3600
      if #tasks > 0 then
        d:launch(offer.id, tasks, { refuse_seconds = refuse })
      else
        d:decline(offer.id, { refuse_seconds = refuse })
      end
    end
    if #pending == 0 then d:suppress() end
  end

  function handler:update(d, status)
    local i = tonumber(status.task_id.value:sub(#prefix + 1))
    if not i or results[i] then return end
    local st = status.state
    if st == "TASK_STARTING" or st == "TASK_RUNNING" or st == "TASK_STAGING" then return end
    if st == "TASK_LOST" and status.reason == "REASON_INVALID_OFFERS" then
      -- The offer went away before our ACCEPT: run it again.
      pending[#pending + 1] = i
      d:revive()
      return
    end
    results[i] = result_of(status)
    local agent = status.agent_id and status.agent_id.value
    results[i].agent_id = agent
    if status.reason == "REASON_EXECUTOR_TERMINATED" and agent and executor_failed[agent] then
      results[i].error = ("the executor could not start on %s: %s"):format(
        agent_hosts[agent] or agent, executor_failed[agent])
    end
    done = done + 1
    if opts.on_result then opts.on_result(i, results[i], done, total) end
    if done == total then d:stop() end
  end

  function handler:error(d, message) failed_launch = "master error: " .. tostring(message) end
  local stopped_why
  function handler:stopped(d, why) stopped_why = why end

  function handler:message(d, agent_id, executor_id, data)
    router:handle_message(d, agent_id, executor_id, data)
  end
  function handler:failure(d, info)
    if info.executor_id then
      router:forget(info.agent_id, info.executor_id)
      -- Said before the agent's TASK_FAILED for its tasks (same link, in order).
      local why = not on_this_machine and not opts.executor_command and E.exit_reason(info.status, interpreter)
      if why and info.agent_id then executor_failed[info.agent_id.value] = why end
    end
  end

  local d = mesos.scheduler(handler, {
    master = opts.master or "local",
    encoding = opts.encoding,
    ca_file = opts.ca_file,
    principal = opts.principal, secret = opts.secret, credential_file = opts.credential_file,
    framework = { name = opts.framework_name or "mesos.jobs", roles = opts.role and { opts.role } or nil },
    local_cluster = opts.local_cluster,
    give_up_after = opts.give_up_after ~= false and (opts.give_up_after or GIVE_UP_AFTER) or nil,
  })
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
  if failed_launch and done < total then return nil, failed_launch end
  if done < total and stopped_why then return nil, stopped_why end
  if done < total then return nil, ("only %d of %d tasks finished"):format(done, total) end
  return results
end

-- Ships `fn` (Lua source, or a function as bytecode) once per argument list.
local function run_code(fn, arg_lists, opts, who)
  local code, bytecode
  if type(fn) == "function" then
    code, bytecode = string.dump(fn), true
  elseif type(fn) == "string" then
    code = fn
  else
    error(("%s: expected a function or Lua source, got %s"):format(who, type(fn)), 3)
  end
  local requests = {}
  for i, args in ipairs(arg_lists) do
    requests[i] = { code = code, args = args, index = i, allow_bytecode = bytecode }
  end
  local results, err = M.run_all(requests, opts)
  if not results then return nil, err end
  for i, r in ipairs(results) do
    if not r.ok then return nil, ("task %d failed: %s"):format(i, r.error) end
  end
  return results
end

--- mesos.map(fn_or_code, inputs, opts) -> list of results (the first value
--- each task returned; `n` holds the count), or nil, err naming the first
--- failed task. A function travels as bytecode, so it must not use upvalues
--- (pass what it needs in its input); source code gets the input as `...`.
function M.map(fn, inputs, opts)
  M.check_options("mesos.map", opts, 2)
  if type(inputs) ~= "table" then
    error("mesos.map: inputs must be a list, got " .. type(inputs), 2)
  end
  local arg_lists = {}
  for i = 1, #inputs do arg_lists[i] = { inputs[i] } end
  local results, err = run_code(fn, arg_lists, opts, "mesos.map")
  if not results then return nil, err end
  local out = { n = #results }
  for i, r in ipairs(results) do out[i] = r.values[1] end
  return out
end

--- mesos.run(code, opts) -> the values the task returned, or nil, err.
--- opts.args is passed as `...`.
function M.run(fn, opts)
  M.check_options("mesos.run", opts, 2)
  local results, err = run_code(fn, { (opts and opts.args) or {} }, opts, "mesos.run")
  if not results then return nil, err end
  return unpack(results[1].values, 1, results[1].n)
end

return M
