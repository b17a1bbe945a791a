//! `--chaos --equivocating-miner`: signer processes SIGKILLed at random moments and
//! restarted on their databases, while the miner proposes conflicting siblings before and
//! after the first block of a height is signed. After at least fifty kills every block is
//! signed, no signer voted for two conflicting blocks, and every vote a signer published is
//! in its database.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

#[test]
fn fifty_kills_with_an_equivocating_miner_leave_no_equivocation_and_no_lost_vote() {
    let done = run(
        &[
            "--chaos",
            "--chaos-rate",
            "4",
            "--chaos-kills",
            "50",
            "--equivocating-miner",
            "--tenures",
            "6",
            "--blocks-per-tenure",
            "10",
            "--json",
            "--seed",
            "41",
        ],
        Duration::from_secs(300),
    );
    let summary = done.json();
    println!(
        "{:.1}s: {} kills, {} blocks signed, {} conflicting siblings, {} votes published, {} equivocations, {} votes lost",
        done.took.as_secs_f64(),
        number(&summary, "faults.kills"),
        number(&summary, "blocks.signed"),
        number(&summary, "blocks.conflicting_siblings"),
        number(&summary, "check.votes_published"),
        number(&summary, "check.equivocations"),
        number(&summary, "check.votes_lost"),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    assert!(number(&summary, "faults.kills") >= 50, "{summary:#}");
    // The last one killed may have been left down when the run ended.
    assert!(number(&summary, "faults.restarts") + 1 >= number(&summary, "faults.kills"));
    let planned = number(&summary, "blocks.planned");
    assert!(planned >= 60, "{summary:#}");
    assert_eq!(number(&summary, "blocks.signed"), planned);
    assert!(number(&summary, "blocks.siblings_before_signing") > 0);
    assert!(number(&summary, "blocks.siblings_after_signing") > 0);
    assert_eq!(summary["check"]["passed"], true);
    assert_eq!(number(&summary, "check.equivocations"), 0);
    assert_eq!(number(&summary, "check.votes_lost"), 0);
    assert_eq!(number(&summary, "check.flips"), 0);
    assert!(number(&summary, "check.votes_published") > 500);
}
