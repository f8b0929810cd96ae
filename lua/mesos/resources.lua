-- Resource helpers: parse Mesos resource strings into Resource tables, sum an
-- offer's scalars, check that a request fits, subtract what a task takes.
-- Resource tables use the proto field names (name, type, scalar, ranges, set).

local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function parse_value(name, v)
  if v:sub(1, 1) == "[" then
    local ranges = {}
    for part in v:sub(2, -2):gmatch("[^,]+") do
      local b, e = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
      if not b then
        b = part:match("^%s*(%d+)%s*$")
        e = b
      end
      if not b then error(("resources: bad range %q for %s"):format(part, name), 3) end
      b, e = tonumber(b), tonumber(e)
      if e < b then error(("resources: empty range %q for %s"):format(part, name), 3) end
      ranges[#ranges + 1] = { begin = b, ["end"] = e }
    end
    return { name = name, type = "RANGES", ranges = { range = ranges } }
  elseif v:sub(1, 1) == "{" then
    local items = {}
    for item in v:sub(2, -2):gmatch("[^,]+") do items[#items + 1] = trim(item) end
    return { name = name, type = "SET", set = { item = items } }
  end
  local n = tonumber(v)
  if not n then error(("resources: bad scalar %q for %s"):format(v, name), 3) end
  if n < 0 then error(("resources: negative scalar for %s"):format(name), 3) end
  return { name = name, type = "SCALAR", scalar = { value = n } }
end

--- Parses "cpus:1;mem:128;ports:[31000-31010];disks:{a,b}" (also "cpus(role):1")
--- into a list of Resource tables.
function M.parse(text)
  if type(text) ~= "string" then
    error("resources.parse: expected a string, got " .. type(text), 2)
  end
  local out = {}
  for part in text:gmatch("[^;]+") do
    part = trim(part)
    if part ~= "" then
      local key, value = part:match("^([^:]+):(.+)$")
      if not key then error(("resources.parse: bad resource %q (want name:value)"):format(part), 2) end
      key, value = trim(key), trim(value)
      local name, role = key:match("^([%w_%-%.]+)%(([^%)]*)%)$")
      name = name or key
      local r = parse_value(name, value)
      if role and role ~= "" and role ~= "*" then
        r.reservations = { { type = "STATIC", role = role } }
      end
      out[#out + 1] = r
    end
  end
  return out
end

-- A view (mesos.view) as plain tables; anything else as it is.
local function plain(v)
  if type(v) == "cdata" then return require("mesos.view").plain(v) end
  return v
end

local function list_of(resources)
  if type(resources) == "string" then return M.parse(resources) end
  -- A view of an Offer or TaskInfo (mesos.view).
  if type(resources) == "cdata" then return resources.resources or {} end
  if type(resources) ~= "table" then
    error("resources: expected a list of Resource tables or a resource string, got " .. type(resources), 3)
  end
  if resources.resources then return resources.resources end -- an Offer or TaskInfo
  return resources
end

--- Sums the scalar resources: { cpus = 4, mem = 4096, ... }.
function M.scalars(resources)
  local sums = {}
  for _, r in ipairs(list_of(resources)) do
    if r.type == "SCALAR" or (r.type == nil and r.scalar) then
      sums[r.name] = (sums[r.name] or 0) + r.scalar.value
    end
  end
  return sums
end

--- The sum of one scalar (0 if absent): resources.scalar(offer, "cpus").
function M.scalar(resources, name)
  return M.scalars(resources)[name] or 0
end

local function ranges_of(resources, name)
  local out = {}
  for _, r in ipairs(list_of(resources)) do
    if r.name == name and r.ranges then
      for _, rg in ipairs(r.ranges.range or {}) do out[#out + 1] = { rg.begin, rg["end"] } end
    end
  end
  return out
end

local function set_of(resources, name)
  local out = {}
  for _, r in ipairs(list_of(resources)) do
    if r.name == name and r.set then
      for _, it in ipairs(r.set.item or {}) do out[it] = true end
    end
  end
  return out
end

local function range_covered(have, b, e)
  -- `have` may be fragmented: walk the pieces that touch [b, e].
  local pos = b
  local progressed = true
  while pos <= e and progressed do
    progressed = false
    for _, h in ipairs(have) do
      if h[1] <= pos and h[2] >= pos then
        pos = h[2] + 1
        progressed = true
      end
    end
  end
  return pos > e
end

local EPS = 1e-9

--- True if every resource in `request` is contained in `available`.
--- Returns false plus the name of the first missing resource otherwise.
function M.fits(request, available)
  local want = list_of(request)
  local have = M.scalars(available)
  local need = {}
  for _, r in ipairs(want) do
    if r.scalar then need[r.name] = (need[r.name] or 0) + r.scalar.value end
  end
  for name, v in pairs(need) do
    if (have[name] or 0) + EPS < v then return false, name end
  end
  for _, r in ipairs(want) do
    if r.ranges then
      local h = ranges_of(available, r.name)
      for _, rg in ipairs(r.ranges.range or {}) do
        if not range_covered(h, rg.begin, rg["end"]) then return false, r.name end
      end
    elseif r.set then
      local h = set_of(available, r.name)
      for _, it in ipairs(r.set.item or {}) do
        if not h[it] then return false, r.name end
      end
    end
  end
  return true
end

local function subtract_ranges(have, b, e)
  local out = {}
  for _, h in ipairs(have) do
    if h[2] < b or h[1] > e then
      out[#out + 1] = h
    else
      if h[1] < b then out[#out + 1] = { h[1], b - 1 } end
      if h[2] > e then out[#out + 1] = { e + 1, h[2] } end
    end
  end
  return out
end

--- Returns `available` minus `taken` (a new list; errors if `taken` does not fit).
function M.subtract(available, taken)
  local ok, missing = M.fits(taken, available)
  if not ok then
    error(("resources.subtract: %s is not available"):format(missing), 2)
  end
  local out = {}
  local take_scalar, take_ranges, take_set = {}, {}, {}
  for _, r in ipairs(list_of(taken)) do
    if r.scalar then take_scalar[r.name] = (take_scalar[r.name] or 0) + r.scalar.value end
    if r.ranges then
      take_ranges[r.name] = take_ranges[r.name] or {}
      for _, rg in ipairs(r.ranges.range or {}) do table.insert(take_ranges[r.name], { rg.begin, rg["end"] }) end
    end
    if r.set then
      take_set[r.name] = take_set[r.name] or {}
      for _, it in ipairs(r.set.item or {}) do take_set[r.name][it] = true end
    end
  end
  for _, r in ipairs(list_of(available)) do
    local c = {}
    for k, v in pairs(plain(r)) do c[k] = v end
    if r.scalar then
      local t = take_scalar[r.name] or 0
      local left = r.scalar.value - t
      take_scalar[r.name] = math.max(0, t - r.scalar.value)
      -- Mesos keeps three decimals.
      left = math.floor(left * 1000 + 0.5) / 1000
      if left > EPS then
        c.scalar = { value = left }
        out[#out + 1] = c
      end
    elseif r.ranges then
      local pieces = {}
      for _, rg in ipairs(r.ranges.range or {}) do pieces[#pieces + 1] = { rg.begin, rg["end"] } end
      for _, t in ipairs(take_ranges[r.name] or {}) do pieces = subtract_ranges(pieces, t[1], t[2]) end
      if #pieces > 0 then
        local rr = {}
        for i, p in ipairs(pieces) do rr[i] = { begin = p[1], ["end"] = p[2] } end
        c.ranges = { range = rr }
        out[#out + 1] = c
      end
    elseif r.set then
      local items = {}
      for _, it in ipairs(r.set.item or {}) do
        if not (take_set[r.name] or {})[it] then items[#items + 1] = it end
      end
      if #items > 0 then
        c.set = { item = items }
        out[#out + 1] = c
      end
    else
      out[#out + 1] = c
    end
  end
  return out
end

--- Takes `n` ports from the offer's "ports" ranges: returns a RANGES resource.
function M.take_ports(available, n)
  local got = {}
  for _, h in ipairs(ranges_of(available, "ports")) do
    local p = h[1]
    while p <= h[2] and #got < n do
      got[#got + 1] = p
      p = p + 1
    end
    if #got >= n then break end
  end
  if #got < n then return nil, "not enough ports" end
  local ranges = {}
  for _, p in ipairs(got) do
    local last = ranges[#ranges]
    if last and last["end"] + 1 == p then last["end"] = p else ranges[#ranges + 1] = { begin = p, ["end"] = p } end
  end
  return { name = "ports", type = "RANGES", ranges = { range = ranges } }
end

--- Formats resources back to the "name:value;..." form.
function M.format(resources)
  local parts = {}
  for _, r in ipairs(list_of(resources)) do
    local v
    if r.scalar then
      v = tostring(r.scalar.value)
    elseif r.ranges then
      local rs = {}
      for _, rg in ipairs(r.ranges.range or {}) do rs[#rs + 1] = rg.begin .. "-" .. rg["end"] end
      v = "[" .. table.concat(rs, ",") .. "]"
    elseif r.set then
      v = "{" .. table.concat(r.set.item or {}, ",") .. "}"
    end
    if v then parts[#parts + 1] = r.name .. ":" .. v end
  end
  return table.concat(parts, ";")
end

return M
