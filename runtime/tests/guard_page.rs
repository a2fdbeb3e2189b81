//! A goroutine that recurses without ever reaching a safepoint runs into
//! its stack slot's guard page. The SIGSEGV handler must report Go's fatal
//! error and exit with status 2, never corrupt a neighbouring stack. That
//! path ends the process, so the scenario runs in a child process.
//!
//! Guard pages need Linux >= 6.13 (`MADV_GUARD_INSTALL`): on an older
//! kernel the build script sets `gort_no_guard_pages` and the test is
//! ignored, so the skip shows in cargo's summary.

use std::process::Command;

use gort::{Config, Runtime};

#[allow(unconditional_recursion)]
#[inline(never)]
fn deep(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 128]);
    deep(n + 1) + buf[7]
}

#[test]
#[cfg_attr(
    gort_no_guard_pages,
    ignore = "needs Linux >= 6.13 (MADV_GUARD_INSTALL); only the software stack check is active"
)]
fn guard_page_overflow_exits_with_status_2() {
    if std::env::var_os("GORT_GUARD_CHILD").is_some() {
        let rt = Runtime::new(Config::new().gomaxprocs(1));
        rt.run(|| {
            gort::go!(|| {
                deep(0);
            });
            gort::sleep(std::time::Duration::from_secs(60));
        });
        unreachable!("the overflow must end the process");
    }
    // The build saw a new enough kernel; the probe at run time must agree,
    // or the test would pass without testing anything.
    assert!(
        gort::rt::guard_pages_supported(),
        "the kernel release says Linux >= 6.13 but MADV_GUARD_INSTALL is refused"
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "guard_page_overflow_exits_with_status_2",
            "--nocapture",
        ])
        .env("GORT_GUARD_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains("runtime: goroutine stack exceeds "), "{err}");
    assert!(err.contains("\nfatal error: stack overflow\n"), "{err}");
    assert!(err.contains("goroutine 5 [running]:"), "{err}");
}
