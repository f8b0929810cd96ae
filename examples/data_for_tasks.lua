-- Data for tasks: files attached with `uris` reach each task's sandbox
-- through the fetcher (here the embedded local agent's, with its cache);
-- task code reads them with io.open/io.lines, and nothing else on disk.
--
--   ./dev run examples/data_for_tasks.lua
--
-- The same from the command line:
--   mesolua --uri ./words.txt --tasks 3 -e "local n = 0 for _ in io.lines('words.txt') do n = n + 1 end return n"
local mesos = require "mesos"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local f = assert(io.open(dir .. "/words.txt", "w"))
for _, w in ipairs { "mesos", "lua", "task", "sandbox", "fetcher", "cache" } do f:write(w, "\n") end
f:close()

-- Each task counts the words of one length it is given.
local counts = assert(mesos.map([[
  local len = ...
  local n = 0
  for word in io.lines("words.txt") do
    if #word == len then n = n + 1 end
  end
  -- Outside the sandbox there is nothing to read:
  assert(io.open("/etc/hostname") == nil)
  return n
]], { 3, 4, 5, 7 }, { uris = { { value = dir .. "/words.txt", cache = true } } }))

os.execute("rm -rf " .. dir)
for i, len in ipairs { 3, 4, 5, 7 } do print(("%d-letter words: %d"):format(len, counts[i])) end
os.exit((counts[1] == 1 and counts[2] == 1 and counts[3] == 2 and counts[4] == 2) and 0 or 1)
