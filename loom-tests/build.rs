//! Declares the broken twins listed in `twins.txt` to rustc's `check-cfg` and
//! forwards `RINGTEL_BROKEN=<name>` as `--cfg ringtel_broken="<name>"` to the
//! model tests, exactly as ringtel's own `build.rs` does for the library, so
//! that the twin's `#[cfg(ringtel_broken = "<name>")]` test is compiled.
//! (ringtel's build.rs refuses a twin that is unlisted or outside loom.)

include!("twins.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=twins.rs");
    println!("cargo::rerun-if-changed=twins.txt");
    let list = std::fs::read_to_string("twins.txt")
        .unwrap_or_else(|e| panic!("loom-tests' build.rs reads twins.txt: {e}"));
    declare_twins(&twin_names(&list));
}
