//! Selects a loom broken twin from the `RINGTEL_BROKEN` environment variable.
//!
//! `RINGTEL_BROKEN=<name>` has the same effect as
//! `RUSTFLAGS="--cfg ringtel_broken=\"<name>\""`, but rebuilds only ringtel
//! and its dependents when the twin changes, not every dependency (which
//! `RUSTFLAGS` changes force). `loom-tests/run.sh` relies on this to check
//! every twin well inside its time budget. Twins exist for loom builds only:
//! `src/lib.rs` refuses to compile one without `--cfg loom`. Unset (the
//! normal case), this script emits nothing but its rerun condition.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RINGTEL_BROKEN");
    if let Some(name) = std::env::var("RINGTEL_BROKEN").ok().filter(|n| !n.is_empty()) {
        println!("cargo:rustc-cfg=ringtel_broken=\"{name}\"");
    }
}
