-- The text of the debugger's conversation: "host:port" addresses, Lua
-- literals as MobDebug controllers read them back with loadstring, and the
-- `--{...}` options controllers append to EXEC and STACK.
-- Pure functions; may require nothing.

local M = {}

M.MAX_LITERAL = 4 * 1024 * 1024 -- characters of one serialised value, at most

local s_find, s_gsub, s_format, s_match = string.find, string.gsub, string.format, string.match
local concat, t_sort = table.concat, table.sort
local type, tostring, tonumber, pcall, next, rawget, setfenv, loadstring, floor, huge =
  type, tostring, tonumber, pcall, next, rawget, setfenv, loadstring, math.floor, math.huge

-- Addresses ------------------------------------------------------------------

--- "host:port" or "[v6]:port" -> host, port; or nil, err.
function M.parse_address(s)
  if type(s) ~= "string" then return nil, "expected \"host:port\", got a " .. type(s) end
  local host, port = s_match(s, "^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = s_match(s, "^([^:]+):(%d+)$") end
  port = tonumber(port)
  if not host or host == "" or not port or port < 1 or port > 65535 then
    return nil, s_format("expected \"host:port\", got %q", s)
  end
  return host, port
end

-- Lua literals ----------------------------------------------------------------

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return then true until while")
  :gmatch("%a+") do KEYWORDS[w] = true end

function M.quote(s)
  s = s_format("%q", s)
  s = s_gsub(s, "\\\n", "\\n")
  s = s_gsub(s, "\r", "\\r")
  s = s_gsub(s, "%z", "\\0")
  s = s_gsub(s, "\026", "\\026")
  return s
end

local function comment_text(v)
  local ok, s = pcall(tostring, v)
  s = ok and type(s) == "string" and s or type(v)
  return " --[[" .. s_gsub(s, "%]%]", "] ]") .. "]]"
end

local function number_literal(v, fmt)
  if v ~= v then return "0/0" end
  if v == huge then return "math.huge" end
  if v == -huge then return "-math.huge" end
  if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return s_format("%d", v) end
  return s_format(fmt, v)
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

--- A one-line Lua literal for v. opts (as MobDebug's): maxlevel (tables
--- deeper than this become `{}`), maxnum (entries per table), comment
--- (true: a --[[tostring]] comment after every table, N: at levels below N),
--- nocode (always on: functions become `function() --[[..skipped..]] end`),
--- numformat ("%.17g"). Cycles become `nil --[[ref]]`; userdata and threads
--- `nil --[[tostring]]`. Never raises (a __tostring that fails is skipped).
function M.literal(v, opts)
  opts = opts or {}
  local maxlevel = tonumber(opts.maxlevel)
  local maxnum = tonumber(opts.maxnum)
  local comment = opts.comment
  local numformat = type(opts.numformat) == "string" and s_find(opts.numformat, "^%%[%d%.]*[gfeGE]$")
    and opts.numformat or "%.17g"
  local budget = tonumber(opts.maxlength) or M.MAX_LITERAL
  local out, size, open = {}, 0, {}

  local function put(s)
    out[#out + 1] = s
    size = size + #s
  end
  local function commented(level)
    return comment == true or (type(comment) == "number" and level < comment)
  end

  local function emit(x, level)
    local t = type(x)
    if t == "string" then
      put(M.quote(x))
    elseif t == "number" then
      put(number_literal(x, numformat))
    elseif t == "boolean" or t == "nil" then
      put(tostring(x))
    elseif t == "function" then
      put("function() --[[..skipped..]] end")
    elseif t ~= "table" then
      put("nil" .. comment_text(x))
    elseif open[x] then
      put("nil --[[ref]]")
    elseif (maxlevel and level >= maxlevel) or size > budget then
      put("{}" .. (size > budget and " --[[truncated]]" or " --[[maxlvl]]"))
    else
      open[x] = true
      -- Positional part 1..n, nil holes included, when the integer keys are
      -- dense; every other key as `name = ` or `[literal] = `.
      local count, maxn = 0, 0
      for k in next, x do
        count = count + 1
        if type(k) == "number" and k >= 1 and k == floor(k) and k > maxn then maxn = k end
      end
      if maxn > 2 * count then maxn = 0 end
      local keys = {}
      for k in next, x do
        if not (type(k) == "number" and k >= 1 and k <= maxn and k == floor(k)) then keys[#keys + 1] = k end
      end
      pcall(t_sort, keys, key_order)
      put("{")
      local n = 0
      for i = 1, maxn do
        if maxnum and n >= maxnum then break end
        if n > 0 then put(", ") end
        emit(rawget(x, i), level + 1)
        n = n + 1
      end
      for _, k in ipairs(keys) do
        if maxnum and n >= maxnum then break end
        if n > 0 then put(", ") end
        if type(k) == "string" and s_find(k, "^[%a_][%w_]*$") and not KEYWORDS[k] then
          put(k)
        else
          put("[")
          emit(k, level + 1)
          put("]")
        end
        put(" = ")
        emit(rawget(x, k), level + 1)
        n = n + 1
      end
      put("}")
      if commented(level) then put(comment_text(x)) end
      open[x] = nil
    end
  end
  emit(v, 0)
  return concat(out)
end

-- Controller options appended to EXEC and STACK as `--{...}`: read as a
-- literal in an empty environment; anything else is ignored.
function M.read_params(line)
  local text = s_match(line, "%-%-%s*(%b{})%s*$")
  if not text then return {} end
  local f = loadstring("return " .. text, "=(params)")
  if not f then return {} end
  setfenv(f, {})
  local ok, t = pcall(f)
  return ok and type(t) == "table" and t or {}
end

return M
