//! Shared helpers of the `cli_*` tests: run the real binary and capture its output.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The result of one run of the binary.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        &self.stdout
    }

    /// Asserts a failure reported as exactly one `error: ...` line on stderr, no panic.
    pub fn one_line_error(&self) -> &str {
        assert_ne!(self.code, Some(0), "unexpected success: {}", self.stdout);
        assert!(self.code.is_some(), "killed by a signal");
        assert_ne!(self.code, Some(101), "panicked: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr is not one line: {:?}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{:?}", lines[0]);
        lines[0]
    }
}

fn finish(output: Output) -> Run {
    Run {
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
        code: output.status.code(),
    }
}

/// Runs the binary with `args` and empty stdin.
pub fn run(args: &[&str]) -> Run {
    run_with_stdin(args, b"")
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stacks-signer");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    finish(child.wait_with_output().expect("wait"))
}

/// A path under the crate directory.
pub fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The sample config `signer-0.toml`.
pub fn signer0() -> String {
    crate_path("tests/conf/signer-0.toml").display().to_string()
}

/// The private key of `signer-0.toml`.
pub const SIGNER0_KEY: &str = "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01";
/// The compressed public key of `signer-0.toml`.
pub const SIGNER0_PK: &str = "03bc489f27da3701d9f9e577c88de5567cf4023111b7577042d55cde4d823a3505";
