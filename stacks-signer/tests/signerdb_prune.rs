//! Bounded storage: pruning data older than a reward cycle / burn height horizon.

mod signerdb_support;

use libsigner::chain::{BurnchainHeaderHash, ConsensusHash, MessageSignature};
use libsigner::v0::messages::{
    RejectReason, StateMachineUpdate, StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use signerdb_support::*;
use std::time::Duration;

use stacks_signer::signerdb::{
    BlockState, ConflictPolicy, OwnVote, PruneHorizon, PruneStats, VoteContext, VoteRecord,
    VoteRefusal,
};

fn update(burn_block: ConsensusHash) -> StateMachineUpdate {
    StateMachineUpdate::new(
        0,
        0,
        StateMachineUpdateContent::V0 {
            burn_block,
            burn_block_height: 1,
            current_miner: StateMachineUpdateMinerState::NoValidMiner,
        },
    )
    .unwrap()
}

#[test]
fn pruning_drops_old_cycles_and_burn_blocks_with_everything_attached() {
    let (_dir, _path, mut db) = temp_db();
    // Cycle 40: an old globally accepted block (the canonical tip, kept) and an old
    // rejected one with votes (dropped). Cycle 42: current.
    let mut tip = info(block(1, 10, 1));
    tip.reward_cycle = 40;
    tip.state = BlockState::GloballyAccepted;
    let mut old = info(block(1, 9, 2));
    old.reward_cycle = 40;
    let current = info(block(2, 8, 3));
    for b in [&tip, &old, &current] {
        db.insert_block(b).unwrap();
    }
    let (ho, hc) = (old.signer_signature_hash(), current.signer_signature_hash());
    for h in [&ho, &hc] {
        db.add_block_signature(h, &addr(1), &MessageSignature([1; 65]))
            .unwrap();
        db.add_block_rejection_signer_addr(h, &addr(2), &RejectReason::InvalidMiner)
            .unwrap();
        db.add_block_pre_commit(h, &addr(3)).unwrap();
        db.insert_block_validated_by_replay_tx(h, 1, false).unwrap();
    }
    db.insert_pending_block_validation(&ho, 1).unwrap();
    db.insert_pending_block_validation(&hc, 2).unwrap();
    // Burn blocks at heights 100 (old) and 200 (kept), their tenures and reports.
    let (old_ch, new_ch) = (ConsensusHash::from([1; 20]), ConsensusHash::from([2; 20]));
    let parent = BurnchainHeaderHash::from([0; 32]);
    db.insert_burn_block(
        &BurnchainHeaderHash::from([1; 32]),
        &old_ch,
        100,
        &at(1000),
        &parent,
    )
    .unwrap();
    db.insert_burn_block(
        &BurnchainHeaderHash::from([2; 32]),
        &new_ch,
        200,
        &at(2000),
        &parent,
    )
    .unwrap();
    db.update_last_activity_time(&old_ch, 1001).unwrap();
    db.update_last_activity_time(&new_ch, 2001).unwrap();
    db.insert_state_machine_update(40, &addr(4), &update(old_ch), &at(1002))
        .unwrap();
    db.insert_state_machine_update(42, &addr(4), &update(new_ch), &at(2002))
        .unwrap();
    // A report about a burn block nobody has seen, older than every kept burn block.
    let stale_ch = ConsensusHash::from([3; 20]);
    db.insert_state_machine_update(41, &addr(5), &update(stale_ch), &at(500))
        .unwrap();

    let stats = db
        .prune(PruneHorizon {
            min_reward_cycle: 42,
            min_burn_height: 150,
        })
        .unwrap();
    assert_eq!(
        stats,
        PruneStats {
            blocks: 1,
            votes: 3,
            validations: 2,
            burn_blocks: 1,
            peer_state: 5
        }
    );
    assert_eq!(db.block_lookup(&ho).unwrap(), None);
    assert_eq!(db.get_canonical_tip().unwrap(), Some(tip));
    assert_eq!(db.block_lookup(&hc).unwrap(), Some(current));
    assert!(db.get_block_signatures(&ho).unwrap().is_empty());
    assert!(db.get_block_pre_committers(&ho).unwrap().is_empty());
    assert_eq!(db.get_block_signatures(&hc).unwrap().len(), 1);
    assert_eq!(db.get_block_rejection_signer_addrs(&hc).unwrap().len(), 1);
    assert!(db.get_block_rejection_signer_addrs(&ho).unwrap().is_empty());
    assert_eq!(db.get_block_pre_committers(&hc).unwrap(), vec![addr(3)]);
    assert!(!db.has_pending_block_validation(&ho).unwrap());
    assert!(db.has_pending_block_validation(&hc).unwrap());
    assert!(db.get_burn_block_by_ch(&old_ch).is_err());
    assert!(db.get_burn_block_by_ch(&new_ch).is_ok());
    assert_eq!(db.get_last_activity_time(&old_ch).unwrap(), None);
    assert_eq!(db.get_last_activity_time(&new_ch).unwrap(), Some(2001));
    assert!(db.get_signer_state_machine_updates(40).unwrap().is_empty());
    assert!(db.get_signer_state_machine_updates(41).unwrap().is_empty());
    assert_eq!(db.get_signer_state_machine_updates(42).unwrap().len(), 1);
    let weights = std::collections::HashMap::from([(addr(4), 1), (addr(5), 1)]);
    for (ch, expected) in [(old_ch, None), (stale_ch, None), (new_ch, Some(2002))] {
        assert_eq!(
            db.get_burn_block_received_time_from_signers_weighted(
                &weights,
                |w| w >= 1,
                &ch,
                &addr(9)
            )
            .unwrap(),
            expected
        );
    }
    // Pruning again finds nothing more.
    assert_eq!(
        db.prune(PruneHorizon {
            min_reward_cycle: 42,
            min_burn_height: 150
        })
        .unwrap(),
        PruneStats::default()
    );
}

#[test]
fn pruning_drops_own_votes_of_old_cycles_except_the_canonical_tips_and_counts_them() {
    let (_dir, _path, mut db) = temp_db();
    let context = VoteContext {
        policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(30),
        },
        tenure_tip_height: None,
    };
    // Cycle 40: a vote on the canonical tip (kept), one on a stored block and one on a block
    // never stored (both dropped). Cycle 41: the horizon (kept). Cycle 42: current (kept).
    let mut tip = info(block(1, 10, 1));
    tip.reward_cycle = 40;
    tip.state = BlockState::GloballyAccepted;
    let mut old = info(block(1, 9, 1));
    old.reward_cycle = 40;
    let unstored = block(1, 8, 1);
    let at_horizon = block(2, 1, 1);
    let current = block(3, 1, 1);
    let votes = [
        (&tip.block, 40, Some(&tip), OwnVote::Accept),
        (&old.block, 40, Some(&old), OwnVote::PreCommit),
        (
            &unstored,
            40,
            None,
            OwnVote::Reject(RejectReason::InvalidMiner),
        ),
        (&at_horizon, 41, None, OwnVote::PreCommit),
        (
            &current,
            42,
            None,
            OwnVote::Reject(RejectReason::InvalidMiner),
        ),
    ];
    for (b, cycle, row, vote) in votes {
        assert_eq!(
            db.record_own_vote(&vote, &b.header, cycle, row, &context)
                .unwrap(),
            VoteRecord::Recorded
        );
    }
    let stats = db
        .prune(PruneHorizon {
            min_reward_cycle: 41,
            min_burn_height: 0,
        })
        .unwrap();
    assert_eq!(
        stats,
        PruneStats {
            blocks: 1,
            votes: 2,
            ..PruneStats::default()
        }
    );
    let kept: Vec<_> = db
        .get_own_votes()
        .unwrap()
        .into_iter()
        .map(|r| (r.signer_signature_hash, r.reward_cycle))
        .collect();
    assert_eq!(
        kept,
        vec![
            (tip.signer_signature_hash(), 40),
            (at_horizon.header.signer_signature_hash(), 41),
            (current.header.signer_signature_hash(), 42),
        ]
    );
    assert_eq!(db.get_canonical_tip().unwrap(), Some(tip));
}

