//! The rules both views share (`chainstate/mod.rs` and the extend rules of `v1.rs`): the
//! parent-tenure choice, the last block of a tenure, "is the proposal higher", the
//! tenure-extend rules, and the error texts.

use std::collections::HashMap;
use std::time::Duration;

use libsigner::chain::{ConsensusHash, TenureChangeCause};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::GlobalStateEvaluator;

use super::{
    config, fork_entry, globally_accepted, locally_accepted, pre_committed, secs_ago,
    sortition_data, tip_at, within_one_second, Env, BEFORE_LAST, CUR, LAST,
};
use crate::chainstate::v1::check_tenure_extend;
use crate::chainstate::{
    SignerChainstateError, SortitionData, SortitionState, SortitionStateVersion,
};
use crate::client::api::SortitionInfo;
use crate::client::ClientError;
use crate::clock::now_secs;
use crate::signerdb::{BlockState, SignerDbError};
use crate::test_support::{ch, sortition, tip};

// ---------------------------------------------------------------------------------------
// check_parent_tenure_choice
// ---------------------------------------------------------------------------------------

/// A fixed "now" for the reorg-timing tests, which compare stored times only.
const T: u64 = 1_000_000;

/// The current sortition of the reorg fixtures: tenure CUR builds on BEFORE_LAST, skipping
/// the last sortition (LAST).
fn reorging_sortition(env: &Env) -> SortitionData {
    sortition_data(CUR, LAST, BEFORE_LAST, &env.miner)
}

/// Scripts the node's fork info from LAST back to BEFORE_LAST, with `last_first_block` as
/// LAST's first block.
fn script_fork(env: &Env, last_first_block: Option<u8>) {
    env.node.fork_info.borrow_mut().insert(
        (ch(BEFORE_LAST), ch(LAST)),
        vec![
            fork_entry(LAST, last_first_block),
            fork_entry(BEFORE_LAST, Some(2)),
        ],
    );
}

/// Whether the reorg sortition's parent choice is good when this signer signed LAST's only
/// block `gap` seconds before it saw the current sortition's burn block, with a 30 s window.
fn reorg_with_gap(gap: u64) -> bool {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    let b = env.block(LAST, 10).build();
    env.record(&b, locally_accepted(T - gap));
    env.burn_block(CUR, T);
    reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes")
}

/// (`check_proposal_reorg_timing_ok`, v2 `check_parent_tenure_choice_reorg_timing_ok`)
#[test]
fn reorg_of_tenure_whose_first_block_came_less_than_the_window_before_the_sortition_is_allowed() {
    assert!(reorg_with_gap(29));
    assert!(reorg_with_gap(0));
}

/// (`check_proposal_reorg_timing_bad`, v2 `check_parent_tenure_choice_reorg_timing_bad`)
#[test]
fn reorg_of_tenure_whose_first_block_came_at_or_beyond_the_window_is_refused() {
    assert!(
        !reorg_with_gap(30),
        "the window is strict: exactly 30 s is too late"
    );
    assert!(!reorg_with_gap(31));
}

#[test]
fn sortition_building_on_its_prior_sortition_is_a_good_choice_without_asking_the_node() {
    let env = Env::new();
    let data = sortition_data(CUR, LAST, LAST, &env.miner);
    assert!(data
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("no node call is needed"));
    assert_eq!(env.node.calls("fork_info"), 0);
}

#[test]
fn empty_fork_info_makes_the_parent_choice_bad() {
    let env = Env::new();
    env.node
        .fork_info
        .borrow_mut()
        .insert((ch(BEFORE_LAST), ch(LAST)), vec![]);
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
    assert_eq!(env.node.calls("fork_info"), 1);
}

#[test]
fn unreachable_fork_info_is_a_client_error() {
    let env = Env::new();
    let err = reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect_err("the node does not answer");
    assert!(matches!(err, SignerChainstateError::ClientError(_)));
    let RejectReason::ConnectivityIssues(text) = RejectReason::from(err) else {
        panic!("a chainstate error becomes ConnectivityIssues");
    };
    assert!(text.starts_with("Client error: "), "{text}");
}

