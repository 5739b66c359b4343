//! Fuzz target `config`: TOML and JSON into `Config`. The harness lives in
//! `fuzz/harness/config.rs`, shared with `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/config.rs"]
mod config;

fuzz_target!(|data: &[u8]| config::run(data));
