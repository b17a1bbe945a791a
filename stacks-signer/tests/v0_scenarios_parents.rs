//! v0-logic §8.4, parents and conflicts (#15–#22), run through the mock node against a real v0
//! signer: a block no higher than one the signer accepted in its tenure (before validation,
//! after validation, across tenures), a second tenure start, reorgs of signed tenures, and a
//! miner the signer set rejected for a reorg.

#[path = "v0_support/outputs.rs"]
mod outputs;
mod v0_support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libsigner::chain::{ConsensusHash, NakamotoBlock, Sha512Trunc256Sum};
use libsigner::v0::messages::{BlockRejection, BlockResponse, RejectCode, RejectReason};
use outputs::{mark, outputs_since, settle_validation, Out};
use stacks_signer::devnet::wire::PoxTreatment;
use stacks_signer::devnet::{
    BlockKind, BlockOverrides, BurnBlock, BurnBlockOptions, Proposal, ProposeOptions, RpcAnswer,
    ValidationAnswer,
};
use stacks_signer::signerdb::BlockState;
use v0_support::{World, WorldConfig, WAIT};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A validation answer "valid".
fn valid() -> ValidationAnswer {
    ValidationAnswer::Ok {
        validation_time_ms: 10,
        cost_zero: false,
    }
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

/// The baseline world B up to T1 (S0 and P1…P4, T1's block signed and processed), before
/// T2's burn block.
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

/// The baseline world B, then T2's tenure-start block B11 signed by everyone and processed
/// (S0 holds it GloballyAccepted); the puppets are back under the test's control.
fn baseline_with_b11() -> (World, Proposal, BurnBlock) {
    let (world, _, t2) = baseline();
    world.node.set_puppet_autopilot(true);
    let b11 = world.propose(BlockKind::TenureStart);
    world
        .node
        .wait_for_block(&b11.signer_signature_hash, WAIT)
        .expect("B11 is signed and processed");
    world.node.set_puppet_autopilot(false);
    settle_validation(&world, &b11.signer_signature_hash);
    (world, b11, t2)
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

/// Waits for S0's pre-commit of `hash`.
fn expect_pre_commit(world: &World, hash: &Sha512Trunc256Sum) {
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(hash).contains(&"PreCommit").then_some(())
    });
}

/// The current miner's next block of `kind`, with `overrides`.
fn propose(world: &World, kind: BlockKind, overrides: BlockOverrides) -> Proposal {
    world.propose_with(ProposeOptions {
        kind: Some(kind),
        overrides,
    })
}

/// A sibling of `block`: the same kind, parent and height, one second later.
fn sibling_of(world: &World, kind: BlockKind, block: &NakamotoBlock) -> Proposal {
    let sibling = propose(
        world,
        kind,
        BlockOverrides {
            timestamp: Some(block.header.timestamp + 1),
            ..BlockOverrides::default()
        },
    );
    assert_eq!(
        sibling.block.header.parent_block_id,
        block.header.parent_block_id
    );
    assert_eq!(sibling.block.header.chain_length, block.header.chain_length);
    assert_eq!(
        sibling.block.header.consensus_hash,
        block.header.consensus_hash
    );
    assert_ne!(
        sibling.signer_signature_hash,
        block.header.signer_signature_hash()
    );
    sibling
}

/// Sleeps until `secs` after `since`.
fn sleep_until(since: Instant, secs: u64) {
    std::thread::sleep(Duration::from_secs(secs).saturating_sub(since.elapsed()));
}

/// The tenure T1 builds on (T0).
fn t0_of(world: &World, t1: &ConsensusHash) -> ConsensusHash {
    world.node.with_state(|s| {
        s.burnchain
            .by_consensus_hash(t1)
            .and_then(|b| b.winner.as_ref())
            .map(|w| w.stacks_parent_ch)
            .expect("T1 has a winner")
    })
}