#[test]
fn pruning_raises_a_floor_that_never_goes_down_survives_reopening_and_refuses_older_votes() {
    let (_dir, path, mut db) = temp_db();
    let context = VoteContext {
        policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(30),
        },
        tenure_tip_height: Some(0),
    };
    assert_eq!(db.prune_floor().unwrap(), 0);
    let horizon = |min_reward_cycle| PruneHorizon {
        min_reward_cycle,
        min_burn_height: 0,
    };
    db.prune(horizon(41)).unwrap();
    db.prune(horizon(39)).unwrap();
    assert_eq!(db.prune_floor().unwrap(), 41);
    drop(db);
    let mut db = stacks_signer::signerdb::SignerDb::open(&path).unwrap();
    assert_eq!(db.prune_floor().unwrap(), 41);
    let b = block(1, 5, 1);
    for vote in [
        OwnVote::PreCommit,
        OwnVote::Accept,
        OwnVote::Reject(RejectReason::InvalidMiner),
    ] {
        assert_eq!(
            db.record_own_vote(&vote, &b.header, 40, None, &context)
                .unwrap(),
            VoteRecord::Refused(VoteRefusal::BelowPruneFloor {
                min_reward_cycle: 41
            })
        );
    }
    assert_eq!(db.get_own_votes().unwrap(), vec![]);
    assert_eq!(
        db.record_own_vote(&OwnVote::Accept, &b.header, 41, None, &context)
            .unwrap(),
        VoteRecord::Recorded
    );
}
