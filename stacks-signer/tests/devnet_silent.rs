//! `--silent K`: signers in the reward set that never answer. Up to 30% of the weight the
//! others still reach the 70% threshold and the run completes; above it no block can be
//! signed, and the run stops at the first block, says why in one `error:` line, and exits 1.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

#[test]
fn silent_signers_holding_30_percent_of_the_weight_do_not_stop_the_chain() {
    // Weight 3 of 10 silent: the seven others are exactly the threshold.
    let done = run(
        &[
            "--signers",
            "10",
            "--silent",
            "3",
            "--tenures",
            "2",
            "--blocks-per-tenure",
            "3",
            "--json",
            "--seed",
            "21",
        ],
        Duration::from_secs(180),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let summary = done.json();
    assert_eq!(number(&summary, "blocks.signed"), 6);
    assert_eq!(number(&summary, "faults.silent_signers"), 3);
    assert_eq!(number(&summary, "faults.silent_weight"), 3);
    assert_eq!(summary["check"]["passed"], true);
    let signers = summary["per_signer"].as_array().expect("per_signer");
    for s in &signers[7..] {
        assert_eq!(s["kind"], "silent");
        assert_eq!(number(s, "pre_commits") + number(s, "signatures"), 0);
    }
    for s in &signers[..7] {
        assert_eq!(number(s, "signatures"), 6, "{s}");
    }
}

#[test]
fn silent_signers_holding_more_than_30_percent_stall_the_chain_and_the_run_says_so() {
    // Weight 4 of 10 silent: six cannot reach the threshold of seven.
    let done = run(
        &[
            "--signers",
            "10",
            "--silent",
            "4",
            "--tenures",
            "2",
            "--block-timeout",
            "4",
            "--seed",
            "22",
        ],
        Duration::from_secs(180),
    );
    assert_eq!(done.code, Some(1), "{}", done.dump());
    let errors = done.error_lines();
    assert_eq!(errors.len(), 1, "{}", done.dump());
    assert!(
        errors[0].starts_with("error: stalled: block 1 of tenure 1")
            && errors[0].contains("did not reach the threshold within 4s")
            && errors[0].contains("more than the 30% a network can lose"),
        "{}",
        errors[0]
    );
    assert!(
        done.stdout.contains("blocks      0 of 1 signed"),
        "{}",
        done.dump()
    );
    // Warned at the start, and the summary still comes, with the check.
    assert!(
        done.stdout.contains("more than 30%: blocks cannot reach"),
        "{}",
        done.dump()
    );
    assert!(
        done.stdout.contains("check       passed"),
        "{}",
        done.dump()
    );
    // A failed run keeps its files for a look.
    let dir = done
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  data        "))
        .expect("the kept data directory is named");
    assert!(std::path::Path::new(dir).join("devnet.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}
