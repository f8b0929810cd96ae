-- The drivers inside real event loops: luv, cqueues, copas, and the pull
-- iterator. Each runs a command task on the local cluster to TASK_FINISHED
-- while the host loop keeps running.
local h = require "test.helpers"
local mesos = h.mesos

-- The measured stalls are printed so runs can be compared (and noted).
local function report(host, what, secs)
  io.stderr:write(("\n[stall] %s: %s %.1f ms\n"):format(host, what, secs * 1000))
end

-- A framework that launches one task lasting about 0.3 s (so the host loop
-- has to keep running meanwhile) and records its states.
local function one_task_framework(id)
  local rec = { states = {} }
  local handler = {}
  function handler:offers(d, offers)
    for _, o in ipairs(offers) do
      if rec.launched then
        d:decline(o.id)
      else
        rec.launched = true
        d:launch(o.id, { h.command_task(o, id, "sleep 0.3") })
      end
    end
  end
  function handler:update(d, s)
    table.insert(rec.states, s.state)
    if s.state == "TASK_FINISHED" then
      rec.done = true
      d:stop()
    end
  end
  local driver = mesos.scheduler(handler, { master = "local", local_cluster = h.local_opts() })
  return driver, rec
end

describe("event loops", function()
  it("luv: the loop keeps ticking while a task runs", function()
    local uv = require "luv"
    local driver, rec = one_task_framework("luv-task")
    assert(require("mesos.luv").attach(driver))
    local worst, last, ticks = 0, uv.hrtime(), 0
    local timer = uv.new_timer()
    timer:start(10, 10, function()
      local now = uv.hrtime()
      worst = math.max(worst, (now - last) / 1e9)
      last = now
      ticks = ticks + 1
      if rec.done or ticks > 3000 then
        timer:stop()
        timer:close()
      end
    end)
    uv.run()
    assert.is_true(rec.done, "task did not finish")
    assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
    assert.is_true(ticks >= 10, "ticks: " .. ticks) -- the task alone lasts 0.3 s
    -- A 10 ms timer on a loop that is never blocked; a blocking driver call
    -- (run(), poll(1)) would hold it for a whole allocation/heartbeat cycle.
    assert.is_true(worst < 0.25, ("worst timer delay %.3fs"):format(worst))
    report("luv", "worst gap between 10 ms timer callbacks", worst)
    assert.are.equal("stopped", driver:state())
  end)

  it("cqueues: cqueues.poll(driver) and the adapter", function()
    local cqueues = require "cqueues"
    local driver, rec = one_task_framework("cq-task")
    local cq = cqueues.new()
    assert(require("mesos.cqueues").attach(driver, cq, { tick = 0.2 }))
    local beats, worst = 0, 0
    cq:wrap(function()
      while not rec.done do
        local t0 = cqueues.monotime()
        cqueues.sleep(0.01)
        worst = math.max(worst, cqueues.monotime() - t0)
        beats = beats + 1
      end
    end)
    assert(cq:loop(30))
    assert.is_true(rec.done)
    assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
    assert.is_true(beats >= 10, "the other coroutine ran " .. beats .. " times")
    assert.is_true(worst < 0.25, ("worst 10 ms sleep took %.3fs"):format(worst))
    report("cqueues", "worst 10 ms sleep of another coroutine took", worst)
    assert.are.equal("r", driver:events())
    assert.are.equal(driver:fd(), driver:pollfd())
  end)

  it("copas: a copas thread waits on the driver's fd", function()
    local copas = require "copas"
    local driver, rec = one_task_framework("copas-task")
    assert(require("mesos.copas").attach(driver))
    -- The host loop: copas steps with a short select timeout; a blocked
    -- driver would stall them.
    local steps, worst, last = 0, 0, h.now()
    local t0 = last
    while not rec.done and h.now() - t0 < 30 do
      copas.step(0.02)
      local now = h.now()
      worst = math.max(worst, now - last)
      last = now
      steps = steps + 1
    end
    assert.is_true(rec.done)
    assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, rec.states)
    assert.is_true(steps >= 10, "steps: " .. steps)
    assert.is_true(worst < 0.25, ("worst step %.3fs"):format(worst))
    report("copas", "worst copas.step(0.02) took", worst)
  end)

  it("the pull iterator yields events and driver reports, acknowledging updates", function()
    local driver = mesos.scheduler({}, { master = "local", local_cluster = h.local_opts() })
    -- No start(): the iterator starts an idle driver, as run() does.
    assert.are.equal("idle", driver:state())
    local types, states, launched = {}, {}, false
    local t0 = h.now()
    while h.now() - t0 < 30 and states[#states] ~= "TASK_FINISHED" do
      for ev in driver:events(0.1) do
        types[ev.type] = true
        if ev.type == "OFFERS" then
          for _, o in ipairs(ev.offers.offers) do
            if launched then driver:decline(o.id) else
              launched = true
              driver:launch(o.id, { h.command_task(o, "pulled", "true") })
            end
          end
        elseif ev.type == "UPDATE" then
          table.insert(states, ev.update.status.state)
        end
      end
    end
    assert.is_true(types.SUBSCRIBED and types.OFFERS and types.UPDATE)
    assert.are.same({ "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" }, states)
    -- Every update was acknowledged: nothing is redelivered.
    local t1 = h.now()
    while h.now() - t1 < 1.2 do -- longer than the cluster's 0.5 s update retry
      for ev in driver:events(0.1) do
        assert.are_not.equal("UPDATE", ev.type)
      end
    end
    driver:stop()
    local reports = {}
    for ev in driver:events(0.5) do reports[#reports + 1] = ev.type end
    assert.are.same({ "STOPPED" }, reports)
  end)
end)
