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
    os.execute("rm -rf " .. tree)
    os.execute("rm -f mesos.so")
  end)
end)
