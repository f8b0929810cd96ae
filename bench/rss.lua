-- Memory figures of this process for the bench scripts, in kB from
-- /proc/self/status:
--   local status_kb = dofile((arg[0]:match("^(.*)/") or ".") .. "/rss.lua")
--   status_kb("VmRSS"), status_kb("VmHWM")
return function(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end
