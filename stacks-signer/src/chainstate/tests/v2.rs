//! The global-state view (`chainstate/v2.rs`), dormant in the reference.
//!
//! The fixture's agreed state names the miner of tenure CUR (parent LAST) as the active
//! miner. The reference's two parent-choice timing tests of this file
//! (`check_parent_tenure_choice_reorg_timing_{ok,bad}`) exercise the shared helper and live
//! in `shared.rs`.

use std::collections::HashMap;
use std::time::Duration;

use libsigner::chain::{BitVec, MessageSignature, NakamotoBlock, StacksBlockId, TenureChangeCause};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::{
    GlobalStateEvaluator, MinerState, ReplayTransactionSet, SignerStateMachine,
};

use super::{config, globally_accepted, secs_ago, tip_at, Env, BEFORE_LAST, CUR, ELSEWHERE, LAST};
use crate::chainstate::v2::{is_timed_out, GlobalStateView};
use crate::test_support::{addr, ch, coinbase_tx, miner_key, pkh, BlockBuilder};

/// The agreed state: the fixture miner is active in tenure `tenure`, building on LAST.
fn active_miner(env: &Env, tenure: u8) -> MinerState {
    MinerState::ActiveMiner {
        current_miner_pkh: pkh(&env.miner),
        tenure_id: ch(tenure),
        parent_tenure_id: ch(LAST),
        parent_tenure_last_block: StacksBlockId([0; 32]),
        parent_tenure_last_block_height: 1,
    }
}

/// The fixture view.
fn view(env: &Env) -> GlobalStateView {
    GlobalStateView {
        signer_state: SignerStateMachine {
            burn_block: ch(CUR),
            burn_block_height: 1,
            current_miner: active_miner(env, CUR),
            active_signer_protocol_version: 0,
            tx_replay_set: ReplayTransactionSet::none(),
        },
        config: config(),
    }
}

fn check(view: &GlobalStateView, env: &mut Env, block: &NakamotoBlock) -> Result<(), RejectReason> {
    view.check_proposal(&env.node, &mut env.db, block, &env.log)
}

/// (`check_proposal_units`)
#[test]
fn block_must_come_from_the_agreed_active_miner_tenure_with_a_full_bitvec() {
    let mut env = Env::new();
    let mut view = view(&env);
    let block = env.block(ELSEWHERE, 10).build();
    assert_eq!(
        check(&view, &mut env, &block),
        Err(RejectReason::ConsensusHashMismatch {
            expected: ch(CUR),
            actual: ch(ELSEWHERE),
        })
    );
    view.signer_state.current_miner = MinerState::NoValidMiner;
    assert_eq!(
        check(&view, &mut env, &block),
        Err(RejectReason::InvalidMiner)
    );
    view.signer_state.current_miner = active_miner(&env, ELSEWHERE);
    assert_eq!(check(&view, &mut env, &block), Ok(()));

    let mut builder = env.block(ELSEWHERE, 10);
    builder.header.pox_treatment = BitVec::zeros(10).expect("10 bits fit");
    let punishing = builder.build();
    assert_eq!(
        check(&view, &mut env, &punishing),
        Err(RejectReason::InvalidBitvec)
    );
}

/// (`check_proposal_miner_pkh_mismatch`)
#[test]
fn block_signed_by_another_key_than_the_active_miners_is_a_pubkey_hash_mismatch() {
    let mut env = Env::new();
    let view = view(&env);
    let block = BlockBuilder::new(ch(CUR), 10, StacksBlockId([0; 32]), &miner_key(2)).build();
    assert_eq!(
        check(&view, &mut env, &block),
        Err(RejectReason::PubkeyHashMismatch)
    );
}

#[test]
fn key_mismatch_is_found_before_a_punishing_bitvec_unlike_the_sortition_view() {
    let mut env = Env::new();
    let view = view(&env);
    let mut builder = BlockBuilder::new(ch(CUR), 10, StacksBlockId([0; 32]), &miner_key(2));
    builder.header.pox_treatment = BitVec::zeros(10).expect("10 bits fit");
    let block = builder.build();
    assert_eq!(
        check(&view, &mut env, &block),
        Err(RejectReason::PubkeyHashMismatch)
    );
}

#[test]
fn tenure_is_checked_before_the_miner_key_is_recovered() {
    let mut env = Env::new();
    let view = view(&env);
    let mut wrong_tenure = env.block(ELSEWHERE, 10).build();
    wrong_tenure.header.miner_signature = MessageSignature::empty();
    assert!(matches!(
        check(&view, &mut env, &wrong_tenure),
        Err(RejectReason::ConsensusHashMismatch { .. })
    ));
    let mut right_tenure = env.block(CUR, 10).build();
    right_tenure.header.miner_signature = MessageSignature::empty();
    assert_eq!(
        check(&view, &mut env, &right_tenure),
        Err(RejectReason::IrrecoverablePubkeyHash)
    );
}

#[test]
fn tenure_start_is_not_judged_on_its_parent_tenure_choice() {
    let mut env = Env::new();
    let view = view(&env);
    // The block builds on BEFORE_LAST, skipping LAST; the node would not even answer the
    // fork-info question.
    env.node
        .set_tenure_tip(ch(BEFORE_LAST), tip_at(9, Some(ch(BEFORE_LAST))));
    let block = env.block(CUR, 10).tenure_start(ch(BEFORE_LAST)).build();
    assert_eq!(check(&view, &mut env, &block), Ok(()));
    assert_eq!(env.node.calls("fork_info"), 0);
}

