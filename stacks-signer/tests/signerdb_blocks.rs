//! Block records: the state machine, storage and every block query the v0 signer uses.

mod signerdb_support;

use std::time::Duration;

use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, TenureChangeCause};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::RejectReason;
use signerdb_support::*;
use stacks_signer::signerdb::{
    BlockState::{self, *},
    ExtraBlockInfo, NakamotoBlockVote, SignerDb, SignerDbError, TenureTimer,
};

/// The reference's transition table: may a block in `from` move to `to`?
fn allowed(from: BlockState, to: BlockState) -> bool {
    if from == to {
        return true;
    }
    match to {
        Unprocessed => false,
        PreCommitted => from == Unprocessed,
        LocallyAccepted | LocallyRejected => !matches!(from, GloballyAccepted | GloballyRejected),
        GloballyAccepted => from != GloballyRejected,
        GloballyRejected => from != GloballyAccepted,
    }
}

#[test]
fn every_state_transition_is_allowed_or_refused_as_the_reference() {
    let expected_refusals = [
        (PreCommitted, Unprocessed),
        (LocallyAccepted, Unprocessed),
        (LocallyRejected, Unprocessed),
        (GloballyAccepted, Unprocessed),
        (GloballyRejected, Unprocessed),
        (LocallyAccepted, PreCommitted),
        (LocallyRejected, PreCommitted),
        (GloballyAccepted, PreCommitted),
        (GloballyRejected, PreCommitted),
        (GloballyAccepted, LocallyAccepted),
        (GloballyRejected, LocallyAccepted),
        (GloballyAccepted, LocallyRejected),
        (GloballyRejected, LocallyRejected),
        (GloballyRejected, GloballyAccepted),
        (GloballyAccepted, GloballyRejected),
    ];
    let mut refused = Vec::new();
    for from in BlockState::ALL {
        for to in BlockState::ALL {
            let mut b = info(block(1, 1, 1));
            b.state = from;
            assert_eq!(b.check_state(to), allowed(from, to), "{from} -> {to}");
            match b.move_to(to) {
                Ok(()) => assert_eq!(b.state, to),
                Err(e) => {
                    assert_eq!(
                        e.to_string(),
                        format!("Invalid state transition from {from} to {to}")
                    );
                    assert_eq!(b.state, from);
                    refused.push((from, to));
                }
            }
        }
    }
    refused.sort_by_key(|(f, t)| (*t as u8, *f as u8));
    let mut expected = expected_refusals.to_vec();
    expected.sort_by_key(|(f, t)| (*t as u8, *f as u8));
    assert_eq!(refused, expected);
}

#[test]
fn marks_set_validity_signing_and_stamps_once() {
    let mut b = info(block(1, 1, 1));
    b.mark_pre_committed().unwrap();
    assert_eq!(
        (b.state, b.valid, b.signed_over),
        (PreCommitted, Some(true), true)
    );
    let first = b.signed_self.unwrap();
    b.signed_self = Some(first - 100);
    b.mark_locally_accepted(false).unwrap();
    assert_eq!(
        b.signed_self,
        Some(first - 100),
        "signed_self is set only once"
    );
    assert_eq!(b.signed_group, None);
    b.mark_locally_accepted(true).unwrap();
    assert!(b.signed_group.is_some());
    assert!(b.is_locally_finalized() && !b.has_reached_consensus());

    let mut r = info(block(1, 1, 2));
    r.mark_locally_rejected().unwrap();
    assert_eq!(
        (r.state, r.valid, r.signed_over),
        (LocallyRejected, Some(false), false)
    );
    // A failed mark changes nothing.
    let mut g = info(block(1, 1, 3));
    g.state = GloballyRejected;
    let before = g.clone();
    assert!(g.mark_locally_accepted(false).is_err());
    assert!(g.mark_pre_committed().is_err());
    assert_eq!(g, before);
}

#[test]
fn the_database_mark_helpers_also_leave_the_validation_queue() {
    let (_dir, _path, mut db) = temp_db();
    let mut a = info(block(1, 1, 1));
    let mut r = info(block(1, 1, 2));
    db.insert_pending_block_validation(&a.signer_signature_hash(), 1)
        .unwrap();
    db.insert_pending_block_validation(&r.signer_signature_hash(), 2)
        .unwrap();
    db.mark_block_globally_accepted(&mut a).unwrap();
    db.mark_block_globally_rejected(&mut r).unwrap();
    assert_eq!(
        (a.state, a.valid, a.signed_over),
        (GloballyAccepted, Some(true), true)
    );
    assert!(a.signed_group.is_some());
    assert_eq!((r.state, r.valid), (GloballyRejected, Some(false)));
    assert!(db.get_all_pending_block_validations().unwrap().is_empty());
    // Not persisted by the marks.
    assert!(db
        .block_lookup(&a.signer_signature_hash())
        .unwrap()
        .is_none());
    let err = db.mark_block_globally_rejected(&mut a).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid state transition from GloballyAccepted to GloballyRejected"
    );
}

