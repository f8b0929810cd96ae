-- The Lua task executor: runs on an agent, launched by Mesos as
--   luajit -e 'require "mesos"; require "mesos.tasks.lua_executor".main()'
-- Each task's Lua code (in TaskInfo.data, see mesos.jobs) runs in its own
-- child process (mesos.task, sandboxed), under a wall-clock timeout and an
-- address-space limit; the reply travels back in the terminal update's data.
-- One executor serves many tasks, in parallel. The task processes are forked
-- by a warm zygote (mesos.zygote: a luajit that loaded the module once),
-- started with the executor; without one (opts.zygote = false, or if it
-- cannot start or dies) each task process is a fresh `luajit`.

local mesos = require "mesos"
local S = require "mesos.serialize"
local events = require "mesos.tasks.events"
local work = require "mesos.tasks.work"

local M = {}

local TERMINAL = { TASK_FINISHED = true, TASK_FAILED = true, TASK_KILLED = true, TASK_ERROR = true, TASK_LOST = true }

local function log(...)
  io.stderr:write(os.date("!%Y-%m-%dT%H:%M:%SZ "), "mesos.executor: ", table.concat({ ... }, " "), "\n")
end

-- Deadlines run on a clock that never goes back (the module's own).
local now = mesos.monotonic

-- Quotes a string for sh.
local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- A Lua chunk that loads `module` and calls its main(), with this process's
-- module search paths when `paths` is true (for machines laid out like this
-- one: the local cluster, or children of this process).
local function bootstrap(module, paths, fn)
  local pre = ""
  if paths then
    pre = ("package.path = %q; package.cpath = %q; "):format(package.path, package.cpath)
  end
  return pre .. ('require "mesos"; require "%s".%s()'):format(module, fn or "main")
end

-- Exit statuses of an executor that could not start on an agent (read back
-- from the FAILURE event by mesos.jobs): no interpreter (as sh says it), and
-- an interpreter that cannot load the module (sysexits' EX_CONFIG).
M.EXIT_NO_INTERPRETER = 127
M.EXIT_NO_MODULE = 78

-- The executor's chunk: it loads the task runner, then forks its zygote
-- before it starts any thread (the zygote has everything loaded already:
-- no exec, no second load of the library), then runs. With `paths`, it uses
-- this process's module paths; with `remote` (an agent that is not this
-- machine), it looks for mesos.so in its sandbox first (where opts.ship puts
-- it) and ends with EXIT_NO_MODULE, saying why, when it cannot load it.
local function executor_bootstrap(paths, remote)
  local pre = ""
  if paths then
    pre = ("package.path = %q; package.cpath = %q; "):format(package.path, package.cpath)
  end
  if remote then
    pre = pre .. 'local sb = os.getenv("MESOS_SANDBOX"); '
      .. 'if sb then package.cpath = sb .. "/?.so;" .. package.cpath end; '
      .. 'local ok, err = pcall(require, "mesos"); '
      .. 'if not ok then io.stderr:write("lua-mesos: this agent\'s LuaJIT cannot load the module mesos: ", '
      .. 'tostring(err), "\\n"); os.exit(' .. M.EXIT_NO_MODULE .. ') end; '
  end
  return pre .. 'local mesos = require "mesos"; local task = require "mesos.tasks.task"; require "mesos.tasks.lua_executor"; '
    .. 'local z, err = mesos.zygote { fork = true }; '
    .. 'if z == "zygote" then task.zygote() end; '
    .. 'require "mesos.tasks.lua_executor".main { zygote = z, zygote_error = err }'
end

--- The command line that starts this executor (for ExecutorInfo.command).
--- With `paths`, the executor uses this process's package.path/cpath.
function M.command(interpreter, paths)
  return ("%s -e %s"):format(shell_quote(interpreter or "luajit"), shell_quote(executor_bootstrap(paths)))
end

--- The same as a CommandInfo without a shell (shell = false: the agent
--- runs `interpreter` with these arguments, no `sh -c` in front).
function M.command_info(interpreter, paths)
  interpreter = interpreter or "luajit"
  return { shell = false, value = interpreter, arguments = { interpreter, "-e", executor_bootstrap(paths) } }
end

--- The CommandInfo for an agent that is not this machine: a shell checks
--- that `interpreter` is there first, so that a missing one ends the
--- executor with EXIT_NO_INTERPRETER and a missing module with
--- EXIT_NO_MODULE, each said on the sandbox's stderr (see exit_reason).
function M.remote_command_info(interpreter)
  interpreter = interpreter or "luajit"
  local q = shell_quote(interpreter)
  local script = ("command -v %s >/dev/null 2>&1 || { printf 'lua-mesos: no %%s on this agent (PATH=%%s)\\n' %s \"$PATH\" >&2; exit %d; }; exec %s -e %s")
    :format(q, q, M.EXIT_NO_INTERPRETER, q, shell_quote(executor_bootstrap(false, true)))
  return { shell = true, value = script }
end

--- Why an executor started by remote_command_info ended, from the raw
--- wait status a FAILURE event carries; nil when its status says nothing
--- we know.
function M.exit_reason(status, interpreter)
  if type(status) ~= "number" or bit.band(status, 0x7f) ~= 0 then return nil end
  local code = bit.band(bit.rshift(status, 8), 0xff)
  interpreter = interpreter or "luajit"
  if code == M.EXIT_NO_INTERPRETER then
    return ("the agent has no '%s' on the PATH its executors get: install LuaJIT 2.x there "
      .. "(Debian: luajit2), or name its path with opts.interpreter (mesolua --interpreter)"):format(interpreter)
  elseif code == M.EXIT_NO_MODULE then
    return ("'%s' on the agent cannot load the module mesos: install the rock there "
      .. "(luarocks install lua-mesos), set LUA_CPATH for executors (opts.env, mesolua --env), "
      .. "or ship it with the tasks (opts.ship, mesolua --ship)"):format(interpreter)
  end
  return nil
end

-- Task bookkeeping ---------------------------------------------------------

local Executor = {}
Executor.__index = Executor

--- opts: interpreter (the luajit for task processes), zygote (false: a
--- fresh interpreter per task instead of forks of a warm zygote; or a
--- zygote already started with mesos.zygote), zygote_error (why the
--- caller's attempt to start one failed), driver (options of mesos.executor).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    tasks = {},        -- task_id -> record
    by_child = {},     -- spawner -> spawner id -> record
    spawner = mesos.spawner(),
    interpreter = opts.interpreter or mesos.executable() or "luajit",
    shutting_down = false,
    done = false,
  }, Executor)
  self.by_child[self.spawner] = {}
  if opts.zygote ~= false then
    -- Started before subscribing: it warms up while the agent answers.
    local z, err = opts.zygote, opts.zygote_error
    if not z and not err then
      z, err = mesos.zygote { argv = { self.interpreter, "-e", bootstrap("mesos.tasks.task", true, "zygote") } }
    end
    if z then
      self.zygote = z
      self.by_child[z] = {}
    else
      log("no zygote, one interpreter per task:", tostring(err))
    end
  end
  local handler = {}
  local ex = self
  function handler:subscribed(d, info)
    ex.agent = info.agent_info and info.agent_info.hostname
  end
  function handler:launch(d, task) ex:launch(task) end
  function handler:launch_group(d, group)
    for _, t in ipairs(group.tasks or {}) do ex:launch(t) end
  end
  function handler:kill(d, task_id) ex:kill(task_id.value, "killed") end
  function handler:message(d, data)
    local task_id, g, body = work.parse_message(data)
    if task_id then return ex:to_worker(task_id, g, body) end
    local msg = events.unpack(data)
    if msg then ex.bridges.framework.on_router(msg) end
  end
  function handler:shutdown() ex:shutdown() end
  function handler:error(d, msg) log("error from agent:", tostring(msg)) end
  function handler:disconnected(d, reason) log("disconnected:", reason) end
  self.driver = mesos.executor(handler, opts.driver)
  -- Events between tasks: over framework messages to the scheduler's
  -- router, or through the NATS server a task's request names.
  self.bridges = { framework = events.bridge(events.framework_transport(self.driver, log)) }
  return self
