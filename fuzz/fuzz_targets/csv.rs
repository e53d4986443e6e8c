//! libFuzzer entry point of the `csv` target ([`pact_fuzz::csv`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pact_fuzz::csv(data);
});
