-- Prints bench/run's table from a results file of "ROUND KEY VALUE" lines
-- (every consumer's "RESULT KEY VALUE" line, prefixed with its round).
--   luajit bench/report.lua bench/results/FILE.txt
--
-- Each row pairs "ours" with a peer or baseline measured in the same round.
-- ours and peer are medians over the rounds; the ratio is the median of the
-- per-round ratios ours/peer (min-max in brackets), so a drift of the
-- machine's speed between rounds moves both sides of each ratio together.
-- A row is added by appending to ROWS (and a step to bench/run that writes
-- its keys).

local ROWS = {
  { "1a", "Offer intake, JSON: ours vs pymesos", "intake.lua.json", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1b", "Offer intake, protobuf: ours vs pymesos (JSON)", "intake.lua.protobuf", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1c", "Offer intake, protobuf: ours vs decode limit", "intake.lua.protobuf", "decode.dynamic.protobuf", "offers/s", ">=", 1 / 3 },
  { "1d", "Offer intake, JSON: ours vs decode limit", "intake.lua.json", "decode.dynamic.json", "offers/s", ">=", 1 / 3 },
  { "1e", "Decode limit, protobuf: DynamicMessage vs typed prost", "decode.dynamic.protobuf", "decode.prost.protobuf", "offers/s" },
  { "3a", "ACKNOWLEDGE calls, protobuf: ours vs pymesos (JSON)", "calls.lua.protobuf.acknowledge", "calls.pymesos.json.acknowledge", "calls/s" },
  { "3b", "ACKNOWLEDGE calls, JSON: ours vs pymesos", "calls.lua.json.acknowledge", "calls.pymesos.json.acknowledge", "calls/s" },
  { "3c", "Small ACCEPT calls, protobuf: ours vs pymesos (JSON)", "calls.lua.protobuf.accept", "calls.pymesos.json.accept", "calls/s" },
  { "3d", "Small ACCEPT calls, JSON: ours vs pymesos", "calls.lua.json.accept", "calls.pymesos.json.accept", "calls/s" },
  { "5", "Cold start: `mesolua -e \"return 1\"` (local cluster) vs `luajit -e \"print(1)\"`", "coldstart.mesolua", "coldstart.luajit", "ms", "<=", 10 },
}

local path = assert(arg[1], "usage: luajit bench/report.lua RESULTS")
local by_key = {} -- key -> round -> value
for line in io.lines(path) do
  local round, key, value = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
  value = tonumber(value)
  if value then
    by_key[key] = by_key[key] or {}
    by_key[key][round] = value
  end
end

local function median(t)
  if #t == 0 then return nil end
  table.sort(t)
  local m = math.floor((#t + 1) / 2)
  return #t % 2 == 1 and t[m] or (t[m] + t[m + 1]) / 2
end

local function values(key)
  local out = {}
  for _, v in pairs(by_key[key] or {}) do out[#out + 1] = v end
  return out
end

local function num(v, unit)
  if v == nil then return "—" end
  if unit == "ms" then return ("%.1f ms"):format(v) end
  local s = ("%.0f"):format(v):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return s .. " " .. unit
end

local function times(r)
  if r >= 10 then return ("%.1f×"):format(r) end
  return ("%.2f×"):format(r)
end

local function target_text(op, x)
  if not op then return "—" end
  local shown = math.abs(x - 1 / 3) < 1e-9 and "1/3×" or ("%g×"):format(x)
  return ("%s %s"):format(op == ">=" and "≥" or "≤", shown)
end

print("| row | measure | ours | peer/baseline | ratio (min–max) | target | met? |")
print("|---|---|---|---|---|---|---|")
for _, row in ipairs(ROWS) do
  local id, label, ours_key, peer_key, unit, op, target = unpack(row)
  if by_key[ours_key] or by_key[peer_key] then
    local ratios = {}
    for round, o in pairs(by_key[ours_key] or {}) do
      local p = (by_key[peer_key] or {})[round]
      if p and p > 0 then ratios[#ratios + 1] = o / p end
    end
    local r = median(ratios)
    local lo, hi = ratios[1], ratios[#ratios] -- sorted by median()
    local ratio = r and ("%s (%s–%s, %d rounds)"):format(times(r), times(lo), times(hi), #ratios) or "—"
    local met = "—"
    if op and r then
      met = ((op == ">=" and r >= target) or (op == "<=" and r <= target)) and "yes" or "**no**"
    end
    print(("| %s | %s | %s | %s | %s | %s | %s |"):format(id, label, num(median(values(ours_key)), unit),
      num(median(values(peer_key)), unit), ratio, target_text(op, target), met))
  end
end
