-- mesos.copas: drive a mesos driver from a copas scheduler.
--
--   local copas = require "copas"
--   require("mesos.copas").attach(driver)   -- starts the driver if needed
--   copas.loop()
--
-- copas waits on sockets through LuaSocket's select, which accepts any object
-- with getfd(); a small waiter object carrying the driver's fd lets a copas
-- thread sleep in copas.receive until events are queued, then handle them
-- with driver:poll(0). The thread ends once the driver has stopped and its
-- queue is empty. Works with copas 1.x (Debian) and later.
local M = {}

function M.attach(driver, opts)
  opts = opts or {}
  local copas = opts.copas or require "copas"
  if driver:state() == "idle" then
    local ok, err = driver:start()
    if not ok then return nil, err end
  end
  local waiter = {
    getfd = function() return driver:fd() end,
    dirty = function() return driver:pending() > 0 end,
    settimeout = function() end,
    close = function() end,
    -- copas.receive calls this: "ready" once events are queued, else it
    -- yields until select() reports the fd readable.
    receive = function()
      if driver:pending() > 0 or driver:state() == "stopped" then return "ready" end
      return nil, "timeout"
    end,
  }
  copas.addthread(function()
    while driver:state() ~= "stopped" or driver:pending() > 0 do
      copas.receive(waiter)
      driver:poll(0, opts.max)
    end
  end)
  return true
end

return M
