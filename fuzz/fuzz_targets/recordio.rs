//! RecordIO decoding: records and errors independent of read boundaries.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mesos::fuzzing::recordio(data));
