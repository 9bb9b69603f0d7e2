//! The built-in cases and load profiles are compiled in (`include_dir!`), which Cargo does not
//! track: without this, editing a file under `scenarios/` would leave a stale binary.
fn main() {
    println!("cargo:rerun-if-changed=scenarios");
}
