//! `cargo fuzz run headers`: see `corscope_fuzz::headers` (fuzz/harness.rs) for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corscope_fuzz::headers(data));
