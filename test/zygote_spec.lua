-- mesos.zygote: a warm process that forks one child per request (what the
-- Lua executor runs its tasks with), and the executor's fallback to a fresh
-- interpreter per task.
local h = require "test.helpers"
local mesos = h.mesos
local S = require "mesos.serialize"

-- A zygote whose children run their stdin as Lua code (with `mesos` loaded
-- once, in the zygote), then exit 0.
local function start(extra)
  local chunk = ("package.path = %q; package.cpath = %q; "):format(package.path, package.cpath)
    .. "ZYGOTE_GLOBAL = 'from the zygote'; "
    .. "local mesos = require 'mesos'; local code, err = mesos.zygote_serve(); "
    .. "if not code then if err then io.stderr:write(err, '\\n') os.exit(1) end os.exit(0) end; "
    .. "assert(loadstring(code))(); os.exit(0)"
  local opts = { argv = { mesos.executable(), "-e", chunk } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(mesos.zygote(opts))
end

local function run(z, spec)
  local id, pid, err = z:spawn(spec)
  assert(id, err)
  local f = assert(z:reap(20), "child did not finish")
  assert.are.equal(id, f.id)
  assert.are.equal(pid, f.pid)
  return f
end

describe("mesos.zygote", function()
  it("forks a fresh child per request: stdin in, stdout, stderr and the exit code out", function()
    local z = start()
    local f = run(z, { stdin = "io.write('out ', ZYGOTE_GLOBAL) io.stderr:write('err') LEAK = true os.exit(3)" })
    assert.are.same({ "out from the zygote", "err", 3 }, { f.stdout, f.stderr, f.code })
    -- The next child starts from the zygote, not from the last child.
    local g = run(z, { stdin = "io.write(tostring(LEAK), ' ', tostring(require('mesos') ~= nil))" })
    assert.are.equal("nil true", g.stdout)
    assert.are_not.equal(f.pid, g.pid)
    assert.are_not.equal(z:pid(), g.pid)
    z:close()
  end)

  it("gives each child its own process group, which mesos.kill ends", function()
    local z = start()
    local id, pid = assert(z:spawn { stdin = "while true do end" })
    assert.is_true(mesos.kill(pid, 9))
    local f = assert(z:reap(20))
    assert.are.same({ id, 9, nil }, { f.id, f.signal, f.code })
    z:close()
  end)

  it("applies the memory limit and bounds the output", function()
    local z = start()
    local f = run(z, { stdin = "local ok, e = pcall(string.rep, 'x', 2^28) io.write(tostring(ok), ' ', tostring(e))",
      memory_mb = 64 })
    assert.are.equal("false not enough memory", f.stdout)
    local g = run(z, { stdin = "io.write(string.rep('y', 100000))", max_output = 1000 })
    assert.are.equal(1000, #g.stdout)
    assert.is_true(g.truncated)
    z:close()
  end)

  it("hands the child its channel end on fd 3", function()
    local z = start()
    local mine, theirs = mesos.channel_pair()
    local id = assert(z:spawn {
      stdin = "local c = assert(require('mesos').channel_open()) local m = c:recv(10) c:send('got ' .. m)",
      channel = theirs,
    })
    theirs:close()
    assert(mine:send("ping"))
    assert.are.equal("got ping", mine:recv(10))
    local f = assert(z:reap(20))
    assert.are.same({ id, 0 }, { f.id, f.code })
    mine:close()
    z:close()
  end)

  it("runs many children at once, each reported once", function()
    local z = start()
    local want = {}
    for i = 1, 20 do
      local id = assert(z:spawn { stdin = ("io.write(%d * 2)"):format(i) })
      want[id] = tostring(i * 2)
    end
    for _ = 1, 20 do
      local f = assert(z:reap(20))
      assert.are.equal(want[f.id], f.stdout)
      want[f.id] = nil
    end
    assert.is_nil(next(want))
    assert.is_nil(z:reap(0))
    z:close()
  end)

  it("refuses what a zygote's child cannot take, with clear errors", function()
    local z = start()
    for _, key in ipairs { "argv", "env", "cwd" } do
      local ok, err = pcall(z.spawn, z, { stdin = "", [key] = key == "argv" and { "x" } or key == "env" and { A = "b" } or "/" })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("opts." .. key .. " is not supported", 1, true), err)
    end
    for _, bad in ipairs { {}, { argv = {} }, { fork = true, argv = { "x" } } } do
      local ok, err = pcall(mesos.zygote, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("give either opts.argv (a non-empty list of strings) or opts.fork = true", 1, true), err)
    end
    local bad, why = mesos.zygote { argv = { "/nonexistent/luajit" } }
    assert.is_nil(bad)
    assert.truthy(why:find("cannot start the zygote", 1, true), why)
    z:close()
  end)

  it("reports a dead zygote: running children end with an unknown status, new spawns fail", function()
    local z = start()
    local mine, theirs = mesos.channel_pair()
    local id = assert(z:spawn { stdin = "require('mesos').channel_open():recv(30)", channel = theirs })
    theirs:close()
    local zpid = z:pid()
    assert.is_true(mesos.kill(zpid, 9) or os.execute("kill -9 " .. zpid) == 0)
    -- The child dies with its zygote (its channel still open here), and is
    -- reported without a status.
    local f = assert(z:reap(20))
    assert.are.equal(id, f.id)
    assert.is_nil(f.code)
    assert.truthy(f.stderr:find("zygote that started this task ended", 1, true), f.stderr)
    local deadline = h.now() + 10
    while os.execute(("kill -0 %d 2>/dev/null"):format(f.pid)) == 0 and h.now() < deadline do
      mesos.wait_readable({}, 0.05)
    end
    assert.are_not.equal(0, os.execute(("kill -0 %d 2>/dev/null"):format(f.pid)), "the child outlived its zygote")
    mine:close()
    local nid, _, err = z:spawn { stdin = "" }
    assert.is_nil(nid)
    assert.truthy(err:find("the zygote is gone", 1, true), err)
  end)

  it("zygote_serve refuses a process it cannot serve in, saying why", function()
    local function try(code)
      local chunk = ("package.path = %q; package.cpath = %q; local mesos = require 'mesos'; %s")
        :format(package.path, package.cpath, code)
      local p = assert(io.popen(("'%s' -e \"%s\" 2>&1"):format(mesos.executable(), chunk:gsub('[\\"$`]', "\\%0"))))
      local out = p:read("*a")
      p:close()
      return out
    end
    assert.truthy(try("print(mesos.zygote_serve())"):find("fd 3 is not a zygote socket", 1, true))
    local out = try("local c = assert(mesos.local_cluster {}) print(mesos.zygote_serve()) c:stop()")
    assert.truthy(out:find("a zygote must be single%-threaded, this process has %d+ threads"), out)
  end)

  it("forks this very process into a zygote (fork = true): loaded modules kept, fds and the executor token not", function()
    local chunk = ("package.path = %q; package.cpath = %q; "):format(package.path, package.cpath) .. [[
      local mesos = require "mesos"
      PRELOADED = "kept"
      local mine, theirs = mesos.channel_pair()
      local z, err = mesos.zygote { fork = true }
      if z == "zygote" then
        local code = mesos.zygote_serve()
        if not code then os.exit(0) end
        assert(loadstring(code))()
        os.exit(0)
      end
      assert(z, err)
      local id = assert(z:spawn { stdin = ("io.write(PRELOADED, ' ', tostring(os.getenv('MESOS_EXECUTOR_AUTHENTICATION_TOKEN')), ' ', "
        .. "tostring(io.open('/proc/self/fd/%d') ~= nil), ' ', tostring(io.open('/proc/self/fd/%d') ~= nil))"):format(mine:fd(), theirs:fd()) })
      local f = assert(z:reap(20))
      print(f.stdout, f.code, os.getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"))
      z:close()
    ]]
    local p = assert(io.popen(("MESOS_EXECUTOR_AUTHENTICATION_TOKEN=secret '%s' -e \"%s\" 2>&1")
      :format(mesos.executable(), chunk:gsub('[\\"$`]', "\\%0"))))
    local out = p:read("*a")
    p:close()
    assert.are.equal("kept nil false false\t0\tsecret\n", out)
  end)

  it("will not fork a zygote from a process with threads", function()
    local z = start() -- its collector thread makes this process multi-threaded
    local f, err = mesos.zygote { fork = true }
    assert.is_nil(f)
    assert.truthy(err:find("cannot fork a zygote from a process with %d+ threads"), err)
    z:close()
  end)

  it("takes no more children once closed", function()
    local z = start()
    run(z, { stdin = "" })
    z:close()
    local id, _, err = z:spawn { stdin = "" }
    assert.is_nil(id)
    assert.truthy(err:find("the zygote is closed", 1, true), err)
  end)
end)

describe("the Lua executor's task processes", function()
  local jobs = require "mesos.jobs"
  local executor = require "mesos.executor"

  local function executor_command(main_opts)
    local interp = mesos.executable()
    local chunk = ("package.path = %q; package.cpath = %q; require 'mesos'; require 'mesos.executor'.main(%s)")
      :format(package.path, package.cpath, main_opts)
    return ("'%s' -e \"%s\""):format(interp, chunk:gsub('[\\"$`]', "\\%0"))
  end

  it("starts the executor without a shell, forking its zygote first", function()
    local ci = executor.command_info("/usr/bin/luajit", false)
    assert.is_false(ci.shell)
    assert.are.equal("/usr/bin/luajit", ci.value)
    assert.are.equal("/usr/bin/luajit", ci.arguments[1])
    assert.are.equal("-e", ci.arguments[2])
    assert.truthy(ci.arguments[3]:find("mesos.zygote { fork = true }", 1, true))
    assert.truthy(ci.arguments[3]:find('require "mesos.tasks.lua_executor".main', 1, true))
  end)

  for _, case in ipairs {
    { "with a fresh interpreter per task (zygote = false)", "{ zygote = false }" },
    { "when the zygote cannot start", "{ zygote_error = 'no zygote here' }" },
  } do
    it("runs tasks " .. case[1], function()
      local results = assert(jobs.run_all({
        { code = "return TASK_INDEX * 2", index = 1 },
        { code = "error('boom')", index = 2 },
        { code = "while true do end", index = 3 },
      }, {
        executor_command = executor_command(case[2]), timeout = 2,
        local_cluster = h.local_opts(),
      }))
      assert.are.same({ true, 2 }, { results[1].ok, results[1].values[1] })
      assert.is_false(results[2].ok)
      assert.truthy(results[2].error:find("boom", 1, true))
      assert.truthy(results[3].error:find("timed out after 2s", 1, true), results[3].error)
    end)
  end

  it("goes on with fresh interpreters when its zygote dies", function()
    -- A "zygote" that exits at once: the first spawn finds it gone.
    local results = assert(jobs.run_all({
      { code = "return 1", index = 1 },
      { code = "return 2", index = 2 },
    }, { local_cluster = h.local_opts(), executor_command = executor_command(
      "{ zygote = require('mesos').zygote { argv = { 'sh', '-c', 'exit 0' } } }") }))
    assert.are.same({ 1, 2 }, { results[1].values[1], results[2].values[1] })
  end)
end)
