-- Old name of mesos.tasks.events, kept for code written before the task
-- runtime had its folder (lua/mesos/tasks/events.lua).
return require "mesos.tasks.events"