#[test]
fn a_record_round_trips_with_every_field_and_survives_reopening() {
    let (_dir, path, mut db) = temp_db();
    let txs = vec![tenure_change_tx(1, TenureChangeCause::Extended)];
    let mut b = info(block_with_txs(1, 12, 1, txs));
    b.vote = Some(NakamotoBlockVote {
        signer_signature_hash: b.signer_signature_hash(),
        rejected: true,
    });
    b.valid = Some(false);
    b.state = LocallyRejected;
    b.validation_time_ms = Some(1234);
    b.ext = ExtraBlockInfo::V0;
    b.reject_reason = Some(RejectReason::ConnectivityIssues("node down".into()));
    b.signed_group = Some(99);
    let h = b.signer_signature_hash();
    assert_eq!(db.block_lookup(&h).unwrap(), None);
    db.insert_block(&b).unwrap();
    assert_eq!(db.block_lookup(&h).unwrap().as_ref(), Some(&b));
    drop(db);
    let db = SignerDb::open(&path).unwrap();
    assert_eq!(db.block_lookup(&h).unwrap(), Some(b.clone()));
    drop(db);
    // Stored compactly: the block's consensus bytes and the derived columns.
    let rows = raw(&path)
        .rows("SELECT block, stacks_height, tenure_change_cause, tenure_change FROM blocks");
    assert_eq!(
        rows,
        vec![vec![
            RawValue::Blob(b.block.serialize_to_vec()),
            RawValue::Int(12),
            RawValue::Int(1),
            RawValue::Int(1)
        ]]
    );
}

#[test]
fn reinserting_replaces_the_record_but_keeps_the_broadcast_time() {
    let (_dir, _path, mut db) = temp_db();
    let mut b = info(block(1, 1, 1));
    let h = b.signer_signature_hash();
    db.insert_block(&b).unwrap();
    assert_eq!(db.get_block_broadcasted(&h).unwrap(), None);
    db.set_block_broadcasted(&h, 12345).unwrap();
    assert_eq!(db.block_lookup(&h).unwrap().unwrap().state, Unprocessed);
    // Signer signatures do not change the signer signature hash.
    b.block.header.signer_signature = vec![libsigner::chain::MessageSignature([7; 65])];
    b.vote = Some(NakamotoBlockVote {
        signer_signature_hash: h,
        rejected: false,
    });
    assert_eq!(b.signer_signature_hash(), h);
    db.insert_block(&b).unwrap();
    assert_eq!(db.block_lookup(&h).unwrap(), Some(b));
    assert_eq!(db.get_block_broadcasted(&h).unwrap(), Some(12345));
}

#[test]
fn a_block_whose_transactions_do_not_match_its_header_is_not_stored() {
    let (_dir, _path, mut db) = temp_db();
    let mut b = info(block(1, 1, 1));
    b.block.txs.push(coinbase_tx());
    let err = db.insert_block(&b).unwrap_err();
    assert!(err.to_string().contains("blocks.block"), "{err}");
    assert_eq!(db.block_lookup(&b.signer_signature_hash()).unwrap(), None);
}

