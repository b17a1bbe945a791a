//! v0-logic §8.6, validation outcomes and queueing (#29–#34), run through the mock node
//! against a real v0 signer: the node's rejections (stored, re-evaluated or not), the
//! validation timeout, the 429 queue, the wait for an unprocessed parent, and a re-proposal
//! of a pre-committed block.
//!
//! World: baseline B (§8.1; `block_proposal_validation_timeout` 3 s,
//! `proposal_wait_for_parent_time` 2 s). The block is M2's tenure-start block B11 (T2, h11)
//! unless said otherwise; the mock validates by hand (`set_manual_validation`) where the
//! scenario chooses the answer.

mod v0_scenario_steps;
mod v0_support;

use std::time::Instant;

use libsigner::v0::messages::{RejectCode, RejectReason, ValidateRejectCode};
use stacks_signer::devnet::{
    Activity, BlockKind, BlockOverrides, ProposeOptions, ValidationAnswer,
};
use stacks_signer::signerdb::BlockState;
use v0_scenario_steps::{
    acceptances, answer_ok, miner_key, now_ms, now_secs, propose_held, the_rejection,
    validation_request_times, validation_statuses, Stamped,
};
use v0_support::{World, WAIT};

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

/// The node answers S0's validation of `hash` with `Reject{code, reason}`.
fn answer_reject(
    world: &World,
    hash: &libsigner::chain::Sha512Trunc256Sum,
    code: ValidateRejectCode,
    reason: &str,
) {
    world
        .node
        .answer_validation(
            hash,
            ValidationAnswer::Reject {
                code,
                reason: reason.to_string(),
            },
        )
        .expect("answered");
}

/// §8.6 #29: the node rejects B11 with `BadTransaction` "tx bad": S0 rejects it with the
/// node's text, wire code and reason `ValidationFailed(BadTransaction)` (1), and stores the
/// verdict; a re-proposal gets `RejectedInPriorRound` (2) without a second validation.
#[test]
fn a_validation_failure_is_sent_with_the_node_text_and_a_reproposal_is_rejected_in_prior_round() {
    let (mut world, _, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    answer_reject(&world, &hash, ValidateRejectCode::BadTransaction, "tx bad");
    world.wait_for("S0's rejection", |w| {
        (!w.s0_votes(&hash).is_empty()).then_some(())
    });
    world.settle();
    let rejection = the_rejection(&world, &hash);
    assert_eq!(rejection.reason, "tx bad");
    assert_eq!(
        rejection.reason_code,
        RejectCode::ValidationFailed(ValidateRejectCode::BadTransaction)
    );
    assert_eq!(
        rejection.response_data.reject_reason,
        RejectReason::ValidationFailed(ValidateRejectCode::BadTransaction)
    );

    world.node.repropose(&hash).expect("proposed again");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected", "Rejected"]);
    let responses = world.s0_responses(&hash);
    let libsigner::v0::messages::BlockResponse::Rejected(again) = &responses[1] else {
        panic!("not a rejection: {responses:?}");
    };
    assert_eq!(again.reason_code, RejectCode::RejectedInPriorRound);
    assert_eq!(
        again.response_data.reject_reason,
        RejectReason::RejectedInPriorRound
    );
    assert_eq!(again.reason, RejectReason::RejectedInPriorRound.to_string());
    assert_eq!(validation_statuses(&world, &hash), [202], "validated once");
    let row = world.s0_block(&hash).expect("stored");
    assert_eq!(row.state, BlockState::LocallyRejected);
    assert_eq!(
        row.reject_reason,
        Some(RejectReason::ValidationFailed(
            ValidateRejectCode::BadTransaction
        ))
    );
}

/// §8.6 #30: the node rejects B11 with `UnknownParent`: S0 rejects it with
/// `ValidationFailed(UnknownParent)`; a re-proposal is evaluated again and submitted for a
/// second validation, without any further vote.
#[test]
fn an_unknown_parent_validation_failure_is_re_evaluated_on_reproposal() {
    let (world, _, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    answer_reject(
        &world,
        &hash,
        ValidateRejectCode::UnknownParent,
        "Unknown parent block",
    );
    world.wait_for("S0's rejection", |w| {
        (!w.s0_votes(&hash).is_empty()).then_some(())
    });
    world.settle();
    let rejection = the_rejection(&world, &hash);
    assert_eq!(rejection.reason, "Unknown parent block");
    assert_eq!(
        rejection.reason_code,
        RejectCode::ValidationFailed(ValidateRejectCode::UnknownParent)
    );
    assert_eq!(
        rejection.response_data.reject_reason,
        RejectReason::ValidationFailed(ValidateRejectCode::UnknownParent)
    );

    world.node.repropose(&hash).expect("proposed again");
    assert!(
        world.node.wait_for_held_validation(&hash, WAIT),
        "submitted again"
    );
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [202, 202]);
    assert_eq!(world.s0_votes(&hash), ["Rejected"], "no further vote");
}

/// §8.6 #31: the node never answers: once `block_proposal_validation_timeout` (3 s) has passed,
/// on the next event or idle tick, S0 rejects B11 with `ConnectivityIssues` (1) and the text
/// "…failed to receive block validation response in time". A late Ok is ignored (no
/// PreCommit); a re-proposal is evaluated again and submitted again.
#[test]
fn an_unanswered_validation_times_out_into_a_connectivity_rejection() {
    let (world, _, _) = World::baseline();
    let started = Instant::now();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    world.settle();
    assert!(
        world.s0_votes(&hash).is_empty(),
        "nothing before the timeout"
    );
    world.wait_for("S0's timeout rejection", |w| {
        (!w.s0_votes(&hash).is_empty()).then_some(())
    });
    assert!(
        started.elapsed().as_millis() >= 3_000,
        "not before the validation timeout"
    );
    world.settle();
    let rejection = the_rejection(&world, &hash);
    assert_eq!(
        rejection.reason,
        "The block was rejected due to connectivity issues with the signer: failed to \
         receive block validation response in time"
    );
    assert!(
        matches!(rejection.reason_code, RejectCode::ConnectivityIssues(_)),
        "{:?}",
        rejection.reason_code
    );
    assert!(
        matches!(
            rejection.response_data.reject_reason,
            RejectReason::ConnectivityIssues(_)
        ),
        "{:?}",
        rejection.response_data.reject_reason
    );

    answer_ok(&world, &hash, 10);
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["Rejected"],
        "the late Ok is ignored"
    );

    world.node.repropose(&hash).expect("proposed again");
    assert!(
        world.node.wait_for_held_validation(&hash, WAIT),
        "submitted again"
    );
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [202, 202]);
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
}

