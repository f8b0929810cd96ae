//! The NATS protocol parser: the same operations whatever the read sizes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::nats(data));
