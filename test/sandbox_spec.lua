local sandbox = require "mesos.sandbox"
local task = require "mesos.task"
local S = require "mesos.serialize"

-- Runs code that must succeed; returns n, values, output.
local function run_ok(code, opts)
  local ok, n, values, output = sandbox.run(code, opts)
  if not ok then error("task failed: " .. tostring(n), 2) end
  return n, values, output
end

-- Runs code that must fail with a message matching `pattern`; returns it.
local function fails(code, pattern, opts)
  local ok, err = sandbox.run(code, opts)
  assert.is_false(ok, "the task should have failed: " .. code)
  assert.is_string(err)
  assert.matches(pattern, err)
  return err
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function tmp_path()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local host_string_mt = getmetatable("")
local host_string_index = host_string_mt.__index

-- The host's string library and metatable are untouched.
local function assert_host_strings_pristine()
  assert.are.equal(string, getmetatable("").__index)
  assert.are.equal(host_string_index, getmetatable("").__index)
  assert.are.equal("ABC", ("abc"):upper())
  assert.are.equal("aaa", string.rep("a", 3))
  assert.is_function(string.dump)
end

describe("mesos.sandbox", function()
  after_each(assert_host_strings_pristine)

  describe("runs task code", function()
    it("arithmetic, strings, tables and math", function()
      local n, values = run_ok [[
        local t = {}
        for i = 1, 5 do table.insert(t, i * i) end
        table.sort(t, function(a, b) return a > b end)
        local s = ("hello %s"):format("world"):upper()
        return 2 + 3 * 4, table.concat(t, ","), s, math.floor(7.9), string.rep("ab", 3, "-"),
          select("#", 1, 2, 3), bit.band(12, 10), ("x"):byte(), #"abc", tostring(nil)
      ]]
      assert.are.equal(10, n)
      assert.are.same({ 14, "25,16,9,4,1", "HELLO WORLD", 7, "ab-ab-ab", 3, 8, 120, 3, "nil" }, values)
    end)

    it("gets args as ... and arg, and the index as TASK_INDEX", function()
      local n, values = run_ok("local a, b = ... return a + b, arg[1], #arg, TASK_INDEX, select('#', ...)",
        { args = { 40, 2 }, index = 7 })
      assert.are.equal(5, n)
      assert.are.same({ 42, 40, 2, 7, 2 }, values)
      -- args.n keeps trailing nils
      n, values = run_ok("return select('#', ...)", { args = { n = 3, "a" } })
      assert.are.same({ 3 }, values)
    end)

    it("returns multiple values keeping nils and the count", function()
      local n, values = run_ok "return 1, nil, 3, nil"
      assert.are.equal(4, n)
      assert.are.same({ 1, nil, 3 }, values)
      n, values = run_ok "local x = 1"
      assert.are.equal(0, n)
      assert.are.same({}, values)
    end)

    it("captures print and io.write", function()
      local _, _, output = run_ok [[
        print("a", 1, nil, true)
        io.write("b", 2.5, "\n"):write("c")
        io.stdout:write("d\n")
      ]]
      assert.are.equal("a\t1\tnil\ttrue\nb2.5\ncd\n", output)
    end)

    it("sends output to opts.output, which sees the host's string methods", function()
      local got = {}
      local ok, n, values, output = sandbox.run('string.upper = nil print("x") io.write("y") return 1', {
        output = function(s) got[#got + 1] = s:upper() end,
      })
      assert.is_true(ok)
      assert.are.same({ "X\n", "Y" }, got)
      assert.are.same({ 1 }, values)
      assert.are.equal(1, n)
      assert.is_nil(output)
    end)

    it("truncates collected output at max_output", function()
      local _, _, output = run_ok('for i = 1, 100 do io.write("0123456789") end', { max_output = 25 })
      assert.are.equal("0123456789012345678901234\n[output truncated]\n", output)
    end)

    it("offers a text-only load/loadstring bound to the task environment", function()
      local _, values = run_ok [[
        secret = 41
        local f = assert(loadstring("return secret + 1"))
        local parts = { "return ", "secret", " * 2" }
        local i = 0
        local g = assert(load(function() i = i + 1 return parts[i] end))
        local h = assert(load("return x", "chunk", "t", { x = "own env" }))
        local bad, err = loadstring("return +")
        return f(), g(), h(), bad, err
      ]]
      assert.are.same({ 42, 82, "own env" }, { values[1], values[2], values[3] })
      assert.is_nil(values[4])
      assert.matches('^%[string "return %+"%]:1: unexpected symbol', values[5])
    end)

    it("runs coroutines, pcall and error inside the task", function()
      local _, values = run_ok [[
        local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        local ok, err = pcall(error, { code = 7 })
        local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
        local _, first = coroutine.resume(co, 1)
        local _, second = coroutine.resume(co, 10)
        return gen() + gen() + gen(), ok, err.code, first, second, coroutine.status(co)
      ]]
      assert.are.same({ 6, false, 7, 2, 20, "dead" }, values)
    end)

    it("runs bytecode only when allow_bytecode is set", function()
      local bc = string.dump(loadstring("return 40 + 2"))
      fails(bc, "bytecode, which is not allowed")
      local _, values = run_ok(bc, { allow_bytecode = true })
      assert.are.same({ 42 }, values)
    end)

    it("has os.time/clock/date/difftime, and os.getenv only with allow_env", function()
      local _, values = run_ok "return type(os.time()), type(os.clock()), os.date('!%Y', 0), os.difftime(5, 2), os.getenv"
      assert.are.same({ "number", "number", "1970", 3 }, values)
      _, values = run_ok("return os.getenv('HOME')", { allow_env = true })
      assert.are.same({ os.getenv("HOME") }, values)
    end)

    it("lets collectgarbage collect, count and step", function()
      local _, values = run_ok "collectgarbage() collectgarbage('step') return type(collectgarbage('count'))"
      assert.are.same({ "number" }, values)
    end)

    it("reports errors with a traceback of the task's frames only", function()
      local err = fails("local function inner() error('boom') end\ninner()", "^task:1: boom\nstack traceback:")
      assert.matches("task:1: in function 'inner'", err)
      assert.matches("task:2: in main chunk", err)
      assert.not_matches("sandbox%.lua", err)
      assert.not_matches("xpcall", err)
      fails("return +", "^cannot load task code: task:1: unexpected symbol")
      fails("error(42, 0)", "^42\n")
      fails("error()", "^nil\n")
      fails("error({})", "^%(error object is a table value%)")
      fails("local function f() return 1 + f() end return f()", "stack overflow")
    end)
  end)

  describe("blocks escape attempts", function()
    it("1: os.execute", function()
      local marker = tmp_path()
      fails(("os.execute('touch %s')"):format(marker), "attempt to call field 'execute' %(a nil value%)")
      assert.is_false(exists(marker))
      fails("os.exit(1)", "attempt to call field 'exit'")
      fails("os.remove('/tmp/x')", "attempt to call field 'remove'")
      fails("os.rename('/tmp/x', '/tmp/y')", "attempt to call field 'rename'")
      fails("os.tmpname()", "attempt to call field 'tmpname'")
      fails("return os.getenv('HOME')", "attempt to call field 'getenv'")
    end)

    it("2: io.popen", function()
      local marker = tmp_path()
      fails(("io.popen('touch %s')"):format(marker), "attempt to call field 'popen' %(a nil value%)")
      assert.is_false(exists(marker))
    end)

    it("3: io.open('/etc/passwd'), io.lines, io.read", function()
      fails("return io.open('/etc/passwd'):read('*a')", "attempt to call field 'open' %(a nil value%)")
      fails("for l in io.lines('/etc/passwd') do end", "attempt to call field 'lines'")
      fails("return io.read('*a')", "attempt to call field 'read'")
    end)

    it("4: require 'ffi'", function()
      fails("local ffi = require 'ffi' ffi.cdef 'int system(const char *)' ffi.C.system('true')",
        "attempt to call global 'require' %(a nil value%)")
    end)

    it("5: require 'os' and package.loaded", function()
      fails("return require('os').execute('true')", "attempt to call global 'require' %(a nil value%)")
      fails("return package.loaded.os.execute('true')", "attempt to index global 'package' %(a nil value%)")
    end)

    it("6: loadstring of bytecode compiled outside the sandbox", function()
      local bc = string.dump(function() return os.execute end)
      fails("return assert(loadstring(...))()", "attempt to load a binary chunk", { args = { bc } })
      local _, values = run_ok("return loadstring(...)", { args = { bc } })
      assert.is_nil(values[1])
      assert.matches("only Lua source is allowed", values[2])
    end)

    it("7: load with a bytecode string, a bytecode reader, or a bytecode with a header", function()
      local bc = string.dump(function() return os.execute end)
      fails("return assert(load(...))()", "attempt to load a binary chunk", { args = { bc } })
      fails([[
        local bc, done = ...
        return assert(load(function() if done then return nil end done = true return bc end))()
      ]], "attempt to load a binary chunk", { args = { bc } })
      fails("return assert(load(..., 'x', 'b'))()", "attempt to load a binary chunk", { args = { bc } })
      for _, prefix in ipairs { "\239\187\191", "#!/bin/lua\n" } do
        local err = fails("return assert(load(...))()", "", { args = { prefix .. bc } })
        assert.matches("bytecode", err) -- LuaJIT's own refusal of a header before bytecode, or mode "t"
      end
    end)

    it("8: string.dump", function()
      fails("return string.dump(print)", "attempt to call field 'dump' %(a nil value%)")
      fails("return loadstring(string.dump(function() end))", "attempt to call field 'dump'")
    end)

    it("9: (''):dump() through the string metatable", function()
      fails("return (''):dump()", "attempt to call method 'dump' %(a nil value%)")
      fails("return ('').dump(function() end)", "attempt to call field 'dump' %(a nil value%)")
      fails("return getmetatable('').__index.dump(print)", "attempt to call field 'dump'")
    end)

    it("10: debug.getregistry", function()
      fails("return debug.getregistry()", "attempt to index global 'debug' %(a nil value%)")
    end)

    it("11: debug.sethook", function()
      fails("debug.sethook(function() end, 'c')", "attempt to index global 'debug' %(a nil value%)")
    end)

    it("12: getfenv(0) and getfenv(print) tampering", function()
      fails("getfenv(0).os.execute('true')", "attempt to call global 'getfenv' %(a nil value%)")
      fails("getfenv(print).require('os')", "attempt to call global 'getfenv' %(a nil value%)")
    end)

    it("13: setfenv on a whitelisted function to reach the executor's globals", function()
      fails("setfenv(tostring, {}) return tostring(1)", "attempt to call global 'setfenv' %(a nil value%)")
      fails("local f = setfenv(1, {}) return f", "attempt to call global 'setfenv'")
      -- whitelisted Lua-side wrappers cannot be bent either: their globals are upvalues
      local _, values = run_ok("print = nil tostring = nil type = nil return loadstring('return 1')()")
      assert.are.same({ 1 }, values)
    end)

    it("14: string metatable tampering does not leak into the next run or the host", function()
      local _, values = run_ok [[
        local mt = getmetatable("")
        mt.__index.upper = function() return "pwned" end
        local mine = ("abc"):upper()                 -- the task sees its own change
        mt.__index = { len = function() return -1 end }
        rawset(mt, "__index", nil)
        mt.__tostring = function() return "x" end
        string.rep = nil
        return mine
      ]]
      assert.are.same({ "pwned" }, values)
      assert_host_strings_pristine()
      _, values = run_ok [[
        return ("abc"):upper(), string.rep("a", 3), ("abc"):len(),
          getmetatable("").__index == string, getmetatable("").__tostring
      ]]
      assert.are.same({ "ABC", "aaa", 3, true }, values)
      -- the task never gets the real metatable
      _, values = run_ok "return getmetatable('')"
      assert.are_not.equal(host_string_mt, values[1])
      fails("setmetatable('', {})", "table expected, got string")
    end)

    it("15: package.loadlib", function()
      fails("package.loadlib('libc.so.6', 'system')", "attempt to index global 'package' %(a nil value%)")
    end)

    it("16: collectgarbage('stop') and friends", function()
      fails("collectgarbage('stop')", "collectgarbage: option 'stop' is not allowed in a task")
      fails("collectgarbage('setpause', 1000)", "option 'setpause' is not allowed")
      fails("collectgarbage('setstepmul', 1)", "option 'setstepmul' is not allowed")
      fails("collectgarbage('restart')", "option 'restart' is not allowed")
    end)

    it("17: rawget(_G, 'os') leaking the real os", function()
      fails("return rawget(_G, 'os').execute('true')", "attempt to call field 'execute' %(a nil value%)")
      local _, values = run_ok "return rawget(_G, 'os') == os, rawget(os, 'execute'), rawget(io, 'open'), rawget(_G, 'debug')"
      assert.are.same({ true }, values)
    end)

    it("18: coroutine-wrapped escapes", function()
      fails("return coroutine.wrap(function() return require('os') end)()", "attempt to call global 'require'")
      fails("coroutine.wrap(function() os.execute('true') end)()", "attempt to call field 'execute'")
      fails("return coroutine.wrap(function() return loadstring(string.dump(print)) end)()", "attempt to call field 'dump'")
      fails("return coroutine.wrap(function() return getfenv(0) end)()", "attempt to call global 'getfenv'")
      -- a task run inside the caller's coroutine cannot yield into the caller
      local ok, err = coroutine.wrap(function()
        return sandbox.run("coroutine.yield('escaped') return 'done'")
      end)()
      assert.is_false(ok)
      assert.matches("attempt to yield from outside a coroutine", err)
      local _, values = coroutine.wrap(function()
        local r = { sandbox.run("return coroutine.running(), coroutine.isyieldable()") }
        return r[1], r[3]
      end)()
      assert.are.same({ nil, false }, values)
    end)

    it("19: newproxy", function()
      fails("local p = newproxy(true) getmetatable(p).__gc = print", "attempt to call global 'newproxy' %(a nil value%)")
    end)

    it("20: error objects whose __tostring throws, or returns no string", function()
      local ok, err = sandbox.run("error(setmetatable({}, { __tostring = function() error('inner boom') end }))")
      assert.is_false(ok)
      assert.matches("^%(error object is a table value; its __tostring raised task:1: inner boom%)", err)
      fails("error(setmetatable({}, { __tostring = function() return {} end }))",
        "^%(error object is a table value; its __tostring returned a table%)")
      fails("local mt = {} mt.__tostring = function() error(setmetatable({}, mt)) end error(setmetatable({}, mt))",
        "^%(error object is a table value; its __tostring raised a table value%)")
      fails("error(setmetatable({}, { __tostring = function() return 'custom' end }))", "^custom\nstack traceback")
    end)

    it("21: results that are cyclic tables", function()
      local reply = task.run_request { code = "local t = { name = 'loop' } t.self = t return 1, t" }
      assert.is_false(reply.ok)
      assert.are.equal("cyclic table at result[2].self", reply.error)
    end)

    it("22: functions, coroutines and cdata as results", function()
      local reply = task.run_request { code = "return 1, { x = print }" }
      assert.is_false(reply.ok)
      assert.are.equal("cannot serialise a function at result[2].x", reply.error)
      reply = task.run_request { code = "return coroutine.create(print)" }
      assert.are.equal("cannot serialise a thread at result[1]", reply.error)
      reply = task.run_request { code = "return 1ULL" }
      assert.are.equal("cannot serialise a cdata at result[1]", reply.error)
      -- The environment holds functions and itself: whichever the encoder
      -- meets first (pairs order) is the error.
      reply = task.run_request { code = "return _G" }
      assert.is_false(reply.ok)
      assert.is_truthy(reply.error:match("^cannot serialise a function at result%[1%]%.")
        or reply.error:match("^cyclic table at result%[1%]%._G$"), reply.error)
    end)

    it("23: module", function()
      fails("module('evil')", "attempt to call global 'module' %(a nil value%)")
    end)

    it("24: dofile and loadfile", function()
      fails("dofile('/etc/passwd')", "attempt to call global 'dofile' %(a nil value%)")
      fails("loadfile('/etc/passwd')", "attempt to call global 'loadfile' %(a nil value%)")
    end)

    it("25: _G is not the real globals, and changes stay in the task", function()
      run_ok [[
        leaked_global = "oops"
        _G.print = nil
        table.insert = nil
        math.floor = function() return -1 end
        coroutine.create = nil
        os.time = nil
      ]]
      assert.is_nil(rawget(_G, "leaked_global"))
      assert.is_function(table.insert)
      assert.are.equal(1, math.floor(1.5))
      assert.is_function(coroutine.create)
      assert.is_function(os.time)
      local _, values = run_ok [[
        return leaked_global, type(print), type(table.insert), math.floor(1.5), type(os.time),
          _G == _G._G, type(rawget(_G, "jit")), type(rawget(_G, "setfenv"))
      ]]
      assert.are.same({ nil, "function", "function", 1, "function", true, "nil", "nil" }, values)
    end)

    it("26: jit.off", function()
      local before = jit.status()
      fails("jit.off()", "attempt to index global 'jit' %(a nil value%)")
      fails("require('jit').off()", "attempt to call global 'require'")
      assert.are.equal(before, jit.status())
    end)

    it("27: rawset of protected tables", function()
      fails("local t = setmetatable({}, { __metatable = 'locked' }) rawset(t, 'x', 1)", "rawset: table is protected")
    end)

    it("28: bytecode as the task code itself", function()
      local bc = string.dump(function() return os end)
      fails(bc, "task code is bytecode, which is not allowed")
    end)

    it("29: gcinfo, getfenv via pcall, and other unlisted globals are absent", function()
      local _, values = run_ok [[
        local absent = {}
        for _, name in ipairs { "getfenv", "setfenv", "require", "module", "package", "debug", "ffi", "jit",
            "dofile", "loadfile", "newproxy", "gcinfo", "io.open", "io.popen", "io.lines", "io.read" } do
          local v = _G
          for part in name:gmatch("[^.]+") do v = v and v[part] end
          if v == nil then absent[#absent + 1] = name end
        end
        return #absent
      ]]
      assert.are.same({ 16 }, values)
    end)
  end)
end)

describe("mesos.sandbox read_dir", function()
  local dir
  setup(function()
    dir = tmp_path()
    assert(os.execute("mkdir -p " .. dir .. "/sub") == 0)
    local f = assert(io.open(dir .. "/data.txt", "w"))
    f:write("line one\nline two\n")
    f:close()
    f = assert(io.open(dir .. "/sub/inner.txt", "w"))
    f:write("inner")
    f:close()
    -- What a hostile archive could leave in a sandbox.
    assert(os.execute("ln -s /etc/passwd " .. dir .. "/passwd-link") == 0)
    assert(os.execute("ln -s .. " .. dir .. "/up") == 0)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("reads files inside the directory, by relative or absolute path", function()
    local opts = { read_dir = dir }
    local n, v = run_ok([[
      local f = assert(io.open("data.txt"))
      local all = f:read("*a")
      f:close()
      local lines = {}
      for l in io.lines("data.txt") do lines[#lines + 1] = l end
      return all, #lines, io.open(...):read("*a"), io.open("sub/../sub/inner.txt", "rb"):read(3)
    ]], { read_dir = dir, args = { dir .. "/sub/inner.txt" } })
    assert.are.equal(4, n)
    assert.are.same({ "line one\nline two\n", 2, "inner", "inn" }, { v[1], v[2], v[3], v[4] })
    -- A handle is a plain table: no FILE* metatable to tamper with.
    n, v = run_ok([[ local f = io.open("data.txt") return type(f), getmetatable(f) == nil ]], opts)
    assert.are.same({ "table", true }, { v[1], v[2] })
  end)

  it("refuses everything outside it, and writing", function()
    local opts = { read_dir = dir }
    for _, path in ipairs { "/etc/passwd", "../../../../../../../../../../etc/passwd", "passwd-link",
        "up", "up/", "/" } do
      local _, v = run_ok("return io.open(...)", { read_dir = dir, args = { path } })
      assert.is_nil(v[1], path)
      assert.is_string(v[2], path)
      assert.matches("outside the task's sandbox", v[2], nil, true)
    end
    -- A symlink that leads back inside is fine: the real path decides.
    local _, back = run_ok("return io.open(...):read('*l')", { read_dir = dir, args = { "up/" .. dir:match("[^/]+$") .. "/data.txt" } })
    assert.are.equal("line one", back[1])
    fails([[ io.open("data.txt", "w") ]], "tasks may only read", opts)
    fails([[ io.open("data.txt", "a+") ]], "tasks may only read", opts)
    fails([[ for l in io.lines("passwd-link") do end ]], "outside the task's sandbox", opts)
    local _, v = run_ok([[ return io.open("missing.txt") ]], opts)
    assert.matches("No such file", v[2])
    -- Without read_dir there is no io.open at all.
    fails([[ io.open("data.txt") ]], "attempt to call field 'open'")
  end)
end)

describe("mesos.task", function()
  it("run_request returns a reply with values and output", function()
    local reply = task.run_request { code = "print('hi', ...) return TASK_INDEX, nil, { ... }", args = { "a", 2 }, index = 3 }
    assert.are.same({ ok = true, n = 3, values = { 3, nil, { "a", 2 } }, output = "hi\ta\t2\n" }, reply)
    local back = S.decode(task.encode_reply(reply))
    assert.are.same(reply, back)
  end)

  it("run_request returns an error reply with the traceback and the output so far", function()
    local reply = task.run_request { code = "print('before')\nerror('bad thing')" }
    assert.is_false(reply.ok)
    assert.matches("^task:2: bad thing\nstack traceback:\n", reply.error)
    assert.are.equal("before\n", reply.output)
  end)

  it("run_request refuses bad requests", function()
    assert.are.same({ ok = false, error = "bad request: code must be a string", output = "" },
      task.run_request { code = 42 })
    assert.are.equal("bad request: expected a table, got string", task.run_request("x").error)
    assert.are.equal("bad request: args must be a table", task.run_request({ code = "", args = 1 }).error)
  end)

  it("run_request keeps the whole reply within max_result_bytes", function()
    local reply = task.run_request { code = "return string.rep('x', 5000)", max_result_bytes = 4096 }
    assert.is_false(reply.ok)
    assert.matches("^result too big: over the limit of 4096 bytes %(max_result_bytes%) for the reply, output included "
      .. "%(encoding exceeds max_bytes %(%d+%) at result%[1%]%)$", reply.error)
    -- printed output is cut at a quarter of the limit and counts against it
    reply = task.run_request { code = "io.write(string.rep('p', 3000)) return string.rep('x', 2000)",
      max_result_bytes = 4096 }
    assert.is_true(reply.ok)
    assert.are.equal(string.rep("p", 1024) .. "\n[output truncated]\n", reply.output)
    assert.is_true(#task.encode_reply(reply, 4096) <= 4096)
    reply = task.run_request { code = "return string.rep('x', 1000)" }
    assert.is_true(reply.ok)
    local big = { ok = true, n = 1, values = { string.rep("x", 5000) }, output = "" }
    local back = S.decode(task.encode_reply(big, 4096))
    assert.is_false(back.ok)
    assert.matches("^cannot encode the reply: encoding exceeds max_bytes %(4096%) at reply%.values%[1%]", back.error)
  end)

  it("run_request passes allow_bytecode and allow_env through", function()
    local bc = string.dump(loadstring("return 5"))
    assert.is_false(task.run_request({ code = bc }).ok)
    assert.are.same({ 5 }, task.run_request({ code = bc, allow_bytecode = true }).values)
    assert.is_false(task.run_request({ code = "return os.getenv('HOME')" }).ok)
    assert.is_true(task.run_request({ code = "return os.getenv('HOME')", allow_env = true }).ok)
  end)

  it("main reads one request on stdin, writes one reply on stdout and exits 0", function()
    local req_path, reply_path = os.tmpname(), os.tmpname()
    local function run_main(bytes)
      local f = assert(io.open(req_path, "wb"))
      f:write(bytes)
      f:close()
      local cmd = ("LUA_PATH='%s' luajit -e 'require(\"mesos.task\").main()' < %s > %s; echo $?")
        :format(package.path, req_path, reply_path)
      local p = assert(io.popen(cmd))
      local rc = p:read("*a")
      p:close()
      f = assert(io.open(reply_path, "rb"))
      local reply = f:read("*a")
      f:close()
      return tonumber(rc), assert(S.decode(reply))
    end
    local rc, reply = run_main(S.encode { code = "print('out') return 6 * 7, nil, 'x\\0y'", args = {} })
    assert.are.equal(0, rc)
    assert.are.same({ ok = true, n = 3, values = { 42, nil, "x\0y" }, output = "out\n" }, reply)

    rc, reply = run_main(S.encode { code = "return print" })
    assert.are.equal(0, rc)
    assert.are.same({ ok = false, error = "cannot serialise a function at result[1]", output = "" }, reply)

    rc, reply = run_main(S.MARKER .. "garbage")
    assert.are.equal(0, rc)
    assert.is_false(reply.ok)
    assert.matches("^bad request: decode: bad tag", reply.error)

    rc, reply = run_main("garbage")
    assert.are.equal(0, rc)
    assert.is_false(reply.ok)
    assert.matches("^bad request: decode: no format version marker", reply.error)
    os.remove(req_path)
    os.remove(reply_path)
  end)
end)
