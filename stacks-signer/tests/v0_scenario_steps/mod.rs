//! Steps and readers shared by the scenario files of v0-logic §8.5–§8.7 (tenure extends,
//! validation outcomes, peer aggregation): a block taken through S0's validation and the
//! puppets' signatures to the node, S0's single rejection of a block, the statuses of the
//! validation requests, and the clock in whole seconds as the signer reads it.
//!
//! Blocks are named as in §8 (B11, B12: heights 11 and 12 of baseline B); the mock's chain
//! is shorter, so their actual heights are lower, one apart as there.
//!
//! Every test file that uses this module also declares `mod v0_support;`.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use libsigner::chain::{Sha512Trunc256Sum, StacksPrivateKey};
use libsigner::v0::messages::{BlockAccepted, BlockRejection, BlockResponse, RejectReason};
use stacks_signer::devnet::{
    Activity, BlockKind, BlockOverrides, Proposal, ProposeOptions, ValidationAnswer,
};

use crate::v0_support::{World, WAIT};

/// Now, in whole seconds (the signer's clock).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Now, in milliseconds (the mock's activity clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sleeps until the signer's clock reads at least `secs`.
pub fn sleep_until_secs(secs: u64) {
    while now_secs() < secs {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The key of the mock's miner `i` (index into the miner list; miner 1 won T2).
pub fn miner_key(i: usize) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("v0 scenario miner M{i}").as_bytes())
}

/// A proposal and the bounds of the `proposed_time` S0 gave it: S0 stamps a proposal when
/// it receives it, after `earliest` (taken before the proposal) and before `latest` (taken
/// once S0's validation request arrived).
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The proposal.
    pub proposal: Proposal,
    /// `proposed_time >= earliest`.
    pub earliest: u64,
    /// `proposed_time <= latest`.
    pub latest: u64,
}

impl Stamped {
    /// The signer signature hash.
    pub fn hash(&self) -> Sha512Trunc256Sum {
        self.proposal.signer_signature_hash
    }
}

/// Waits for S0's (held) validation request for `hash` and answers it Ok with
/// `validation_time_ms` and the mock's non-zero block cost.
pub fn answer_ok(world: &World, hash: &Sha512Trunc256Sum, validation_time_ms: u64) {
    assert!(
        world.node.wait_for_held_validation(hash, WAIT),
        "S0 asked the node to validate {hash}"
    );
    world
        .node
        .answer_validation(
            hash,
            ValidationAnswer::Ok {
                validation_time_ms,
                cost_zero: false,
            },
        )
        .expect("answered");
}

/// Proposes a block of `kind` with manual validation on, and waits until S0 asked the node
/// to validate it.
pub fn propose_held(world: &World, options: ProposeOptions) -> Stamped {
    world.node.set_manual_validation(true);
    let earliest = now_secs();
    let proposal = world.propose_with(options);
    let hash = proposal.signer_signature_hash;
    assert!(
        world.node.wait_for_held_validation(&hash, WAIT),
        "S0 asked the node to validate {hash}"
    );
    let latest = now_secs();
    Stamped {
        proposal,
        earliest,
        latest,
    }
}

/// Takes a block of `kind` all the way (manual validation, left on): S0 validates it (the
/// mock answers Ok with `validation_time_ms`) and pre-commits, P1…P4 sign, the node processes
/// it and announces it, so S0's row is globally accepted with that validation time.
pub fn validate_sign_and_process(
    world: &World,
    kind: BlockKind,
    validation_time_ms: u64,
) -> Stamped {
    let stamped = propose_held(
        world,
        ProposeOptions {
            kind: Some(kind),
            ..ProposeOptions::default()
        },
    );
    let hash = stamped.hash();
    answer_ok(world, &hash, validation_time_ms);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    for i in 1..=4 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
    }
    world
        .node
        .wait_for_block(&hash, WAIT)
        .expect("the block is signed and processed");
    world.settle();
    stamped
}

/// The options of a tenure extend with `cause` of the canonical tip's tenure (burn view: the
/// burn tip's, or `burn_view`).
pub fn extend(
    cause: libsigner::chain::TenureChangeCause,
    burn_view: Option<libsigner::chain::ConsensusHash>,
) -> ProposeOptions {
    ProposeOptions {
        kind: Some(BlockKind::Extend(cause)),
        overrides: BlockOverrides {
            burn_view,
            ..BlockOverrides::default()
        },
    }
}

/// S0's only response about `hash`, which must be a rejection.
pub fn the_rejection(world: &World, hash: &Sha512Trunc256Sum) -> BlockRejection {
    let responses = world.s0_responses(hash);
    match responses.as_slice() {
        [BlockResponse::Rejected(rejection)] => rejection.clone(),
        other => panic!("expected exactly one rejection of {hash}, got {other:?}"),
    }
}

/// S0's rejections of `hash`, in order.
pub fn rejections(world: &World, hash: &Sha512Trunc256Sum) -> Vec<BlockRejection> {
    world
        .s0_responses(hash)
        .into_iter()
        .filter_map(|response| match response {
            BlockResponse::Rejected(rejection) => Some(rejection),
            BlockResponse::Accepted(_) => None,
        })
        .collect()
}

/// S0's acceptances of `hash`, in order.
pub fn acceptances(world: &World, hash: &Sha512Trunc256Sum) -> Vec<BlockAccepted> {
    world
        .s0_responses(hash)
        .into_iter()
        .filter_map(|response| match response {
            BlockResponse::Accepted(accepted) => Some(accepted),
            BlockResponse::Rejected(_) => None,
        })
        .collect()
}

/// Asserts that `rejection` is one of the reasons newer than the wire codes: wire code
/// `SortitionViewMismatch` ("r4") with `reason` in the response data.
pub fn assert_r4(rejection: &BlockRejection, reason: RejectReason) {
    use libsigner::v0::messages::RejectCode;
    assert_eq!(
        rejection.reason_code,
        RejectCode::SortitionViewMismatch,
        "wire code of {rejection:?}"
    );
    assert_eq!(rejection.response_data.reject_reason, reason);
    assert_eq!(rejection.reason, reason.to_string(), "reason text");
}

/// The HTTP statuses of the node's answers to S0's validation requests for `hash`, in order.
pub fn validation_statuses(world: &World, hash: &Sha512Trunc256Sum) -> Vec<u16> {
    world
        .activity()
        .iter()
        .filter_map(|entry| match &entry.activity {
            Activity::ValidationRequested {
                signer_signature_hash: Some(h),
                status,
            } if h == hash => Some(*status),
            _ => None,
        })
        .collect()
}

/// When (ms) the node answered S0's validation requests for `hash` with `status`.
pub fn validation_request_times(world: &World, hash: &Sha512Trunc256Sum, status: u16) -> Vec<u64> {
    world
        .activity()
        .iter()
        .filter_map(|entry| match &entry.activity {
            Activity::ValidationRequested {
                signer_signature_hash: Some(h),
                status: s,
            } if h == hash && *s == status => Some(entry.at_ms),
            _ => None,
        })
        .collect()
}
