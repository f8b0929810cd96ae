-- Lazy views of Mesos messages (docs/views.md).
--
-- A view holds one message's protobuf bytes in a LuaJIT FFI object and
-- decodes a field only when it is read: `offer.id.value`, `offer.resources`
-- (a plain Lua list of views), `r.scalar.value`. A scheduler made with
-- `mesos.scheduler(handler, {views = true})` hands its handler views
-- instead of tables, so what a handler never reads is never built. Reading
-- a field gives exactly what the eager tables hold there (nil when unset,
-- enums by name, 64-bit integers as numbers, lists as plain tables, nil for
-- an empty list), checked against them field by field in
-- test/view_spec.lua. A view is read-only; `plain(v)` gives the whole
-- message as tables (for pairs, or to change it).
--
-- `require "mesos.view"` after `require "mesos"`. May require: mesos._core
-- (the schema tables and the eager decoder), ffi.

local core = require "mesos._core"
local ffi = require "ffi"

local type, error, tostring = type, error, tostring
local ffi_string, ffi_copy, ffi_cast, ffi_istype = ffi.string, ffi.copy, ffi.cast, ffi.istype

local M = {}

-- The layout is shared with src/lua/convert/view_header.rs (`Header`): a view's own
-- fields are constant, so Lua code cannot change its length or bytes; the
-- writable twin is only used to fill a new view.
if not pcall(ffi.typeof, "struct mesos_view") then
  ffi.cdef [[
struct mesos_view { const uint32_t _vmagic; const uint16_t _vmsg; const uint16_t _vflags;
                    const uint32_t _vlen; const uint8_t _vdata[?]; };
struct mesos_view_fill { uint32_t magic; uint16_t msg; uint16_t flags; uint32_t len; uint8_t data[?]; };
]]
end
local VIEW = ffi.typeof("struct mesos_view")
local BYTES = ffi.typeof("const uint8_t *")
local FILL = ffi.typeof("struct mesos_view_fill *")
local MAGIC = core.view_magic

-- The readers (src/wire/direct/find.rs through src/lua/convert/views.rs): one field
-- of a message's bytes per call, with the scanning in Rust.
if not pcall(ffi.typeof, "struct mesos_found") then
  ffi.cdef [[
struct mesos_found { uint32_t kind, count, off, len, total, pad; double num; };
]]
end
local FOUND = ffi.typeof("struct mesos_found[?]")
local read_field, read_list, read_merged
do
  local f, l, g = core.view_readers()
  read_field = ffi_cast("int (*)(const uint8_t *, uint32_t, uint16_t, uint16_t, struct mesos_found *)", f)
  read_list = ffi_cast("int (*)(const uint8_t *, uint32_t, uint16_t, uint16_t, struct mesos_found *, uint32_t)", l)
  read_merged = ffi_cast("int (*)(const uint8_t *, uint32_t, uint16_t, uint16_t, uint8_t *, uint32_t)", g)
end
local K_NUM, K_BOOL, K_BYTES, K_ENUM, K_MESSAGE = 1, 2, 3, 4, 5
local T_MESSAGE = 17 -- the message type code (src/lua/convert/views.rs, ty_code)
local found = FOUND(1)
local items, items_cap = FOUND(64), 64
-- table.new is LuaJIT 2.1's; 2.0 grows the table as it fills.
local has_new, table_new = pcall(require, "table.new")
if not has_new then table_new = function() return {} end end

local SINGULAR, REPEATED = 1, 2

-- Schema, one message type at a time: message index -> {[field name] =
-- {number, type code, label, sub, field index}}; the full names; every
-- field and enum value name by id + 1.
local FIELDS, NAMES = {}, {}
local function fields_of(msg)
  local t = core.schema_message(msg)
  FIELDS[msg], NAMES[msg] = t.fields, t.name
  return t.fields
end
local VALUE_NAMES = core.schema_names()

local function corrupt()
  error("mesos view: malformed protobuf bytes", 0)
end

