//! v0-logic §8.5, tenure extends (#23–#28), run through the mock node against a real v0
//! signer: when a full or read-count extend is allowed (a changed burn view, or the tenure's
//! idle time — whole seconds, §11.8 — plus its validation time), which causes are refused,
//! and the tenure-extend timestamps S0 announces.
//!
//! World: baseline B (§8.1; `tenure_idle_timeout` 4 s, `read_count_idle_timeout` 2 s, buffer
//! 2 s). In every test M2's tenure-start block B11 is first validated by S0 (the mock answers
//! Ok with a chosen `validation_time_ms` and a non-zero cost), signed by P1…P4 and processed,
//! so S0's row of B11 is globally accepted: the idle timers of T2 start at B11's
//! `proposed_time` ("p" below) plus the validation time, rounded up to whole seconds.
//! Where a scenario needs an instant before a deadline, the test chooses a validation time
//! that leaves at least a second of margin and asserts that it kept it.

mod v0_scenario_steps;
mod v0_support;

use libsigner::chain::TenureChangeCause;
use libsigner::v0::messages::RejectReason;
use stacks_signer::devnet::{BlockKind, RpcAnswer};
use v0_scenario_steps::{
    acceptances, answer_ok, assert_r4, extend, now_secs, propose_held, rejections,
    sleep_until_secs, the_rejection, validate_sign_and_process, validation_statuses,
};
use v0_support::World;

/// The burn view named by an extend's tenure change.
fn burn_view_of(block: &libsigner::chain::NakamotoBlock) -> libsigner::chain::ConsensusHash {
    block
        .get_tenure_extend_tx_payload()
        .expect("a well-formed tenure extend")
        .burn_view_consensus_hash
}

/// §8.5 #23: a full extend (`Extended`) keeping the tenure tip's burn view, proposed before
/// the tenure's idle time has passed (here 4 s + 2 s of B11's validation time after B11's
/// proposal), is refused before validation with `InvalidTenureExtend` (r4). The rejection
/// carries the DB-derived extend timestamps (p + 4 + 2 + 2, p + 2 + 2 + 2).
#[test]
fn a_full_extend_keeping_the_burn_view_before_the_idle_time_is_an_invalid_tenure_extend() {
    let (mut world, _, t2) = World::baseline();
    let b11 = validate_sign_and_process(&world, BlockKind::TenureStart, 2_000);
    let ext = world.propose_with(extend(TenureChangeCause::Extended, None));
    let hash = ext.signer_signature_hash;
    world.settle();
    let checked_by = now_secs();
    // Allowed from p + 6 (real time); S0 judged before `checked_by + 1 <= earliest + 5`.
    assert!(
        checked_by <= b11.earliest + 4,
        "the machine was too slow to propose inside the idle time (B11 at >= {}, judged by {checked_by})",
        b11.earliest
    );
    assert_eq!(
        burn_view_of(&ext.block),
        t2.consensus_hash,
        "unchanged burn view"
    );
    assert_eq!(
        world.node.stacks_tip().expect("tip").burn_view,
        t2.consensus_hash,
        "the tenure tip's burn view"
    );
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    let rejection = the_rejection(&world, &hash);
    assert_r4(&rejection, RejectReason::InvalidTenureExtend);
    assert!(
        validation_statuses(&world, &hash).is_empty(),
        "refused before validation"
    );
    let p = world
        .s0_block(&b11.hash())
        .expect("S0 stored B11")
        .proposed_time;
    let data = &rejection.response_data;
    assert_eq!(data.tenure_extend_timestamp, p + 4 + 2 + 2);
    assert_eq!(data.tenure_extend_read_count_timestamp, p + 2 + 2 + 2);
}

