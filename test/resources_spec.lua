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

describe("mesos.resources with roles", function()
  -- Offers as real Mesos 1.11 sends them to a MULTI_ROLE framework without
  -- RESERVATION_REFINEMENT (legacy `role`), and with it (`reservations`).
  local function legacy_offer(role)
    return { allocation_info = { role = role }, resources = {
      { name = "ports", type = "RANGES", ranges = { range = { { begin = 31000, ["end"] = 31100 } } }, role = "*", allocation_info = { role = role } },
      { name = "cpus", type = "SCALAR", scalar = { value = 1 }, role = "web", allocation_info = { role = role } },
      { name = "mem", type = "SCALAR", scalar = { value = 256 }, role = "web", allocation_info = { role = role } },
      { name = "cpus", type = "SCALAR", scalar = { value = 2 }, role = "*", allocation_info = { role = role } },
      { name = "disk", type = "SCALAR", scalar = { value = 50 }, role = "web", allocation_info = { role = role },
        reservation = { principal = "ops", labels = { labels = { { key = "k", value = "v" } } } } },
    } }
  end

  it("never lets one role's resources satisfy another's", function()
    assert.is_false(R.fits("cpus(web):1.5", "cpus:2;cpus(web):1"))
    local ok, what, text = R.fits("cpus(web):1.5", "cpus:2;cpus(web):1")
    assert.are.equal("cpus", what)
    assert.are.equal("cpus(web)", text)
    assert.is_true(R.fits("cpus(web):1", "cpus:2;cpus(web):1"))
    assert.is_true(R.fits("cpus:2", "cpus:2;cpus(web):1"))
    assert.is_false(R.fits("cpus:2.5", "cpus:2;cpus(web):1"))
    assert.is_false(R.fits("cpus:1", "cpus(web):4"))
    assert.is_false(R.fits("cpus(db):1", "cpus(web):4"))
    assert.is_false(R.fits("ports(web):[5-5]", "ports:[1-10]"))
    assert.is_false(R.fits("zones(web):{a}", "zones:{a}"))
    -- Static and dynamic reservations of one role are different resources.
    assert.is_false(R.fits("cpus(reservations: [(DYNAMIC,web,ops)]):1", "cpus(web):4"))
    assert.is_true(R.fits("cpus(reservations: [(DYNAMIC,web,ops)]):1", "cpus(reservations: [(DYNAMIC,web,ops)]):4"))
    assert.is_false(R.fits("cpus(reservations: [(DYNAMIC,web,ops)]):1", "cpus(reservations: [(DYNAMIC,web,bob)]):4"))
  end)

  it("formats and parses roles, reservation stacks and allocation roles (round trip)", function()
    assert.are.equal("cpus(web):1", R.format(R.parse("cpus(web):1")))
    assert.are.equal("cpus:1", R.format(R.parse("cpus(*):1")))
    local text = "cpus(web)(allocated: web):1.5;mem(reservations: [(STATIC,eng),(DYNAMIC,eng/a,alice,{team:x,tier})])"
      .. "(allocated: eng/a):128;ports(allocated: batch):[1-5,7-7];gpus{REV}:1;disk(web)<SHARED>:10;zones:{a,b}"
    local r = R.parse(text)
    assert.are.equal(text, R.format(r))
    assert.are.same({ role = "web" }, r[1].allocation_info)
    assert.are.same({ { type = "STATIC", role = "web" } }, r[1].reservations)
    assert.are.same({ { type = "STATIC", role = "eng" }, { type = "DYNAMIC", role = "eng/a", principal = "alice",
      labels = { labels = { { key = "team", value = "x" }, { key = "tier" } } } } }, r[2].reservations)
    assert.is_nil(r[3].reservations)
    assert.are.same({}, r[4].revocable)
    assert.are.same({}, r[5].shared)
    -- The legacy fields Mesos sends read the same as the refinement ones.
    assert.are.equal("ports(allocated: web):[31000-31100];cpus(web)(allocated: web):1;mem(web)(allocated: web):256;"
      .. "cpus(allocated: web):2;disk(reservations: [(DYNAMIC,web,ops,{k:v})])(allocated: web):50",
      R.format(legacy_offer("web")))
    for _, bad in ipairs { "cpus(web)(db):1", "cpus(allocated: ):1", "cpus(reservations: [(NOPE,x)]):1",
      "cpus(a,b):1", "cpus(web:1", "cpus(web)x:1", "cpus():" } do
      assert.has_error(function() R.parse(bad) end)
    end
  end)

  it("reads the reservations and allocation role of a resource", function()
    local offer = legacy_offer("web")
    local res = offer.resources
    assert.are.same({}, R.reservations(res[1]))
    assert.are.equal("*", R.reservation_role(res[1]))
    assert.are.same({ { type = "STATIC", role = "web" } }, R.reservations(res[2]))
    assert.are.same({ { type = "DYNAMIC", role = "web", principal = "ops", labels = { labels = { { key = "k", value = "v" } } } } },
      R.reservations(res[5]))
    assert.are.equal("web", R.reservation_role(res[5]))
    assert.are.equal("eng/a", R.reservation_role(R.parse("mem(reservations: [(STATIC,eng),(DYNAMIC,eng/a,p)]):1")[1]))
    assert.are.equal("web", R.allocation_role(res[1]))
    assert.are.equal("web", R.allocation_role(offer))
    assert.are.equal("batch", R.allocation_role { resources = R.parse("cpus(allocated: batch):1") })
    assert.is_nil(R.allocation_role(R.parse("cpus:1")[1]))
  end)

  it("compares a request with a legacy-format offer kind by kind", function()
    local offer = legacy_offer("web")
    assert.is_true(R.fits("cpus(web):1;mem(web):256;cpus:2;ports:[31000-31001]", offer))
    assert.is_false(R.fits("mem:1", offer)) -- only reserved mem
    assert.is_true(R.fits("disk(reservations: [(DYNAMIC,web,ops,{k:v})]):50", offer))
    assert.is_false(R.fits("disk(web):1", offer)) -- the disk is dynamically reserved
    -- The request's resources without an allocation role take the offer's.
    assert.is_true(R.fits("cpus(allocated: web):2", offer))
    assert.is_false(R.fits("cpus(allocated: batch):1", offer))
    assert.is_false(R.fits("cpus(allocated: web):1", "cpus:4")) -- unallocated resources
  end)

  it("does not add up resources allocated to different roles", function()
    local two = R.parse("cpus(allocated: web):1;cpus(allocated: batch):1;mem(allocated: batch):64")
    assert.is_true(R.fits("cpus:1", two))
    assert.is_false(R.fits("cpus:1.5", two))
    assert.is_true(R.fits("cpus:1;mem:64", two))
    assert.is_false(R.fits("cpus:1;mem:64", R.parse("cpus(allocated: web):1;mem(allocated: batch):64")))
    assert.is_true(R.fits("cpus(allocated: web):1;mem(allocated: batch):64",
      R.parse("cpus(allocated: web):1;mem(allocated: batch):64")))
  end)

  it("subtracts role by role, keeping the offer's fields", function()
    assert.are.equal("cpus:2;cpus(web):0.5", R.format(R.subtract("cpus:2;cpus(web):1", "cpus(web):0.5")))
    assert.are.equal("cpus:1;cpus(web):1", R.format(R.subtract("cpus:2;cpus(web):1", "cpus:1")))
    assert.has_error(function() R.subtract("cpus:2;cpus(web):1", "cpus(web):1.5") end,
      "resources.subtract: cpus is not available")
    local left = R.subtract(legacy_offer("web"), "cpus(web):0.25;cpus:1;ports:[31000-31009]")
    assert.are.equal("ports(allocated: web):[31010-31100];cpus(web)(allocated: web):0.75;mem(web)(allocated: web):256;"
      .. "cpus(allocated: web):1;disk(reservations: [(DYNAMIC,web,ops,{k:v})])(allocated: web):50", R.format(left))
    -- The legacy fields stay as the offer had them (to send back to Mesos).
    assert.are.equal("web", left[2].role)
    assert.is_nil(left[2].reservations)
    assert.are.same({ principal = "ops", labels = { labels = { { key = "k", value = "v" } } } }, left[5].reservation)
    -- Resources of another allocation role are not taken.
    local two = R.parse("cpus(allocated: web):1;cpus(allocated: batch):1")
    assert.are.equal("cpus(allocated: web):1;cpus(allocated: batch):0.5", R.format(R.subtract(two, "cpus(allocated: batch):0.5")))
  end)

  it("adds resources kind by kind and compares them", function()
    local sum = R.add("cpus:1;cpus(web):1;ports:[5-6]", "cpus:0.5;ports:[1-2,7-9];zones:{a}", R.parse("ports:[3-4];zones:{b,a}"))
    assert.are.equal("cpus:1.5;cpus(web):1;ports:[1-9];zones:{a,b}", R.format(sum))
    assert.are.equal("cpus(allocated: a):1;cpus(allocated: b):2",
      R.format(R.add("cpus(allocated: a):0.5;cpus(allocated: b):2", "cpus(allocated: a):0.5")))
    assert.is_true(R.equals("cpus:1;cpus:0.5;ports:[1-2,3-3]", "ports:[1-3];cpus:1.5"))
    assert.is_false(R.equals("cpus:1", "cpus(web):1"))
    assert.is_false(R.equals("cpus(allocated: a):1", "cpus(allocated: b):1"))
    assert.is_false(R.equals("cpus:1", "cpus:1;mem:1"))
    assert.is_true(R.equals(R.add(R.subtract("cpus:2;cpus(web):1", "cpus(web):0.5"), "cpus(web):0.5"), "cpus:2;cpus(web):1"))
  end)

  it("takes ports of one kind, and formats a single resource", function()
    local p = assert(R.take_ports(R.parse("ports:[100-101,200-300]"), 3))
    assert.are.equal("ports:[100-101,200-200]", R.format(p))
    local offer = R.parse("ports(web)(allocated: web):[5-6];ports(allocated: web):[10-20]")
    assert.are.equal("ports(allocated: web):[10-12]", R.format(R.take_ports(offer, 3)))
    assert.are.equal("ports(web)(allocated: web):[5-6]", R.format(R.take_ports(offer, 2)))
    assert.are.equal("ports(web)(allocated: web):[5-5]",
      R.format(R.take_ports(R.filter(offer, { role = "web" }), 1)))
    assert.is_true(R.fits(R.take_ports(offer, 3), offer))
    assert.is_nil((R.take_ports(offer, 12)))
    assert.are.equal("cpus(web):2", R.format { name = "cpus", type = "SCALAR", scalar = { value = 2 },
      reservations = { { type = "STATIC", role = "web" } } })
  end)

  it("filters, allocates and unallocates", function()
    local offer = legacy_offer("web")
    assert.are.equal("cpus(web)(allocated: web):1;mem(web)(allocated: web):256;"
      .. "disk(reservations: [(DYNAMIC,web,ops,{k:v})])(allocated: web):50", R.format(R.filter(offer, { role = "web" })))
    assert.are.equal("cpus(web)(allocated: web):1", R.format(R.filter(offer, { reserved = true, name = "cpus" })))
    assert.are.equal("ports(allocated: web):[31000-31100];cpus(allocated: web):2", R.format(R.filter(offer, { role = "*" })))
    assert.are.equal(2, #R.filter(offer, { reserved = false }))
    assert.are.equal(0, #R.filter(offer, { allocation_role = "batch" }))
    assert.are.equal(2, #R.filter("cpus:1;mem:2;cpus(allocated: x):1", { allocation_role = false }))
    local mine = R.parse("cpus:1;mem(allocated: other):2")
    assert.are.equal("cpus(allocated: web):1;mem(allocated: web):2", R.format(R.allocate(mine, "web")))
    assert.are.equal("cpus(allocated: web):1;mem(allocated: other):2", R.format(R.allocate(mine, "web", true)))
    assert.are.equal("cpus:1;mem(allocated: other):2", R.format(mine)) -- not changed
    assert.are.equal("cpus:1;mem:2", R.format(R.unallocate(mine)))
  end)

  it("gives LAUNCH and LAUNCH_GROUP resources an allocation role where they have none", function()
    local exec = { executor_id = { value = "e" }, resources = R.parse("cpus:0.1") }
    local task = { name = "t", task_id = { value = "t" }, resources = R.parse("cpus:1;mem(allocated: other):2"), executor = exec }
    local ops = {
      { type = "LAUNCH", launch = { task_infos = { task } } },
      { type = "LAUNCH_GROUP", launch_group = { executor = exec, task_group = { tasks = { task } } } },
      { type = "RESERVE", reserve = { resources = R.parse("cpus:1") } },
    }
    local out = R.allocate_operations(ops, "web")
    local t1 = out[1].launch.task_infos[1]
    assert.are.equal("cpus(allocated: web):1;mem(allocated: other):2", R.format(t1))
    assert.are.equal("cpus(allocated: web):0.1", R.format(t1.executor))
    assert.are.equal("cpus(allocated: web):0.1", R.format(out[2].launch_group.executor))
    assert.are.equal("cpus(allocated: web):1;mem(allocated: other):2", R.format(out[2].launch_group.task_group.tasks[1]))
    assert.are.equal(ops[3], out[3])
    -- The given tables are not changed.
    assert.are.equal("cpus:1;mem(allocated: other):2", R.format(task))
    assert.are.equal("cpus:0.1", R.format(exec))
    assert.are.equal(task, ops[1].launch.task_infos[1])
  end)

  it("raises misuse errors at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    for _, f in ipairs {
      function() R.parse(42) end,
      function() R.parse("cpus(web)(db):1") end,
      function() R.parse("cpus:abc") end,
      function() R.filter("cpus:1", "web") end,
      function() R.allocate("cpus:1", nil) end,
      function() R.allocate_operations({}, 3) end,
      function() R.take_ports("ports:[1-2]", "x") end,
      function() R.subtract("cpus:1", "cpus(web):1") end,
      function() R.reservation_role(3) end,
    } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("resources_spec%.lua:" .. "%d+: ", err)
      local at = tonumber(err:match("resources_spec%.lua:(%d+):"))
      assert.is_true(at > line and at < line + 12, err)
    end
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
