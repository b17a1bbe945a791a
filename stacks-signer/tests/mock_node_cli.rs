//! The `stacks-signer mock-node` command through the real binary: tenures with simulated
//! signers, a scenario with a forced and a signer-detected rejection, the JSON-lines record
//! (and its stability across runs on the fixed clock), the `--config` file under the flags,
//! serving until SIGTERM, and one-line errors.

mod mock_node_common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mock_node_common::read_record;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// Asserts the mock node exited 0, showing its stderr otherwise.
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count(records: &[Value], event: &str) -> usize {
    records.iter().filter(|r| r["event"] == event).count()
}

#[test]
fn tenures_with_simulated_signers_exit_zero_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.jsonl");
    let out = run(&[
        "mock-node",
        "--bind",
        "127.0.0.1:0",
        "--signers",
        "3",
        "--tenures",
        "2",
        "--blocks-per-tenure",
        "2",
        "--timeout-secs",
        "30",
        "--record",
        record.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(stdout.lines().next().unwrap().contains("127.0.0.1:"));
    let recs = read_record(&record);
    assert_eq!(count(&recs, "BurnBlock"), 2);
    assert_eq!(count(&recs, "BlockProposed"), 4);
    assert_eq!(count(&recs, "BlockProcessed"), 4);
    for r in recs.iter().filter(|r| r["event"] == "BlockProcessed") {
        assert!(r["signed_weight"].as_u64() >= r["threshold_weight"].as_u64());
    }
    // Every proposal got three acceptances, decoded in the chunk's message summary.
    let accepted = recs
        .iter()
        .filter(|r| r["event"] == "ChunkWrite" && r["message"]["kind"] == "BlockAccepted")
        .count();
    assert_eq!(accepted, 12);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..recs.len() as u64).collect::<Vec<_>>());
}

const SCENARIO: &str = r#"
[[step]]
type = "burn_block"
winner = 0
label = "b1"

[[step]]
type = "validation"
reject = "InvalidBlock"
reason = "scenario says no"

[[step]]
type = "propose"
kind = "tenure_start"
label = "refused"

[[step]]
type = "expect_block"
block = "refused"
outcome = "rejected"
timeout_secs = 20

[[step]]
type = "propose"
kind = "tenure_start"
label = "start"

[[step]]
type = "expect_block"
block = "start"
timeout_secs = 20

[[step]]
type = "propose"
kind = "continue"
bad_parent = true
label = "orphan"

[[step]]
type = "expect_block"
block = "orphan"
outcome = "rejected"
timeout_secs = 20

[[step]]
type = "burn_block"

[[step]]
type = "propose"
kind = "extend"
cause = "extended"

[[step]]
type = "expect_block"
timeout_secs = 20
"#;

#[test]
fn scenario_with_rejections_runs_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let record = dir.path().join("record.jsonl");
    let out = run(&[
        "mock-node",
        "--bind",
        "127.0.0.1:0",
        "--signers",
        "3",
        "--scenario",
        scenario.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
        "--timeout-secs",
        "30",
    ]);
    assert_success(&out);
    let recs = read_record(&record);
    let rejections: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event"] == "ChunkWrite" && r["message"]["kind"] == "BlockRejected")
        .collect();
    assert!(rejections.len() >= 3, "{rejections:?}");
    let text = serde_json::to_string(&rejections).unwrap();
    assert!(
        text.contains("UnknownParent") || text.contains("InvalidParentBlock"),
        "{text}"
    );
    // The forced rejection of the next proposal is honoured by the simulated signers.
    assert!(text.contains("scenario says no"), "{text}");
    assert!(text.contains("InvalidBlock"), "{text}");
    assert_eq!(count(&recs, "BlockProcessed"), 2);
}

/// Runs scenario `text` (written into `dir`) with one simulated signer.
fn run_one_signer_scenario(dir: &Path, text: &str) -> Output {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    run(&[
        "mock-node",
        "--bind",
        "127.0.0.1:0",
        "--signers",
        "1",
        "--scenario",
        path.to_str().unwrap(),
    ])
}

fn assert_one_line_failure(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn bad_flags_and_scenarios_fail_with_one_line() {
    assert_one_line_failure(&run(&["mock-node", "--bogus"]), "--bogus");
    assert_one_line_failure(
        &run(&["mock-node", "--signers", "1", "--network", "regtest"]),
        "regtest",
    );
    assert_one_line_failure(&run(&["mock-node", "--bind", "127.0.0.1:0"]), "no signers");
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("[[step]]\ntype = \"teleport\"\n", "teleport"),
        (
            "[[step]]\ntype = \"wait\"\nsecs = 1\ncolour = 2\n",
            "colour",
        ),
        (
            "[[step]]\ntype = \"propose\"\nkind = \"sideways\"\n",
            "sideways",
        ),
    ] {
        let out = run_one_signer_scenario(dir.path(), text);
        assert_one_line_failure(&out, needle);
        assert!(out.stdout.is_empty(), "nothing started");
    }
}

#[test]
fn a_failing_scenario_step_exits_one_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_one_signer_scenario(
        dir.path(),
        "[[step]]\ntype = \"burn_block\"\nwinner = 0\n[[step]]\ntype = \"propose\"\nbad_parent = true\n[[step]]\ntype = \"expect_block\"\ntimeout_secs = 0.5\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_one_line_failure(&out, "step 3 (expect_block): block ");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not processed within 500ms"));
}

