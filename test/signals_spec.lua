-- SIGINT and SIGTERM: mesolua, mesos-local and a program inside
-- driver:run() tear their framework down, stop their embedded cluster
-- (killing its tasks, removing its work directory), write one line and end
-- as the signal would (status 130/143), no traceback. A cluster that died
-- with SIGKILL leaves its work directory; the next cluster removes it.
local h = require "test.helpers"
local mesos = h.mesos

local TMP = os.getenv("TMPDIR") or "/tmp"
local PREFIX = TMP .. "/lua-mesos-local-"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Waits (bounded) until f() is truthy; returns its value.
local function wait_for(f, secs, what)
  local t0 = h.now()
  while true do
    local v = f()
    if v then return v end
    assert(h.now() - t0 < (secs or 30), "timed out waiting for " .. what)
    os.execute("sleep 0.02")
  end
end

-- Starts `cmd` in the background; returns its pid and a record whose
-- status() is its exit status once it ended (nil before), and err()/out()
-- what it wrote.
local function spawn(cmd)
  local dir = h.tmpdir()
  os.execute(("(%s >%s/out 2>%s/err & echo $! >%s/pid.tmp; mv %s/pid.tmp %s/pid; wait $!; echo $? >%s/st.tmp; mv %s/st.tmp %s/status) >/dev/null 2>&1 &")
    :format(cmd, dir, dir, dir, dir, dir, dir, dir, dir))
  local pid = tonumber(wait_for(function() return h.read_file(dir .. "/pid") end, 10, "the pid"))
  return pid, {
    status = function() local s = h.read_file(dir .. "/status") return s and tonumber(s) end,
    err = function() return h.read_file(dir .. "/err") or "" end,
    out = function() return h.read_file(dir .. "/out") or "" end,
    clean = function() os.execute("rm -rf " .. q(dir)) end,
  }
end

-- The work directory of the embedded cluster owned by `pid`, if any.
local function work_dir_of(pid)
  local list = h.sh("ls -d " .. PREFIX .. "* 2>/dev/null")
  for dir in list:gmatch("[^\n]+") do
    local owner = h.read_file(dir .. "/owner")
    if owner and tonumber(owner:match("^(%d+)")) == pid then return dir end
  end
end

-- How many processes have their working directory under `dir`.
local function processes_in(dir)
  local out = h.sh("for p in /proc/[0-9]*; do readlink $p/cwd; done 2>/dev/null")
  local n = 0
  for cwd in out:gmatch("[^\n]+") do
    if cwd:sub(1, #dir) == dir then n = n + 1 end
  end
  return n
end

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end

-- Starts `bin/mesos-local --port 0`; its pid, record and work directory,
-- once it serves.
local function mesos_local()
  local pid, rec = spawn("bin/mesos-local --port 0")
  wait_for(function() return rec.out():match("master at") end, 30, "mesos-local to serve")
  return pid, rec, assert(work_dir_of(pid), "its work directory")
end

-- Signals `pid` and waits for its exit status; the seconds it took.
local function interrupt(pid, rec, sig)
  local t0 = h.now()
  os.execute(("kill -%s %d"):format(sig, pid))
  local status = wait_for(rec.status, 30, "the exit")
  return status, h.now() - t0
end

describe("signals", function()
  it("SIGINT to mesolua kills the running task, stops the cluster and removes its work directory", function()
    local pid, rec = spawn("bin/mesolua -e 'local t = os.time() while os.time() - t < 60 do end return 1'")
    finally(rec.clean)
    local dir = wait_for(function() return work_dir_of(pid) end, 30, "mesolua's cluster")
    -- The task runs once a process (the executor) works in the sandbox.
    wait_for(function() return processes_in(dir) > 0 end, 30, "the task to run")
    local status, took = interrupt(pid, rec, "INT")
    assert.are.equal(130, status)
    assert.are.equal("mesolua: interrupted\n", rec.err())
    assert.are.equal("", rec.out())
    assert.is_true(took < 2, ("took %.2f s"):format(took))
    assert.is_nil(h.read_file(dir .. "/owner"), "the work directory is gone")
    wait_for(function() return processes_in(dir) == 0 end, 5, "the task processes to end")
  end)

  it("SIGTERM to a program inside driver:run() tears its framework down and ends it", function()
    local dir = h.tmpdir()
    finally(function() os.execute("rm -rf " .. q(dir)) end)
    local script = dir .. "/sched.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local mesos = require "mesos"
local h = {}
function h:offers(d, offers)
  if self.launched then return d:decline(offers[1].id) end
  self.launched = true
  d:launch(offers[1].id, { {
    name = "sleeper", task_id = { value = "sleeper" }, agent_id = offers[1].agent_id,
    resources = mesos.resources.parse("cpus:0.1;mem:32"),
    command = { value = "echo $$ > %s/pid.tmp && mv %s/pid.tmp %s/task.pid && exec sleep 60" },
  } })
end
mesos.scheduler(h, { master = "local" }):run()
print("run returned")
]]):format(dir, dir, dir))
    f:close()
    local pid, rec = spawn("luajit " .. q(script))
    finally(rec.clean)
    local task = tonumber(wait_for(function() return h.read_file(dir .. "/task.pid") end, 30, "the task"))
    local work = assert(work_dir_of(pid), "the cluster's work directory")
    local status = interrupt(pid, rec, "TERM")
    assert.are.equal(143, status)
    assert.are.equal("sched.lua: interrupted\n", rec.err())
    assert.are.equal("", rec.out(), "run() did not return")
    assert.is_nil(h.read_file(work .. "/owner"), "the work directory is gone")
    wait_for(function() return not alive(task) end, 5, "the task to be killed")
  end)

  it("SIGINT to mesos-local stops it with one line and status 130", function()
    local pid, rec, work = mesos_local()
    finally(rec.clean)
    local status = interrupt(pid, rec, "INT")
    assert.are.equal(130, status)
    assert.are.equal("mesos-local: interrupted\n", rec.err())
    assert.is_nil(h.read_file(work .. "/owner"), "the work directory is gone")
  end)

  it("the next cluster removes the work directory of one killed with SIGKILL, and no other", function()
    local pid, rec, dead = mesos_local()
    finally(rec.clean)
    assert.are.equal(137, interrupt(pid, rec, "KILL"))
    assert.is_not_nil(h.read_file(dead .. "/owner"), "SIGKILL leaves the directory")
    -- One owned by a live process (this one) and one with no owner stay.
    local stat = assert(h.read_file("/proc/self/stat"))
    local me = stat:match("^(%d+)")
    local started = stat:match("%)%s+(.*)$"):match(("%S+%s+"):rep(19) .. "(%d+)")
    local live, unowned = PREFIX .. "test-live-" .. me, PREFIX .. "test-unowned-" .. me
    os.execute("mkdir -p " .. q(live) .. " " .. q(unowned))
    finally(function() os.execute("rm -rf " .. q(live) .. " " .. q(unowned)) end)
    local f = assert(io.open(live .. "/owner", "w"))
    f:write(me, " ", started)
    f:close()
    local c = assert(mesos.local_cluster(h.local_opts { port = 0 }))
    c:stop()
    assert.is_nil(h.read_file(dead .. "/owner"), "the dead owner's directory is removed")
    assert.is_not_nil(h.read_file(live .. "/owner"), "a live owner's directory stays")
    assert.are.equal(0, os.execute("test -d " .. q(unowned)))
  end)
end)
