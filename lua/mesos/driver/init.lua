-- mesos.driver: the Lua faces of the two drivers, over their Rust cores
-- (src/lua/userdata/). Internal: the module root puts them in the module as
-- mesos.scheduler and mesos.executor.
--
--   common.lua     error re-raising, handler calls, poll/run/events loops
--   scheduler.lua  mesos.scheduler(handler, opts) and the driver's calls
--   executor.lua   mesos.executor(handler, opts) and the driver's calls
--
-- May require: mesos._core, mesos.resources, mesos.view; never mesos.tasks.

return {
  common = require "mesos.driver.common",
  scheduler = require "mesos.driver.scheduler",
  executor = require "mesos.driver.executor",
}
