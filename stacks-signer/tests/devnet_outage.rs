//! `--node-outage SECS`: once per tenure the node's RPC answers 503 for that long, right
//! after a proposal. Signers cannot validate or publish meanwhile; the block is signed
//! after the node is back (re-sent, or replaced by the miner), every block reaches the
//! threshold and the check passes.

mod devnet_support;

use std::time::Duration;

use devnet_support::{number, run};

#[test]
fn node_outages_delay_blocks_but_every_block_is_signed() {
    let done = run(
        &[
            "--tenures",
            "3",
            "--blocks-per-tenure",
            "3",
            "--node-outage",
            "2",
            "--json",
            "--seed",
            "31",
        ],
        Duration::from_secs(180),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let summary = done.json();
    assert_eq!(number(&summary, "faults.node_outages"), 3);
    assert_eq!(number(&summary, "faults.node_outage_secs"), 2);
    assert_eq!(number(&summary, "blocks.signed"), 9);
    // The blocks proposed into an outage waited for it.
    assert!(number(&summary, "latency.max_ms") >= 2000, "{summary:#}");
    assert_eq!(summary["check"]["passed"], true);
}
