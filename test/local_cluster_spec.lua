-- mesos.local_cluster: agents added and removed while it runs (the
-- operator API's AGENT_ADDED/AGENT_REMOVED are tested in
-- tests/operator_api.rs).
local h = require "test.helpers"
local mesos = h.mesos

describe("local cluster agents", function()
  it("add_agent registers one more, remove_agent shuts one down for good", function()
    local cluster = assert(mesos.local_cluster(h.local_opts { port = 0 }))
    assert.are.equal(2, cluster:add_agent())
    local id = cluster:agent_id(2)
    assert.truthy(id and id:match("%-S1$"), id)
    assert.truthy(cluster:agent_address(2))
    assert.is_true(cluster:remove_agent(2))
    local ok, err = cluster:start_agent(2)
    assert.is_nil(ok)
    assert.matches("has left the cluster", err, 1, true)
    ok, err = cluster:remove_agent(9)
    assert.is_nil(ok)
    assert.matches("no agent number 8", err, 1, true)
    cluster:stop()
    assert.is_nil(cluster:add_agent())
  end)
end)
