-- mesos.executor: a Lua custom executor under the local agent, driven by a
-- Lua scheduler: LAUNCH, UPDATE, ACKNOWLEDGED, MESSAGE both ways, SHUTDOWN.
local h = require "test.helpers"
local mesos = h.mesos

local ROOT = os.getenv("PWD") or "."

-- The scenarios real Mesos runs too (test/real/executor_spec.lua).
require "test.scenarios.executor" {
  name = "the embedded local cluster",
  opts = function(o)
    o.master, o.local_cluster = "local", h.local_opts()
    return o
  end,
}

describe("executor driver", function()
  it("survives an agent restart when checkpointing, losing no update", function()
    local cluster = assert(mesos.local_cluster(h.local_opts { port = 0 }))
    local rec = { states = {} }
    local handler = {}
    function handler:offers(d, offers)
      if rec.launched then return d:decline(offers[1].id) end
      rec.launched = true
      d:launch(offers[1].id, { {
        name = "survivor", task_id = { value = "s1" }, agent_id = offers[1].agent_id,
        resources = mesos.resources.parse("cpus:0.1;mem:32"),
        executor = {
          executor_id = { value = "survivor" },
          command = { value = ("luajit %s/test/executors/survivor.lua"):format(ROOT) },
        },
      } })
    end
    function handler:update(d, s)
      table.insert(rec.states, s.state)
      if s.state == "TASK_FINISHED" then rec.data = s.data end
    end
    local d = mesos.scheduler(handler, { master = cluster:url(), framework = { checkpoint = true, failover_timeout = 60 } })
    d:start()
    h.wait_until(d, function() return rec.states[1] == "TASK_RUNNING" end, 20, "TASK_RUNNING")
    assert(cluster:stop_agent(1))
    assert(cluster:start_agent(1))
    h.wait_until(d, function() return rec.data end, 30, "the update made while the agent was down")
    assert.are.equal("made while the agent was away", rec.data)
    -- At least once: RUNNING may come again (its ack raced the restart).
    assert.are.equal("TASK_FINISHED", rec.states[#rec.states])
    for i = 1, #rec.states - 1 do assert.are.equal("TASK_RUNNING", rec.states[i]) end
    d:stop()
    cluster:stop()
  end)

  it("keeps the executor's token from its tasks", function()
    local jobs = require "mesos.jobs"
    local results = assert(jobs.run_all({
      { code = "return os.getenv('MESOS_EXECUTOR_AUTHENTICATION_TOKEN') or 'none', os.getenv('MESOS_FRAMEWORK_ID') ~= nil",
        allow_env = true },
    }, { local_cluster = h.local_opts { executor_auth = true } }))
    assert.is_true(results[1].ok, results[1].error)
    assert.are.same({ "none", true }, { results[1].values[1], results[1].values[2] })
  end)

  it("explains what is missing outside an agent", function()
    local ok, err = pcall(mesos.executor, {}, { agent_endpoint = "", framework_id = "f", executor_id = "e" })
    assert.is_false(ok)
    assert.matches("MESOS_SLAVE_PID (or MESOS_AGENT_ENDPOINT) is not set", err, 1, true)
    ok, err = pcall(mesos.executor, {}, { agent_endpoint = "127.0.0.1:1", framework_id = "f", executor_id = "e", checkpoint = "yes" })
    assert.matches("opts.checkpoint must be a boolean", err, 1, true)
    assert.has_error(function() mesos.executor("x") end, "mesos.executor: handler must be a table of methods, got string")
  end)

  it("refuses malformed updates, naming the field", function()
    local d = mesos.executor({}, { agent_endpoint = "127.0.0.1:1", framework_id = "f", executor_id = "e" })
    local ok, err = pcall(d.update, d, { task_id = "t", state = "TASK_RUNNNING" })
    assert.is_false(ok)
    assert.matches("state: 'TASK_RUNNNING' is not a TaskState value", err, 1, true)
    ok, err = pcall(d.update, d, { state = "TASK_RUNNING" })
    assert.matches("missing required field task_id", err, 1, true)
    ok, err = pcall(d.update, d, { task_id = "t", state = "TASK_STAGING" })
    assert.matches("TASK_STAGING", err, 1, true)
    -- Not started: updates are kept for the first SUBSCRIBE.
    local uuid = assert(d:update { task_id = "t", state = "TASK_RUNNING" })
    assert.are.equal(16, #uuid)
    assert.are.equal(1, #d:unacknowledged_updates())
    assert.are.equal(uuid, d:unacknowledged_updates()[1].uuid)
    d:stop()
  end)
end)
