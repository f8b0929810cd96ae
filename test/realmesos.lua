-- The referee: a real Apache Mesos 1.11.0 master + agent(s) (the kit in
-- ../shared/realmesos, built into target/realmesos), for the specs under
-- test/real/. See docs/real-mesos.md.
--
--   local real = require "test.realmesos"
--   local kit = real.start { agents = 2 }   -- errors (a test failure) if it does not come up
--   kit.master                              -- "127.0.0.1:PORT"
--   kit.log()                               -- the kit's log so far (glog + executors' stdio)
--   kit.stop()                              -- SIGTERM by PID; true once it exited
--
-- Executors that the real agent starts get a clean environment; the kit is
-- started with the agent flag executor_environment_variables pointing at
-- this checkout's lua/ and target/lua/, as if the rock were installed on the
-- agent, and with luajit on their PATH.
local h = require "test.helpers"

local M = {}

-- The checkout: this file is its test/realmesos.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*)/test/[^/]+$") or "."
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. (here == "." and "" or "/" .. here:gsub("^%./", "")) end
M.ROOT = here
M.KIT = M.ROOT .. "/target/realmesos"
-- Where the kit's source is: beside the checkout in CI, or REALMESOS_SRC.
M.KIT_SRC = os.getenv("REALMESOS_SRC") or (M.ROOT .. "/../shared/realmesos")
M.PORTS = { 35050, 35099 }

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end

-- Copies the kit into target/ when it is not built there yet, then runs its
-- setup.sh (idempotent: a few seconds when built). Errors when it fails.
local set_up = false
function M.setup()
  if set_up then return end
  if not h.read_file(M.KIT .. "/setup.sh") then
    assert(h.read_file(M.KIT_SRC .. "/setup.sh"), "the real-Mesos kit is neither in " .. M.KIT .. " nor in " .. M.KIT_SRC)
    local out, code = h.sh(("mkdir -p %s/target && cp -r %s %s && chmod -R u+w %s")
      :format(q(M.ROOT), q(M.KIT_SRC), q(M.KIT), q(M.KIT)))
    assert(code == 0, "cannot copy the kit: " .. out)
  end
  local out, code = h.sh(q(M.KIT .. "/setup.sh"))
  assert(code == 0, "the kit's setup.sh failed:\n" .. out)
  set_up = true
end

-- A port of 35050-35099 nobody listens on.
local function free_port()
  local socket = require "socket"
  for port = M.PORTS[1], M.PORTS[2] do
    local s = socket.tcp()
    s:setoption("reuseaddr", false)
    local ok = s:bind("127.0.0.1", port)
    s:close()
    if ok then return port end
  end
  error("no free port in " .. M.PORTS[1] .. "-" .. M.PORTS[2])
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end) .. '"'
end

-- The environment the agent gives every executor.
function M.executor_env()
  local luajit = h.sh("command -v luajit", false):match("[^\n]+")
  assert(luajit, "luajit is not on PATH")
  local bindir = luajit:match("^(.*)/[^/]+$")
  return {
    LUA_PATH = ("%s/lua/?.lua;%s/lua/?/init.lua;;"):format(M.ROOT, M.ROOT),
    LUA_CPATH = ("%s/target/lua/?.so;;"):format(M.ROOT),
    PATH = bindir .. ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  }
end

-- GET `path` on the kit; returns the body or nil.
local function get(port, path)
  local out, code = h.sh(("curl -sf -m 2 %s"):format(q(("http://127.0.0.1:%d%s"):format(port, path))), false)
  if code == 0 then return out end
  return nil
end
M.get = function(kit, path) return get(kit.port, path) end

