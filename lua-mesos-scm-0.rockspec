-- Builds the Rust module with cargo (offline works: crates come from the
-- cargo cache or vendor/) and installs it with the Lua parts.
-- From a checkout:  luarocks make lua-mesos-scm-0.rockspec
rockspec_format = "3.0"
package = "lua-mesos"
version = "scm-0"
source = { url = "git+https://example.invalid/lua-mesos.git" }
description = {
  summary = "Apache Mesos v1 HTTP scheduler/executor drivers for LuaJIT (Rust, mlua)",
  detailed = [[
    require "mesos" gives Lua a SchedulerDriver over the Mesos v1 HTTP API
    (protobuf and JSON), with an embedded Mesos-compatible local cluster for
    development and tests (mesos-local).]],
  license = "Apache-2.0",
}
dependencies = { "lua == 5.1" }
build = {
  type = "command",
  -- Exactly one Lua ABI feature; LuaJIT here (the rust-mlua template in
  -- rockspec/ lets luarocks choose).
  build_command = "cargo build --release --no-default-features --features luajit && cp target/release/libmesos.so mesos.so",
  install = {
    lib = { mesos = "mesos.so" },
    lua = { ["mesos.resources"] = "lua/mesos/resources.lua" },
    bin = { ["mesos-local"] = "bin/mesos-local", mesolua = "bin/mesolua" },
  },
}
test = { type = "command", command = "./dev test" }
