//! Protobuf straight into Lua tables against the descriptor-based path.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::lua_host::direct_to_lua(data));
