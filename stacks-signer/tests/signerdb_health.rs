//! What the monitoring server reads from the database: blocks by state, the validation
//! queue, the latest own vote, the size.

mod signerdb_support;

use std::time::Duration;

use libsigner::v0::messages::RejectReason;
use signerdb_support::*;
use stacks_signer::signerdb::{BlockState, ConflictPolicy, OwnVote, VoteContext};

fn ctx() -> VoteContext {
    VoteContext {
        policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(30),
        },
        tenure_tip_height: None,
    }
}

#[test]
fn blocks_are_counted_by_state_with_every_state_listed() {
    let (_dir, _path, mut db) = temp_db();
    let counts = db.count_blocks_by_state().unwrap();
    assert_eq!(counts.len(), BlockState::ALL.len());
    assert!(counts.iter().all(|(_, n)| *n == 0));
    let mut accepted = info(block(1, 5, 1));
    accepted.mark_pre_committed().unwrap();
    db.insert_block(&accepted).unwrap();
    db.insert_block(&info(block(1, 6, 1))).unwrap();
    db.insert_block(&info(block(1, 6, 2))).unwrap();
    let counts = db.count_blocks_by_state().unwrap();
    let count = |state| counts.iter().find(|(s, _)| *s == state).unwrap().1;
    assert_eq!(count(BlockState::PreCommitted), 1);
    assert_eq!(count(BlockState::Unprocessed), 2);
    assert_eq!(count(BlockState::GloballyAccepted), 0);
}

#[test]
fn the_validation_queue_is_counted() {
    let (_dir, _path, mut db) = temp_db();
    assert_eq!(db.count_pending_block_validations().unwrap(), 0);
    for v in 1..=3 {
        let b = block(1, 5, v);
        db.insert_pending_block_validation(&b.header.signer_signature_hash(), now())
            .unwrap();
    }
    assert_eq!(db.count_pending_block_validations().unwrap(), 3);
}

#[test]
fn the_last_own_vote_is_the_latest_by_time() {
    let (_dir, _path, mut db) = temp_db();
    assert_eq!(db.get_last_own_vote().unwrap(), None);
    let first = block(1, 5, 1);
    let second = block(2, 3, 1);
    let t0 = 1_700_000_000;
    db.record_own_vote_at(&OwnVote::PreCommit, &first.header, 42, None, &ctx(), t0)
        .unwrap();
    db.record_own_vote_at(
        &OwnVote::Reject(RejectReason::SortitionViewMismatch),
        &second.header,
        42,
        None,
        &ctx(),
        t0 + 5,
    )
    .unwrap();
    let last = db.get_last_own_vote().unwrap().unwrap();
    assert_eq!(
        last.signer_signature_hash,
        second.header.signer_signature_hash()
    );
    assert_eq!(last.rejected_at, Some(t0 + 5));
    // A later signature of the first block makes it the last vote again.
    db.record_own_vote_at(&OwnVote::Accept, &first.header, 42, None, &ctx(), t0 + 9)
        .unwrap();
    let last = db.get_last_own_vote().unwrap().unwrap();
    assert_eq!(
        last.signer_signature_hash,
        first.header.signer_signature_hash()
    );
    assert_eq!(last.signed_at, Some(t0 + 9));
}

#[test]
fn the_size_counts_pages_and_write_ahead_log() {
    if sqlite_file_test("the_size_counts_pages_and_write_ahead_log") {
        return;
    }
    let (_dir, path, mut db) = temp_db();
    let before = db.database_size_bytes().unwrap();
    assert!(before > 0);
    for h in 1..=50 {
        db.insert_block(&info(block(1, h, 1))).unwrap();
    }
    let after = db.database_size_bytes().unwrap();
    assert!(after > before, "{after} <= {before}");
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(wal_len > 0, "the inserts are in the write-ahead log");
    assert!(
        after > wal_len,
        "the write-ahead log is counted with the pages"
    );
}
