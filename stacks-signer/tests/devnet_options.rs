//! Bad `devnet` options: one `error:` line on stderr naming the option, exit 2 (as clap's
//! own errors), nothing started.

mod devnet_support;

use std::time::Duration;

use devnet_support::run;

fn assert_usage_error(args: &[&str], mentions: &str) {
    let done = run(args, Duration::from_secs(30));
    assert_eq!(done.code, Some(2), "{args:?}: {}", done.dump());
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {}", done.dump());
    assert!(lines[0].starts_with("error: "), "{args:?}: {}", lines[0]);
    assert!(
        lines[0].contains(mentions),
        "{args:?}: {} lacks {mentions}",
        lines[0]
    );
    assert!(done.stdout.is_empty(), "{args:?}: {}", done.dump());
}

#[test]
fn bad_options_are_one_error_line_and_exit_2() {
    assert_usage_error(&["--signers", "0"], "--signers");
    assert_usage_error(&["--signers", "many"], "--signers");
    assert_usage_error(&["--weights", "1,x,2"], "--weights");
    assert_usage_error(&["--weights", "1,0"], "--weights");
    assert_usage_error(&["--signers", "3", "--weights", "1,1"], "--weights");
    assert_usage_error(&["--silent", "6"], "--silent");
    assert_usage_error(&["--tenures", "0"], "--tenures");
    assert_usage_error(&["--blocks-per-tenure", "0"], "--blocks-per-tenure");
    assert_usage_error(&["--chaos-rate", "2"], "--chaos");
    assert_usage_error(&["--chaos", "--chaos-rate=0"], "--chaos-rate");
    assert_usage_error(&["--node-outage", "0"], "--node-outage");
    assert_usage_error(&["--node-outage", "40"], "--block-timeout");
    assert_usage_error(&["--reference-count", "2"], "--reference-signer");
    assert_usage_error(
        &["--reference-signer", "/no/such/binary"],
        "/no/such/binary",
    );
    assert_usage_error(
        &["--scenario", "/no/such/scenario.toml"],
        "/no/such/scenario.toml",
    );
    assert_usage_error(&["--check-only"], "--data-dir");
    assert_usage_error(&["--no-such-flag"], "--no-such-flag");
}

#[test]
fn a_data_directory_from_an_earlier_run_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("left-over"), "x").expect("file");
    let path = dir.path().display().to_string();
    assert_usage_error(&["--data-dir", &path], "not empty");
}
