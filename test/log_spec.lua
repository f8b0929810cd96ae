-- The Rust side's one log sink: stderr by default with the level from
-- LUA_MESOS_LOG, or routed into a Lua function by mesos.set_log.
local h = require "test.helpers"
local mesos = h.mesos

-- A scheduler on a fresh local cluster, stopped once subscribed.
local function subscribe_and_stop()
  local subscribed = false
  local driver = mesos.scheduler({ subscribed = function() subscribed = true end },
    { master = "local", local_cluster = h.local_opts() })
  driver:start()
  h.wait_until(driver, function() return subscribed end, 20, "SUBSCRIBED")
  driver:stop()
  return driver
end

describe("logging", function()
  after_each(function() mesos.set_log("warn", nil) end)

  it("set_log(level, fn) routes driver and cluster records into Lua, on the Lua thread", function()
    local got = {}
    mesos.set_log("info", function(level, message, source)
      got[#got + 1] = { level = level, message = message, source = source }
    end)
    assert.are.equal("info", mesos.log_level())
    local driver = subscribe_and_stop()
    h.poll_for(driver, 0.1)
    local seen = {}
    for _, r in ipairs(got) do
      assert.are.equal("string", type(r.message))
      seen[r.source .. ":" .. r.level] = true
      if r.source == "scheduler" and r.message:find("event stream open at http://127.0.0.1:", 1, true) then
        seen.stream = true
      end
    end
    assert.is_true(seen.stream, "no 'event stream open' record")
    assert.is_true(seen["master:info"], "no record from the embedded master")
  end)

  it("records below the level are not delivered; mesos.log uses the same sink", function()
    local got = {}
    mesos.set_log("warn", function(level, message, source) got[#got + 1] = source .. ":" .. level .. ":" .. message end)
    mesos.log("info", "quiet")
    mesos.log("error", "loud")
    assert.are.equal(1, mesos.flush_log())
    assert.are.same({ "lua:error:loud" }, got)
    mesos.set_log("off", function(_, m) got[#got + 1] = m end)
    mesos.log("error", "nothing")
    assert.are.equal(0, mesos.flush_log())
    assert.are.equal("off", mesos.log_level())
  end)

  it("a failing log function does not break the driver's loop", function()
    mesos.set_log("info", function() error("logger exploded") end)
    assert.are.equal("stopped", subscribe_and_stop():state())
  end)

  it("misuse raises", function()
    assert.has_error(function() mesos.set_log("loud") end, "mesos.set_log: unknown log level \"loud\" (off, error, warn, info, debug, trace)")
    assert.has_error(function() mesos.set_log("info", 42) end, "mesos.set_log: the sink must be a function (or nil for stderr), got integer")
    assert.has_error(function() mesos.set_log({}) end, "mesos.set_log: level must be a string, got table")
    assert.has_error(function() mesos.log("off", "x") end)
  end)

  it("LUA_MESOS_LOG sets the level of the default stderr sink", function()
    local cmd = "luajit examples/command_task.lua 2>&1 >/dev/null"
    local info = h.sh("LUA_MESOS_LOG=info " .. cmd, false)
    assert.truthy(info:find("mesos[scheduler] info: event stream open at", 1, true), info)
    assert.truthy(info:find("mesos[master] info: framework ", 1, true), info)
    local default = h.sh("unset LUA_MESOS_LOG; " .. cmd, false)
    assert.falsy(default:find("info:", 1, true), default)
    local off = h.sh("LUA_MESOS_LOG=off " .. cmd, false)
    assert.are.equal("", off)
  end)
end)
