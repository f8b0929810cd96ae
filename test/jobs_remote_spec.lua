-- mesos.jobs for agents that are not this machine (the executor started
-- through a shell that checks for LuaJIT, its own resources, opts.env,
-- opts.ship), run on a local cluster addressed by URL so that jobs treats
-- it as remote. The same on real Mesos agents: test/real/*.
local h = require "test.helpers"
local mesos = h.mesos
local jobs = require "mesos.jobs"

local function with_cluster(fn)
  local c = assert(mesos.local_cluster(h.local_opts { port = 0 }))
  local ok, err = pcall(fn, c)
  c:stop()
  if not ok then error(err, 0) end
end

describe("mesos.jobs on remote agents", function()
  it("ships mesos.so into the sandbox and declares the executor's resources", function()
    with_cluster(function(c)
      local state
      local res = assert(jobs.run_all({
        { code = [[local f = io.open("mesos.so", "rb"); return f and #f:read("*a") or false]] },
        { code = "return 2" },
      }, {
        master = c:url(), ship = true, executor_cpus = 0.02, executor_mem = 40,
        on_result = function(i)
          if i == 1 then state = h.sh("curl -s " .. c:url() .. "/master/state") end
        end,
      }))
      local so = assert(io.open(mesos.module_path(), "rb"))
      assert.are.equal(#so:read("*a"), res[1].values[1])
      so:close()
      local exec = state:match('"executors":%[(%b{})')
      assert.truthy(exec, state)
      assert.truthy(exec:find('"cpus":0.02', 1, true), exec)
      assert.truthy(exec:find('"mem":40.0', 1, true), exec)
    end)
  end)

  it("without ship, nothing lands in the sandbox and the executor still has the minimum resources", function()
    with_cluster(function(c)
      local state
      local res = assert(jobs.run_all({ { code = [[return io.open("mesos.so") ~= nil]] } }, {
        master = c:url(),
        on_result = function() state = h.sh("curl -s " .. c:url() .. "/master/state") end,
      }))
      assert.is_false(res[1].values[1])
      local exec = assert(state:match('"executors":%[(%b{})'), state)
      assert.truthy(exec:find('"cpus":0.01', 1, true), exec)
      assert.truthy(exec:find('"mem":32.0', 1, true), exec)
    end)
  end)

  it("says an agent has no LuaJIT, instead of 'Executor terminated'", function()
    with_cluster(function(c)
      local res = assert(jobs.run_all({ { code = "return 1" } }, { master = c:url(), interpreter = "no-such-luajit" }))
      assert.is_false(res[1].ok)
      assert.matches("could not start on .*has no 'no%-such%-luajit' on the PATH", res[1].error)
    end)
  end)

  it("says an agent's LuaJIT cannot load the module", function()
    with_cluster(function(c)
      local res = assert(jobs.run_all({ { code = "return 1" } }, {
        master = c:url(), env = { LUA_CPATH = "/nonexistent/?.so", LUA_PATH = "/nonexistent/?.lua" },
      }))
      assert.is_false(res[1].ok)
      assert.matches("cannot load the module mesos: install the rock there", res[1].error)
    end)
  end)

  it("refuses a bad ship option", function()
    assert.has_error(function() jobs.run_all({ { code = "return 1" } }, { ship = 42 }) end,
      "opts.ship must be true or the URL of a mesos.so, got number")
  end)
end)

describe("mesos.local_address", function()
  it("routes to a host and port, or to where a master string points first", function()
    assert.are.equal("127.0.0.1", mesos.local_address("127.0.0.1", 5050))
    assert.are.equal("127.0.0.1", mesos.local_address("http://127.0.0.1:5050,m2.invalid:5050"))
    assert.are.equal("127.0.0.1", mesos.local_address("zk://127.0.0.1:2181,zk2.invalid:2181/mesos"))
    local ip, err = mesos.local_address("m1:notaport")
    assert.is_nil(ip)
    assert.matches("invalid master", err, 1, true)
  end)
end)

describe("mesos.jobs.environment", function()
  it("sets values, passes named variables on, and sorts them", function()
    local home = os.getenv("HOME")
    assert.are.same({ variables = {
      { name = "A_1", value = "x" }, { name = "HOME", value = home }, { name = "N", value = "3" },
    } }, jobs.environment { N = 3, "HOME", A_1 = "x", UNSET_HERE_XYZ = true, OFF = false })
  end)

  it("raises for a bad name or value", function()
    assert.has_error(function() jobs.environment { ["1x"] = "v" } end, "opts.env: 1x is not a variable name")
    assert.has_error(function() jobs.environment { X = {} } end, "opts.env.X must be a string, true or false, got table")
    assert.has_error(function() jobs.environment "X" end, "opts.env must be a table {NAME = value}, got string")
  end)
end)
