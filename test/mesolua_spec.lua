-- mesolua and mesos.map/run: Lua code as Mesos tasks on the local cluster.
local h = require "test.helpers"
local mesos = h.mesos

local function sh(cmd) return h.sh(cmd, false) end

-- Runs mesolua; returns stdout, stderr, exit code.
local function mesolua(args)
  local errf = os.tmpname()
  local out, code = sh("bin/mesolua " .. args .. " 2>" .. errf)
  local err = h.read_file(errf) or ""
  os.remove(errf)
  return out, err, code
end

describe("mesolua", function()
  it("prints hello world from a task on the embedded cluster", function()
    local out, err, code = mesolua([[-e "return 'hello world'"]])
    assert.are.equal("hello world\n", out, err)
    assert.are.equal(0, code)
  end)

  it("runs 1000 tasks and prints every result in task order", function()
    local out, err, code = mesolua([[--tasks 1000 --quiet -e "return TASK_INDEX * 3, select('#', ...), ..." a b]])
    assert.are.equal(0, code, err)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.are.equal(("%d\t2\ta\tb"):format(n * 3), line)
    end
    assert.are.equal(1000, n)
  end)

  it("prints JSON with --json and round-trips nested values", function()
    local out, _, code = mesolua([[--json --tasks 2 -e "return {x = TASK_INDEX, y = {1, 2.5, 'z'}}, nil, true"]])
    assert.are.equal(0, code)
    assert.are.equal('{"task":1,"ok":true,"values":[{"x":1,"y":[1,2.5,"z"]},null,true]}\n' ..
      '{"task":2,"ok":true,"values":[{"x":2,"y":[1,2.5,"z"]},null,true]}\n', out)
  end)

  it("runs a file with args", function()
    local f = os.tmpname()
    local fh = assert(io.open(f, "w"))
    fh:write("local a, b = ...\nreturn tonumber(a) + tonumber(b)\n")
    fh:close()
    local out, _, code = mesolua(f .. " -- 40 2")
    os.remove(f)
    assert.are.equal("42\n", out)
    assert.are.equal(0, code)
  end)

  it("fails with a clear reason and a non-zero exit code", function()
    local out, err, code = mesolua([[--tasks 2 -e "if TASK_INDEX == 2 then error('boom') end return 'fine'"]])
    assert.are.equal(1, code)
    assert.are.equal("fine\n", out)
    assert.matches("task 2 failed: task:1: boom", err, 1, true)
  end)

  it("documents every flag in --help and rejects bad usage", function()
    local out, _, code = mesolua("--help")
    assert.are.equal(0, code)
    for _, flag in ipairs { "--master", "-e", "--tasks", "--cpus", "--mem", "--timeout", "--json", "--" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
    local _, err, code2 = mesolua("--tasks=zero -e 1")
    assert.are.equal(2, code2)
    assert.matches("--tasks needs a positive number", err, 1, true)
    _, err, code2 = mesolua([[-e "return ("]])
    assert.are.equal(2, code2)
    assert.matches("syntax error", err, 1, true)
  end)
end)

describe("tasks that misbehave", function()
  -- All in one job so they share executors: every bad task must fail
  -- cleanly and the good ones around them must still succeed.
  local cases = {
    { "return os.execute('true')", "attempt to call field 'execute'" },
    { "return io.open('/etc/passwd')", "attempt to call field 'open'" },
    { "return require 'ffi'", "require" },
    { "return string.dump(print)", "dump" },
    { "return assert(loadstring(string.char(27) .. 'LJ'))", "attempt to load a binary chunk" },
    { "return debug.getregistry()", "debug" },
    { "while true do end", "timed out after 2s" },
    { "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end", "memory limit exceeded" },
    { "local function f() return f() + 1 end return f()", "stack overflow" },
    { "error(setmetatable({}, {__tostring = function() error('nested') end}))", "error" },
    { "local t = {} t.t = t return t", "cyclic" },
    { "return function() end", "cannot serialise a function" },
  }

  it("fail with a clear reason and leave the executor healthy", function()
    local requests = {}
    for i, c in ipairs(cases) do
      requests[#requests + 1] = { code = c[1], index = i }
      requests[#requests + 1] = { code = "return 'ok after ' .. ...", args = { tostring(i) } }
    end
    local jobs = require "mesos.jobs"
    local results = assert(jobs.run_all(requests, {
      timeout = 2, memory_mb = 128, cpus = 0.5,
      local_cluster = h.local_opts { resources = "cpus:1;mem:4096" },
    }))
    for i, c in ipairs(cases) do
      local bad, good = results[2 * i - 1], results[2 * i]
      assert.is_false(bad.ok, c[1])
      assert.matches(c[2], bad.error, 1, true)
      assert.is_true(good.ok, "task after " .. c[1])
      assert.are.equal("ok after " .. i, good.values[1])
    end
  end)
end)

describe("mesos.map and mesos.run", function()
  local opts = { local_cluster = h.local_opts() }

  it("maps a function over inputs", function()
    local r = assert(mesos.map(function(x) return { sq = x * x, s = ("%d!"):format(x) } end, { 1, 2, 3 }, opts))
    assert.are.same({ { sq = 1, s = "1!" }, { sq = 4, s = "2!" }, { sq = 9, s = "3!" } }, { r[1], r[2], r[3] })
  end)

  it("maps source code and keeps nil results", function()
    local r = assert(mesos.map("local x = ... if x > 1 then return x end", { 1, 2 }, opts))
    assert.are.equal(2, r.n)
    assert.is_nil(r[1])
    assert.are.equal(2, r[2])
  end)

  it("runs one chunk and returns all its values", function()
    local a, b, c = mesos.run("return 1, nil, ...", { args = { "x" }, local_cluster = h.local_opts() })
    assert.are.equal(1, a)
    assert.is_nil(b)
    assert.are.equal("x", c)
  end)

  it("reports the failed task", function()
    local r, err = mesos.map("error('no ' .. ...)", { "way" }, opts)
    assert.is_nil(r)
    assert.matches("task 1 failed: task:1: no way", err, 1, true)
    assert.has_error(function() mesos.map(42, {}) end)
  end)
end)
