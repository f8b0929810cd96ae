-- Old name of mesos.tasks.lua_executor, the Lua executor program (kept for
-- code written before the task runtime had its folder). Not the executor
-- driver: that is the function mesos.executor(handler, opts).
return require "mesos.tasks.lua_executor"
