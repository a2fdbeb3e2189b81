//! Build script: decides which environment-dependent tests are compiled as
//! `#[ignore]`d, so that a skip shows up as "ignored" in cargo's test
//! summary instead of a passing test whose note cargo hides.
//!
//! - `gort_no_go`: no working `go` on the PATH, and not under CI. The tests
//!   comparing gort with Go 1.19 are then ignored. Under CI (`CI=true`) the
//!   cfg is never set, so a missing Go fails those tests instead of hiding
//!   them.
//! - `gort_no_guard_pages`: the kernel predates `MADV_GUARD_INSTALL`
//!   (Linux < 6.13), so the guard-page test has nothing to test.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_no_go)");
    println!("cargo::rustc-check-cfg=cfg(gort_no_guard_pages)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");

    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !go_works() && !ci {
        println!("cargo::rustc-cfg=gort_no_go");
    }
    // Installing Go adds `go` to a PATH directory without changing PATH:
    // watch the directories so the next build notices.
    watch_path_dirs();

    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if !kernel_at_least(&release, (6, 13)) {
        println!("cargo::rustc-cfg=gort_no_guard_pages");
    }
}

/// Whether `go version` runs and succeeds.
fn go_works() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn watch_path_dirs() {
    let Some(path) = std::env::var_os("PATH") else {
        return;
    };
    for dir in std::env::split_paths(&path) {
        // Only absolute, existing directories: a relative entry would be
        // resolved against the build directory, and a missing one would
        // make cargo rerun this script on every build.
        if dir.is_absolute() && Path::new(&dir).is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
}

/// `6.18.44-fc-v1300` >= (6, 13)? An unreadable release counts as old.
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) >= want,
        _ => false,
    }
}
