//! Decoded events become Lua tables (raw C API path) and convert back.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::lua_host::event_to_lua(data));
