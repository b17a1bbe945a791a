//! v0-logic §8.3, the gates and sortition checks (#6–#14), run through the mock node against a
//! real v0 signer: proposals the signer ignores (another reward cycle, too old), proposals it
//! rejects before asking the node (miner key, bitvec, unknown or superseded sortition, timed-out
//! miner, no sortition view), and what it does instead.

#[path = "v0_support/outputs.rs"]
mod outputs;
mod v0_support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libsigner::chain::{
    ConsensusHash, MessageSignature, NakamotoBlock, Sha512Trunc256Sum, StacksBlockId,
    StacksPrivateKey,
};
use libsigner::v0::messages::{
    BlockRejection, BlockResponse, RejectCode, RejectReason, StateMachineUpdateContent,
    StateMachineUpdateMinerState,
};
use outputs::{mark, outputs_since, settle_validation, Out};
use stacks_signer::devnet::wire::PoxTreatment;
use stacks_signer::devnet::{
    BlockKind, BlockOverrides, BurnBlock, ProposeOptions, RpcAnswer, ValidationAnswer,
};
use v0_support::{Timeouts, World, WorldConfig, WAIT};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The baseline world B ([`World::baseline_with`]), once S0 handled the node's answer to its
/// validation of T1's block (see [`settle_validation`]).
fn baseline_with(config: WorldConfig) -> (World, NakamotoBlock, BurnBlock) {
    let (world, b10, t2) = World::baseline_with(config);
    settle_validation(&world, &b10.header.signer_signature_hash());
    (world, b10, t2)
}

/// [`baseline_with`] the §8.1 configuration.
fn baseline() -> (World, NakamotoBlock, BurnBlock) {
    baseline_with(WorldConfig::baseline())
}

/// The baseline world B up to T1 (S0 and P1…P4, T1's block signed and processed), before T2's
/// burn block: for scenarios that need the node in some state when T2 arrives.
fn world_before_t2(config: &WorldConfig) -> (World, NakamotoBlock) {
    let world = World::start(config);
    world.node.set_puppet_autopilot(true);
    world
        .node
        .mine_burn_block(Some(0))
        .expect("T1's burn block");
    world.settle();
    let b10 = world.propose(BlockKind::TenureStart);
    world
        .node
        .wait_for_block(&b10.signer_signature_hash, WAIT)
        .expect("T1's block is signed and processed");
    world.node.set_puppet_autopilot(false);
    settle_validation(&world, &b10.signer_signature_hash);
    (world, b10.block)
}

/// S0's rejections of `hash`, in order.
fn s0_rejections(world: &World, hash: &Sha512Trunc256Sum) -> Vec<BlockRejection> {
    world
        .s0_responses(hash)
        .into_iter()
        .filter_map(|response| match response {
            BlockResponse::Rejected(rejection) => Some(rejection),
            BlockResponse::Accepted(_) => None,
        })
        .collect()
}

/// Waits for S0's first rejection of `hash` and checks its wire code and detailed reason.
fn expect_rejection(
    world: &World,
    hash: &Sha512Trunc256Sum,
    code: RejectCode,
    reason: RejectReason,
) -> BlockRejection {
    let rejection = world.wait_for("S0's rejection", |w| {
        s0_rejections(w, hash).into_iter().next()
    });
    assert_eq!(rejection.reason_code, code, "wire reason_code");
    assert_eq!(
        rejection.response_data.reject_reason, reason,
        "response_data.reject_reason"
    );
    rejection
}

/// A validation answer "valid".
fn valid() -> ValidationAnswer {
    ValidationAnswer::Ok {
        validation_time_ms: 10,
        cost_zero: false,
    }
}

/// Proposes as the current miner with `overrides` on a block of `kind`.
fn propose(
    world: &World,
    kind: BlockKind,
    overrides: BlockOverrides,
) -> stacks_signer::devnet::Proposal {
    world.propose_with(ProposeOptions {
        kind: Some(kind),
        overrides,
    })
}

