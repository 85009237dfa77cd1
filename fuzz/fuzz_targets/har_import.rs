//! `cargo fuzz run har_import`: see `corscope_fuzz::har_import` (fuzz/harness.rs) for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corscope_fuzz::har_import(data));