/// §8.4 #15: a sibling of a block S0 pre-committed to or signed is InvalidParentBlock (r4).
#[test]
fn a_sibling_of_a_block_the_signer_pre_committed_to_or_signed_is_not_higher_than_its_tenure() {
    // #15: B12 pre-committed by S0 (its own validation), then locally accepted; a sibling
    // (h12, T2, parent B11) within the 3 s after the pre-commit is InvalidParentBlock (r4)
    // in both states, before validation.
    let (world, _, _) = baseline_with_b11();
    let b12 = world.propose(BlockKind::Continue);
    let b12_hash = b12.signer_signature_hash;
    expect_pre_commit(&world, &b12_hash);
    let pre_committed = Instant::now();
    world.settle();
    let start = mark(&world);
    let b12x = sibling_of(&world, BlockKind::Continue, &b12.block);
    let hash = b12x.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidParentBlock,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
    assert_eq!(world.s0_votes(&b12_hash), ["PreCommit"]);

    // B12 LocallyAccepted: P1…P3 pre-commit, S0 signs (no upload: one signature); a third
    // sibling is refused the same way.
    for i in 1..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &b12_hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&b12_hash), ["PreCommit", "Accepted"]);
    let start = mark(&world);
    let b12y = propose(
        &world,
        BlockKind::Continue,
        BlockOverrides {
            timestamp: Some(b12.block.header.timestamp + 2),
            ..BlockOverrides::default()
        },
    );
    assert_eq!(
        b12y.block.header.chain_length,
        b12.block.header.chain_length
    );
    let hash = b12y.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidParentBlock,
    );
    assert!(
        pre_committed.elapsed() < Duration::from_secs(2),
        "the siblings came {:?} after the pre-commit: too late for the 3 s window",
        pre_committed.elapsed()
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// Makes S0 sign `proposal` the #4 way: P1…P4 sign it while S0's validation is held, so S0
/// signs without its own validation (upload, BlockAccepted, upload) and its row keeps no
/// `signed_self`; then the late validation comes (no pre-commit). Needs manual validation,
/// and the uploads left unprocessed.
fn sign_the_fourth_way(world: &World, proposal: &Proposal) {
    let hash = proposal.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world.settle();
    for i in 1..=4 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(
        world.s0_timeline(&proposal.block),
        ["Upload", "Accepted", "Upload"]
    );
    world
        .node
        .answer_validation(&hash, valid())
        .expect("answered");
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["Accepted"],
        "no pre-commit after the fact"
    );
}

/// §8.4 #15 with §11.9 (safety divergence): a sibling of a block signed the #4 way is refused.
#[test]
fn a_sibling_of_a_block_signed_without_own_validation_is_validated_then_refused() {
    // #15 with §11.9: B12 reached LocallyAccepted the #4 way (signed_self = None), so the
    // pre-validation check defers to the node's T2 tip (h11): B12' passes it and is validated.
    // Safety divergence (v0-logic §11.0, docs/compatibility.md): the reference would then
    // pre-commit B12', a sibling of a block it signed; this signer's own-vote record refuses
    // and it sends the rejection the reference sends for a conflicting block after
    // validation, SortitionViewMismatch (code and reason).
    let (mut world, _, _) = baseline_with_b11();
    world.node.set_miner_broadcasts(false);
    world.node.set_upload_processing(false);
    world.node.set_manual_validation(true);
    let b12 = world.propose(BlockKind::Continue);
    let b12_hash = b12.signer_signature_hash;
    sign_the_fourth_way(&world, &b12);
    let start = mark(&world);
    let b12x = sibling_of(&world, BlockKind::Continue, &b12.block);
    let hash = b12x.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world
        .node
        .answer_validation(&hash, valid())
        .expect("answered");
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::SortitionViewMismatch,
    );
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::Rejected(hash)]
    );
    let row = world.s0_block(&b12_hash).expect("B12 stored");
    assert_eq!(row.state, BlockState::LocallyAccepted);
    assert_eq!(row.signed_self, None);
}

