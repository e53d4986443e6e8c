//! libFuzzer entry point of the `config` target ([`pact_fuzz::config`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pact_fuzz::config(data);
});
