//! The sortition view (`chainstate/v1.rs`): the live path's proposal checks.
//!
//! The fixture view is the reference's: the current sortition is tenure CUR (prior and parent
//! LAST), the last one is tenure LAST (prior and parent BEFORE_LAST), both won by the same
//! miner, with both miners valid.

use std::time::Duration;

use libsigner::chain::{BitVec, MessageSignature, NakamotoBlock, TenureChangeCause};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::ReplayTransactionSet;

use super::{
    config, fork_entry, globally_accepted, locally_accepted, secs_ago, sortition_data, tip_at, Env,
    BEFORE_LAST, CUR, ELSEWHERE, LAST,
};
use crate::chainstate::v1::{is_timed_out, SortitionMinerStatus, SortitionState, SortitionsView};
use crate::client::ClientError;
use crate::clock::now_secs;
use crate::test_support::{ch, coinbase_tx, miner_key, sortition, BlockBuilder};

/// The fixture view.
fn view(env: &Env) -> SortitionsView {
    SortitionsView {
        cur_sortition: SortitionState {
            data: sortition_data(CUR, LAST, LAST, &env.miner),
            miner_status: SortitionMinerStatus::Valid,
        },
        last_sortition: Some(SortitionState {
            data: sortition_data(LAST, BEFORE_LAST, BEFORE_LAST, &env.miner),
            miner_status: SortitionMinerStatus::Valid,
        }),
        config: config(),
    }
}

/// Checks `block` against `view` with no replay set.
fn check(
    view: &mut SortitionsView,
    env: &mut Env,
    block: &NakamotoBlock,
    reset: bool,
) -> Result<(), RejectReason> {
    check_with_replay(view, env, block, reset, &ReplayTransactionSet::none())
}

fn check_with_replay(
    view: &mut SortitionsView,
    env: &mut Env,
    block: &NakamotoBlock,
    reset: bool,
    replay: &ReplayTransactionSet,
) -> Result<(), RejectReason> {
    view.check_proposal(&env.node, &mut env.db, block, reset, replay, &env.log)
}

// ---------------------------------------------------------------------------------------
// The reference's 14 tests
// ---------------------------------------------------------------------------------------

/// (`check_proposal_units`)
#[test]
fn block_of_neither_sortition_is_a_view_mismatch_when_no_reset_is_allowed() {
    let mut env = Env::new();
    let mut view = view(&env);
    let block = env.block(ELSEWHERE, 10).build();
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::SortitionViewMismatch)
    );
    view.last_sortition = None;
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::SortitionViewMismatch)
    );
    assert_eq!(env.node.calls("sortitions"), 0);
}

/// (`check_proposal_miner_pkh_mismatch`)
#[test]
fn block_signed_by_a_key_other_than_the_winners_is_a_pubkey_hash_mismatch() {
    let mut env = Env::new();
    let mut view = view(&env);
    let intruder = miner_key(2);
    for tenure in [CUR, LAST] {
        let block = BlockBuilder::new(
            ch(tenure),
            10,
            libsigner::chain::StacksBlockId([0; 32]),
            &intruder,
        )
        .build();
        // For the last miner's tenure this comes before "the current miner is still valid".
        assert_eq!(
            check(&mut view, &mut env, &block, false),
            Err(RejectReason::PubkeyHashMismatch),
            "tenure {tenure}"
        );
    }
}

/// The reorg fixture: the current miner (tenure CUR) builds on BEFORE_LAST, skipping tenure
/// LAST, whose only block this signer signed `gap` seconds before it saw CUR's burn block.
/// The proposal is CUR's tenure-start block at height 10, above BEFORE_LAST's tip (9).
fn reorg_proposal(gap: u64) -> (Result<(), RejectReason>, Env) {
    let mut env = Env::new();
    let mut view = view(&env);
    view.cur_sortition.data.parent_tenure_id = ch(BEFORE_LAST);
    let now = now_secs();
    let last_block = env.block(LAST, 10).build();
    env.record(&last_block, locally_accepted(now - gap));
    env.burn_block(CUR, now);
    env.node
        .set_tenure_tip(ch(BEFORE_LAST), tip_at(9, Some(ch(BEFORE_LAST))));
    env.node.fork_info.borrow_mut().insert(
        (ch(BEFORE_LAST), ch(LAST)),
        vec![fork_entry(LAST, Some(1)), fork_entry(BEFORE_LAST, Some(2))],
    );
    let block = env.block(CUR, 10).tenure_start(ch(BEFORE_LAST)).build();
    let result = check(&mut view, &mut env, &block, false);
    (result, env)
}

