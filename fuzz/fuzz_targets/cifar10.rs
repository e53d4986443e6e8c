//! libFuzzer entry point of the `cifar10` target ([`pact_fuzz::cifar10`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pact_fuzz::cifar10(data);
});