/// §8.4 #16: after 3 s a sibling takes the accept path when the node's tenure tip is lower.
#[test]
fn after_the_tenure_last_block_timeout_a_sibling_is_judged_by_the_nodes_tenure_tip() {
    // #16, the node's T2 tip at h11 (B11; B12 was never processed): 4 s after S0's pre-commit
    // of B12 (§11.8), B12' takes the accept path. (This signer's own-vote record lets the
    // pre-commit through because the node answers a T2 tip below h12; docs/compatibility.md.)
    let (world, b11, _) = baseline_with_b11();
    let b12 = world.propose(BlockKind::Continue);
    expect_pre_commit(&world, &b12.signer_signature_hash);
    let pre_committed = Instant::now();
    assert_eq!(
        world.node.with_state(|s| s
            .stacks
            .tenure_tip(&b11.block.header.consensus_hash)
            .map(|t| t.height())),
        Some(b11.block.header.chain_length),
        "the node's T2 tip is B11"
    );
    world.settle();
    sleep_until(pre_committed, 4);
    let start = mark(&world);
    let b12x = sibling_of(&world, BlockKind::Continue, &b12.block);
    let hash = b12x.signer_signature_hash;
    expect_pre_commit(&world, &hash);
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::PreCommit(hash)]
    );
}

/// §8.4 #16 (safety divergence): after 3 s, the tenure tip request failing, a sibling is refused.
#[test]
fn after_the_tenure_last_block_timeout_a_sibling_is_refused_when_the_node_cannot_tell_its_tip() {
    // #16 with the node's T2 tenure tip failing (500) after the 4 s. Safety divergence (v0-logic
    // §11.0, docs/compatibility.md: "a failed request refuses"): the reference counts the
    // failed request as "below" and pre-commits B12', a sibling of the block it pre-committed;
    // this signer validates B12' (its checks defer to the node as the reference's do) but its
    // own-vote record refuses the pre-commit, and it sends SortitionViewMismatch (code and
    // reason) instead.
    let (world, b11, _) = baseline_with_b11();
    let b12 = world.propose(BlockKind::Continue);
    expect_pre_commit(&world, &b12.signer_signature_hash);
    let pre_committed = Instant::now();
    world.settle();
    sleep_until(pre_committed, 4);
    world.node.set_tenure_tip_override(
        &b11.block.header.consensus_hash,
        Some(RpcAnswer::Status(500)),
    );
    let start = mark(&world);
    let b12x = sibling_of(&world, BlockKind::Continue, &b12.block);
    let hash = b12x.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::SortitionViewMismatch,
    );
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::Rejected(hash)]
    );
}