/// (`check_proposal_reorg_timing_bad`)
#[test]
fn tenure_start_reorging_a_tenure_signed_well_before_the_sortition_is_reorg_not_allowed() {
    let (result, env) = reorg_proposal(31);
    assert_eq!(result, Err(RejectReason::ReorgNotAllowed));
    assert_eq!(env.node.calls("tenure_tip"), 1);
    assert_eq!(env.node.calls("fork_info"), 1);
}

/// (`check_proposal_reorg_timing_ok`)
#[test]
fn tenure_start_reorging_a_tenure_signed_just_before_the_sortition_is_accepted() {
    let (result, env) = reorg_proposal(29);
    assert_eq!(result, Ok(()));
    assert_eq!(env.node.calls("fork_info"), 1);
}

/// (`check_proposal_invalid_status`)
#[test]
fn miner_status_decides_whether_the_current_or_the_last_miner_may_propose() {
    let mut env = Env::new();
    let mut view = view(&env);
    let current = env.block(CUR, 10).build();
    let last = env.block(LAST, 10).build();
    assert_eq!(check(&mut view, &mut env, &current, false), Ok(()));

    view.cur_sortition.miner_status = SortitionMinerStatus::InvalidatedAfterFirstBlock;
    assert_eq!(
        check(&mut view, &mut env, &current, false),
        Err(RejectReason::InvalidMiner)
    );
    assert_eq!(
        check(&mut view, &mut env, &last, false),
        Err(RejectReason::NotLatestSortitionWinner)
    );

    // Invalidated before its first block: the last miner may continue, even with a block
    // that carries no tenure change (the node judges its parent).
    view.cur_sortition.miner_status = SortitionMinerStatus::InvalidatedBeforeFirstBlock;
    assert_eq!(check(&mut view, &mut env, &last, false), Ok(()));
    assert_eq!(
        check(&mut view, &mut env, &current, false),
        Err(RejectReason::InvalidMiner)
    );
}

/// Checks an extend block of tenure CUR (`cause`, naming `burn_view`) against the fixture
/// view, with the node reporting tenure CUR's tip at height 9 with burn view CUR.
fn extend_proposal(
    cause: TenureChangeCause,
    burn_view: u8,
    read_count_idle_timeout: Option<Duration>,
    replay: &ReplayTransactionSet,
) -> (Result<(), RejectReason>, Env) {
    let mut env = Env::new();
    let mut view = view(&env);
    if let Some(timeout) = read_count_idle_timeout {
        view.config.read_count_idle_timeout = timeout;
    }
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let block = env.block(CUR, 10).extend(cause, ch(burn_view)).build();
    let result = check_with_replay(&mut view, &mut env, &block, false, replay);
    (result, env)
}

