//! Running a Go program with the real Go 1.19, for the comparison tests.

use std::path::PathBuf;
use std::process::Command;

pub struct GoOut {
    pub stdout: String,
    pub stderr: String,
    pub status: Option<i32>,
}

/// Why the Go comparisons are ignored when the build found no Go.
pub const NEEDS_GO: &str = "needs Go 1.19 (apt-get install golang-go)";

/// Builds `src` as `main.go` with `go build <flags>` and runs it with
/// `env`. A missing Go is a failure here: without one, the comparison
/// tests are only compiled in under CI, which must have it.
pub fn go_run_with(name: &str, src: &str, env: &[(&str, &str)], flags: &[&str]) -> GoOut {
    if Command::new("go").arg("version").output().is_err() {
        panic!("{name}: Go is not installed and CI=true requires the Go comparisons ({NEEDS_GO})");
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("gort-gocmp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("main.go");
    std::fs::write(&file, src).unwrap();
    let bin = dir.join("prog");
    let build = Command::new("go")
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(&bin)
        .arg(&file)
        .env("GO111MODULE", "off")
        .output()
        .expect("go build");
    assert!(
        build.status.success(),
        "go build failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let mut cmd = Command::new(&bin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run Go program");
    let _ = std::fs::remove_dir_all(&dir);
    GoOut {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status.code(),
    }
}
