-- What the debugger reads of the stack: whether a function is task code
-- (its environment is a task's: mesos.tasks.sandbox), how deep a frame is,
-- and the variables a frame sees.
-- May require: mesos.tasks.sandbox.

local sandbox = require "mesos.tasks.sandbox"

local M = {}

local getinfo, getlocal, getupvalue = debug.getinfo, debug.getlocal, debug.getupvalue
local s_sub = string.sub
local type, pcall, getfenv = type, pcall, getfenv

function M.is_task(func)
  if type(func) ~= "function" then return false end
  local ok, env = pcall(getfenv, func)
  return ok and sandbox.is_task_env(env)
end

-- Number of frames from `level` (as seen from the caller) to the bottom of
-- the running coroutine's stack.
function M.depth_from(level)
  local l = level + 1
  while getinfo(l, "l") do l = l + 1 end
  return l - level - 1
end

-- The variables visible in the frame at `level` (as seen from the caller):
-- upvalues, then locals (an inner local shadows an outer one and both shadow
-- upvalues), and the frame's varargs. Returns vars, where (name -> {kind,
-- index}) and the list of varargs.
function M.frame_vars(level)
  level = level + 1
  local info = getinfo(level, "f")
  local func = info and info.func
  local vars, where, varargs = {}, {}, {}
  if type(func) == "function" and getinfo(func, "S").what ~= "C" then
    local i = 1
    while true do
      local name, value = getupvalue(func, i)
      if not name then break end
      if name ~= "" and s_sub(name, 1, 1) ~= "(" then vars[name], where[name] = value, { "up", i } end
      i = i + 1
    end
  end
  local i = 1
  while true do
    local name, value = getlocal(level, i)
    if not name then break end
    if s_sub(name, 1, 1) ~= "(" then vars[name], where[name] = value, { "local", i } end
    i = i + 1
  end
  i = 1
  while true do
    local name, value = getlocal(level, -i)
    if not name then break end
    varargs[i] = value
    varargs.n = i
    i = i + 1
  end
  return vars, where, varargs, func
end

return M
