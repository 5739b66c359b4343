//! Forwards `RINGTEL_BROKEN=<name>` as `--cfg ringtel_broken="<name>"` to the
//! model tests, exactly as ringtel's own `build.rs` does for the library, so
//! that the twin's `#[cfg(ringtel_broken = "<name>")]` test is compiled.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RINGTEL_BROKEN");
    if let Some(name) = std::env::var("RINGTEL_BROKEN").ok().filter(|n| !n.is_empty()) {
        println!("cargo:rustc-cfg=ringtel_broken=\"{name}\"");
    }
}
