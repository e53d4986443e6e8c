//! libFuzzer entry point of the `idx` target ([`pact_fuzz::idx`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pact_fuzz::idx(data);
});