end

function Executor:update(task_id, state, fields)
  local st = fields or {}
  st.task_id = { value = task_id }
  st.state = state
  local ok, err = self.driver:update(st)
  if ok then return end
  log("update", task_id, state, "failed:", tostring(err))
  -- A reply too big for one status update: the task fails saying so,
  -- rather than never being heard of again.
  if st.data and tostring(err):find("over the limit", 1, true) then
    local why = "result too big to send: " .. tostring(err)
    return self:update(task_id, "TASK_FAILED", { message = why, data = S.encode({ ok = false, error = why }) })
  end
end

-- The events bridge for a task's request (one per transport).
function Executor:bridge_for(req)
  local ev = req.events
  if type(ev) ~= "table" or ev.nats == nil then return self.bridges.framework end
  if type(ev.nats) ~= "string" or type(ev.ns) ~= "string" then return nil, "bad events options in the task's request" end
  local key = ev.nats .. "\0" .. ev.ns
  if not self.bridges[key] then
    local t, err = events.nats_transport(ev.nats, ev.ns, log)
    if not t then return nil, ("cannot reach NATS at %s: %s"):format(ev.nats, tostring(err)) end
    self.bridges[key] = events.bridge(t)
  end
  return self.bridges[key]
end

function Executor:event_fds(list)
  for _, b in pairs(self.bridges) do b.fds(list) end
  return list