#[test]
fn tenure_start_must_be_higher_than_the_previous_tenure_and_the_first_accepted_one() {
    let mut env = Env::new();
    let view = view(&env);
    env.node
        .set_tenure_tip(ch(LAST), tip_at(10, Some(ch(LAST))));
    let low = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    assert_eq!(
        check(&view, &mut env, &low),
        Err(RejectReason::InvalidParentBlock)
    );

    let first = env.block(CUR, 11).tenure_start(ch(LAST)).build();
    env.record(
        &first,
        globally_accepted(Some(secs_ago(100)), secs_ago(100)),
    );
    let second = env.block(CUR, 12).tenure_start(ch(LAST)).build();
    assert_eq!(
        check(&view, &mut env, &second),
        Err(RejectReason::DuplicateBlockFound)
    );
}

#[test]
fn block_no_higher_than_its_tenure_tip_is_invalid_parent_block() {
    let mut env = Env::new();
    let view = view(&env);
    env.node.set_tenure_tip(ch(CUR), tip_at(10, Some(ch(CUR))));
    let block = env.block(CUR, 10).build();
    assert_eq!(
        check(&view, &mut env, &block),
        Err(RejectReason::InvalidParentBlock)
    );
}

/// Checks an extend of tenure CUR (`cause`, naming `burn_view`) with no read-count idle time
/// required, the node reporting tenure CUR's tip at height 9 with burn view CUR, and
/// `replay` as the agreed replay set.
fn extend_proposal(
    cause: TenureChangeCause,
    burn_view: u8,
    replay: ReplayTransactionSet,
) -> (Result<(), RejectReason>, Env) {
    let mut env = Env::new();
    let mut view = view(&env);
    view.config.read_count_idle_timeout = Duration::ZERO;
    view.signer_state.tx_replay_set = replay;
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let block = env.block(CUR, 10).extend(cause, ch(burn_view)).build();
    let result = check(&view, &mut env, &block);
    (result, env)
}

/// (`check_tenure_extend_burn_view_change`)
#[test]
fn full_extend_changing_the_burn_view_is_accepted() {
    let (result, env) = extend_proposal(
        TenureChangeCause::Extended,
        64,
        ReplayTransactionSet::none(),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(env.node.calls("tenure_tip"), 2);
}

#[test]
fn full_extend_keeping_the_burn_view_before_the_idle_timeout_is_invalid_tenure_extend() {
    let (result, _) = extend_proposal(
        TenureChangeCause::Extended,
        CUR,
        ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_tenure_extend_unsupported_cause`)
#[test]
fn sip034_runtime_extend_is_invalid_tenure_extend() {
    let (result, env) = extend_proposal(
        TenureChangeCause::ExtendedRuntime,
        64,
        ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

/// (`check_tenure_extend_no_burn_change_during_read_count`: despite its name, the reference
/// test proposes a runtime extend)
#[test]
fn sip034_runtime_extend_is_refused_even_during_a_replay() {
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedRuntime,
        64,
        ReplayTransactionSet::new(vec![coinbase_tx()]),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_tenure_extend_read_count`)
#[test]
fn read_count_extend_keeping_the_burn_view_after_its_idle_time_is_accepted() {
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedReadCount,
        CUR,
        ReplayTransactionSet::none(),
    );
    assert_eq!(result, Ok(()));
    let (result, _) = extend_proposal(
        TenureChangeCause::ExtendedReadCount,
        64,
        ReplayTransactionSet::none(),
    );
    assert_eq!(result, Err(RejectReason::InvalidTenureExtend));
}

/// (`check_proposal_with_extend_during_replay`)
#[test]
fn full_extend_before_the_idle_timeout_is_accepted_while_the_agreed_state_replays() {
    let (result, _) = extend_proposal(
        TenureChangeCause::Extended,
        CUR,
        ReplayTransactionSet::new(vec![coinbase_tx()]),
    );
    assert_eq!(result, Ok(()));
}

/// (`check_sortition_timeout`)
#[test]
fn miner_times_out_from_the_time_signers_holding_70_percent_saw_its_burn_block() {
    let mut env = Env::new();
    let local = env.node.address;
    let weights = HashMap::from([(local, 10)]);
    let eval = GlobalStateEvaluator::new(HashMap::new(), weights);
    let timed_out = |env: &Env, eval: &GlobalStateEvaluator, secs: u64| {
        is_timed_out(
            &ch(CUR),
            &env.db,
            eval,
            &local,
            Duration::from_secs(secs),
            &env.log,
        )
        .expect("the check completes")
    };
    assert!(!timed_out(&env, &eval, 0), "no signer saw the burn block");

    // Only this signer saw it, 10 s ago, and it holds all the weight.
    env.burn_block(CUR, secs_ago(10));
    assert!(!timed_out(&env, &eval, 20));
    assert!(timed_out(&env, &eval, 5));

    // Without weight, this signer's own receive time agrees on nothing.
    let weightless = GlobalStateEvaluator::new(HashMap::new(), HashMap::from([(addr(2), 10)]));
    assert!(!timed_out(&env, &weightless, 5));

    // A block this signer signed over in the tenure: never timed out.
    let block = env.block(CUR, 10).build();
    env.record(&block, |info| info.signed_over = true);
    assert!(!timed_out(&env, &eval, 0));
}
