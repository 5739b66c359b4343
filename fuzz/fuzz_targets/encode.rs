//! Fuzz target `encode`: arbitrary `PipelineEvent`s through every encoder.
//! The harness lives in `fuzz/harness/encode.rs`, shared with
//! `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/encode.rs"]
mod encode;

fuzz_target!(|data: &[u8]| encode::run(data));