-- A new view of message `msg` holding a copy of `len` bytes at `q`.
local function new_view(msg, q, len)
  local v = VIEW(len)
  local w = ffi_cast(FILL, v)
  w.magic, w.msg, w.len = MAGIC, msg, len
  ffi_copy(w.data, q, len)
  return v
end

-- A message field that occurs more than once: the merge of its occurrences.
local function merged(p, n, msg, fi, sub, total)
  local v = VIEW(total)
  local w = ffi_cast(FILL, v)
  if read_merged(p, n, msg, fi, w.data, total) ~= total then corrupt() end
  w.magic, w.msg, w.len = MAGIC, sub, total
  return v
end

-- A found value as Lua reads it.
-- (No tail calls here: LuaJIT cannot compile a trace that returns from a
-- tail-called ffi.string to a lower frame.)
local function found_value(it, p, sub)
  local kind, v = it.kind, nil
  if kind == K_NUM then
    v = it.num
  elseif kind == K_BYTES then
    v = ffi_string(p + it.off, it.len)
  elseif kind == K_MESSAGE then
    v = new_view(sub, p + it.off, it.len)
  elseif kind == K_ENUM then
    v = VALUE_NAMES[it.off + 1]
  elseif kind == K_BOOL then
    v = it.num ~= 0
  end
  return v
end

-- A list field: a plain table of its items (views for messages), nil when
-- it has none.
local function list_field(p, n, msg, fi, sub)
  local count = read_list(p, n, msg, fi, items, items_cap)
  if count <= 0 then
    if count < 0 then corrupt() end
    return nil
  end
  if count > items_cap then
    items_cap = count
    items = FOUND(count)
    if read_list(p, n, msg, fi, items, items_cap) ~= count then corrupt() end
  end
  local out = table_new(count, 0)
  for k = 1, count do
    out[k] = found_value(items[k - 1], p, sub)
  end
  return out
end

--- plain(v) -> the message as plain tables (eager decoding); other values
--- are returned as they are.
function M.plain(v)
  if type(v) ~= "cdata" or not ffi_istype(VIEW, v) then return v end
  return core.view_plain(v._vmsg, ffi_string(v._vdata, v._vlen))
end

-- Field `f` (named `k`) of the `n` bytes at `p` of message `msg`.
local function read(p, n, msg, f, k)
  local label = f[3]
  if label == SINGULAR then
    if read_field(p, n, msg, f[5], found) ~= 0 then corrupt() end
    local it = found[0]
    local v
    if it.kind == K_MESSAGE and it.count > 1 then
      v = merged(p, n, msg, f[5], f[4], it.total)
    else
      v = found_value(it, p, f[4])
    end
    return v
  elseif label == REPEATED then
    local v = list_field(p, n, msg, f[5], f[4])
    return v
  end
  -- A map: rare in Mesos; read through the eager decoding.
  return core.view_plain(msg, ffi_string(p, n))[k]
end

local function index(v, k)
  local msg = v._vmsg
  local f = (FIELDS[msg] or fields_of(msg))[k]
  if f == nil then return nil end
  local x = read(v._vdata, v._vlen, msg, f, k)
  return x
end

-- Field `a` (then its field `b`, if given) of the `n` bytes at `p` of
-- message `msg`, without a view of the message on the way.
local function get_at(p, n, msg, a, b)
  local f = (FIELDS[msg] or fields_of(msg))[a]
  if f == nil then return nil end
  if b == nil then
    local x = read(p, n, msg, f, a)
    return x
  end
  if f[3] ~= SINGULAR or f[2] ~= T_MESSAGE then
    error(("mesos.view.get: %s is not a message field of %s"):format(tostring(a), NAMES[msg]), 3)
  end
  if read_field(p, n, msg, f[5], found) ~= 0 then corrupt() end
  local it = found[0]
  if it.kind ~= K_MESSAGE then return nil end
  if it.count > 1 then
    local m = merged(p, n, msg, f[5], f[4], it.total)
    return m[b]
  end
  p, n, msg = p + it.off, it.len, f[4]
  local g = (FIELDS[msg] or fields_of(msg))[b]
  if g == nil then return nil end
  local x = read(p, n, msg, g, b)
  return x
