-- Serialisation of Lua values for shipping tasks and their results between
-- processes (scheduler, executor, task). Pure Lua; the decoder is a real
-- parser (never `load`), runs in linear time, bounds its recursion and returns
-- `nil, err` on any malformed input, because the bytes come from untrusted tasks.
--
-- Format: a version marker, then one value (or, for encode_list and
-- encode_values, a list of values).
--
--   v<version>;            the format's version, "v1;" for this one. The
--                          decoder refuses data without it or with another
--                          version (nil, "decode: ... format version ...")
--                          rather than misread it: both ends of a task must
--                          run the same format. Change the version with any
--                          change to the tags below.
--
-- A value is a tag byte followed by its payload.
--
--   z                      nil
--   t  f                   true, false
--   n<text>;               number; <text> is "%.15g" or, when that does not
--                          round-trip, "%.17g" (exact for every double);
--                          also "inf", "-inf", "nan" (its sign and payload
--                          are not kept), "-0"
--   s<len>:<bytes>         string: decimal byte count, ':', the raw bytes
--   {<n>:<v1>..<vn><k v>*}  table: <n> array values for keys 1..n (none nil),
--                          then key/value pairs (keys boolean, number or
--                          string; values not nil), then '}'
--   L<n>:<v1>..<vn>        a list of n values (nils allowed), the top level of
--                          encode_list/encode_values only
--
-- Examples: 42 -> "v1;n42;"; "hi" -> "v1;s2:hi";
-- {1, 2, x = true} -> "v1;{2:n1;n2;s1:xt}"; encode_list(3, 1, nil, 3) -> "v1;L3:n1;zn3;".
--
-- Limits: tables nested deeper than 200 levels are refused (both ways);
-- encoding stops with an error once the output (the marker included) would
-- exceed `max_bytes` (default 64 MiB). A table reached twice without a cycle is written twice.
-- Tables are read raw (rawget/next): metatables are neither run nor sent.
-- Decoding time is linear in the input; LuaJIT's string interning is the one
-- shared structure (hash-collision floods are bounded only by input size).
--
-- API: encode(value [, opts]) -> string | nil, err
--      encode_values(n, values [, opts]) -> string | nil, err   (values[1..n])
--      encode_list(n, ...) -> string | nil, err
--      decode(string) -> value | nil, err    (an encoded nil decodes as nil
--                                             with no err)
--      decode_list(string) -> n, values | nil, err
-- opts: max_bytes (number), name (root of error paths: "value"/"result").

local M = {}

M.VERSION = 1                        -- the format's version
M.MARKER = "v" .. M.VERSION .. ";"   -- what every encoding starts with
M.MAX_DEPTH = 200
M.MAX_BYTES = 64 * 1024 * 1024

local byte, sub, match, format = string.byte, string.sub, string.match, string.format
local concat = table.concat
local type, tostring, tonumber, next, rawget, rawset, pcall, error =
  type, tostring, tonumber, next, rawget, rawset, pcall, error
local huge = math.huge

