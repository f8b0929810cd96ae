//! HTTP heads: the same heads and errors whatever the read sizes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::http_head(data));
