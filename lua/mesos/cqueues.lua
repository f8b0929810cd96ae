-- mesos.cqueues: drive a mesos driver from a cqueues controller.
--
--   local cq = require("cqueues").new()
--   require("mesos.cqueues").attach(driver, cq)   -- starts the driver if needed
--   assert(cq:loop())
--
-- A driver is itself a cqueues pollable object (driver:pollfd(),
-- driver:events() == "r", driver:timeout()), so inside any cqueues coroutine
-- `cqueues.poll(driver)` waits until events are queued; attach() wraps the
-- loop that does that and handles them with driver:poll(0).
local M = {}

function M.attach(driver, cq, opts)
  opts = opts or {}
  local cqueues = require "cqueues"
  if driver:state() == "idle" then
    local ok, err = driver:start()
    if not ok then return nil, err end
  end
  cq:wrap(function()
    while driver:state() ~= "stopped" or driver:pending() > 0 do
      cqueues.poll(driver, opts.tick or 1.0)
      driver:poll(0, opts.max)
    end
  end)
  return true
end

return M
