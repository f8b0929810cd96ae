-- Writes the recorded offer stream that every offer-intake consumer reads
-- (our driver through bench/fake_master.py, pymesos, the Rust decode loop):
--   DIR/offers-N-protobuf.recordio and DIR/offers-N-json.recordio
-- RecordIO-framed scheduler Events: one SUBSCRIBED, then N OFFERS events of
-- one offer each (10 resources: scalars, port ranges, reservations; 2
-- attributes). Existing files are kept. Prints the two paths.
--   luajit bench/gen_offers.lua N DIR
-- As a module: loadfile("bench/gen_offers.lua")("--module").write(N, DIR).
local mode = ...
local mesos = require "mesos"

local M = {}

function M.offer(i)
  return {
    id = { value = "m1-O" .. i }, framework_id = { value = "m1-0001" }, agent_id = { value = "m1-S" .. (i % 100) },
    hostname = "agent-" .. (i % 100) .. ".example",
    resources = mesos.resources.parse(
      "cpus:3.5;mem:4096;disk:100000;gpus:0;ports:[31000-31099,32000-32000];cpus(web):1;mem(web):512;" ..
      "disk(web):1000;ports(web):[33000-33010];net:1000"),
    attributes = {
      { name = "rack", type = "TEXT", text = { value = "r" .. (i % 10) } },
      { name = "zone", type = "SET", set = { item = { "a", "b" } } },
    },
  }
end

local function frame(bytes) return #bytes .. "\n" .. bytes end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.path(n, dir, enc) return ("%s/offers-%d-%s.recordio"):format(dir, n, enc) end

function M.write(n, dir)
  os.execute(("mkdir -p '%s'"):format(dir))
  local paths = {}
  for _, enc in ipairs { "protobuf", "json" } do
    local path = M.path(n, dir, enc)
    paths[enc] = path
    if not exists(path) then
      local tmp = path .. ".tmp"
      local f = assert(io.open(tmp, "wb"))
      f:write(frame(mesos.encode("mesos.v1.scheduler.Event", {
        type = "SUBSCRIBED", subscribed = { framework_id = { value = "m1-0001" }, heartbeat_interval_seconds = 15 } }, enc)))
      for i = 1, n do
        f:write(frame(mesos.encode("mesos.v1.scheduler.Event",
          { type = "OFFERS", offers = { offers = { M.offer(i) } } }, enc)))
      end
      f:close()
      assert(os.rename(tmp, path))
    end
  end
  return paths
end

if mode == "--module" then return M end

local n = assert(tonumber(arg[1]), "usage: luajit bench/gen_offers.lua N DIR")
local paths = M.write(n, arg[2] or "target/bench")
print(paths.protobuf)
print(paths.json)
