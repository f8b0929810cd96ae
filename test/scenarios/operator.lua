-- The operator API client (mesos.operator) and mesos-ctl against a master:
-- calls and their methods in both encodings, errors, misuse, an agent's
-- calls, and the event stream seeing a task launched by a scheduler.
-- Run by test/operator_spec.lua (mesos-local) and test/real/operator_spec.lua
-- (a real Mesos 1.11 kit). target = { name, master = function() }.
local h = require "test.helpers"
local mesos = h.mesos

return h.scenarios(function(target)
  local function op_for(enc) return mesos.operator { master = target.master(), encoding = enc } end

  for _, enc in ipairs { "protobuf", "json" } do
    describe("mesos.operator against " .. target.name .. " (" .. enc .. ")", function()
      it("sends any call with op:call and returns the whole Response", function()
        local r, err = op_for(enc):call("GET_HEALTH")
        assert.is_nil(err)
        assert.same({ type = "GET_HEALTH", get_health = { healthy = true } }, r)
      end)

      it("has a method per call returning the inner message", function()
        local op = op_for(enc)
        assert.same({ healthy = true }, op:get_health())
        assert.matches("^1%.", op:get_version().version_info.version)
        local agents = assert(op:get_agents())
        assert.is_true(#agents.agents >= 1)
        assert.is_truthy(agents.agents[1].agent_info.id.value)
        local state = assert(op:get_state())
        assert.equal(#agents.agents, #state.get_agents.agents)
        local metrics = assert(op:get_metrics())
        assert.is_true(#metrics.metrics > 0)
        local m1 = assert(op:get_metrics(5))
        assert.is_true(#m1.metrics > 0)
        assert.is_truthy(assert(op:get_master()).master_info.id)
        assert.is_table(assert(op:get_flags()).flags)
        assert.is_table(assert(op:get_roles()))
        assert.is_table(assert(op:get_frameworks()))
        assert.is_table(assert(op:get_tasks()))
        assert.is_table(assert(op:get_executors()))
        assert.is_table(assert(op:get_maintenance_status()))
        assert.is_table(assert(op:get_maintenance_schedule()))
        assert.is_number(assert(op:get_logging_level()).level)
      end)

      it("answers nil, err naming the HTTP status and Mesos's message", function()
        local op = op_for(enc)
        local r, err = op:call("DRAIN_AGENT")
        assert.is_nil(r)
        assert.matches("DRAIN_AGENT failed: HTTP 400 Bad Request: .*drain_agent", err)
        r, err = op:teardown("no-such-framework")
        assert.is_nil(r)
        assert.matches("TEARDOWN failed: HTTP 400", err)
        r, err = op:drain_agent("no-such-agent")
        assert.is_nil(r)
        assert.matches("HTTP 400", err)
      end)

      it("reads an agent's operator API", function()
        -- By its pid (slave(1)@host:port): the real kit's agent shares the
        -- master's process and port.
        local a = assert(op_for(enc):get_agents()).agents[1]
        local agent = mesos.operator { agent = a.pid, encoding = enc }
        assert.is_true(agent:is_agent())
        assert.same({ healthy = true }, agent:get_health())
        local st = assert(agent:get_state())
        assert.is_table(st.get_tasks)
        assert.is_table(assert(agent:get_containers()))
        local flags = assert(agent:get_flags()).flags
        local names = {}
        for _, f in ipairs(flags) do names[f.name] = true end
        assert.is_true(names.work_dir, "not the agent's flags")
        assert.is_table(assert(agent:get_frameworks()))
        local files, err = agent:list_files("/no/such/dir")
        assert.is_nil(files)
        assert.matches("LIST_FILES failed: HTTP 404", err)
      end)

      it("sees a task another framework launches: TASK_ADDED, then TASK_UPDATED", function()
        local op = op_for(enc)
        local seen = {}
        local watcher = {
          subscribed = function(_, o, s)
            assert.equal(op, o)
            seen.subscribed = s
          end,
          task_added = function(_, _, ev)
            if ev.task.task_id.value == "op-watched" then seen.added = ev.task.state end
          end,
          task_updated = function(_, _, ev)
            if ev.status.task_id.value == "op-watched" then seen.updates = (seen.updates or 0) + 1 end
            if ev.status.task_id.value == "op-watched" and ev.state == "TASK_FINISHED" then seen.finished = true end
          end,
        }
        assert.equal(op, op:subscribe(watcher))
        h.wait_until(op, function() return seen.subscribed end, 20, "SUBSCRIBED")
        assert.is_table(seen.subscribed.get_state)
        assert.is_true(h.readable(op:fd(), 0) or op:pending() == 0)
        local launched = false
        local sched = mesos.scheduler({
          offers = function(_, d, offers)
            if launched then return d:decline(offers[1].id) end
            launched = true
            d:launch(offers[1].id, { h.command_task(offers[1], "op-watched", "true") })
          end,
        }, { master = target.master(), framework = { name = "operator-spec" } })
        sched:start()
        local deadline = h.now() + 60
        while not seen.finished do
          assert(h.now() < deadline, "timed out waiting for TASK_UPDATED(TASK_FINISHED)")
          sched:poll(0.02)
          op:poll(0.02)
        end
        sched:stop()
        assert.is_truthy(seen.added)
        assert.is_true(seen.updates >= 1)
        local st = op:stats()
        assert.is_true(st.events_by_type.TASK_ADDED >= 1)
        assert.equal(0, st.reconnects)
        op:stop()
        h.wait_until(op, function() return op:state() == "stopped" end, 5, "stopped")
      end)
    end)
  end

  describe("mesos.operator under an event loop (" .. target.name .. ")", function()
    it("is driven by mesos.luv like a driver", function()
      local ok_luv, uv = pcall(require, "luv")
      if not ok_luv then return pending("luv is not installed") end
      local op = op_for()
      local got, timer
      -- A bound on the loop: the test fails (got stays nil) instead of hanging.
      timer = uv.new_timer()
      op:subscribe({ subscribed = function(_, o)
        got = true
        timer:stop()
        timer:close()
        o:stop()
      end })
      local poll = assert(require("mesos.luv").attach(op))
      timer:start(20000, 0, function()
        timer:close()
        poll:close()
      end)
      uv.run()
      assert.is_true(got)
      assert.equal("stopped", op:state())
    end)
  end)

  describe("mesos.operator misuse (" .. target.name .. ")", function()
    it("raises at the caller's line for wrong options and arguments", function()
      local function err_of(f, ...)
        local ok, e = pcall(f, ...)
        assert.is_false(ok)
        return e
      end
      -- (Not tail calls: the error names this file's line.)
      local here = "scenarios/operator.lua:%d+: "
      assert.matches(here .. "mesos.operator: opts must be a table",
        err_of(function() local o = mesos.operator("x") return o end))
      assert.matches("mesos.operator: opts.master or opts.agent is required", err_of(mesos.operator, {}))
      assert.matches("unknown option.*bogus", err_of(mesos.operator, { master = target.master(), bogus = 1 }))
      assert.matches("opts.encoding must be", err_of(mesos.operator, { master = target.master(), encoding = "xml" }))
      assert.matches("not supported", err_of(mesos.operator, { master = "local" }))
      local op = mesos.operator { master = target.master() }
      assert.matches(here .. "mesos.operator: call type must be a string",
        err_of(function() local r = op:call(42) return r end))
      assert.matches(here .. "mesos.operator: bad NOPE call",
        err_of(function() local r = op:call("NOPE") return r end))
      assert.matches(here .. "mesos.operator: path must be a string",
        err_of(function() local r = op:list_files(1) return r end))
      assert.matches("subscribe%(handler%) first", err_of(function() return op:poll(0) end))
      assert.matches("handler must be a table", err_of(function() return op:subscribe(1) end))
    end)

    it("reports an unreachable master as nil, err", function()
      local op = mesos.operator { master = "127.0.0.1:1", connect_timeout = 1 }
      local r, err = op:get_health()
      assert.is_nil(r)
      assert.matches("cannot reach the master", err)
    end)
  end)

  describe("mesos-ctl against " .. target.name, function()
    local function ctl(args) return h.sh("bin/mesos-ctl --master " .. target.master() .. " " .. args) end

    it("prints health, agents, state, version and metrics", function()
      local out, code = ctl("health")
      assert.equal(0, code)
      assert.equal("healthy\n", out)
      local agents = assert(op_for():get_agents()).agents
      out, code = ctl("agents")
      assert.equal(0, code)
      assert.matches("^ID%s+HOSTNAME%s+ACTIVE", out)
      assert.is_truthy(out:find(agents[1].agent_info.id.value, 1, true))
      out, code = ctl("state")
      assert.equal(0, code)
      assert.matches("AGENTS\n.*FRAMEWORKS\n.*TASKS\n", out)
      out, code = ctl("version")
      assert.equal(0, code)
      assert.matches("version%s+1%.", out)
      out, code = ctl("metrics")
      assert.equal(0, code)
      assert.matches("master/uptime_secs %d", out)
      for _, c in ipairs { "frameworks", "tasks", "roles" } do
        out, code = ctl(c)
        assert.equal(0, code, out)
      end
    end)

    it("prints the raw answer with --json and the stream with watch", function()
      local out, code = ctl("--json health")
      assert.equal(0, code)
      assert.matches('"type":%s*"GET_HEALTH"', out)
      assert.matches('"healthy":%s*true', out)
      out, code = ctl("watch --count=1")
      assert.equal(0, code)
      assert.matches("^SUBSCRIBED agents=%d+ frameworks=%d+ tasks=%d+\n$", out)
    end)

    it("exits 1 with mesos-ctl: ... on failures and 2 on bad usage", function()
      local out, code = ctl("drain no-such-agent")
      assert.equal(1, code)
      assert.matches("^mesos%-ctl: DRAIN_AGENT failed: HTTP 400", out)
      out, code = ctl("teardown no-such-framework")
      assert.equal(1, code)
      assert.matches("^mesos%-ctl: TEARDOWN failed: HTTP 400", out)
      out, code = h.sh("bin/mesos-ctl --master 127.0.0.1:1 health")
      assert.equal(1, code)
      assert.matches("^mesos%-ctl: .*cannot reach the master", out)
      for _, bad in ipairs { "", "bogus", "drain", "health extra", "--nope health", "--count=x watch" } do
        out, code = ctl(bad)
        assert.equal(2, code, bad)
        assert.matches("^mesos%-ctl: ", out)
      end
      out, code = h.sh("bin/mesos-ctl --help")
      assert.equal(0, code)
      for _, flag in ipairs { "--master", "--agent", "--json", "--count", "--encoding", "--timeout", "--principal",
        "--secret", "--credential-file", "--ca-file", "--help", "MESOS_MASTER", "127.0.0.1:5050" } do
        assert.is_truthy(out:find(flag, 1, true), flag)
      end
    end)
  end)
end)
