-- mesos.map and mesolua as a distributed-compute tool (items on warm
-- workers): shared by test/map_spec.lua (the embedded local cluster) and
-- test/real/map_spec.lua (real Mesos).
--
-- `target`:
--   name         what the describe blocks say they run against
--   master()     the --master flag for mesolua ("" for its default, local)
--   opts(extra)  options for mesos.map on the target
local h = require "test.helpers"
local mesos = h.mesos

-- The worker processes of the executor with id `executor_id`: processes
-- whose environment names it and that have no such child (an executor's
-- zygote forks the workers; without a zygote they are the executor's
-- children).
local function worker_pids(executor_id)
  local marker = "MESOS_EXECUTOR_ID=" .. executor_id
  local out = h.sh(("grep -alsF '%s' /proc/[0-9]*/environ"):format(marker), false)
  local marked, parent_of = {}, {}
  for pid in out:gmatch("/proc/(%d+)/environ") do
    local stat = h.read_file("/proc/" .. pid .. "/stat")
    local ppid = stat and stat:match("^%d+ %b() %S+ (%d+)")
    if ppid then
      marked[pid] = true
      parent_of[pid] = ppid
    end
  end
  local has_child = {}
  for pid, ppid in pairs(parent_of) do
    if marked[ppid] then has_child[ppid] = true end
  end
  local pids = {}
  for pid, ppid in pairs(parent_of) do
    if marked[ppid] and not has_child[pid] then pids[#pids + 1] = pid end
  end
  return pids
end

local function define(target)
describe("mesos.map on workers on " .. target.name, function()
  it("returns every result in input order, over many tiny items", function()
    local inputs = {}
    for i = 1, 3000 do inputs[i] = i end
    local r = assert(mesos.map(function(x) return x * x end, inputs, target.opts {}))
    assert.are.equal(3000, r.n)
    for i = 1, 3000 do assert.are.equal(i * i, r[i], "item " .. i) end
  end)

  it("takes an iterator as input", function()
    local k = 0
    local function gen()
      k = k + 1
      if k <= 500 then return k end
    end
    local r = assert(mesos.map("return (...) + 1", gen, target.opts {}))
    assert.are.equal(500, r.n)
    for i = 1, 500 do assert.are.equal(i + 1, r[i]) end
  end)

  it("fails fast by default, naming the first failed item; collects every error with errors = 'collect'", function()
    local code = "local x = ... if x % 3 == 0 then error('bad ' .. x, 0) end return x"
    local inputs = {}
    for i = 1, 30 do inputs[i] = i end
    local r, err = mesos.map(code, inputs, target.opts {})
    assert.is_nil(r)
    assert.matches("^task %d+ failed: bad %d+", err)
    local results, errors = mesos.map(code, inputs, target.opts { errors = "collect" })
    assert.is_table(results)
    for i = 1, 30 do
      if i % 3 == 0 then
        assert.is_nil(results[i])
        assert.matches("^bad " .. i .. "\n", errors[i]) -- then the traceback
      else
        assert.are.equal(i, results[i])
        assert.is_nil(errors[i])
      end
    end
    assert.has_error(function() mesos.map(code, inputs, { errors = "ignore" }) end,
      'mesos.map: opts.errors must be "fail" or "collect", got ignore')
  end)

  it("gives every value of each item with all_values", function()
    local r = assert(mesos.map("local x = ... return x, nil, x * 2", { 1, 2 }, target.opts { all_values = true }))
    assert.are.same({ n = 3, 1, nil, 2 }, r[1])
    assert.are.same({ n = 3, 2, nil, 4 }, r[2])
  end)

  it("carries a function's upvalues: values, tables, nested functions, standard functions", function()
    local factor, name = 3, "n"
    local conf = { offset = 10, tags = { "a", "b" } }
    local floor = math.floor
    local function scale(x) return floor(x * factor / 2) end
    local r = assert(mesos.map(function(x)
      return { [name] = scale(x) + conf.offset, tag = conf.tags[x] }
    end, { 1, 2 }, target.opts {}))
    assert.are.same({ n = 11, tag = "a" }, r[1])
    assert.are.same({ n = 13, tag = "b" }, r[2])
  end)

  it("refuses an upvalue that cannot travel, at the call, naming it", function()
    local out = io.stdout
    local ok, err = pcall(function() mesos.map(function(x) out:write(x) end, { 1 }, target.opts {}) end)
    assert.is_false(ok)
    assert.matches("map%.lua:%d+: mesos%.map: upvalue 'out' is a userdata, which cannot travel to a task", err)
  end)

  it("fails only the item that passes its timeout; the others come back", function()
    local code = "local s = ... local t = os.clock() while os.clock() - t < s do end return s"
    local results, errors = mesos.map(code, { 0.01, 30, 0.01, 0.01 },
      target.opts { timeout = 1, errors = "collect" })
    assert.are.equal(0.01, results[1])
    assert.is_nil(results[2])
    assert.matches("timed out after 1s", errors[2], 1, true)
    assert.are.equal(0.01, results[3])
    assert.are.equal(0.01, results[4])
  end)

  it("runs the items of workers killed with -9 again with retries, and fails them without", function()
    local code = "local x = ... local t = os.clock() while os.clock() - t < 0.05 do end return x"
    local inputs = {}
    for i = 1, 40 do inputs[i] = i end
    for _, retries in ipairs { 2, 0 } do
      local executor_id = ("kill-test-%d-%d"):format(retries, math.random(1, 1e9))
      local killed = 0
      local results, errors = mesos.map(code, inputs, target.opts {
        retries = retries, errors = "collect", executor_id = executor_id, max_workers = 4,
        on_result = function(i)
          if killed == 0 and i then
            local pids = worker_pids(executor_id)
            killed = #pids
            if #pids > 0 then os.execute("kill -9 " .. table.concat(pids, " ")) end
          end
        end,
      })
      assert.is_true(killed > 0, "no worker process found to kill")
      local lost = 0
      for i = 1, 40 do
        if errors[i] then
          lost = lost + 1
          assert.matches("worker lost: worker process died with signal 9", errors[i], 1, true)
        else
          assert.are.equal(i, results[i])
        end
      end
      if retries > 0 then
        assert.are.equal(0, lost, "items lost although retries were allowed")
      else
        assert.is_true(lost > 0, "killing workers lost nothing without retries")
      end
    end
  end)
end)

describe("mesolua on workers on " .. target.name, function()
  it("keeps one line per task in order, a failed one empty with its error on stderr", function()
    local out, err, code = require("test.scenarios.mesolua").mesolua(target.master()
      .. [[ --tasks 6 -e "if TASK_INDEX % 3 == 0 then error('no ' .. TASK_INDEX, 0) end return TASK_INDEX"]])
    assert.are.equal(1, code)
    assert.are.equal("1\n2\n\n4\n5\n\n", out)
    assert.matches("task 3 failed: no 3", err, 1, true)
    assert.matches("task 6 failed: no 6", err, 1, true)
  end)
end)
end

return function(target)
  setfenv(define, getfenv(2))
  define(target)
end
