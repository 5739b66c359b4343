//! Declares and guards the loom broken twins listed in `loom-tests/twins.txt`.
//!
//! - Declares `ringtel_broken` and every listed twin to rustc's `check-cfg`,
//!   so a `#[cfg(ringtel_broken = "...")]` naming a twin that is not listed
//!   is a warning (an error under clippy `-D warnings`).
//! - `RINGTEL_BROKEN=<name>` has the same effect as
//!   `RUSTFLAGS="--cfg ringtel_broken=\"<name>\""`, but rebuilds only ringtel
//!   and its dependents when the twin changes, not every dependency (which
//!   `RUSTFLAGS` changes force). `loom-tests/run.sh` relies on this to check
//!   every twin well inside its time budget.
//! - Refuses to build a twin outside a loom build, or one that is not listed:
//!   broken protocol variants must never reach a normal build.
//!
//! Unset (the normal case), this script emits only declarations.

include!("loom-tests/twins.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=loom-tests/twins.rs");
    println!("cargo::rerun-if-changed=loom-tests/twins.txt");
    let list = std::fs::read_to_string("loom-tests/twins.txt")
        .unwrap_or_else(|e| panic!("ringtel's build.rs reads loom-tests/twins.txt: {e}"));
    let names = twin_names(&list);
    let Some(twin) = declare_twins(&names) else { return };
    if !names.contains(&twin) {
        panic!("ringtel_broken = \"{twin}\" is not a broken twin listed in loom-tests/twins.txt");
    }
    if std::env::var_os("CARGO_CFG_LOOM").is_none() {
        panic!(
            "ringtel_broken = \"{twin}\": broken twins are for loom builds only \
             (RUSTFLAGS=\"--cfg loom\")"
        );
    }
}