end

-- What the tasks whose fds are in `ready` sent (nil: every task).
function Executor:pump_events(ready)
  for _, b in pairs(self.bridges) do
    if ready then b.pump_ready(ready) else b.pump() end
  end
end

-- Validates a task's request; returns it, or nil and why.
local function parse_request(task)
  if type(task.data) ~= "string" or task.data == "" then
    return nil, "task has no data (expected a mesos.jobs request)"
  end
  local req, err = S.decode(task.data)
  if not req then return nil, "bad task data: " .. tostring(err) end
  if type(req) ~= "table" or type(req.code) ~= "string" then
    return nil, "bad task data: no code"
  end
  return req
end

function Executor:launch(task)
  local id = task.task_id.value
  if self.shutting_down then
    return self:update(id, "TASK_KILLED", { message = "executor is shutting down" })
  end
  if self.tasks[id] then
    return self:update(id, "TASK_FAILED", { message = "duplicate task id " .. id })
  end
  local req, err = parse_request(task)
  if not req then return self:update(id, "TASK_FAILED", { message = err }) end
  local bridge, berr = self:bridge_for(req)
  if not bridge then return self:update(id, "TASK_FAILED", { message = berr }) end
  local child_req = {
    code = req.code, args = req.args, index = req.index,
    allow_bytecode = req.allow_bytecode, allow_env = req.allow_env, max_result_bytes = req.max_result_bytes,
    chunkname = req.chunkname, debug = req.debug, debug_root = req.debug_root,
    -- Tasks may read the executor's sandbox (where the fetcher put the
    -- CommandInfo.uris), and nothing else on disk.
    read_dir = os.getenv("MESOS_SANDBOX") or os.getenv("MESOS_DIRECTORY"),
    channel = true, -- fd 3: the task's events (mesos.events)
    -- A worker (mesos.tasks.work) runs items from the channel; the
    -- timeout is then each item's.
    worker = req.worker == true or nil, timeout = req.worker and req.timeout or nil,
    memory_mb = req.worker and req.memory_mb or nil, closure = req.closure,
  }
  local stdin, serr = S.encode(child_req)
  if not stdin then return self:update(id, "TASK_FAILED", { message = serr }) end
  local rec = {
    id = id, started = now(), stdin = stdin,
    deadline = not req.worker and req.timeout and (now() + req.timeout) or nil,
    timeout = req.timeout, memory_mb = req.memory_mb, max_output = req.max_result_bytes,
    bridge = bridge,
    worker = req.worker == true or nil, generation = 1, outbox = {}, deaths = 0,
  }
  local ok, perr = self:start_process(rec)
  if not ok then return self:update(id, "TASK_FAILED", { message = perr }) end
  self.tasks[id] = rec
  self:update(id, "TASK_RUNNING")
end

-- Starts the process of task `rec` (again, for a worker whose process
-- ended): from the zygote when there is one, else a fresh interpreter.
-- Returns true, or nil and why.
function Executor:start_process(rec)
  local chan, child_end = mesos.channel_pair()
  local spec = {
    stdin = rec.stdin,
    memory_mb = rec.memory_mb,
    max_output = rec.max_output or 64 * 1024 * 1024,
    channel = child_end,
  }
  local sp, cid, pid, perr = self.zygote, nil, nil, nil
  if sp then
    cid, pid, perr = sp:spawn(spec)
    if not cid then
      -- A zygote that died or broke: fresh interpreters from now on (its
      -- running children still report through it).
      log("zygote failed, one interpreter per task from now on:", tostring(perr))
      sp:close()
      self.zygote = nil
    end
  end
  if not cid then
    sp = self.spawner
    spec.argv = { self.interpreter, "-e", bootstrap("mesos.tasks.task", true) }
    cid, pid, perr = sp:spawn(spec)
  end
  child_end:close()
  if not cid then
    chan:close()
    return nil, perr
  end
  rec.child, rec.spawner, rec.pid, rec.chan = cid, sp, pid, chan
  rec.killed, rec.current, rec.item_deadline = nil, nil, nil
  local other
  if rec.worker then
    local feed = work.receiver()
    other = function(bytes)
      if not work.is_frame(bytes) then return false end
      self:from_worker(rec, feed(bytes))
      return true
    end
  end
  rec.bridge.attach(rec.id, chan, other)
  self.by_child[sp][cid] = rec
  return true
