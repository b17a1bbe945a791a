//! The `stacks-signer mock-node` command through the real binary: tenures with simulated
//! signers, a scenario with a forced and a signer-detected rejection, the JSON-lines record,
//! and one-line errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("record written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
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
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().next().unwrap().contains("127.0.0.1:"));
    let recs = records(&record);
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
type = "propose"
kind = "extend"
cause = "extended_read_count"

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
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&record);
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
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = run(&[
            "mock-node",
            "--bind",
            "127.0.0.1:0",
            "--signers",
            "1",
            "--scenario",
            path.to_str().unwrap(),
        ]);
        assert_one_line_failure(&out, needle);
        assert!(out.stdout.is_empty(), "nothing started");
    }
}