#[test]
fn a_corrupt_block_row_is_an_error_naming_the_column() {
    let (_dir, path, mut db) = temp_db();
    let b = info(block(1, 1, 1));
    db.insert_block(&b).unwrap();
    drop(db);
    raw(&path).execute("UPDATE blocks SET block = x'00'");
    let db = SignerDb::open(&path).unwrap();
    let err = db.block_lookup(&b.signer_signature_hash()).unwrap_err();
    assert!(
        matches!(
            &err,
            SignerDbError::Corrupt {
                table: "blocks",
                column: "block",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn first_signed_block_and_signed_tenures_count_only_signed_over_blocks() {
    let (_dir, _path, mut db) = temp_db();
    let tenure = ConsensusHash::from([1; 20]);
    let mut low = info(block(1, 5, 1));
    let mut high = info(block(1, 6, 2));
    db.insert_block(&low).unwrap();
    db.insert_block(&high).unwrap();
    assert!(!db.has_signed_block_in_tenure(&tenure).unwrap());
    assert_eq!(db.get_first_signed_block_in_tenure(&tenure).unwrap(), None);
    high.mark_locally_accepted(false).unwrap();
    db.insert_block(&high).unwrap();
    assert!(db.has_signed_block_in_tenure(&tenure).unwrap());
    assert!(!db
        .has_signed_block_in_tenure(&ConsensusHash::from([2; 20]))
        .unwrap());
    assert_eq!(
        db.get_first_signed_block_in_tenure(&tenure).unwrap(),
        Some(high)
    );
    low.mark_pre_committed().unwrap();
    db.insert_block(&low).unwrap();
    assert_eq!(
        db.get_first_signed_block_in_tenure(&tenure).unwrap(),
        Some(low)
    );
}

#[test]
fn the_globally_accepted_count_is_a_height_span() {
    let (_dir, _path, mut db) = temp_db();
    let tenure = ConsensusHash::from([1; 20]);
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        0
    );
    let mut b1 = info(block(1, 1, 1));
    b1.mark_locally_accepted(false).unwrap();
    db.insert_block(&b1).unwrap();
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        0
    );
    for (h, v) in [(2, 2), (3, 3)] {
        let mut b = info(block(1, h, v));
        b.state = GloballyAccepted;
        b.signed_over = true;
        db.insert_block(&b).unwrap();
    }
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        2
    );
    let mut b4 = info(block(1, 4, 4));
    b4.state = GloballyAccepted;
    db.insert_block(&b4).unwrap();
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        3
    );
    let mut b5 = info(block(1, 5, 5));
    b5.mark_locally_accepted(false).unwrap();
    db.insert_block(&b5).unwrap();
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        3
    );
    // A gap counts: heights 2..=7 span 6.
    let mut b7 = info(block(1, 7, 7));
    b7.state = GloballyAccepted;
    db.insert_block(&b7).unwrap();
    assert_eq!(
        db.get_globally_accepted_block_count_in_tenure(&tenure)
            .unwrap(),
        6
    );
}

#[test]
fn last_accepted_includes_local_acceptance_and_last_globally_accepted_does_not() {
    let (_dir, _path, mut db) = temp_db();
    let (t1, t2) = (ConsensusHash::from([1; 20]), ConsensusHash::from([2; 20]));
    let mut ga = info(block(1, 1, 1));
    ga.state = GloballyAccepted;
    let mut la = info(block(1, 2, 2));
    la.mark_locally_accepted(false).unwrap();
    let mut pc = info(block(2, 3, 3));
    pc.mark_pre_committed().unwrap();
    let mut rejected = info(block(1, 9, 4));
    rejected.mark_locally_rejected().unwrap();
    for b in [&ga, &la, &pc, &rejected] {
        db.insert_block(b).unwrap();
    }
    assert_eq!(db.get_last_accepted_block(&t1).unwrap(), Some(la.clone()));
    assert_eq!(
        db.get_last_globally_accepted_block(&t1).unwrap(),
        Some(ga.clone())
    );
    assert_eq!(db.get_last_accepted_block(&t2).unwrap(), Some(pc));
    assert_eq!(db.get_last_globally_accepted_block(&t2).unwrap(), None);
    assert_eq!(
        db.get_last_accepted_block(&ConsensusHash::from([3; 20]))
            .unwrap(),
        None
    );
}

#[test]
fn the_canonical_tip_is_the_highest_globally_accepted_block_of_any_tenure() {
    let (_dir, _path, mut db) = temp_db();
    assert_eq!(db.get_canonical_tip().unwrap(), None);
    let mut a = info(block(1, 1, 1));
    a.state = GloballyAccepted;
    a.signed_group = Some(10);
    db.insert_block(&a).unwrap();
    assert_eq!(db.get_canonical_tip().unwrap(), Some(a.clone()));
    let mut higher_local = info(block(2, 5, 2));
    higher_local.mark_locally_accepted(true).unwrap();
    db.insert_block(&higher_local).unwrap();
    assert_eq!(db.get_canonical_tip().unwrap(), Some(a.clone()));
    let mut b = info(block(2, 2, 3));
    b.state = GloballyAccepted;
    b.signed_group = Some(5);
    let mut c = info(block(3, 2, 4));
    c.state = GloballyAccepted;
    c.signed_group = Some(20);
    db.insert_block(&b).unwrap();
    db.insert_block(&c).unwrap();
    // Equal heights: the latest group signature wins.
    assert_eq!(db.get_canonical_tip().unwrap(), Some(c));
}

