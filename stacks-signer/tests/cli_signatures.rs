//! `generate-stacking-signature`, `generate-vote` and `verify-vote` against the fixed vectors
//! of the reference study, and their error paths.

mod cli_support;

use cli_support::{run, signer0, SIGNER0_PK};

const TAPROOT: &str = "bc1p8vg588hldsnv4a558apet4e9ff3pr4awhqj2hy8gy6x2yxzjpmqsvvpta4";
const U128_MAX: &str = "340282366920938463463374607431768211455";
const SIG_RC6: &str = "d4a34fab767abf56ac779480eb4fa8ea70c80f04808af3a3ca29547e79c2adef7bc47b296bb0d0a69926c8c5c0193654b5601cf556f87f431059298c9be5e43601";
const SIG_RC7: &str = "7dfbba8f9c9989bdbe850e36549d795d4419df8c6ea7710bd372a14a2616184f14998927692a906a77bd06fd24e3acefb4824b2e468f4938c2f5d9b159a9b89301";
const VOTE_SIP1_YES: &str = "00a2b4b38b02c703264ed9adf4d7f3f89fd2811a7c2b9dc48c7c6948418ecd12e227c8080014627553dff8d20f5bb5d525370e8681471eac00fcc103114267868a";
const VOTE_SIP3_NO: &str = "00f28b6c4a8b69d79a627bba8fb9344dad5a1d60554a8db8d678f317658d18bd437acb397b5be1d601e8201d719dffabed88358711c7fa6df72007d72a314a25fe";

