-- Prints bench/run's table from a results file of "ROUND KEY VALUE" lines
-- (every consumer's "RESULT KEY VALUE" line, prefixed with its round).
--   luajit bench/report.lua bench/results/FILE.txt
--
-- Each row pairs "ours" with a peer or baseline measured in the same round.
-- ours and peer are medians over the rounds; the ratio is the median of the
-- per-round ratios ours/peer (min-max in brackets), so a drift of the
-- machine's speed between rounds moves both sides of each ratio together.
-- A row is added by appending to ROWS (and a step to bench/run that writes
-- its keys). A row is { id, label, ours key, peer key, unit, op, target,
-- mode }; the mode says what the ratio and the target are:
--   nil        ratio ours/peer, the target on the ratio (rates; ms)
--   "speedup"  ratio peer/ours (times: how many times faster we are)
--   "abs"      ratio ours/peer, the target on ours itself (MB)
--   "drift"    ratio ours/peer, the target on ours - peer (MB)

local ROWS = {
  { "1a", "Offer intake, JSON: ours vs pymesos", "intake.lua.json", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1b", "Offer intake, protobuf: ours vs pymesos (JSON)", "intake.lua.protobuf", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1c", "Offer intake, protobuf: ours vs decode limit (prost typed decode)", "intake.lua.protobuf", "decode.prost.protobuf", "offers/s", ">=", 1 / 3 },
  { "1d", "Offer intake, JSON: ours vs decode limit (serde_json tree)", "intake.lua.json", "decode.serde.json", "offers/s", ">=", 1 / 3 },
  { "1i", "Offer intake, JSON, views: ours vs pymesos", "intake.lua.json-views", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1j", "Offer intake, protobuf, views: ours vs pymesos (JSON)", "intake.lua.protobuf-views", "intake.pymesos.json", "offers/s", ">=", 20 },
  { "1k", "Offer intake, protobuf, views: ours vs decode limit (prost typed decode)", "intake.lua.protobuf-views", "decode.prost.protobuf", "offers/s", ">=", 1 / 3 },
  { "1l", "Offer intake, JSON, views: ours vs decode limit (serde_json tree)", "intake.lua.json-views", "decode.serde.json", "offers/s", ">=", 1 / 3 },
  { "1e", "Reference, protobuf: DynamicMessage decode (the old driver path) vs prost", "decode.dynamic.protobuf", "decode.prost.protobuf", "offers/s" },
  { "1f", "Reference, protobuf: the I/O thread's validating pass vs prost", "decode.check.protobuf", "decode.prost.protobuf", "offers/s" },
  { "1h", "Reference, protobuf: ours vs the DynamicMessage decode (the decode limit before)", "intake.lua.protobuf", "decode.dynamic.protobuf", "offers/s" },
  { "1g", "Reference, JSON: the I/O thread's validating pass vs serde_json tree", "decode.check.json", "decode.serde.json", "offers/s" },
  { "2a", "Reconcile 1,000 unknown tasks: pymesos time / ours", "reconcile.lua.1000", "reconcile.pymesos.1000", "s", nil, nil, "speedup" },
  { "2b", "Reconcile 10,000: pymesos time / ours", "reconcile.lua.10000", "reconcile.pymesos.10000", "s", nil, nil, "speedup" },
  { "2c", "Reconcile 100,000: pymesos time / ours", "reconcile.lua.100000", "reconcile.pymesos.100000", "s", ">=", 10, "speedup" },
  { "2d", "Reconcile 100,000: RSS growth, ours (target) vs pymesos", "reconcile.lua.100000.rss_mb", "reconcile.pymesos.100000.rss_mb", "MB", "<=", 50, "abs" },
  { "2e", "Reconcile 100,000: peak RSS growth, ours vs pymesos", "reconcile.lua.100000.peak_mb", "reconcile.pymesos.100000.peak_mb", "MB" },
  { "2f", "Reconcile 100,000, views: pymesos time / ours", "reconcile.lua.views.100000", "reconcile.pymesos.100000", "s", ">=", 10, "speedup" },
  { "2g", "Reconcile 100,000, views: RSS growth, ours (target) vs pymesos", "reconcile.lua.views.100000.rss_mb", "reconcile.pymesos.100000.rss_mb", "MB", "<=", 50, "abs" },
  { "3a", "ACKNOWLEDGE calls, protobuf: ours vs pymesos (JSON)", "calls.lua.protobuf.acknowledge", "calls.pymesos.json.acknowledge", "calls/s" },
  { "3b", "ACKNOWLEDGE calls, JSON: ours vs pymesos", "calls.lua.json.acknowledge", "calls.pymesos.json.acknowledge", "calls/s" },
  { "3c", "Small ACCEPT calls, protobuf: ours vs pymesos (JSON)", "calls.lua.protobuf.accept", "calls.pymesos.json.accept", "calls/s" },
  { "3d", "Small ACCEPT calls, JSON: ours vs pymesos", "calls.lua.json.accept", "calls.pymesos.json.accept", "calls/s" },
  { "4a", "End to end: `mesos.map` over N tiny items (local cluster) vs one `luajit -e` per item", "tasks.map", "tasks.loop", "items/s", ">=", 20 },
  { "4b", "End to end: `mesolua --tasks N` (local cluster) vs one `luajit -e` per item", "tasks.mesolua", "tasks.loop", "items/s", ">=", 20 },
  { "4c", "End to end: `mesos.map` vs `xargs -P$(nproc)` of one luajit per item", "tasks.map", "tasks.xargs", "items/s", ">=", 10 },
  { "4d", "End to end: `mesolua --tasks N` vs `xargs -P$(nproc)` of one luajit per item", "tasks.mesolua", "tasks.xargs", "items/s", ">=", 10 },
  { "4e", "End to end: `mesos.map` items/s (target on ours) vs the loop", "tasks.map", "tasks.loop", "items/s", ">=", 20000, "abs" },
  { "4f", "CPU-bound items (10 ms each): parallel efficiency on the machine's cores, % (target on ours)", "tasks.cpu.efficiency", "tasks.cpu.ideal", "%", ">=", 80, "abs" },
  { "4g", "Real Mesos kit: `mesos.map` over N tiny items vs one `luajit -e` per item", "tasks.real.map", "tasks.loop", "items/s" },
  { "4h", "Real Mesos kit: `mesolua --tasks N` vs one `luajit -e` per item", "tasks.real.mesolua", "tasks.loop", "items/s" },
  { "4i", "Real Mesos kit: CPU-bound items, parallel efficiency, %", "tasks.real.cpu.efficiency", "tasks.cpu.ideal", "%" },
  { "5", "Cold start: `mesolua -e \"return 1\"` (local cluster) vs `luajit -e \"print(1)\"`", "coldstart.mesolua", "coldstart.luajit", "ms", "<=", 10 },
  { "6a", "Memory: RSS after 1,000,000 events vs after 100,000 (full GC at both; target: drift)", "memory.flat.end_mb", "memory.flat.warm_mb", "MB", "<=", 2, "drift" },
  { "6c", "Memory: the scheduler's peak RSS mapping 1,000,000 items (target on ours) vs 1,000", "tasks.map.1000000.peak_mb", "tasks.map.1000.peak_mb", "MB", "<=", 100, "abs" },
  { "6b", "Memory: peak RSS growth, 100,000-event burst vs 10,000 (slow handler, queue 1024)", "memory.burst.100000.peak_mb", "memory.burst.10000.peak_mb", "MB", "<=", 1.5 },
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
  if unit == "s" then return ("%.3f s"):format(v) end
  if unit == "MB" then return ("%.1f MB"):format(v) end
  local s = ("%.0f"):format(v):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return s .. " " .. unit
end

local function times(r)
  if r >= 10 then return ("%.1f×"):format(r) end
  return ("%.2f×"):format(r)
end

local function target_text(op, x, mode, unit)
  if not op then return "—" end
  local shown = math.abs(x - 1 / 3) < 1e-9 and "1/3×" or ("%g×"):format(x)
  if mode == "abs" then shown = ("%g %s"):format(x, unit or "MB") end
  if mode == "drift" then shown = ("%g MB drift"):format(x) end
  return ("%s %s"):format(op == ">=" and "≥" or "≤", shown)
end

print("| row | measure | ours | peer/baseline | ratio (min–max) | target | met? |")
print("|---|---|---|---|---|---|---|")
for _, row in ipairs(ROWS) do
  local id, label, ours_key, peer_key, unit, op, target, mode = unpack(row)
  if by_key[ours_key] or by_key[peer_key] then
    local ratios = {}
    for round, o in pairs(by_key[ours_key] or {}) do
      local p = (by_key[peer_key] or {})[round]
      if mode == "speedup" then
        if p and o > 0 then ratios[#ratios + 1] = p / o end
      elseif p and p ~= 0 then
        ratios[#ratios + 1] = o / p
      end
    end
    local r = median(ratios)
    local lo, hi = ratios[1], ratios[#ratios] -- sorted by median()
    local ratio = r and ("%s (%s–%s, %d rounds)"):format(times(r), times(lo), times(hi), #ratios) or "—"
    local ours, peer = median(values(ours_key)), median(values(peer_key))
    local checked = r
    if mode == "abs" then checked = ours end
    if mode == "drift" then checked = ours and peer and ours - peer end
    local met = "—"
    if op and checked then
      met = ((op == ">=" and checked >= target) or (op == "<=" and checked <= target)) and "yes" or "**no**"
    end
    print(("| %s | %s | %s | %s | %s | %s | %s |"):format(id, label, num(ours, unit),
      num(peer, unit), ratio, target_text(op, target, mode, unit), met))
  end
end