#[test]
fn signed_self_of_the_last_globally_accepted_block_by_burn_height() {
    let (_dir, _path, mut db) = temp_db();
    let t1 = ConsensusHash::from([1; 20]);
    let mut a = info(block(1, 1, 1));
    a.state = GloballyAccepted;
    a.signed_self = Some(1000);
    a.burn_block_height = 10;
    let mut b = info(block(1, 2, 2));
    b.state = GloballyAccepted;
    b.signed_self = Some(2000);
    b.burn_block_height = 11;
    let mut c = info(block(1, 3, 3));
    c.state = GloballyAccepted;
    c.burn_block_height = 12; // not signed by this signer
    let mut d = info(block(1, 4, 4));
    d.mark_locally_accepted(false).unwrap();
    d.burn_block_height = 13;
    for x in [&a, &b, &c, &d] {
        db.insert_block(x).unwrap();
    }
    assert_eq!(
        db.get_last_globally_accepted_block_signed_self(&t1)
            .unwrap(),
        Some(at(2000))
    );
    assert_eq!(
        db.get_last_globally_accepted_block_signed_self(&ConsensusHash::from([2; 20]))
            .unwrap(),
        None
    );
}

#[test]
fn unprocessed_blocks_are_tracked_per_reward_cycle() {
    let (_dir, _path, mut db) = temp_db();
    let mut a = info(block(1, 1, 1));
    let mut b = info(block(1, 2, 2));
    let mut other = info(block(1, 3, 3));
    other.reward_cycle = 43;
    for x in [&a, &b, &other] {
        db.insert_block(x).unwrap();
    }
    assert!(db.has_unprocessed_blocks(42).unwrap());
    a.mark_locally_rejected().unwrap();
    db.insert_block(&a).unwrap();
    assert!(db.has_unprocessed_blocks(42).unwrap());
    b.mark_locally_accepted(false).unwrap();
    db.insert_block(&b).unwrap();
    assert!(!db.has_unprocessed_blocks(42).unwrap());
    assert!(db.has_unprocessed_blocks(43).unwrap());
    assert!(!db.has_unprocessed_blocks(44).unwrap());
}

/// The reference's tenure fixture: tenure 1 has globally accepted blocks at heights 1
/// (BlockFound), 2 and 3 (BlockFound) and a locally accepted one at 3; tenure 2 a globally
/// accepted block at 4 and a locally accepted one at 5.
fn tenure_fixture() -> Vec<stacks_signer::signerdb::BlockInfo> {
    let base = now() + 500;
    let spec: [(u8, u64, u8, bool, BlockState, u64, u64); 6] = [
        (1, 1, 1, true, GloballyAccepted, 1000, 0),
        (1, 2, 2, false, GloballyAccepted, 2000, 5),
        (1, 3, 3, true, GloballyAccepted, 5000, 10),
        (1, 3, 4, false, LocallyAccepted, 9000, 15),
        (2, 4, 5, false, GloballyAccepted, 20000, 20),
        (2, 5, 6, false, LocallyAccepted, 40000, 25),
    ];
    spec.iter()
        .map(|&(tenure, height, variant, tc, state, ms, offset)| {
            let txs = if tc {
                vec![tenure_change_tx(4, TenureChangeCause::BlockFound)]
            } else {
                vec![]
            };
            let mut b = info(block_with_txs(tenure, height, variant, txs));
            b.state = state;
            b.validation_time_ms = Some(ms);
            b.proposed_time = base + offset;
            b
        })
        .collect()
}

#[test]
fn tenure_times_run_back_to_the_last_timer_restart() {
    let (_dir, _path, mut db) = temp_db();
    let blocks = tenure_fixture();
    let (t1, t2, t3) = (
        ConsensusHash::from([1; 20]),
        ConsensusHash::from([2; 20]),
        ConsensusHash::from([3; 20]),
    );
    db.insert_block(&blocks[0]).unwrap();
    db.insert_block(&blocks[1]).unwrap();
    assert_eq!(
        db.get_tenure_times(&t1, TenureTimer::Full).unwrap(),
        (blocks[0].proposed_time, 3000)
    );
    db.insert_block(&blocks[2]).unwrap();
    db.insert_block(&blocks[3]).unwrap();
    assert_eq!(
        db.get_tenure_times(&t1, TenureTimer::Full).unwrap(),
        (blocks[2].proposed_time, 5000)
    );
    db.insert_block(&blocks[4]).unwrap();
    db.insert_block(&blocks[5]).unwrap();
    assert_eq!(
        db.get_tenure_times(&t2, TenureTimer::ReadCount).unwrap(),
        (blocks[4].proposed_time, 20000)
    );
    let (start, ms) = db.get_tenure_times(&t3, TenureTimer::Full).unwrap();
    assert!(start.abs_diff(now()) <= 2 && ms == 0);
}

