//! Burn blocks, peers' state-machine updates and when the signer set saw a burn block.

mod signerdb_support;

use std::collections::HashMap;

use libsigner::chain::{BurnchainHeaderHash, ConsensusHash, Hash160, StacksBlockId};
use libsigner::v0::messages::{
    StateMachineUpdate, StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use libsigner::v0::signer_state::GlobalStateEvaluator;
use signerdb_support::*;
use stacks_signer::signerdb::{BurnBlockInfo, SignerDbError};

fn update_v0(burn_block: ConsensusHash, height: u64, active_miner: bool) -> StateMachineUpdate {
    let current_miner = if active_miner {
        StateMachineUpdateMinerState::ActiveMiner {
            current_miner_pkh: Hash160::from([0xab; 20]),
            tenure_id: ConsensusHash::from([0x44; 20]),
            parent_tenure_id: ConsensusHash::from([0x22; 20]),
            parent_tenure_last_block: StacksBlockId::from([0x33; 32]),
            parent_tenure_last_block_height: 1,
        }
    } else {
        StateMachineUpdateMinerState::NoValidMiner
    };
    StateMachineUpdate::new(
        0,
        3,
        StateMachineUpdateContent::V0 {
            burn_block,
            burn_block_height: height,
            current_miner,
        },
    )
    .unwrap()
}

#[test]
fn burn_blocks_are_found_by_hash_and_consensus_hash_with_whole_second_times() {
    let (_dir, _path, mut db) = temp_db();
    let hash = BurnchainHeaderHash::from([1; 32]);
    let parent = BurnchainHeaderHash::from([2; 32]);
    let ch = ConsensusHash::from([3; 20]);
    let received = at(1_700_000_000) + std::time::Duration::from_millis(999);
    assert_eq!(db.get_burn_block_receive_time(&hash).unwrap(), None);
    db.insert_burn_block(&hash, &ch, 812_345, &received, &parent)
        .unwrap();
    assert_eq!(
        db.get_burn_block_receive_time(&hash).unwrap(),
        Some(1_700_000_000)
    );
    assert_eq!(
        db.get_burn_block_receive_time_ch(&ch).unwrap(),
        Some(1_700_000_000)
    );
    let expected = BurnBlockInfo {
        block_hash: hash,
        block_height: 812_345,
        consensus_hash: ch,
        parent_burn_block_hash: parent,
    };
    assert_eq!(db.get_burn_block_by_hash(&hash).unwrap(), expected);
    assert_eq!(db.get_burn_block_by_ch(&ch).unwrap(), expected);
    let missing = db
        .get_burn_block_by_ch(&ConsensusHash::from([9; 20]))
        .unwrap_err();
    assert!(matches!(missing, SignerDbError::NotFound(_)), "{missing:?}");
    assert!(matches!(
        db.get_burn_block_by_hash(&BurnchainHeaderHash::from([9; 32])),
        Err(SignerDbError::NotFound(_))
    ));
}

#[test]
fn a_burn_block_reinserted_under_the_same_consensus_hash_replaces_the_old_record() {
    let (_dir, _path, mut db) = temp_db();
    let ch = ConsensusHash::from([3; 20]);
    let old = BurnchainHeaderHash::from([1; 32]);
    let new = BurnchainHeaderHash::from([4; 32]);
    let parent = BurnchainHeaderHash::from([2; 32]);
    db.insert_burn_block(&old, &ch, 10, &at(100), &parent)
        .unwrap();
    db.insert_burn_block(&new, &ch, 11, &at(200), &parent)
        .unwrap();
    assert_eq!(db.get_burn_block_by_ch(&ch).unwrap().block_hash, new);
    assert_eq!(db.get_burn_block_by_ch(&ch).unwrap().block_height, 11);
    assert_eq!(db.get_burn_block_receive_time(&old).unwrap(), None);
}

#[test]
fn times_before_the_epoch_are_refused() {
    let (_dir, _path, mut db) = temp_db();
    let before = std::time::UNIX_EPOCH - std::time::Duration::from_secs(1);
    let err = db
        .insert_burn_block(
            &BurnchainHeaderHash::from([1; 32]),
            &ConsensusHash::from([1; 20]),
            1,
            &before,
            &BurnchainHeaderHash::from([0; 32]),
        )
        .unwrap_err();
    assert!(matches!(err, SignerDbError::BadSystemTime(_)), "{err:?}");
}

#[test]
fn the_latest_update_per_signer_and_cycle_is_kept() {
    let (_dir, _path, mut db) = temp_db();
    let (a, b) = (addr(1), addr(2));
    let u1 = update_v0(ConsensusHash::from([1; 20]), 100, true);
    let u2 = update_v0(ConsensusHash::from([2; 20]), 101, false);
    let u3 = update_v0(ConsensusHash::from([3; 20]), 102, true);
    assert!(db.get_signer_state_machine_updates(1).unwrap().is_empty());
    db.insert_state_machine_update(1, &a, &u1, &at(10)).unwrap();
    db.insert_state_machine_update(1, &b, &u2, &at(11)).unwrap();
    db.insert_state_machine_update(2, &a, &u2, &at(12)).unwrap();
    let cycle1 = db.get_signer_state_machine_updates(1).unwrap();
    assert_eq!(cycle1, HashMap::from([(a, u1.clone()), (b, u2.clone())]));
    db.insert_state_machine_update(1, &a, &u3, &at(13)).unwrap();
    let cycle1 = db.get_signer_state_machine_updates(1).unwrap();
    assert_eq!(cycle1, HashMap::from([(a, u3), (b, u2.clone())]));
    assert_eq!(
        db.get_signer_state_machine_updates(2).unwrap(),
        HashMap::from([(a, u2)])
    );
    db.clear_state_machine_updates().unwrap();
    assert!(db.get_signer_state_machine_updates(1).unwrap().is_empty());
}

#[test]
fn the_signer_set_saw_a_burn_block_when_agreeing_weight_had_reported_it() {
    let (_dir, _path, mut db) = temp_db();
    let local = addr(0);
    let (a1, a2, a3) = (addr(1), addr(2), addr(3));
    let bb1 = ConsensusHash::from([0x55; 20]);
    let bb2 = ConsensusHash::from([0x66; 20]);
    let weights = HashMap::from([(local, 10), (a1, 10), (a2, 10), (a3, 10)]);
    let eval = GlobalStateEvaluator::new(HashMap::new(), weights);
    assert_eq!(
        db.get_burn_block_received_time_from_signers(&eval, &bb1, &local)
            .unwrap(),
        None
    );
    db.insert_state_machine_update(1, &a1, &update_v0(bb1, 100, true), &at(1000))
        .unwrap();
    db.insert_state_machine_update(1, &a2, &update_v0(bb1, 100, false), &at(1005))
        .unwrap();
    db.insert_state_machine_update(1, &a3, &update_v0(bb2, 101, false), &at(1001))
        .unwrap();
    // 20 of 40 reported bb1: below 28.
    assert_eq!(
        db.get_burn_block_received_time_from_signers(&eval, &bb1, &local)
            .unwrap(),
        None
    );
    // The local signer sees it 30 s later: 30 >= 28 at that time.
    db.insert_burn_block(
        &BurnchainHeaderHash::from([10; 32]),
        &bb1,
        101,
        &at(1030),
        &BurnchainHeaderHash::from([11; 32]),
    )
    .unwrap();
    assert_eq!(
        db.get_burn_block_received_time_from_signers(&eval, &bb1, &local)
            .unwrap(),
        Some(1030)
    );
    assert_eq!(
        db.get_burn_block_received_time_from_signers(&eval, &bb2, &local)
            .unwrap(),
        None
    );
}

#[test]
fn only_the_first_report_of_a_burn_block_by_a_signer_counts() {
    let (_dir, _path, mut db) = temp_db();
    let local = addr(0);
    let (a1, a2) = (addr(1), addr(2));
    let bb = ConsensusHash::from([0x77; 20]);
    let weights = HashMap::from([(a1, 50), (a2, 50)]);
    db.insert_state_machine_update(1, &a1, &update_v0(bb, 5, true), &at(100))
        .unwrap();
    // A later update about the same burn block does not move a1's report time.
    db.insert_state_machine_update(1, &a1, &update_v0(bb, 5, false), &at(500))
        .unwrap();
    db.insert_state_machine_update(1, &a2, &update_v0(bb, 5, true), &at(200))
        .unwrap();
    let at_least = |threshold: u32| move |w: u32| w >= threshold;
    assert_eq!(
        db.get_burn_block_received_time_from_signers_weighted(&weights, at_least(50), &bb, &local)
            .unwrap(),
        Some(100)
    );
    assert_eq!(
        db.get_burn_block_received_time_from_signers_weighted(&weights, at_least(100), &bb, &local)
            .unwrap(),
        Some(200)
    );
    // Unknown addresses weigh nothing.
    assert_eq!(
        db.get_burn_block_received_time_from_signers_weighted(
            &HashMap::new(),
            at_least(1),
            &bb,
            &local
        )
        .unwrap(),
        None
    );
}
