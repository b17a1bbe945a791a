//! The global state evaluator: protocol version, burn view, global state and the replay-set
//! majority prefix, with the reference's agreement threshold (`total * 7 / 10`, u32 floor).

use std::collections::HashMap;

use libsigner::chain::{
    ConsensusHash, Hash160, PrincipalData, StacksAddress, StacksBlockId, StacksPrivateKey,
    StacksPublicKey, StacksTransaction, TokenTransferMemo, TransactionAuth, TransactionPayload,
    TransactionSpendingCondition, TransactionVersion,
};
use libsigner::v0::messages::{
    StateMachineUpdate, StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use libsigner::v0::signer_state::{GlobalStateEvaluator, MinerState, ReplayTransactionSet};

fn address(n: u8) -> StacksAddress {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(&[n, 0xaa]));
    StacksAddress::p2pkh(false, &key)
}

fn miner(n: u8) -> StateMachineUpdateMinerState {
    StateMachineUpdateMinerState::ActiveMiner {
        current_miner_pkh: Hash160([n; 20]),
        tenure_id: ConsensusHash([n.wrapping_add(1); 20]),
        parent_tenure_id: ConsensusHash([n.wrapping_add(2); 20]),
        parent_tenure_last_block: StacksBlockId([n.wrapping_add(3); 32]),
        parent_tenure_last_block_height: u64::from(n),
    }
}

/// A distinct token-transfer transaction per `n`.
fn tx(n: u64) -> StacksTransaction {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"replay sender"));
    let auth = TransactionAuth::Standard(
        TransactionSpendingCondition::new_singlesig_p2pkh(key).expect("p2pkh"),
    );
    let payload = TransactionPayload::TokenTransfer(
        PrincipalData::from(address(200)),
        n,
        TokenTransferMemo([0; 34]),
    );
    StacksTransaction::new(TransactionVersion::Testnet, auth, payload)
}

fn v0_update(
    local_version: u64,
    burn: u8,
    height: u64,
    miner: StateMachineUpdateMinerState,
) -> StateMachineUpdate {
    StateMachineUpdate::new(
        0,
        local_version,
        StateMachineUpdateContent::V0 {
            burn_block: ConsensusHash([burn; 20]),
            burn_block_height: height,
            current_miner: miner,
        },
    )
    .unwrap()
}

fn v1_update(burn: u8, height: u64, replay: Vec<StacksTransaction>) -> StateMachineUpdate {
    StateMachineUpdate::new(
        1,
        1,
        StateMachineUpdateContent::V1 {
            burn_block: ConsensusHash([burn; 20]),
            burn_block_height: height,
            current_miner: miner(1),
            replay_transactions: replay,
        },
    )
    .unwrap()
}

/// Five signers of weight 10 (threshold 35), the i-th with `updates[i]`.
fn evaluator(updates: Vec<StateMachineUpdate>) -> GlobalStateEvaluator {
    let weights = (0..updates.len() as u8).map(|i| (address(i), 10)).collect();
    let updates = updates
        .into_iter()
        .enumerate()
        .map(|(i, u)| (address(i as u8), u))
        .collect();
    GlobalStateEvaluator::new(updates, weights)
}

/// The replay set agreed when signer i (weight 10) proposes `sets[i]`.
fn replay_outcome(sets: Vec<Vec<StacksTransaction>>) -> Vec<StacksTransaction> {
    let updates = sets.into_iter().map(|set| v1_update(1, 10, set)).collect();
    let mut eval = evaluator(updates);
    eval.get_global_tx_replay_set()
        .expect("the burn view and miner agree")
        .unwrap_or_default()
}

#[test]
fn agreement_is_seventy_percent_rounded_down_in_u32() {
    let eval = GlobalStateEvaluator::new(HashMap::new(), (0..5).map(|i| (address(i), 1)).collect());
    assert_eq!(eval.total_weight, 5);
    // 5 * 7 / 10 = 3: three of five (60 %) already agree.
    assert!(eval.reached_agreement(3));
    assert!(!eval.reached_agreement(2));

    let tiny = GlobalStateEvaluator::new(HashMap::new(), [(address(0), 1)].into());
    assert!(tiny.reached_agreement(0), "a total of 1 has threshold 0");
    let empty = GlobalStateEvaluator::new(HashMap::new(), HashMap::new());
    assert!(empty.reached_agreement(0));
}

