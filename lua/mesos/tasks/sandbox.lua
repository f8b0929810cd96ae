-- Runs untrusted Lua task code in a fresh environment with a whitelisted
-- standard library.
--
--   local sandbox = require "mesos.tasks.sandbox"
--   local ok, n, values, output = sandbox.run(code, opts)   -- success
--   local ok, err, output = sandbox.run(code, opts)         -- ok == false
--
-- `code` is Lua source (bytecode only with opts.allow_bytecode). It runs with
-- opts.args (a table) as `...` (args[1..args.n or #args]) and as the global
-- `arg`, and opts.index as the global TASK_INDEX. print/io.write go to
-- opts.output(s) if given, otherwise into a buffer (at most opts.max_output
-- bytes, default 16 MiB, then "[output truncated]") returned as `output`;
-- opts.on_output(s), if given, sees each piece first and drops it from
-- `output` by returning false (the remote debugger's OUTPUT redirect).
-- opts.chunkname (default "=task") names the code in messages ("task:3: ...").
-- opts.api = { name = { fn = host function, ... } } adds globals of host
-- functions (the Lua executor gives tasks `events`, see mesos.events).
-- values is {results...} with n = select("#", results...), nils included.
-- err is the message plus a traceback of the task's frames; an error object
-- is turned into text with its __tostring, guarded by pcall.
--
-- What the task sees (fresh copies per run: changing them never affects the
-- caller or the next run):
--   assert error ipairs next pairs pcall select tonumber tostring type unpack
--   xpcall _VERSION rawequal rawget, rawset (refused on a table whose
--   metatable is protected by __metatable), getmetatable (for a string: a
--   per-run proxy {__index = the task's string table}, never the real
--   metatable), setmetatable (tables only), collectgarbage ("collect",
--   "count", "step" only), print, load/loadstring (text chunks only, bound to
--   the task's environment or to the env table given to load),
--   string (without dump), table, math, bit, coroutine (create resume running
--   status wrap yield isyieldable; yield only inside coroutines the task
--   created, so a task run inside the caller's coroutine cannot yield into the
--   caller), os.time os.clock os.date os.difftime, os.getenv (only with
--   opts.allow_env), io.write and io.stdout:write, and with opts.read_dir
--   io.open(path [, "r"|"rb"]) and io.lines(path) reading files inside that
--   directory only (realpath-checked: no `..` or symlink leads out; handles
--   are plain tables with read/lines/seek/close). _G is the task's own
--   environment. LuaJIT number literals such as 1ULL make FFI cdata numbers;
--   they give no access to the ffi library.
-- Not available: os.execute/exit/remove/rename/tmpname, io.popen/read,
--   io.open/lines outside opts.read_dir (or at all without it), require, dofile, loadfile, module, package, debug, ffi, jit,
--   getfenv/setfenv, newproxy, string.dump, gcinfo, binary chunks.
-- While a task runs, the real string metatable's __index points at the task's
-- string table (so ("").dump is nil and method calls see the task's own
-- changes); it is restored when run returns, and while opts.output runs.
-- Each run executes in a fresh coroutine: its own Lua stack (a stack overflow
-- is reported like any error) and nothing it does can yield into the caller.
--
-- What this does NOT protect against, and relies on OS/Mesos isolation for:
--   * CPU: infinite loops, pathological patterns (string.find backtracking),
--     a __tostring that never returns: stopped only by the executor's
--     wall-clock kill;
--   * memory: string.rep, table.concat, big tables are bounded only by the
--     task process's rlimit (RLIMIT_AS) set by the executor, and by the
--     Mesos container's memory limit; LuaJIT may abort on memory exhaustion
--     at a point where it cannot raise an error;
--   * one task per process: the executor starts a fresh process per task, so
--     anything a task could still reach (math.random state, JIT state, object
--     addresses shown by tostring, a VM bug) dies with it;
--   * bytecode: LuaJIT bytecode is not verified; opts.allow_bytecode means the
--     code is fully trusted (it can read and write arbitrary memory).

local M = {}

M.MAX_OUTPUT = 16 * 1024 * 1024

-- The environments of task code (weak keys): each run's own, and the tables
-- task code gives load as environments. A function whose environment is one
-- of these is task code (what mesos.debugger steps through).
local task_envs = setmetatable({}, { __mode = "k" })

--- True if `env` is the environment of task code.
function M.is_task_env(env)
  return env ~= nil and task_envs[env] == true
end

local string_mt = getmetatable("")
local s_byte, s_format, s_find, s_sub = string.byte, string.format, string.find, string.sub
local concat = table.concat
local traceback, debug_getmetatable = debug.traceback, debug.getmetatable
local co_create, co_resume, co_running, co_yield, co_status =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local real_load, real_setfenv = load, setfenv
local type, tostring, pcall, xpcall, error, select, unpack, rawget, rawset, next =
  type, tostring, pcall, xpcall, error, select, unpack, rawget, rawset, next
local getmetatable, setmetatable, collectgarbage, ipairs = getmetatable, setmetatable, collectgarbage, ipairs

-- Read-only access to one directory (the task's sandbox, where the Mesos
-- fetcher put its files): paths are relative to it (or absolute inside it),
-- resolved with realpath so that neither `..` nor a symlink leads out.
local io_open = io.open
local ffi_ok, ffi = pcall(require, "ffi")
if ffi_ok then
  pcall(ffi.cdef, [[
    char *realpath(const char *path, char *resolved_path);
    void free(void *ptr);
  ]])
end
local function realpath(path)
  if not ffi_ok then return nil end
  local p = ffi.C.realpath(path, nil)
  if p == nil then return nil end
  local r = ffi.string(p)
  ffi.C.free(p)
  return r
end

local function reader(root_dir)
  local root = realpath(root_dir)
  local function resolve(path, fname)
    if type(path) ~= "string" then
      error("bad argument #1 to '" .. fname .. "' (string expected, got " .. type(path) .. ")", 3)
    end
    if not root then return nil, "no sandbox directory to read from" end
    local full = path:sub(1, 1) == "/" and path or (root .. "/" .. path)
    local real = realpath(full)
    if not real then return nil, path .. ": No such file or directory" end
    if real ~= root and real:sub(1, #root + 1) ~= root .. "/" then
      return nil, path .. ": outside the task's sandbox"
    end
    return real
  end
  -- A file handle as a plain table: the task never holds the real FILE*
  -- userdata (whose shared metatable it could otherwise change).
  local function wrap(f)
    local h = {}
    function h:read(...) return f:read(...) end
    function h:lines(...) return f:lines(...) end
    function h:seek(...) return f:seek(...) end
    function h:close() return f:close() end
    return h
  end
  local function open(path, mode)
    mode = mode or "r"
    if mode ~= "r" and mode ~= "rb" then
      error("bad argument #2 to 'open' (tasks may only read: mode 'r' or 'rb', got " .. tostring(mode) .. ")", 2)
    end
    local real, err = resolve(path, "open")
    if not real then return nil, err end
    local f, ferr = io_open(real, mode)
    if not f then return nil, ferr end
    return wrap(f)
  end
  local function lines(path)
    local real, err = resolve(path, "lines")
    if not real then error(err, 2) end
    local f = assert(io_open(real, "r"))
    local it = f:lines()
    return function()
      local l = it()
      if l == nil then f:close() end
      return l
    end
  end
  return open, lines
end

local function copy(t, names)
  local c = {}
  if names then
    for _, k in ipairs(names) do c[k] = t[k] end
  else
    for k, v in next, t do c[k] = v end
  end
  return c
end

-- Text for an error object, without letting a throwing __tostring escape.
local function message_of(e)
  local te = type(e)
  if te == "string" then return e end
  if te == "number" or te == "boolean" or te == "nil" then return tostring(e) end
  local mt = debug_getmetatable(e)
  if mt and rawget(mt, "__tostring") ~= nil then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
    local why = ok and "returned a " .. type(s)
      or "raised " .. (type(s) == "string" and s or "a " .. type(s) .. " value")
    return s_format("(error object is a %s value; its __tostring %s)", te, why)
  end
  return s_format("(error object is a %s value)", te)
end

-- An xpcall handler giving the traceback of the task's frames only: cut at
-- the first xpcall frame, which is run's (an xpcall of the task's own would
-- have caught the error). It keeps the raw error in state.error first, for
-- when the handler itself fails (a stack overflow leaves it no room).
local function new_handler(state)
  return function(e)
    state.error = e
    local tb = traceback(message_of(e), 2)
    local cut = s_find(tb, "\n\t[C]: in function 'xpcall'", 1, true)
    return cut and s_sub(tb, 1, cut - 1) or tb
  end
end

-- Output sink: opts.output, or a bounded buffer whose text collected() returns.
local function new_output(opts)
  if opts.output then return opts.output, function() return nil end end
  local max = opts.max_output or M.MAX_OUTPUT
  local buf, size, truncated = {}, 0, false
  local function emit(s)
    if truncated then return end
    if size + #s > max then
      buf[#buf + 1] = s_sub(s, 1, max - size)
      buf[#buf + 1] = "\n[output truncated]\n"
      truncated = true
      return
    end
    size = size + #s
    buf[#buf + 1] = s
  end
  return emit, function() return concat(buf) end
end

-- Coroutine library that only yields from coroutines the task created, so a
-- task run inside a caller's coroutine cannot yield into the caller.
local function new_coroutine()
  local mine = setmetatable({}, { __mode = "k" })
  local co = { resume = co_resume, status = co_status }
  function co.create(f)
    local thread = co_create(f)
    mine[thread] = true
    return thread
  end
  function co.running()
    local thread = co_running()
    if thread and mine[thread] then return thread end
    return nil
  end
  function co.yield(...)
    local thread = co_running()
    if not (thread and mine[thread]) then error("attempt to yield from outside a coroutine", 2) end
    return co_yield(...)
  end
  function co.isyieldable()
    local thread = co_running()
    return thread ~= nil and mine[thread] == true
  end
  local function wrap_result(ok, ...)
    if ok then return ... end
    error((...), 0)
  end
  function co.wrap(f)
    local thread = co.create(f)
    return function(...) return wrap_result(co_resume(thread, ...)) end
  end
  return co
end

-- Loads text (or, if allowed, bytecode) bound to env; nil, err on failure.
local function load_chunk(chunk, chunkname, env, allow_bytecode)
  if type(chunk) == "function" then
    local parts = {}
    while true do
      local piece = chunk()
      if piece == nil or piece == "" then break end
      if type(piece) ~= "string" then return nil, "reader function must return a string" end
      parts[#parts + 1] = piece
    end
    chunk = concat(parts)
  elseif type(chunk) ~= "string" then
    return nil, "bad argument #1 to 'load' (string expected, got " .. type(chunk) .. ")"
  end
  if not allow_bytecode and s_byte(chunk, 1) == 27 then
    return nil, "attempt to load a binary chunk (only Lua source is allowed in a task)"
  end
  local f, err = real_load(chunk, chunkname, allow_bytecode and "bt" or "t")
  if not f then return nil, err end
  real_setfenv(f, env)
  return f
end

local GC_OPTIONS = { collect = true, count = true, step = true }

-- The whitelisted base functions, captured when this module loads.
local BASE = {}
for _, name in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION", "rawequal", "rawget" } do
  BASE[name] = _G[name]
end
local LIBS = { string = string, table = table, math = math, bit = bit, os = os }

-- A fresh task environment; emit(s) receives print/io.write output.
local function new_env(opts, emit)
  local env = copy(BASE)
  env._G = env
  env.string = copy(LIBS.string)
  env.string.dump = nil
  env.table, env.math, env.bit = copy(LIBS.table), copy(LIBS.math), LIBS.bit and copy(LIBS.bit)
  env.coroutine = new_coroutine()
  env.os = copy(LIBS.os, { "time", "clock", "date", "difftime", opts.allow_env and "getenv" or nil })

  local string_proxy = { __index = env.string }
  function env.getmetatable(v)
    if type(v) == "string" then return string_proxy end
    return getmetatable(v)
  end
  function env.setmetatable(t, mt)
    if type(t) ~= "table" then
      error("bad argument #1 to 'setmetatable' (table expected, got " .. type(t) .. ")", 2)
    end
    return setmetatable(t, mt)
  end
  function env.rawset(t, k, v)
    local mt = debug_getmetatable(t)
    if type(t) == "table" and mt and rawget(mt, "__metatable") ~= nil then
      error("rawset: table is protected", 2)
    end
    return rawset(t, k, v)
  end
  function env.collectgarbage(what, arg)
    what = what or "collect"
    if not GC_OPTIONS[what] then
      error("collectgarbage: option '" .. tostring(what) .. "' is not allowed in a task", 2)
    end
    return collectgarbage(what, arg)
  end

  function env.print(...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    emit(concat(parts, "\t") .. "\n")
  end
  local stdout = {}
  local function write(...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      local tv = type(v)
      if tv == "number" then
        v = s_format("%.14g", v)
      elseif tv ~= "string" then
        error("bad argument #" .. i .. " to 'write' (string expected, got " .. tv .. ")", 2)
      end
      emit(v)
    end
    return stdout
  end
  function stdout.write(_, ...) return write(...) end
  env.io = { write = write, stdout = stdout }
  if opts.read_dir then
    env.io.open, env.io.lines = reader(opts.read_dir)
  end

  function env.load(chunk, chunkname, _, fenv)
    if type(fenv) == "table" then task_envs[fenv] = true end
    return load_chunk(chunk, chunkname or "=(load)", type(fenv) == "table" and fenv or env, false)
  end
  function env.loadstring(s, chunkname)
    if type(s) ~= "string" then
      error("bad argument #1 to 'loadstring' (string expected, got " .. type(s) .. ")", 2)
    end
    return load_chunk(s, chunkname or s, env, false)
  end

  env.arg = opts.args
  env.TASK_INDEX = opts.index
  task_envs[env] = true
  return env
end

local function finish(state, ok, ...)
  if ok then return true, select("#", ...), { ... } end
  local err = ...
  if type(err) == "string" and err ~= "error in error handling" then return false, err end
  if state.error ~= nil then return false, message_of(state.error) .. "\n(no traceback: the error handler failed)" end
  if err == "error in error handling" then
    -- The handler could not even start: the task's stack was exhausted.
    return false, "stack overflow (no room left to run the error handler)"
  end
  return false, message_of(err)
end

-- Back from a host function (opts.api) into the task.
local function host_return(task_string, ok, ...)
  rawset(string_mt, "__index", task_string)
  if not ok then error((...), 0) end
  return ...
end

local MAX_ARGS = 7000 -- below LuaJIT's limit on unpack results

function M.run(code, opts)
  opts = opts or {}
  local sink, collected = new_output(opts)
  local on_output = opts.on_output
  if on_output then
    local keep = sink
    sink = function(s)
      if on_output(s) ~= false then keep(s) end
    end
  end
  local host_index = rawget(string_mt, "__index")
  local env
  -- opts.output and opts.on_output are host code: let them see the host's
  -- string methods.
  local function emit(s)
    if not (opts.output or on_output) then return sink(s) end
    rawset(string_mt, "__index", host_index)
    local ok, err = pcall(sink, s)
    rawset(string_mt, "__index", env.string)
    if not ok then error(err, 0) end
  end

  if opts.closure ~= nil then
    if type(opts.closure) ~= "table" or type(opts.closure.code) ~= "string" then
      return false, "task closure must be a packed function", collected()
    end
    code = opts.closure.code
  end
  if type(code) ~= "string" then return false, "task code must be a string, got " .. type(code), collected() end
  if not opts.allow_bytecode and opts.closure == nil and s_byte(code, 1) == 27 then
    return false, "task code is bytecode, which is not allowed (allow_bytecode is off)", collected()
  end
  local args, nargs = opts.args, 0
  if args ~= nil then
    if type(args) ~= "table" then return false, "task args must be a table", collected() end
    nargs = args.n or #args
    if type(nargs) ~= "number" or nargs < 0 or nargs > MAX_ARGS or nargs % 1 ~= 0 then
      return false, "task args: bad count", collected()
    end
  end

  env = new_env(opts, emit)
  -- opts.api: tables of host functions for the task (e.g. `events`); each
  -- call runs with the host's string methods, and errors pass through.
  for name, fns in pairs(opts.api or {}) do
    local t = {}
    for k, fn in pairs(fns) do
      t[k] = function(...)
        rawset(string_mt, "__index", host_index)
        return host_return(env.string, pcall(fn, ...))
      end
    end
    env[name] = t
  end
  local f, err
  if opts.closure ~= nil then
    -- A function with its upvalues (mesos.tasks.closure): its pieces are
    -- bytecode, loaded in this environment.
    local bound, r = pcall(require("mesos.tasks.closure").bind, opts.closure, function(c)
      return load_chunk(c, opts.chunkname or "=task", env, true)
    end, env)
    if bound then f = r else err = tostring(r) end
  else
    f, err = load_chunk(code, opts.chunkname or "=task", env, opts.allow_bytecode)
  end
  if not f then return false, "cannot load task code: " .. err, collected() end

  rawset(string_mt, "__index", env.string)
  -- A fresh coroutine per run: a fresh Lua stack (so a stack overflow always
  -- leaves room for the handler), and no way to yield into the caller.
  local state = {}
  local runner = co_create(function(...) return finish(state, xpcall(f, new_handler(state), ...)) end)
  local resumed, ok, n, values = co_resume(runner, unpack(args or {}, 1, nargs))
  if not resumed then
    ok, n = false, message_of(ok)
  elseif co_status(runner) ~= "dead" then
    ok, n = false, "task yielded outside a coroutine"
  end
  rawset(string_mt, "__index", host_index)
  if ok then return true, n, values, collected() end
  return false, n, collected()
end

return M
