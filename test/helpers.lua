-- Shared helpers for the busted specs.
local M = {}

M.mesos = require "mesos"

-- Fast local-cluster settings for tests.
function M.local_opts(extra)
  local o = { allocation_interval = 0.05, heartbeat_interval = 1, status_update_retry = 0.5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- Polls `driver` until cond() is true; errors after `secs` seconds.
function M.wait_until(driver, cond, secs, what)
  local deadline = os.time() + (secs or 20) + 1
  local clock = os.clock
  local start = clock()
  while not cond() do
    if os.time() > deadline then
      error("timed out waiting for " .. (what or "condition"), 2)
    end
    driver:poll(0.05)
  end
  return clock() - start
end

-- Polls for `secs` seconds of wall time, returning how many events came.
function M.poll_for(driver, secs)
  local n = 0
  local t0 = M.now()
  while M.now() - t0 < secs do n = n + driver:poll(0.05) end
  return n
end

-- Wall-clock seconds (LuaJIT ffi gettimeofday).
local ffi = require "ffi"
pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_usec; } lm_timeval;
  int gettimeofday(lm_timeval *tv, void *tz);
  typedef struct { int fd; short events; short revents; } lm_pollfd;
  int poll(lm_pollfd *fds, unsigned long nfds, int timeout);
]])
local tv = ffi.new("lm_timeval")
function M.now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

-- True if fd is readable within timeout_ms.
function M.readable(fd, timeout_ms)
  local p = ffi.new("lm_pollfd[1]")
  p[0].fd = fd
  p[0].events = 1 -- POLLIN
  return ffi.C.poll(p, 1, timeout_ms or 0) > 0 and bit.band(p[0].revents, 1) ~= 0
end

