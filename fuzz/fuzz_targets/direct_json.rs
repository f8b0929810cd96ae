//! The direct JSON decoder against the descriptor-based path (trees).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::direct_json(data));
