-- The module root: what `require "mesos"` returns.
--
-- `require "mesos"` loads the native library (src/lua/mod.rs). It registers
-- every Lua file under lua/mesos/ in package.preload (module name = path),
-- plus `mesos._core`, the internal Rust core, and then requires this file.
-- (Not lua/mesos/init.lua: a checkout's LUA_PATH often holds `?/init.lua`,
-- which would load the root without the library.)
--
-- The module, by part:
--   mesos.scheduler, mesos.executor   the drivers      lua/mesos/driver/
--   mesos.map, mesos.run, mesos.router the task runtime lua/mesos/tasks/ (on first use)
--   mesos.resources, mesos.view, mesos.serialize, mesos.luv ...  beside this file
--   (so are one-line files under the task runtime's old names: mesos.jobs,
--   mesos.events, mesos.sandbox, mesos.task, mesos.debugger, mesos.executor)
--   encode/decode, logging, channels, NATS, processes, the local cluster:
--   written in Rust (core.api), listed below.
--
-- May require: mesos._core, mesos.driver.*, mesos.resources; mesos.tasks.*
-- only inside functions (they require "mesos" themselves).

local core = require "mesos._core"
local common = require "mesos.driver.common"
local scheduler = require "mesos.driver.scheduler"
local executor = require "mesos.driver.executor"

local checked = common.checked

local M = {}
M._VERSION = core.version
M.resources = require "mesos.resources"

-- Messages -------------------------------------------------------------------

--- mesos.encode(type, table [, encoding]) -> bytes
function M.encode(ty, t, enc) return (checked(2, core.encode, ty, t, enc)) end
--- mesos.decode(type, bytes [, encoding]) -> table | nil, err
function M.decode(ty, bytes, enc) return checked(2, core.decode, ty, bytes, enc) end

-- Logging (src/log.rs) --------------------------------------------------------

--- set_log(level [, fn]), log(level, msg), log_level(), flush_log()
function M.set_log(level, fn) return (checked(2, core.set_log, level, fn)) end
function M.log(level, msg) checked(2, core.log, level, msg) end
M.log_level, M.flush_log = core.log_level, core.flush_log

-- The drivers -----------------------------------------------------------------

M.scheduler = scheduler.new
M.Driver = scheduler.Driver
M.executor = executor.new
M.ExecutorDriver = executor.Driver
-- For mesos.jobs' own loop (with a NATS router): the trap of driver:run().
M._interruptible = common.interruptible

-- The task runtime --------------------------------------------------------------

--- mesos.map(fn_or_code, inputs, opts) and mesos.run(code, opts): see mesos.tasks.jobs.
function M.map(...) return require("mesos.tasks.jobs").map(...) end
function M.run(...) return require("mesos.tasks.jobs").run(...) end
--- mesos.router(): the scheduler's end of the tasks' topics (mesos.tasks.events).
function M.router(...) return require("mesos.tasks.events").router(...) end

-- Written in Rust -----------------------------------------------------------------
-- mesos.channel_*, nats, tcp_connect, spawn/zygote/current_user and the other
-- process functions, ship, local_cluster, _unknown_option and the signal
-- traps. A misuse error they raise points at the caller's line.
for name, f in pairs(core.api) do M[name] = f end
common.wrap_rust_functions(M)

return M