fn stacking(extra: &[&str]) -> cli_support::Run {
    let config = signer0();
    let mut args = vec!["generate-stacking-signature", "-c", config.as_str()];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn stacking_signature_plain_vector() {
    let r = stacking(&[
        "-p",
        TAPROOT,
        "-r",
        "6",
        "--method",
        "stack-stx",
        "--period",
        "12",
        "--max-amount",
        U128_MAX,
        "--auth-id",
        "1",
    ]);
    assert_eq!(
        r.ok(),
        format!("Signer Public Key: 0x{SIGNER0_PK}\nSigner Key Signature: 0x{SIG_RC6}\n\n\n")
    );
    assert!(r.stderr.is_empty());
}

#[test]
fn stacking_signature_json_vectors() {
    let r = stacking(&[
        "--pox-address",
        TAPROOT,
        "--reward-cycle",
        "7",
        "--method",
        "agg-commit",
        "--period",
        "6",
        "--max-amount",
        "100",
        "--auth-id",
        "2",
        "--json",
    ]);
    assert_eq!(
        r.ok(),
        format!("{{\"authId\":\"2\",\"maxAmount\":\"100\",\"method\":\"agg-commit\",\"period\":6,\"poxAddress\":\"{TAPROOT}\",\"rewardCycle\":7,\"signerKey\":\"{SIGNER0_PK}\",\"signerSignature\":\"{SIG_RC7}\"}}\n")
    );
    let r = stacking(&[
        "-p",
        TAPROOT,
        "-r",
        "6",
        "--method",
        "stack-stx",
        "--period",
        "12",
        "--max-amount",
        U128_MAX,
        "--auth-id",
        "1",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert_eq!(json["signerSignature"], SIG_RC6);
    assert_eq!(json["maxAmount"], U128_MAX);
    assert_eq!(json["method"], "stack-stx");
}

#[test]
fn stacking_signature_methods_and_address_kinds() {
    for method in [
        "stack-stx",
        "stack-extend",
        "agg-commit",
        "agg-increase",
        "stack-increase",
    ] {
        for addr in [
            TAPROOT,
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        ] {
            let r = stacking(&[
                "-p",
                addr,
                "-r",
                "1",
                "--method",
                method,
                "--period",
                "1",
                "--max-amount",
                "1",
                "--auth-id",
                "1",
                "--json",
            ]);
            let json: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
            assert_eq!(json["method"], method);
            assert_eq!(json["poxAddress"], addr);
            assert_eq!(json["signerSignature"].as_str().unwrap().len(), 130);
        }
    }
    // The long names the reference's parser knows are refused by its command line too.
    for method in [
        "aggregation-commit",
        "aggregation-increase",
        "STACK-STX",
        "stack",
    ] {
        let e = stacking(&[
            "-p",
            TAPROOT,
            "-r",
            "1",
            "--method",
            method,
            "--period",
            "1",
            "--max-amount",
            "1",
            "--auth-id",
            "1",
        ]);
        assert!(e.one_line_error().contains(method));
    }
}

#[test]
fn stacking_signature_errors() {
    let base = [
        "-r",
        "1",
        "--method",
        "stack-stx",
        "--period",
        "1",
        "--max-amount",
        "1",
        "--auth-id",
        "1",
    ];
    for bad in [
        "not-an-address",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
        "bc1qinvalid",
        "",
    ] {
        let mut args = vec!["-p", bad];
        args.extend_from_slice(&base);
        let e = stacking(&args);
        assert!(
            e.one_line_error().contains("Invalid pox address"),
            "{}",
            e.stderr
        );
    }
    let mut args = vec!["-p", TAPROOT, "--max-amount", "-1"];
    args.extend_from_slice(&base[..6]);
    stacking(&args).one_line_error();
    let e = run(&[
        "generate-stacking-signature",
        "-c",
        "/no/such/file.toml",
        "-p",
        TAPROOT,
        "-r",
        "1",
        "--method",
        "stack-stx",
        "--period",
        "1",
        "--max-amount",
        "1",
        "--auth-id",
        "1",
    ]);
    assert!(e.one_line_error().contains("/no/such/file.toml"));
}

#[test]
fn generate_vote_vectors() {
    let config = signer0();
    let r = run(&[
        "generate-vote",
        "-c",
        &config,
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    assert_eq!(r.ok(), format!("{VOTE_SIP1_YES}\n"));
    let r = run(&[
        "generate-vote",
        "--config",
        &config,
        "--sip",
        "3",
        "--vote",
        "NO",
    ]);
    assert_eq!(r.ok(), format!("{VOTE_SIP3_NO}\n"));
    let e = run(&[
        "generate-vote",
        "-c",
        &config,
        "--sip",
        "1",
        "--vote",
        "maybe",
    ]);
    assert!(e
        .one_line_error()
        .contains("Invalid vote: maybe. Must be `yes` or `no`."));
    run(&[
        "generate-vote",
        "-c",
        &config,
        "--sip",
        "-1",
        "--vote",
        "yes",
    ])
    .one_line_error();
}

#[test]
fn verify_vote_vectors() {
    let ok = run(&[
        "verify-vote",
        "-p",
        SIGNER0_PK,
        "-s",
        VOTE_SIP1_YES,
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    assert_eq!(ok.ok(), "Valid vote\n");
    let ok = run(&[
        "verify-vote",
        "--public-key",
        SIGNER0_PK,
        "--signature",
        VOTE_SIP3_NO,
        "--sip",
        "3",
        "--vote",
        "no",
    ]);
    assert_eq!(ok.ok(), "Valid vote\n");
    for (sig, sip, vote) in [
        (VOTE_SIP1_YES, "1", "no"),
        (VOTE_SIP1_YES, "2", "yes"),
        (VOTE_SIP3_NO, "1", "yes"),
    ] {
        let r = run(&[
            "verify-vote",
            "-p",
            SIGNER0_PK,
            "-s",
            sig,
            "--sip",
            sip,
            "--vote",
            vote,
        ]);
        assert_eq!(r.ok(), "Invalid vote\n");
    }
    // The uncompressed form of the same key verifies too (compression is ignored).
    let sk = libsigner::chain::StacksPrivateKey::from_hex(&cli_support::SIGNER0_KEY[..64]).unwrap();
    let uncompressed = libsigner::chain::StacksPublicKey::from_private(&sk).to_hex();
    assert_eq!(uncompressed.len(), 130);
    let r = run(&[
        "verify-vote",
        "-p",
        &uncompressed,
        "-s",
        VOTE_SIP1_YES,
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    assert_eq!(r.ok(), "Valid vote\n");
}

#[test]
fn verify_vote_errors() {
    let e = run(&[
        "verify-vote",
        "-p",
        "zz",
        "-s",
        VOTE_SIP1_YES,
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    assert!(e.one_line_error().contains("Invalid public key"));
    let e = run(&[
        "verify-vote",
        "-p",
        SIGNER0_PK,
        "-s",
        "00ab",
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    assert!(e.one_line_error().contains("Invalid message signature"));
    // A recovery id out of range: the reference panics, this build reports it.
    let bad_recid = format!("07{}", &VOTE_SIP1_YES[2..]);
    let r = run(&[
        "verify-vote",
        "-p",
        SIGNER0_PK,
        "-s",
        &bad_recid,
        "--sip",
        "1",
        "--vote",
        "yes",
    ]);
    if r.code == Some(0) {
        assert_eq!(r.stdout, "Invalid vote\n");
    } else {
        r.one_line_error();
    }
}
