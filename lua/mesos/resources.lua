-- Resource helpers: parse Mesos resource strings into Resource tables and
-- format them back, sum scalars, check that a request fits, add and subtract.
-- Resource tables use the proto field names (name, type, scalar, ranges, set,
-- reservations, role, reservation, allocation_info, ...). Two resources are
-- the same kind only if their name, reservation stack (static or dynamic,
-- refinement `reservations` or the legacy `role`/`reservation` fields) and
-- allocation role (`allocation_info.role`) match: one role's resources never
-- stand in for another's. See README.md, "mesos.resources".

local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function is_view(v)
  return type(v) == "cdata" and require("mesos.view").is_view(v)
end

-- A view (mesos.view) as plain tables; anything else as it is.
local function plain(v)
  if type(v) == "cdata" then return require("mesos.view").plain(v) end
  return v
end

-- Parsing -----------------------------------------------------------------

local function parse_value(name, v, level)
  if v:sub(1, 1) == "[" then
    if v:sub(-1) ~= "]" then error(("resources: bad ranges %q for %s"):format(v, name), level) end
    local ranges = {}
    for part in v:sub(2, -2):gmatch("[^,]+") do
      local b, e = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
      if not b then
        b = part:match("^%s*(%d+)%s*$")
        e = b
      end
      if not b then error(("resources: bad range %q for %s"):format(part, name), level) end
      b, e = tonumber(b), tonumber(e)
      if e < b then error(("resources: empty range %q for %s"):format(part, name), level) end
      ranges[#ranges + 1] = { begin = b, ["end"] = e }
    end
    return { name = name, type = "RANGES", ranges = { range = ranges } }
  elseif v:sub(1, 1) == "{" then
    if v:sub(-1) ~= "}" then error(("resources: bad set %q for %s"):format(v, name), level) end
    local items = {}
    for item in v:sub(2, -2):gmatch("[^,]+") do
      item = trim(item)
      if item ~= "" then items[#items + 1] = item end
    end
    return { name = name, type = "SET", set = { item = items } }
  end
  local n = tonumber(v)
  if not n then error(("resources: bad scalar %q for %s"):format(v, name), level) end
  if n < 0 then error(("resources: negative scalar for %s"):format(name), level) end
  return { name = name, type = "SCALAR", scalar = { value = n } }
end

-- The text between the "(" at `i` and its matching ")" and the index after it.
local function group_at(s, i, open, close)
  local depth = 0
  for j = i, #s do
    local c = s:sub(j, j)
    if c == open then
      depth = depth + 1
    elseif c == close then
      depth = depth - 1
      if depth == 0 then return s:sub(i + 1, j - 1), j + 1 end
    end
  end
  return nil
end

-- Splits on commas outside () and {}.
local function split_top(s)
  local out, depth, start = {}, 0, 1
  for j = 1, #s do
    local c = s:sub(j, j)
    if c == "(" or c == "{" then
      depth = depth + 1
    elseif c == ")" or c == "}" then
      depth = depth - 1
    elseif c == "," and depth == 0 then
      out[#out + 1] = trim(s:sub(start, j - 1))
      start = j + 1
    end
  end
  local last = trim(s:sub(start))
  if last ~= "" or #out > 0 then out[#out + 1] = last end
  return out
end

-- "{k:v,k2}" -> Labels.
local function parse_labels(s)
  local labels = {}
  for _, kv in ipairs(split_top(s:sub(2, -2))) do
    local k, v = kv:match("^([^:]*):(.*)$")
    if k then labels[#labels + 1] = { key = trim(k), value = trim(v) } else labels[#labels + 1] = { key = kv } end
  end
  return { labels = labels }
end

local RES_TYPES = { STATIC = true, DYNAMIC = true, UNKNOWN = true }

-- "(STATIC,web),(DYNAMIC,web/x,alice,{k:v})" -> a list of ReservationInfo.
local function parse_stack(s)
  local stack = {}
  local i = 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "(" then
      local body, nxt = group_at(s, i, "(", ")")
      if not body then return nil end
      local f = split_top(body)
      local ty, role = f[1], f[2]
      if not (ty and RES_TYPES[ty] and role and role ~= "") then return nil end
      local r = { type = ty, role = role }
      for k = 3, #f do
        if f[k]:sub(1, 1) == "{" then r.labels = parse_labels(f[k]) elseif f[k] ~= "" then r.principal = f[k] end
      end
      stack[#stack + 1] = r
      i = nxt
    elseif c == "," or c:match("%s") then
      i = i + 1
    else
      return nil
    end
  end
  if #stack == 0 then return nil end
  return stack
end

-- One "name(qualifiers)...:value" item -> a Resource table.
local function parse_item(part, level)
  local name = part:match("^[^:%(%{<]+")
  if not name or trim(name) == "" then
    error(("resources.parse: bad resource %q (want name:value)"):format(part), level)
  end
  local i = #name + 1
  name = trim(name)
  local role, stack, alloc, revocable, shared
  while true do
    local c = part:sub(i, i)
    if c == ":" then break end
    local body, nxt
    if c == "(" then
      body, nxt = group_at(part, i, "(", ")")
    elseif part:sub(i, i + 4) == "{REV}" then
      revocable, nxt = true, i + 5
    elseif part:sub(i, i + 7) == "<SHARED>" then
      shared, nxt = true, i + 8
    elseif c:match("%s") then
      nxt = i + 1
    end
    if not nxt then
      error(("resources.parse: bad resource %q (want name:value)"):format(part), level)
    end
    if body then
      body = trim(body)
      local a = body:match("^allocated:%s*(.-)$")
      local st = body:match("^reservations:%s*%[(.*)%]$")
      if a then
        if a == "" or alloc then error(("resources.parse: bad allocation role in %q"):format(part), level) end
        alloc = a
      elseif st then
        stack = parse_stack(st)
        if not stack or role then error(("resources.parse: bad reservations in %q"):format(part), level) end
      else
        if role or stack or body:find("[,()]") then
          error(("resources.parse: bad role in %q"):format(part), level)
        end
        role = body
      end
    end
    i = nxt
  end
  local value = trim(part:sub(i + 1))
  if value == "" then error(("resources.parse: bad resource %q (want name:value)"):format(part), level) end
  local r = parse_value(name, value, level + 1)
  if stack then
    r.reservations = stack
  elseif role and role ~= "" and role ~= "*" then
    r.reservations = { { type = "STATIC", role = role } }
  end
  if alloc then r.allocation_info = { role = alloc } end
  if revocable then r.revocable = {} end
  if shared then r.shared = {} end
  return r
end

--- Parses "cpus:1;mem:128;ports:[31000-31010];disks:{a,b}" into a list of
--- Resource tables. A role in parentheses is a static reservation
--- ("cpus(web):1"); "(allocated: web)" sets allocation_info.role;
--- "(reservations: [(STATIC,web),(DYNAMIC,web/x,principal,{k:v})])" a
--- reservation stack; "{REV}" and "<SHARED>" mark revocable and shared
--- resources. This is the form format() writes.
function M.parse(text)
  if type(text) ~= "string" then
    error("resources.parse: expected a string, got " .. type(text), 2)
  end
  local out = {}
  -- Split on ";" outside parentheses and braces (labels may hold anything else).
  local depth, start = 0, 1
  local parts = {}
  for j = 1, #text do
    local c = text:sub(j, j)
    if c == "(" or c == "{" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == "}" or c == "]" then
      depth = depth - 1
    elseif c == ";" and depth <= 0 then
      parts[#parts + 1] = text:sub(start, j - 1)
      start = j + 1
    end
  end
  parts[#parts + 1] = text:sub(start)
  for _, part in ipairs(parts) do
    part = trim(part)
    if part ~= "" then out[#out + 1] = parse_item(part, 3) end
  end
  return out
end

-- Lists ------------------------------------------------------------------

local function is_resource(t)
  return t.name ~= nil and t.resources == nil
    and (t.type ~= nil or t.scalar ~= nil or t.ranges ~= nil or t.set ~= nil)
end

-- The list of Resources in `resources`: a list, a string, one Resource, an
-- Offer, a TaskInfo, an ExecutorInfo, or a view of one of them.
local function list_of(resources, level)
  if type(resources) == "string" then return M.parse(resources) end
  if is_view(resources) then
    if require("mesos.view").type_name(resources):match("%.Resource$") then return { resources } end
    return resources.resources or {}
  end
  if type(resources) ~= "table" then
    error("resources: expected a list of Resource tables or a resource string, got " .. type(resources), level or 3)
  end
  if resources.resources then return resources.resources end -- an Offer or TaskInfo
  if is_resource(resources) then return { resources } end
  return resources
end

local function kind_of(r)
  local t = r.type
  if t == "SCALAR" or t == "RANGES" or t == "SET" then return t end
  if r.scalar then return "SCALAR" elseif r.ranges then return "RANGES" elseif r.set then return "SET" end
  return t or "?"
end

local function labels_sig(l)
  if l == nil then return "" end
  local kv = {}
  for _, x in ipairs(l.labels or {}) do kv[#kv + 1] = tostring(x.key) .. "=" .. tostring(x.value) end
  table.sort(kv)
  return table.concat(kv, "\2")
end

--- The reservation stack of one Resource as a list of
--- { type, role, principal, labels }, the current reservation last; {} when
--- unreserved. Reads the refinement `reservations` field and the legacy
--- `role` (static) plus `reservation` (dynamic) fields alike.
function M.reservations(r)
  if type(r) ~= "table" and not is_view(r) then
    error("resources.reservations: expected a Resource, got " .. type(r), 2)
  end
  local rs = r.reservations
  if rs and #rs > 0 then
    local out = {}
    for i, x in ipairs(rs) do
      out[i] = { type = x.type, role = x.role, principal = x.principal, labels = plain(x.labels) }
    end
    return out
  end
  local role = r.role
  if role == nil or role == "" or role == "*" then return {} end
  local d = r.reservation
  if d ~= nil then
    return { { type = "DYNAMIC", role = role, principal = d.principal, labels = plain(d.labels) } }
  end
  return { { type = "STATIC", role = role } }
end

--- The role a Resource is reserved for (the last of its reservation stack),
--- or "*" when it is unreserved.
function M.reservation_role(r)
  if type(r) ~= "table" and not is_view(r) then
    error("resources.reservation_role: expected a Resource, got " .. type(r), 2)
  end
  local st = M.reservations(r)
  return #st > 0 and st[#st].role or "*"
end

--- The allocation role (allocation_info.role) of a Resource, or of an
--- Offer (its own allocation_info, else its first resource's); nil if none.
function M.allocation_role(x)
  if type(x) ~= "table" and not is_view(x) then
    error("resources.allocation_role: expected a Resource or an Offer, got " .. type(x), 2)
  end
  local a = x.allocation_info
  if a ~= nil and a.role ~= nil then return a.role end
  if is_view(x) then
    if require("mesos.view").type_name(x):match("%.Resource$") then return nil end
  elseif is_resource(x) then
    return nil
  end
  for _, r in ipairs(list_of(x, 3)) do
    a = r.allocation_info
    if a ~= nil and a.role ~= nil then return a.role end
  end
  return nil
end

-- A plain value as text, keys sorted (equal tables give equal text).
local function canonical(v)
  if type(v) ~= "table" then return type(v) .. ":" .. tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canonical(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- What makes two resources the same kind, apart from the allocation role.
local function base_key(r)
  local st = M.reservations(r)
  local parts = { r.name, kind_of(r) }
  for _, x in ipairs(st) do
    parts[#parts + 1] = table.concat({ tostring(x.type or ""), tostring(x.role or ""),
      tostring(x.principal or ""), labels_sig(x.labels) }, "\3")
  end
  local extra = ""
  if r.revocable ~= nil then extra = extra .. "R" end
  if r.shared ~= nil then extra = extra .. "S" end
  if r.provider_id ~= nil then extra = extra .. "P" .. tostring(r.provider_id.value) end
  -- Disk resources differ by their persistence, volume and source.
  if r.disk ~= nil then extra = extra .. "D" .. canonical(plain(r.disk)) end
  return table.concat(parts, "\1") .. "\1" .. extra
end

local function alloc_of(r)
  local a = r.allocation_info
  return a ~= nil and a.role or nil
end

local function milli(v) return math.floor(v * 1000 + 0.5) end

-- Pools: full key -> { name, kind, sample, scalar (thousandths), ranges
-- ({b, e} pieces), set (item -> true), order } and the keys in order.
-- `alloc_default` stands for the allocation role of resources without one.
local function pools_of(list, alloc_default)
  local pools, order = {}, {}
  for _, r in ipairs(list) do
    local alloc = alloc_of(r) or alloc_default
    local key = base_key(r) .. "\0" .. (alloc or "")
    local p = pools[key]
    if not p then
      p = { name = r.name, kind = kind_of(r), sample = r, alloc = alloc, scalar = 0, ranges = {}, set = {}, items = {} }
      pools[key] = p
      order[#order + 1] = key
    end
    if r.scalar then p.scalar = p.scalar + milli(r.scalar.value) end
    if r.ranges then
      for _, rg in ipairs(r.ranges.range or {}) do p.ranges[#p.ranges + 1] = { rg.begin, rg["end"] } end
    end
    if r.set then
      for _, it in ipairs(r.set.item or {}) do
        if not p.set[it] then
          p.set[it] = true
          p.items[#p.items + 1] = it
        end
      end
    end
  end
  return pools, order
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

-- Is every pool of `want` within `have`? false and the missing pool if not.
local function contained(want, want_order, have)
  for _, key in ipairs(want_order) do
    local w, h = want[key], have[key]
    if w.scalar > 0 and (not h or h.scalar < w.scalar) then return false, w end
    for _, rg in ipairs(w.ranges) do
      if not h or not range_covered(h.ranges, rg[1], rg[2]) then return false, w end
    end
    for _, it in ipairs(w.items) do
      if not h or not h.set[it] then return false, w end
    end
  end
  return true
end

-- The allocation roles in `list`, in order (false for resources without).
local function alloc_roles(list)
  local seen, out = {}, {}
  for _, r in ipairs(list) do
    local a = alloc_of(r) or false
    if not seen[a] then
      seen[a] = true
      out[#out + 1] = a
    end
  end
  return out
end

-- Does `request` fit in `available`? Resources of the request without an
-- allocation role take that of the available ones, all the same one (as
-- the master gives them the offer's). Returns true and that role (false
-- for none), or false and the first missing pool.
local function fit(request, available)
  local want_list, have_list = list_of(request, 4), list_of(available, 4)
  local have = pools_of(have_list)
  local candidates = alloc_roles(have_list)
  if #candidates == 0 then candidates = { false } end
  local first_missing
  for _, a in ipairs(candidates) do
    local want, order = pools_of(want_list, a or nil)
    local ok, missing = contained(want, order, have)
    if ok then return true, a end
    first_missing = first_missing or missing
  end
  return false, first_missing
end

--- True if every resource in `request` is contained in `available`, kind by
--- kind: a reserved resource only satisfies a request for the same
--- reservation, an unreserved one only an unreserved request. Request
--- resources without allocation_info may use any one allocation role of
--- `available`. Returns false plus the name of the first missing resource
--- (and its text, as format() writes it) otherwise.
function M.fits(request, available)
  local ok, missing = fit(request, available)
  if ok then return true end
  return false, missing.name, M.qualified_name(missing.sample)
end

-- Pieces of `have` not in [b, e].
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

local function shallow(r)
  local c = {}
  for k, v in pairs(plain(r)) do c[k] = v end
  return c
end

local function key_of(r, alloc_default)
  return base_key(r) .. "\0" .. (alloc_of(r) or alloc_default or "")
end

--- Returns `available` minus `taken` (a new list, in the order and with
--- the fields of `available`; errors if `taken` does not fit). Only
--- resources of the same kind are taken from each other.
function M.subtract(available, taken)
  local ok, a = fit(taken, available)
  if not ok then
    error(("resources.subtract: %s is not available"):format(a.name), 2)
  end
  local take = pools_of(list_of(taken), a or nil)
  local out = {}
  for _, r in ipairs(list_of(available)) do
    local t = take[key_of(r)]
    local kind = kind_of(r)
    if not t then
      out[#out + 1] = shallow(r)
    elseif kind == "SCALAR" and r.scalar then
      local have = milli(r.scalar.value)
      local used = math.min(have, t.scalar)
      t.scalar = t.scalar - used
      if have - used > 0 then
        local c = shallow(r)
        c.scalar = { value = (have - used) / 1000 }
        out[#out + 1] = c
      end
    elseif kind == "RANGES" and r.ranges then
      local pieces = {}
      for _, rg in ipairs(r.ranges.range or {}) do pieces[#pieces + 1] = { rg.begin, rg["end"] } end
      for _, x in ipairs(t.ranges) do pieces = subtract_ranges(pieces, x[1], x[2]) end
      if #pieces > 0 then
        local c = shallow(r)
        local rr = {}
        for i, p in ipairs(pieces) do rr[i] = { begin = p[1], ["end"] = p[2] } end
        c.ranges = { range = rr }
        out[#out + 1] = c
      end
    elseif kind == "SET" and r.set then
      local items = {}
      for _, it in ipairs(r.set.item or {}) do
        if not t.set[it] then items[#items + 1] = it end
      end
      if #items > 0 then
        local c = shallow(r)
        c.set = { item = items }
        out[#out + 1] = c
      end
    else
      out[#out + 1] = shallow(r)
    end
  end
  return out
end

-- Sorted, merged pieces.
local function coalesce(pieces)
  table.sort(pieces, function(x, y) return x[1] < y[1] end)
  local out = {}
  for _, p in ipairs(pieces) do
    local last = out[#out]
    if last and p[1] <= last[2] + 1 then
      if p[2] > last[2] then last[2] = p[2] end
    else
      out[#out + 1] = { p[1], p[2] }
    end
  end
  return out
end

-- One Resource per pool, with the fields of the pool's first resource.
local function from_pools(pools, order)
  local out = {}
  for _, key in ipairs(order) do
    local p = pools[key]
    local c = shallow(p.sample)
    if p.kind == "SCALAR" then
      c.scalar = { value = p.scalar / 1000 }
      if p.scalar > 0 then out[#out + 1] = c end
    elseif p.kind == "RANGES" then
      local rr = {}
      for i, x in ipairs(coalesce(p.ranges)) do rr[i] = { begin = x[1], ["end"] = x[2] } end
      c.ranges = { range = rr }
      if #rr > 0 then out[#out + 1] = c end
    elseif p.kind == "SET" then
      local items = {}
      for i, it in ipairs(p.items) do items[i] = it end
      c.set = { item = items }
      if #items > 0 then out[#out + 1] = c end
    else
      out[#out + 1] = c
    end
  end
  return out
end

--- Adds resources: add(a, b, ...) -> a new list with one Resource per kind
--- (name, reservations, allocation role): scalars summed, ranges merged,
--- sets joined. add(a) alone merges a's duplicates.
function M.add(...)
  local all = {}
  for i = 1, select("#", ...) do
    local x = select(i, ...)
    if x ~= nil then
      for _, r in ipairs(list_of(x)) do all[#all + 1] = r end
    end
  end
  return from_pools(pools_of(all))
end

--- True if `a` and `b` hold the same resources (in any order or split),
--- kind by kind, allocation role included.
function M.equals(a, b)
  local pa, oa = pools_of(list_of(a))
  local pb, ob = pools_of(list_of(b))
  local function canon(p)
    return p.scalar .. "|" .. (function()
      local s = {}
      for _, x in ipairs(coalesce(p.ranges)) do s[#s + 1] = x[1] .. "-" .. x[2] end
      return table.concat(s, ",")
    end)() .. "|" .. (function()
      local s = {}
      for _, it in ipairs(p.items) do s[#s + 1] = it end
      table.sort(s)
      return table.concat(s, ",")
    end)()
  end
  local function nonempty(p) return p.scalar > 0 or #p.ranges > 0 or #p.items > 0 end
  for _, k in ipairs(oa) do
    if nonempty(pa[k]) and (not pb[k] or canon(pa[k]) ~= canon(pb[k])) then return false end
  end
  for _, k in ipairs(ob) do
    if nonempty(pb[k]) and (not pa[k] or canon(pa[k]) ~= canon(pb[k])) then return false end
  end
  return true
end

--- The resources of `res` that match every field given in `opts`: `name`,
--- `role` (the reservation role; "*" = unreserved), `reserved` (true/false),
--- `allocation_role` (false: none). Returns a list of the same Resources.
function M.filter(res, opts)
  if type(opts) ~= "table" then
    error("resources.filter: opts must be a table, got " .. type(opts), 2)
  end
  local out = {}
  for _, r in ipairs(list_of(res)) do
    local role = M.reservation_role(r)
    local alloc = alloc_of(r)
    if (opts.name == nil or r.name == opts.name)
      and (opts.role == nil or role == opts.role)
      and (opts.reserved == nil or (role ~= "*") == opts.reserved)
      and (opts.allocation_role == nil or (alloc or false) == opts.allocation_role) then
      out[#out + 1] = r
    end
  end
  return out
end

--- Copies of `res` with allocation_info.role set to `role` (on every
--- resource; with `only_missing`, only where it is unset).
function M.allocate(res, role, only_missing)
  if type(role) ~= "string" or role == "" then
    error("resources.allocate: role must be a non-empty string, got " .. type(role), 2)
  end
  local out = {}
  for i, r in ipairs(list_of(res)) do
    local c = shallow(r)
    if not (only_missing and alloc_of(r) ~= nil) then c.allocation_info = { role = role } end
    out[i] = c
  end
  return out
end

--- Copies of `res` without allocation_info.
function M.unallocate(res)
  local out = {}
  for i, r in ipairs(list_of(res)) do
    local c = shallow(r)
    c.allocation_info = nil
    out[i] = c
  end
  return out
end

--- Sums the scalar resources of every role: { cpus = 4, mem = 4096, ... }.
function M.scalars(resources)
  local sums = {}
  for _, r in ipairs(list_of(resources)) do
    if r.scalar and (r.type == "SCALAR" or r.type == nil) then
      sums[r.name] = (sums[r.name] or 0) + milli(r.scalar.value)
    end
  end
  for k, v in pairs(sums) do sums[k] = v / 1000 end
  return sums
end

--- The sum of one scalar (0 if absent): resources.scalar(offer, "cpus").
function M.scalar(resources, name)
  return M.scalars(resources)[name] or 0
end

--- Takes `n` ports from the "ports" ranges of `available`: returns a
--- RANGES resource with the reservations and allocation role of the ports
--- it took (all of one kind: the first kind with `n` ports), or nil, err.
function M.take_ports(available, n)
  if type(n) ~= "number" or n < 0 then
    error("resources.take_ports: n must be a non-negative number, got " .. tostring(n), 2)
  end
  local pools, order = pools_of(list_of(available))
  for _, key in ipairs(order) do
    local p = pools[key]
    if p.name == "ports" and p.kind == "RANGES" then
      local got = {}
      for _, h in ipairs(coalesce(p.ranges)) do
        local q = h[1]
        while q <= h[2] and #got < n do
          got[#got + 1] = q
          q = q + 1
        end
        if #got >= n then break end
      end
      if #got >= n then
        local ranges = {}
        for _, q in ipairs(got) do
          local last = ranges[#ranges]
          if last and last["end"] + 1 == q then last["end"] = q else ranges[#ranges + 1] = { begin = q, ["end"] = q } end
        end
        local c = shallow(p.sample)
        c.type, c.scalar, c.set = "RANGES", nil, nil
        c.ranges = { range = ranges }
        return c
      end
    end
  end
  return nil, "not enough ports"
end

local function labels_text(l)
  local kv = {}
  for _, x in ipairs(l.labels or {}) do
    kv[#kv + 1] = x.value ~= nil and (tostring(x.key) .. ":" .. tostring(x.value)) or tostring(x.key)
  end
  return "{" .. table.concat(kv, ",") .. "}"
end

--- The name of one Resource with its reservations, allocation role and
--- marks, as format() writes it before the ":": "cpus(web)(allocated: web)".
function M.qualified_name(r)
  if type(r) ~= "table" and not is_view(r) then
    error("resources.qualified_name: expected a Resource, got " .. type(r), 2)
  end
  local q = { r.name }
  local st = M.reservations(r)
  if #st == 1 and st[1].type == "STATIC" and st[1].principal == nil and st[1].labels == nil then
    q[#q + 1] = "(" .. st[1].role .. ")"
  elseif #st > 0 then
    local es = {}
    for i, x in ipairs(st) do
      local e = { tostring(x.type or "UNKNOWN"), tostring(x.role) }
      if x.principal ~= nil then e[#e + 1] = x.principal end
      if x.labels ~= nil and #(x.labels.labels or {}) > 0 then e[#e + 1] = labels_text(x.labels) end
      es[i] = "(" .. table.concat(e, ",") .. ")"
    end
    q[#q + 1] = "(reservations: [" .. table.concat(es, ",") .. "])"
  end
  local a = alloc_of(r)
  if a then q[#q + 1] = "(allocated: " .. a .. ")" end
  if r.revocable ~= nil then q[#q + 1] = "{REV}" end
  if r.shared ~= nil then q[#q + 1] = "<SHARED>" end
  return table.concat(q)
end

--- Formats resources back to the "name(qualifiers):value;..." form that
--- parse() reads: "cpus:1;mem(web):128;ports(allocated: web):[31000-31010]".
function M.format(resources)
  local parts = {}
  for _, r in ipairs(list_of(resources)) do
    local v
    if r.scalar then
      v = tostring(milli(r.scalar.value) / 1000)
    elseif r.ranges then
      local rs = {}
      for _, rg in ipairs(r.ranges.range or {}) do rs[#rs + 1] = rg.begin .. "-" .. rg["end"] end
      v = "[" .. table.concat(rs, ",") .. "]"
    elseif r.set then
      v = "{" .. table.concat(r.set.item or {}, ",") .. "}"
    end
    if v then parts[#parts + 1] = M.qualified_name(r) .. ":" .. v end
  end
  return table.concat(parts, ";")
end

--- The LAUNCH and LAUNCH_GROUP operations of `operations` with
--- allocation_info.role set to `role` on every task's and executor's
--- resources that have none (copies; the given tables are not changed).
--- Other operations are returned as they are.
function M.allocate_operations(operations, role)
  if type(operations) ~= "table" then
    error("resources.allocate_operations: expected a list of operations, got " .. type(operations), 2)
  end
  if type(role) ~= "string" or role == "" then
    error("resources.allocate_operations: role must be a non-empty string, got " .. type(role), 2)
  end
  local function needs(res)
    if type(res) ~= "table" then return false end
    for _, r in ipairs(res) do
      if alloc_of(r) == nil then return true end
    end
    return false
  end
  local function fix_executor(e)
    if type(e) ~= "table" or not needs(e.resources) then return e end
    local c = shallow(e)
    c.resources = M.allocate(e.resources, role, true)
    return c
  end
  local function fix_task(t)
    if type(t) ~= "table" then return t end
    local c = shallow(t)
    if needs(t.resources) then c.resources = M.allocate(t.resources, role, true) end
    c.executor = fix_executor(t.executor)
    return c
  end
  local out = {}
  for i, op in ipairs(operations) do
    if type(op) == "table" and op.type == "LAUNCH" and type(op.launch) == "table" then
      local tasks = {}
      for j, t in ipairs(op.launch.task_infos or {}) do tasks[j] = fix_task(t) end
      local c, l = shallow(op), shallow(op.launch)
      l.task_infos = tasks
      c.launch = l
      out[i] = c
    elseif type(op) == "table" and op.type == "LAUNCH_GROUP" and type(op.launch_group) == "table" then
      local lg = shallow(op.launch_group)
      lg.executor = fix_executor(lg.executor)
      if type(lg.task_group) == "table" then
        local tg = shallow(lg.task_group)
        local tasks = {}
        for j, t in ipairs(tg.tasks or {}) do tasks[j] = fix_task(t) end
        tg.tasks = tasks
        lg.task_group = tg
      end
      local c = shallow(op)
      c.launch_group = lg
      out[i] = c
    else
      out[i] = op
    end
  end
  return out
end

return M
