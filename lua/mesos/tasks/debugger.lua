-- The debuggee side of the MobDebug protocol (the one ZeroBrane Studio and
-- other MobDebug controllers speak), written from the protocol for task
-- processes: the task connects OUT to the controller, pauses at its first
-- line, and the controller sets breakpoints, steps, evaluates expressions in
-- the paused frame, reads the stack and lets it run to the end.
--
--   local debugger = require "mesos.tasks.debugger"
--   local session, err = debugger.connect("devbox:8172", { root = "/home/me/proj" })
--   session:start()                 -- debug hook on; pauses at the next task line
--   ... run the task (mesos.sandbox) with on_output = function(s) return session:output(s) end
--   session:finish(ok, err)         -- hook off; reports a failure to a waiting controller; closes
--
-- Which code is debugged: task code, i.e. functions whose environment is a
-- task's (mesos.sandbox.is_task_env): the task's chunk, the functions it
-- defines, the chunks it loads. The runtime's own code (print, io.write, the
-- sandbox) is stepped over, never into.
--
-- File names: a chunk named "@path" is the file `path`; "=name" is `name`
-- ("=task", the default for code given as a string, is the file `task`).
-- Once the controller sends BASEDIR dir (ZeroBrane always does), relative
-- paths are resolved against opts.root (the directory mesolua ran in) and
-- reported relative to dir when under it, absolute otherwise; before that,
-- as named. Breakpoints match the reported names.
--
-- Protocol (commands are lines; "200 OK" answers unless said otherwise):
--   SETB file line / DELB file line   breakpoints ("DELB * 0": all; file "-": the current
--                                     one); while running they are applied without a reply
--   EXEC chunk [--{opts}]             runs chunk in the paused frame: its locals, upvalues and
--                                     `...` over the task's globals; locals and upvalues it
--                                     assigns are written back. "200 OK n\n" + a chunk returning
--                                     the list of the results, each as a Lua literal; opts.stack
--                                     = N picks the Nth task frame. Errors: "401 Error in
--                                     Expression n\n" + message
--   LOAD size name                    a task cannot load another script: reads the size bytes
--                                     and answers "201 Started file line" (where it is paused)
--   SETW expr / DELW index            watches: pause with "203 Paused file line index" when
--                                     expr is true; SETW answers "200 OK index"
--   RUN / STEP / OVER / OUT           "200 OK" now, "202 Paused file line" (or 203) when it
--                                     stops again, "401 Error in Execution n\n" + message if
--                                     the task fails first, and the connection closes when
--                                     the task ends
--   BASEDIR dir                       see File names
--   SUSPEND                           (while running) pause at the next task line
--   STACK [--{opts}]                  "200 OK " + a one-line chunk returning
--                                     { { {name, file, linedefined, currentline, what,
--                                     namewhat, short_src}, locals, upvalues }, ... } with
--                                     locals and upvalues as { name = { value, tostring(value) } }
--   OUTPUT stdout d|c|r               print output: default (into the task's output), copy
--                                     (also sent), redirect (only sent) as "204 Output stdout n\n" + text
--   DONE                              detach (no reply): the task runs on undebugged
--   EXIT                              end the task now (opts.on_exit, default: error)
--   anything else                     "400 Bad Request"
-- A lost connection detaches the session the same way as DONE.
--
-- Coroutines: the hook sees every coroutine (LuaJIT hooks are global; on PUC
-- Lua a coroutine inherits the hook of the thread that creates it). STEP
-- enters coroutines; OVER and OUT stay in the coroutine they started in and
-- stop in the resumer once it yields or ends. STACK and EXEC see the frames
-- of the coroutine that is paused only.
--
-- Parts: debugger/literal.lua (addresses, Lua literals, controller
-- options), debugger/frames.lua (task frames and their variables); the
-- session and its debug hook are here.
-- May require: mesos.tasks.debugger.*, mesos (to connect).

local literal = require "mesos.tasks.debugger.literal"
local frames = require "mesos.tasks.debugger.frames"

local M = {}

M.CONNECT_TIMEOUT = 10 -- seconds
M.CHECK_EVERY = 1000 -- line events between looks at the socket while running
M.MAX_LOAD = 16 * 1024 * 1024
M.MAX_LITERAL = literal.MAX_LITERAL -- characters of one serialised value, at most
M.parse_address, M.literal = literal.parse_address, literal.literal

local quote, read_params = literal.quote, literal.read_params
local is_task, depth_from, frame_vars = frames.is_task, frames.depth_from, frames.frame_vars
local getinfo, setlocal, setupvalue, sethook = debug.getinfo, debug.setlocal, debug.setupvalue, debug.sethook
local s_find, s_sub, s_gsub, s_format, s_match, s_byte =
  string.find, string.sub, string.gsub, string.format, string.match, string.byte
local concat = table.concat
local co_running, co_status = coroutine.running, coroutine.status
local type, tostring, tonumber, pcall, select, next, rawequal, getfenv, setfenv,
  loadstring, setmetatable, error, unpack, floor =
  type, tostring, tonumber, pcall, select, next, rawequal, getfenv, setfenv,
  loadstring, setmetatable, error, unpack, math.floor

-- The debug hook ------------------------------------------------------------------

local hook -- the debug hook (one per process: LuaJIT has one hook for all coroutines)
local active -- the session that owns it
-- The hook's fast path reads upvalues only: `armed` while stepping, with
-- watches or with a command pending; `bp_lines` is the active session's
-- breakpoints (line -> files); `countdown` runs to the next look at the socket.
local armed, bp_lines, countdown = false, {}, 0

-- The level of the paused frame as seen from the caller of this function:
-- the frame just above the hook's own.
local function paused_level()
  local l = 3
  while true do
    local info = getinfo(l, "f")
    if not info then return nil end
    if info.func == hook then return l end
    l = l + 1
  end
end

-- Session -------------------------------------------------------------------------

local Session = {}
Session.__index = Session

--- A session over `conn` (anything with LuaSocket's send, receive,
--- settimeout and close). opts: root (directory relative chunk names are
--- resolved against once BASEDIR is known), on_exit (called by EXIT before
--- the task is stopped with the error "debugger: the controller ended the
--- task (EXIT)"; mesos.task's writes the task's reply and exits).
function M.new(conn, opts)
  opts = opts or {}
  return setmetatable({
    conn = conn,
    root = opts.root,
    on_exit = opts.on_exit,
    basedir = "",
    files = {},          -- chunk source -> reported file name
    breakpoints = {},    -- line -> { file -> true }
    watches = {},        -- index -> function (false once deleted)
    watch_count = 0,
    mode = "step",       -- "run", "step" (stop at the next task line), "over"
    step_thread = nil,   -- OVER/OUT: the coroutine and depth to come back to
    step_depth = 0,
    waiting = false,     -- a RUN/STEP/OVER/OUT awaits its "202 Paused"
    output_mode = "d",
    pending = nil,       -- a command line read while running
    attached = false,
  }, Session)
end

--- Connects to the controller at "host:port" with mesos.tcp_connect.
--- Returns a session, or nil and an error naming the address.
function M.connect(address, opts)
  local host, port = M.parse_address(address)
  if not host then return nil, "debug address: " .. port end
  local mesos = require "mesos"
  local conn, err = mesos.tcp_connect(host, port, (opts and opts.connect_timeout) or M.CONNECT_TIMEOUT)
  if not conn then
    return nil, s_format("cannot reach the debugger controller at %s (the agent must be able to connect to it): %s",
      address, tostring(err))
  end
  return M.new(conn, opts)
end

function Session:send(s)
  if not self.conn then return nil end
  local ok, err = self.conn:send(s)
  if not ok then self:lost(err) end
  return ok
end

-- Reads and drops n bytes; false if the controller went away.
function Session:skip(n)
  if n == 0 then return true end
  local data, err = self.conn:receive(n)
  if not data then self:lost(err) end
  return data ~= nil
end

-- The controller went away (`why`: "closed" or a socket error): detach;
-- the task runs on.
function Session:lost(why)
  self.lost_reason = why or "closed"
  self:detach()
end

-- Brings the hook's fast-path state in line with this session's.
function Session:rearm()
  if active ~= self then return end
  armed = self.attached and (self.mode ~= "run" or self.watch_count > 0 or self.pending ~= nil)
  bp_lines = self.breakpoints
end

function Session:detach()
  if active == self then
    sethook()
    active = nil
    armed, bp_lines = false, {}
  end
  self.attached = false
  if self.conn then
    pcall(self.conn.close, self.conn)
    self.conn = nil
  end
end

--- Turns the debug hook on; the task pauses at its next line.
function Session:start()
  if active and active ~= self then error("mesos.debugger: another session is already attached", 2) end
  active = self
  self.attached = true
  self.mode = "step"
  countdown = M.CHECK_EVERY
  self:rearm()
  sethook(hook, "l")
end

--- print/io.write text of the task: sends it to the controller in OUTPUT
--- copy or redirect mode; returns false when the text should not be kept.
function Session:output(s)
  if not self.attached or self.output_mode == "d" then return true end
  self:send("204 Output stdout " .. #s .. "\n" .. s)
  return self.output_mode == "c" or not self.attached
end

--- Ends the session after the task: a controller waiting for the task to
--- pause hears "401 Error in Execution" if it failed; then the connection
--- closes (which a controller reads as "the program finished").
function Session:finish(ok, err)
  if self.attached and self.waiting and not ok then
    local msg = tostring(err)
    self:send("401 Error in Execution " .. #msg .. "\n" .. msg)
  end
  self:detach()
end

function Session:file_of(source)
  local file = self.files[source]
  if file then return file end
  local c = s_sub(source, 1, 1)
  if c == "=" then
    file = s_sub(source, 2)
  elseif c ~= "@" and s_find(source, "[\r\n]") then
    file = quote(source) -- source text: MobDebug controllers match it against open documents
  else
    file = s_gsub(c == "@" and s_sub(source, 2) or source, "\\", "/")
    if self.basedir ~= "" and s_sub(file, 1, 1) ~= "/" and self.root then file = self.root .. "/" .. file end
    local n
    repeat file, n = s_gsub(file, "/%.?/", "/") until n == 0
    repeat file, n = s_gsub(file, "[^/]+/%.%./", "", 1) until n == 0
    file = s_gsub(file, "^%./", "")
    if self.basedir ~= "" and s_sub(file, 1, #self.basedir) == self.basedir then
      file = s_sub(file, #self.basedir + 1)
    end
  end
  self.files[source] = file
  return file
end

local function breakpoint_name(file)
  return (s_gsub(s_gsub(file, "\\", "/"), "^%./", ""))
end

function Session:set_breakpoint(file, line)
  if file == "-" then file = self.file or file end
  file = breakpoint_name(file)
  local at = self.breakpoints[line]
  if not at then
    at = {}
    self.breakpoints[line] = at
  end
  at[file] = true
end

function Session:remove_breakpoint(file, line)
  if file == "*" and line == 0 then
    self.breakpoints = {}
    self:rearm()
    return
  end
  if file == "-" then file = self.file or file end
  local at = self.breakpoints[line]
  if at then
    at[breakpoint_name(file)] = nil
    if next(at) == nil then self.breakpoints[line] = nil end
  end
end

-- SETB/DELB arriving while the task runs are applied without a reply (as
-- MobDebug controllers expect); anything else pauses the task first.
function Session:breakpoint_command(line)
  local cmd, file, ln = s_match(line, "^([A-Z]+)%s+(.-)%s+(%d+)%s*$")
  if cmd == "SETB" then
    self:set_breakpoint(file, tonumber(ln))
  elseif cmd == "DELB" then
    self:remove_breakpoint(file, tonumber(ln))
  else
    return false
  end
  return true
end

-- While running (after RUN, STEP, OVER or OUT): reads a command if one has
-- arrived, without waiting.
function Session:poll()
  local conn = self.conn
  if not conn then return end
  conn:settimeout(0)
  local line, err = conn:receive("*l")
  conn:settimeout(nil)
  if not line then
    if err ~= "timeout" then self:lost(err) end
    return
  end
  if not self:breakpoint_command(line) then
    self.pending = line
    self:rearm()
  end
end

-- An environment over the frame at `level` (as seen from the caller) for
-- EXEC and watches: its variables, then the task's globals (the frame
-- function's environment, never this process's). Returns env, a function
-- that writes assigned locals and upvalues back (call it at the same level,
-- as seen from its caller), and the frame's varargs.
local function frame_env(level, fallback_env)
  local vars, where, varargs, func = frame_vars(level + 1)
  local globals = is_task(func) and getfenv(func) or fallback_env or {}
  local env = setmetatable({}, {
    __index = function(_, k)
      if where[k] then return vars[k] end
      return globals[k]
    end,
    __newindex = function(_, k, v)
      if where[k] then vars[k] = v else globals[k] = v end
    end,
  })
  local original = {}
  for k, v in next, vars do original[k] = v end
  local function write_back(at)
    at = at + 1
    for name, w in next, where do
      local v = vars[name]
      if not rawequal(v, original[name]) then
        if w[1] == "local" then setlocal(at, w[2], v) else setupvalue(func, w[2], v) end
      end
    end
  end
  return env, write_back, varargs
end

local function results(ok, ...)
  if not ok then return false, (...) end
  return true, select("#", ...), { ... }
end

-- EXEC: "200 OK n\n" + payload or "401 Error in Expression n\n" + message.
function Session:exec(line, level)
  local chunk = s_match(line, "^[A-Z]+%s+(.+)$")
  if not chunk then return self:send("400 Bad Request\n") end
  chunk = s_gsub(chunk, "\r?\012", "\n") -- MobDebug sends newlines as "\r\f"
  local params = read_params(line)
  local f, err
  if s_byte(chunk, 1) == 27 then
    err = "binary chunks are not accepted"
  else
    f, err = loadstring(chunk)
  end
  if f then
    local frame = level + 1
    local n = tonumber(params.stack)
    if n and n >= 1 and n == floor(n) then frame = self:task_frame(frame, n) or frame end
    local env, write_back, varargs = frame_env(frame, self.task_env)
    setfenv(f, env)
    local ok, count, values = results(pcall(f, unpack(varargs, 1, varargs.n or 0)))
    if ok then
      write_back(frame)
      local opts = {}
      for k, v in next, params do opts[k] = v end
      if opts.comment == nil then opts.comment = 1 end
      local parts = {}
      for i = 1, count do parts[i] = quote(M.literal(values[i], opts)) end
      local payload = "return {" .. concat(parts, ", ") .. "}"
      return self:send("200 OK " .. #payload .. "\n" .. payload)
    end
    err = count
  end
  err = tostring(err)
  return self:send("401 Error in Expression " .. #err .. "\n" .. err)
end

-- The level (as seen from the caller) of the nth task frame from `level`.
function Session:task_frame(level, n)
  local l, seen = level + 1, 0
  while true do
    local info = getinfo(l, "f")
    if not info then return nil end
    if is_task(info.func) then
      seen = seen + 1
      if seen == n then return l - 1 end
    end
    l = l + 1
  end
end

-- STACK: the task's frames from `level` (as seen from the caller) up to the
-- runtime's own code.
function Session:stack(line, level)
  local frames = {}
  local l = level + 1
  while true do
    local info = getinfo(l, "nSlf")
    if not info then break end
    if info.what ~= "C" and not is_task(info.func) then break end
    local locals, ups = {}, {}
    local vars, where, varargs = frame_vars(l)
    for name, w in next, where do
      local v = vars[name]
      local ok, s = pcall(tostring, v)
      local entry = { v, ok and s or type(v) }
      if w[1] == "local" then locals[name] = entry else ups[name] = entry end
    end
    for i = 1, varargs.n or 0 do
      local v = varargs[i]
      local ok, s = pcall(tostring, v)
      locals["(*vararg " .. i .. ")"] = { v, ok and s or type(v) }
    end
    local src = info.source or "?"
    frames[#frames + 1] = {
      { info.name, self:file_of(src), info.linedefined, info.currentline, info.what, info.namewhat,
        info.short_src },
      locals, ups,
    }
    l = l + 1
  end
  while #frames > 0 and frames[#frames][1][5] == "C" do frames[#frames] = nil end
  local params = read_params(line)
  if tonumber(params.maxlevel) then params.maxlevel = tonumber(params.maxlevel) + 4 end
  params.comment = params.comment or false
  return self:send("200 OK return " .. M.literal(frames, params) .. "\n")
end

-- Handles one command while paused. Returns true when the task should run on.
function Session:command(line, level)
  level = level + 1
  local cmd = s_match(line, "^([A-Z]+)")
  if cmd == "SETB" or cmd == "DELB" then
    self:send(self:breakpoint_command(line) and "200 OK\n" or "400 Bad Request\n")
  elseif cmd == "EXEC" then
    self:exec(line, level)
  elseif cmd == "LOAD" then
    -- The script's text is read and dropped: a task runs its own code.
    local size = tonumber(s_match(line, "^LOAD%s+(%d+)%s+%S"))
    if not size or size > M.MAX_LOAD then
      self:send("400 Bad Request\n")
    elseif self:skip(size) then
      self:send("201 Started " .. self.file .. " " .. self.line .. "\n")
    end
  elseif cmd == "SETW" then
    local expr = s_match(line, "^SETW%s+(.+)$")
    local f, err
    if expr then f, err = loadstring("return (" .. expr .. ")") end
    if not expr then
      self:send("400 Bad Request\n")
    elseif f then
      local index = #self.watches + 1
      self.watches[index] = f
      self.watch_count = self.watch_count + 1
      self:send("200 OK " .. index .. "\n")
    else
      self:send("401 Error in Expression " .. #err .. "\n" .. err)
    end
  elseif cmd == "DELW" then
    local index = tonumber(s_match(line, "^DELW%s+(%d+)%s*$"))
    if index and self.watches[index] ~= nil then
      if self.watches[index] then self.watch_count = self.watch_count - 1 end
      self.watches[index] = false
      self:send("200 OK\n")
    else
      self:send("400 Bad Request\n")
    end
  elseif cmd == "RUN" or cmd == "STEP" or cmd == "OVER" or cmd == "OUT" then
    self.mode = (cmd == "RUN" and "run") or (cmd == "STEP" and "step") or "over"
    if self.mode == "over" then
      self.step_thread = co_running() or "main"
      self.step_depth = depth_from(level) - (cmd == "OUT" and 1 or 0)
    end
    self.waiting = true
    self:send("200 OK\n")
    return true
  elseif cmd == "BASEDIR" then
    local dir = s_match(line, "^BASEDIR%s+(.-)%s*$")
    if not dir or dir == "" then
      self:send("400 Bad Request\n")
    else
      dir = s_gsub(dir, "\\", "/")
      if s_sub(dir, -1) ~= "/" then dir = dir .. "/" end
      self.basedir = dir
      self.files = {}
      self.file = self:file_of(self.source)
      self:send("200 OK\n")
    end
  elseif cmd == "SUSPEND" then
    -- already paused
  elseif cmd == "STACK" then
    self:stack(line, level)
  elseif cmd == "OUTPUT" then
    local stream, mode = s_match(line, "^OUTPUT%s+(%w+)%s+([dcr])%s*$")
    if stream == "stdout" then
      self.output_mode = mode
      self:send("200 OK\n")
    else
      self:send("400 Bad Request\n")
    end
  elseif cmd == "DONE" then
    self:detach()
    return true
  elseif cmd == "EXIT" then
    self:send("200 OK\n")
    self:detach()
    if self.on_exit then self.on_exit() end
    error("debugger: the controller ended the task (EXIT)", 0)
  else
    self:send("400 Bad Request\n")
  end
end

-- Paused at `line` of the frame at `level` (as seen from the caller):
-- reports where to a waiting controller, then serves commands until one
-- lets the task run.
function Session:pause(level, func, source, line, watch)
  level = level + 1
  self.source, self.file, self.line = source, self:file_of(source), line
  self.task_env = getfenv(func)
  if self.waiting then
    self.waiting = false
    local where = self.file .. " " .. line
    if not self:send(watch and ("203 Paused " .. where .. " " .. watch .. "\n") or ("202 Paused " .. where .. "\n")) then
      return
    end
  end
  self.mode = "run"
  while self.attached do
    local cmd = self.pending
    self.pending = nil
    if not cmd then
      local err
      cmd, err = self.conn:receive("*l")
      if not cmd then return self:lost(err) end
    end
    if self:command(cmd, level) then break end
  end
  self:rearm()
end

-- The first watch that holds in the frame at `level`, as seen from the caller.
function Session:watch_fired(level)
  local env = frame_env(level + 1, self.task_env)
  for index, f in next, self.watches do
    if f then
      setfenv(f, env)
      local ok, fired = pcall(f)
      if ok and fired then return index end
    end
  end
end

-- The slow path of the hook: is this a task line to stop at?
local function on_line(self, line)
  local base = paused_level()
  local info = base and getinfo(base, "Sf")
  if not info or not is_task(info.func) then return end
  local source = info.source
  local stop = self.pending ~= nil or self.mode == "step"
  if not stop and self.mode == "over" then
    local thread = co_running() or "main"
    if thread == self.step_thread then
      stop = depth_from(base) <= self.step_depth
    else
      local st = self.step_thread ~= "main" and co_status(self.step_thread)
      stop = st == "dead" or st == "suspended"
    end
  end
  if not stop then
    local at = self.breakpoints[line]
    stop = at ~= nil and at[self:file_of(source)] == true
  end
  local watch
  if not stop and self.watch_count > 0 then
    watch = self:watch_fired(base)
    stop = watch ~= nil
  end
  if stop then self:pause(base, info.func, source, line, watch) end
end

hook = function(_, line)
  -- Cheap checks first: most lines have no breakpoint and nothing is asked.
  countdown = countdown - 1
  if countdown <= 0 then
    countdown = M.CHECK_EVERY
    -- Only while the controller waits for the task to pause: before that,
    -- it expects an answer to each command, which only a pause gives.
    if active and active.waiting then active:poll() end
  end
  if not armed and not bp_lines[line] then return end
  local self = active
  if not self then return end
  local ok, err = pcall(on_line, self, line)
  if not ok then
    if type(err) == "string" and s_find(err, "^debugger: the controller ended the task") then error(err, 0) end
    io.stderr:write("mesos.debugger: internal error, detaching: ", tostring(err), "\n")
    self:detach()
  end
end

M.Session = Session
return M