/// The tenure T1 builds on (T0) and its tip's id and height, as the node has them.
fn t0_and_tip(world: &World, t1: &ConsensusHash) -> (ConsensusHash, StacksBlockId, u64) {
    world.node.with_state(|s| {
        let t0 = s
            .burnchain
            .by_consensus_hash(t1)
            .and_then(|b| b.winner.as_ref())
            .map(|w| w.stacks_parent_ch)
            .expect("T1 has a winner");
        let tip = s.stacks.tenure_tip(&t0).expect("T0 has blocks");
        (t0, tip.id, tip.height())
    })
}

/// §8.3 #6: a proposal of reward cycle R+1 or R-1 gets no POST and no chunk.
#[test]
fn a_proposal_for_another_reward_cycle_is_ignored_without_any_output() {
    // #6: R+1 and R-1; neither is submitted nor answered.
    let (world, _, _) = baseline();
    let start = mark(&world);
    for cycle in [world.cycle + 1, world.cycle - 1] {
        let proposal = propose(
            &world,
            BlockKind::TenureStart,
            BlockOverrides {
                reward_cycle: Some(cycle),
                ..BlockOverrides::default()
            },
        );
        assert_eq!(proposal.reward_cycle, cycle);
        world.settle();
    }
    assert_eq!(outputs_since(&world, start), [], "no POST, no chunk");
    // Control: the same proposal in the signer's own cycle is submitted.
    let own = world.propose(BlockKind::TenureStart);
    assert_eq!(own.reward_cycle, world.cycle);
    let hash = own.signer_signature_hash;
    world.wait_for("the control proposal's validation request", |w| {
        (w.validation_requests(&hash) == 1).then_some(())
    });
}

/// §8.3 #7: a proposal stamped now - 601 gets nothing; one stamped now - 599 is submitted.
#[test]
fn a_proposal_older_than_the_max_age_is_ignored_and_a_younger_one_is_submitted() {
    // #7: timestamp + 600 < now is dropped before anything; now - 599 is processed.
    let (world, _, _) = baseline();
    world.node.set_manual_validation(true);
    let start = mark(&world);
    propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            timestamp: Some(now() - 601),
            ..BlockOverrides::default()
        },
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [], "no POST, no chunk");

    let start = mark(&world);
    let young = propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            timestamp: Some(now() - 599),
            ..BlockOverrides::default()
        },
    );
    let hash = young.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Validation(hash)]);
}

/// §8.3 #8: PubkeyHashMismatch (r4), not stored, so a re-proposal is rejected the same way.
#[test]
fn a_block_signed_by_another_key_than_the_winners_is_rejected_every_time_it_is_proposed() {
    // #8: PubkeyHashMismatch (r4), not stored: the re-proposal is judged again, not
    // RejectedInPriorRound.
    let (mut world, _, _) = baseline();
    let start = mark(&world);
    let proposal = propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            miner_key: Some(StacksPrivateKey::from_seed(b"not a sortition winner")),
            ..BlockOverrides::default()
        },
    );
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::PubkeyHashMismatch,
    );
    world.node.repropose(&hash).expect("re-proposed");
    world.wait_for("S0's second rejection", |w| {
        (s0_rejections(w, &hash).len() == 2).then_some(())
    });
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Rejected(hash), Out::Rejected(hash)]
    );
    for rejection in s0_rejections(&world, &hash) {
        assert_eq!(rejection.reason_code, RejectCode::SortitionViewMismatch);
        assert_eq!(
            rejection.response_data.reject_reason,
            RejectReason::PubkeyHashMismatch
        );
    }
    assert!(world.s0_block(&hash).is_none(), "the block is not stored");
}

