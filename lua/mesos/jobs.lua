-- Old name of mesos.tasks.jobs, kept for code written before the task
-- runtime had its folder (lua/mesos/tasks/jobs.lua).
return require "mesos.tasks.jobs"
