-- Roles against the embedded local cluster: the MULTI_ROLE scenarios real
-- Mesos runs too (test/real/roles_spec.lua), and the driver's allocation
-- roles without a master.
local h = require "test.helpers"
local mesos = h.mesos
local R = mesos.resources

local cluster
setup(function() cluster = assert(mesos.local_cluster(h.local_opts { port = 0 })) end)
teardown(function() if cluster then cluster:stop() end end)

require "test.scenarios.roles" {
  name = "the embedded local cluster",
  opts = function(o)
    o.master = cluster:url()
    return o
  end,
}

describe("scheduler driver allocation roles (no master)", function()
  -- A driver that records its calls instead of sending them, fed events by hand.
  local function driver(framework)
    local d = mesos.scheduler({}, { master = "127.0.0.1:1", framework = framework })
    local sent = {}
    d._send = function(_, call) sent[#sent + 1] = call return true end
    local function offers(list) d:_dispatch("event", { type = "OFFERS", offers = { offers = list } }) end
    return d, sent, offers
  end
  local function offer(id, role)
    return { id = { value = id }, agent_id = { value = "a" }, hostname = "h", allocation_info = { role = role },
      resources = R.allocate("cpus:1;mem:64", role) }
  end
  local function task(id, res)
    return { name = id, task_id = { value = id }, agent_id = { value = "a" }, resources = R.parse(res or "cpus:0.5;mem:32"),
      command = { value = "true" } }
  end
  local function launched(call, i) return call.accept.operations[1].launch.task_infos[i or 1] end

  it("gives LAUNCH and LAUNCH_GROUP resources without allocation_info the offer's role", function()
    local d, sent, offers = driver { roles = { "web", "batch" } }
    offers { offer("o1", "web"), offer("o2", "batch"), offer("o3", "batch") }
    local t = task("t1", "cpus:0.5;mem(allocated: web):32")
    t.executor = { executor_id = { value = "e" }, resources = R.parse("cpus:0.1") }
    d:launch({ value = "o2" }, t)
    assert.are.equal("cpus(allocated: batch):0.5;mem(allocated: web):32", R.format(launched(sent[1])))
    assert.are.equal("cpus(allocated: batch):0.1", R.format(launched(sent[1]).executor))
    assert.are.equal("cpus:0.5;mem(allocated: web):32", R.format(t)) -- the caller's table is not changed
    d:accept("o1", { { type = "LAUNCH_GROUP", launch_group = {
      executor = { executor_id = { value = "e" }, resources = R.parse("cpus:0.1") },
      task_group = { tasks = { task("g1") } } } } })
    local lg = sent[2].accept.operations[1].launch_group
    assert.are.equal("cpus(allocated: web):0.1", R.format(lg.executor))
    assert.are.equal("cpus(allocated: web):0.5;mem(allocated: web):32", R.format(lg.task_group.tasks[1]))
    -- Used offers are forgotten; an offer the driver does not know is left to the master.
    d:launch("o1", task("t2"))
    assert.are.equal("cpus:0.5;mem:32", R.format(launched(sent[3])))
    -- Declined and rescinded offers are forgotten too.
    offers { offer("o4", "web"), offer("o5", "web") }
    d:decline("o4")
    d:_dispatch("event", { type = "RESCIND", rescind = { offer_id = { value = "o5" } } })
    d:launch({ "o4" }, task("t3"))
    d:launch("o5", task("t4"))
    assert.are.equal("cpus:0.5;mem:32", R.format(launched(sent[5])))
    assert.are.equal("cpus:0.5;mem:32", R.format(launched(sent[6])))
    -- o3 is still known; a new subscription forgets it.
    d:_dispatch("event", { type = "SUBSCRIBED", subscribed = { framework_id = { value = "f" } } })
    d:launch("o3", task("t5"))
    assert.are.equal("cpus:0.5;mem:32", R.format(launched(sent[7])))
  end)

  it("uses a one-role framework's role, and leaves other frameworks' launches alone", function()
    local d, sent = driver { roles = { "web" } }
    d:launch("unknown-offer", task("t1"))
    assert.are.equal("cpus(allocated: web):0.5;mem(allocated: web):32", R.format(launched(sent[1])))
    local d2, sent2, offers2 = driver { role = "web" }
    offers2 { offer("o1", "web") }
    d2:launch("o1", task("t1"))
    assert.are.equal("cpus:0.5;mem:32", R.format(launched(sent2[1])))
    local d3, sent3, offers3 = driver { capabilities = { { type = "MULTI_ROLE" } }, roles = { "a", "b" } }
    offers3 { offer("o1", "b") }
    d3:accept("o1", { { type = "LAUNCH", launch = { task_infos = { task("t1") } } } })
    assert.are.equal("cpus(allocated: b):0.5;mem(allocated: b):32", R.format(launched(sent3[1])))
  end)
end)
