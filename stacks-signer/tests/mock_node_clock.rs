//! Long runs faster than one block per second: on the wall clock the miner spends the
//! timestamp lag, then waits for the clock instead of proposing blocks its validator would
//! refuse as too far in the future (and says so once); on the fixed clock it never waits.
//! Either way every block is signed and none is rejected.
//!
//! The wall-clock test takes about three minutes: 300 blocks need 300 s of timestamps, of
//! which the default lag covers 120 s and the clock the rest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::devnet::node::CLOCK_NOTICE;
use stacks_signer::devnet::{Activity, ActivityEntry, MockNode, MockNodeConfig, RunningMockNode};

const TENURES: usize = 30;
const BLOCKS_PER_TENURE: usize = 10;
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// A node of three simulated signers whose notices are counted.
fn node(fixed_clock_secs: Option<u64>) -> (RunningMockNode, Arc<AtomicUsize>) {
    let config = MockNodeConfig {
        fixed_clock_secs,
        ..MockNodeConfig::with_simulated_signers(3)
    };
    let node = MockNode::start(config).unwrap();
    let notices = Arc::new(AtomicUsize::new(0));
    let counter = notices.clone();
    node.set_notice_handler(move |notice| {
        assert_eq!(notice, CLOCK_NOTICE);
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (node, notices)
}

/// Checks that nothing in `activity` rejected a block: no signer's `BlockResponse::Rejected`
/// and no failed validation. Returns each proposal's time (ms) by signer signature hash.
fn assert_nothing_rejected(
    activity: &Receiver<ActivityEntry>,
) -> std::collections::HashMap<libsigner::chain::Sha512Trunc256Sum, u64> {
    let mut proposed = std::collections::HashMap::new();
    for entry in activity.try_iter() {
        match entry.activity {
            Activity::ChunkWrite { contract, data, .. } if contract.ends_with("-1") => {
                if let Ok(SignerMessage::BlockResponse(BlockResponse::Rejected(r))) =
                    SignerMessage::consensus_deserialize(&mut data.as_slice())
                {
                    panic!(
                        "block {} rejected: {:?}",
                        r.signer_signature_hash, r.response_data.reject_reason
                    );
                }
            }
            Activity::ValidationResult(result) => {
                let text = format!("{result:?}");
                assert!(!text.contains("Reject"), "a validation failed: {text}");
            }
            Activity::BlockProposed {
                signer_signature_hash,
                ..
            } => {
                proposed.insert(signer_signature_hash, entry.at_ms);
            }
            _ => {}
        }
    }
    proposed
}

#[test]
fn three_hundred_blocks_back_to_back_on_the_wall_clock_wait_for_the_clock_and_are_all_signed() {
    let (node, notices) = node(None);
    let activity = node.subscribe();
    let blocks = node
        .mine_tenures(TENURES, BLOCKS_PER_TENURE, BLOCK_TIMEOUT)
        .unwrap();
    assert_eq!(blocks.len(), TENURES * BLOCKS_PER_TENURE);
    let proposed = assert_nothing_rejected(&activity);
    // No block was stamped ahead of the clock when it was proposed.
    for block in &blocks {
        let header = &block.block.header;
        let at_ms = proposed[&header.signer_signature_hash()];
        assert!(
            header.timestamp * 1000 <= at_ms,
            "block {} stamped {} was proposed at {} ms",
            header.chain_length,
            header.timestamp,
            at_ms
        );
    }
    // Timestamps strictly increase, one second apart once the lag is used up.
    assert!(blocks
        .windows(2)
        .all(|w| w[1].block.header.timestamp > w[0].block.header.timestamp));
    // The lag (120 s) cannot cover 300 blocks mined back to back: the miner had to wait,
    // and said so once.
    assert_eq!(notices.load(Ordering::SeqCst), 1);
}

#[test]
fn three_hundred_blocks_back_to_back_on_the_fixed_clock_never_wait_and_are_all_signed() {
    let start = libsigner_now();
    let (node, notices) = node(Some(start));
    let activity = node.subscribe();
    let blocks = node
        .mine_tenures(TENURES, BLOCKS_PER_TENURE, BLOCK_TIMEOUT)
        .unwrap();
    assert_eq!(blocks.len(), TENURES * BLOCKS_PER_TENURE);
    assert_nothing_rejected(&activity);
    assert_eq!(
        notices.load(Ordering::SeqCst),
        0,
        "the fixed clock never waits"
    );
    // Each block one second after its parent, however fast they come: the chain's clock,
    // not the wall clock, sets the pace (the last block is stamped ~175 s after `start`).
    assert!(blocks
        .windows(2)
        .all(|w| w[1].block.header.timestamp == w[0].block.header.timestamp + 1));
}

fn libsigner_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
