//! The safety fixture suite: its format, its cases, and a runner against `SignerDb`.
#![allow(dead_code)]

pub mod cases;
pub mod format;
pub mod runner;

use std::path::PathBuf;

/// Where the fixture files live.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/safety")
}
