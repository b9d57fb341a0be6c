//! Records the git commit the binary was built from, for model cards (`CHURNFLOW_GIT_COMMIT`).
//! Outside a git checkout (a Docker build context) the commit comes from the build's own
//! `CHURNFLOW_GIT_COMMIT` variable, or stays empty.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CHURNFLOW_GIT_COMMIT");
    if let Ok(commit) = std::env::var("CHURNFLOW_GIT_COMMIT") {
        println!("cargo:rustc-env=CHURNFLOW_GIT_COMMIT={}", commit.trim());
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=CHURNFLOW_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
