-- mesos.debugger: the MobDebug debuggee side. Unit tests drive a session
-- over a scripted in-memory connection; the end-to-end tests run
-- `mesolua --debug` on the embedded local cluster against a scripted
-- controller (examples/mobdebug_controller.lua) on loopback.
local h = require "test.helpers"
local mesos = h.mesos
local debugger = require "mesos.debugger"
local sandbox = require "mesos.sandbox"
local controller = require "examples.mobdebug_controller"

local ROOT = os.getenv("PWD") or "."

-- A connection that answers receive() with `commands` in order (then
-- "closed") and records what is sent. receive() without waiting (timeout
-- 0) hands out the `async` lines, one per call, or with `eager` the next
-- command (as if the controller had sent them all already).
local function fake_conn(commands, async, eager)
  local c = { sent = {}, i = 0, async = async or {} }
  function c:send(s)
    if self.closed then return nil, "closed" end
    self.sent[#self.sent + 1] = s
    return #s
  end
  function c:settimeout(t) self.nonblocking = t == 0 end
  function c:receive(p)
    if self.closed then return nil, "closed" end
    if type(p) == "number" then return ("x"):rep(p) end
    if self.nonblocking then
      local l = table.remove(self.async, 1)
      if l then return l end
      if eager and commands[self.i + 1] then
        self.i = self.i + 1
        return commands[self.i]
      end
      return nil, "timeout"
    end
    self.i = self.i + 1
    local l = commands[self.i]
    if l == nil then return nil, "closed" end
    return l
  end
  function c:close() self.closed = true end
  return c
end

-- Runs `code` (named "@unit.lua") under a session fed with `commands`.
-- Returns the sandbox's results and the replies sent.
local function debug_run(code, commands, opts)
  opts = opts or {}
  local conn = fake_conn(commands, opts.async, opts.eager)
  local s = debugger.new(conn, { root = opts.root, on_exit = opts.on_exit })
  -- As in a debugged task: line hooks are only reliable without the JIT.
  local jit_was_on = jit.status()
  jit.off()
  jit.flush()
  s:start()
  local r = { sandbox.run(code, {
    chunkname = opts.chunkname or "@unit.lua", args = opts.args,
    on_output = function(x) return s:output(x) end,
  }) }
  s:finish(r[1], r[2])
  if jit_was_on then jit.on() end
  return r, conn.sent, s
end

local function payload_values(reply)
  local size, payload = reply:match("^200 OK (%d+)\n(.*)$")
  assert(size and #payload == tonumber(size), reply)
  local list = assert(controller.deserialise(payload))
  local out = {}
  for i, text in ipairs(list) do
    local v, err = controller.deserialise("return " .. text)
    assert(err == nil, err)
    out[i] = v
  end
  return out, list
end

local function stack_of(reply)
  local chunk = assert(reply:match("^200 OK (.+)\n$"), reply)
  return assert(controller.deserialise(chunk))
end

local CODE = table.concat({
  "local a = 40",                   -- 1
  "local function add(x, y)",       -- 2
  "  local s = x + y",              -- 3
  "  return s",                     -- 4
  "end",                            -- 5
  "local b = add(a, 2)",            -- 6
  "print('b is', b)",               -- 7
  "return b * 2",                   -- 8
}, "\n")

describe("mesos.debugger protocol", function()
  it("parses controller addresses", function()
    assert.are.same({ "devbox", 8172 }, { debugger.parse_address("devbox:8172") })
    assert.are.same({ "::1", 9 }, { debugger.parse_address("[::1]:9") })
    for _, bad in ipairs { "devbox", "devbox:0", "devbox:70000", ":8172", "a:b", 8172 } do
      local ok, err = debugger.parse_address(bad)
      assert.is_nil(ok)
      assert.matches("expected \"host:port\"", err, 1, true)
    end
  end)

  it("serialises values as one-line Lua literals that read back", function()
    local t = { 1, "two\nlines\0and\r", 3.5, nil, 5, x = { y = true }, ["not id"] = 0 / 0, [true] = -math.huge }
    t.self = t
    local text = debugger.literal(t)
    assert.is_nil(text:find("\n"))
    local back = assert(controller.deserialise("return " .. text))
    assert.are.equal("two\nlines\0and\r", back[2])
    assert.are.equal(3.5, back[3])
    assert.is_nil(back[4])
    assert.are.equal(5, back[5])
    assert.is_true(back.x.y)
    assert.is_true(back["not id"] ~= back["not id"])
    assert.are.equal(-math.huge, back[true])
    assert.is_nil(back.self) -- a cycle
    assert.matches("^function%(%) ", debugger.literal(print))
    assert.matches("^nil %-%-%[%[thread", debugger.literal(coroutine.create(print)))
    assert.are.equal("{a = {} --[[maxlvl]]}", debugger.literal({ a = { b = 1 } }, { maxlevel = 1 }))
    assert.are.equal("{1, 2}", debugger.literal({ 1, 2, 3 }, { maxnum = 2 }))
    assert.matches("^{} %-%-%[%[table: ", debugger.literal({}, { comment = 1 }))
    assert.are.equal("0.1", debugger.literal(0.1, { numformat = "%.16g" }))
    assert.are.equal("{[\"end\"] = 1}", debugger.literal({ ["end"] = 1 }))
  end)

  it("stops at a breakpoint, evaluates, reads the stack, steps in, out and over", function()
    local r, sent = debug_run(CODE, {
      "BASEDIR /proj/", "SETB unit.lua 6", "RUN",
      "EXEC return a", "STACK", "STEP",
      "EXEC return x, y, s", "STACK", "OUT", "OVER", "EXEC return b",
      "LOAD 3 unit.lua", "RUN",
    }, { root = "/proj" })
    assert.is_true(r[1], r[2])
    assert.are.equal(84, r[3][1])
    assert.are.equal("b is\t42\n", r[4])
    assert.are.same({ "200 OK\n", "200 OK\n", "200 OK\n", "202 Paused unit.lua 6\n" }, { unpack(sent, 1, 4) })
    assert.are.same({ 40 }, payload_values(sent[5]))
    local frames = stack_of(sent[6])
    assert.are.equal(1, #frames)
    assert.are.same({ nil, "unit.lua", 0, 6, "main", "", "unit.lua" }, frames[1][1])
    assert.are.same({ 40, "40" }, frames[1][2].a)
    assert.are.same({ "200 OK\n", "202 Paused unit.lua 3\n" }, { sent[7], sent[8] })
    local v, list = payload_values(sent[9])
    assert.are.same({ 40, 2 }, v)
    assert.are.same({ "40", "2", "nil" }, list)
    frames = stack_of(sent[10])
    assert.are.equal(2, #frames)
    assert.are.same({ "add", "unit.lua", 2, 3, "Lua", "local", "unit.lua" }, frames[1][1])
    assert.are.same({ 2, "2" }, frames[1][2].y)
    assert.are.equal(6, frames[2][1][4])
    assert.are.same({ "200 OK\n", "202 Paused unit.lua 7\n", "200 OK\n", "202 Paused unit.lua 8\n" },
      { unpack(sent, 11, 14) })
    assert.are.same({ 42 }, payload_values(sent[15]))
    assert.are.same({ "201 Started unit.lua 8\n", "200 OK\n" }, { sent[16], sent[17] })
    assert.are.equal(17, #sent)
  end)

  it("EXEC writes assigned locals and upvalues back and sees only the task's globals", function()
    local code = "local n = 1\nlocal function f()\n  return n\nend\nlocal m = 2\nreturn f() + m, TASK_INDEX"
    local r, sent = debug_run(code, {
      "SETB unit.lua 3", "RUN",
      "EXEC n = 10", "EXEC m = m * 5 --{stack = 2}",
      "EXEC return TASK_INDEX, io.popen, os.execute, debug, require, jit, _G == getfenv",
      "EXEC error('nope')", "EXEC return (", "EXEC return ... --{stack = 2}", "RUN",
    }, { args = { "p", "q" } })
    assert.is_true(r[1], r[2])
    assert.are.same({ 20, nil }, r[3])
    assert.are.equal("202 Paused unit.lua 3\n", sent[3])
    assert.are.same({ "200 OK 9\nreturn {}", "200 OK 9\nreturn {}" }, { sent[4], sent[5] })
    assert.are.same({ "nil", "nil", "nil", "nil", "nil", "nil", "false" }, select(2, payload_values(sent[6])))
    assert.matches("^401 Error in Expression %d+\n.*nope", sent[7])
    assert.matches("^401 Error in Expression %d+\n.*expected", sent[8])
    assert.are.same({ "p", "q" }, payload_values(sent[9]))
  end)

  it("answers sensibly to watches, output modes, bad commands and DONE", function()
    local code = "local t = 0\nfor i = 1, 5 do\n  t = t + i\n  print(i)\nend\nreturn t"
    local r, sent = debug_run(code, {
      "SETW t >= 6", "SETW (", "DELW 9", "FROB", "OUTPUT stderr r", "OUTPUT stdout r", "RUN",
      "EXEC return t, i", "DELW 1", "OUTPUT stdout c", "SETB - 4", "RUN", "DONE",
    })
    assert.is_true(r[1], r[2])
    assert.are.equal(15, r[3][1])
    assert.are.equal("200 OK 1\n", sent[1])
    assert.matches("^401 Error in Expression %d+\n", sent[2])
    assert.are.same({ "400 Bad Request\n", "400 Bad Request\n", "400 Bad Request\n", "200 OK\n", "200 OK\n" },
      { unpack(sent, 3, 7) })
    -- printed 1, 2 (redirected), then t became 6 at i = 3
    assert.are.same({ "204 Output stdout 2\n1\n", "204 Output stdout 2\n2\n", "203 Paused unit.lua 4 1\n" },
      { unpack(sent, 8, 10) })
    assert.are.same({ 6, 3 }, payload_values(sent[11]))
    -- copy mode: sent and kept; then the breakpoint on the current file's line 4
    assert.are.same({ "200 OK\n", "200 OK\n", "200 OK\n", "200 OK\n", "204 Output stdout 2\n3\n",
      "202 Paused unit.lua 4\n" }, { unpack(sent, 12, 17) })
    assert.are.equal(17, #sent) -- DONE: no reply, the task ran on undebugged
    assert.are.equal("3\n4\n5\n", r[4])
  end)

  it("applies breakpoints and SUSPEND that arrive while the task runs", function()
    local saved = debugger.CHECK_EVERY
    debugger.CHECK_EVERY = 5
    finally(function() debugger.CHECK_EVERY = saved end)
    local code = "local n = 0\nfor i = 1, 100000 do\n  n = n + 1\nend\nlocal done = true\nreturn n"
    local r, sent = debug_run(code, { "RUN", "EXEC return n", "DELB unit.lua 5", "RUN" },
      { async = { "SETB unit.lua 5", "SUSPEND" } })
    assert.is_true(r[1], r[2])
    assert.are.equal(100000, r[3][1])
    assert.matches("^202 Paused unit.lua [23]\n$", sent[2])
    assert.is_true(payload_values(sent[3])[1] < 100000)
    assert.are.same({ "200 OK\n", "200 OK\n" }, { sent[4], sent[5] })
    assert.are.equal(5, #sent) -- the breakpoint on line 5 was removed again
  end)

  it("answers every command sent before the first pause", function()
    local saved = debugger.CHECK_EVERY
    debugger.CHECK_EVERY = 1
    finally(function() debugger.CHECK_EVERY = saved end)
    local r, sent = debug_run("local a = 1\nlocal b = 2\nreturn a + b", { "BASEDIR /x/", "SETB unit.lua 2", "RUN" },
      { eager = true })
    assert.is_true(r[1], r[2])
    assert.are.same({ "200 OK\n", "200 OK\n", "200 OK\n", "202 Paused unit.lua 2\n" }, sent)
  end)

  it("steps into coroutines, and over and out of them", function()
    local code = table.concat({
      "local co = coroutine.create(function(a)", -- 1
      "  local b = coroutine.yield(a + 1)",      -- 2
      "  return b * 2",                          -- 3
      "end)",                                    -- 4
      "local _, x = coroutine.resume(co, 1)",    -- 5
      "local _, y = coroutine.resume(co, x)",    -- 6
      "return x, y",                             -- 7
    }, "\n")
    local r, sent = debug_run(code, {
      "SETB unit.lua 5", "RUN", "STEP", "EXEC return a", "OVER", "EXEC return x",
      "STEP", "EXEC return b", "OUT", "OVER", "RUN",
    })
    assert.is_true(r[1], r[2])
    assert.are.same({ 2, 4 }, { r[3][1], r[3][2] })
    local paused = {}
    for _, s in ipairs(sent) do paused[#paused + 1] = s:match("^202 Paused unit.lua (%d+)") end
    -- 5, into the coroutine at 2, over the yield back in the resumer at 6,
    -- into the coroutine again (resumed at 3), out to the resumer at 7
    assert.are.same({ "5", "2", "6", "3", "7" }, paused)
  end)

  it("reports a task error to a waiting controller, and survives a lost controller", function()
    local r, sent = debug_run("local x = 1\nerror('broken ' .. x)", { "RUN" })
    assert.is_false(r[1])
    assert.matches("^401 Error in Execution %d+\nunit.lua:2: broken 1", sent[2])
    r = debug_run("local x = 1\nreturn x + 1", {}) -- the controller is gone at the first line
    assert.is_true(r[1])
    assert.are.equal(2, r[3][1])
  end)

  it("ends the task on EXIT", function()
    local exited
    local r, sent = debug_run("local x = 1\nreturn x", { "EXIT" }, { on_exit = function() exited = true end })
    assert.is_true(exited)
    assert.is_false(r[1])
    assert.matches("the controller ended the task", r[2], 1, true)
    assert.are.same({ "200 OK\n" }, sent)
  end)

  it("names files: =task, @path, and paths under BASEDIR", function()
    local s = debugger.new(fake_conn {}, { root = "/home/me/proj" })
    assert.are.equal("task", s:file_of("=task"))
    assert.are.equal("sub/x.lua", s:file_of("@./sub/x.lua"))
    assert.are.equal("/abs/x.lua", s:file_of("@/abs/x.lua"))
    s.basedir, s.files = "/home/me/", {}
    assert.are.equal("proj/sub/x.lua", s:file_of("@./sub/x.lua"))
    assert.are.equal("proj/y.lua", s:file_of("@sub/../y.lua"))
    assert.are.equal("/abs/x.lua", s:file_of("@/abs/x.lua"))
    assert.are.equal('"return 1\\nreturn 2"', s:file_of("return 1\nreturn 2"))
  end)

  it("run_request connects, turns the JIT off only for debugged tasks, and rejects a bad address", function()
    local task = require "mesos.task"
    local before = jit.status()
    assert.is_true(task.run_request({ code = "return 1" }).ok)
    assert.are.equal(before, jit.status())
    local saved = debugger.connect
    local addr
    debugger.connect = function(a, opts)
      addr = a
      return debugger.new(fake_conn { "RUN" }, opts)
    end
    finally(function()
      debugger.connect = saved
      if before then jit.on() end
    end)
    local reply = task.run_request { code = "return TASK_INDEX", index = 3, debug = "devbox:8172" }
    assert.are.same({ ok = true, n = 1, values = { 3 }, output = "" }, reply)
    assert.are.equal("devbox:8172", addr)
    assert.is_false(jit.status())
    debugger.connect = saved
    reply = task.run_request { code = "return 1", debug = "nowhere" }
    assert.is_false(reply.ok)
    assert.matches('debug address: expected "host:port"', reply.error, 1, true)
  end)
end)

-- mesolua in the background: returns its pid and a function that waits
-- for it to exit and returns stdout, stderr and the exit code.
local function start_mesolua(dir, args)
  local errf = os.tmpname()
  local p = assert(io.popen(("cd %s && sh -c 'echo $$; exec \"$0\" \"$@\"' %s/bin/mesolua %s 2>%s; echo \"rc=$?\"")
    :format(dir, ROOT, args, errf)))
  local pid = assert(tonumber(p:read("*l")))
  local function wait()
    local out = p:read("*a")
    p:close()
    local err = h.read_file(errf) or ""
    os.remove(errf)
    local rc = tonumber(out:match("rc=(%d+)%s*$"))
    return out:gsub("rc=%d+%s*$", ""), err, rc
  end
  return pid, wait
end

local SCRIPT = table.concat({
  "local function square(n)",          -- 1
  "  local sq = n * n",                -- 2
  "  return sq",                       -- 3
  "end",                               -- 4
  "local total = 0",                   -- 5
  "for i = 1, 3 do",                   -- 6
  "  total = total + square(i)",       -- 7
  "end",                               -- 8
  "print('total', total)",             -- 9
  "return total + tonumber((...))",    -- 10
}, "\n") .. "\n"

describe("mesolua --debug", function()
  local dir
  setup(function()
    dir = h.tmpdir()
    local f = assert(io.open(dir .. "/script.lua", "w"))
    f:write(SCRIPT)
    f:close()
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  -- Starts mesolua against a fresh controller; `drive(ctl)` talks to the
  -- task. Whatever happens, the controller is closed and mesolua stopped.
  local function session(args, drive)
    local ctl = controller.listen()
    local pid, wait = start_mesolua(dir, ("--debug 127.0.0.1:%d --quiet %s"):format(ctl.port, args))
    local finished = false
    finally(function()
      ctl:close()
      if not finished then
        os.execute("kill " .. pid .. " 2>/dev/null")
        wait()
      end
    end)
    ctl:accept()
    drive(ctl)
    local out, err, rc = wait()
    finished = true
    return out, err, rc
  end

  -- mesolua printed task 1's empty line and failed with its `message`.
  local function assert_failed(out, err, rc, message)
    assert.are.equal(1, rc)
    assert.are.equal("\n", out)
    assert.matches("task 1 failed: " .. message, err, 1, true)
  end

  it("stops at a breakpoint in the script, evaluates locals, steps and runs to the right result", function()
    local out, err, rc = session("--timeout 120 script.lua 100", function(ctl)
      assert.are.equal("200 OK", ctl:command("BASEDIR " .. dir .. "/"))
      assert.are.equal("200 OK", ctl:command("SETB script.lua 7"))
      assert.are.equal("200 OK", ctl:command("OUTPUT stdout r"))
      assert.are.equal("201 Started script.lua 4", ctl:command("LOAD 0 script.lua"))
      local at = ctl:resume("RUN")
      assert.are.same({ paused = true, file = "script.lua", line = 7 }, at)
      assert.are.equal(0, (ctl:eval("total")))
      assert.are.equal(1, (ctl:eval("i")))
      local frames = ctl:stack("{maxlevel = 1}")
      assert.are.same({ nil, "script.lua", 0, 7, "main", "", "script.lua" }, frames[1][1])
      assert.are.equal(0, frames[1][2].total[1])
      at = ctl:resume("STEP")
      assert.are.same({ paused = true, file = "script.lua", line = 2 }, at)
      assert.are.equal(1, (ctl:eval("n")))
      assert.are.equal("square", ctl:stack()[1][1][1])
      at = ctl:resume("OVER")
      assert.are.equal(3, at.line)
      assert.are.equal(1, (ctl:eval("sq")))
      at = ctl:resume("OUT") -- back in the caller, before its assignment
      assert.are.same({ paused = true, file = "script.lua", line = 7 }, at)
      assert.are.equal(0, (ctl:eval("total")))
      at = ctl:resume("OVER") -- the loop's next round
      assert.are.same({ paused = true, file = "script.lua", line = 6 }, at)
      assert.are.equal(1, (ctl:eval("total")))
      assert.are.equal("200 OK", ctl:command("DELB script.lua 7"))
      assert.are.same({ finished = true, why = "closed" }, ctl:resume("RUN"))
      assert.are.same({ "total\t14\n" }, ctl.output)
    end)
    assert.are.equal(0, rc, err)
    assert.are.equal("114\n", out)
  end)

  it("names -e code `task` and reports its error to the controller", function()
    local out, err, rc = session([[-e "local x = 6 * 7
error('failed with ' .. x)"]], function(ctl)
      assert.are.equal("200 OK", ctl:command("SETB task 2"))
      assert.are.same({ paused = true, file = "task", line = 2 }, ctl:resume("RUN"))
      assert.are.equal(42, (ctl:eval("x")))
      local r = ctl:resume("RUN")
      assert.matches("^task:2: failed with 42", r.error)
      ctl:wait_closed()
    end)
    assert_failed(out, err, rc, "task:2: failed with 42")
  end)

  it("ends the task when the controller sends EXIT", function()
    local out, err, rc = session("-e 'local x = 1 return x'", function(ctl)
      assert.are.equal("200 OK", ctl:command("EXIT"))
      ctl:wait_closed()
    end)
    assert_failed(out, err, rc, "the debugger controller ended the task (EXIT)")
  end)

  it("fails the task clearly when the controller cannot be reached", function()
    local ctl = controller.listen()
    local port = ctl.port
    ctl:close() -- nothing listens there now
    local out, rc = h.sh(("bin/mesolua --debug 127.0.0.1:%d -e 'return 1' 2>&1"):format(port))
    assert.are.equal(1, rc)
    assert.matches(("task 1 failed: cannot reach the debugger controller at 127.0.0.1:%d"):format(port), out, 1, true)
    local _, code = h.sh("bin/mesolua --debug nowhere -e 'return 1'")
    assert.are.equal(2, code)
    assert.truthy(h.sh("bin/mesolua --help"):find("--debug=HOST:PORT", 1, true))
    assert.has_error(function() mesos.map("return 1", { 1 }, { debug = "nowhere" }) end,
      'opts.debug: expected "host:port", got "nowhere"')
  end)

  it("keeps the task's wall-clock timeout while it is paused", function()
    local out, err, rc = session("--timeout 1 -e 'return 1'", function(ctl)
      ctl:wait_closed() -- paused at the first line until the executor kills it
    end)
    assert_failed(out, err, rc, "task timed out after 1s")
  end)
end)

describe("mesos.map with opts.debug", function()
  it("stops in a mapped function at its line in the scheduler's file", function()
    local dir = h.tmpdir()
    local ctl = controller.listen()
    local f = assert(io.open(dir .. "/map.lua", "w"))
    f:write(table.concat({
      "local mesos = require 'mesos'",
      "local r = assert(mesos.map(function(x)",
      "  local doubled = x * 2",
      "  return doubled + 1",
      "end, { 20 }, { debug = arg[1], timeout = 120 }))",
      "print(r[1])",
    }, "\n"))
    f:close()
    local p = assert(io.popen(("cd %s && sh -c 'echo $$; exec luajit map.lua 127.0.0.1:%d'"):format(dir, ctl.port)))
    local pid = assert(tonumber(p:read("*l")))
    local ok = false
    finally(function()
      ctl:close()
      if not ok then os.execute("kill " .. pid .. " 2>/dev/null") end
      p:close()
      os.execute("rm -rf " .. dir)
    end)
    ctl:accept()
    assert.are.equal("200 OK", ctl:command("BASEDIR " .. dir))
    assert.are.equal("200 OK", ctl:command("SETB map.lua 4"))
    assert.are.same({ paused = true, file = "map.lua", line = 4 }, ctl:resume("RUN"))
    assert.are.equal(40, (ctl:eval("doubled")))
    assert.are.same({ finished = true, why = "closed" }, ctl:resume("RUN"))
    assert.are.equal("41\n", p:read("*a"))
    ok = true
  end)
end)
