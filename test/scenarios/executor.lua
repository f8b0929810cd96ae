-- mesos.executor scenarios shared by test/executor_spec.lua (the embedded
-- local cluster) and test/real/executor_spec.lua (real Mesos): a Lua custom
-- executor (test/executors/*.lua) started by the target's agent.
--
-- `target`:
--   name          what the describe blocks say they run against
--   opts(extra)   driver options for a new scheduler on the target
--   log()         optional: the agent's log, where the executors' stderr goes
local h = require "test.helpers"
local mesos = h.mesos

local ROOT = os.getenv("PWD") or "."

local function executor_task(offer, id, script, data, env, encoding)
  env = env or {}
  env[#env + 1] = { name = "TEST_EXECUTOR_ENCODING", value = encoding }
  return {
    name = id, task_id = { value = id }, agent_id = offer.agent_id,
    resources = mesos.resources.parse("cpus:0.1;mem:32"),
    data = data,
    executor = {
      executor_id = { value = id },
      command = {
        value = ("luajit %s/test/executors/%s"):format(ROOT, script),
        environment = { variables = env },
      },
    },
  }
end

local function define(target)
for _, enc in ipairs { "protobuf", "json" } do
describe("executor driver over " .. enc .. " on " .. target.name, function()
  it("runs tasks, reports acknowledgements, exchanges messages and shuts down", function()
    local marker = os.tmpname()
    os.remove(marker)
    local rec = { states = {}, messages = {} }
    local handler = {}
    function handler:offers(d, offers)
      if rec.launched then return d:decline(offers[1].id) end
      rec.launched = true
      local o = offers[1]
      rec.agent_id = o.agent_id
      local task = executor_task(o, "t1", "echo.lua", "abc", { { name = "ECHO_EXECUTOR_MARKER", value = marker } }, enc)
      task.executor.executor_id.value = "echo"
      d:launch(o.id, { task })
    end
    function handler:update(d, s)
      table.insert(rec.states, s.state)
      if s.state == "TASK_FINISHED" then rec.data = s.data end
    end
    function handler:message(d, agent_id, executor_id, data)
      rec.messages[#rec.messages + 1] = data
      rec.from = executor_id.value
      if data:match("^subscribed") then d:message(agent_id, executor_id, "ping") end
    end
    local d = mesos.scheduler(handler, target.opts {})
    -- A failed assertion must not leave the framework holding offers.
    finally(function() d:abort() end)
    d:start()
    local function has(msg)
      for _, m in ipairs(rec.messages) do if m == msg then return true end end
      return false
    end
    h.wait_until(d, function()
      return rec.data and has("echo ping") and has("ack t1 16 2")
    end, 30, "task result, echo and acknowledgements")
    assert.are.same({ "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
    assert.are.equal("cba", rec.data)
    assert.are.equal("echo", rec.from)
    assert.truthy(has("subscribed " .. rec.agent_id.value))
    assert.truthy(has("ack t1 16 1"))
    -- TEARDOWN: the agent sends SHUTDOWN and the executor exits cleanly.
    d:teardown()
    local t0 = h.now()
    while not h.read_file(marker) and h.now() - t0 < 20 do d:poll(0.05) end
    assert.are.equal("shutdown echo", h.read_file(marker))
    os.remove(marker)
    d:stop()
  end)

  it("sends status data and messages of max_payload_bytes; one byte over is nil, err naming size and limit", function()
    local limit = 65536
    local over = function(what) return ("%s of %d bytes is over the limit of %d bytes (max_payload_bytes)")
      :format(what, limit + 1, limit) end
    local rec = { data = {}, messages = {} }
    local handler = {}
    function handler:offers(d, offers)
      if rec.launched then return d:decline(offers[1].id) end
      rec.launched = true
      rec.agent_id = offers[1].agent_id
      d:launch(offers[1].id, { executor_task(offers[1], "lim", "limits.lua", nil,
        { { name = "LIMIT_BYTES", value = tostring(limit) } }, enc) })
    end
    function handler:update(d, s)
      if s.data and #s.data > 0 then rec.data[#rec.data + 1] = #s.data end
      rec.status_message = rec.status_message or s.message
    end
    function handler:message(d, agent_id, executor_id, data)
      if data:match("^limits ") then
        rec.report = data
        -- The scheduler's side: at the limit it goes, one byte over not.
        rec.sent = d:message(agent_id, executor_id, string.rep("s", limit))
        rec.not_sent, rec.not_sent_err = d:message(agent_id, executor_id, string.rep("s", limit + 1))
      elseif data:match("^got ") then
        rec.got = data
      else
        rec.messages[#rec.messages + 1] = #data
      end
    end
    local d = mesos.scheduler(handler, target.opts { max_payload_bytes = limit })
    finally(function() d:abort() end)
    d:start()
    h.wait_until(d, function() return rec.got and #rec.data > 0 and #rec.messages > 0 end, 30,
      "the executor's report, the update and message at the limit, and its answer to ours")
    assert.are.equal(("limits true|%s|%s|true|%s"):format(over("status data"), over("status message"),
      over("framework message data")), rec.report)
    assert.are.same({ limit }, rec.data)
    assert.are.same({ limit }, rec.messages)
    assert.is_nil(rec.status_message)
    assert.is_true(rec.sent)
    assert.is_nil(rec.not_sent)
    assert.are.equal(over("framework message data"), rec.not_sent_err)
    assert.are.equal("got " .. limit, rec.got)
    d:stop()
  end)

  it("sends 1,000 status updates that are all accepted, forwarded in order and acknowledged", function()
    local n = 1000
    local log_before = target.log and #target.log() or 0
    local rec = { data = {}, states = {} }
    local handler = {}
    function handler:offers(d, offers)
      if rec.launched then return d:decline(offers[1].id) end
      rec.launched = true
      d:launch(offers[1].id, { executor_task(offers[1], "flood", "flood.lua", tostring(n), nil, enc) })
    end
    function handler:update(d, s)
      if s.task_id.value ~= "flood" then return end
      rec.data[#rec.data + 1] = s.data
      rec.states[s.state] = (rec.states[s.state] or 0) + 1
      rec.bad_uuid = rec.bad_uuid or (#(s.uuid or "") ~= 16 and s.uuid)
    end
    function handler:message(d, _, _, data) rec.report = data end
    local d = mesos.scheduler(handler, target.opts {})
    -- A failed assertion must not leave the framework holding offers.
    finally(function() d:abort() end)
    d:start()
    -- The agent acknowledges an update to the executor once it has taken it
    -- in charge, not once the scheduler has: the report may come first.
    h.wait_until(d, function() return rec.report and rec.states.TASK_FINISHED end, 120,
      "every acknowledgement and the last update")
    assert.are.equal(("acked %d unacked 0 failed 0"):format(n), rec.report)
    assert.are.equal(n, #rec.data)
    for i = 1, n do assert.are.equal(tostring(i), rec.data[i]) end
    assert.are.same({ TASK_RUNNING = n - 1, TASK_FINISHED = 1 }, rec.states)
    assert.is_false(rec.bad_uuid)
    if target.log then
      local log = target.log():sub(log_before + 1)
      assert.is_nil(log:find("flood executor:", 1, true), log)
      assert.is_nil(log:find("HTTP 4%d%d"), log)
    end
    d:stop()
  end)
end)
end
end

-- Called by a spec file with its target (see helpers.scenarios).
return h.scenarios(define)