/// §8.4 #16: after 3 s a sibling at the node's tenure tip height is InvalidParentBlock (r4).
#[test]
fn after_the_tenure_last_block_timeout_a_sibling_at_the_nodes_tenure_tip_is_refused() {
    // #16, the node's T2 tip at h12: B12 processed (its `/new_block` delivered: this signer
    // takes tenure tips from the node's events and its first answer, docs/compatibility.md,
    // so the node's tip moves as a node's does). 4 s after S0's pre-commit of B12, B12' (h12
    // on B11) is InvalidParentBlock (r4).
    let (world, b11, _) = baseline_with_b11();
    let b12 = world.propose(BlockKind::Continue);
    expect_pre_commit(&world, &b12.signer_signature_hash);
    let pre_committed = Instant::now();
    world
        .node
        .process_proposed_block(&b12.signer_signature_hash)
        .expect("B12 processed");
    world.settle();
    sleep_until(pre_committed, 4);
    let start = mark(&world);
    let b12x = propose(
        &world,
        BlockKind::Continue,
        BlockOverrides {
            parent_block_id: Some(b11.block.block_id()),
            timestamp: Some(b12.block.header.timestamp + 1),
            ..BlockOverrides::default()
        },
    );
    assert_eq!(
        b12x.block.header.chain_length,
        b12.block.header.chain_length
    );
    assert_eq!(
        b12x.block.header.consensus_hash,
        b12.block.header.consensus_hash
    );
    let hash = b12x.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidParentBlock,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.4 #17: of two siblings validated in turn, the second is SortitionViewMismatch (4).
#[test]
fn siblings_validated_together_the_second_fails_the_post_validation_recheck() {
    // #17: B12 and B12' proposed before either validates: one validation request at a time;
    // B12 valid → PreCommit; B12' valid → SortitionViewMismatch (code and reason) from the
    // recheck after validation.
    let (world, _, _) = baseline_with_b11();
    world.node.set_manual_validation(true);
    let start = mark(&world);
    let b12 = world.propose(BlockKind::Continue);
    let first = b12.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&first, WAIT));
    let b12x = sibling_of(&world, BlockKind::Continue, &b12.block);
    let second = b12x.signer_signature_hash;
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(first)],
        "B12' is queued behind B12"
    );

    world
        .node
        .answer_validation(&first, valid())
        .expect("answered");
    assert!(world.node.wait_for_held_validation(&second, WAIT));
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [
            Out::Validation(first),
            Out::PreCommit(first),
            Out::Validation(second)
        ]
    );

    world
        .node
        .answer_validation(&second, valid())
        .expect("answered");
    expect_rejection(
        &world,
        &second,
        RejectCode::SortitionViewMismatch,
        RejectReason::SortitionViewMismatch,
    );
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [
            Out::Validation(first),
            Out::PreCommit(first),
            Out::Validation(second),
            Out::Rejected(second)
        ]
    );
}

/// §8.4 #18: a tenure start not above a block S0 just accepted is InvalidParentBlock (r4).
#[test]
fn a_new_tenure_may_not_start_below_a_block_the_signer_just_accepted_in_the_previous_one() {
    // #18 (with §11.9: S0 accepted T1's B11 through its own validation and pre-commit): M2's
    // tenure start at h11 on T1's tip h10 is InvalidParentBlock (r4), and the attempt is
    // recorded as T2's activity; 4 s after S0's pre-commit of B11 (§11.8), with the node's T1
    // tip still h10, the same proposal takes the accept path.
    let (mut world, b10) = world_before_t2(&WorldConfig::baseline());
    let t1 = b10.header.consensus_hash;
    world.node.set_manual_validation(true);
    let b11 = world.propose(BlockKind::Continue);
    let b11_hash = b11.signer_signature_hash;
    assert_eq!(b11.block.header.consensus_hash, t1);
    assert!(world.node.wait_for_held_validation(&b11_hash, WAIT));
    for i in 1..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &b11_hash)
            .expect("written");
    }
    world.settle();
    world
        .node
        .answer_validation(&b11_hash, valid())
        .expect("answered");
    world.wait_for("S0's signature of B11", |w| {
        w.s0_votes(&b11_hash).contains(&"Accepted").then_some(())
    });
    let pre_committed = Instant::now();
    assert_eq!(world.s0_votes(&b11_hash), ["PreCommit", "Accepted"]);

    let t2 = world
        .node
        .mine_burn_block(Some(1))
        .expect("T2's burn block");
    world.settle();
    let start = mark(&world);
    let attempt_from = now();
    let m2 = world.propose(BlockKind::TenureStart);
    let hash = m2.signer_signature_hash;
    assert_eq!(m2.block.header.consensus_hash, t2.consensus_hash);
    assert_eq!(m2.block.header.parent_block_id, b10.block_id());
    assert_eq!(m2.block.header.chain_length, b11.block.header.chain_length);
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidParentBlock,
    );
    let attempt_to = now();
    assert!(
        pre_committed.elapsed() < Duration::from_secs(2),
        "the attempt came {:?} after the pre-commit: too late for the 3 s window",
        pre_committed.elapsed()
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);

    sleep_until(pre_committed, 4);
    let start = mark(&world);
    world.node.repropose(&hash).expect("re-proposed");
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world
        .node
        .answer_validation(&hash, valid())
        .expect("answered");
    expect_pre_commit(&world, &hash);
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::PreCommit(hash)]
    );

    let (db, _) = world.s0_database();
    let activity = db
        .get_last_activity_time(&t2.consensus_hash)
        .expect("readable")
        .expect("the rejected attempt counted as T2's activity");
    assert!(
        (attempt_from..=attempt_to).contains(&activity),
        "T2's activity {activity} is the attempt's time ({attempt_from}..={attempt_to})"
    );
}

