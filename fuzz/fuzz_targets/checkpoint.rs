//! libFuzzer entry point of the `checkpoint` target ([`pact_fuzz::checkpoint`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pact_fuzz::checkpoint(data);
});