/// (`check_tenure_extend_invalid_conditions`)
#[test]
fn full_extend_keeping_the_burn_view_before_the_idle_timeout_is_invalid_tenure_extend() {
    let (result, env) = extend_proposal(
        TenureChangeCause::Extended,
        CUR,
        None,
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
    // Once for "is the block higher", once for the burn view.
    assert_eq!(env.node.calls("tenure_tip"), 2);
}

/// (`check_tenure_extend_burn_view_change`)
#[test]
fn full_extend_changing_the_burn_view_is_accepted() {
    let (result, _) = extend_proposal(
        TenureChangeCause::Extended,
        64,
        None,
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Ok(()));
}

/// (`check_tenure_extend_unsupported_cause`)
#[test]
fn sip034_runtime_extend_is_invalid_tenure_extend() {
    let (result, env) = extend_proposal(
        TenureChangeCause::ExtendedRuntime,
        64,
        None,
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
    // Only the parent check asked for the tip: the cause is refused before the burn view.
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

/// (`check_tenure_extend_no_burn_change_during_read_count`: despite its name, the reference
/// test proposes a runtime extend)
#[test]
fn sip034_runtime_extend_is_refused_even_when_no_read_count_idle_time_is_required() {
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedRuntime,
        64,
        Some(Duration::ZERO),
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_tenure_extend_read_count`)
#[test]
fn read_count_extend_keeping_the_burn_view_after_its_idle_time_is_accepted() {
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedReadCount,
        CUR,
        Some(Duration::ZERO),
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Ok(()));
    // The burn view may not change in a read-count extend.
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedReadCount,
        64,
        Some(Duration::ZERO),
        &ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_proposal_with_extend_during_replay`)
#[test]
fn full_extend_before_the_idle_timeout_is_accepted_during_a_replay() {
    let replay = ReplayTransactionSet::new(vec![coinbase_tx()]);
    let (result, _) = extend_proposal(TenureChangeCause::Extended, CUR, None, &replay);
    assert_eq!(result, Ok(()));
}

/// (`check_block_proposal_timeout`)
#[test]
fn silent_current_miner_times_out_and_hands_over_to_the_last_miner() {
    let mut env = Env::new();
    let mut view = view(&env);
    let current = env.block(CUR, 10).build();
    let last = env.block(LAST, 10).build();

    // CUR's burn block just arrived: its miner is within the 5 s timeout.
    env.burn_block(CUR, now_secs());
    assert_eq!(check(&mut view, &mut env, &current, false), Ok(()));
    assert_eq!(
        check(&mut view, &mut env, &last, false),
        Err(RejectReason::NotLatestSortitionWinner)
    );

    // The burn block arrived 10 s ago and the miner proposed nothing since.
    env.burn_block(CUR, secs_ago(10));
    assert_eq!(
        check(&mut view, &mut env, &current, false),
        Err(RejectReason::InvalidMiner)
    );
    assert_eq!(
        view.cur_sortition.miner_status,
        SortitionMinerStatus::InvalidatedBeforeFirstBlock
    );
    assert_eq!(check(&mut view, &mut env, &last, false), Ok(()));
}

/// (`check_sortition_timeout`)
#[test]
fn miner_times_out_strictly_after_the_timeout_unless_this_signer_signed_in_its_tenure() {
    let mut env = Env::new();
    let timed_out = |env: &Env, secs: u64| {
        is_timed_out(&ch(CUR), &env.db, Duration::from_secs(secs), &env.log)
            .expect("the check completes")
    };
    // A tenure whose burn block this signer never saw never times out.
    assert!(!timed_out(&env, 0));

    env.burn_block(CUR, secs_ago(10));
    assert!(!timed_out(&env, 20));
    assert!(timed_out(&env, 5));

    // Activity after the burn block restarts the clock.
    env.db
        .update_last_activity_time(&ch(CUR), secs_ago(1))
        .expect("stored");
    assert!(!timed_out(&env, 5));
    env.db
        .update_last_activity_time(&ch(CUR), secs_ago(10))
        .expect("stored");
    assert!(timed_out(&env, 5));

    // A block this signer signed over in the tenure: never timed out.
    let block = env.block(CUR, 10).build();
    env.record(&block, |info| info.signed_over = true);
    assert!(!timed_out(&env, 0));
}

/// (`check_proposal_refresh`)
#[test]
fn block_of_an_unknown_tenure_refreshes_the_view_once_and_is_checked_again() {
    let mut env = Env::new();
    let mut view = view(&env);
    let block = env.block(CUR, 10).build();
    assert_eq!(check(&mut view, &mut env, &block, false), Ok(()));

    // The view is stale: it names another tenure as current.
    view.cur_sortition.data.consensus_hash = ch(BEFORE_LAST);
    env.node.set_sortitions(
        sortition(ch(CUR), &env.miner, ch(LAST), ch(LAST)),
        Some(sortition(
            ch(LAST),
            &env.miner,
            ch(BEFORE_LAST),
            ch(BEFORE_LAST),
        )),
    );
    assert_eq!(check(&mut view, &mut env, &block, true), Ok(()));
    assert_eq!(env.node.calls("sortitions"), 1);
    assert_eq!(view.cur_sortition.data.consensus_hash, ch(CUR));
}

// ---------------------------------------------------------------------------------------
// Order of the checks
// ---------------------------------------------------------------------------------------

#[test]
fn punishing_bitvec_is_found_before_the_key_and_the_tenure_are_looked_at() {
    let mut env = Env::new();
    let mut view = view(&env);
    let mut builder = BlockBuilder::new(
        ch(ELSEWHERE),
        10,
        libsigner::chain::StacksBlockId([0; 32]),
        &miner_key(2),
    );
    let mut bits = BitVec::ones(10).expect("10 bits fit");
    bits.set(3, false).expect("in range");
    builder.header.pox_treatment = bits;
    let block = builder.build();
    assert_eq!(
        check(&mut view, &mut env, &block, true),
        Err(RejectReason::InvalidBitvec)
    );
    assert_eq!(env.node.calls("sortitions"), 0);
}

#[test]
fn block_whose_miner_key_cannot_be_recovered_is_irrecoverable_pubkey_hash() {
    let mut env = Env::new();
    let mut view = view(&env);
    let mut block = env.block(CUR, 10).build();
    block.header.miner_signature = MessageSignature::empty();
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::IrrecoverablePubkeyHash)
    );
}

/// The current miner builds on BEFORE_LAST while this signer's canonical tip is LAST's
/// block (globally accepted, signed 100 s before CUR's burn block): a refused reorg.
fn canonical_tip_reorg_env() -> (SortitionsView, Env) {
    let mut env = Env::new();
    let mut view = view(&env);
    view.cur_sortition.data.parent_tenure_id = ch(BEFORE_LAST);
    let tip_block = env.block(LAST, 10).build();
    env.record(
        &tip_block,
        globally_accepted(Some(secs_ago(100)), secs_ago(100)),
    );
    env.burn_block(CUR, now_secs());
    env.node.fork_info.borrow_mut().insert(
        (ch(BEFORE_LAST), ch(LAST)),
        vec![fork_entry(LAST, Some(1)), fork_entry(BEFORE_LAST, Some(2))],
    );
    (view, env)
}

#[test]
fn current_miner_reorging_the_canonical_tip_is_reorg_not_allowed_and_invalidated() {
    let (mut view, mut env) = canonical_tip_reorg_env();
    let current = env.block(CUR, 11).build();
    assert_eq!(
        check(&mut view, &mut env, &current, false),
        Err(RejectReason::ReorgNotAllowed)
    );
    assert_eq!(
        view.cur_sortition.miner_status,
        SortitionMinerStatus::InvalidatedBeforeFirstBlock
    );
    // The last miner may now continue; the parent choice is judged again on every proposal.
    let last = env.block(LAST, 11).build();
    assert_eq!(check(&mut view, &mut env, &last, false), Ok(()));
    assert_eq!(env.node.calls("fork_info"), 2);
}

#[test]
fn canonical_tip_in_the_current_tenure_or_its_parent_needs_no_parent_choice_check() {
    for tip_tenure in [CUR, LAST] {
        let mut env = Env::new();
        let mut view = view(&env);
        let tip_block = env.block(tip_tenure, 9).build();
        env.record(
            &tip_block,
            globally_accepted(Some(secs_ago(100)), secs_ago(100)),
        );
        let block = env.block(CUR, 10).build();
        assert_eq!(check(&mut view, &mut env, &block, false), Ok(()));
        assert_eq!(env.node.calls("fork_info"), 0, "tip in tenure {tip_tenure}");
    }
}

#[test]
fn timed_out_current_miner_is_not_judged_on_its_parent_choice() {
    let (mut view, mut env) = canonical_tip_reorg_env();
    env.burn_block(CUR, secs_ago(20));
    let last = env.block(LAST, 11).build();
    assert_eq!(check(&mut view, &mut env, &last, false), Ok(()));
    assert_eq!(env.node.calls("fork_info"), 0);
}

#[test]
fn timed_out_last_miner_may_still_propose_once_the_current_miner_is_invalid() {
    let mut env = Env::new();
    let mut view = view(&env);
    env.burn_block(CUR, secs_ago(20));
    env.burn_block(LAST, secs_ago(20));
    let last = env.block(LAST, 10).build();
    assert_eq!(check(&mut view, &mut env, &last, false), Ok(()));
    let last_state = view.last_sortition.as_ref().expect("kept");
    assert_eq!(
        last_state.miner_status,
        SortitionMinerStatus::InvalidatedBeforeFirstBlock
    );
}

#[test]
fn block_no_higher_than_its_tenure_tip_is_invalid_parent_block() {
    let mut env = Env::new();
    let mut view = view(&env);
    env.node.set_tenure_tip(ch(CUR), tip_at(10, Some(ch(CUR))));
    let block = env.block(CUR, 10).build();
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::InvalidParentBlock)
    );
}

