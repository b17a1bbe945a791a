//! v0-logic §8.7, peer aggregation and message hygiene (#35–#39), run through the mock node
//! against a real v0 signer: a global rejection and what it makes of later votes, a peer's
//! rejection replaced by its signature, batches led by a stranger, the other parity's
//! contracts, and a miner's pushed block.
//!
//! World: baseline B (§8.1): S0 and P1…P4 of weight 10 (accept at ≥ 35, reject at > 15). The
//! block is M2's tenure-start block B11 (T2, h11); the mock validates by hand.

mod v0_scenario_steps;
mod v0_support;

use libsigner::chain::{Sha512Trunc256Sum, StacksAddress, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{RejectCode, RejectReason, RejectReasonPrefix, SignerMessage};
use stacks_signer::devnet::{BlockKind, ProposeOptions};
use stacks_signer::signerdb::BlockState;
use v0_scenario_steps::{answer_ok, propose_held, validation_statuses, Stamped};
use v0_support::{puppet_key, World};

/// B11, proposed with manual validation on; returns once S0 asked the node to validate it.
fn propose_b11(world: &World) -> Stamped {
    propose_held(
        world,
        ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        },
    )
}

/// B11, validated by S0 (pre-committed, 10 of 35).
fn pre_committed_b11(world: &World) -> Stamped {
    let b11 = propose_b11(world);
    let hash = b11.hash();
    answer_ok(world, &hash, 10);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    b11
}

/// P`i`'s address (testnet).
fn puppet_address(i: usize) -> StacksAddress {
    StacksAddress::p2pkh(false, &StacksPublicKey::from_private(&puppet_key(i)))
}

/// A `BlockPreCommit(hash)` chunk payload.
fn pre_commit_bytes(hash: &Sha512Trunc256Sum) -> Vec<u8> {
    SignerMessage::BlockPreCommit(*hash).serialize_to_vec()
}

/// §8.7 #35: P1 and P2 reject B11 with `InvalidParentBlock` while S0 is still validating it:
/// 20 > 15, B11 is globally rejected. Later pre-commits (P1…P4, 40) and signatures (P3, P4)
/// are ignored: no signature, no upload. The late validation Ok emits only a PreCommit
/// (quirk 19, §3.8 step 6.1): S0 has published no vote on B11, so its own-vote rules allow
/// this first, favourable vote, and its own pre-commit then counts for nothing (the block
/// reached consensus).
///
/// The re-proposal: the reference answers `RejectedInPriorRound` (the stored reason
/// `InvalidParentBlock` is not re-evaluable, `valid = false`). That would be a rejection after
/// S0 published a pre-commit of the same block, a vote flip (v0-logic §11.0, §11.3): the
/// own-vote record refuses it (`AlreadyAccepted`) and S0 sends nothing
/// (`docs/compatibility.md`, "Safety: the own-vote record").
#[test]
fn a_global_rejection_silences_later_votes_and_a_late_validation_only_pre_commits() {
    let (mut world, _, _) = World::baseline();
    world.node.set_miner_broadcasts(false);
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    for i in 1..=2 {
        world
            .node
            .puppet_reject(world.p(i), &hash, RejectReason::InvalidParentBlock)
            .expect("written");
    }
    world.settle();
    for i in 1..=4 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    for i in 3..=4 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert!(world.s0_votes(&hash).is_empty(), "peers' votes are ignored");
    assert_eq!(world.uploads(&b11.proposal.block), 0);

    answer_ok(&world, &hash, 10);
    world.wait_for("S0's pre-commit", |w| {
        (!w.s0_votes(&hash).is_empty()).then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);

    world.node.repropose(&hash).expect("proposed again");
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["PreCommit"],
        "no RejectedInPriorRound after S0's own pre-commit"
    );
    assert_eq!(validation_statuses(&world, &hash), [202]);
    assert_eq!(world.uploads(&b11.proposal.block), 0);
    let (db, own) = world.s0_database();
    let row = db.block_lookup(&hash).expect("lookup").expect("stored");
    assert_eq!(row.state, BlockState::GloballyRejected);
    assert_eq!(row.reject_reason, Some(RejectReason::InvalidParentBlock));
    let vote = own
        .iter()
        .find(|v| v.signer_signature_hash == hash)
        .expect("S0's vote on B11 is recorded");
    assert!(vote.pre_committed_at.is_some() && vote.rejected_at.is_none());
    assert!(db.get_block_signatures(&hash).expect("read").is_empty());
    assert!(
        db.get_block_pre_committers(&hash).expect("read").is_empty(),
        "no pre-commit was counted"
    );
}

