-- `luarocks make` from the checkout installs a working rock (offline: the
-- crates come from cargo's cache, filled by the build that precedes tests).
local h = require "test.helpers"

local sh = h.sh

describe("luarocks make", function()
  it("installs mesos.so, mesos.resources, mesos-local and mesolua for LuaJIT", function()
    local tree = h.tmpdir()
    local out, code = sh(("LUAROCKS_CONFIG=rockspec/luarocks-luajit.lua luarocks make --tree %s lua-mesos-scm-0.rockspec"):format(tree))
    assert(code == 0, out)
    assert.truthy(h.read_file(tree .. "/lib/lua/5.1/mesos.so"))
    local env = ("LUA_PATH='%s/share/lua/5.1/?.lua;;' LUA_CPATH='%s/lib/lua/5.1/?.so;;'"):format(tree, tree)
    out, code = sh(env .. [[ luajit -e 'local m = require "mesos"; print(m._VERSION, require("mesos.resources").format(m.resources.parse("cpus:2")))']])
    assert(code == 0, out)
    assert.matches("cpus:2", out)
    out, code = sh(tree .. "/bin/mesos-local --help")
    assert(code == 0, out)
    assert.matches("usage: mesos%-local", out)
    assert.matches("luajit", h.read_file(tree .. "/bin/mesos-local"))
    out, code = sh(tree .. "/bin/mesolua --help")
    assert(code == 0, out)
    assert.matches("usage: mesolua", out)
    -- The installed mesolua runs a task without any LUA_*PATH in the
    -- environment: executor and task processes get the rock's paths.
    out, code = sh("env -u LUA_PATH -u LUA_CPATH " .. tree .. "/bin/mesolua -e 'return 6 * 7'")
    assert(code == 0, out)
    assert.are.equal("42\n", out)
    -- The same installed rock under Debian's stock LuaJIT (`./dev test`
    -- unpacks it into target/, since the package conflicts with luajit2):
    -- a scheduler, the embedded cluster, and a Lua task whose executor and
    -- task processes run on that interpreter too.
    local stock = os.getenv("LUA_MESOS_STOCK_LUAJIT")
    assert(stock and h.read_file(stock), "LUA_MESOS_STOCK_LUAJIT is not set (run through ./dev test)")
    out, code = sh(env .. " " .. stock .. [[ -e '
      assert(not pcall(require, "thread.exdata"), "this is OpenResty luajit2, not the stock LuaJIT")
      local mesos = require "mesos"
      assert(mesos.executable() == "]] .. stock .. [[", mesos.executable())
      print(jit.version, mesos.run("return 6 * 7"))']])
    assert(code == 0, out)
    assert.matches("LuaJIT 2%.1[^\n]*\t42", out)
    os.execute("rm -rf " .. tree)
    os.execute("rm -f mesos.so")
  end)
end)
