//! The binary's top level, `check-config`, and `monitor-signers`' argument errors.

mod cli_support;

use cli_support::{run, signer0, SIGNER0_PK};

#[test]
fn no_arguments_print_help_and_succeed() {
    let r = run(&[]);
    let out = r.ok();
    assert!(out.starts_with("Stacker signer binary\n"), "{out}");
    assert!(out.ends_with("\n\n"));
    for (name, help) in [
        (
            "get-chunk",
            "Get a chunk from the stacker-db instance in hex encoding",
        ),
        (
            "get-latest-chunk",
            "Get the latest chunk from the stacker-db instance in hex encoding",
        ),
        (
            "list-chunks",
            "List chunks from the stacker-db instance in hex encoding",
        ),
        ("put-chunk", "Upload a chunk to the stacker-db instance"),
        (
            "run",
            "Run the signer, waiting for events from the stacker-db instance",
        ),
        (
            "generate-stacking-signature",
            "Generate a signature for Stacking transactions",
        ),
        (
            "check-config",
            "Check a configuration file and output config information",
        ),
        (
            "generate-vote",
            "Vote for a specified SIP with a yes or no vote",
        ),
        (
            "verify-vote",
            "Verify the vote for a specified SIP against a public key and vote info",
        ),
        (
            "monitor-signers",
            "Verify signer signatures by checking stackerdb slots contain the correct data",
        ),
        ("inspect", "Decode a chunk"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from help"));
        assert!(line.contains(help), "{line}");
    }
    assert!(r.stderr.is_empty());
}

#[test]
fn versions() {
    let short = run(&["-V"]);
    assert_eq!(
        short.ok(),
        format!("stacks-signer {}\n", libsigner::STACKS_SIGNER_VERSION)
    );
    let long = run(&["--version"]);
    assert_eq!(
        long.ok(),
        format!("{}\n", libsigner::VERSION_STRING.as_str())
    );
}

#[test]
fn check_config_prints_the_reference_text_then_the_allowed_event_sources() {
    let r = run(&["check-config", "-c", &signer0()]);
    let expected = format!(
        "Signer version: {}\nConfig: \n\nStacks node host: 127.0.0.1:20443\nSigner endpoint: [::1]:30000\nStacks address: ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ\nPublic key: {SIGNER0_PK}\nNetwork: testnet\nChain ID: 0x80000000\nDatabase path: :memory:\nMetrics endpoint: 0.0.0.0:9090\nDry run: false\nEvent allowed sources: 127.0.0.0/8, ::1, 127.0.0.1:20443 (127.0.0.1)\n\n",
        libsigner::VERSION_STRING.as_str()
    );
    assert_eq!(r.ok(), expected);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn check_config_custom_chain_id() {
    let path = cli_support::crate_path("tests/conf/signer-custom-chain-id.toml");
    let r = run(&["check-config", "--config", path.to_str().unwrap()]);
    let out = r.ok();
    assert!(out.contains("\nChain ID: 0x80000100\n"), "{out}");
}

#[test]
fn check_config_prints_the_configured_event_sources_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sources.toml");
    let base = std::fs::read_to_string(signer0()).unwrap();
    for (value, printed) in [
        (r#"["any"]"#, "Event allowed sources: any\n"),
        (
            r#"["10.0.0.0/8", "node_host"]"#,
            "Event allowed sources: 10.0.0.0/8, 127.0.0.1:20443 (127.0.0.1)\n",
        ),
    ] {
        std::fs::write(&path, format!("{base}event_allowed_sources = {value}\n")).unwrap();
        let r = run(&["check-config", "-c", path.to_str().unwrap()]);
        let out = r.ok();
        assert!(
            out.ends_with(&format!("Dry run: false\n{printed}\n")),
            "{out}"
        );
    }
    std::fs::write(
        &path,
        format!("{base}event_allowed_sources = [\"10.0.0.0/8\", \"nodehost\"]\n"),
    )
    .unwrap();
    let e = run(&["check-config", "-c", path.to_str().unwrap()]);
    let error = e.one_line_error();
    assert!(error.contains("event_allowed_sources"), "{error}");
    assert!(error.contains("\"nodehost\""), "{error}");
}

#[test]
fn retired_keys_warn_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.toml");
    let mut text = std::fs::read_to_string(signer0()).unwrap();
    text.push_str("event_timeout = 5000\n");
    std::fs::write(&path, text).unwrap();
    let r = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert!(r.ok().contains("Public key: "));
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("warning: "), "{}", r.stderr);
    assert!(r.stderr.contains("event_timeout"), "{}", r.stderr);
}

#[test]
fn bad_configs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let e = run(&["check-config", "-c", missing.to_str().unwrap()]);
    assert!(e.one_line_error().contains("missing.toml"));

    let unknown = dir.path().join("unknown.toml");
    let mut text = std::fs::read_to_string(signer0()).unwrap();
    text.push_str("node_hots = 1\n");
    std::fs::write(&unknown, text).unwrap();
    let e = run(&["check-config", "-c", unknown.to_str().unwrap()]);
    assert!(e.one_line_error().contains("node_hots"));

    let bad_key = dir.path().join("bad_key.toml");
    let text = std::fs::read_to_string(signer0())
        .unwrap()
        .replace("6a1fc1a3", "zz1fc1a3");
    std::fs::write(&bad_key, text).unwrap();
    run(&["check-config", "-c", bad_key.to_str().unwrap()]).one_line_error();

    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, "this is [not toml\n").unwrap();
    run(&["check-config", "-c", garbage.to_str().unwrap()]).one_line_error();
}

#[test]
fn usage_errors_are_one_line() {
    let e = run(&["check-config"]);
    assert!(e.one_line_error().contains("--config <FILE>"));
    assert_eq!(e.code, Some(2));
    let e = run(&["no-such-command"]);
    assert!(e.one_line_error().contains("no-such-command"));
    let e = run(&[
        "get-chunk",
        "--host",
        "127.0.0.1:1",
        "-c",
        "not-a-contract",
        "--slot-id",
        "0",
        "--slot-version",
        "0",
    ]);
    assert!(e.one_line_error().contains("Invalid contract"));
}

#[test]
fn monitor_signers_with_a_malformed_host_is_a_one_line_error() {
    for host in ["not a host", "127.0.0.1:99999"] {
        let e = run(&["monitor-signers", "--host", host]);
        assert!(
            e.one_line_error().contains("Failed to parse node host"),
            "{host}"
        );
    }
}
