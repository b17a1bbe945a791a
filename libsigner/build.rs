//! Records the git commit the library was built from, for the version string.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()
        .map(|s| s.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=GIT_TREE_CLEAN");
    for path in ["../.git/HEAD", "../.git/refs/heads"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if std::env::var_os("GIT_COMMIT").is_none() {
        if let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) {
            println!("cargo:rustc-env=GIT_COMMIT={commit}");
        }
    }
    if std::env::var_os("GIT_TREE_CLEAN").is_none() {
        if let Some(status) = git(&["status", "--porcelain", "--untracked-files=no"]) {
            let mark = if status.is_empty() { "" } else { "+" };
            println!("cargo:rustc-env=GIT_TREE_CLEAN={mark}");
        }
    }
}
