-- Old name of mesos.tasks.task, kept for code written before the task
-- runtime had its folder (lua/mesos/tasks/task.lua).
return require "mesos.tasks.task"