-- A set of scenarios (test/scenarios/*.lua) as a function a spec file calls
-- with its target: `define(target, ...)` runs in the calling spec file's
-- busted environment, where describe/it/setup are.
function M.scenarios(define)
  return function(...)
    setfenv(define, getfenv(2))
    return define(...)
  end
end

-- A directory of data for the --uri scenarios: local.txt, and under www/
-- remote.txt and pkg.tar.gz (holding pkg/inside.txt).
function M.uri_data_dir()
  local dir = M.tmpdir()
  os.execute("mkdir -p " .. dir .. "/www/pkg")
  local function write(path, text)
    local f = assert(io.open(dir .. "/" .. path, "w"))
    f:write(text)
    f:close()
  end
  write("local.txt", "from a path\n")
  write("www/remote.txt", "over http\n")
  write("www/pkg/inside.txt", "from an archive\n")
  assert(os.execute(("tar -C %s/www -czf %s/www/pkg.tar.gz pkg"):format(dir, dir)) == 0)
  return dir
end

function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p) == 0)
  return p
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs a shell command; returns its output (stdout, plus stderr unless
-- `keep_stderr` is false) and its exit code.
function M.sh(cmd, keep_stderr)
  local redirect = keep_stderr == false and "" or " 2>&1"
  local p = assert(io.popen(cmd .. redirect .. "; echo \"__rc=$?\""))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("__rc=(%d+)%s*$"))
  local clean = out:gsub("__rc=%d+%s*$", "")
  return clean, code
end

-- A command task for `offer` running `cmd`.
function M.command_task(offer, id, cmd, res)
  return {
    name = "task " .. id,
    task_id = { value = id },
    agent_id = offer.agent_id,
    resources = M.mesos.resources.parse(res or "cpus:0.1;mem:32"),
    command = { value = cmd },
  }
end

-- Starts `bin/mesos-local --port 0 ARGS` in the background; returns
-- { url = "http://...", master = "host:port", pid = n, stop = fn } once it
-- serves. stop() sends SIGTERM, waits (bounded) for the exit, and reports
-- whether it exited.
function M.start_mesos_local(args)
  local pipe = assert(io.popen("bin/mesos-local --port 0 " .. (args or "") .. " & echo $!"))
  local pid = assert(tonumber(pipe:read("*l")), "no pid")
  local line = pipe:read("*l") or ""
  local url = line:match("master at (https?://%S+)")
  assert(url, "mesos-local did not start: " .. line)
  local alive = function() return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end
  return {
    url = url, pid = pid, master = url:gsub("^https?://", ""),
    stop = function()
      os.execute("kill " .. pid)
      local t0 = M.now()
      while alive() and M.now() - t0 < 10 do os.execute("sleep 0.05") end
      pipe:close()
      return not alive()
    end,
  }
end

-- A CA and a certificate it signed for localhost/127.0.0.1, plus an
-- unrelated CA, made with the openssl CLI: ca.pem, cert.pem, key.pem,
-- other.pem in `dir`. Returns false when openssl is not installed.
function M.make_pki(dir)
  if select(2, M.sh("command -v openssl")) ~= 0 then return false end
  local script = [[
set -e
cd "$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj "/CN=lua-mesos spec CA"
openssl req -x509 $ec -keyout other.key -out other.pem -days 2 -subj "/CN=another CA"
openssl req $ec -keyout key.pem -out req.csr -subj "/CN=localhost"
echo "subjectAltName=DNS:localhost,IP:127.0.0.1" > ext.cnf
echo "basicConstraints=CA:FALSE" >> ext.cnf
openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out cert.pem -days 2 -extfile ext.cnf
]]
  local f = assert(io.open(dir .. "/make.sh", "w"))
  f:write(script)
  f:close()
  local out, code = M.sh("sh " .. dir .. "/make.sh " .. dir)
  assert(code == 0, "openssl failed: " .. out)
  return true
end

-- Serves the files under `root` on a loopback port with Python's
-- http.server (https with `tls = {cert =, key =}`), logging requests to
-- `log`. Returns { port = n, pid = n, stop = fn } once it listens.
local serve_py = [[
import http.server, ssl, sys
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
if len(sys.argv) > 2:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(sys.argv[1], sys.argv[2])
    s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
]]
function M.serve_files(root, log, tls)
  local args = tls and (" %s %s"):format(tls.cert, tls.key) or ""
  local pipe = assert(io.popen(("cd %s && python3 -c '%s' %s 2>%s & echo $!")
    :format(root, serve_py, args, log)))
  local pid = assert(tonumber(pipe:read("*l")), "no pid")
  local port = tonumber(pipe:read("*l") or "")
  assert(port, "the web server did not start: " .. (M.read_file(log) or ""))
  return {
    port = port, pid = pid,
    stop = function()
      os.execute("kill " .. pid)
      pipe:close()
    end,
  }
end

-- Starts Debian's nats-server on a loopback port of its own choosing
-- (`-p -1`, read back from its ports file) with extra command-line `args`
-- and, optionally, the text of a configuration file; returns
-- { url =, port =, pid =, log = fn, stop = fn, freeze = fn, thaw = fn }
-- once the port greets a connection with INFO. stop() kills it by PID
-- (SIGKILL) and waits (bounded) until it is gone; freeze() stops it
-- (SIGSTOP) and returns once it is stopped; thaw() lets it go on.
function M.start_nats(args, config)
  local socket = require "socket"
  local dir = M.tmpdir()
  local conf = ""
  if config then
    local f = assert(io.open(dir .. "/nats.conf", "w"))
    f:write(config)
    f:close()
    conf = " -c " .. dir .. "/nats.conf"
  end
  local out = M.sh(("nats-server -a 127.0.0.1 -p -1 --ports_file_dir %s%s %s > %s/nats.log 2>&1 & echo $!")
    :format(dir, conf, args or "", dir))
  local pid = assert(tonumber(out:match("(%d+)")), out)
  local log = function() return M.read_file(dir .. "/nats.log") or "" end
  local function says_info(port)
    local c = socket.tcp()
    c:settimeout(2)
    local ok = c:connect("127.0.0.1", port) and c:receive(5) == "INFO "
    c:close()
    return ok
  end
  local port
  local t0 = M.now()
  repeat
    assert(M.now() - t0 < 20, "nats-server did not start: " .. log())
    local text = M.read_file(("%s/nats-server_%d.ports"):format(dir, pid))
    port = tonumber(text and text:match("nats://[%d.]+:(%d+)"))
    if not (port and says_info(port)) then port = nil; socket.sleep(0.01) end
  until port
  local function state() return (M.read_file("/proc/" .. pid .. "/stat") or ""):match("%) (%a)") end
  -- (A zombie is gone too: its parent shell has exited.)
  local alive = function() local st = state(); return st ~= nil and st ~= "Z" end
  return {
    url = "nats://127.0.0.1:" .. port, port = port, pid = pid, log = log,
    stop = function()
      os.execute("kill -9 " .. pid .. " 2>/dev/null")
      local t = M.now()
      while alive() and M.now() - t < 10 do socket.sleep(0.01) end
      os.execute("rm -rf " .. dir)
      return not alive()
    end,
    freeze = function()
      os.execute("kill -STOP " .. pid)
      local t = M.now()
      repeat
        if state() == "T" then return end
        socket.sleep(0.005)
      until M.now() - t > 10
      error("nats-server did not stop")
    end,
    thaw = function() os.execute("kill -CONT " .. pid) end,
  }
end

return M