#[test]
fn read_count_extends_restart_only_the_read_count_timer() {
    let (_dir, _path, mut db) = temp_db();
    let tenure = ConsensusHash::from([1; 20]);
    let causes = [
        (1, TenureChangeCause::BlockFound, 100),
        (2, TenureChangeCause::ExtendedReadCount, 200),
        (3, TenureChangeCause::ExtendedRuntime, 300),
    ];
    for (height, cause, t) in causes {
        let mut b = info(block_with_txs(
            1,
            height,
            height as u8,
            vec![tenure_change_tx(1, cause)],
        ));
        b.state = GloballyAccepted;
        b.proposed_time = t;
        b.validation_time_ms = Some(1500);
        db.insert_block(&b).unwrap();
    }
    assert_eq!(
        db.get_tenure_times(&tenure, TenureTimer::Full).unwrap(),
        (100, 4500)
    );
    assert_eq!(
        db.get_tenure_times(&tenure, TenureTimer::ReadCount)
            .unwrap(),
        (200, 3000)
    );
    // ceil(4500 ms) = 5 s.
    assert_eq!(
        db.tenure_extend_timestamp_from_db(&tenure, TenureTimer::Full, 10),
        115
    );
}

#[test]
fn tenure_extend_timestamps_add_the_idle_timeout_and_rounded_up_processing_time() {
    let (_dir, _path, mut db) = temp_db();
    let blocks = tenure_fixture();
    let idle = Duration::from_secs(10);
    db.insert_block(&blocks[0]).unwrap();
    db.insert_block(&blocks[1]).unwrap();
    // blocks[0]'s tenure change is not well-formed (no coinbase): the database decides.
    assert_eq!(
        db.calculate_full_extend_timestamp(idle, &blocks[0].block, true),
        blocks[0].proposed_time + 10 + 3
    );
    db.insert_block(&blocks[2]).unwrap();
    db.insert_block(&blocks[3]).unwrap();
    assert_eq!(
        db.calculate_full_extend_timestamp(idle, &blocks[0].block, true),
        blocks[2].proposed_time + 10 + 5
    );
    db.insert_block(&blocks[4]).unwrap();
    db.insert_block(&blocks[5]).unwrap();
    assert_eq!(
        db.calculate_read_count_extend_timestamp(idle, &blocks[5].block, true),
        blocks[4].proposed_time + 10 + 20
    );
    let unknown = block(3, 1, 9);
    let ts = db.calculate_full_extend_timestamp(idle, &unknown, true);
    assert!(ts.abs_diff(now() + 10) <= 2);
}

#[test]
fn a_well_formed_tenure_start_block_restarts_the_timer_only_when_checked() {
    let (_dir, _path, mut db) = temp_db();
    let blocks = tenure_fixture();
    db.insert_block(&blocks[0]).unwrap();
    let start = block_with_txs(
        1,
        9,
        9,
        vec![
            tenure_change_tx(1, TenureChangeCause::BlockFound),
            coinbase_tx(),
        ],
    );
    let idle = Duration::from_secs(60);
    let checked = db.calculate_full_extend_timestamp(idle, &start, true);
    assert!(checked.abs_diff(now() + 60) <= 2, "{checked}");
    let read = db.calculate_read_count_extend_timestamp(idle, &start, true);
    assert!(read.abs_diff(now() + 60) <= 2, "{read}");
    let unchecked = db.calculate_full_extend_timestamp(idle, &start, false);
    assert_eq!(unchecked, blocks[0].proposed_time + 60 + 1);
    // The same transactions in the wrong order are not well-formed.
    let swapped = block_with_txs(
        1,
        9,
        8,
        vec![
            coinbase_tx(),
            tenure_change_tx(1, TenureChangeCause::BlockFound),
        ],
    );
    assert_eq!(
        db.calculate_full_extend_timestamp(idle, &swapped, true),
        blocks[0].proposed_time + 60 + 1
    );
}

#[test]
fn hashes_are_keys_not_text() {
    let (_dir, _path, mut db) = temp_db();
    let b = info(block(1, 1, 1));
    db.insert_block(&b).unwrap();
    assert!(db
        .block_lookup(&Sha512Trunc256Sum::from([0; 32]))
        .unwrap()
        .is_none());
    assert!(db
        .block_lookup(&b.signer_signature_hash())
        .unwrap()
        .is_some());
}
