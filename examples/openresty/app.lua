-- The example's Lua side: /run?code=... runs a Lua chunk as a Mesos task.
-- Request handlers (any worker) queue jobs in the "jobs" shared dict; the
-- driver's owner (worker 0, see mesos.openresty) launches them on the Lua
-- executor and writes each result back under "result:<id>".
local mesos = require "mesos"
local S = require "mesos.serialize"
local openresty = require "mesos.openresty"
local R = mesos.resources

local app = {}
local JOBS = "jobs"
local TASK_RES = "cpus:0.05;mem:32"
local RESULT_TTL = 300

-- Owner side --------------------------------------------------------------

local function result_text(status)
  local reply = status.data and S.decode(status.data) or nil
  if status.state == "TASK_FINISHED" and type(reply) == "table" and reply.ok then
    local out = {}
    for i = 1, reply.n or 0 do out[i] = tostring((reply.values or {})[i]) end
    return "ok", table.concat(out, "\t")
  end
  local err = (type(reply) == "table" and reply.error) or status.message or status.state
  return "error", tostring(err)
end

local function make_scheduler(jobs, previous)
  local task_res = R.parse(TASK_RES)
  local executor_info = {
    executor_id = { value = "mesos-lua-executor" },
    name = "mesos.executor (Lua)",
    -- nginx is not a Lua interpreter: the executor runs under luajit, with
    -- this process's module paths (the local cluster is on this machine).
    command = { value = require("mesos.tasks.lua_executor").command(os.getenv("LUA_MESOS_LUAJIT") or "luajit", true) },
  }
  local master = os.getenv("LUA_MESOS_MASTER")
  if master == "" then master = nil end
  local local_master = (master or "local") == "local"
  -- Task ids must stay unique across generations (failover to a real master).
  local prefix = ("web-%d-%d-"):format(ngx.worker.pid(), ngx.now() * 1000)
  local pending, launched, suppressed = {}, {}, false
  local handler = {}

  function handler:offers(d, offers)
    for _, offer in ipairs(offers) do
      local tasks, avail = {}, offer.resources
      while #pending > 0 and R.fits(task_res, avail) do
        local job = table.remove(pending, 1)
        launched[job.id] = job.code
        tasks[#tasks + 1] = {
          name = "web job " .. job.id, task_id = { value = prefix .. job.id },
          agent_id = offer.agent_id, resources = task_res, executor = executor_info,
          data = S.encode({ code = job.code, args = {}, index = tonumber(job.id), timeout = 10, memory_mb = 64 }),
        }
        avail = R.subtract(avail, task_res)
      end
      if #tasks > 0 then d:launch(offer.id, tasks, { refuse_seconds = 0 })
      else d:decline(offer.id, { refuse_seconds = 0 }) end
    end
    if #pending == 0 and not suppressed then d:suppress(); suppressed = true end
  end

  function handler:update(d, status)
    local id = status.task_id.value:sub(#prefix + 1)
    local st = status.state
    if st == "TASK_STAGING" or st == "TASK_STARTING" or st == "TASK_RUNNING" then return end
    if st == "TASK_LOST" and status.reason == "REASON_INVALID_OFFERS" then
      local code = jobs:get("code:" .. id)
      launched[id] = nil
      if code then
        pending[#pending + 1] = { id = id, code = code }
        if suppressed then d:revive(); suppressed = false end
      end
      return
    end
    launched[id] = nil
    local kind, text = result_text(status)
    jobs:set("result:" .. id, kind .. "\n" .. text, RESULT_TTL)
    jobs:delete("code:" .. id)
  end

  -- Called every tick: move queued jobs into `pending`, revive if needed.
  local function on_tick(d)
    local n = 0
    while true do
      local id = jobs:rpop("queue")
      if not id then break end
      local code = jobs:get("code:" .. id)
      if code then pending[#pending + 1] = { id = tostring(id), code = code }; n = n + 1 end
    end
    if n > 0 and suppressed then d:revive(); suppressed = false end
  end

  -- On exit (reload, QUIT): hand the jobs not yet launched back to the queue
  -- for the next generation; on the embedded cluster, which dies with this
  -- worker, the launched ones too.
  local function on_exit()
    for _, job in ipairs(pending) do jobs:rpush("queue", job.id) end
    if local_master then
      for id in pairs(launched) do jobs:rpush("queue", id) end
    end
  end

  -- A real master keeps our framework (and its tasks) across a reload:
  -- fail over to it.
  local framework_id = not local_master and previous.framework_id or nil
  local d = mesos.scheduler(handler, {
    master = master or "local",
    framework = {
      name = os.getenv("LUA_MESOS_FRAMEWORK") or "lua-mesos-openresty", failover_timeout = 60,
      id = framework_id and { value = framework_id } or nil,
    },
    local_cluster = { work_dir = os.getenv("LUA_MESOS_WORK_DIR"), allocation_interval = 0.05 },
  })
  return d, on_tick, on_exit
end

-- The library's own log records go to nginx's error log (delivered on the
-- owner's timer, never from a foreign thread).
local NGX_LEVEL = { error = ngx.ERR, warn = ngx.WARN, info = ngx.INFO, debug = ngx.DEBUG, trace = ngx.DEBUG }

function app.init_worker()
  mesos.set_log(os.getenv("LUA_MESOS_LOG") or "info", function(level, message, source)
    ngx.log(NGX_LEVEL[level] or ngx.NOTICE, "mesos[", source, "] ", message)
  end)
  local jobs = ngx.shared[JOBS]
  local on_tick, on_exit
  local ok, err = openresty.start(function(previous)
    local d, tick, exit = make_scheduler(jobs, previous)
    on_tick, on_exit = tick, exit
    return d
  end, {
    dict = JOBS, interval = 0.02,
    on_tick = function(d) on_tick(d) end,
    on_exit = function(d) on_exit(d) end,
  })
  if ok == nil then ngx.log(ngx.ERR, "mesos.openresty.start: ", err) end
end

-- Request side ------------------------------------------------------------

function app.run()
  local code = ngx.var.arg_code and ngx.unescape_uri(ngx.var.arg_code)
  if not code or code == "" then
    ngx.status = 400; ngx.say("missing ?code="); return
  end
  local jobs = ngx.shared[JOBS]
  local id = jobs:incr("next_id", 1, 0)
  jobs:set("code:" .. id, code, RESULT_TTL)
  local len, err = jobs:lpush("queue", id)
  if not len then ngx.status = 503; ngx.say("cannot queue: ", err); return end
  local deadline = ngx.now() + (tonumber(ngx.var.arg_timeout) or 30)
  while ngx.now() < deadline do
    local res = jobs:get("result:" .. id)
    if res then
      jobs:delete("result:" .. id)
      local kind, text = res:match("^(%a+)\n(.*)$")
      if kind ~= "ok" then ngx.status = 500 end
      ngx.say(text)
      return
    end
    ngx.sleep(0.01)
    ngx.update_time()
  end
  ngx.status = 504; ngx.say("timed out waiting for job ", id)
end

function app.status()
  local st = openresty.status(JOBS)
  ngx.say(st.state or "none", " ", st.framework_id or "-", " ", st.owner_type or "-", " ", st.owner_pid or "-")
end

return app
