//! A mixed network: 2 of 5 signers run a reference `stacks-signer` binary, 3 this one.
//! Every block is signed to the threshold, both implementations' votes are counted on
//! every block, and the check passes (a reference signer keeps no own-vote record, so its
//! votes are checked against the node's record alone).
//!
//! Opt-in: runs only when `STACKS_SIGNER_REFERENCE_BIN` names a reference signer binary
//! you have; otherwise it prints one line and passes.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

#[test]
fn two_reference_signers_and_three_of_ours_sign_every_block_together() {
    let Some(reference) = std::env::var_os("STACKS_SIGNER_REFERENCE_BIN").filter(|p| !p.is_empty())
    else {
        println!("not run (set STACKS_SIGNER_REFERENCE_BIN to a reference stacks-signer binary)");
        return;
    };
    let reference = reference.to_string_lossy().to_string();
    let done = run(
        &[
            "--reference-signer",
            &reference,
            "--reference-count",
            "2",
            "--tenures",
            "25",
            "--blocks-per-tenure",
            "4",
            "--json",
            "--seed",
            "81",
        ],
        Duration::from_secs(300),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let summary = done.json();
    let blocks = number(&summary, "blocks.planned");
    assert_eq!(blocks, 100);
    assert_eq!(number(&summary, "blocks.signed"), blocks);
    let signers = summary["per_signer"].as_array().expect("per_signer");
    for s in signers {
        let kind = s["kind"].as_str().unwrap_or_default();
        let expected = if number(s, "index") < 2 {
            "reference"
        } else {
            "ours"
        };
        assert_eq!(kind, expected);
        assert_eq!(number(s, "signatures"), blocks, "{s}");
        assert_eq!(number(s, "pre_commits"), blocks, "{s}");
    }
    assert_eq!(summary["check"]["passed"], true, "{summary:#}");
    println!(
        "{blocks} blocks signed by 2 reference and 3 of our signers in {:.1}s; {} votes published, {} reference rejections after signing",
        done.took.as_secs_f64(),
        number(&summary, "check.votes_published"),
        number(&summary, "check.reference_flips")
    );
}