#[test]
fn tenure_start_no_higher_than_the_previous_tenure_tip_is_invalid_parent_block() {
    let mut env = Env::new();
    let mut view = view(&env);
    view.cur_sortition.data.parent_tenure_id = ch(BEFORE_LAST);
    env.node
        .set_tenure_tip(ch(LAST), tip_at(10, Some(ch(LAST))));
    let block = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::InvalidParentBlock)
    );
    // The parent choice is judged only after the parent block.
    assert_eq!(env.node.calls("fork_info"), 0);
}

#[test]
fn second_tenure_start_of_a_tenure_with_an_accepted_block_is_duplicate_block_found() {
    let mut env = Env::new();
    let mut view = view(&env);
    let first = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    env.record(
        &first,
        globally_accepted(Some(secs_ago(100)), secs_ago(100)),
    );
    env.node.set_tenure_tip(ch(LAST), tip_at(9, Some(ch(LAST))));
    let second = env.block(CUR, 11).tenure_start(ch(LAST)).build();
    assert_eq!(
        check(&mut view, &mut env, &second, false),
        Err(RejectReason::DuplicateBlockFound)
    );
}

// ---------------------------------------------------------------------------------------
// Fetching and resetting the view
// ---------------------------------------------------------------------------------------

#[test]
fn refreshed_view_that_still_lacks_the_tenure_is_a_view_mismatch_after_one_fetch() {
    let mut env = Env::new();
    let mut view = view(&env);
    env.node.set_sortitions(
        sortition(ch(CUR), &env.miner, ch(LAST), ch(LAST)),
        Some(sortition(
            ch(LAST),
            &env.miner,
            ch(BEFORE_LAST),
            ch(BEFORE_LAST),
        )),
    );
    let block = env.block(ELSEWHERE, 10).build();
    assert_eq!(
        check(&mut view, &mut env, &block, true),
        Err(RejectReason::SortitionViewMismatch)
    );
    assert_eq!(env.node.calls("sortitions"), 1);
}