/// §8.5 #24 (with §11.9): the same kind of extend once the idle time has passed — 4 s plus
/// the summed validation time of the tenure's globally accepted blocks, rounded up once
/// (B11 400 ms + B12 400 ms: 1 s) — takes the accept path: one validation request, then only
/// the PreCommit. S0 signs once P1–P3 pre-commit, and its BlockAccepted carries the
/// DB-derived timestamps `p + 4 + 2 + 1` and `p + 2 + 2 + 1` (an extend does not restart the
/// timers at signing), not `now + 6`.
#[test]
fn a_full_extend_after_the_idle_time_is_accepted_with_db_derived_extend_timestamps() {
    let (mut world, _, t2) = World::baseline();
    let b11 = validate_sign_and_process(&world, BlockKind::TenureStart, 400);
    let b12 = validate_sign_and_process(&world, BlockKind::Continue, 400);
    assert_eq!(
        b12.proposal.block.header.parent_block_id,
        b11.proposal.block.block_id()
    );
    // Allowed from p + 4 + ceil(0.8) = p + 5; one more second of margin.
    sleep_until_secs(b11.latest + 6);
    let ext = propose_held(&world, extend(TenureChangeCause::Extended, None));
    let hash = ext.hash();
    assert_eq!(burn_view_of(&ext.proposal.block), t2.consensus_hash);
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"], "no signature yet");
    for i in 1..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(validation_statuses(&world, &hash), [202]);
    assert_eq!(world.uploads(&ext.proposal.block), 0, "one signature of 35");
    let accepted = acceptances(&world, &hash);
    let data = &accepted[0].response_data;
    assert_eq!(data.reject_reason, RejectReason::NotRejected);
    let p = world
        .s0_block(&b11.hash())
        .expect("S0 stored B11")
        .proposed_time;
    assert_eq!(data.tenure_extend_timestamp, p + 4 + 2 + 1, "full_ts");
    assert_eq!(
        data.tenure_extend_read_count_timestamp,
        p + 2 + 2 + 1,
        "read_ts"
    );
}

/// §8.5 #25: a full extend naming a new burn view (a burn block without a sortition arrived
/// after B11) takes the accept path even inside the idle time: one validation request, then
/// the PreCommit.
#[test]
fn a_full_extend_with_a_changed_burn_view_takes_the_accept_path() {
    let (world, _, t2) = World::baseline();
    let b11 = validate_sign_and_process(&world, BlockKind::TenureStart, 2_000);
    let burn = world.node.mine_burn_block(None).expect("a burn block");
    world.settle();
    let ext = propose_held(&world, extend(TenureChangeCause::Extended, None));
    let hash = ext.hash();
    // The idle time (p + 6) had not passed when S0 judged it.
    assert!(
        ext.latest <= b11.earliest + 4,
        "the machine was too slow to propose inside the idle time"
    );
    assert_eq!(burn_view_of(&ext.proposal.block), burn.consensus_hash);
    assert_ne!(burn.consensus_hash, t2.consensus_hash);
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    assert_eq!(validation_statuses(&world, &hash), [202]);
}

/// §8.5 #26 (with §11.8): a read-count extend (`ExtendedReadCount`) is refused with
/// `InvalidTenureExtend` (r4) when it names a changed burn view; refused again when it keeps
/// the burn view but comes before the read-count idle time (2 s + 4 s of B11's validation
/// time after B11's proposal); and the same extend, proposed again after that time, takes the
/// accept path (a rejection before validation is not stored, so it is judged afresh).
#[test]
fn a_read_count_extend_needs_the_same_burn_view_and_the_read_count_idle_time() {
    let (mut world, _, t2) = World::baseline();
    let b11 = validate_sign_and_process(&world, BlockKind::TenureStart, 3_500);
    world.node.mine_burn_block(None).expect("a burn block");
    world.settle();

    let changed = world.propose_with(extend(TenureChangeCause::ExtendedReadCount, None));
    world.settle();
    assert_ne!(burn_view_of(&changed.block), t2.consensus_hash);
    let changed_hash = changed.signer_signature_hash;
    assert_eq!(world.s0_votes(&changed_hash), ["Rejected"]);
    assert_r4(
        &the_rejection(&world, &changed_hash),
        RejectReason::InvalidTenureExtend,
    );

    let early = world.propose_with(extend(
        TenureChangeCause::ExtendedReadCount,
        Some(t2.consensus_hash),
    ));
    world.settle();
    // Allowed from p + 2 + ceil(3.5) = p + 6; judged before `now + 1 <= earliest + 5`.
    assert!(
        now_secs() <= b11.earliest + 4,
        "the machine was too slow to propose inside the read-count idle time"
    );
    let hash = early.signer_signature_hash;
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    let rejection = the_rejection(&world, &hash);
    assert_r4(&rejection, RejectReason::InvalidTenureExtend);
    for h in [&changed_hash, &hash] {
        assert!(validation_statuses(&world, h).is_empty(), "no validation");
    }

    sleep_until_secs(b11.latest + 7);
    world.node.repropose(&hash).expect("proposed again");
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected", "PreCommit"]);
    assert_eq!(world.s0_votes(&changed_hash), ["Rejected"]);
    assert_eq!(validation_statuses(&world, &hash), [202]);
    let p = world
        .s0_block(&b11.hash())
        .expect("S0 stored B11")
        .proposed_time;
    let data = &rejection.response_data;
    assert_eq!(data.tenure_extend_timestamp, p + 4 + 2 + 4);
    assert_eq!(data.tenure_extend_read_count_timestamp, p + 2 + 2 + 4);
}