local function number_text(v)
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  if v == 0 and 1 / v < 0 then return "-0" end
  if v % 1 == 0 and v > -1e15 and v < 1e15 then return format("%d", v) end
  local s = format("%.15g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  return s
end

-- Encoding ---------------------------------------------------------------

local function key_path(k)
  if type(k) == "string" then
    if match(k, "^[%a_][%w_]*$") then return "." .. k end
    return format("[%q]", k)
  end
  return "[" .. tostring(k) .. "]"
end

-- Returns an encoder state; `fail` raises a marked error caught by `run`.
local function new_encoder(opts)
  local max_bytes = opts and opts.max_bytes or M.MAX_BYTES
  local buf, nbuf, size = {}, 0, 0
  local path = {}       -- the root's name, then the keys down to the value
  local active = {}     -- tables on the current path (cycle detection)
  local st = {}

  local function fail(msg)
    local parts = { path[1] }
    for i = 2, #path do parts[i] = key_path(path[i]) end
    local n = #parts
    local where = n <= 24 and concat(parts)
      or concat(parts, "", 1, 12) .. "..." .. concat(parts, "", n - 11, n)
    error({ serialize_error = msg .. " at " .. where }, 0)
  end

  local function put(s)
    size = size + #s
    if size > max_bytes then fail(format("encoding exceeds max_bytes (%d)", max_bytes)) end
    nbuf = nbuf + 1
    buf[nbuf] = s
  end

  local write

  local function write_table(t, depth)
    if active[t] then fail("cyclic table") end
    if depth > M.MAX_DEPTH then fail(format("tables nested deeper than %d", M.MAX_DEPTH)) end
    active[t] = true
    local n = 0
    while rawget(t, n + 1) ~= nil do n = n + 1 end
    put("{" .. n .. ":")
    local top = #path + 1
    for i = 1, n do
      path[top] = i
      write(rawget(t, i), depth)
    end
    for k, v in next, t do
      local kt = type(k)
      if not (kt == "number" and k >= 1 and k <= n and k % 1 == 0) then
        if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
          path[top] = nil
          fail("cannot serialise a " .. kt .. " as a table key")
        end
        path[top] = k
        write(k, depth)
        write(v, depth)
      end
    end
    path[top] = nil
    active[t] = nil
    put("}")
  end

  write = function(v, depth)
    local tv = type(v)
    if tv == "string" then
      put("s" .. #v .. ":")
      put(v)
    elseif tv == "number" then
      put("n" .. number_text(v) .. ";")
    elseif tv == "table" then
      write_table(v, depth + 1)
    elseif tv == "boolean" then
      put(v and "t" or "f")
    elseif tv == "nil" then
      put("z")
    else
      fail("cannot serialise a " .. tv)
    end
  end

  function st.run(f)
    local ok, err = pcall(f)
    if ok then return concat(buf, "", 1, nbuf) end
    if type(err) == "table" and err.serialize_error then return nil, err.serialize_error end
    return nil, "serialize: " .. tostring(err)
  end
  st.write, st.put, st.path = write, put, path
  return st
end

function M.encode(value, opts)
  local e = new_encoder(opts)
  e.path[1] = opts and opts.name or "value"
  return e.run(function()
    e.put(M.MARKER)
    e.write(value, 0)
  end)
end

-- Encodes values[1..n] as a list; error paths name them result[i].
function M.encode_values(n, values, opts)
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then return nil, "encode_values: bad count" end
  if n > 0 and type(values) ~= "table" then return nil, "encode_values: values must be a table" end
  local e = new_encoder(opts)
  local root = opts and opts.name or "result"
  return e.run(function()
    e.path[1] = root
    e.put(M.MARKER)
    e.put("L" .. n .. ":")
    for i = 1, n do
      e.path[1] = root .. "[" .. i .. "]"
      e.write(rawget(values, i), 0)
    end
  end)
end

function M.encode_list(n, ...)
  return M.encode_values(n, { ... })
end

-- Decoding ---------------------------------------------------------------

local B_Z, B_T, B_F, B_N, B_S, B_OPEN, B_CLOSE, B_L = byte("ztfns{}L", 1, 8)

local special = { inf = huge, ["-inf"] = -huge, nan = 0 / 0 }  -- "-0" parses as -0.0

local function valid_number(text)
  return match(text, "^%-?%d+%.?%d*$") or match(text, "^%-?%d+%.?%d*[eE][%+%-]?%d+$")
    or text == "inf" or text == "-inf" or text == "nan"
end

-- Parses s; raises {decode_error = msg} (caught in M.decode*) on bad input.
local function parse(s, pos, list)
  local len = #s
  local function fail(msg, at)
    error({ decode_error = format("%s at byte %d", msg, at or pos) }, 0)
  end

  -- The version marker first: data of another format is never misread.
  local version = match(s, "^v(%d+);", pos)
  if not version then
    error({ decode_error = format("no format version marker (expected %q): not data of "
      .. "mesos.serialize format version %d", M.MARKER, M.VERSION) }, 0)
  end
  if version ~= tostring(M.VERSION) then
    error({ decode_error = format("format version %s, but this mesos.serialize reads format version %d",
      #version > 9 and sub(version, 1, 9) .. "..." or version, M.VERSION) }, 0)
  end
  pos = pos + #version + 2

  local function count(what)
    local digits = match(s, "^(%d+):", pos + 1)
    if not digits or #digits > 15 then fail("bad " .. what .. " length") end
    pos = pos + #digits + 2
    return tonumber(digits)
  end

  local value
  local function table_value(depth)
    if depth > M.MAX_DEPTH then fail(format("tables nested deeper than %d", M.MAX_DEPTH)) end
    local t = {}
    local n = count("array")
    for i = 1, n do
      local at = pos
      local v = value(depth)
      if v == nil then fail("nil in a table", at) end
      t[i] = v
    end
    while true do
      local b = byte(s, pos)
      if b == B_CLOSE then
        pos = pos + 1
        return t
      elseif b == nil then
        fail("unterminated table")
      end
      local at = pos
      local k = value(depth)
      local tk = type(k)
      if tk == "nil" or tk == "table" or k ~= k then fail("bad table key", at) end
      if rawget(t, k) ~= nil then fail("duplicate table key", at) end
      at = pos
      local v = value(depth)
      if v == nil then fail("nil in a table", at) end
      rawset(t, k, v)
    end
  end

  value = function(depth)
    local b = byte(s, pos)
    if b == B_S then
      local n = count("string")
      if pos + n - 1 > len then fail("truncated string") end
      local v = sub(s, pos, pos + n - 1)
      pos = pos + n
      return v
    elseif b == B_N then
      local text = match(s, "^([^;]*);", pos + 1)
      if not text or #text > 32 or not valid_number(text) then fail("bad number") end
      pos = pos + #text + 2
      return special[text] or tonumber(text)
    elseif b == B_OPEN then
      return table_value(depth + 1)
    elseif b == B_T then
      pos = pos + 1
      return true
    elseif b == B_F then
      pos = pos + 1
      return false
    elseif b == B_Z then
      pos = pos + 1
      return nil
    elseif b == nil then
      fail("unexpected end of input")
    end
    fail(format("bad tag %q", sub(s, pos, pos)))
  end

  local n, result
  if list then
    if byte(s, pos) ~= B_L then fail("not a value list") end
    n = count("list")
    result = {}
    for i = 1, n do result[i] = value(0) end
  else
    result = value(0)
  end
  if pos <= len then fail("trailing bytes") end
  return result, n
end

local function decode_with(s, list)
  if type(s) ~= "string" then return false, "decode: expected a string, got " .. type(s) end
  local ok, v, n = pcall(parse, s, 1, list)
  if ok then return true, v, n end
  if type(v) == "table" and v.decode_error then return false, "decode: " .. v.decode_error end
  return false, "decode: " .. tostring(v)
end

function M.decode(s)
  local ok, v = decode_with(s, false)
  if ok then return v end
  return nil, v
end

function M.decode_list(s)
  local ok, values, n = decode_with(s, true)
  if ok then return n, values end
  return nil, values
end

return M