#[test]
fn refresh_the_node_cannot_answer_is_a_client_connectivity_issue() {
    let mut env = Env::new();
    let mut view = view(&env);
    let block = env.block(ELSEWHERE, 10).build();
    let Err(RejectReason::ConnectivityIssues(text)) = check(&mut view, &mut env, &block, true)
    else {
        panic!("an unreachable node is a connectivity issue");
    };
    assert!(text.starts_with("Client error: "), "{text}");
}

#[test]
fn refresh_makes_every_miner_valid_again() {
    let mut env = Env::new();
    let mut view = view(&env);
    view.cur_sortition.miner_status = SortitionMinerStatus::InvalidatedBeforeFirstBlock;
    env.node.set_sortitions(
        sortition(ch(ELSEWHERE), &env.miner, ch(CUR), ch(CUR)),
        Some(sortition(ch(CUR), &env.miner, ch(LAST), ch(LAST))),
    );
    let block = env.block(ELSEWHERE, 10).build();
    assert_eq!(check(&mut view, &mut env, &block, true), Ok(()));
    assert_eq!(view.cur_sortition.miner_status, SortitionMinerStatus::Valid);
    let last = view.last_sortition.as_ref().expect("the node named one");
    assert_eq!(last.data.consensus_hash, ch(CUR));
    assert_eq!(last.miner_status, SortitionMinerStatus::Valid);
}

#[test]
fn last_sortition_that_cannot_be_read_is_dropped_from_the_view() {
    let env = Env::new();
    let mut unreadable = sortition(ch(LAST), &env.miner, ch(BEFORE_LAST), ch(BEFORE_LAST));
    unreadable.miner_pk_hash160 = None;
    env.node.set_sortitions(
        sortition(ch(CUR), &env.miner, ch(LAST), ch(LAST)),
        Some(unreadable),
    );
    let mut view = SortitionsView::fetch_view(config(), &env.node).expect("current is readable");
    assert_eq!(view.last_sortition, None);
    assert_eq!(view.cur_sortition.data.consensus_hash, ch(CUR));

    // The last miner's blocks then match no sortition.
    let mut env = env;
    let block = env.block(LAST, 10).build();
    assert_eq!(
        check(&mut view, &mut env, &block, false),
        Err(RejectReason::SortitionViewMismatch)
    );
}

#[test]
fn current_sortition_that_cannot_be_read_fails_the_fetch() {
    let env = Env::new();
    let mut unreadable = sortition(ch(CUR), &env.miner, ch(LAST), ch(LAST));
    unreadable.stacks_parent_ch = None;
    env.node.set_sortitions(unreadable, None);
    assert!(matches!(
        SortitionsView::fetch_view(config(), &env.node),
        Err(ClientError::UnexpectedSortitionInfo)
    ));
}