/// §8.5 #27: the SIP-034 extend causes `ExtendedRuntime` and `ExtendedWriteCount` are refused
/// before validation with `InvalidTenureExtend` (r4), even with a changed burn view, under
/// which an `Extended` extend of the same parent takes the accept path.
#[test]
fn sip034_extend_causes_are_an_invalid_tenure_extend() {
    let (world, _, _) = World::baseline();
    validate_sign_and_process(&world, BlockKind::TenureStart, 0);
    world.node.mine_burn_block(None).expect("a burn block");
    world.settle();
    for cause in [
        TenureChangeCause::ExtendedRuntime,
        TenureChangeCause::ExtendedWriteCount,
    ] {
        let ext = world.propose_with(extend(cause, None));
        world.settle();
        let hash = ext.signer_signature_hash;
        assert_eq!(world.s0_votes(&hash), ["Rejected"], "{cause:?}");
        assert_r4(
            &the_rejection(&world, &hash),
            RejectReason::InvalidTenureExtend,
        );
        assert!(validation_statuses(&world, &hash).is_empty(), "{cause:?}");
    }
    let full = propose_held(&world, extend(TenureChangeCause::Extended, None));
    let hash = full.hash();
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the Extended extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
}

/// §8.5 #28: while the node answers the tenure-tip request with 500, a full extend is refused
/// before validation with `InvalidTenureExtend` (r4), even one that names a changed burn view
/// (which #25 accepts). Once the node answers again, the same extend proposed again takes the
/// accept path.
///
/// The burn block also clears S0's cache of tenure tips (see `docs/compatibility.md`), so the
/// extend check asks the node, as the reference does on every proposal.
#[test]
fn a_full_extend_is_an_invalid_tenure_extend_while_the_tenure_tip_request_fails() {
    let (world, _, t2) = World::baseline();
    validate_sign_and_process(&world, BlockKind::TenureStart, 0);
    world
        .node
        .set_tenure_tip_override(&t2.consensus_hash, Some(RpcAnswer::Status(500)));
    world.node.mine_burn_block(None).expect("a burn block");
    world.settle();
    world.node.reset_request_counts();
    let ext = world.propose_with(extend(TenureChangeCause::Extended, None));
    world.settle();
    let hash = ext.signer_signature_hash;
    assert_ne!(burn_view_of(&ext.block), t2.consensus_hash);
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    assert_r4(
        &the_rejection(&world, &hash),
        RejectReason::InvalidTenureExtend,
    );
    assert!(validation_statuses(&world, &hash).is_empty());
    let tip_path = format!("/v3/tenures/tip_metadata/{}", t2.consensus_hash.to_hex());
    assert!(
        world.node.request_count(Some("GET"), &tip_path) >= 1,
        "S0 asked the node for T2's tip"
    );

    world.node.set_tenure_tip_override(&t2.consensus_hash, None);
    world.node.repropose(&hash).expect("proposed again");
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected", "PreCommit"]);
    assert_eq!(rejections(&world, &hash).len(), 1);
}

/// §8.5 #28, in the baseline world without a burn block: the idle time has passed, so a full
/// extend keeping the burn view would be allowed (#24), but the node answers the tenure-tip
/// request with 500: `InvalidTenureExtend` (r4) before validation. S0 learnt T2's tip from
/// B11's NewBlock; the extend check asks the node all the same, as the reference does (the
/// fix this scenario pins: `chainstate/v1.rs` `check_tenure_extend` used the kept tip and
/// took the accept path). Once the node answers again, the same extend takes the accept path.
#[test]
fn a_full_extend_after_the_idle_time_is_an_invalid_tenure_extend_while_the_tenure_tip_request_fails(
) {
    let (world, _, t2) = World::baseline();
    let b11 = validate_sign_and_process(&world, BlockKind::TenureStart, 0);
    // Allowed from p + 4; one more second of margin.
    sleep_until_secs(b11.latest + 5);
    world
        .node
        .set_tenure_tip_override(&t2.consensus_hash, Some(RpcAnswer::Status(500)));
    let ext = world.propose_with(extend(TenureChangeCause::Extended, None));
    world.settle();
    let hash = ext.signer_signature_hash;
    assert_eq!(burn_view_of(&ext.block), t2.consensus_hash, "unchanged");
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    assert_r4(
        &the_rejection(&world, &hash),
        RejectReason::InvalidTenureExtend,
    );
    assert!(validation_statuses(&world, &hash).is_empty());

    world.node.set_tenure_tip_override(&t2.consensus_hash, None);
    world.node.repropose(&hash).expect("proposed again");
    answer_ok(&world, &hash, 0);
    world.wait_for("S0's pre-commit of the extend", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected", "PreCommit"]);
}