end

--- get(v, a [, b]) -> v[a] or v[a][b], read without making a view of v[a]
--- (nil if v[a] is unset).
function M.get(v, a, b)
  local x = get_at(v._vdata, v._vlen, v._vmsg, a, b)
  return x
end

-- The same for `len` validated bytes of message `msg` in a driver's staging
-- area (offset `at`) or in the string `at`.
-- Where staged bytes are: offset `at` of the staging area, or the string
-- `at`.
local function staged(staging, at)
  if type(at) == "number" then return staging + at end
  return ffi_cast(BYTES, at)
end

function M.get_staged(staging, at, len, msg, a, b)
  local x = get_at(staged(staging, at), len, msg, a, b)
  return x
end

local function type_name(v)
  local msg = v._vmsg
  if NAMES[msg] == nil then fields_of(msg) end
  return NAMES[msg]
end

pcall(ffi.metatype, VIEW, {
  __index = index,
  __newindex = function(v, k)
    error(("mesos view: a %s view is read-only (setting %s); mesos.view.plain(v) gives a table")
      :format(type_name(v), tostring(k)), 2)
  end,
  __tostring = function(v) return ("mesos view: %s (%d bytes)"):format(type_name(v), v._vlen) end,
})

-- Field names of message `msg` in field-number order.
local ORDER = {}
local function order_of(msg)
  local o = ORDER[msg]
  if o then return o end
  local fields = FIELDS[msg] or fields_of(msg)
  o = {}
  for name in pairs(fields) do o[#o + 1] = name end
  table.sort(o, function(a, b) return fields[a][1] < fields[b][1] end)
  ORDER[msg] = o
  return o
end

--- pairs(v) -> an iterator over the fields set in a view, as name, value,
--- in field-number order (Lua 5.1's pairs cannot see into a view).
function M.pairs(v)
  if not M.is_view(v) then error("mesos.view.pairs: expected a view, got " .. type(v), 2) end
  local o, i = order_of(v._vmsg), 0
  return function()
    while true do
      i = i + 1
      local k = o[i]
      if k == nil then return nil end
      local x = v[k]
      if x ~= nil then return k, x end
    end
  end
end

--- is_view(v) -> true if v is a view.
function M.is_view(v)
  return type(v) == "cdata" and ffi_istype(VIEW, v)
end

--- type_name(v) -> the full message name of a view ("mesos.v1.Offer").
function M.type_name(v)
  if not M.is_view(v) then error("mesos.view.type_name: expected a view, got " .. type(v), 2) end
  return type_name(v)
end

--- bytes(v) -> the view's message as protobuf bytes.
function M.bytes(v)
  if not M.is_view(v) then error("mesos.view.bytes: expected a view, got " .. type(v), 2) end
  return ffi_string(v._vdata, v._vlen)
end

-- A driver's staging area (light userdata, size) as a byte pointer.
function M.staging(address)
  return ffi_cast(BYTES, address)
end

-- A view of `len` validated bytes of message `msg`: at offset `at` of the
-- staging area, or the string `at`.
function M.wrap_at(staging, at, len, msg)
  return new_view(msg, staged(staging, at), len)
end

--- decode(type, bytes) -> a view of the protobuf bytes of message `type`
--- ("Offer" or "mesos.v1.Offer"), or nil, err if they are not one.
function M.decode(ty, bytes)
  if type(ty) ~= "string" then error("mesos.view.decode: type must be a string, got " .. type(ty), 2) end
  if type(bytes) ~= "string" then error("mesos.view.decode: bytes must be a string, got " .. type(bytes), 2) end
  local msg = core.schema_index(ty)
  if msg == nil then error("mesos.view.decode: unknown message type " .. ty, 2) end
  local ok, err = core.view_check(msg, bytes)
  if not ok then return nil, err end
  return new_view(msg, bytes, #bytes)
end

return M
