//! Lua tables built from the bytes become scheduler Calls / TaskStatuses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::lua_host::lua_to_call(data));
