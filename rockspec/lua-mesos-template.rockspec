-- Release rockspec template (rust-mlua backend). Copy to
-- lua-mesos-<version>-1.rockspec, set `version` and `source.tag`.
-- The backend passes exactly one of lua51..lua54/luajit as a cargo feature;
-- default_features = false keeps our default `luajit` out of the way.
rockspec_format = "3.0"
package = "lua-mesos"
version = "VERSION-1"
source = {
  url = "git+https://example.invalid/lua-mesos.git",
  tag = "vVERSION",
}
description = {
  summary = "Apache Mesos v1 HTTP scheduler/executor drivers for LuaJIT (Rust, mlua)",
  license = "Apache-2.0",
}
dependencies = { "lua >= 5.1", "luarocks-build-rust-mlua" }
build = {
  type = "rust-mlua",
  default_features = false,
  modules = { "mesos" },
  install = {
    lua = { ["mesos.resources"] = "lua/mesos/resources.lua" },
    bin = { ["mesos-local"] = "bin/mesos-local", mesolua = "bin/mesolua" },
  },
}
