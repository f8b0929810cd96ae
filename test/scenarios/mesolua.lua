-- mesolua and mesos.map/run scenarios shared by test/mesolua_spec.lua (the
-- embedded local cluster) and test/real/mesolua_spec.lua (real Mesos).
--
-- `target`:
--   name         what the describe blocks say they run against
--   master()     the --master flag for mesolua ("" for its default, local)
--   opts(extra)  options for mesos.map/mesos.run/jobs.run_all on the target
--   tasks        how many tasks the many-tasks scenario runs
local h = require "test.helpers"
local mesos = h.mesos

-- Runs mesolua (with `env`, "NAME=value ...", if given); returns stdout,
-- stderr, exit code.
local function mesolua(args, env)
  local errf = os.tmpname()
  local out, code = h.sh((env and env .. " " or "") .. "bin/mesolua " .. args .. " 2>" .. errf, false)
  local err = h.read_file(errf) or ""
  os.remove(errf)
  return out, err, code
end

local function define(target)
  local function run(args, env) return mesolua(target.master() .. " " .. args, env) end

describe("mesolua on " .. target.name, function()
  it("prints hello world from a task", function()
    local out, err, code = run([[-e "return 'hello world'"]])
    assert.are.equal("hello world\n", out, err)
    assert.are.equal(0, code)
  end)

  it("runs " .. target.tasks .. " tasks and prints every result in task order", function()
    local out, err, code = run(("--tasks %d --quiet -e \"return TASK_INDEX * 3, select('#', ...), ...\" a b")
      :format(target.tasks))
    assert.are.equal(0, code, err)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.are.equal(("%d\t2\ta\tb"):format(n * 3), line)
    end
    assert.are.equal(target.tasks, n)
  end)

  it("prints JSON with --json and round-trips nested values", function()
    local out, _, code = run([[--json --tasks 2 -e "return {x = TASK_INDEX, y = {1, 2.5, 'z'}}, nil, true"]])
    assert.are.equal(0, code)
    assert.are.equal('{"task":1,"ok":true,"values":[{"x":1,"y":[1,2.5,"z"]},null,true]}\n' ..
      '{"task":2,"ok":true,"values":[{"x":2,"y":[1,2.5,"z"]},null,true]}\n', out)
  end)

  it("runs a file with args", function()
    local f = os.tmpname()
    local fh = assert(io.open(f, "w"))
    fh:write("local a, b = ...\nreturn tonumber(a) + tonumber(b)\n")
    fh:close()
    local out, _, code = run(f .. " -- 40 2")
    os.remove(f)
    assert.are.equal("42\n", out)
    assert.are.equal(0, code)
  end)

  it("fails with a clear reason and a non-zero exit code", function()
    local out, err, code = run([[--tasks 2 -e "if TASK_INDEX == 2 then error('boom') end return 'fine'"]])
    assert.are.equal(1, code)
    assert.are.equal("fine\n\n", out) -- task 2's line is empty
    assert.matches("task 2 failed: task:1: boom", err, 1, true)
  end)

  it("stops a task at --timeout and says so", function()
    local out, err, code = run([[--tasks 2 --timeout 1 -e "if TASK_INDEX == 1 then while true do end end return 'quick'"]])
    assert.are.equal(1, code)
    assert.are.equal("\nquick\n", out) -- task 1's line is empty
    assert.matches("task 1 failed: task timed out after 1s", err, 1, true)
  end)
end)

