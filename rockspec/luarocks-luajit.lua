-- LuaRocks configuration for LuaJIT on Debian (whose luarocks targets PUC
-- lua5.1 by default): LUAROCKS_CONFIG=rockspec/luarocks-luajit.lua luarocks make ...
lua_version = "5.1"
lua_interpreter = "luajit"
variables = {
  LUA_DIR = "/usr",
  LUA_BINDIR = "/usr/bin",
  LUA_INCDIR = "/usr/include/luajit-2.1",
  LUA_LIBDIR = "/usr/lib/x86_64-linux-gnu",
  LUA = "/usr/bin/luajit",
}