/// §8.6 #32 (with §11.9): the node answers the validation request with 429 once: S0 queues
/// B11 and posts it again at the end of the same event (before S0 has handled the next
/// event), then takes the accept path.
#[test]
fn a_busy_node_gets_the_proposal_again_at_the_end_of_the_same_event() {
    let (world, _, _) = World::baseline();
    world.node.set_busy_responses(1);
    world.node.set_manual_validation(true);
    let b11 = world.propose(BlockKind::TenureStart);
    let hash = b11.signer_signature_hash;
    // Settling returns once S0 has handled the proposal event and received the next one (the
    // status check, answered before S0's instance handles it).
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [429, 202]);
    answer_ok(&world, &hash, 10);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
}

/// B12 (T2, h12) on B11, which S0 pre-committed but the node has not processed: the node's
/// Stacks tip is still T1's h10, below B12's parent (the row's "h11 proposal whose parent was
/// not seen in NewBlock, `stacks_tip_height` 9", one height up: in world B the node announced
/// T1's h10).
fn propose_b12_on_unprocessed_b11(world: &World) -> (Stamped, Stamped) {
    let b11 = propose_b11(world);
    answer_ok(world, &b11.hash(), 10);
    world.wait_for("S0's pre-commit of B11", |w| {
        w.s0_votes(&b11.hash()).contains(&"PreCommit").then_some(())
    });
    world.settle();
    let parent = &b11.proposal.block;
    assert_eq!(
        world
            .node
            .stacks_tip()
            .expect("tip")
            .block
            .header
            .chain_length
            + 1,
        parent.header.chain_length,
        "the node's tip is still B11's parent"
    );
    let earliest = now_secs();
    let b12 = world.propose_with(ProposeOptions {
        kind: Some(BlockKind::Continue),
        overrides: BlockOverrides {
            parent_block_id: Some(parent.block_id()),
            consensus_hash: Some(parent.header.consensus_hash),
            chain_length: Some(parent.header.chain_length + 1),
            timestamp: Some(parent.header.timestamp + 1),
            miner_key: Some(miner_key(1)),
            ..BlockOverrides::default()
        },
    });
    assert_eq!(b12.block.header.parent_block_id, parent.block_id());
    (
        b11,
        Stamped {
            proposal: b12,
            earliest,
            latest: earliest,
        },
    )
}