#[test]
fn the_config_file_sets_every_option_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let file_record = dir.path().join("file.jsonl");
    let flag_record = dir.path().join("flag.jsonl");
    let config = dir.path().join("mock.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:0\"\nsigners = 2\ntenures = 2\nblocks_per_tenure = 2\ntimeout_secs = 30\nrecord = {:?}\n",
            file_record.to_str().unwrap()
        ),
    )
    .unwrap();
    // The file alone: 2 simulated signers, 2 tenures of 2 blocks, recorded where it says.
    let out = run(&["mock-node", "--config", config.to_str().unwrap()]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mined 4 blocks in 2 tenures"));
    let recs = read_record(&file_record);
    assert_eq!(count(&recs, "BlockProcessed"), 4);
    let accepted = |recs: &[Value]| {
        recs.iter()
            .filter(|r| r["event"] == "ChunkWrite" && r["message"]["kind"] == "BlockAccepted")
            .count()
    };
    assert_eq!(accepted(&recs), 4 * 2);

    // Flags win: 3 signers, 1 tenure, another record file.
    std::fs::remove_file(&file_record).unwrap();
    let out = run(&[
        "mock-node",
        "--config",
        config.to_str().unwrap(),
        "--signers",
        "3",
        "--tenures",
        "1",
        "--record",
        flag_record.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mined 2 blocks in 1 tenures"));
    assert!(!file_record.exists());
    let recs = read_record(&flag_record);
    assert_eq!(count(&recs, "BlockProcessed"), 2);
    assert_eq!(accepted(&recs), 2 * 3);

    // Unknown keys are refused with one line.
    std::fs::write(&config, "signers = 1\ncolour = 2\n").unwrap();
    assert_one_line_failure(
        &run(&["mock-node", "--config", config.to_str().unwrap()]),
        "colour",
    );
}

#[test]
fn serving_until_sigterm_exits_zero_with_a_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.jsonl");
    let mut child = bin()
        .args([
            "mock-node",
            "--bind",
            "127.0.0.1:0",
            "--signers",
            "1",
            "--record",
            record.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr: std::net::SocketAddr = first
        .trim()
        .strip_prefix("mock node listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    assert_eq!(mock_node_common::get(addr, "/v2/info").status, 200);
    // Some activity to record: refused proposals are recorded as validation requests.
    const REQUESTS: usize = 5;
    for _ in 0..REQUESTS {
        let resp = mock_node_common::request(
            addr,
            "POST",
            "/v3/block_proposal",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "12345"),
            ],
            b"{}",
        );
        assert_eq!(resp.status, 400);
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.ends_with('\n'), "the last line is complete");
    let recs = read_record(&record);
    assert_eq!(recs.len(), REQUESTS);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        assert_eq!(r["event"], "ValidationRequested");
        assert_eq!(r["status"], 400);
    }
}

const STABLE_SCENARIO: &str = r#"
[[step]]
type = "burn_block"
winner = 0
label = "a"
[[step]]
type = "validation"
reject = "InvalidBlock"
[[step]]
type = "propose"
kind = "tenure_start"
[[step]]
type = "expect_block"
outcome = "rejected"
[[step]]
type = "propose"
kind = "tenure_start"
label = "start"
[[step]]
type = "expect_block"
[[step]]
type = "inject"
signer = 0
message = "pre_commit"
block = "start"
[[step]]
type = "propose"
kind = "extend"
cause = "extended_runtime"
[[step]]
type = "expect_block"
outcome = "rejected"
[[step]]
type = "propose"
kind = "continue"
bad_parent = true
[[step]]
type = "expect_block"
outcome = "rejected"
[[step]]
type = "burn_block"
winner = 1
label = "b"
[[step]]
type = "propose"
[[step]]
type = "expect_block"
[[step]]
type = "burn_block"
winner = 0
parent = "a"
[[step]]
type = "propose"
[[step]]
type = "expect_block"
[[step]]
type = "set_burn_tip"
block = "b"
[[step]]
type = "tenures"
tenures = 2
blocks_per_tenure = 2
"#;

/// The record of one `--fixed-clock` run of [`STABLE_SCENARIO`], without `at_ms`.
fn stable_record(dir: &Path, name: &str) -> Vec<Value> {
    let scenario = dir.join("stable.toml");
    std::fs::write(&scenario, STABLE_SCENARIO).unwrap();
    let record = dir.join(name);
    let out = run(&[
        "mock-node",
        "--bind",
        "127.0.0.1:0",
        "--signers",
        "4",
        "--fixed-clock",
        "1700000000",
        "--timeout-secs",
        "30",
        "--scenario",
        scenario.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ]);
    assert_success(&out);
    read_record(&record)
        .into_iter()
        .map(|mut r| {
            assert!(r["at_ms"].is_u64());
            r.as_object_mut().unwrap().remove("at_ms");
            r
        })
        .collect()
}

#[test]
fn two_fixed_clock_runs_of_a_scenario_record_the_same_lines_apart_from_at_ms() {
    let dir = tempfile::tempdir().unwrap();
    let first = stable_record(dir.path(), "first.jsonl");
    // A later wall-clock second must not matter.
    std::thread::sleep(Duration::from_millis(1100));
    let second = stable_record(dir.path(), "second.jsonl");
    assert!(count(&first, "BlockProcessed") >= 7, "{}", first.len());
    // The reorg of `set_burn_tip` is a line of its own.
    assert_eq!(count(&first, "BurnTipSet"), 1);
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a, b);
    }
}
