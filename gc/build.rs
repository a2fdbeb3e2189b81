//! Build script: sets `gort_no_go` when no working `go` is on the PATH and
//! CI is not set, so the gctrace test that runs the real Go is compiled as
//! `#[ignore]`d and its skip shows in cargo's test summary. Under CI
//! (`CI=true`) the cfg is never set: a missing Go fails that test.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_no_go)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !go && !ci {
        println!("cargo::rustc-cfg=gort_no_go");
    }
    // Installing Go adds `go` to a PATH directory without changing PATH:
    // watch the (absolute, existing) directories so the next build notices.
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.is_absolute() && dir.is_dir() {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
        }
    }
}
