// Read by `include!` from ringtel's build.rs and loom-tests' build.rs: the
// one parser of `loom-tests/twins.txt`, the list of broken twins.

/// The distinct twin names in `list` (the text of `twins.txt`), in order.
fn twin_names(list: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in list.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_whitespace().next().unwrap_or_default();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Declares `ringtel_broken` and its values to rustc's `check-cfg`, and
/// forwards `RINGTEL_BROKEN=<name>` as `--cfg ringtel_broken="<name>"`.
/// Returns the twin selected, by the variable or by `RUSTFLAGS`.
fn declare_twins(names: &[String]) -> Option<String> {
    let values: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    println!("cargo::rustc-check-cfg=cfg(ringtel_broken, values(none(), {}))", values.join(", "));
    println!("cargo::rerun-if-env-changed=RINGTEL_BROKEN");
    if let Some(name) = std::env::var("RINGTEL_BROKEN").ok().filter(|n| !n.is_empty()) {
        println!("cargo::rustc-cfg=ringtel_broken=\"{name}\"");
        return Some(name);
    }
    // `RUSTFLAGS="--cfg ringtel_broken=\"x\""` reaches build scripts as this.
    std::env::var("CARGO_CFG_RINGTEL_BROKEN").ok()
}
