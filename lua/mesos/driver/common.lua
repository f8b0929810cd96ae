-- Pieces shared by the Lua faces of the drivers: error re-raising, handler
-- calls with tracebacks, and the poll/run/events loops over a Rust core.
-- Internal (the module root and the faces of mesos.driver use it).
-- May require: mesos (at run time only, for the signal traps).

local C = {}

-- Errors raised by the Rust core arrive as error objects with a Rust-side
-- prefix and traceback; `plain` is the message alone.
local function plain(err)
  return (tostring(err):gsub("^runtime error: ", ""):gsub("\nstack traceback:.*$", ""))
end

-- Re-raises such an error as a plain message at the caller.
function C.raise(err, level)
  error(plain(err), level + 1)
end

function C.checked(level, f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then C.raise(a, level + 1) end
  return a, b
end

-- Wraps the functions of module table `m` that are written in Rust, so that
-- a misuse error they raise points at the caller's line and names the
-- function ("x.lua:3: mesos.nats: url must be a string, got number"),
-- without the Rust side's prefix and traceback. Runtime failures are
-- returned values (nil, err) and pass through unchanged.
local function pass(name, ok, ...)
  if ok then return ... end
  local msg = plain((...))
  if msg:sub(1, 6) ~= "mesos." and msg:sub(1, 6) ~= "mesos:" then msg = "mesos." .. name .. ": " .. msg end
  -- Level 2: the wrapper's caller (the wrapper's frame is gone: it
  -- tail-calls pass).
  error(msg, 2)
end
function C.wrap_rust_functions(m)
  for name, f in pairs(m) do
    if type(f) == "function" and type(name) == "string" and debug.getinfo(f, "S").what == "C" then
      m[name] = function(...) return pass(name, pcall(f, ...)) end
    end
  end
end

-- Calls handler[name] if present; errors propagate with a traceback, as
-- "mesos: error in handler:NAME: ...". Inside a driver's poll loop, which
-- runs under one protected call for all its events, a handler is called
-- plainly and `current` names it for that message.
local traceback = debug.traceback
local protected, current = 0, nil
function C.call(h, name, ...)
  local f = h[name]
  if f == nil then return end
  if protected > 0 then
    current = name
    f(h, ...)
    current = nil
    return
  end
  local ok, err = xpcall(f, traceback, h, ...)
  if not ok then
    error(("mesos: error in handler:%s: %s"):format(name, tostring(err)), 0)
  end
end

-- The poll loop's error handler: a traceback for handler errors only.
local function loop_error(err)
  if current then return traceback(err, 2) end
  return err
end

-- Hands one output of a Rust core to the driver's handler; `events` maps
-- Mesos event types to function(driver, handler, event).
function C.dispatch(driver, events, kind, a, b)
  -- Stop means stop: once the program called stop() or abort(), what was
  -- still queued is dropped, and only `stopped` reaches the handler.
  if driver._stop_called and kind ~= "stopped" then return end
  local h = driver._handler
  if kind == "event" then
    -- b: the type, when the core gave it (a is then false with views: the
    -- event is still staged).
    local f = events[b or (a and a.type)]
    if f then f(driver, h, a) end
  elseif kind == "disconnected" then
    C.call(h, "disconnected", driver, a)
  elseif kind == "call_failed" then
    C.call(h, "call_failed", driver, a, b)
  elseif kind == "stopped" then
    C.call(h, "stopped", driver, a)
  end
end

-- The program's name for the line written when a signal ends it.
local function program_name()
  local a0 = rawget(_G, "arg") and arg[0]
  return type(a0) == "string" and a0:match("([^/]+)$") or "lua"
end

-- Calls `step(slice)` until it returns true, with SIGINT and SIGTERM
-- trapped; a step waits at most `slice` seconds. A caught signal
-- stops `driver` (the framework is torn down, an embedded cluster stops,
-- killing its tasks and removing its work directory), writes one line
-- ("<program>: interrupted") and ends the process as the signal would have
-- (status 130 for SIGINT, 143 for SIGTERM): no traceback, within a second.
local SLICE = 0.1
function C.interruptible(driver, step)
  local mesos = require "mesos"
  mesos._trap(true)
  local ok, err = pcall(function()
    repeat
      local done = step(SLICE)
      local sig = mesos._trapped()
      if sig then
        pcall(driver.stop, driver)
        mesos._die(sig, program_name() .. ": interrupted")
      end
    until done
  end)
  mesos._trap(false)
  if not ok then error(err, 0) end
end