#[test]
fn total_weight_saturates_and_the_threshold_wraps_like_the_release_build() {
    let eval = GlobalStateEvaluator::new(
        HashMap::new(),
        [(address(0), u32::MAX), (address(1), 5)].into(),
    );
    assert_eq!(eval.total_weight, u32::MAX);
    // u32::MAX * 7 wraps to u32::MAX - 6; divided by 10: 429_496_728.
    assert!(eval.reached_agreement(429_496_728));
    assert!(!eval.reached_agreement(429_496_727));
    // Just below the overflow the threshold is exact.
    let eval = GlobalStateEvaluator::new(HashMap::new(), [(address(0), 613_566_756)].into());
    assert!(eval.reached_agreement(429_496_729));
    assert!(!eval.reached_agreement(429_496_728));
}

#[test]
fn determine_latest_supported_signer_protocol_versions() {
    let mut eval = evaluator(
        [1, 2, 3, 4, 1]
            .into_iter()
            .map(|v| v0_update(v, 1, 10, miner(1)))
            .collect(),
    );
    // Descending: 4 (10), 3 (20), 2 (30), 1 (50 >= 35).
    assert_eq!(
        eval.determine_latest_supported_signer_protocol_version(),
        Some(1)
    );
    // The first signer moves to 3: 4 (10), 3 (30), 2 (40 >= 35).
    assert!(eval.insert_update(address(0), v0_update(3, 1, 10, miner(1))));
    assert_eq!(
        eval.determine_latest_supported_signer_protocol_version(),
        Some(2)
    );
}

#[test]
fn protocol_version_ignores_signers_without_weight() {
    let mut eval = evaluator((0..5).map(|_| v0_update(1, 1, 10, miner(1))).collect());
    eval.address_updates
        .insert(address(9), v0_update(7, 1, 10, miner(1)));
    assert_eq!(
        eval.determine_latest_supported_signer_protocol_version(),
        Some(1)
    );
    assert!(!eval.insert_update(address(10), v0_update(7, 1, 10, miner(1))));
    assert!(!eval.address_updates.contains_key(&address(10)));
}

#[test]
fn determine_global_burn_views() {
    let mut eval = evaluator((0..5).map(|_| v0_update(1, 1, 10, miner(1))).collect());
    assert_eq!(
        eval.determine_global_burn_view(),
        Some((&ConsensusHash([1; 20]), 10))
    );
    // Three of five move to a new burn block: 30 < 35 for either view.
    for i in 0..3 {
        eval.insert_update(address(i), v0_update(1, 2, 11, miner(1)));
    }
    assert_eq!(eval.determine_global_burn_view(), None);
    eval.insert_update(address(3), v0_update(1, 2, 11, miner(1)));
    assert_eq!(
        eval.determine_global_burn_view(),
        Some((&ConsensusHash([2; 20]), 11))
    );
}

#[test]
fn determine_global_states() {
    let mut eval = evaluator((0..5).map(|_| v0_update(1, 1, 10, miner(1))).collect());
    let state = eval.determine_global_state().unwrap();
    assert_eq!(state.burn_block, ConsensusHash([1; 20]));
    assert_eq!(state.burn_block_height, 10);
    assert_eq!(state.current_miner, MinerState::from(miner(1)));
    assert_eq!(state.active_signer_protocol_version, 1);
    assert!(state.tx_replay_set.is_empty());

    // A 3/5 split on the miner: no agreement.
    for i in 0..3 {
        eval.insert_update(address(i), v0_update(1, 1, 10, miner(2)));
    }
    assert_eq!(eval.determine_global_state(), None);
    eval.insert_update(address(3), v0_update(1, 1, 10, miner(2)));
    let state = eval.determine_global_state().unwrap();
    assert_eq!(state.current_miner, MinerState::from(miner(2)));

    eval.insert_update(
        address(4),
        v0_update(1, 1, 10, StateMachineUpdateMinerState::NoValidMiner),
    );
    assert_eq!(
        eval.determine_global_state().unwrap().current_miner,
        MinerState::from(miner(2))
    );
}

#[test]
fn global_state_needs_a_supported_protocol_version() {
    let eval = GlobalStateEvaluator::new(
        [(address(0), v0_update(1, 1, 10, miner(1)))].into(),
        (0..5).map(|i| (address(i), 10)).collect(),
    );
    assert_eq!(
        eval.determine_latest_supported_signer_protocol_version(),
        None
    );
    assert_eq!(eval.determine_global_state(), None);
}

