-- The OpenResty example (examples/openresty) under a real nginx with two
-- workers: mesos.openresty runs the driver and an embedded local cluster in
-- worker 0; /run?code=... from any worker runs the code as a Mesos task.
local h = require "test.helpers"

local ROOT = (function()
  local out = h.sh("pwd")
  return (out:gsub("%s+$", ""))
end)()

local function have(cmd) local _, rc = h.sh("command -v " .. cmd .. " >/dev/null") return rc == 0 end
local runnable = have("nginx") and have("curl") and have("python3")
  and io.open("/usr/lib/nginx/modules/ngx_http_lua_module.so") ~= nil

local function free_port()
  local out = h.sh([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])
  return assert(tonumber(out:match("%d+")), "no free port: " .. out)
end

local function alive(pid)
  local out = h.sh("ps -o stat= -p " .. pid)
  return out:match("%S") ~= nil and not out:match("^%s*Z")
end

-- Pids of processes whose command line or working directory mentions `marker`.
local function processes_with(marker)
  local out = h.sh(([[for p in /proc/[0-9]*; do
      c=$(readlink "$p/cwd" 2>/dev/null); a=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)
      case "$c $a" in *%s*) echo "${p#/proc/} $a";; esac; done]]):format(marker))
  local pids = {}
  for line in out:gmatch("[^\n]+") do
    local pid = tonumber(line:match("^(%d+)"))
    if pid and not line:match("for p in /proc") then pids[#pids + 1] = line end
  end
  return pids
end

local function wait_for(secs, cond)
  local deadline = h.now() + secs
  repeat
    local v = cond()
    if v then return v end
    h.sh("sleep 0.05")
  until h.now() > deadline
  return cond()
end

local describe_or_skip = runnable and describe or pending

for _, mode in ipairs({ { name = "worker 0", env = "" },
                        { name = "the privileged agent", env = "LUA_MESOS_PRIVILEGED_AGENT=1" } }) do
describe_or_skip("mesos.openresty example under nginx, driver in " .. mode.name, function()
  local dir, port, pid, base

  local function log_tail()
    local out = h.sh("grep -v '\\[notice\\]\\|keepalive' " .. dir .. "/logs/error.log | tail -30; tail -5 " .. dir .. "/out")
    return "\n--- error.log ---\n" .. out
  end

  local function get(path)
    local out, rc = h.sh(("curl -s -m 40 -w '\\n%%{http_code}' '%s%s'"):format(base, path))
    local body, status = out:match("^(.*)\n(%d+)%s*$")
    return body, tonumber(status), rc
  end

  lazy_setup(function()
    dir = h.tmpdir() .. "-openresty-spec"
    assert(os.execute("mkdir -p " .. dir) == 0)
    port = free_port()
    base = ("http://127.0.0.1:%d"):format(port)
    local out = h.sh(("%s LUA_MESOS_WORK_DIR=%s/work LUA_MESOS_FRAMEWORK=spec-%s LUA_MESOS_MASTER= "
      .. "%s/examples/openresty/run %s %d > %s/out 2>&1 & echo $!"):format(mode.env, dir, port, ROOT, dir, port, dir), false)
    pid = assert(tonumber(out:match("%d+")), out)
    local ok = wait_for(30, function()
      local body = get("/status")
      return body and body:match("^subscribed")
    end)
    assert(ok, "nginx app did not come up" .. log_tail())
  end)

  lazy_teardown(function()
    if pid and alive(pid) then
      h.sh("kill -QUIT " .. pid)
      if not wait_for(10, function() return not alive(pid) end) then
        h.sh("pkill -KILL -P " .. pid .. "; kill -KILL " .. pid)
      end
    end
    if dir then
      for _, line in ipairs(processes_with(dir)) do h.sh("kill -KILL " .. line:match("^%d+")) end
      h.sh("rm -rf " .. dir)
    end
  end)

  it("runs the driver in exactly one process", function()
    local body = get("/status")
    local owner_type, owner_pid = body:match("^subscribed %S+ (.-) (%d+)%s*$")
    assert.truthy(owner_pid, body)
    local children = h.sh("pgrep -P " .. pid)
    assert.truthy(children:find(owner_pid, 1, true), children .. log_tail())
    local patched = not h.read_file(dir .. "/logs/error.log"):find("no privileged agent", 1, true)
    if mode.env ~= "" and patched then
      assert.are.equal("privileged agent", owner_type)
    else
      assert.are.equal("worker", owner_type)
    end
  end)

  it("runs a job from /run?code=...", function()
    local body, status = get("/run?code=return%201%2B1")
    assert.are.equal(200, status, tostring(body) .. log_tail())
    assert.are.equal("2", body:gsub("%s+$", ""), log_tail())
    -- mesos.set_log routed the library's records into nginx's error log.
    local log = h.read_file(dir .. "/logs/error.log")
    assert.truthy(log:find("%[info%].-mesos%[scheduler%] event stream open at "), log_tail())
  end)

  it("reports a failing job as a 500 with the error", function()
    local body, status = get("/run?code=error(%22boom%22)")
    assert.are.equal(500, status, tostring(body) .. log_tail())
    assert.truthy(body:find("boom", 1, true), body)
  end)

  it("answers 50 concurrent requests, each with its own result", function()
    h.sh(("mkdir -p %s/res && seq 1 50 | xargs -P 50 -I{} "
      .. [[curl -s -m 60 -o %s/res/{} '%s/run?code=return%%20{}*7%%2B1']]):format(dir, dir, base))
    local got, out = {}, ""
    for i = 1, 50 do
      local body = h.read_file(("%s/res/%d"):format(dir, i)) or ""
      got[i] = tonumber(body:match("^%s*(%S+)"))
      out = out .. i .. ": " .. body:gsub("\n", " ") .. "\n"
    end
    for i = 1, 50 do
      assert.are.equal(i * 7 + 1, got[i], ("request %d: %s"):format(i, out) .. log_tail())
    end
  end)

  it("keeps working after a reload (HUP)", function()
    local before = h.sh("pgrep -P " .. pid):gsub("%s+", " ")
    h.sh("kill -HUP " .. pid)
    -- Reloaded when the old workers are gone and a new driver is subscribed.
    local ok = wait_for(30, function()
      local now = h.sh("pgrep -P " .. pid):gsub("%s+", " ")
      for w in before:gmatch("%d+") do if now:find(w, 1, true) then return false end end
      local body = get("/status")
      return body and body:match("^subscribed")
    end)
    assert(ok, "reload did not complete" .. log_tail())
    local body, status = get("/run?code=return%20%22after%20reload%22")
    assert.are.equal(200, status, tostring(body) .. log_tail())
    assert.are.equal("after reload", body:gsub("%s+$", ""), log_tail())
  end)

  it("stops on QUIT and leaves no executor or task behind", function()
    assert.truthy(#processes_with(dir .. "/work") > 0, "expected a running executor" .. log_tail())
    h.sh("kill -QUIT " .. pid)
    assert(wait_for(15, function() return not alive(pid) end), "nginx did not exit" .. log_tail())
    local left = wait_for(10, function() return #processes_with(dir) == 0 end)
    assert(left, "left behind:\n" .. table.concat(processes_with(dir), "\n") .. log_tail())
  end)
end)
end
