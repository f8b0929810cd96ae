-- mesos.luv: drive a mesos driver from a luv (libuv) loop, e.g. in luvit.
--
--   local uv = require "luv"
--   local poll = require("mesos.luv").attach(driver)   -- starts the driver if needed
--   uv.run()
--
-- The driver's fd becomes readable while events are queued; the poll
-- handle's callback handles them with driver:poll(0), which never blocks the
-- loop. The handle closes itself once the driver has stopped and its queue
-- is empty. opts.on_error(err) receives errors raised by handler methods
-- (default: re-raise them into luv, which reports them).
local M = {}

function M.attach(driver, opts)
  opts = opts or {}
  local uv = opts.uv or require "luv"
  if driver:state() == "idle" then
    local ok, err = driver:start()
    if not ok then return nil, err end
  end
  local poll = uv.new_poll(driver:fd())
  local function close()
    if not poll:is_closing() then
      poll:stop()
      poll:close()
    end
  end
  poll:start("r", function(err)
    if err then
      close()
      if opts.on_error then return opts.on_error(err) end
      error("mesos.luv: poll failed: " .. tostring(err))
    end
    -- Spurious wake-ups are harmless: poll(0) handles what is queued, if anything.
    local ok, perr = pcall(driver.poll, driver, 0, opts.max)
    if driver:state() == "stopped" and driver:pending() == 0 then close() end
    if not ok then
      if opts.on_error then return opts.on_error(perr) end
      error(perr, 0)
    end
  end)
  return poll
end

return M