#[test]
fn determine_global_states_with_tx_replay_set() {
    let mut eval = evaluator((0..5).map(|_| v0_update(1, 1, 10, miner(1))).collect());
    // V0 content to V1 content with an empty replay set: same state.
    for i in 0..5 {
        eval.insert_update(address(i), v1_update(1, 10, vec![]));
    }
    let state = eval.determine_global_state().unwrap();
    assert!(state.tx_replay_set.is_empty());

    // A burn-view disagreement (3 on a fork): no global state.
    for i in 0..3 {
        eval.insert_update(address(i), v1_update(2, 11, vec![tx(1)]));
    }
    assert_eq!(eval.determine_global_state(), None);

    // Everyone on the new view, only three with a replay set: no replay set enforced.
    for i in 3..5 {
        eval.insert_update(address(i), v1_update(2, 11, vec![]));
    }
    let state = eval.determine_global_state().unwrap();
    assert_eq!(state.burn_block, ConsensusHash([2; 20]));
    assert!(state.tx_replay_set.is_empty());

    // Four of five: the replay set is enforced.
    eval.insert_update(address(3), v1_update(2, 11, vec![tx(1)]));
    let state = eval.determine_global_state().unwrap();
    assert_eq!(state.tx_replay_set, ReplayTransactionSet::new(vec![tx(1)]));
    assert_eq!(
        eval.get_global_tx_replay_set().unwrap().clone_as_optional(),
        Some(vec![tx(1)])
    );
}

#[test]
fn test_replay_set_common_prefix_coalescing() {
    let (a, b, c) = (tx(1), tx(2), tx(3));
    let abc = vec![a.clone(), b.clone(), c];
    let ab = vec![a.clone(), b.clone()];
    assert_eq!(
        replay_outcome(vec![abc.clone(), abc, ab.clone(), ab.clone(), ab]),
        vec![a, b]
    );
}

#[test]
fn test_replay_set_majority_prefix_selection() {
    let (a, c) = (tx(1), tx(3));
    let sets = vec![
        vec![a],
        vec![c.clone()],
        vec![c.clone()],
        vec![c.clone()],
        vec![c.clone()],
    ];
    assert_eq!(replay_outcome(sets), vec![c]);
}

#[test]
fn test_replay_set_exact_agreement_prioritized() {
    let (a, b) = (tx(1), tx(2));
    let ab = vec![a.clone(), b.clone()];
    let sets = vec![ab.clone(), ab.clone(), ab.clone(), ab, vec![a.clone()]];
    assert_eq!(replay_outcome(sets), vec![a, b]);
}

#[test]
fn test_replay_set_no_agreement_returns_empty() {
    let sets = vec![vec![tx(1)], vec![tx(2)], vec![tx(3)], vec![], vec![]];
    assert_eq!(replay_outcome(sets), Vec::<StacksTransaction>::new());
}

#[test]
fn test_replay_set_order_matters_no_common_prefix() {
    let (a, b) = (tx(1), tx(2));
    let ab = vec![a.clone(), b.clone()];
    let ba = vec![b, a];
    // Four signers split 2/2, the fifth has no replay set.
    let sets = vec![ab.clone(), ab, ba.clone(), ba, vec![]];
    assert_eq!(replay_outcome(sets), Vec::<StacksTransaction>::new());
}

#[test]
fn test_replay_set_partial_prefix_match() {
    let (a, b, c, d) = (tx(1), tx(2), tx(3), tx(4));
    let abc = vec![a.clone(), b.clone(), c];
    let abd = vec![a.clone(), b.clone(), d];
    let sets = vec![abc.clone(), abc, abd.clone(), abd.clone(), abd];
    assert_eq!(replay_outcome(sets), vec![a, b]);
}

#[test]
fn test_replay_set_equal_weight_competing_prefixes() {
    // Six signers of weight 10 (threshold 42): [A,B]×3 and [A,C]×3 share only [A].
    let (a, b, c) = (tx(1), tx(2), tx(3));
    let ab = vec![a.clone(), b];
    let ac = vec![a.clone(), c];
    let sets = vec![ab.clone(), ab.clone(), ab, ac.clone(), ac.clone(), ac];
    assert_eq!(replay_outcome(sets), vec![a]);
}

#[test]
fn outcome_is_the_same_whatever_the_insertion_order() {
    // With a total weight of 1 the threshold is 0 and several views "agree"; the answer
    // must not depend on hash order.
    let build = |order: &[u8]| {
        let mut eval = GlobalStateEvaluator::new(
            HashMap::new(),
            order
                .iter()
                .map(|i| (address(*i), 0))
                .chain([(address(9), 1)])
                .collect(),
        );
        for i in order {
            eval.insert_update(address(*i), v0_update(1, *i, 10, miner(*i)));
        }
        eval.insert_update(address(9), v0_update(1, 9, 10, miner(9)));
        eval.determine_global_state()
    };
    let first = build(&[0, 1, 2, 3]);
    assert!(first.is_some());
    for order in [[3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
        assert_eq!(build(&order), first);
    }
}
