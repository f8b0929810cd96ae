-- A remote debugging session without an IDE: this script plays the part of
-- ZeroBrane Studio (a MobDebug controller on loopback), runs a task with
-- `mesolua --debug`, stops it at a breakpoint, reads and changes a local,
-- steps, and lets it run to the end.
--
--   ./dev run examples/debug_session.lua
--
-- With ZeroBrane instead: Project -> Start Debugger Server, then
--   mesolua --debug HOST:8172 script.lua
package.path = "./?.lua;" .. package.path
local controller = require "examples.mobdebug_controller"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local script = dir .. "/script.lua"
local f = assert(io.open(script, "w"))
f:write([[
local total = 0
for i = 1, 10 do
  total = total + i
end
print("the loop is done")
return total * 2
]])
f:close()

local ctl = controller.listen(60)
-- mesolua runs beside this script; its output is read once it has ended.
local mesolua = io.popen(("cd %s && mesolua --debug 127.0.0.1:%d script.lua 2>&1"):format(dir, ctl.port))

ctl:accept()
print("task connected; paused at its first line")
print("SETB script.lua 5 ->", ctl:command("SETB script.lua 5"))
local at = ctl:resume("RUN")
print(("paused at %s:%d"):format(at.file, at.line))
print("total =", (ctl:eval("total")))
print("setting total = 100 ->", (ctl:command("EXEC total = 100")))
at = ctl:resume("STEP")
print(("stepped to %s:%d"):format(at.file, at.line))
ctl:resume("RUN")
ctl:close()

-- mesolua exits once the task's result is in.
local result = mesolua:read("*a")
mesolua:close()
os.execute("rm -rf " .. dir)
io.write("mesolua printed:\n", result)
os.exit(result:match("\n200\n$") and 0 or 1)
