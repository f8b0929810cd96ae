local mesos = require "mesos"
local R = mesos.resources

describe("mesos.resources", function()
  it("parses scalars, ranges, sets and roles", function()
    local r = R.parse("cpus:1.5; mem:128;ports:[31000-31010,32000-32000];disks:{a,b};gpus(web):1")
    assert.are.same({ name = "cpus", type = "SCALAR", scalar = { value = 1.5 } }, r[1])
    assert.are.same({ name = "mem", type = "SCALAR", scalar = { value = 128 } }, r[2])
    assert.are.same({ { begin = 31000, ["end"] = 31010 }, { begin = 32000, ["end"] = 32000 } }, r[3].ranges.range)
    assert.are.same({ "a", "b" }, r[4].set.item)
    assert.are.equal("web", r[5].reservations[1].role)
  end)

  it("rejects malformed strings with a message", function()
    assert.has_error(function() R.parse("cpus") end, "resources.parse: bad resource \"cpus\" (want name:value)")
    assert.has_error(function() R.parse("cpus:abc") end)
    assert.has_error(function() R.parse("ports:[5-1]") end)
    assert.has_error(function() R.parse(42) end)
  end)

  it("sums an offer's scalars", function()
    local offer = { resources = R.parse("cpus:1;mem:100;cpus:0.5;ports:[1-2]") }
    assert.are.same({ cpus = 1.5, mem = 100 }, R.scalars(offer))
    assert.are.equal(1.5, R.scalar(offer, "cpus"))
    assert.are.equal(0, R.scalar(offer, "gpus"))
  end)

  it("checks that a request fits", function()
    local have = R.parse("cpus:2;mem:512;ports:[31000-31005,31007-31010];zones:{a,b}")
    assert.is_true(R.fits("cpus:1;mem:512", have))
    assert.is_true(R.fits("ports:[31001-31003]", have))
    local ok, what = R.fits("cpus:2.5", have)
    assert.is_false(ok)
    assert.are.equal("cpus", what)
    assert.is_false(R.fits("ports:[31004-31008]", have)) -- 31006 is missing
    assert.is_true(R.fits("zones:{b}", have))
    assert.is_false(R.fits("zones:{c}", have))
  end)

  it("subtracts what a task takes", function()
    local have = R.parse("cpus:2;mem:512;ports:[31000-31010]")
    local left = R.subtract(have, "cpus:0.3;mem:512;ports:[31002-31003]")
    assert.are.equal("cpus:1.7;ports:[31000-31001,31004-31010]", R.format(left))
    assert.has_error(function() R.subtract(have, "cpus:3") end, "resources.subtract: cpus is not available")
  end)

  it("takes ports from an offer", function()
    local p = R.take_ports(R.parse("ports:[100-101,200-300]"), 3)
    assert.are.same({ { begin = 100, ["end"] = 101 }, { begin = 200, ["end"] = 200 } }, p.ranges.range)
    assert.is_nil((R.take_ports(R.parse("ports:[1-1]"), 2)))
  end)

  it("is also available as require 'mesos.resources'", function()
    assert.are.equal(R, require "mesos.resources")
  end)
end)

describe("mesos.encode / mesos.decode", function()
  it("round-trips a TaskStatus in both encodings", function()
    local st = { task_id = "t1", state = "TASK_RUNNING", uuid = string.rep("\1", 16), timestamp = 1.5 }
    for _, enc in ipairs { "protobuf", "json" } do
      local bytes = mesos.encode("TaskStatus", st, enc)
      local back = assert(mesos.decode("TaskStatus", bytes, enc))
      assert.are.equal("t1", back.task_id.value)
      assert.are.equal("TASK_RUNNING", back.state)
      assert.are.equal(st.uuid, back.uuid)
    end
    assert.are.equal('{"task_id":{"value":"t1"},"state":"TASK_RUNNING","timestamp":1.5,"uuid":"AQEBAQEBAQEBAQEBAQEBAQ=="}',
      mesos.encode("TaskStatus", st, "json"))
  end)

  it("decodes every kind of field into the same table shape", function()
    local task = {
      name = "t", task_id = { value = "t1" }, agent_id = { value = "a1" },
      resources = { { name = "ports", type = "RANGES", ranges = { range = { { begin = 1, ["end"] = 2 } } } } },
      command = { value = "true", shell = false, arguments = { "x", "y" },
        uris = { { value = "http://h/f.tgz", extract = true, executable = false } } },
      data = "a\0b\255",
      limits = { cpus = { value = 1.5 }, mem = { value = 128 } },
      kill_policy = { grace_period = { nanoseconds = 1500000000 } },
      check = { type = "COMMAND", command = { command = { value = "x" } } },
    }
    for _, enc in ipairs { "protobuf", "json" } do
      local back = assert(mesos.decode("TaskInfo", mesos.encode("TaskInfo", task, enc), enc))
      -- JSON also writes explicit defaults (Mesos does); compare the fields we set.
      assert.are.equal("t", back.name)
      assert.are.same(task.resources, back.resources)
      assert.are.same({ "x", "y" }, back.command.arguments)
      assert.are.equal(false, back.command.shell)
      assert.are.same(task.command.uris[1].value, back.command.uris[1].value)
      assert.are.equal(true, back.command.uris[1].extract)
      assert.are.equal("a\0b\255", back.data)
      assert.are.same(task.limits, back.limits)
      assert.are.equal(1500000000, back.kill_policy.grace_period.nanoseconds)
      assert.are.equal("COMMAND", back.check.type)
    end
  end)

  it("names the field on bad input", function()
    local ok, err = pcall(mesos.encode, "TaskStatus", { task_id = "t", state = "TASK_NOPE" })
    assert.is_false(ok)
    assert.matches("state: 'TASK_NOPE' is not a TaskState value", err, 1, true)
    ok, err = pcall(mesos.encode, "TaskStatus", { state = "TASK_RUNNING" })
    assert.matches("missing required field task_id", err, 1, true)
    ok, err = pcall(mesos.encode, "TaskStatus", { task_id = "t", state = "TASK_RUNNING", bogus = 1 })
    assert.matches("has no field 'bogus'", err, 1, true)
    local v, e = mesos.decode("TaskStatus", "\255\255\255", "protobuf")
    assert.is_nil(v)
    assert.is_string(e)
  end)
end)
