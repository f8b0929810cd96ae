-- mesos.openresty: run one scheduler driver per nginx instance under
-- OpenResty / lua-nginx-module, drained by a timer so no worker ever blocks.
--
--   init_worker_by_lua_block {
--     require("mesos.openresty").start(function()
--       return require("mesos").scheduler(handler, { master = "local" })
--     end, { dict = "mesos", interval = 0.05, on_tick = function(driver) ... end })
--   }
--
-- M.start(make_driver, opts) -> true (this process owns the driver), false
--   (another process does), or nil, err. Call it from init_worker_by_lua*.
--   Only one process per nginx instance calls make_driver(): the privileged
--   agent when opts.privileged_agent is true (enable it in init_by_lua with
--   require("ngx.process").enable_privileged_agent()), else worker 0.
--   make_driver(previous) gets M.status(opts.dict) as it was before this
--   start (after a reload: the old generation's framework_id, to fail over
--   to it with a real master) and returns an unstarted driver.
--   That process starts the driver and runs ngx.timer.every(opts.interval
--   or 0.05) calling driver:poll(0) (then opts.on_tick(driver), if given).
--   When the worker exits (reload, QUIT) the timer fires prematurely:
--   opts.on_exit(driver), if given, then driver:stop(true) (failover-friendly:
--   no TEARDOWN, so a real master keeps the tasks for failover_timeout).
--   opts.dict names a lua_shared_dict where the owner publishes, every tick,
--   "state", "framework_id", "events", "ticks", "owner_pid" and "owner_type" ("worker" or "privileged agent").
-- M.enable_privileged_agent() -> true or nil, err. Call it from init_by_lua*
--   to run the driver in the privileged agent (needs OpenResty's nginx
--   patch; stock nginx with lua-nginx-module lacks it: then the driver stays
--   in worker 0). M.start follows the outcome unless opts.privileged_agent
--   says otherwise.
-- M.driver() -> the driver in the owning process, nil elsewhere.
-- M.status(dict_name) -> { state=, framework_id=, events=, ticks=, owner_pid= }
--   read from the shared dict, from any worker's request handler.

local M = {}

local driver, dict
local privileged = false -- set in the master by enable_privileged_agent, inherited by fork

local function process_type()
  local ok, process = pcall(require, "ngx.process")
  return ok and process.type() or "worker"
end

local function publish(d)
  if not dict then return end
  dict:set("owner_pid", ngx.worker.pid())
  dict:set("owner_type", process_type())
  dict:set("state", d:state())
  dict:set("framework_id", d:framework_id())
  local ok, stats = pcall(d.stats, d)
  if ok and type(stats) == "table" then dict:set("events", stats.events or 0) end
  dict:incr("ticks", 1, 0)
end

local function is_owner(opts)
  local kind = process_type()
  local want_agent = privileged
  if opts.privileged_agent ~= nil then want_agent = opts.privileged_agent end
  if want_agent then return kind == "privileged agent" end
  return kind == "worker" and ngx.worker.id() == 0
end

function M.enable_privileged_agent()
  local ok, process = pcall(require, "ngx.process")
  if not ok then return nil, "ngx.process is not available: " .. tostring(process) end
  local enabled, err = process.enable_privileged_agent()
  if not enabled then return nil, err end
  privileged = true
  return true
end

function M.start(make_driver, opts)
  opts = opts or {}
  if opts.dict then
    dict = ngx.shared[opts.dict]
    if not dict then return nil, ("lua_shared_dict %q is not declared"):format(opts.dict) end
  end
  if not is_owner(opts) then return false end
  local previous = opts.dict and M.status(opts.dict) or {}
  local ok, d = pcall(make_driver, previous)
  if not ok or not d then return nil, "make_driver failed: " .. tostring(d) end
  local started, err = d:start()
  if not started then return nil, "driver:start failed: " .. tostring(err) end
  driver = d
  publish(d)
  local tick_ok, terr = ngx.timer.every(opts.interval or 0.05, function(premature)
    if premature then
      if opts.on_exit then
        local eok, eerr = pcall(opts.on_exit, d)
        if not eok then ngx.log(ngx.ERR, "mesos.openresty: on_exit: ", eerr) end
      end
      -- A newer generation may own the dict already (reload): leave it be.
      if dict and dict:get("owner_pid") == ngx.worker.pid() then dict:set("state", "stopped") end
      pcall(d.stop, d, true)
      driver = nil
      return
    end
    local pok, perr = pcall(d.poll, d, 0)
    if not pok then ngx.log(ngx.ERR, "mesos.openresty: poll: ", perr) end
    if opts.on_tick then
      local cok, cerr = pcall(opts.on_tick, d)
      if not cok then ngx.log(ngx.ERR, "mesos.openresty: on_tick: ", cerr) end
    end
    publish(d)
  end)
  if not tick_ok then
    pcall(d.stop, d, true)
    return nil, "ngx.timer.every failed: " .. tostring(terr)
  end
  return true
end

function M.driver() return driver end

function M.status(name)
  local sd = ngx.shared[name]
  if not sd then return nil, ("lua_shared_dict %q is not declared"):format(tostring(name)) end
  return {
    state = sd:get("state"), framework_id = sd:get("framework_id"),
    events = sd:get("events"), ticks = sd:get("ticks"), owner_pid = sd:get("owner_pid"),
    owner_type = sd:get("owner_type"),
  }
end

return M