/// §8.7 #35, re-proposal before the validation answer: with the global rejection standing
/// (P1, P2 `InvalidParentBlock`) and S0's validation still outstanding, a re-proposal gets
/// `RejectedInPriorRound` (2): the last stored peer reason is not re-evaluable.
///
/// The outstanding validation then comes back Ok. The reference pre-commits (quirk 19),
/// after its own `RejectedInPriorRound`: a vote flip from a validation that is not fresh (it
/// was requested before the rejection). S0 sends nothing (v0-logic §11.0; the fix this
/// scenario pins: `v0/proposal.rs` `handle_block_validate_ok` sent that pre-commit, as the
/// own-vote record lets a pre-commit follow a rejection), and stores the row as the
/// reference does.
#[test]
fn a_reproposal_of_a_globally_rejected_block_is_rejected_in_prior_round_and_never_pre_committed() {
    let (mut world, _, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    for i in 1..=2 {
        world
            .node
            .puppet_reject(world.p(i), &hash, RejectReason::InvalidParentBlock)
            .expect("written");
    }
    world.settle();
    world.node.repropose(&hash).expect("proposed again");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    let rejection = v0_scenario_steps::the_rejection(&world, &hash);
    assert_eq!(rejection.reason_code, RejectCode::RejectedInPriorRound);
    assert_eq!(
        rejection.response_data.reject_reason,
        RejectReason::RejectedInPriorRound
    );
    assert_eq!(validation_statuses(&world, &hash), [202]);

    answer_ok(&world, &hash, 10);
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["Rejected"],
        "no pre-commit after it"
    );
    let row = world.s0_block(&hash).expect("stored");
    assert_eq!(row.state, BlockState::GloballyRejected);
    assert_eq!(
        row.validation_time_ms,
        Some(10),
        "stored as the reference stores it"
    );
}

/// §8.7 #35, `ConnectivityIssues` variant: P1 rejects with `InvalidParentBlock`, P2 with
/// `ConnectivityIssues`: B11 is globally rejected with the last received reason,
/// `ConnectivityIssues`, which is re-evaluable, so a re-proposal is evaluated again and
/// submitted for a second validation, without any vote.
#[test]
fn a_global_rejection_for_connectivity_issues_is_re_evaluated_on_reproposal() {
    let (world, _, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    world
        .node
        .puppet_reject(world.p(1), &hash, RejectReason::InvalidParentBlock)
        .expect("written");
    world
        .node
        .puppet_reject(
            world.p(2),
            &hash,
            RejectReason::ConnectivityIssues("peer could not reach its node".into()),
        )
        .expect("written");
    world.settle();
    world.node.repropose(&hash).expect("proposed again");
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [202, 202]);
    assert!(world.s0_votes(&hash).is_empty());
}

/// §8.7 #36: P1 rejects B11, then signs it: the signature replaces P1's rejection (its
/// rejection row is deleted) and counts as P1's pre-commit. So P2's rejection leaves the
/// rejections at 10 (not > 15), and S0 signs when P3 and P4 pre-commit (S0 + P1 + P3 + P4 =
/// 40 ≥ 35).
#[test]
fn a_peer_signature_replaces_its_earlier_rejection() {
    let (mut world, _, _) = World::baseline();
    world.node.set_miner_broadcasts(false);
    let b11 = pre_committed_b11(&world);
    let hash = b11.hash();
    world
        .node
        .puppet_reject(world.p(1), &hash, RejectReason::InvalidParentBlock)
        .expect("written");
    world
        .node
        .puppet_accept(world.p(1), &hash)
        .expect("written");
    world
        .node
        .puppet_reject(world.p(2), &hash, RejectReason::InvalidParentBlock)
        .expect("written");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    world
        .node
        .puppet_pre_commit(world.p(3), &hash)
        .expect("written");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"], "30 of 35");
    world
        .node
        .puppet_pre_commit(world.p(4), &hash)
        .expect("written");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(world.uploads(&b11.proposal.block), 0, "20 of 35 signed");
    let (db, _) = world.s0_database();
    let rejecters = db.get_block_rejection_signer_addrs(&hash).expect("read");
    assert_eq!(
        rejecters,
        [(puppet_address(2), RejectReasonPrefix::InvalidParentBlock)],
        "only P2's rejection is counted"
    );
    assert_eq!(
        db.get_block_signatures(&hash).expect("read").len(),
        2,
        "P1 and S0"
    );
    let row = db.block_lookup(&hash).expect("lookup").expect("stored");
    assert_eq!(row.state, BlockState::LocallyAccepted);
}