/// §8.4 #18 with §11.9: next to a block signed the #4 way, the node's tip decides: accepted.
#[test]
fn a_new_tenure_may_start_at_the_height_of_a_block_signed_without_own_validation() {
    // #18 with §11.9: S0 signed T1's B11 the #4 way (signed_self = None), so the check of
    // M2's tenure start (h11 on T1's tip h10) defers to the node's T1 tip (h10, B11 never
    // processed): the accept path at once.
    let (world, b10) = world_before_t2(&WorldConfig::baseline());
    world.node.set_miner_broadcasts(false);
    world.node.set_upload_processing(false);
    world.node.set_manual_validation(true);
    let b11 = world.propose(BlockKind::Continue);
    assert_eq!(b11.block.header.consensus_hash, b10.header.consensus_hash);
    sign_the_fourth_way(&world, &b11);
    world
        .node
        .mine_burn_block(Some(1))
        .expect("T2's burn block");
    world.settle();
    let start = mark(&world);
    let m2 = world.propose(BlockKind::TenureStart);
    let hash = m2.signer_signature_hash;
    assert_eq!(m2.block.header.parent_block_id, b10.block_id());
    assert_eq!(m2.block.header.chain_length, b11.block.header.chain_length);
    assert!(world.node.wait_for_held_validation(&hash, WAIT));
    world
        .node
        .answer_validation(&hash, valid())
        .expect("answered");
    expect_pre_commit(&world, &hash);
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::PreCommit(hash)]
    );
}

/// §8.4 #19: a tenure start in a tenure with an accepted block is DuplicateBlockFound (r4).
#[test]
fn a_second_tenure_start_in_a_tenure_with_a_processed_block_is_a_duplicate() {
    // #19: B11 (T2's tenure start) globally accepted through NewBlock; another BlockFound
    // block of T2 (a sibling of B11) is DuplicateBlockFound (r4).
    let (mut world, b11, _) = baseline_with_b11();
    let start = mark(&world);
    let b11x = sibling_of(&world, BlockKind::TenureStart, &b11.block);
    let hash = b11x.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::DuplicateBlockFound,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
    let row = world
        .s0_block(&b11.signer_signature_hash)
        .expect("B11 stored");
    assert_eq!(row.state, BlockState::GloballyAccepted);
}

/// T1 with `t1_blocks` blocks signed by everyone (S0 included) and processed, then the
/// burn block of T2 won by M2 building on T0 (M2 reorgs T1), `wait` after T1's last block.
fn reorg_world(t1_blocks: usize, wait: Duration) -> (World, Vec<Proposal>, BurnBlock) {
    let world = World::start(&WorldConfig::baseline());
    world.node.set_puppet_autopilot(true);
    world
        .node
        .mine_burn_block(Some(0))
        .expect("T1's burn block");
    world.settle();
    let mut t1 = Vec::new();
    for i in 0..t1_blocks {
        let kind = if i == 0 {
            BlockKind::TenureStart
        } else {
            BlockKind::Continue
        };
        let block = world.propose(kind);
        world
            .node
            .wait_for_block(&block.signer_signature_hash, WAIT)
            .expect("T1's block is signed and processed");
        settle_validation(&world, &block.signer_signature_hash);
        t1.push(block);
    }
    world.node.set_puppet_autopilot(false);
    world.settle();
    std::thread::sleep(wait);
    let t1_ch = t1[0].block.header.consensus_hash;
    let t0 = t0_of(&world, &t1_ch);
    let t2 = world
        .node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(1),
            stacks_parent_ch: Some(t0),
            ..BurnBlockOptions::default()
        })
        .expect("T2's burn block");
    world.settle();
    (world, t1, t2)
}