-- Starts one kit on `port`; returns the kit once ready, or nil and "clash"
-- when another server already had that port, or raises.
local function start_on(port, opts)
  local agents = opts.agents or 1
  local dir = h.tmpdir()
  local env = {
    MESOS_ALLOCATION_INTERVAL = "100ms",
    MESOS_NUM_SLAVES = tostring(agents),
    MESOS_EXECUTOR_REGISTRATION_TIMEOUT = "30secs",
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD = "2secs",
    MESOS_RESOURCES = opts.resources,
  }
  local parts = {}
  for k, v in pairs(opts.executor_env or M.executor_env()) do parts[#parts + 1] = json_string(k) .. ":" .. json_string(v) end
  table.sort(parts)
  env.MESOS_EXECUTOR_ENVIRONMENT_VARIABLES = "{" .. table.concat(parts, ",") .. "}"
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local assigns = {}
  for k, v in pairs(env) do assigns[#assigns + 1] = k .. "=" .. q(v) end
  local log = dir .. "/kit.log"
  local cmd = ("env %s %s %d %s/work > %s 2>&1 & echo $!")
    :format(table.concat(assigns, " "), q(M.KIT .. "/run.sh"), port, q(dir), q(log))
  local pipe = assert(io.popen(cmd))
  local pid = assert(tonumber(pipe:read("*l")), "run.sh gave no pid")
  pipe:close()
  local kit = {
    port = port, pid = pid, dir = dir, agents = agents,
    master = ("127.0.0.1:%d"):format(port),
    url = ("http://127.0.0.1:%d"):format(port),
    log = function() return h.read_file(log) or "" end,
  }
  function kit.stop()
    if alive(pid) then os.execute("kill -TERM " .. pid) end
    local t0 = h.now()
    while alive(pid) and h.now() - t0 < 15 do os.execute("sleep 0.05") end
    local gone = not alive(pid)
    if gone and not os.getenv("LUA_MESOS_REAL_KEEP") then os.execute("rm -rf " .. q(dir)) end
    return gone
  end

  -- Ready: /version answers, the master is this kit's (its work_dir is
  -- ours: another kit may hold the port), then every agent is registered
  -- and active.
  local deadline = h.now() + (opts.timeout or 60)
  local function fail(what)
    local text = kit.log()
    kit.stop()
    error(("the real Mesos kit on port %d %s; its log ends with:\n%s"):format(port, what, text:sub(-3000)), 0)
  end
  local own = '"work_dir":"' .. dir .. '/work/master"'
  local stage = "/version"
  while true do
    if not alive(pid) then
      if kit.log():find("Failed to bind on 127.0.0.1:" .. port, 1, true) then
        kit.stop()
        return nil, "clash"
      end
      fail("exited while starting")
    end
    if h.now() > deadline then fail("was not ready (waiting for " .. stage .. ") in time") end
    if stage == "/version" then
      local v = get(port, "/version")
      if v and v:find('"version":"1.11.0"', 1, true) then stage = "/master/flags" end
    elseif stage == "/master/flags" then
      local f = get(port, "/master/flags")
      if f and f:find(own, 1, true) then stage = "/master/slaves" end
    else
      local s = get(port, "/master/slaves")
      local n = 0
      for _ in (s or ""):gmatch('"active":true') do n = n + 1 end
      if n >= agents then break end
    end
    os.execute("sleep 0.05")
  end
  return kit
end

-- Starts a kit. opts: agents (default 1), resources (per agent, the kit's
-- default otherwise), env (more MESOS_*/GLOG_* variables), executor_env
-- (what the agent gives executors instead of M.executor_env()), port (the
-- kit's port, default a free one of M.PORTS), timeout (seconds to come up,
-- default 60). Returns once /version answers, the master there is this
-- kit's, and every agent is registered and active. When another server
-- takes the chosen port first, another free port is tried (not with
-- opts.port).
function M.start(opts)
  opts = opts or {}
  M.setup()
  for _ = 1, 5 do
    local kit = start_on(opts.port or free_port(), opts)
    if kit then return kit end
    if opts.port then break end
  end
  error("the real Mesos kit found its port taken by another server" .. (opts.port and (" (port " .. opts.port .. ")") or " five times"), 0)
end

-- Driver options for a Lua scheduler on `kit`, plus `extra`. The framework
-- user is left to the driver, which fills in the user it runs as: the real
-- agent runs executors as that user (root in CI).
function M.driver_opts(kit, extra)
  local o = { master = kit.master }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

return M
