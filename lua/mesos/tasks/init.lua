-- mesos.tasks: the task runtime, what runs Lua code as Mesos tasks.
--
--   jobs.lua          mesos.map / mesos.run / jobs.run_all: the scheduler side
--   lua_executor.lua  the Lua executor program that agents start
--   task.lua          one task process (or the executor's zygote)
--   sandbox.lua       the environment task code runs in
--   events.lua        topics between tasks and the scheduler (events/)
--   debugger.lua      MobDebug for task code (debugger/)
--
-- The parts require "mesos" and mesos.serialize, and each other as named in
-- their headers; nothing under mesos.driver. `require "mesos.tasks".jobs`
-- loads a part on first use.

return setmetatable({}, {
  __index = function(t, name)
    local part = require("mesos.tasks." .. name)
    rawset(t, name, part)
    return part
  end,
})