/// M2's tenure start on T0's tip, reorging T1, with `overrides`.
fn reorg_proposal(world: &World, t1: &[Proposal], overrides: BlockOverrides) -> Proposal {
    let t1_ch = t1[0].block.header.consensus_hash;
    let t0 = t0_of(world, &t1_ch);
    let proposal = propose(world, BlockKind::TenureStart, overrides);
    let (t0_tip, t0_height) = world.node.with_state(|s| {
        let tip = s.stacks.tenure_tip(&t0).expect("T0 has blocks");
        (tip.id, tip.height())
    });
    assert_eq!(proposal.block.header.parent_block_id, t0_tip);
    assert_eq!(proposal.block.header.chain_length, t0_height + 1);
    assert_eq!(
        proposal.block.header.chain_length,
        t1[0].block.header.chain_length
    );
    proposal
}

/// §8.4 #20: reorging a tenure with two accepted heights is ReorgNotAllowed (r4), at step A.
#[test]
fn a_reorg_of_a_tenure_with_two_accepted_heights_invalidates_the_new_miner() {
    // #20: T1 has globally accepted blocks at h10 and h11; T2 builds on T0. M2's tenure start
    // at h10 is ReorgNotAllowed (r4), decided at step A (the canonical-tip branch, before the
    // key and bitvec checks): a second M2 proposal whose bitvec punishes a signer is
    // ReorgNotAllowed too, not InvalidBitvec.
    let (world, t1, t2) = reorg_world(2, Duration::ZERO);
    let t1_ch = t1[0].block.header.consensus_hash;
    let sortition = world.node.with_state(|s| {
        s.burnchain
            .by_consensus_hash(&t2.consensus_hash)
            .map(|b| b.sortition_info())
            .expect("T2's sortition")
    });
    assert_eq!(sortition.last_sortition_ch, Some(t1_ch));
    assert_eq!(sortition.stacks_parent_ch, Some(t0_of(&world, &t1_ch)));

    let start = mark(&world);
    let proposal = reorg_proposal(&world, &t1, BlockOverrides::default());
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::ReorgNotAllowed,
    );
    let mut bits = PoxTreatment::ones(1 + world.puppets.len() as u16).expect("a bitvec");
    bits.set(1, false).expect("bit 1 exists");
    let punishing = reorg_proposal(
        &world,
        &t1,
        BlockOverrides {
            pox_treatment: Some(bits),
            ..BlockOverrides::default()
        },
    );
    let punishing_hash = punishing.signer_signature_hash;
    expect_rejection(
        &world,
        &punishing_hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::ReorgNotAllowed,
    );
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Rejected(hash), Out::Rejected(punishing_hash)]
    );
}

/// §8.4 #21: reorging a tenure whose only block was signed 5 s before the burn block is allowed.
#[test]
fn a_reorg_of_a_tenure_whose_only_block_came_just_before_the_burn_block_is_allowed() {
    // #21 (with §11.9: the burn header hash of `latest_and_last` is the event's): T1's only
    // block was signed about 5 s before T2's burn block reached S0 (< 10 s): M2's tenure
    // start on T0 takes the accept path.
    let (world, t1, _) = reorg_world(1, Duration::from_secs(5));
    let start = mark(&world);
    let proposal = reorg_proposal(&world, &t1, BlockOverrides::default());
    let hash = proposal.signer_signature_hash;
    expect_pre_commit(&world, &hash);
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [Out::Validation(hash), Out::PreCommit(hash)]
    );
}

