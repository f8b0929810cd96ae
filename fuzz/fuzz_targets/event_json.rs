//! Events and calls in Mesos JSON: decode, re-encode, cross-encode, transcode.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mesos::fuzzing::decode(data, mesos::wire::codec::Encoding::Json)
});
