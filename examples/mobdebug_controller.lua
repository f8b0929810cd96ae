-- A scripted MobDebug controller (LuaSocket), used by examples/debug_session.lua
-- and the tests: it listens on
-- loopback, accepts a debuggee and talks to it the way ZeroBrane Studio
-- does (same commands, replies read back with loadstring). Every wait is
-- a socket wait bounded by `timeout` seconds; nothing sleeps.
--
--   local ctl = controller.listen()          -- ctl.port
--   ctl:accept()                             -- the task connected
--   ctl:command("SETB script.lua 3")         -- "200 OK"
--   ctl:resume("RUN")                        -- { paused = true, file =, line = } | { error = } | { finished = true }
--   ctl:eval("x")                            -- the value (deserialised), or nil, err
--   ctl:stack()                              -- the frames
local socket = require "socket"

local M = {}
M.TIMEOUT = 60

local Ctl = {}
Ctl.__index = Ctl

function M.listen(timeout)
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  return setmetatable({ server = server, port = tonumber(port), timeout = timeout or M.TIMEOUT, output = {} }, Ctl)
end

function Ctl:accept()
  self.server:settimeout(self.timeout)
  local client, err = self.server:accept()
  assert(client, "no debuggee connected: " .. tostring(err))
  client:settimeout(self.timeout)
  self.client = client
  return self
end

function Ctl:send(line)
  assert(self.client:send(line .. "\n"))
end

function Ctl:line()
  local line, err = self.client:receive("*l")
  return line, err
end

function Ctl:bytes(n)
  if n == 0 then return "" end
  return assert(self.client:receive(n))
end

-- Sends a command and returns its reply line (for commands answered with
-- one line); replies that carry a payload ("200 OK n" after EXEC, "401 ...
-- n") return the payload as a second value.
function Ctl:command(cmd)
  self:send(cmd)
  local reply = assert(self:line())
  local size = reply:match("^401 .- (%d+)$") or (cmd:match("^EXEC") and reply:match("^200 OK (%d+)$"))
  if size then return reply, self:bytes(tonumber(size)) end
  return reply
end

-- RUN, STEP, OVER or OUT: "200 OK", then whatever ends the wait; "204
-- Output" on the way is collected into self.output.
function Ctl:resume(cmd)
  local ack = self:command(cmd)
  if ack ~= "200 OK" then error(cmd .. " answered " .. tostring(ack), 2) end
  while true do
    local line, err = self:line()
    if not line then return { finished = true, why = err } end
    local file, ln = line:match("^202 Paused%s+(.-)%s+(%d+)%s*$")
    if file then return { paused = true, file = file, line = tonumber(ln) } end
    local wfile, wln, watch = line:match("^203 Paused%s+(.-)%s+(%d+)%s+(%d+)%s*$")
    if wfile then return { paused = true, file = wfile, line = tonumber(wln), watch = tonumber(watch) } end
    local size = line:match("^401 Error in Execution (%d+)$")
    if size then return { error = self:bytes(tonumber(size)) } end
    local osize = line:match("^204 Output stdout (%d+)$")
    if not osize then error("unexpected reply to " .. cmd .. ": " .. line) end
    self.output[#self.output + 1] = self:bytes(tonumber(osize))
  end
end

-- Reads a serialised chunk the way ZeroBrane does.
local function deserialise(text)
  local f, err = loadstring(text)
  if not f then return nil, err end
  setfenv(f, { math = { huge = math.huge } })
  local ok, v = pcall(f)
  if not ok then return nil, v end
  return v
end
M.deserialise = deserialise

-- EXEC "return expr": the list of serialised results (strings) and the
-- first one as a value, or nil and the error.
function Ctl:eval(expr, params)
  local reply, payload = self:command("EXEC return " .. expr .. (params and (" --" .. params) or ""))
  if not reply:match("^200 OK") then return nil, payload or reply end
  local list = assert(deserialise(payload))
  local value = list[1] and assert(deserialise("return " .. list[1]))
  return value, list
end

function Ctl:stack(params)
  self:send("STACK" .. (params and (" --" .. params) or ""))
  local reply = assert(self:line())
  local status, chunk = reply:match("^(%d+)%s+%w+%s+(.+)%s*$")
  if status ~= "200" then error("STACK answered " .. reply, 2) end
  return assert(deserialise(chunk))
end

-- Waits until the debuggee closes the connection (the task ended).
function Ctl:wait_closed()
  while true do
    local line = self:line()
    if not line then return end
  end
end

function Ctl:close()
  if self.client then self.client:close() end
  self.server:close()
end

return M
