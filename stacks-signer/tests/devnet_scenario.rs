//! `--scenario FILE` (the mock node's format) run against real signer processes: the
//! scenario's expectations hold (valid blocks signed, an orphan rejected), `--tenures` given
//! as well are mined after it, and `--record` writes the node's activity as JSON lines. A
//! scenario whose expectation fails makes the run fail with the step named.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

const SCENARIO: &str = r#"
[[step]]
type = "burn_block"
winner = 0
[[step]]
type = "propose"
kind = "tenure_start"
[[step]]
type = "expect_block"
[[step]]
type = "propose"
bad_parent = true
label = "orphan"
[[step]]
type = "expect_block"
block = "orphan"
outcome = "rejected"
[[step]]
type = "propose"
kind = "continue"
[[step]]
type = "expect_block"
"#;

#[test]
fn a_scenario_runs_against_real_signers_then_the_tenures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario written");
    let record = dir.path().join("record.jsonl");
    let (scenario_arg, record_arg) = (scenario.display().to_string(), record.display().to_string());
    let done = run(
        &[
            "--scenario",
            &scenario_arg,
            "--tenures",
            "1",
            "--blocks-per-tenure",
            "2",
            "--record",
            &record_arg,
            "--json",
            "--seed",
            "71",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let summary = done.json();
    assert_eq!(summary["scenario"], scenario_arg.as_str());
    // Two blocks of the scenario and two of the tenure were processed; the orphan was not.
    assert_eq!(number(&summary, "blocks.processed"), 4);
    assert_eq!(number(&summary, "blocks.signed"), 2);
    assert_eq!(number(&summary, "blocks.rejected"), 1);
    let reasons = summary["blocks"]["rejections_of_unsigned"].to_string();
    assert!(reasons.contains("InvalidParentBlock"), "{reasons}");
    assert_eq!(summary["check"]["passed"], true);
    let text = std::fs::read_to_string(&record).expect("record");
    assert!(text.lines().count() > 20);
    assert!(text
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(text.contains("\"event\":\"BlockProcessed\""));
}

#[test]
fn a_failing_scenario_step_fails_the_run_and_names_the_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("scenario.toml");
    // Every signer accepts a good block: expecting a rejection fails.
    std::fs::write(
        &scenario,
        "[[step]]\ntype = \"burn_block\"\nwinner = 0\n[[step]]\ntype = \"propose\"\n\
         [[step]]\ntype = \"expect_block\"\noutcome = \"not_processed\"\ntimeout_secs = 2\n",
    )
    .expect("scenario written");
    let scenario_arg = scenario.display().to_string();
    let done = run(
        &["--scenario", &scenario_arg, "--seed", "72"],
        Duration::from_secs(120),
    );
    assert_eq!(done.code, Some(1), "{}", done.dump());
    let errors = done.error_lines();
    assert_eq!(errors.len(), 1, "{}", done.dump());
    assert!(
        errors[0].starts_with("error: scenario failed: ")
            && errors[0].contains("step 3 (expect_block)"),
        "{}",
        errors[0]
    );
}