/// §8.4 #21 (variant): signed 15 s before the burn block, the reorg is ReorgNotAllowed (r4).
#[test]
fn a_reorg_of_a_tenure_whose_only_block_came_long_before_the_burn_block_is_refused() {
    // #21, variant: T1's only block was signed about 15 s before T2's burn block (> 10 s):
    // ReorgNotAllowed (r4).
    let (world, t1, _) = reorg_world(1, Duration::from_secs(15));
    let start = mark(&world);
    let proposal = reorg_proposal(&world, &t1, BlockOverrides::default());
    let hash = proposal.signer_signature_hash;
    expect_rejection(
        &world,
        &hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::ReorgNotAllowed,
    );
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Rejected(hash)]);
}

/// §8.4 #22: a global ReorgNotAllowed rejection invalidates the miner; the last miner goes on.
#[test]
fn a_miner_the_signer_set_rejected_for_a_reorg_is_invalid_and_the_last_miner_continues() {
    // #22 (with §11.9): P1 and P2 reject M2's B11, which S0 stored and is validating, with
    // ReorgNotAllowed (20 > 15: globally rejected; 20 + 35 > 50: M2 invalidated). B11 again:
    // RejectedInPriorRound (2); another M2 block: InvalidMiner (r4); M1's next T1 block:
    // accept path, in the same burn block, submitted at once (the global rejection ended
    // the wait for B11's validation, which the node never answers).
    let (mut world, b10, _) = baseline();
    world.node.set_manual_validation(true);
    let start = mark(&world);
    let b11 = world.propose(BlockKind::TenureStart);
    let b11_hash = b11.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&b11_hash, WAIT));
    let b11_submitted = Instant::now();
    world.settle();
    for i in 1..=2 {
        world
            .node
            .puppet_reject(world.p(i), &b11_hash, RejectReason::ReorgNotAllowed)
            .expect("written");
    }
    world.settle();
    assert_eq!(outputs_since(&world, start), [Out::Validation(b11_hash)]);

    world.node.repropose(&b11_hash).expect("re-proposed");
    expect_rejection(
        &world,
        &b11_hash,
        RejectCode::RejectedInPriorRound,
        RejectReason::RejectedInPriorRound,
    );
    let b11x = sibling_of(&world, BlockKind::TenureStart, &b11.block);
    let b11x_hash = b11x.signer_signature_hash;
    expect_rejection(
        &world,
        &b11x_hash,
        RejectCode::SortitionViewMismatch,
        RejectReason::InvalidMiner,
    );
    let m1 = world.propose(BlockKind::Continue);
    let m1_hash = m1.signer_signature_hash;
    assert_eq!(m1.block.header.consensus_hash, b10.header.consensus_hash);
    assert_eq!(m1.block.header.parent_block_id, b10.block_id());
    world.settle();
    assert_eq!(
        world.validation_requests(&m1_hash),
        1,
        "submitted at once, not after B11's validation timeout"
    );
    assert!(
        b11_submitted.elapsed() < Duration::from_secs(3),
        "B11's validation timeout (3 s) passed before the check: {:?}",
        b11_submitted.elapsed()
    );
    assert!(world.node.wait_for_held_validation(&m1_hash, WAIT));
    world
        .node
        .answer_validation(&m1_hash, valid())
        .expect("answered");
    expect_pre_commit(&world, &m1_hash);
    world.settle();
    assert_eq!(
        outputs_since(&world, start),
        [
            Out::Validation(b11_hash),
            Out::Rejected(b11_hash),
            Out::Rejected(b11x_hash),
            Out::Validation(m1_hash),
            Out::PreCommit(m1_hash)
        ]
    );
    let row = world.s0_block(&b11_hash).expect("B11 stored");
    assert_eq!(row.state, BlockState::GloballyRejected);
}