end

-- Workers (mesos.tasks.work) ---------------------------------------------------------

-- A batch from the scheduler for worker `task_id`: to its process, unless
-- that process is gone (the scheduler sends the items again).
function Executor:to_worker(task_id, g, body)
  local rec = self.tasks[task_id]
  if not (rec and rec.worker) or g ~= rec.generation or rec.killed then return end
  -- Never waiting on a busy worker: what its channel cannot take now
  -- waits in its outbox (the run loop retries every 10 ms).
  work.frames("I", body, rec.outbox)
  self:flush_outbox(rec)
end

-- Sends what waits for a worker's channel; true when nothing is left.
function Executor:flush_outbox(rec)
  while rec.outbox[1] do
    local ok, err = rec.chan:send(rec.outbox[1], false)
    if not ok then
      if err ~= "full" then rec.outbox = {} end
      return false
    end
    table.remove(rec.outbox, 1)
  end
  return true
end

-- A whole body from a worker's process.
function Executor:from_worker(rec, kind, body)
  if kind == "R" or kind == "Z" then
    rec.deaths = 0
    if kind == "Z" then rec.current, rec.item_deadline = nil, nil end
    local ok, err = self.driver:message(work.message(rec.id, rec.generation, body))
    if not ok then log("results of", rec.id, "lost:", tostring(err)) end
  elseif kind == "B" then
    local i, timeout = body:match("^(%d+) (%S+)$")
    rec.current = tonumber(i)
    rec.item_timeout = tonumber(timeout)
    rec.item_deadline = rec.item_timeout and now() + rec.item_timeout or nil
  end
end

-- A worker's process ended while its task still runs: a new one takes its
-- place, and the scheduler hears which generation lost what.
local MAX_DEATHS = 5 -- in a row, without a result in between
function Executor:restart_worker(rec, why, timed_out, innocent)
  rec.deaths = rec.deaths + 1
  if rec.deaths > MAX_DEATHS then
    return self:update(rec.id, "TASK_FAILED", {
      message = ("worker process ended %d times in a row, last: %s"):format(rec.deaths, why) })
  end
  rec.generation = rec.generation + 1
  rec.outbox = {}
  local ok, perr = self:start_process(rec)
  if not ok then return self:update(rec.id, "TASK_FAILED", { message = perr }) end
  self.tasks[rec.id] = rec
  local body = S.encode({ lost = why, generation = rec.generation, timed_out = timed_out, innocent = innocent })
  local sent, err = self.driver:message(work.message(rec.id, rec.generation, body))
  if not sent then log("loss report of", rec.id, "lost:", tostring(err)) end
end

function Executor:kill(id, why)
  local rec = self.tasks[id]
  if not rec then
    -- Unknown or already finished: Mesos expects a terminal update anyway.
    return self:update(id, "TASK_KILLED", { message = "task not running" })
  end
  if not rec.killed then
    rec.killed = why
    mesos.kill(rec.pid, 9)
  end
end

function Executor:shutdown()
  self.shutting_down = true
  self.shutdown_deadline = now() + (self.driver:shutdown_grace_period() or 5)
  for id in pairs(self.tasks) do self:kill(id, "killed") end
end

