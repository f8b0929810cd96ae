//! The direct protobuf decoder against the descriptor-based path (trees).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::direct_protobuf(data));
