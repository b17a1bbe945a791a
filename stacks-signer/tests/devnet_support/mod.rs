//! Running `stacks-signer devnet` as a child process in tests: with a timeout (the devnet
//! and its signers are killed if it is exceeded), its output captured, and helpers to read
//! its JSON summary and to find processes still running from a data directory.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a finished devnet run left.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

impl Finished {
    /// The `--json` summary on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not the JSON summary ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The lines of stderr starting with `error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// Everything, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?} after {:.1}s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// The devnet command with `args`, stdout and stderr piped.
pub fn devnet_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stacks-signer"));
    command
        .arg("devnet")
        .args(args)
        .env_remove("STACKS_LOG_JSON")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn reader(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

/// A started devnet whose output is being collected.
pub struct Running {
    /// The devnet process.
    pub child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
}

impl Running {
    /// Starts `devnet args`.
    pub fn start(args: &[&str]) -> Running {
        let mut child = devnet_command(args).spawn().expect("the binary starts");
        let stdout = child.stdout.take().map(reader);
        let stderr = child.stderr.take().map(reader);
        Running {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Waits for it to exit; past `timeout` it is killed and the test fails.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = self.started + timeout;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let timed_out = status.is_none();
        if timed_out {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let finished = Finished {
            code: status.and_then(|s| s.code()),
            stdout: self
                .stdout
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            took: self.started.elapsed(),
        };
        assert!(
            !timed_out,
            "the devnet did not finish within {timeout:?}:\n{}",
            finished.dump()
        );
        finished
    }
}

/// Runs `devnet args` to its end (at most `timeout`).
pub fn run(args: &[&str], timeout: Duration) -> Finished {
    Running::start(args).wait(timeout)
}

/// The ids of running processes whose command line mentions `dir` (the signers of a devnet
/// whose data directory it is).
pub fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

/// A number field of the JSON summary (`a.b.c`).
pub fn number(summary: &Value, path: &str) -> u64 {
    let mut v = summary;
    for key in path.split('.') {
        v = &v[key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("`{path}` is not a number in {summary:#}"))
}