/// §8.6 #33 (with §11.9), first half: B12's parent is not processed, so S0 queues B12 instead
/// of submitting it; the node's NewBlock for the parent makes S0 post B12 during that same
/// event (the end-of-event queue check).
#[test]
fn a_proposal_waiting_for_its_parent_is_submitted_when_the_parent_is_announced() {
    let (world, _, _) = World::baseline();
    let started_ms = now_ms();
    let (b11, b12) = propose_b12_on_unprocessed_b11(&world);
    let hash = b12.hash();
    world.settle();
    assert!(validation_statuses(&world, &hash).is_empty(), "B12 waits");
    world
        .node
        .process_proposed_block(&b11.hash())
        .expect("the node processes B11");
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [202]);
    let processed_at = world
        .activity()
        .iter()
        .find_map(|entry| match &entry.activity {
            Activity::BlockProcessed {
                signer_signature_hash,
                ..
            } if *signer_signature_hash == b11.hash() => Some(entry.at_ms),
            _ => None,
        })
        .expect("B11 processed");
    let posted_at = validation_request_times(&world, &hash, 202)[0];
    assert!(posted_at >= processed_at, "posted after the NewBlock");
    // The parent wait (2 s, whole seconds) cannot have run out before `started + 1 s`.
    assert!(
        processed_at < started_ms + 1_000,
        "the machine was too slow to announce the parent within the parent wait"
    );
    assert!(world.s0_votes(&hash).is_empty());
}

/// §8.6 #33 (with §11.8), second half: without the parent's NewBlock, the queued B12 is
/// re-queued on every tick (each asks the node's `/v2/info` again) and posted on the first
/// tick once the whole-second wait reaches `proposal_wait_for_parent_time` (2 s): 1–2 s after
/// the proposal, plus at most a tick.
#[test]
fn a_proposal_waiting_for_its_parent_is_submitted_after_the_parent_wait() {
    let (world, _, _) = World::baseline();
    let (_, b12) = propose_b12_on_unprocessed_b11(&world);
    let hash = b12.hash();
    let proposed_ms = b12.earliest * 1_000;
    world.settle();
    world.node.reset_request_counts();
    let posted_at = world.wait_for("B12's validation request", |w| {
        validation_request_times(w, &hash, 202).first().copied()
    });
    assert!(
        posted_at >= proposed_ms + 1_000,
        "posted {} ms after the proposal's second",
        posted_at - proposed_ms
    );
    assert!(
        world.node.request_count(Some("GET"), "/v2/info") >= 1,
        "re-queued on the ticks, asking the node each time"
    );
    world.settle();
    assert_eq!(validation_statuses(&world, &hash), [202]);
    assert!(world.s0_votes(&hash).is_empty());
}

/// §8.6 #34: a re-proposal of B11, which S0 pre-committed but has not signed (10 of 35),
/// gets an immediate BlockAccepted (quirk of §3.1), without another validation.
#[test]
fn a_reproposal_of_a_pre_committed_block_is_signed_at_once() {
    let (world, _, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.hash();
    answer_ok(&world, &hash, 10);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    let before = now_secs();
    world.node.repropose(&hash).expect("proposed again");
    world.settle();
    let after = now_secs();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(validation_statuses(&world, &hash), [202]);
    assert_eq!(world.uploads(&b11.proposal.block), 0);
    let accepted = acceptances(&world, &hash);
    let data = &accepted[0].response_data;
    assert_eq!(data.reject_reason, RejectReason::NotRejected);
    // A tenure start restarts the timers at signing: now + 4 + 2.
    assert!(
        (before + 6..=after + 6).contains(&data.tenure_extend_timestamp),
        "full_ts {}",
        data.tenure_extend_timestamp
    );
}
