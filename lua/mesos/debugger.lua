-- Old name of mesos.tasks.debugger, kept for code written before the task
-- runtime had its folder (lua/mesos/tasks/debugger.lua).
return require "mesos.tasks.debugger"
