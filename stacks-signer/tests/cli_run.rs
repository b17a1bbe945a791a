//! `stacks-signer run` as a process: it starts against the mock node, logs in the reference's
//! format (or JSON), answers `/status`, stops on `/shutdown` with exit code 0, and refuses a
//! database another signer holds with one line and a non-zero exit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};
use stacks_signer::signerdb::SignerDb;

const TIMEOUT: Duration = Duration::from_secs(60);

fn our_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"cli-run")
}

fn start_node() -> RunningMockNode {
    let mut signers: Vec<SignerSpec> = ["a", "b", "c"]
        .iter()
        .map(|n| SignerSpec::simulated(StacksPrivateKey::from_seed(n.as_bytes()), 1))
        .collect();
    signers.push(SignerSpec::external(
        StacksPublicKey::from_private(&our_key()),
        1,
    ));
    MockNode::start(MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    })
    .expect("mock node starts")
}

fn write_config(dir: &Path, node: &RunningMockNode, db_path: &Path) -> String {
    let path = dir.join("signer.toml");
    let text = format!(
        "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:0\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n\
         event_timeout_ms = 200\n# retired in the reference; accepted with a warning\n\
         event_timeout = 5000\n",
        libsigner::chain::hex::to_hex(&our_key().to_bytes()),
        node.node_host(),
        db_path.display(),
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A running `stacks-signer run` and its stderr lines as they come.
struct SignerProcess {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl SignerProcess {
    fn start(config: &str, envs: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stacks-signer"));
        command
            .args(["run", "--config", config])
            .env_remove("STACKS_LOG_JSON")
            .env_remove("STACKS_LOG_DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {needle:?}; stderr so far:\n{}",
            self.seen.join("\n")
        );
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("signer did not exit; stderr:\n{}", self.seen.join("\n"));
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event endpoint from the "Signer listening for node events" line.
fn endpoint_of(line: &str) -> String {
    let at = line.find("endpoint").expect("endpoint in line");
    line[at..]
        .trim_start_matches("endpoint")
        .trim_start_matches(['"', ':', ' '])
        .split(['"', ',', ' '])
        .next()
        .unwrap()
        .to_string()
}

/// Asks the signer to stop. As the reference's receiver, it drops the request unanswered
/// (the client sees a 500 or a closed connection), so only the exit tells it worked.
fn shutdown(endpoint: &str) {
    let _ = ureq::post(&format!("http://{endpoint}/shutdown")).send_empty();
}

#[test]
fn run_starts_registers_answers_status_and_stops_on_shutdown() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let config = write_config(dir.path(), &node, &db_path);
    let mut signer = SignerProcess::start(&config, &[]);

    let warning = signer.wait_for_line("event_timeout");
    assert!(warning.starts_with("WARN ["), "{warning}");
    let version = signer.wait_for_line("Stacks signer version");
    assert!(
        version.contains("] Stacks signer version \"stacks-signer 3.3.0.0.4.0 ("),
        "{version}"
    );
    let listening = signer.wait_for_line("Signer listening for node events");
    // The reference's line format: LEVEL [secs.micros] [file:line] [thread] message, k: v
    assert!(listening.starts_with("INFO ["), "{listening}");
    assert!(listening.contains("] [stacks-signer/src/"), "{listening}");
    let endpoint = endpoint_of(&listening);
    node.add_observer(ObserverSpec::signer(endpoint.clone()));

    let status = ureq::get(&format!("http://{endpoint}/status")).call();
    assert!(status.is_ok(), "{status:?}");
    let registered = signer.wait_for_line("Signer is registered for reward cycle 12 as signer #");
    assert!(registered.contains("[signer_runloop:"), "{registered}");

    shutdown(&endpoint);
    let exit = signer.wait_exit();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn run_logs_json_lines_when_asked() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &node, &dir.path().join("signer.sqlite"));
    let mut signer = SignerProcess::start(&config, &[("STACKS_LOG_JSON", "1")]);
    let line = signer.wait_for_line("Signer listening for node events");
    let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(value["level"], "INFO");
    assert_eq!(value["msg"], "Signer listening for node events");
    let endpoint = value["endpoint"]
        .as_str()
        .expect("endpoint key")
        .to_string();
    assert!(value["thread"].is_string());
    shutdown(&endpoint);
    assert!(signer.wait_exit().success());
}

#[test]
fn run_refuses_a_database_held_by_another_signer_with_one_line() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let config = write_config(dir.path(), &node, &db_path);
    let _held = SignerDb::open(&db_path).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["run", "--config", &config])
        .env("STACKS_LOG_JSON", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot start the signer:"),
        "{stderr}"
    );
    assert!(last.contains("signer.sqlite"), "{stderr}");
}

#[test]
fn run_refuses_a_file_that_is_not_a_signer_database_with_one_line() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let config = write_config(dir.path(), &node, &db_path);
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db_path, &garbage).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["run", "--config", &config])
        .env("STACKS_LOG_JSON", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot start the signer: the signer database"),
        "{stderr}"
    );
    assert!(
        last.contains("signer.sqlite is not a usable signer database (file is not a database)"),
        "{stderr}"
    );
    assert!(
        std::fs::read(&db_path).unwrap() == garbage,
        "left untouched"
    );
}

#[test]
fn run_with_a_bad_config_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "node_host = 5\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["run", "--config", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: invalid config"), "{stderr}");
}

#[test]
fn run_stops_gracefully_on_sigterm() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &node, &dir.path().join("signer.sqlite"));
    let mut signer = SignerProcess::start(&config, &[]);
    signer.wait_for_line("Signer listening for node events");
    let killed = Command::new("kill")
        .args(["-TERM", &signer.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = signer.wait_exit();
    assert!(exit.success(), "{exit:?}");
    signer.wait_for_line("Signer stopped");
}

#[test]
fn malformed_events_are_logged_and_the_signer_keeps_running() {
    let node = start_node();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &node, &dir.path().join("signer.sqlite"));
    let mut signer = SignerProcess::start(&config, &[]);
    let endpoint = endpoint_of(&signer.wait_for_line("Signer listening for node events"));

    for (path, body) in [
        ("/new_burn_block", "not json"),
        ("/stackerdb_chunks", "{\"contract_id\": 5}"),
        ("/new_block", "{}"),
        ("/proposal_response", "\u{0}\u{1}"),
    ] {
        let answer = ureq::post(&format!("http://{endpoint}{path}"))
            .header("Content-Type", "application/json")
            .send(body);
        assert!(
            answer.is_ok(),
            "{path}: the node's delivery is acknowledged"
        );
    }
    // One warning for the first; the others within the minute are debug lines (anyone may
    // send garbage: a warning each would let them fill the log).
    let logged = signer.wait_for_line("Dropped an event request that is not a valid event");
    assert!(logged.starts_with("WARN ["), "{logged}");

    // Still alive: it answers status, registers and processes a real burn block.
    node.add_observer(ObserverSpec::signer(endpoint.clone()));
    let status = ureq::get(&format!("http://{endpoint}/status")).call();
    assert!(status.is_ok(), "{status:?}");
    signer.wait_for_line("Signer is registered for reward cycle 12");
    node.mine_burn_block(None).expect("burn block mined");
    signer.wait_for_line("Refreshing runloop with new burn block event");
    assert!(signer.child.try_wait().unwrap().is_none(), "still running");
    shutdown(&endpoint);
    assert!(signer.wait_exit().success());
}
