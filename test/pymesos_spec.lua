-- A third-party client (pymesos from PyPI, unchanged) against mesos-local.
local h = require "test.helpers"

local sh = h.sh

describe("mesos-local with pymesos", function()
  local pid, url, pipe

  setup(function()
    local out, code = sh("test/pymesos/setup")
    assert(code == 0, "pymesos setup failed:\n" .. out)
    pipe = assert(io.popen("bin/mesos-local --port 0 --allocation-interval 0.1 & echo $!"))
    pid = assert(tonumber(pipe:read("*l")), "no pid")
    local line = pipe:read("*l") or ""
    url = line:match("master at (http://%S+)")
    assert(url, "mesos-local did not start: " .. line)
  end)

  teardown(function()
    if pid then
      os.execute("kill " .. pid)
      -- Wait for it to stop its tasks and exit.
      local t0 = h.now()
      while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 and h.now() - t0 < 10 do
        os.execute("sleep 0.05")
      end
      assert(os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= 0, "mesos-local did not exit on SIGTERM")
    end
    if pipe then pipe:close() end
  end)

  it("runs a pymesos scheduler's task to TASK_FINISHED", function()
    local master = url:gsub("^http://", "")
    local out, code = sh("timeout 90 target/pymesos-venv/bin/python test/pymesos/scheduler.py " .. master)
    assert(code == 0, "pymesos scheduler failed:\n" .. out)
    assert.matches("registered", out)
    assert.matches("update pymesos%-task TASK_RUNNING", out)
    assert.matches("update pymesos%-task TASK_FINISHED", out)
  end)
end)