-- Turns a finished child (of spawner `sp`) into the task's terminal update.
function Executor:finish(sp, f)
  local rec = self.by_child[sp][f.id]
  if not rec then return end
  self.by_child[sp][f.id] = nil
  self.tasks[rec.id] = nil
  -- What the task sent before it ended still goes out; then its
  -- subscriptions end with it.
  rec.bridge.pump_task(rec.id)
  local dropped = rec.bridge.detach(rec.id)
  if dropped and dropped > 0 then log("task", rec.id, "lost", dropped, "event(s): it did not read them in time") end
  if rec.worker and rec.killed ~= "killed" and not self.shutting_down then
    local why
    if rec.killed == "timeout" then
      why = ("task timed out after %gs"):format(rec.item_timeout or 0)
    elseif f.signal then
      why = ("worker process died with signal %d"):format(f.signal)
    else
      why = ("worker process exited with status %s"):format(tostring(f.code))
    end
    local stderr = f.stderr or ""
    if rec.killed ~= "timeout" and (stderr:find("not enough memory", 1, true) or (rec.memory_mb and f.signal == 6)) then
      why = ("memory limit exceeded (%g MB)"):format(rec.memory_mb or 0)
    elseif rec.killed ~= "timeout" and stderr ~= "" then
      why = why .. ": " .. stderr:sub(1, 2000)
    end
    -- A clean exit is the worker's own doing (a debugger's EXIT): the
    -- items it had are not charged for it.
    local innocent = rec.killed ~= "timeout" and not f.signal and f.code == 0
    return self:restart_worker(rec, why, rec.killed == "timeout" and rec.current or nil, innocent)
  end
  if rec.killed == "timeout" then
    return self:update(rec.id, "TASK_FAILED", {
      message = ("task timed out after %gs"):format(rec.timeout), reason = "REASON_EXECUTOR_TERMINATED" })
  elseif rec.killed then
    return self:update(rec.id, "TASK_KILLED", { message = "task killed" })
  end
  local reply = f.stdout ~= "" and S.decode(f.stdout) or nil
  if type(reply) ~= "table" then
    local why
    if f.signal then
      why = ("task process died with signal %d"):format(f.signal)
    else
      why = ("task process exited with status %s and no result"):format(tostring(f.code))
    end
    local stderr = f.stderr or ""
    if stderr:find("not enough memory", 1, true) or (rec.memory_mb and f.signal == 6) then
      why = ("memory limit exceeded (%g MB)"):format(rec.memory_mb or 0)
    elseif stderr ~= "" then
      why = why .. ": " .. stderr:sub(1, 2000)
    end
    return self:update(rec.id, "TASK_FAILED", { message = why, data = S.encode({ ok = false, error = why }) })
  end
  if reply.ok then
    self:update(rec.id, "TASK_FINISHED", { data = f.stdout })
  else
    local msg = tostring(reply.error or "task failed")
    if rec.memory_mb and msg:find("not enough memory", 1, true) then
      msg = ("memory limit exceeded (%g MB): %s"):format(rec.memory_mb, msg)
      reply.error = msg
    end
    self:update(rec.id, "TASK_FAILED", { message = msg:sub(1, 4096), data = S.encode(reply) or f.stdout })
  end
end

function Executor:check_deadlines(t)
  local next_deadline
  for id, rec in pairs(self.tasks) do
    local deadline = rec.deadline or rec.item_deadline
    if rec.worker and rec.outbox[1] then
      self:flush_outbox(rec)
      if rec.outbox[1] then next_deadline = math.min(next_deadline or t + 0.01, t + 0.01) end
    end
    if deadline and not rec.killed then
      if t >= deadline then
        rec.killed = "timeout"
        mesos.kill(rec.pid, 9)
      elseif not next_deadline or deadline < next_deadline then
        next_deadline = deadline
      end
    end
  end
  return next_deadline
end

--- Runs the executor until it is shut down. Returns an exit code.
function Executor:run()
  local d = self.driver
  local ok, err = d:start()
  if not ok then
    log("cannot start:", tostring(err))
    return 1
  end
  while true do
    local t = now()
    local next_deadline = self:check_deadlines(t)
    local wait = 1.0
    if next_deadline then wait = math.max(0, math.min(wait, next_deadline - t)) end
    local fds = { d:fd() }
    for sp in pairs(self.by_child) do fds[#fds + 1] = sp:fd() end
    local ready = mesos.wait_readable(self:event_fds(fds), wait)
    d:poll(0)
    self:pump_events(ready)
    for sp in pairs(self.by_child) do
      local f = sp:reap(0)
      while f do
        self:finish(sp, f)
        f = sp:reap(0)
      end
    end
    if self.shutting_down and next(self.tasks) == nil then break end
    if self.shutting_down and now() > self.shutdown_deadline then
      log("grace period over with tasks still running")
      break
    end
    if d:state() == "stopped" then break end
  end
  -- Let the last updates go out, then close.
  d:poll(0)
  d:stop()
  if self.zygote then self.zygote:close() end
  return 0
end

--- Entry point for the executor process.
function M.main(opts)
  local ex = M.new(opts)
  local code = ex:run()
  os.exit(code, true)
end

M.Executor = Executor
return M