describe("data for tasks (--uri, opts.uris) on " .. target.name, function()
  local dir, http

  setup(function()
    dir = h.uri_data_dir()
    http = h.serve_files(dir .. "/www", dir .. "/http.log")
  end)

  teardown(function()
    if http then http.stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("mesolua --uri fetches a path, an http URL and an archive into the sandbox; tasks read them", function()
    local out, err, code = run(("--uri %s/local.txt --uri http://127.0.0.1:%s/remote.txt --uri http://127.0.0.1:%s/pkg.tar.gz "
      .. [[-e 'return io.open("local.txt"):read("*l"), io.lines("remote.txt")(), io.open("pkg/inside.txt"):read("*l"), (io.open("/etc/passwd"))']])
      :format(dir, http.port, http.port))
    assert.are.equal(0, code, err)
    assert.are.equal("from a path\tover http\tfrom an archive\tnil\n", out)
  end)

  it("mesos.run takes uris, and a missing one fails the task clearly", function()
    local v = assert(mesos.run([[return io.open("local.txt"):read("*a")]],
      target.opts { uris = { { value = dir .. "/local.txt", output_file = "local.txt" } } }))
    assert.are.equal("from a path\n", v)
    local ok, e = mesos.run("return 1", target.opts { uris = { dir .. "/nope.txt" } })
    assert.is_nil(ok)
    assert.matches("Failed to fetch", e, 1, true)
  end)
end)

describe("mesos.map and mesos.run on " .. target.name, function()
  it("maps a function over inputs", function()
    local r = assert(mesos.map(function(x) return { sq = x * x, s = ("%d!"):format(x) } end, { 1, 2, 3 }, target.opts {}))
    assert.are.same({ { sq = 1, s = "1!" }, { sq = 4, s = "2!" }, { sq = 9, s = "3!" } }, { r[1], r[2], r[3] })
  end)

  it("maps source code and keeps nil results", function()
    local r = assert(mesos.map("local x = ... if x > 1 then return x end", { 1, 2 }, target.opts {}))
    assert.are.equal(2, r.n)
    assert.is_nil(r[1])
    assert.are.equal(2, r[2])
  end)

  it("runs one chunk and returns all its values", function()
    local a, b, c = mesos.run("return 1, nil, ...", target.opts { args = { "x" } })
    assert.are.equal(1, a)
    assert.is_nil(b)
    assert.are.equal("x", c)
  end)

  it("brings back results between 16 and 64 MB whole, in both encodings (as real Mesos does)", function()
    for _, enc in ipairs { "protobuf", "json" } do
      local big = assert(mesos.run("return string.rep('x', 17e6) .. ...",
        target.opts { args = { enc }, encoding = enc, mem = 400 }))
      assert.are.equal(17e6 + #enc, #big)
      assert.are.equal(enc, big:sub(-#enc))
    end
  end)

  it("brings back a result at max_result_bytes and fails one byte over, naming the limit", function()
    local S, task = require "mesos.serialize", require "mesos.task"
    local limit = 8192
    -- The longest string result that fits: encoded values within the
    -- limit less the reply's overhead (no output).
    local room = limit - task.REPLY_OVERHEAD
    local len = room - 16
    while #assert(S.encode_values(1, { string.rep("x", len + 1) })) <= room do len = len + 1 end
    local code = "return string.rep('x', ...)"
    local at = assert(mesos.run(code, target.opts { args = { len }, max_result_bytes = limit }))
    assert.are.equal(len, #at)
    local r, err = mesos.map(code, { len + 1 }, target.opts { max_result_bytes = limit })
    assert.is_nil(r)
    assert.matches("task 1 failed: result too big: over the limit of 8192 bytes (max_result_bytes)", err, 1, true)
    -- mesolua: --max-result-bytes, the task's line empty, the reason on stderr.
    local out, stderr, status = run(("--max-result-bytes=%d -e \"return string.rep('x', %d)\""):format(limit, len + 1))
    assert.are.equal(1, status)
    assert.are.equal("\n", out)
    assert.matches("over the limit of 8192 bytes (max_result_bytes)", stderr, 1, true)
  end)

  it("reports the failed task", function()
    local r, err = mesos.map("error('no ' .. ...)", { "way" }, target.opts {})
    assert.is_nil(r)
    assert.matches("task 1 failed: task:1: no way", err, 1, true)
    assert.has_error(function() mesos.map(42, {}) end)
  end)
end)
end

-- Defines the describe blocks in the calling spec file's busted environment
-- (as helpers.scenarios does); .mesolua runs bin/mesolua.
return setmetatable({ mesolua = mesolua }, { __call = function(_, target)
  setfenv(define, getfenv(2))
  define(target)
end })
