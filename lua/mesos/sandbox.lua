-- Old name of mesos.tasks.sandbox, kept for code written before the task
-- runtime had its folder (lua/mesos/tasks/sandbox.lua).
return require "mesos.tasks.sandbox"
