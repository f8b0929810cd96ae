-- mesolua and mesos.map/run: Lua code as Mesos tasks on the local cluster.
local h = require "test.helpers"
local mesos = h.mesos

local mesolua = require("test.scenarios.mesolua").mesolua

-- The scenarios real Mesos runs too (test/real/mesolua_spec.lua).
require "test.scenarios.mesolua" {
  name = "the embedded local cluster",
  master = function() return "" end,
  opts = function(o)
    o.local_cluster = h.local_opts()
    return o
  end,
  tasks = 1000,
}

describe("mesolua", function()
  it("documents every flag in --help and rejects bad usage", function()
    local out, _, code = mesolua("--help")
    assert.are.equal(0, code)
    for _, flag in ipairs { "--master", "-e", "--tasks", "--cpus", "--mem", "--timeout", "--json", "--uri", "--cache", "--ca-file", "--credential-file", "--" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
    local _, err, code2 = mesolua("--tasks=zero -e 1")
    assert.are.equal(2, code2)
    assert.matches("--tasks needs a positive number", err, 1, true)
    _, err, code2 = mesolua([[-e "return ("]])
    assert.are.equal(2, code2)
    assert.matches("syntax error", err, 1, true)
  end)

  it("says where the embedded cluster and its web UI are with --verbose, and only then", function()
    local out, err, code = mesolua([[--verbose -e "return 6 * 7"]])
    assert.are.equal(0, code, err)
    assert.are.equal("42\n", out)
    local url = err:match("mesolua: local cluster at (http://127%.0%.0%.1:%d+) %(web UI")
    assert.truthy(url, err)
    local _, quiet = mesolua([[-e "return 1"]])
    assert.falsy(quiet:find("local cluster at", 1, true), quiet)
  end)

  it("names -e code 'task' in syntax and runtime errors alike, and a FILE by its name", function()
    local _, err, code = mesolua([[-e "return ("]])
    assert.are.equal(2, code)
    assert.are.equal("mesolua: syntax error: task:1: unexpected symbol near '<eof>'\n", err)
    _, err, code = mesolua([[--quiet -e "error('boom')"]])
    assert.are.equal(1, code)
    assert.matches("^mesolua: task 1 failed: task:1: boom\n", err)
    local f = os.tmpname()
    local fh = assert(io.open(f, "w"))
    fh:write("local x = 1\nreturn (\n")
    fh:close()
    _, err, code = mesolua(f)
    os.remove(f)
    assert.are.equal(2, code)
    assert.are.equal(("mesolua: syntax error: %s:3: unexpected symbol near '<eof>'\n"):format(f), err)
  end)
end)

describe("mesolua's output", function()
  it("gives every task its line in task order, a failed task's empty", function()
    local out, err, code = mesolua([[--tasks 5 -e "if TASK_INDEX % 2 == 0 then error('even ' .. TASK_INDEX) end return TASK_INDEX, 'x'"]])
    assert.are.equal(1, code)
    assert.are.equal("1\tx\n\n3\tx\n\n5\tx\n", out)
    assert.matches("mesolua: task 2 failed: task:1: even 2\n", err, 1, true)
    assert.matches("mesolua: task 4 failed: task:1: even 4\n", err, 1, true)
    -- --json: one object per task, failed ones too.
    out, _, code = mesolua([[--json --tasks 2 -e "if TASK_INDEX == 1 then error('one', 0) end return 2"]])
    assert.are.equal(1, code)
    local first, second = out:match("^([^\n]*)\n([^\n]*)\n$")
    assert.matches('^{"task":1,"ok":false,"error":"one\\nstack traceback:', first, 1)
    assert.are.equal('{"task":2,"ok":true,"values":[2]}', second)
  end)
end)

describe("mesolua's progress", function()
  local function no_terminal_codes(err)
    assert.is_nil(err:find("\27[", 1, true), err)
    assert.is_nil(err:find("\r", 1, true), err)
  end

  it("writes no escape codes or carriage returns when stderr is a file", function()
    -- N >= 100 shows progress on a terminal; to a file, none by default.
    local _, err, code = mesolua([[--tasks 100 -e "if TASK_INDEX == 7 then error('seven') end return TASK_INDEX"]])
    assert.are.equal(1, code)
    no_terminal_codes(err)
    assert.matches("mesolua: task 7 failed: task:1: seven", err, 1, true)
    assert.is_nil(err:find("tasks done", 1, true), err)
    -- --progress to a file: plain lines, one per tenth of the tasks done.
    _, err, code = mesolua([[--progress --tasks 3 -e "if TASK_INDEX == 2 then error('two') end return 1"]])
    assert.are.equal(1, code)
    no_terminal_codes(err)
    assert.matches("mesolua: 3/3 tasks done, 1 failed\n$", err)
    local lines = select(2, err:gsub("mesolua: %d/3 tasks done", ""))
    assert.are.equal(3, lines, err)
  end)

  it("draws one line in place on a terminal and clears it before each result", function()
    if os.execute("script -qec true /dev/null >/dev/null 2>&1") ~= 0 then return pending("no script(1)") end
    -- script(1) gives mesolua a terminal for stdout and stderr.
    local out = h.sh([[script -qec "bin/mesolua --tasks 3 -e 'return TASK_INDEX * 11'" /dev/null]])
    out = out:gsub("\r\n", "\n")
    assert.truthy(out:find("\r\27[K3/3 tasks done\n", 1, true), out)
    -- Each result starts a line of its own: the progress line was cleared.
    assert.is_nil(out:find("done%d"), out)
    for _, v in ipairs { "11", "22", "33" } do
      assert.truthy(out:find("^" .. v .. "\n") or out:find("\n" .. v .. "\n", 1, true)
        or out:find("\27[K" .. v .. "\n", 1, true), out)
    end
  end)
end)

describe("data for tasks (--uri, opts.uris)", function()
  local dir, https

  setup(function()
    dir = h.uri_data_dir()
    if h.make_pki(dir) then
      https = h.serve_files(dir .. "/www", dir .. "/https.log",
        { cert = dir .. "/cert.pem", key = dir .. "/key.pem" })
    end
  end)

  teardown(function()
    if https then https.stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("fetches https URLs through the local agent's cache, trusting the cluster's tls_ca_file", function()
    if not https then return pending("openssl is not installed") end
    local base = ("https://127.0.0.1:%d/"):format(https.port)
    local v = assert(mesos.map([[return io.open("remote.txt"):read("*l") .. " + " .. io.lines("pkg/inside.txt")()]],
      { 1, 2 }, {
        uris = { { value = base .. "remote.txt", cache = true }, { value = base .. "pkg.tar.gz", cache = true } },
        local_cluster = h.local_opts { tls_ca_file = dir .. "/ca.pem" },
      }))
    assert.are.same({ "over http + from an archive", "over http + from an archive", n = 2 }, v)
    -- Without the CA, the task fails and says why.
    local _, err, code = mesolua(("--uri %sremote.txt -e 'return 1'"):format(base))
    assert.are.equal(1, code)
    assert.matches("Failed to fetch '" .. base .. "remote.txt': TLS handshake with 127.0.0.1:%d+ failed: invalid peer certificate: UnknownIssuer", err)
    -- mesolua trusts the system's roots, which SSL_CERT_FILE replaces.
    local out
    out, err, code = mesolua(("--cache --uri %sremote.txt -e 'return io.open(\"remote.txt\"):read(\"*l\")'"):format(base),
      "SSL_CERT_FILE=" .. dir .. "/ca.pem")
    assert.are.equal(0, code, err)
    assert.are.equal("over http\n", out)
  end)

  it("names the schemes the local agent does not fetch", function()
    local _, err, code = mesolua("--uri hdfs://namenode:8020/data.csv -e 'return 1'")
    assert.are.equal(1, code)
    assert.matches("the local agent does not fetch hdfs:// URIs", err, 1, true)
  end)
end)

describe("tasks that misbehave", function()
  -- The attack suite (docs/security.md): every attempt is a real task on
  -- the local cluster that must fail with a clear reason; the task after it
  -- runs on the same executor and must succeed with a clean environment
  -- (`after` checks what the attack may have tried to leave behind).
  local cases = {
    -- reaching the host: processes, files, native code
    { "return os.execute('true')", "attempt to call field 'execute'" },
    { "return io.popen('id'):read('*a')", "attempt to call field 'popen'" },
    { "return assert(io.open('/etc/passwd'))", "/etc/passwd: outside the task's sandbox" },
    { "return assert(io.open('../../../../../../../../../../etc/passwd'))", "outside the task's sandbox" },
    { "for l in io.lines('/etc/passwd') do return l end", "/etc/passwd: outside the task's sandbox" },
    { "return io.open('evil.txt', 'w')", "tasks may only read" },
    { "return dofile('/etc/passwd')", "attempt to call global 'dofile'" },
    { "return loadfile('/etc/passwd')", "attempt to call global 'loadfile'" },
    { "os.exit(0)", "attempt to call field 'exit'" },
    { "return require 'ffi'", "attempt to call global 'require'" },
    { "return require 'luv'", "attempt to call global 'require'" },
    { "return package.loadlib('libc.so.6', 'system')", "attempt to index global 'package'" },
    { "module('evil')", "attempt to call global 'module'" },
    { "return rawget(_G, 'os').execute('true')", "attempt to call field 'execute'" },
    { "return jit.off()", "attempt to index global 'jit'" },
    { "return newproxy(true)", "attempt to call global 'newproxy'" },
    -- bytecode and the debug library
    { "return assert(loadstring(string.char(27) .. 'LJ'))", "attempt to load a binary chunk" },
    { "local s = string.char(27) .. 'LJ' return assert(load(function() local r = s s = nil return r end))", "attempt to load a binary chunk" },
    { "return string.dump(print)", "attempt to call field 'dump'" },
    { "return ('x'):dump()", "attempt to call method 'dump'" },
    { "return getmetatable('').__index.dump(print)", "attempt to call field 'dump'" },
    { "return debug.getregistry()", "attempt to index global 'debug'" },
    { "debug.sethook(function() end, '', 1)", "attempt to index global 'debug'" },
    { "return debug.getupvalue(print, 1)", "attempt to index global 'debug'" },
    -- the environment and the executor's own functions
    { "setfenv(print, {})", "attempt to call global 'setfenv'" },
    { "return getfenv(0)", "attempt to call global 'getfenv'" },
    { "getmetatable('').__index.upper = function() return 'pwned' end error('tampered')", "tampered",
      after = "return ('abc'):upper(), string.upper('x')", want = { "ABC", "X" } },
    { "string.len = nil _G.print = nil error('broke the stdlib')", "broke the stdlib",
      after = "return string.len('abcd'), type(print)", want = { 4, "function" } },
    { "collectgarbage('stop')", "option 'stop' is not allowed" },
    -- time
    { "while true do end", "timed out after 2s" },
    { "local x = 0 for i = 1, math.huge do x = x + i % 7 end return x", "timed out after 2s" },
    { "local co = coroutine.wrap(function() while true do coroutine.yield() end end) while true do co() end", "timed out after 2s" },
    { "while true do pcall(error, 'x') end", "timed out after 2s" },
    -- memory and stack
    { "return #string.rep('x', 2^30)", "not enough memory" },
    { "local t = {} for i = 1, 64 do t[i] = string.rep('x', 2^22) .. i end return #table.concat(t)", "memory" },
    { "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end", "memory limit exceeded" },
    { "local function f() return f() + 1 end return f()", "stack overflow" },
    { "local mt = {} mt.__index = function(t, k) return setmetatable({}, mt)[k] end return setmetatable({}, mt).x", "stack overflow" },
    -- what comes back
    { "error(setmetatable({}, {__tostring = function() error('nested') end}))", "error" },
    { "local t = {} t.t = t return t", "cyclic" },
    { "return function() end", "cannot serialise a function" },
    { "return coroutine.create(print)", "cannot serialise a thread" },
    { "return string.rep('x', 4 * 1024 * 1024)", "exceeds max_bytes", req = { max_result_bytes = 1024 * 1024 } },
  }

  it("fail with a clear reason and leave the executor healthy", function()
    assert.is_true(#cases >= 30)
    local requests = {}
    for i, c in ipairs(cases) do
      local req = { code = c[1], index = i }
      for k, v in pairs(c.req or {}) do req[k] = v end
      requests[#requests + 1] = req
      requests[#requests + 1] = c.after and { code = c.after }
        or { code = "return 'ok after ' .. ...", args = { tostring(i) } }
    end
    local jobs = require "mesos.jobs"
    local results = assert(jobs.run_all(requests, {
      timeout = 2, memory_mb = 128, cpus = 0.5,
      local_cluster = h.local_opts { resources = "cpus:2;mem:8192" },
    }))
    for i, c in ipairs(cases) do
      local bad, good = results[2 * i - 1], results[2 * i]
      assert.is_false(bad.ok, c[1])
      assert.truthy(bad.error:find(c[2], 1, true), c[1] .. " -> " .. tostring(bad.error))
      assert.is_true(good.ok, "task after " .. c[1] .. ": " .. tostring(good.error))
      if c.after then
        assert.are.same(c.want, { unpack(good.values, 1, #c.want) }, "after " .. c[1])
      else
        assert.are.equal("ok after " .. i, good.values[1])
      end
    end
  end)
end)