-- Adds poll/run/events and the plain lifecycle methods to a driver class
-- whose objects hold `_core` and implement `_dispatch(kind, a, b)`.
function C.driver_methods(Driver)
  --- Handles the queued events, waiting up to `timeout` seconds (default 0)
  --- for the first. Returns how many were handled. At most `max` if given.
  local function loop(self, kind, a, b, max)
    local n = 0
    while kind do
      n = n + 1
      self:_dispatch(kind, a, b)
      if max and n >= max then break end
      kind, a, b = self:_next(0, max and max - n)
    end
    return n
  end

  function Driver:poll(timeout, max)
    if timeout ~= nil and type(timeout) ~= "number" then
      error("poll: timeout must be a number of seconds, got " .. type(timeout), 2)
    end
    if max ~= nil and type(max) ~= "number" then
      error("poll: max must be a number, got " .. type(max), 2)
    end
    local kind, a, b = self:_next(timeout or 0, max)
    if not kind then return 0 end
    protected, current = protected + 1, nil
    local ok, n = xpcall(loop, loop_error, self, kind, a, b, max)
    protected = protected - 1
    if not ok then
      local name = current
      current = nil
      if name then error(("mesos: error in handler:%s: %s"):format(name, tostring(n)), 0) end
      error(n, 0)
    end
    return n
  end

  --- The core's next output (a driver may replace this, as views do), and
  --- how many outputs it holds outside the core.
  if Driver._next == nil then
    function Driver:_next(timeout) return self._core:next(timeout) end
  end
  if Driver._buffered == nil then
    function Driver:_buffered() return 0 end
  end

  --- Handles events until the driver stops. Returns the final state.
  --- A scheduler's run traps SIGINT/SIGTERM (C.interruptible).
  function Driver:run()
    local c = self._core
    if c:state() == "idle" then
      local ok, err = c:start()
      if not ok then return nil, err end
    end
    local function step(slice)
      if c:state() == "stopped" and self:pending() == 0 then return true end
      self:poll(slice)
      return false
    end
    if self._interruptible then
      C.interruptible(self, step)
    else
      repeat until step(1)
    end
    return c:state()
  end

  --- Two protocols share this name:
  ---  * driver:events(timeout) -> an iterator for code that pulls events
  ---    instead of using a handler: `for ev in driver:events(1) do ... end`.
  ---    Each `ev` is the Mesos event table (ev.type == "OFFERS", ...) or, for
  ---    what the driver itself reports, {type = "DISCONNECTED", reason = ...},
  ---    {type = "CALL_FAILED", call_type = ..., reason = ...} or
  ---    {type = "STOPPED", reason = ...}. The loop ends when `timeout` seconds
  ---    pass without an event, or the driver stops. With implicit
  ---    acknowledgements (schedulers), an UPDATE is acknowledged when the
  ---    loop asks for the next event. An idle driver is started first, as
  ---    run() does.
  ---  * driver:events() (no argument) -> "r": the cqueues pollable protocol
  ---    (with driver:pollfd() and driver:timeout()), so cqueues.poll(driver)
  ---    waits until events are queued.
  function Driver:events(timeout)
    if timeout == nil then return "r" end
    if type(timeout) ~= "number" then
      error("events: timeout must be a number of seconds, got " .. type(timeout), 2)
    end
    local c = self._core
    -- Like run(): an idle driver is started first.
    if c:state() == "idle" then
      local ok, err = c:start()
      if not ok then error("driver:events: cannot start the driver: " .. tostring(err), 2) end
    end
    local pending_ack
    return function()
      if pending_ack then
        local st = pending_ack
        pending_ack = nil
        self:acknowledge(st)
      end
      if c:state() == "stopped" and self:pending() == 0 then return nil end
      local kind, a, b = self:_next(timeout)
      if kind == nil then return nil end
      if a == false then a = self:_event(a) end
      if kind == "event" then
        if a.type == "UPDATE" and self._implicit then
          local st = a.update and a.update.status
          if st and st.uuid ~= nil and st.agent_id ~= nil then pending_ack = st end
        end
        return a
      elseif kind == "call_failed" then
        return { type = "CALL_FAILED", call_type = a, reason = b }
      end
      return { type = kind:upper(), reason = a }
    end
  end

  --- cqueues pollable protocol: the fd to watch, and no timeout of our own.
  function Driver:pollfd() return self._core:fd() end
  function Driver:timeout()
    if self:_buffered() > 0 then return 0 end
    return nil
  end

  function Driver:start() return self._core:start() end
  function Driver:abort()
    self._stop_called = true
    return self._core:abort()
  end
  function Driver:fd() return self._core:fd() end
  function Driver:getfd() return self._core:fd() end
  function Driver:state() return self._core:state() end
  function Driver:stats() return self._core:stats() end
  function Driver:pending() return self._core:pending() + self:_buffered() end
end

return C
