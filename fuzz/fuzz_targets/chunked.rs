//! The chunked body decoder: the same body whatever the read sizes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::chunked(data));
