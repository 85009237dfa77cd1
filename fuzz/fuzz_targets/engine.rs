//! `cargo fuzz run engine`: see `corscope_fuzz::engine` (fuzz/harness.rs) for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corscope_fuzz::engine(data));
