//! Fuzz target `ops`: operation sequences against a reference model. The
//! harness lives in `fuzz/harness/ops.rs`, shared with `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/ops.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run(data));
