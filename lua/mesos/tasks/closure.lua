-- Functions that travel with their upvalues (mesos.map, mesos.run).
--
-- pack(fn) gives plain data (mesos.serialize can carry it): the function's
-- bytecode and the VALUES of its upvalues at the call, captured when they
-- can travel: nil, booleans, numbers, strings, tables of those, functions
-- of the same kind (packed in turn), and the C functions of the standard
-- library (by name, e.g. `math.floor`, found again in the task's
-- environment). Anything else (a userdata, a coroutine, another C
-- function, a table key that is not a string, number or boolean, a cycle)
-- raises, naming the upvalue. bind() makes the function again on the other
-- side. Upvalues are copies: an assignment in a task changes the task's
-- copy only, and two functions that shared an upvalue get one copy each.
--
-- May require nothing.

local M = {}

local FN, STD = "\0mesos.fn", "\0mesos.std"
local getupvalue, setupvalue, getinfo = debug.getupvalue, debug.setupvalue, debug.getinfo

-- C functions of the standard library, by value -> "lib.name".
local std_names
local function std_name(f)
  if not std_names then
    std_names = {}
    for _, lib in ipairs { "string", "table", "math", "os", "io", "coroutine", "bit" } do
      local t = rawget(_G, lib)
      if type(t) == "table" then
        for k, v in pairs(t) do
          if type(v) == "function" and type(k) == "string" then std_names[v] = lib .. "." .. k end
        end
      end
    end
    for k, v in pairs(_G) do
      if type(v) == "function" and type(k) == "string" and not std_names[v] then std_names[v] = k end
    end
  end
  return std_names[f]
end

local pack_function

-- The travelling form of value `v` at `path` (for messages).
local function pack_value(v, path, seen)
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then return v end
  if t == "function" then
    if getinfo(v, "S").what == "C" then
      local name = std_name(v)
      if name then return { [STD] = name } end
      error(("%s is a C function that is not part of the standard library"):format(path), 0)
    end
    return { [FN] = pack_function(v, path, seen) }
  end
  if t == "table" then
    if seen[v] then error(("%s holds a cycle"):format(path), 0) end
    seen[v] = true
    local out = {}
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
        error(("%s has a key of type %s"):format(path, kt), 0)
      end
      out[k] = pack_value(x, ("%s[%s]"):format(path, kt == "string" and ("%q"):format(k) or tostring(k)), seen)
    end
    seen[v] = nil
    return out
  end
  error(("%s is a %s, which cannot travel to a task"):format(path, t), 0)
end

pack_function = function(fn, path, seen)
  local ups, i = {}, 1
  while true do
    local name, value = getupvalue(fn, i)
    if name == nil then break end
    ups[i] = { name = name, value = pack_value(value, ("upvalue '%s'%s"):format(name, path and (" of " .. path) or ""), seen) }
    i = i + 1
  end
  return { code = string.dump(fn), upvalues = ups, n = i - 1 }
end

--- The travelling form of Lua function `fn`: { code = bytecode,
--- upvalues = {...} }; raises "upvalue 'x' is a userdata, ..." for what
--- cannot travel.
function M.pack(fn)
  return pack_function(fn, nil, {})
end

--- True when `fn` has upvalues (plain bytecode is enough otherwise).
function M.has_upvalues(fn)
  return getupvalue(fn, 1) ~= nil
end

local function lookup(env, name)
  local v = env
  for part in name:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local bind_function

local function unpack_value(v, load, env)
  if type(v) ~= "table" then return v end
  if v[FN] then return bind_function(v[FN], load, env) end
  if v[STD] then
    local f = lookup(env, v[STD])
    if f == nil then error(("%s is not available to tasks"):format(v[STD]), 0) end
    return f
  end
  local out = {}
  for k, x in pairs(v) do out[k] = unpack_value(x, load, env) end
  return out
end

bind_function = function(p, load, env)
  local f, err = load(p.code)
  if not f then error(err, 0) end
  for i = 1, p.n or #p.upvalues do
    local u = p.upvalues[i]
    if u then setupvalue(f, i, unpack_value(u.value, load, env)) end
  end
  return f
end

--- The function of packed `p` again: `load(bytecode)` makes a function
--- (in the task's environment `env`, where standard functions are found).
function M.bind(p, load, env)
  return bind_function(p, load, env)
end

return M