#[test]
fn reorg_of_tenure_with_more_than_one_globally_accepted_height_is_refused() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    // Signed 5 s before the sortition: the timing alone would allow the reorg.
    for height in [10, 11] {
        let b = env.block(LAST, height).build();
        env.record(&b, globally_accepted(Some(T - 5), T - 5));
    }
    env.burn_block(CUR, T);
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_of_tenure_with_one_globally_accepted_height_is_judged_by_timing() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    let b = env.block(LAST, 10).build();
    env.record(&b, globally_accepted(Some(T - 5), T - 5));
    env.burn_block(CUR, T);
    assert!(reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn accepted_height_span_is_checked_before_an_empty_tenure_is_skipped() {
    let mut env = Env::new();
    // The node says LAST mined nothing, but this signer saw heights 10 and 12 accepted.
    script_fork(&env, None);
    for height in [10, 12] {
        let b = env.block(LAST, height).build();
        env.record(&b, globally_accepted(Some(T - 5), T - 5));
    }
    env.burn_block(CUR, T);
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_of_empty_tenures_is_allowed_even_without_local_knowledge() {
    let env = Env::new();
    script_fork(&env, None);
    assert!(reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn the_chosen_parent_tenure_itself_is_not_judged() {
    let env = Env::new();
    // Only the parent's entry: it has blocks this signer never saw, and that is fine.
    env.node.fork_info.borrow_mut().insert(
        (ch(BEFORE_LAST), ch(LAST)),
        vec![fork_entry(BEFORE_LAST, Some(2))],
    );
    assert!(reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_of_tenure_whose_blocks_this_signer_never_signed_is_refused() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    env.burn_block(CUR, T);
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_timing_uses_the_lowest_signed_block_of_the_tenure() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    let first = env.block(LAST, 10).build();
    env.record(&first, locally_accepted(T - 40));
    let second = env.block(LAST, 11).build();
    env.record(&second, locally_accepted(T - 5));
    env.burn_block(CUR, T);
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_is_refused_when_this_signer_has_no_receive_time_for_the_sortition() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    let b = env.block(LAST, 10).build();
    env.record(&b, locally_accepted(T - 1));
    assert!(!reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

#[test]
fn reorg_of_tenure_whose_first_block_this_signer_did_not_sign_itself_counts_as_late() {
    let mut env = Env::new();
    script_fork(&env, Some(1));
    let b = env.block(LAST, 10).build();
    // Signed over only because the signer set's signatures were seen: no signed_self.
    env.record(&b, |info| {
        info.mark_locally_accepted(true).expect("accepted");
        assert_eq!(info.signed_self, None);
    });
    env.burn_block(CUR, T);
    assert!(reorging_sortition(&env)
        .check_parent_tenure_choice(&env.db, &env.node, Duration::from_secs(30), &env.log)
        .expect("the check completes"));
}

// ---------------------------------------------------------------------------------------
// get_tenure_last_block_info
// ---------------------------------------------------------------------------------------

fn last_block_info(env: &Env, tenure: u8, timeout_secs: u64) -> Option<u64> {
    SortitionData::get_tenure_last_block_info(
        &ch(tenure),
        &env.db,
        Duration::from_secs(timeout_secs),
        &env.log,
    )
    .expect("the query runs")
    .map(|info| info.block.header.chain_length)
}

#[test]
fn tenure_last_block_is_the_highest_accepted_block_until_its_own_signature_times_out() {
    let mut env = Env::new();
    assert_eq!(last_block_info(&env, CUR, 30), None);
    let b = env.block(CUR, 10).build();
    env.record(&b, locally_accepted(secs_ago(10)));
    assert_eq!(last_block_info(&env, CUR, 30), Some(10));
    // 10 s old against a 9 s pin: timed out (the comparison is strict).
    assert_eq!(last_block_info(&env, CUR, 9), None);
    assert_eq!(last_block_info(&env, CUR, 5), None);
}

#[test]
fn tenure_last_block_signed_exactly_the_pin_time_ago_has_timed_out() {
    let pinned = within_one_second(|now| {
        let mut env = Env::new();
        let b = env.block(CUR, 10).build();
        env.record(&b, locally_accepted(now - 30));
        last_block_info(&env, CUR, 30)
    });
    assert_eq!(pinned, None);
}

#[test]
fn tenure_last_block_counts_pre_committed_and_globally_accepted_blocks_but_not_rejected_ones() {
    let mut env = Env::new();
    let pre = env.block(CUR, 10).build();
    env.record(&pre, pre_committed(now_secs()));
    assert_eq!(last_block_info(&env, CUR, 30), Some(10));
    let ga = env.block(CUR, 11).build();
    env.record(&ga, globally_accepted(Some(now_secs()), now_secs()));
    assert_eq!(last_block_info(&env, CUR, 30), Some(11));
    let rejected = env.block(CUR, 12).build();
    env.record(&rejected, |info| {
        info.mark_locally_rejected().expect("rejected");
        info.signed_self = Some(now_secs());
    });
    assert_eq!(last_block_info(&env, CUR, 30), Some(11));
}

#[test]
fn tenure_last_block_without_own_signature_time_is_none_even_if_a_lower_one_has_one() {
    let mut env = Env::new();
    let lower = env.block(CUR, 10).build();
    env.record(&lower, locally_accepted(now_secs()));
    let higher = env.block(CUR, 11).build();
    env.record(&higher, globally_accepted(None, now_secs()));
    assert_eq!(last_block_info(&env, CUR, 30), None);
}

// ---------------------------------------------------------------------------------------
// check_latest_block_in_tenure
// ---------------------------------------------------------------------------------------

fn is_higher(env: &mut Env, tenure: u8, proposal: &libsigner::chain::NakamotoBlock) -> bool {
    let cfg = config();
    SortitionData::check_latest_block_in_tenure(
        &ch(tenure),
        proposal,
        &mut env.db,
        &env.node,
        cfg.tenure_last_block_proposal_timeout,
        cfg.reorg_attempts_activity_timeout,
        &env.log,
    )
    .expect("the check completes")
}

#[test]
fn proposal_no_higher_than_a_recently_accepted_block_is_refused_without_asking_the_node() {
    let mut env = Env::new();
    let accepted = env.block(CUR, 10).build();
    env.record(&accepted, locally_accepted(now_secs()));
    env.node.set_tenure_tip(ch(CUR), tip_at(5, Some(ch(CUR))));
    for height in [9, 10] {
        let proposal = env.block(CUR, height).timestamp(1).build();
        assert!(!is_higher(&mut env, CUR, &proposal), "height {height}");
    }
    assert_eq!(env.node.calls("tenure_tip"), 0);
}

#[test]
fn proposal_higher_than_the_local_block_must_also_be_higher_than_the_node_tip() {
    let mut env = Env::new();
    let accepted = env.block(CUR, 10).build();
    env.record(&accepted, locally_accepted(now_secs()));
    let proposal = env.block(CUR, 12).build();
    env.node.set_tenure_tip(ch(CUR), tip_at(11, Some(ch(CUR))));
    assert!(is_higher(&mut env, CUR, &proposal));
    // Strictly higher: a tip at the proposal's height refuses it, as does a higher tip.
    env.node.set_tenure_tip(ch(CUR), tip_at(12, Some(ch(CUR))));
    assert!(!is_higher(&mut env, CUR, &proposal));
    env.node.set_tenure_tip(ch(CUR), tip_at(13, Some(ch(CUR))));
    assert!(!is_higher(&mut env, CUR, &proposal));
    assert_eq!(env.node.calls("tenure_tip"), 3);
}

#[test]
fn proposal_is_assumed_higher_when_the_node_cannot_give_the_tenure_tip() {
    let mut env = Env::new();
    let proposal = env.block(CUR, 1).build();
    assert!(is_higher(&mut env, CUR, &proposal));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn a_timed_out_local_block_no_longer_pins_its_height() {
    let mut env = Env::new();
    let accepted = env.block(CUR, 10).build();
    // Signed 40 s ago, pinned for 30 s.
    env.record(&accepted, locally_accepted(secs_ago(40)));
    let proposal = env.block(CUR, 10).timestamp(1).build();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    assert!(is_higher(&mut env, CUR, &proposal));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn refused_reorg_of_a_locally_accepted_block_counts_as_activity_of_the_proposing_tenure() {
    let mut env = Env::new();
    let accepted = env.block(LAST, 10).build();
    env.record(&accepted, locally_accepted(now_secs()));
    // A tenure-start block of CUR that would replace LAST's block at height 10.
    let proposal = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    let before = now_secs();
    assert!(!is_higher(&mut env, LAST, &proposal));
    let activity = env
        .db
        .get_last_activity_time(&ch(CUR))
        .expect("query runs")
        .expect("the attempt was recorded for the proposing tenure");
    assert!(activity >= before && activity <= now_secs());
    assert_eq!(
        env.db
            .get_last_activity_time(&ch(LAST))
            .expect("query runs"),
        None
    );
}

#[test]
fn refused_reorg_counts_as_activity_only_while_the_group_signature_is_recent() {
    // Group signature just seen, 3 s activity window: the attempt counts.
    let mut env = Env::new();
    let accepted = env.block(LAST, 10).build();
    env.record(&accepted, globally_accepted(Some(now_secs()), now_secs()));
    let proposal = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    assert!(!is_higher(&mut env, LAST, &proposal));
    assert!(env
        .db
        .get_last_activity_time(&ch(CUR))
        .expect("query")
        .is_some());

    // Group signature 20 s old: the attempt is refused but is no activity.
    let mut env = Env::new();
    let accepted = env.block(LAST, 10).build();
    env.record(&accepted, globally_accepted(Some(now_secs()), secs_ago(20)));
    let proposal = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    assert!(!is_higher(&mut env, LAST, &proposal));
    assert_eq!(
        env.db.get_last_activity_time(&ch(CUR)).expect("query"),
        None
    );
}

#[test]
fn reorg_activity_window_is_compared_in_whole_seconds() {
    let mut env = Env::new();
    let signed_group = now_secs();
    let accepted = env.block(LAST, 10).build();
    env.record(
        &accepted,
        globally_accepted(Some(signed_group), signed_group),
    );
    let proposal = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    // 999 ms is 0 whole seconds: `signed_group + 0 > now` never holds.
    assert!(!SortitionData::check_latest_block_in_tenure(
        &ch(LAST),
        &proposal,
        &mut env.db,
        &env.node,
        Duration::from_secs(30),
        Duration::from_millis(999),
        &env.log,
    )
    .expect("the check completes"));
    assert_eq!(
        env.db.get_last_activity_time(&ch(CUR)).expect("query"),
        None
    );
}

#[test]
fn node_tip_known_locally_is_marked_globally_accepted() {
    let mut env = Env::new();
    let known = env.block(CUR, 10).build();
    // Accepted long ago (no longer pinning), never seen accepted by the network.
    env.record(&known, locally_accepted(secs_ago(100)));
    env.node.set_tenure_tip(ch(CUR), tip(&known, Some(ch(CUR))));
    let proposal = env.block(CUR, 11).build();
    assert!(is_higher(&mut env, CUR, &proposal));
    let stored = env
        .db
        .block_lookup(&known.header.signer_signature_hash())
        .expect("query runs")
        .expect("still stored");
    assert_eq!(stored.state, BlockState::GloballyAccepted);
    assert!(stored.signed_group.is_some());
}

#[test]
fn node_tip_unknown_locally_is_not_stored() {
    let mut env = Env::new();
    let unknown = env.block(CUR, 10).build();
    env.node
        .set_tenure_tip(ch(CUR), tip(&unknown, Some(ch(CUR))));
    let proposal = env.block(CUR, 11).build();
    assert!(is_higher(&mut env, CUR, &proposal));
    assert_eq!(
        env.db
            .block_lookup(&unknown.header.signer_signature_hash())
            .expect("query runs"),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Tenure-extend rules
// ---------------------------------------------------------------------------------------

/// Checks `block`'s extend rules in tenure CUR.
fn extend_check(
    env: &Env,
    block: &libsigner::chain::NakamotoBlock,
    cfg: &crate::chainstate::ProposalEvalConfig,
    in_replay: bool,
) -> Result<(), RejectReason> {
    check_tenure_extend(
        block,
        &ch(CUR),
        &env.db,
        &env.node,
        cfg,
        in_replay,
        &env.log,
    )
}

/// A fresh environment whose node names CUR as tenure CUR's burn view.
fn extend_env() -> Env {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    env
}

#[test]
fn blocks_without_an_extend_pass_the_extend_rules_without_asking_the_node() {
    let env = extend_env();
    let plain = env.block(CUR, 10).build();
    let start = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    for block in [plain, start] {
        assert_eq!(extend_check(&env, &block, &config(), false), Ok(()));
    }
    assert_eq!(env.node.calls("tenure_tip"), 0);
}

#[test]
fn sip034_extend_causes_are_refused_before_the_node_is_asked() {
    let env = extend_env();
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::ZERO;
    cfg.tenure_idle_timeout = Duration::ZERO;
    for cause in [
        TenureChangeCause::ExtendedRuntime,
        TenureChangeCause::ExtendedReadLength,
        TenureChangeCause::ExtendedWriteCount,
        TenureChangeCause::ExtendedWriteLength,
    ] {
        let block = env.block(CUR, 10).extend(cause, ch(64)).build();
        assert_eq!(
            extend_check(&env, &block, &cfg, true),
            Err(RejectReason::InvalidTenureExtend),
            "{cause:?}"
        );
    }
    assert_eq!(env.node.calls("tenure_tip"), 0);
}

#[test]
fn extend_is_refused_when_the_tenure_tip_or_its_burn_view_is_unknown() {
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::ZERO;
    cfg.tenure_idle_timeout = Duration::ZERO;
    for cause in [
        TenureChangeCause::Extended,
        TenureChangeCause::ExtendedReadCount,
    ] {
        // No tip at all (404), even in replay and with every timer run out.
        let env = Env::new();
        let block = env.block(CUR, 10).extend(cause, ch(CUR)).build();
        assert_eq!(
            extend_check(&env, &block, &cfg, true),
            Err(RejectReason::InvalidTenureExtend)
        );
        // A tip without a burn view.
        env.node.set_tenure_tip(ch(CUR), tip_at(9, None));
        assert_eq!(
            extend_check(&env, &block, &cfg, true),
            Err(RejectReason::InvalidTenureExtend)
        );
    }
}

/// (`check_tenure_extend_invalid_conditions`, shared part)
#[test]
fn full_extend_keeping_the_burn_view_before_the_idle_timeout_is_refused() {
    let env = extend_env();
    let block = env
        .block(CUR, 10)
        .extend(TenureChangeCause::Extended, ch(CUR))
        .build();
    assert_eq!(
        extend_check(&env, &block, &config(), false),
        Err(RejectReason::InvalidTenureExtend)
    );
}

#[test]
fn full_extend_is_allowed_by_a_burn_view_change_or_a_replay() {
    let env = extend_env();
    let changed = env
        .block(CUR, 10)
        .extend(TenureChangeCause::Extended, ch(64))
        .build();
    assert_eq!(extend_check(&env, &changed, &config(), false), Ok(()));
    let same = env
        .block(CUR, 10)
        .extend(TenureChangeCause::Extended, ch(CUR))
        .build();
    assert_eq!(extend_check(&env, &same, &config(), true), Ok(()));
}

/// Stores a globally accepted block of tenure CUR at `height` whose first transaction has
/// `cause` (`BlockFound`: a tenure start), proposed at `proposed_time` and validated in
/// `validation_ms`.
fn accepted_tenure_change(
    env: &mut Env,
    height: u64,
    cause: TenureChangeCause,
    proposed_time: u64,
    validation_ms: Option<u64>,
) {
    let builder = env.block(CUR, height);
    let block = if cause == TenureChangeCause::BlockFound {
        builder.tenure_start(ch(LAST)).build()
    } else {
        builder.extend(cause, ch(CUR)).build()
    };
    env.record(&block, |info| {
        globally_accepted(Some(proposed_time), proposed_time)(info);
        info.proposed_time = proposed_time;
        info.validation_time_ms = validation_ms;
    });
}

#[test]
fn full_extend_idle_time_runs_from_the_tenure_start_recorded_in_the_database() {
    let same_view = |env: &Env| {
        env.block(CUR, 20)
            .extend(TenureChangeCause::Extended, ch(CUR))
            .build()
    };
    // Tenure started 400 s ago, 300 s idle timeout: allowed.
    let mut env = extend_env();
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(400),
        None,
    );
    assert_eq!(
        extend_check(&env, &same_view(&env), &config(), false),
        Ok(())
    );
    // Started 200 s ago: refused.
    let mut env = extend_env();
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(200),
        None,
    );
    assert_eq!(
        extend_check(&env, &same_view(&env), &config(), false),
        Err(RejectReason::InvalidTenureExtend)
    );
    // A tenure start this signer only accepted locally does not count: the timer starts now.
    let mut env = extend_env();
    let start = env.block(CUR, 9).tenure_start(ch(LAST)).build();
    env.record(&start, |info| {
        locally_accepted(secs_ago(400))(info);
        info.proposed_time = secs_ago(400);
    });
    assert_eq!(
        extend_check(&env, &same_view(&env), &config(), false),
        Err(RejectReason::InvalidTenureExtend)
    );
}

#[test]
fn full_extend_is_allowed_from_the_very_second_the_idle_time_ends() {
    let allowed = within_one_second(|now| {
        let mut env = extend_env();
        accepted_tenure_change(&mut env, 9, TenureChangeCause::BlockFound, now - 300, None);
        let block = env
            .block(CUR, 20)
            .extend(TenureChangeCause::Extended, ch(CUR))
            .build();
        extend_check(&env, &block, &config(), false)
    });
    assert_eq!(allowed, Ok(()));
}

#[test]
fn full_extend_idle_time_leaves_out_the_buffer_announced_to_miners() {
    let mut env = extend_env();
    // 301 s since the tenure start, 300 s idle timeout, 100 s buffer: allowed.
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(301),
        None,
    );
    let mut cfg = config();
    cfg.tenure_idle_timeout_buffer = Duration::from_secs(100);
    let block = env
        .block(CUR, 20)
        .extend(TenureChangeCause::Extended, ch(CUR))
        .build();
    assert_eq!(extend_check(&env, &block, &cfg, false), Ok(()));
}

#[test]
fn full_extend_idle_time_adds_the_validation_time_rounded_up_to_seconds() {
    // 310 s since the tenure start, 300 s timeout, 15 s of validation since: refused.
    let mut env = extend_env();
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(310),
        Some(15_000),
    );
    let block = env
        .block(CUR, 20)
        .extend(TenureChangeCause::Extended, ch(CUR))
        .build();
    assert_eq!(
        extend_check(&env, &block, &config(), false),
        Err(RejectReason::InvalidTenureExtend)
    );
    // Exactly 300 s since the start and 1 ms of validation: the deadline is now + 1 s, so
    // the extend is refused within the same second (it would pass if the 1 ms rounded down).
    let refused = within_one_second(|now| {
        let mut env = extend_env();
        accepted_tenure_change(
            &mut env,
            9,
            TenureChangeCause::BlockFound,
            now - 300,
            Some(1),
        );
        let block = env
            .block(CUR, 20)
            .extend(TenureChangeCause::Extended, ch(CUR))
            .build();
        extend_check(&env, &block, &config(), false)
    });
    assert_eq!(refused, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_tenure_extend_read_count`, shared part)
#[test]
fn read_count_extend_keeping_the_burn_view_is_allowed_once_its_idle_time_passed() {
    let env = extend_env();
    let block = env
        .block(CUR, 10)
        .extend(TenureChangeCause::ExtendedReadCount, ch(CUR))
        .build();
    // 12000 s idle timeout, no tenure start recorded (the timer starts now): refused.
    assert_eq!(
        extend_check(&env, &block, &config(), false),
        Err(RejectReason::InvalidTenureExtend)
    );
    // During a replay: allowed.
    assert_eq!(extend_check(&env, &block, &config(), true), Ok(()));
    // With no idle time required: allowed.
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::ZERO;
    assert_eq!(extend_check(&env, &block, &cfg, false), Ok(()));
}

#[test]
fn read_count_extend_is_allowed_from_the_very_second_its_idle_time_ends() {
    let allowed = within_one_second(|now| {
        let mut env = extend_env();
        accepted_tenure_change(&mut env, 9, TenureChangeCause::BlockFound, now - 20, None);
        let mut cfg = config();
        cfg.read_count_idle_timeout = Duration::from_secs(20);
        let block = env
            .block(CUR, 20)
            .extend(TenureChangeCause::ExtendedReadCount, ch(CUR))
            .build();
        extend_check(&env, &block, &cfg, false)
    });
    assert_eq!(allowed, Ok(()));
}

#[test]
fn read_count_extend_changing_the_burn_view_is_refused_even_in_replay() {
    let env = extend_env();
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::ZERO;
    let block = env
        .block(CUR, 10)
        .extend(TenureChangeCause::ExtendedReadCount, ch(64))
        .build();
    assert_eq!(
        extend_check(&env, &block, &cfg, true),
        Err(RejectReason::InvalidTenureExtend)
    );
}

#[test]
fn read_count_timer_restarts_on_read_count_extends_but_the_full_timer_does_not() {
    let mut env = extend_env();
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(400),
        None,
    );
    accepted_tenure_change(
        &mut env,
        10,
        TenureChangeCause::ExtendedReadCount,
        secs_ago(5),
        None,
    );
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::from_secs(20);
    // Full timer: from the tenure start 400 s ago, 300 s timeout: allowed.
    let full = env
        .block(CUR, 11)
        .extend(TenureChangeCause::Extended, ch(CUR))
        .build();
    assert_eq!(extend_check(&env, &full, &cfg, false), Ok(()));
    // Read-count timer: from the read-count extend 5 s ago, 20 s timeout: refused.
    let read = env
        .block(CUR, 11)
        .extend(TenureChangeCause::ExtendedReadCount, ch(CUR))
        .build();
    assert_eq!(
        extend_check(&env, &read, &cfg, false),
        Err(RejectReason::InvalidTenureExtend)
    );
}

#[test]
fn a_full_extend_restarts_the_read_count_timer() {
    let mut env = extend_env();
    accepted_tenure_change(
        &mut env,
        9,
        TenureChangeCause::BlockFound,
        secs_ago(400),
        None,
    );
    accepted_tenure_change(&mut env, 10, TenureChangeCause::Extended, secs_ago(5), None);
    let mut cfg = config();
    cfg.read_count_idle_timeout = Duration::from_secs(20);
    let read = env
        .block(CUR, 11)
        .extend(TenureChangeCause::ExtendedReadCount, ch(CUR))
        .build();
    assert_eq!(
        extend_check(&env, &read, &cfg, false),
        Err(RejectReason::InvalidTenureExtend)
    );
    cfg.read_count_idle_timeout = Duration::from_secs(2);
    assert_eq!(extend_check(&env, &read, &cfg, false), Ok(()));
}

// ---------------------------------------------------------------------------------------
// Errors, conversions, versions, tenure validity
// ---------------------------------------------------------------------------------------

#[test]
fn chainstate_errors_become_connectivity_issues_with_the_reference_texts() {
    let cases = [
        (
            SignerChainstateError::from(SignerDbError::Migration {
                to: 1,
                reason: "boom".into(),
            }),
            "Database error: ",
        ),
        (
            SignerChainstateError::from(ClientError::RequestFailure(404)),
            "Client error: ",
        ),
    ];
    for (err, prefix) in cases {
        let shown = err.to_string();
        assert_eq!(
            RejectReason::from(err),
            RejectReason::ConnectivityIssues(shown.clone())
        );
        assert!(shown.starts_with(prefix), "{shown}");
    }
    assert_eq!(
        RejectReason::from(SignerChainstateError::NoParentTenureInfo(ConsensusHash(
            [1; 20]
        ))),
        RejectReason::ConnectivityIssues(format!(
            "No information available for parent tenure '{}'",
            ConsensusHash([1; 20])
        ))
    );
    assert_eq!(
        RejectReason::from(SignerChainstateError::LocalStateMachineNotReady),
        RejectReason::ConnectivityIssues(
            "The local state machine is not ready, so no update message can be produced".into()
        )
    );
}

#[test]
fn sortition_data_needs_the_winner_key_hash_the_last_sortition_and_the_parent_tenure() {
    let miner = crate::test_support::miner_key(1);
    let info = sortition(ch(CUR), &miner, ch(BEFORE_LAST), ch(LAST));
    let data = SortitionData::try_from(info.clone()).expect("complete sortition");
    assert_eq!(data, sortition_data(CUR, LAST, BEFORE_LAST, &miner));
    let strip: [fn(&mut SortitionInfo); 3] = [
        |i| i.miner_pk_hash160 = None,
        |i| i.last_sortition_ch = None,
        |i| i.stacks_parent_ch = None,
    ];
    for strip in strip {
        let mut partial = info.clone();
        strip(&mut partial);
        assert!(matches!(
            SortitionData::try_from(partial),
            Err(ClientError::UnexpectedSortitionInfo)
        ));
    }
}

#[test]
fn only_the_activation_version_selects_the_global_state_view() {
    assert_eq!(
        SortitionStateVersion::from_protocol_version(1),
        SortitionStateVersion::V1
    );
    assert_eq!(
        SortitionStateVersion::from_protocol_version(u64::MAX - 1),
        SortitionStateVersion::V1
    );
    assert_eq!(
        SortitionStateVersion::from_protocol_version(u64::MAX),
        SortitionStateVersion::V2
    );
    assert!(!SortitionStateVersion::V1.uses_global_state());
    assert!(SortitionStateVersion::V2.uses_global_state());
}

#[test]
fn tenure_is_valid_with_a_good_parent_choice_and_no_timeout() {
    let eval = GlobalStateEvaluator::new(HashMap::new(), HashMap::new());
    let cfg = config();

    // Good parent, burn block just seen: valid.
    let mut env = Env::new();
    env.burn_block(CUR, now_secs());
    let good = SortitionState::new(
        SortitionStateVersion::V1,
        sortition_data(CUR, LAST, LAST, &env.miner),
    );
    assert!(good
        .is_tenure_valid(&env.db, &env.node, &cfg, &eval, &env.log)
        .expect("the check completes"));

    // Good parent, burn block seen 20 s ago with a 5 s timeout: timed out.
    let mut env = Env::new();
    env.burn_block(CUR, secs_ago(20));
    assert!(!good
        .is_tenure_valid(&env.db, &env.node, &cfg, &eval, &env.log)
        .expect("the check completes"));

    // Bad parent (reorgs a tenure this signer never signed): invalid.
    let mut env = Env::new();
    env.burn_block(CUR, now_secs());
    script_fork(&env, Some(1));
    let bad = SortitionState::new(SortitionStateVersion::V1, reorging_sortition(&env));
    assert!(!bad
        .is_tenure_valid(&env.db, &env.node, &cfg, &eval, &env.log)
        .expect("the check completes"));
}
