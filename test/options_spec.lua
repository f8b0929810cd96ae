-- Option tables are checked at the call site: an unknown key names itself
-- and the option meant, a wrong type names the option, and the error
-- points at the caller's line.
local h = require "test.helpers"
local mesos = h.mesos

-- Calls f, which must raise; returns the message.
local function raised(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "no error")
  return tostring(err)
end

local this_file = "options_spec.lua:"

describe("option tables", function()
  it("mesos.scheduler names an unknown option and the one meant, at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local err = raised(function() mesos.scheduler({}, { master = "m:5050", hearbeat_factor = 3 }) end)
    assert.matches(this_file .. line .. ": mesos.scheduler: unknown option 'hearbeat_factor' (did you mean 'heartbeat_factor'?)", err, 1, true)
    err = raised(function() mesos.scheduler({}, { master = "m:5050", flavour = 1 }) end)
    assert.matches("mesos.scheduler: unknown option 'flavour'$", err)
    err = raised(function() mesos.scheduler({}, { master = "m:5050", [1] = "x" }) end)
    assert.matches("a key of type integer is not an option", err, 1, true)
  end)

  it("a scheduler's local_cluster and mesos.local_cluster check theirs", function()
    local err = raised(function() mesos.scheduler({}, { local_cluster = { agent = 2 } }) end)
    assert.matches("opts.local_cluster: unknown option 'agent' (did you mean 'agents'?)", err, 1, true)
    err = raised(function() mesos.local_cluster { alocation_interval = 1 } end)
    assert.matches("mesos.local_cluster: unknown option 'alocation_interval' (did you mean 'allocation_interval'?)", err, 1, true)
  end)

  it("mesos.executor checks its options, and takes shutdown_watchdog", function()
    local err = raised(function() mesos.executor({}, { agent_endpoint = "127.0.0.1:1", framework_id = "f", executor_id = "e", tokn = "x" }) end)
    assert.matches("mesos.executor: unknown option 'tokn' (did you mean 'token'?)", err, 1, true)
    err = raised(function() mesos.executor({}, { agent_endpoint = "127.0.0.1:1", framework_id = "f", executor_id = "e", shutdown_watchdog = "no" }) end)
    assert.matches("opts.shutdown_watchdog must be a boolean, got string", err, 1, true)
    local d = mesos.executor({}, { agent_endpoint = "127.0.0.1:1", framework_id = "f", executor_id = "e", shutdown_watchdog = false })
    assert.are.equal("idle", d:state())
  end)

  it("mesos.map, mesos.run and jobs check theirs before anything starts", function()
    local jobs = require "mesos.jobs"
    local line = debug.getinfo(1, "l").currentline + 1
    local err = raised(function() mesos.map("return ...", { 1 }, { timout = 1 }) end)
    assert.matches(this_file .. line .. ": mesos.map: unknown option 'timout' (did you mean 'timeout'?)", err, 1, true)
    err = raised(function() mesos.run("return 1", { cpu = 1 }) end)
    assert.matches("mesos.run: unknown option 'cpu' (did you mean 'cpus'?)", err, 1, true)
    err = raised(function() mesos.map("return ...", { 1 }, { timeout = "1s" }) end)
    assert.matches("mesos.map: opts.timeout must be a number, got string", err, 1, true)
    err = raised(function() jobs.run_all({ { code = "return 1" } }, { on_result = true }) end)
    assert.matches("opts.on_result must be a function, got boolean", err, 1, true)
  end)

  it("mesos.router checks its one option", function()
    local err = raised(function() mesos.router { nast = "nats://127.0.0.1:1" } end)
    assert.matches("mesos.router: unknown option 'nast' (did you mean 'nats'?)", err, 1, true)
  end)
end)

describe("misuse errors", function()
  -- Each raises at the line that calls the library, not inside it.
  it("point at the caller's line for driver methods and Rust-written functions", function()
    local d = mesos.scheduler({}, { master = "127.0.0.1:1" })
    local cases = {
      { function() d:kill(7) end, "mesos: bad KILL call: kill.task_id: expected a table (TaskID), got integer" },
      { function() d:message({ value = "a" }, { value = "e" }, 3) end, "mesos: bad MESSAGE call: message.data" },
      { function() d:acknowledge(5) end, "mesos: bad ACKNOWLEDGE call" },
      { function() d:reconcile(5) end, "reconcile: tasks must be a list" },
      { function() d:poll("x") end, "poll: timeout must be a number of seconds, got string" },
      { function() d:events("x") end, "events: timeout must be a number of seconds, got string" },
      { function() mesos.nats(5) end, "mesos.nats: url must be a string, got number" },
      { function() mesos.local_cluster(5) end, "mesos.local_cluster: " },
    }
    for i, c in ipairs(cases) do
      local line = debug.getinfo(c[1], "S").linedefined
      local err = raised(c[1])
      assert.are.equal(1, select(2, err:find(this_file .. line .. ": ", 1, true)) and 1 or 0, ("case %d: %s"):format(i, err))
      assert.matches(c[2], err, 1, true)
      assert.is_nil(err:find("traceback", 1, true), err)
    end
  end)
end)