/// §8.7 #36, reverse order: P1 signs B11, then rejects it: the later rejection is ignored
/// (P1 already signed), so P2's rejection leaves the rejections at 10, and S0 signs when P3
/// and P4 pre-commit.
#[test]
fn a_peer_rejection_after_its_signature_is_ignored() {
    let (mut world, _, _) = World::baseline();
    world.node.set_miner_broadcasts(false);
    let b11 = pre_committed_b11(&world);
    let hash = b11.hash();
    world
        .node
        .puppet_accept(world.p(1), &hash)
        .expect("written");
    world
        .node
        .puppet_reject(world.p(1), &hash, RejectReason::InvalidParentBlock)
        .expect("written");
    world
        .node
        .puppet_reject(world.p(2), &hash, RejectReason::InvalidParentBlock)
        .expect("written");
    for i in 3..=4 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(world.uploads(&b11.proposal.block), 0, "20 of 35 signed");
    let (db, _) = world.s0_database();
    let rejecters = db.get_block_rejection_signer_addrs(&hash).expect("read");
    assert_eq!(
        rejecters,
        [(puppet_address(2), RejectReasonPrefix::InvalidParentBlock)],
        "only P2's rejection is counted"
    );
    assert_eq!(
        db.get_block_signatures(&hash).expect("read").len(),
        2,
        "P1 and S0"
    );
}

/// §8.7 #37: a `/stackerdb_chunks` batch whose first chunk is signed by a key outside the
/// signer set, followed by P1's valid PreCommit, is dropped whole: with S0, P2 and P3 pre-
/// committed (30), P1's pre-commit in that batch does not make S0 sign; the same pre-commit
/// written normally does (40 ≥ 35).
#[test]
fn a_batch_led_by_an_unknown_signer_is_dropped_whole() {
    let (world, _, _) = World::baseline();
    let b11 = pre_committed_b11(&world);
    let hash = b11.hash();
    for i in 2..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    let contract = format!("signers-{}-3", world.cycle % 2);
    let stranger = StacksPrivateKey::from_seed(b"v0 scenario stranger");
    let chunks = [
        world
            .node
            .signed_chunk(&contract, 0, &stranger, pre_commit_bytes(&hash)),
        world.node.signed_chunk(
            &contract,
            world.p(1),
            &puppet_key(1),
            pre_commit_bytes(&hash),
        ),
    ];
    world
        .node
        .inject_chunks(&contract, &chunks)
        .expect("injected");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"], "the batch is dropped");
    world
        .node
        .puppet_pre_commit(world.p(1), &hash)
        .expect("written");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
}

/// §8.7 #38: messages on the other parity's contracts (`signers-{(R+1)%2}-*`) are ignored by
/// the cycle-R instance: P1–P3's pre-commits there do not make S0 sign, nor do P1 and P2's
/// rejections there reject B11 globally: the same pre-commits on this cycle's contract then
/// make S0 sign, which a global rejection would have prevented.
#[test]
fn messages_on_the_other_parity_contracts_are_ignored() {
    let (world, _, _) = World::baseline();
    let b11 = pre_committed_b11(&world);
    let hash = b11.hash();
    let other = (world.cycle + 1) % 2;
    let pre_commits = format!("signers-{other}-3");
    for i in 1..=3 {
        world
            .node
            .inject_chunk(
                &pre_commits,
                world.p(i),
                &puppet_key(i),
                pre_commit_bytes(&hash),
            )
            .expect("injected");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    let responses = format!("signers-{other}-1");
    for i in 1..=2 {
        let rejection = libsigner::v0::messages::BlockRejection::new(
            hash,
            RejectReason::InvalidParentBlock,
            &puppet_key(i),
            false,
            u64::MAX,
            u64::MAX,
        );
        let bytes = SignerMessage::BlockResponse(rejection.into()).serialize_to_vec();
        world
            .node
            .inject_chunk(&responses, world.p(i), &puppet_key(i), bytes)
            .expect("injected");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    for i in 1..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
}

/// §8.7 #39: the miner pushes B11 (`BlockPushed`) signed by P1…P4: S0 posts it to
/// `/v3/blocks/upload/` exactly as pushed (the node stores that very block), without
/// validating it and without writing any chunk.
#[test]
fn a_pushed_block_is_uploaded_as_is_without_any_chunk() {
    let (world, _, _) = World::baseline();
    let b11 = pre_committed_b11(&world);
    let hash = b11.hash();
    let mut signed = b11.proposal.block.clone();
    let mut signers: Vec<(u32, StacksPrivateKey)> =
        (1..=4).map(|i| (world.p(i), puppet_key(i))).collect();
    signers.sort_by_key(|(id, _)| *id);
    signed.header.signer_signature = signers
        .iter()
        .map(|(_, key)| key.sign(hash.as_bytes()).expect("signs"))
        .collect();
    let chunks_before = world.s0_messages().len();
    world.node.push_block(&signed).expect("pushed");
    world.settle();
    assert_eq!(world.uploads(&signed), 1);
    let stored = world
        .node
        .block(&signed.block_id())
        .expect("the node processed the upload");
    assert_eq!(stored.block, signed, "uploaded as pushed");
    assert_eq!(world.s0_messages().len(), chunks_before, "no chunk");
    assert_eq!(
        validation_statuses(&world, &hash),
        [202],
        "not validated again"
    );
}
