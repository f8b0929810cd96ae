-- HTTP Basic authentication of schedulers (the Mesos master's
-- --authenticate_http_frameworks with --credentials): our driver with
-- opts.principal/secret or opts.credential_file, mesolua, pymesos
-- (unchanged, from PyPI) with its principal/secret, and the refusals.
-- Shared by test/auth_spec.lua (bin/mesos-local) and
-- test/real/auth_spec.lua (real Mesos).
--
-- `target`:
--   name          what the describe block says it runs against
--   start(path)   starts a master that takes the credentials of the JSON
--                 file `path`; returns { master = "host:port", stop = fn }
local h = require "test.helpers"
local mesos = h.mesos

local SECRET = "s3cret-kitesurf"

-- Runs a scheduler until it subscribes or stops; returns what it saw.
local function try_subscribe(opts)
  local rec = { disconnected = {} }
  local handler = {}
  function handler:subscribed(d, info) rec.framework_id = info.framework_id.value; d:stop() end
  function handler:disconnected(d, why) table.insert(rec.disconnected, why) end
  function handler:stopped(d, why) rec.stopped = why end
  local d = mesos.scheduler(handler, opts)
  d:start()
  h.wait_until(d, function() return d:state() == "stopped" and d:pending() == 0 end, 20, "the driver to stop")
  return rec
end

local function define(target)
describe("HTTP Basic authentication on " .. target.name, function()
  local dir, ml, master

  setup(function()
    dir = h.tmpdir()
    local f = assert(io.open(dir .. "/credentials.json", "w"))
    f:write(('{"credentials": [{"principal": "alice", "secret": "%s"}, {"principal": "bob", "secret": "x"}]}'):format(SECRET))
    f:close()
    f = assert(io.open(dir .. "/alice", "w"))
    f:write("alice " .. SECRET .. "\n")
    f:close()
    ml = target.start(dir .. "/credentials.json")
    master = ml.master
  end)

  teardown(function()
    if ml then assert(ml.stop(), "the master did not exit on SIGTERM") end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("subscribes with opts.principal and opts.secret", function()
    local rec = try_subscribe { master = master, principal = "alice", secret = SECRET }
    assert.truthy(rec.framework_id, table.concat(rec.disconnected, "; "))
  end)

  it("subscribes with opts.credential_file", function()
    local rec = try_subscribe { master = master, credential_file = dir .. "/alice" }
    assert.truthy(rec.framework_id, table.concat(rec.disconnected, "; "))
  end)

  it("stops with one clear error on a wrong secret, without retrying and without the secret in it", function()
    local logs = {}
    mesos.set_log("trace", function(_, m) logs[#logs + 1] = m end)
    local rec = try_subscribe { master = master, principal = "alice", secret = "wrong-" .. SECRET }
    mesos.flush_log()
    mesos.set_log("warn", nil)
    assert.is_nil(rec.framework_id)
    assert.are.equal(1, #rec.disconnected, table.concat(rec.disconnected, "; "))
    assert.matches("authentication failed: .* answered HTTP 401; the credentials of principal 'alice' were refused", rec.disconnected[1])
    assert.matches("authentication failed", rec.stopped)
    for _, text in ipairs(logs) do assert.falsy(text:find("kitesurf", 1, true), text) end
    assert.is_true(#logs > 0)
  end)

  it("says so when no credentials were given", function()
    local rec = try_subscribe { master = master }
    assert.matches("no credentials were given", rec.disconnected[1])
  end)

  it("mesolua --credential-file runs a task; a wrong one fails clearly", function()
    local out, code = h.sh(("bin/mesolua --master=%s --credential-file=%s/alice -e 'return 6 * 7'"):format(master, dir), false)
    assert.are.equal(0, code, out)
    assert.are.equal("42\n", out)
    local f = assert(io.open(dir .. "/wrong", "w"))
    f:write("alice nope\n")
    f:close()
    out, code = h.sh(("bin/mesolua --master=%s --credential-file=%s/wrong -e 'return 1' 2>&1"):format(master, dir), false)
    assert.are_not.equal(0, code)
    assert.matches("authentication failed", out)
    assert.falsy(out:find("nope", 1, true), out)
  end)

  it("pymesos authenticates with its principal and secret", function()
    local out, code = h.sh("test/pymesos/setup")
    assert(code == 0, "pymesos setup failed:\n" .. out)
    out, code = h.sh(("PYMESOS_PRINCIPAL=alice PYMESOS_SECRET=%s timeout 90 target/pymesos-venv/bin/python test/pymesos/scheduler.py %s"):format(SECRET, master))
    assert(code == 0, "pymesos scheduler failed:\n" .. out)
    assert.matches("update pymesos%-task TASK_FINISHED", out)
  end)

  it("rejects bad credential options", function()
    assert.has_error(function() mesos.scheduler({}, { master = master, secret = "x" }) end,
      "mesos.scheduler: opts.secret needs opts.principal")
    assert.has_error(function() mesos.scheduler({}, { master = master, principal = "a:b", secret = "x" }) end,
      "mesos.scheduler: credential: a principal must be a non-empty string without ':'")
    assert.has_error(function() mesos.scheduler({}, { master = master, principal = "a", credential_file = dir .. "/alice" }) end,
      "mesos.scheduler: give opts.principal or opts.credential_file, not both")
    local ok, err = pcall(mesos.scheduler, {}, { master = master, credential_file = dir .. "/missing" })
    assert.is_false(ok)
    assert.matches("cannot read credentials file .*/missing", err)
    local f = assert(io.open(dir .. "/bad", "w"))
    f:write("alice " .. SECRET .. " extra\n")
    f:close()
    ok, err = pcall(mesos.scheduler, {}, { master = master, credential_file = dir .. "/bad" })
    assert.is_false(ok)
    assert.matches("line 1: expected \"principal secret\"", err)
    assert.falsy(err:find(SECRET, 1, true), err)
  end)
end)
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
