//! Helpers shared by the `signerdb_*` integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{Hash160, StacksAddress};
use stacks_signer::signerdb::SignerDb;

/// The environment variable that tells a helper test it runs as a child process.
pub const CHILD_DB_ENV: &str = "SIGNERDB_TEST_CHILD_DB";

/// A fresh database in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_db() -> (tempfile::TempDir, PathBuf, SignerDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sqlite");
    let db = SignerDb::open(&path).unwrap();
    (dir, path, db)
}

/// A testnet single-sig address with hash `[n; 20]`.
pub fn addr(n: u8) -> StacksAddress {
    StacksAddress::new(26, Hash160::from([n; 20])).unwrap()
}

/// A mainnet single-sig address with hash `[n; 20]`.
pub fn mainnet_addr(n: u8) -> StacksAddress {
    StacksAddress::new(22, Hash160::from([n; 20])).unwrap()
}

/// Seconds since the epoch as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs the ignored test `name` of this test binary as a child process with
/// [`CHILD_DB_ENV`] set to `db`, stdout piped.
pub fn spawn_child(name: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line ending with `marker` (the test harness may print the
/// test's name on the same line); panics if the output ends first.
pub fn wait_for_line(child: &mut Child, marker: &str) {
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited before printing {marker:?}");
        if line.trim_end().ends_with(marker) {
            // Keep the pipe open (a closed pipe could kill the child with SIGPIPE on its
            // next write).
            std::mem::forget(reader);
            return;
        }
    }
}

/// The database path a helper test was given, or None when run normally.
pub fn child_db() -> Option<PathBuf> {
    std::env::var_os(CHILD_DB_ENV).map(PathBuf::from)
}

/// Announces `marker` on stdout, then waits to be killed or for stdin to close (the parent
/// exiting closes it).
pub fn announce_and_wait(marker: &str) {
    use std::io::{Read, Write};
    let mut out = std::io::stdout();
    writeln!(out, "{marker}").unwrap();
    out.flush().unwrap();
    let mut buf = [0u8; 1];
    let _ = std::io::stdin().read(&mut buf);
}