/// §8.3 #9: a zero bit in `pox_treatment` is InvalidBitvec (r4).
#[test]
fn a_block_whose_bitvec_punishes_a_signer_is_rejected_before_validation() {
    // #9: a zero bit in pox_treatment is InvalidBitvec (r4).
    let (world, _, _) = baseline();
    let signers = 1 + world.puppets.len();
    let mut bits = PoxTreatment::ones(signers as u16).expect("a bitvec");
    bits.set(2, false).expect("bit 2 exists");
    let start = mark(&world);
    let proposal = propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            pox_treatment: Some(bits),
            ..BlockOverrides::default()
        },
    );
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidBitvec,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.3 #10: an unrecoverable miner signature is IrrecoverablePubkeyHash (r4).
#[test]
fn a_block_whose_miner_key_cannot_be_recovered_is_rejected_before_validation() {
    // #10: a miner signature with r = 0 is IrrecoverablePubkeyHash (r4).
    let (world, _, _) = baseline();
    let start = mark(&world);
    let proposal = propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            miner_signature: Some(MessageSignature([0; 65])),
            ..BlockOverrides::default()
        },
    );
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::IrrecoverablePubkeyHash,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.3 #11: a block of neither sortition resets the view, then is SortitionViewMismatch (4).
#[test]
fn a_block_of_an_unknown_tenure_resets_the_sortition_view_then_is_a_view_mismatch() {
    // #11 (with §11.9: the first proposal after the burn block): the block belongs to neither
    // sortition, the view is reset from the node, it still does not: SortitionViewMismatch
    // (code and reason), after two `latest_and_last` requests (the first proposal's view
    // fetch, then the reset).
    let (world, _, _) = baseline();
    world.node.reset_request_counts();
    let start = mark(&world);
    let proposal = propose(
        &world,
        BlockKind::TenureStart,
        BlockOverrides {
            consensus_hash: Some(ConsensusHash([0x7e; 20])),
            ..BlockOverrides::default()
        },
    );
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::SortitionViewMismatch,
    );
    world.settle();
    assert_eq!(
        world
            .node
            .request_count(Some("GET"), "/v3/sortitions/latest_and_last"),
        2,
        "the view fetch and the view reset asked the node"
    );
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.3 #12: the last miner, while the new winner is valid, is NotLatestSortitionWinner (r4).
#[test]
fn the_last_miner_may_not_propose_while_the_new_winner_is_valid() {
    // #12: M1 proposes a T1 block (h11 on T1's tip) after T2 went to M2:
    // NotLatestSortitionWinner (r4).
    let (world, b10, t2) = baseline();
    let start = mark(&world);
    let proposal = world.propose(BlockKind::Continue);
    assert_eq!(
        proposal.block.header.consensus_hash,
        b10.header.consensus_hash
    );
    assert_ne!(proposal.block.header.consensus_hash, t2.consensus_hash);
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::NotLatestSortitionWinner,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.3 #13: a winner silent too long is InvalidMiner (r4); the last miner takes over.
#[test]
fn a_silent_winner_times_out_its_blocks_are_refused_and_the_last_miner_continues() {
    // #13 (block_proposal_timeout = 3 s; §11.8: the miner times out 2–3 s after the burn
    // block, so 4 s are waited): the state machine names M1 again (miner inactivity), M2's
    // tenure start is InvalidMiner (r4), M1's next T1 block takes the accept path.
    let config = WorldConfig {
        timeouts: Timeouts {
            block_proposal_ms: 3_000,
            ..Timeouts::default()
        },
        ..WorldConfig::baseline()
    };
    let (world, b10, t2) = baseline_with(config);
    let t2_seen = Instant::now();
    let start = mark(&world);
    let t1 = b10.header.consensus_hash;
    let m1 = world
        .node
        .with_state(|s| s.tenure_miner_pkh(&t1))
        .expect("T1's miner");
    let updates_before = world.s0_state_updates();
    assert!(
        matches!(
            updates_before.last().map(|u| &u.content),
            Some(StateMachineUpdateContent::V1 {
                current_miner: StateMachineUpdateMinerState::ActiveMiner { tenure_id, .. },
                ..
            }) if *tenure_id == t2.consensus_hash
        ),
        "S0 named M2 at T2's burn block: {updates_before:?}"
    );

    std::thread::sleep(Duration::from_secs(4).saturating_sub(t2_seen.elapsed()));
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Update],
        "one update, for the miner's inactivity"
    );
    let (t0, t0_tip, t0_height) = t0_and_tip(&world, &t1);
    let update = world.s0_state_updates().pop().expect("an update");
    assert_eq!(update.active_signer_protocol_version, 1);
    assert_eq!(update.local_supported_signer_protocol_version, 1);
    assert_eq!(
        update.content,
        StateMachineUpdateContent::V1 {
            burn_block: t2.consensus_hash,
            burn_block_height: t2.height,
            current_miner: StateMachineUpdateMinerState::ActiveMiner {
                current_miner_pkh: m1,
                tenure_id: t1,
                parent_tenure_id: t0,
                parent_tenure_last_block: t0_tip,
                parent_tenure_last_block_height: t0_height,
            },
            replay_transactions: vec![],
        }
    );

    let start = mark(&world);
    let m2_block = world.propose(BlockKind::TenureStart);
    let m2_hash = m2_block.signer_signature_hash;
    expect_rejection(
        &world,
        &m2_hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidMiner,
    );
    let m1_block = world.propose(BlockKind::Continue);
    assert_eq!(m1_block.block.header.consensus_hash, t1);
    assert_eq!(m1_block.block.header.parent_block_id, b10.block_id());
    let m1_hash = m1_block.signer_signature_hash;
    world.wait_for("S0's pre-commit of M1's block", |w| {
        w.s0_votes(&m1_hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [
            Out::Rejected(m2_hash),
            Out::Validation(m1_hash),
            Out::PreCommit(m1_hash)
        ]
    );
}

/// §8.3 #14: no sortition view is NoSortitionView (3); the re-proposal is judged again.
#[test]
fn without_a_sortition_view_a_proposal_is_rejected_and_judged_again_when_re_proposed() {
    // #14 (with §11.9: the first proposal after the burn block, no view yet): `latest_and_last`
    // fails (500) from T2's burn block on, so neither the state machine nor the proposal
    // check gets a view (the state machine sends nothing): NoSortitionView (code 3); once the
    // node answers again, the same block re-proposed takes the accept path (the rejection
    // was not stored).
    let (world, _) = world_before_t2(&WorldConfig::baseline());
    world
        .node
        .set_latest_and_last_override(Some(RpcAnswer::Status(500)));
    let start = mark(&world);
    world
        .node
        .mine_burn_block(Some(1))
        .expect("T2's burn block");
    world.settle();
    world.node.set_manual_validation(true);
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::NoSortitionView,
        RejectReason::NoSortitionView,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);

    world.node.set_latest_and_last_override(None);
    let start = mark(&world);
    world.node.repropose(&hash).expect("re-proposed");
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world
        .node
        .answer_validation(&hash, valid())
        .expect("answered");
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::PreCommit(hash)]
    );
}

/// §8.3 #14: `latest_and_last` failing after the burn block: the first proposal gets no view.
#[test]
fn a_sortition_failure_after_the_burn_block_leaves_the_first_proposal_without_a_view() {
    // #14 as the row reads in world B: `latest_and_last` fails (500) only after S0 handled
    // T2's burn block. As the reference, the first proposal after the burn block asks the
    // node for the view (one GET), gets the error and is rejected NoSortitionView (3).
    let (world, _, _) = baseline();
    world.node.set_manual_validation(true);
    world
        .node
        .set_latest_and_last_override(Some(RpcAnswer::Status(500)));
    world.node.reset_request_counts();
    let start = mark(&world);
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::NoSortitionView,
        RejectReason::NoSortitionView,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
    assert!(
        world
            .node
            .request_count(Some("GET"), "/v3/sortitions/latest_and_last")
            >= 1
    );
}
