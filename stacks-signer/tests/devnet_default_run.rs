//! `stacks-signer devnet` with its defaults (fewer tenures, to keep CI short): five real
//! signer processes sign every block to the threshold, the summary says so, the check
//! passes, the exit code is 0 and the temporary data directory is gone.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

#[test]
fn a_default_run_signs_every_block_and_its_check_passes() {
    let done = run(
        &["--tenures", "3", "--seed", "11"],
        Duration::from_secs(120),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let out = &done.stdout;
    assert!(
        out.contains("devnet summary: 5 signers (threshold weight 4 of 5)"),
        "{}",
        done.dump()
    );
    assert!(out.contains("tenures     3 of 3 mined"), "{}", done.dump());
    assert!(
        out.contains("blocks      30 of 30 signed to the threshold"),
        "{}",
        done.dump()
    );
    assert!(out.contains("check       passed"), "{}", done.dump());
    assert!(
        out.contains("0 equivocations, 0 votes lost, 0 flips"),
        "{}",
        done.dump()
    );
    // Plain progress lines, stdout not being a terminal.
    assert!(
        out.contains("tenure 1/3") || out.contains("done:"),
        "{}",
        done.dump()
    );
    assert!(done.error_lines().is_empty(), "{}", done.dump());
    // Every signer voted on every block.
    for i in 0..5 {
        assert!(
            out.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 6 && f[0] == i.to_string() && f[1] == "ours" && f[4] == "30"
            }),
            "signer {i} did not sign 30 blocks:\n{}",
            done.dump()
        );
    }
    let dir = out
        .lines()
        .find_map(|l| l.split("data in ").nth(1))
        .expect("the data directory is named");
    assert!(
        !std::path::Path::new(dir.trim()).exists(),
        "{dir} was not removed"
    );
}

#[test]
fn the_json_summary_has_the_figures_and_nothing_else_is_on_stdout() {
    let done = run(
        &[
            "--tenures",
            "2",
            "--blocks-per-tenure",
            "3",
            "--json",
            "--weights",
            "1,2,3",
            "--seed",
            "12",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let summary = done.json();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["error"], serde_json::Value::Null);
    assert_eq!(number(&summary, "signers"), 3);
    assert_eq!(number(&summary, "total_weight"), 6);
    assert_eq!(number(&summary, "threshold_weight"), 5);
    assert_eq!(number(&summary, "blocks.planned"), 6);
    assert_eq!(number(&summary, "blocks.signed"), 6);
    assert_eq!(number(&summary, "latency.samples"), 6);
    assert!(number(&summary, "latency.max_ms") >= number(&summary, "latency.p50_ms"));
    assert_eq!(summary["check"]["passed"], true);
    assert_eq!(number(&summary, "check.equivocations"), 0);
    assert_eq!(number(&summary, "check.votes_lost"), 0);
    let signers = summary["per_signer"].as_array().expect("per_signer");
    assert_eq!(signers.len(), 3);
    for (i, s) in signers.iter().enumerate() {
        assert_eq!(number(s, "index"), i as u64);
        assert_eq!(number(s, "weight"), i as u64 + 1);
        assert_eq!(number(s, "signatures"), 6, "{s}");
        assert!(number(s, "db_bytes") > 0);
    }
    // Progress went to stderr.
    assert!(done.stderr.contains("done:"), "{}", done.dump());
}
