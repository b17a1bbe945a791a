//! This signer's own-vote record: the rules (no flip, the sibling rule), atomicity under
//! concurrent callers, durability, pruning and the schema 19 → 20 migration that creates it.

mod signerdb_support;

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use libsigner::chain::{NakamotoBlock, Sha512Trunc256Sum};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::RejectReason;
use proptest::prelude::*;
use rusqlite::{params, Connection};
use signerdb_support::*;
use stacks_signer::signerdb::{
    BlockInfo, BlockState, ConflictPolicy, OwnVote, OwnVoteRecord, SignerDb, SignerDbError,
    VoteContext, VoteRecord, VoteRefusal, SCHEMA_VERSION,
};

/// A fixed "now" for the tests that control time.
const T0: u64 = 1_700_000_000;
/// The sibling rule's window in these tests (seconds).
const WINDOW: u64 = 30;

fn ctx(tip: Option<u64>) -> VoteContext {
    VoteContext {
        policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(WINDOW),
        },
        tenure_tip_height: tip,
    }
}

fn hash(b: &NakamotoBlock) -> Sha512Trunc256Sum {
    b.header.signer_signature_hash()
}

/// Records `vote` on `b` (reward cycle 42, no block row) at time `now`.
fn vote_at(
    db: &mut SignerDb,
    vote: &OwnVote,
    b: &NakamotoBlock,
    now: u64,
    tip: Option<u64>,
) -> VoteRecord {
    db.record_own_vote_at(vote, &b.header, 42, None, &ctx(tip), now)
        .unwrap()
}

fn reject(reason: RejectReason) -> OwnVote {
    OwnVote::Reject(reason)
}

fn conflict_with(b: &NakamotoBlock) -> VoteRecord {
    VoteRecord::Refused(VoteRefusal::ConflictingBlock {
        signer_signature_hash: hash(b),
    })
}

fn own(db: &SignerDb, b: &NakamotoBlock) -> OwnVoteRecord {
    db.get_own_vote(&hash(b)).unwrap().expect("a recorded vote")
}

/// Every row of `blocks` and `own_votes`, read straight from the file (the handle must be
/// closed).
fn dump_tables(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let mut conn = raw(path);
    let mut dump = |table: &str| -> Vec<String> {
        conn.rows(&format!(
            "SELECT * FROM {table} ORDER BY signer_signature_hash"
        ))
        .iter()
        .map(|values| format!("{values:?}"))
        .collect()
    };
    (dump("blocks"), dump("own_votes"))
}

// ---------------------------------------------------------------------------------------
// First votes and what is stored.

#[test]
fn a_first_pre_commit_is_recorded_with_its_time_and_stores_the_callers_block_row() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let mut row = info(b.clone());
    row.mark_pre_committed().unwrap();
    assert_eq!(
        db.record_own_vote_at(
            &OwnVote::PreCommit,
            &b.header,
            42,
            Some(&row),
            &ctx(None),
            T0
        )
        .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(
        own(&db, &b),
        OwnVoteRecord {
            signer_signature_hash: hash(&b),
            reward_cycle: 42,
            consensus_hash: b.header.consensus_hash,
            stacks_height: 5,
            pre_committed_at: Some(T0),
            signed_at: None,
            rejected_at: None,
            reject_reason: None,
        }
    );
    assert!(own(&db, &b).is_favourable());
    assert_eq!(db.block_lookup(&hash(&b)).unwrap(), Some(row));
}

#[test]
fn a_pre_commit_and_a_signature_recorded_together_are_both_on_record_with_the_same_time() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let row = info(b.clone());
    assert_eq!(
        db.record_own_votes_at(
            &[OwnVote::PreCommit, OwnVote::Accept],
            &b.header,
            42,
            Some(&row),
            &ctx(None),
            T0
        )
        .unwrap(),
        VoteRecord::Recorded
    );
    let record = own(&db, &b);
    assert_eq!(record.pre_committed_at, Some(T0));
    assert_eq!(record.signed_at, Some(T0));
    assert_eq!(db.block_lookup(&hash(&b)).unwrap(), Some(row));
}

#[test]
fn votes_recorded_together_are_all_refused_when_a_sibling_stands_in_the_way() {
    let (_dir, _path, mut db) = temp_db();
    let first = block(1, 5, 1);
    let sibling = block(1, 5, 2);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None),
        VoteRecord::Recorded
    );
    assert_eq!(
        db.record_own_votes_at(
            &[OwnVote::PreCommit, OwnVote::Accept],
            &sibling.header,
            42,
            Some(&info(sibling.clone())),
            &ctx(None),
            T0 + 1
        )
        .unwrap(),
        conflict_with(&first)
    );
    assert_eq!(db.get_own_vote(&hash(&sibling)).unwrap(), None);
    assert_eq!(db.block_lookup(&hash(&sibling)).unwrap(), None);
}

#[test]
fn a_first_vote_at_the_current_time_is_stamped_with_it() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let before = now();
    assert_eq!(
        db.record_own_vote(&OwnVote::Accept, &b.header, 42, None, &ctx(None))
            .unwrap(),
        VoteRecord::Recorded
    );
    let signed = own(&db, &b).signed_at.unwrap();
    assert!(before <= signed && signed <= now());
}

#[test]
fn a_rejection_of_a_never_stored_block_is_recorded_and_readable() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let reason = RejectReason::ConnectivityIssues("node down".into());
    assert_eq!(
        vote_at(&mut db, &reject(reason.clone()), &b, T0, None),
        VoteRecord::Recorded
    );
    assert_eq!(db.block_lookup(&hash(&b)).unwrap(), None);
    let record = own(&db, &b);
    assert_eq!(
        (record.rejected_at, record.reject_reason.clone()),
        (Some(T0), Some(reason))
    );
    assert!(record.is_rejection() && !record.is_favourable());
    assert_eq!(db.get_own_votes().unwrap(), vec![record]);
}

#[test]
fn a_block_row_for_another_block_is_an_error_and_nothing_is_written() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let other = info(block(1, 5, 2));
    let err = db
        .record_own_vote_at(
            &OwnVote::PreCommit,
            &b.header,
            42,
            Some(&other),
            &ctx(None),
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, SignerDbError::InvalidArgument(_)), "{err:?}");
    assert_eq!(db.get_own_votes().unwrap(), vec![]);
    assert_eq!(db.block_lookup(&hash(&other.block)).unwrap(), None);
}

#[test]
fn own_votes_are_listed_by_tenure_then_height_then_block() {
    let (_dir, _path, mut db) = temp_db();
    let blocks = [
        block(2, 1, 1),
        block(1, 6, 1),
        block(1, 5, 2),
        block(1, 5, 1),
    ];
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(
            vote_at(
                &mut db,
                &reject(RejectReason::InvalidMiner),
                b,
                T0 + i as u64,
                None
            ),
            VoteRecord::Recorded
        );
    }
    let listed: Vec<_> = db
        .get_own_votes()
        .unwrap()
        .into_iter()
        .map(|r| (r.consensus_hash, r.stacks_height, r.signer_signature_hash))
        .collect();
    let mut expected: Vec<_> = blocks
        .iter()
        .map(|b| (b.header.consensus_hash, b.header.chain_length, hash(b)))
        .collect();
    expected.sort_by(|a, b| {
        (a.0.as_bytes(), a.1, a.2.as_bytes()).cmp(&(b.0.as_bytes(), b.1, b.2.as_bytes()))
    });
    assert_eq!(listed, expected);
}

// ---------------------------------------------------------------------------------------
// No flip.

#[test]
fn a_rejection_after_a_pre_commit_or_a_signature_is_refused_as_already_accepted() {
    let (_dir, _path, mut db) = temp_db();
    for (height, first) in [(5, OwnVote::PreCommit), (6, OwnVote::Accept)] {
        let b = block(1, height, 1);
        assert_eq!(vote_at(&mut db, &first, &b, T0, None), VoteRecord::Recorded);
        let before = own(&db, &b);
        assert_eq!(
            vote_at(
                &mut db,
                &reject(RejectReason::InvalidMiner),
                &b,
                T0 + 1,
                None
            ),
            VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
        );
        assert_eq!(own(&db, &b), before);
    }
}

#[test]
fn a_signature_after_a_rejection_is_refused_as_already_rejected() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let reason = RejectReason::SortitionViewMismatch;
    assert_eq!(
        vote_at(&mut db, &reject(reason), &b, T0, None),
        VoteRecord::Recorded
    );
    let before = own(&db, &b);
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &b, T0 + 1, None),
        VoteRecord::Refused(VoteRefusal::AlreadyRejected)
    );
    assert_eq!(own(&db, &b), before);
}

#[test]
fn a_pre_commit_after_a_rejection_is_recorded_and_the_signature_may_follow_it() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    let reason = RejectReason::ConnectivityIssues("timeout".into());
    vote_at(&mut db, &reject(reason.clone()), &b, T0, None);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 3, None),
        VoteRecord::Recorded
    );
    let record = own(&db, &b);
    assert_eq!(
        (
            record.rejected_at,
            record.reject_reason.clone(),
            record.pre_committed_at
        ),
        (Some(T0), Some(reason), Some(T0 + 3)),
        "the earlier rejection stays on record"
    );
    assert!(record.is_favourable() && !record.is_rejection());
    assert_eq!(record.first_favourable_at(), Some(T0 + 3));
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &b, T0 + 4, None),
        VoteRecord::Recorded
    );
    assert_eq!(own(&db, &b).signed_at, Some(T0 + 4));
    // Now it is a favourable vote like any other: no going back.
    assert_eq!(
        vote_at(
            &mut db,
            &reject(RejectReason::InvalidMiner),
            &b,
            T0 + 5,
            None
        ),
        VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
    );
}

#[test]
fn a_pre_commit_after_a_rejection_is_a_first_favourable_vote_under_the_sibling_rule() {
    let (_dir, _path, mut db) = temp_db();
    let (b, sibling) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(
        &mut db,
        &reject(RejectReason::InvalidParentBlock),
        &b,
        T0,
        None,
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &sibling, T0 + 1, None),
        VoteRecord::Recorded
    );
    let before = own(&db, &b);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 2, None),
        conflict_with(&sibling)
    );
    assert_eq!(own(&db, &b), before, "still the rejection");
}

#[test]
fn a_repeated_rejection_is_recorded_with_the_new_reason_and_the_first_time() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    vote_at(&mut db, &reject(RejectReason::InvalidMiner), &b, T0, None);
    assert_eq!(
        vote_at(
            &mut db,
            &reject(RejectReason::ReorgNotAllowed),
            &b,
            T0 + 9,
            None
        ),
        VoteRecord::Recorded
    );
    let record = own(&db, &b);
    assert_eq!(
        (record.rejected_at, record.reject_reason),
        (Some(T0), Some(RejectReason::ReorgNotAllowed))
    );
}

#[test]
fn repeated_favourable_votes_are_recorded_without_the_sibling_check_and_keep_the_first_times() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    for (vote, at) in [
        (OwnVote::PreCommit, T0),
        (OwnVote::PreCommit, T0 + 5),
        (OwnVote::Accept, T0 + 6),
        (OwnVote::Accept, T0 + 7),
    ] {
        assert_eq!(vote_at(&mut db, &vote, &b, at, None), VoteRecord::Recorded);
    }
    // A sibling is accepted by the network meanwhile: repeating what this signer already
    // published commits to nothing new and is still allowed.
    let mut accepted = info(block(1, 5, 2));
    accepted.state = BlockState::GloballyAccepted;
    accepted.signed_group = Some(T0 + 8);
    db.insert_block(&accepted).unwrap();
    for vote in [OwnVote::Accept, OwnVote::PreCommit] {
        assert_eq!(
            vote_at(&mut db, &vote, &b, T0 + 9, None),
            VoteRecord::Recorded
        );
    }
    let record = own(&db, &b);
    assert_eq!(
        (
            record.pre_committed_at,
            record.signed_at,
            record.rejected_at
        ),
        (Some(T0), Some(T0 + 6), None)
    );
    // A favourable vote on a sibling still counts from its first time.
    assert_eq!(record.first_favourable_at(), Some(T0));
}

#[test]
fn a_pre_commit_after_a_signature_is_a_repeat_and_skips_the_sibling_check() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &b, T0, None),
        VoteRecord::Recorded
    );
    let mut accepted = info(block(1, 5, 2));
    accepted.state = BlockState::GloballyAccepted;
    db.insert_block(&accepted).unwrap();
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 1, None),
        VoteRecord::Recorded
    );
    assert_eq!(
        (own(&db, &b).signed_at, own(&db, &b).pre_committed_at),
        (Some(T0), Some(T0 + 1))
    );
}

#[test]
fn a_first_signature_after_a_pre_commit_is_refused_once_a_sibling_is_globally_accepted() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0, None),
        VoteRecord::Recorded
    );
    let mut accepted = info(block(1, 5, 2));
    accepted.state = BlockState::GloballyAccepted;
    accepted.signed_group = Some(T0 + 1);
    db.insert_block(&accepted).unwrap();
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &b, T0 + 2, Some(4)),
        conflict_with(&accepted.block)
    );
    assert_eq!(own(&db, &b).signed_at, None);
}

#[test]
fn a_first_signature_on_a_block_left_for_a_sibling_is_refused_while_the_sibling_stands() {
    let (_dir, _path, mut db) = temp_db();
    let (left, moved_to) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &left, T0, None);
    // The window passed and the node's tenure tip is below: the signer moves on.
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::PreCommit,
            &moved_to,
            T0 + WINDOW,
            Some(4)
        ),
        VoteRecord::Recorded
    );
    // Signing the block it left would make two signed siblings.
    for (at, tip) in [(T0 + WINDOW + 1, Some(4)), (T0 + 10 * WINDOW, None)] {
        assert_eq!(
            vote_at(&mut db, &OwnVote::Accept, &left, at, tip),
            conflict_with(&moved_to)
        );
    }
    // The block it moved to may be signed: the older pre-commit was left behind.
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &moved_to, T0 + WINDOW + 2, None),
        VoteRecord::Recorded
    );
    // Once that one is old and known not to have made it either, the signer may come back.
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &left, T0 + 2 * WINDOW, Some(4)),
        VoteRecord::Recorded
    );
}

#[test]
fn a_first_signature_is_refused_while_an_older_signed_sibling_stands() {
    // Two favourable siblings only arise from a database taken over (the reference
    // pre-commits to both siblings of §11.1) or after the window; a signed one still counts.
    let (_dir, _path, mut db) = temp_db();
    let (signed, pre_committed) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::Accept, &signed, T0, None);
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::PreCommit,
            &pre_committed,
            T0 + WINDOW,
            Some(4)
        ),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::Accept,
            &pre_committed,
            T0 + WINDOW + 1,
            None
        ),
        conflict_with(&signed)
    );
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::Accept,
            &pre_committed,
            T0 + WINDOW + 1,
            Some(4)
        ),
        VoteRecord::Recorded
    );
}

// ---------------------------------------------------------------------------------------
// The sibling rule.

#[test]
fn a_globally_accepted_sibling_refuses_a_first_favourable_vote_whatever_the_time_and_tip() {
    let (_dir, _path, mut db) = temp_db();
    let mut accepted = info(block(1, 5, 1));
    accepted.state = BlockState::GloballyAccepted;
    db.insert_block(&accepted).unwrap();
    let b = block(1, 5, 2);
    for vote in [OwnVote::PreCommit, OwnVote::Accept] {
        assert_eq!(
            vote_at(&mut db, &vote, &b, T0 + 10 * WINDOW, Some(4)),
            conflict_with(&accepted.block)
        );
    }
    assert_eq!(db.get_own_vote(&hash(&b)).unwrap(), None);
}

#[test]
fn a_group_signed_sibling_refuses_a_first_favourable_vote_whatever_the_time_and_tip() {
    let (_dir, _path, mut db) = temp_db();
    let mut group_signed = info(block(1, 5, 1));
    group_signed.mark_locally_accepted(true).unwrap();
    assert!(group_signed.signed_group.is_some() && group_signed.signed_self.is_none());
    db.insert_block(&group_signed).unwrap();
    let b = block(1, 5, 2);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 10 * WINDOW, Some(4)),
        conflict_with(&group_signed.block)
    );
}

#[test]
fn an_own_favourable_vote_on_a_sibling_within_the_window_refuses_even_with_the_tip_below() {
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &first, T0, None),
        VoteRecord::Recorded
    );
    for vote in [OwnVote::PreCommit, OwnVote::Accept] {
        assert_eq!(
            vote_at(&mut db, &vote, &b, T0 + WINDOW - 1, Some(4)),
            conflict_with(&first)
        );
    }
    assert_eq!(db.get_own_vote(&hash(&b)).unwrap(), None);
}

#[test]
fn an_own_favourable_vote_on_a_sibling_outside_the_window_refuses_while_the_tip_is_unknown() {
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 100 * WINDOW, None),
        conflict_with(&first)
    );
}

#[test]
fn an_own_favourable_vote_on_a_sibling_outside_the_window_refuses_while_the_tip_is_at_or_above_the_height(
) {
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    for tip in [5, 6, 100] {
        assert_eq!(
            vote_at(
                &mut db,
                &OwnVote::PreCommit,
                &b,
                T0 + 100 * WINDOW,
                Some(tip)
            ),
            conflict_with(&first)
        );
    }
}

#[test]
fn an_own_favourable_vote_on_a_sibling_outside_the_window_allows_once_the_tip_is_below_the_height()
{
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    // Whole seconds: exactly `reconsider_after` later is outside the window.
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + WINDOW, Some(4)),
        VoteRecord::Recorded
    );
    assert_eq!(own(&db, &b).pre_committed_at, Some(T0 + WINDOW));
    // And now the new vote blocks a third sibling in turn.
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::PreCommit,
            &block(1, 5, 3),
            T0 + WINDOW + 1,
            Some(4)
        ),
        conflict_with(&b)
    );
}

#[test]
fn a_sibling_window_counts_from_when_the_first_vote_was_published() {
    // The vote was stamped at T0, but its durable commit and send took 5 s: the window runs
    // from T0 + 5.
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    db.note_favourable_vote_published(&hash(&first), T0 + 5)
        .unwrap();
    assert_eq!(own(&db, &first).pre_committed_at, Some(T0 + 5));
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + WINDOW, Some(4)),
        conflict_with(&first)
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + 5 + WINDOW, Some(4)),
        VoteRecord::Recorded
    );
}

#[test]
fn a_published_note_moves_only_a_first_vote_and_only_forward() {
    let (_dir, _path, mut db) = temp_db();
    let b = block(1, 5, 1);
    vote_at(&mut db, &OwnVote::PreCommit, &b, T0, None);
    db.note_favourable_vote_published(&hash(&b), T0 - 3)
        .unwrap();
    assert_eq!(own(&db, &b).pre_committed_at, Some(T0), "never backward");
    vote_at(&mut db, &OwnVote::Accept, &b, T0 + 1, None);
    db.note_favourable_vote_published(&hash(&b), T0 + 9)
        .unwrap();
    let record = own(&db, &b);
    assert_eq!(
        (record.pre_committed_at, record.signed_at),
        (Some(T0), Some(T0 + 1)),
        "a second favourable vote is not the first"
    );
    let rejected = block(1, 6, 1);
    vote_at(
        &mut db,
        &reject(RejectReason::InvalidMiner),
        &rejected,
        T0,
        None,
    );
    db.note_favourable_vote_published(&hash(&rejected), T0 + 9)
        .unwrap();
    assert_eq!(own(&db, &rejected).rejected_at, Some(T0));
}

#[test]
fn a_sibling_window_counts_from_its_first_favourable_vote_not_its_signature() {
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    vote_at(&mut db, &OwnVote::Accept, &first, T0 + WINDOW - 1, None);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 + WINDOW, Some(4)),
        VoteRecord::Recorded
    );
}

#[test]
fn a_clock_that_went_back_keeps_a_sibling_vote_inside_the_window() {
    let (_dir, _path, mut db) = temp_db();
    let (first, b) = (block(1, 5, 1), block(1, 5, 2));
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &b, T0 - 1000, Some(4)),
        conflict_with(&first)
    );
}

#[test]
fn rejected_siblings_other_heights_and_other_tenures_do_not_conflict() {
    let (_dir, _path, mut db) = temp_db();
    let first = block(1, 5, 1);
    vote_at(&mut db, &OwnVote::PreCommit, &first, T0, None);
    // A sibling this signer rejected and a globally rejected one do not stand in the way.
    let rejected = block(1, 6, 1);
    vote_at(
        &mut db,
        &reject(RejectReason::InvalidMiner),
        &rejected,
        T0,
        None,
    );
    let mut rejected_row = info(block(1, 6, 2));
    rejected_row.state = BlockState::GloballyRejected;
    rejected_row.valid = Some(false);
    db.insert_block(&rejected_row).unwrap();
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &block(1, 6, 3), T0 + 1, None),
        VoteRecord::Recorded
    );
    // Other heights and tenures are not siblings.
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &block(1, 4, 2), T0 + 1, None),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &block(2, 5, 2), T0 + 1, None),
        VoteRecord::Recorded
    );
    // Rejecting a sibling of a block voted for is always allowed.
    assert_eq!(
        vote_at(
            &mut db,
            &reject(RejectReason::InvalidParentBlock),
            &block(1, 5, 2),
            T0 + 1,
            None
        ),
        VoteRecord::Recorded
    );
}

// ---------------------------------------------------------------------------------------
// Refusals, durability, concurrency.

#[test]
fn a_refusal_leaves_both_tables_unchanged() {
    let (_dir, path, mut db) = temp_db();
    let (voted, rejected) = (block(1, 5, 1), block(1, 6, 1));
    let mut row = info(voted.clone());
    row.mark_pre_committed().unwrap();
    db.record_own_vote_at(
        &OwnVote::PreCommit,
        &voted.header,
        42,
        Some(&row),
        &ctx(None),
        T0,
    )
    .unwrap();
    let mut row = info(rejected.clone());
    row.mark_locally_rejected().unwrap();
    db.record_own_vote_at(
        &reject(RejectReason::InvalidMiner),
        &rejected.header,
        42,
        Some(&row),
        &ctx(None),
        T0,
    )
    .unwrap();
    drop(db);
    let before = dump_tables(&path);
    assert_eq!((before.0.len(), before.1.len()), (2, 2));
    let sibling = block(1, 5, 2);
    // Each refused vote comes with a block row that would change the table if written.
    let cases: Vec<(OwnVote, &NakamotoBlock, VoteRefusal)> = vec![
        (
            reject(RejectReason::ReorgNotAllowed),
            &voted,
            VoteRefusal::AlreadyAccepted,
        ),
        (OwnVote::Accept, &rejected, VoteRefusal::AlreadyRejected),
        (
            OwnVote::PreCommit,
            &sibling,
            VoteRefusal::ConflictingBlock {
                signer_signature_hash: hash(&voted),
            },
        ),
    ];
    for (vote, b, refusal) in cases {
        let mut db = reopen(&path).unwrap();
        let mut row = info(b.clone());
        row.state = BlockState::LocallyAccepted;
        row.signed_self = Some(T0 + 1);
        assert_eq!(
            db.record_own_vote_at(&vote, &b.header, 42, Some(&row), &ctx(None), T0 + 1)
                .unwrap(),
            VoteRecord::Refused(refusal)
        );
        drop(db);
        assert_eq!(dump_tables(&path), before, "after refusing {vote:?}");
    }
}

#[test]
fn a_recorded_vote_survives_reopening_the_file() {
    let (_dir, path, mut db) = temp_db();
    let (pre, signed, rejected) = (block(1, 5, 1), block(1, 6, 1), block(1, 7, 1));
    vote_at(&mut db, &OwnVote::PreCommit, &pre, T0, None);
    vote_at(&mut db, &OwnVote::PreCommit, &signed, T0, None);
    vote_at(&mut db, &OwnVote::Accept, &signed, T0 + 1, None);
    vote_at(
        &mut db,
        &reject(RejectReason::ReorgNotAllowed),
        &rejected,
        T0 + 2,
        None,
    );
    let votes = db.get_own_votes().unwrap();
    assert_eq!(votes.len(), 3);
    drop(db);
    let mut db = reopen(&path).unwrap();
    assert_eq!(db.get_own_votes().unwrap(), votes);
    // And the reopened signer keeps applying the rules to them.
    assert_eq!(
        vote_at(
            &mut db,
            &OwnVote::PreCommit,
            &block(1, 5, 2),
            T0 + 100,
            None
        ),
        conflict_with(&pre)
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &rejected, T0 + 100, None),
        VoteRecord::Refused(VoteRefusal::AlreadyRejected)
    );
}

/// Child side of `a_kill_right_after_a_vote_is_recorded_loses_nothing`.
#[test]
#[ignore = "helper run as a child process"]
fn child_records_votes_then_waits_to_be_killed() {
    let Some(path) = child_db() else { return };
    let mut db = reopen(&path).unwrap();
    let mut row = info(block(1, 5, 1));
    row.mark_pre_committed().unwrap();
    assert_eq!(
        db.record_own_vote_at(
            &OwnVote::PreCommit,
            &row.block.header,
            42,
            Some(&row),
            &ctx(None),
            T0
        )
        .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote_at(
            &mut db,
            &reject(RejectReason::ReorgNotAllowed),
            &block(1, 7, 1),
            T0,
            None
        ),
        VoteRecord::Recorded
    );
    announce_and_wait("written");
}

#[test]
fn a_kill_right_after_a_vote_is_recorded_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sqlite");
    let mut child = spawn_child_until(
        "child_records_votes_then_waits_to_be_killed",
        &path,
        "written",
    );
    // SIGKILL: no destructor, no checkpoint, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut db = reopen(&path).unwrap();
    let pre = block(1, 5, 1);
    assert_eq!(own(&db, &pre).pre_committed_at, Some(T0));
    assert_eq!(
        db.block_lookup(&hash(&pre)).unwrap().unwrap().state,
        BlockState::PreCommitted
    );
    assert_eq!(
        own(&db, &block(1, 7, 1)).reject_reason,
        Some(RejectReason::ReorgNotAllowed)
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &block(1, 5, 2), T0 + 1, None),
        conflict_with(&pre)
    );
}

#[test]
fn conflicting_first_votes_from_many_threads_let_exactly_one_through_every_round() {
    const THREADS: u8 = 8;
    const ROUNDS: u64 = 200;
    let (_dir, _path, db) = temp_db();
    let db = Arc::new(Mutex::new(db));
    let barrier = Barrier::new(usize::from(THREADS));
    for round in 0..ROUNDS {
        let height = 1000 + round;
        let outcomes: Vec<(u8, VoteRecord)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=THREADS)
                .map(|variant| {
                    let (db, barrier) = (Arc::clone(&db), &barrier);
                    scope.spawn(move || {
                        let b = block(1, height, variant);
                        let vote = if variant % 2 == 0 {
                            OwnVote::PreCommit
                        } else {
                            OwnVote::Accept
                        };
                        let mut row = info(b.clone());
                        row.state = BlockState::LocallyAccepted;
                        barrier.wait();
                        let outcome = db
                            .lock()
                            .unwrap()
                            .record_own_vote(&vote, &b.header, 42, Some(&row), &ctx(None))
                            .unwrap();
                        (variant, outcome)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<u8> = outcomes
            .iter()
            .filter(|(_, o)| *o == VoteRecord::Recorded)
            .map(|(v, _)| *v)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner = block(1, height, winners[0]);
        for (variant, outcome) in &outcomes {
            if *variant != winners[0] {
                assert_eq!(*outcome, conflict_with(&winner), "round {round}");
            }
        }
        let db = db.lock().unwrap();
        for variant in 1..=THREADS {
            let b = block(1, height, variant);
            let stored = db.get_own_vote(&hash(&b)).unwrap().is_some();
            let row = db.block_lookup(&hash(&b)).unwrap().is_some();
            assert_eq!(
                (stored, row),
                (variant == winners[0], variant == winners[0]),
                "round {round}, variant {variant}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rules under random sequences of votes.

#[derive(Debug, Clone)]
struct Step {
    /// Index into the sibling set (two heights, three siblings each, one tenure).
    block: usize,
    /// 0: pre-commit, 1: signature, 2 and 3: rejection (two reasons).
    kind: u8,
    /// Seconds the clock moves before the vote.
    advance: u64,
    /// The node's tip of the tenure, as the caller knows it.
    tip: Option<u64>,
    /// Whether the caller also stores a block row.
    store: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..6usize,
        0..4u8,
        prop_oneof![Just(0u64), 1..WINDOW, WINDOW - 2..WINDOW + 3, 0..3 * WINDOW],
        proptest::option::of(3..9u64),
        any::<bool>(),
    )
        .prop_map(|(block, kind, advance, tip, store)| Step {
            block,
            kind,
            advance,
            tip,
            store,
        })
}

/// The invariants between two consecutive listings of the own-vote records.
fn check_invariants(
    before: &[OwnVoteRecord],
    after: &[OwnVoteRecord],
) -> Result<(), TestCaseError> {
    // Never two favourable siblings whose first favourable votes are within the window.
    for a in after {
        for b in after {
            if a.signer_signature_hash == b.signer_signature_hash
                || a.consensus_hash != b.consensus_hash
                || a.stacks_height != b.stacks_height
            {
                continue;
            }
            if let (Some(ta), Some(tb)) = (a.first_favourable_at(), b.first_favourable_at()) {
                prop_assert!(
                    ta.abs_diff(tb) >= WINDOW,
                    "siblings voted for within the window: {a:?} {b:?}"
                );
            }
        }
    }
    // Records never disappear; a favourable record stays favourable with its times and
    // gains no rejection; a rejection's first time is kept.
    for old in before {
        let new = after
            .iter()
            .find(|r| r.signer_signature_hash == old.signer_signature_hash);
        prop_assert!(new.is_some(), "record vanished: {old:?}");
        let Some(new) = new else { continue };
        if old.is_favourable() {
            prop_assert!(new.is_favourable());
            prop_assert_eq!(new.rejected_at, old.rejected_at);
            prop_assert_eq!(&new.reject_reason, &old.reject_reason);
        }
        for (o, n) in [
            (old.pre_committed_at, new.pre_committed_at),
            (old.signed_at, new.signed_at),
            (old.rejected_at, new.rejected_at),
        ] {
            if o.is_some() {
                prop_assert_eq!(n, o);
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_vote_sequences_never_vote_for_close_siblings_never_flip_and_refusals_change_nothing(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let mut db = SignerDb::open(":memory:").unwrap();
        let blocks: Vec<NakamotoBlock> = [(5, 1), (5, 2), (5, 3), (6, 1), (6, 2), (6, 3)]
            .iter()
            .map(|&(height, variant)| block(1, height, variant))
            .collect();
        let mut now = T0;
        let mut before = db.get_own_votes().unwrap();
        for step in steps {
            now += step.advance;
            let b = &blocks[step.block];
            let vote = match step.kind {
                0 => OwnVote::PreCommit,
                1 => OwnVote::Accept,
                2 => reject(RejectReason::InvalidMiner),
                _ => reject(RejectReason::ConnectivityIssues("timeout".into())),
            };
            let row = step.store.then(|| info(b.clone()));
            let prior = db.get_own_vote(&hash(b)).unwrap();
            let outcome = db
                .record_own_vote_at(&vote, &b.header, 42, row.as_ref(), &ctx(step.tip), now)
                .unwrap();
            let after = db.get_own_votes().unwrap();
            // What must be refused, and what must go through.
            let prior_favourable = prior.as_ref().is_some_and(OwnVoteRecord::is_favourable);
            let prior_rejection = prior.as_ref().is_some_and(OwnVoteRecord::is_rejection);
            match (&vote, prior_favourable, prior_rejection) {
                (OwnVote::Reject(_), true, _) => prop_assert_eq!(
                    &outcome,
                    &VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
                ),
                (OwnVote::Accept, _, true) => prop_assert_eq!(
                    &outcome,
                    &VoteRecord::Refused(VoteRefusal::AlreadyRejected)
                ),
                (OwnVote::Accept, true, _)
                    if prior.as_ref().is_some_and(|p| p.signed_at.is_none()) =>
                {
                    // A first signature after a pre-commit: checked against siblings.
                    let allowed = matches!(
                        outcome,
                        VoteRecord::Recorded
                            | VoteRecord::Refused(VoteRefusal::ConflictingBlock { .. })
                    );
                    prop_assert!(allowed, "unexpected outcome {:?}", outcome);
                }
                (OwnVote::Reject(_), false, _) | (_, true, _) => {
                    prop_assert_eq!(&outcome, &VoteRecord::Recorded)
                }
                _ => {
                    let allowed = matches!(
                        outcome,
                        VoteRecord::Recorded
                            | VoteRecord::Refused(VoteRefusal::ConflictingBlock { .. })
                    );
                    prop_assert!(allowed, "unexpected outcome {:?}", outcome);
                }
            }
            // A first favourable vote goes through only when every sibling this signer
            // voted for is outside the window and known not to be on the node's tip.
            if outcome == VoteRecord::Recorded && vote.is_favourable() && !prior_favourable {
                let height = b.header.chain_length;
                for sibling in &before {
                    let Some(first) = sibling.first_favourable_at() else { continue };
                    if sibling.stacks_height == height
                        && sibling.signer_signature_hash != hash(b)
                    {
                        prop_assert!(
                            now - first >= WINDOW && step.tip.is_some_and(|t| t < height),
                            "voted at {} with tip {:?} next to {:?}", now, step.tip, sibling
                        );
                    }
                }
            }
            // A first signature on a block pre-committed to before goes through only when
            // every sibling this signer signed, or voted for since, is outside the window and
            // known not to be on the node's tip.
            let first_signature = prior
                .as_ref()
                .is_some_and(|p| p.is_favourable() && p.signed_at.is_none());
            if outcome == VoteRecord::Recorded && vote == OwnVote::Accept && first_signature {
                let height = b.header.chain_length;
                let since = prior.as_ref().and_then(OwnVoteRecord::first_favourable_at);
                for sibling in &before {
                    let Some(first) = sibling.first_favourable_at() else { continue };
                    let stands = sibling.signed_at.is_some() || since.is_some_and(|s| first >= s);
                    if sibling.stacks_height == height
                        && sibling.signer_signature_hash != hash(b)
                        && stands
                    {
                        prop_assert!(
                            now - first >= WINDOW && step.tip.is_some_and(|t| t < height),
                            "signed at {} with tip {:?} next to {:?}", now, step.tip, sibling
                        );
                    }
                }
            }
            match &outcome {
                VoteRecord::Refused(_) => prop_assert_eq!(&after, &before),
                VoteRecord::Recorded => {
                    if let Some(row) = &row {
                        let stored = db.block_lookup(&hash(b)).unwrap();
                        prop_assert_eq!(stored.as_ref(), Some(row));
                    }
                }
            }
            check_invariants(&before, &after)?;
            before = after;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Schema 19 → 20.

/// This signer's schema 19 (before `own_votes`), as `schema.rs` created it.
const SCHEMA_V19: &str = r#"
CREATE TABLE db_config (
    version INTEGER NOT NULL
) STRICT;

CREATE TABLE blocks (
    signer_signature_hash BLOB NOT NULL PRIMARY KEY,
    reward_cycle INTEGER NOT NULL,
    burn_block_height INTEGER NOT NULL,
    consensus_hash BLOB NOT NULL,
    stacks_height INTEGER NOT NULL,
    block BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('Unprocessed', 'LocallyAccepted', 'LocallyRejected',
                                         'GloballyAccepted', 'GloballyRejected', 'PreCommitted')),
    valid INTEGER CHECK (valid IN (0, 1)),
    signed_over INTEGER NOT NULL CHECK (signed_over IN (0, 1)),
    proposed_time INTEGER NOT NULL,
    signed_self INTEGER,
    signed_group INTEGER,
    validation_time_ms INTEGER,
    broadcasted INTEGER,
    tenure_change INTEGER NOT NULL CHECK (tenure_change IN (0, 1)),
    tenure_change_cause INTEGER,
    vote BLOB,
    ext INTEGER NOT NULL DEFAULT 0,
    reject_reason TEXT
) STRICT;
CREATE INDEX blocks_tenure_signed_height ON blocks (consensus_hash, signed_over, stacks_height);
CREATE INDEX blocks_tenure_state_height ON blocks (consensus_hash, state, stacks_height DESC);
CREATE INDEX blocks_tenure_height ON blocks (consensus_hash, stacks_height);
CREATE INDEX blocks_state_height_signed_group ON blocks (state, stacks_height DESC, signed_group DESC);
CREATE INDEX blocks_reward_cycle_state ON blocks (reward_cycle, state);

CREATE TABLE burn_blocks (
    consensus_hash BLOB NOT NULL PRIMARY KEY,
    block_hash BLOB NOT NULL,
    block_height INTEGER NOT NULL,
    received_time INTEGER NOT NULL,
    parent_burn_block_hash BLOB
) STRICT;
CREATE INDEX burn_blocks_block_hash ON burn_blocks (block_hash);
CREATE INDEX burn_blocks_block_height ON burn_blocks (block_height);

CREATE TABLE block_signatures (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_rejection_signer_addrs (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    reject_code INTEGER NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_pre_commits (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_validations_pending (
    signer_signature_hash BLOB NOT NULL PRIMARY KEY,
    added_time INTEGER NOT NULL
) STRICT;
CREATE INDEX block_validations_pending_added_time ON block_validations_pending (added_time ASC);

CREATE TABLE block_validated_by_replay_txs (
    signer_signature_hash BLOB NOT NULL,
    replay_tx_hash TEXT NOT NULL,
    replay_tx_exhausted INTEGER NOT NULL CHECK (replay_tx_exhausted IN (0, 1)),
    PRIMARY KEY (signer_signature_hash, replay_tx_hash)
) STRICT;

CREATE TABLE tenure_activity (
    consensus_hash BLOB NOT NULL PRIMARY KEY,
    last_activity_time INTEGER NOT NULL
) STRICT;

CREATE TABLE signer_state_machine_updates (
    signer_addr TEXT NOT NULL,
    reward_cycle INTEGER NOT NULL,
    state_update BLOB NOT NULL,
    received_time INTEGER NOT NULL,
    PRIMARY KEY (signer_addr, reward_cycle)
) STRICT;
CREATE INDEX signer_state_machine_updates_reward_cycle ON signer_state_machine_updates (reward_cycle, received_time ASC);

CREATE TABLE burn_block_updates_received_times (
    signer_addr TEXT NOT NULL,
    burn_block_consensus_hash BLOB NOT NULL,
    received_time INTEGER NOT NULL,
    PRIMARY KEY (signer_addr, burn_block_consensus_hash)
) STRICT;
CREATE INDEX burn_block_updates_received_times_consensus_hash ON burn_block_updates_received_times (burn_block_consensus_hash, received_time ASC);

CREATE TABLE stackerdb_tracking (
    public_key TEXT NOT NULL,
    slot_id INTEGER NOT NULL,
    slot_version INTEGER NOT NULL,
    PRIMARY KEY (public_key, slot_id)
) STRICT;
"#;

/// Inserts `b` into a schema 19 `blocks` table.
fn insert_v19_block(conn: &Connection, b: &BlockInfo) {
    conn.execute(
        "INSERT INTO blocks (signer_signature_hash, reward_cycle, burn_block_height, \
         consensus_hash, stacks_height, block, state, valid, signed_over, proposed_time, \
         signed_self, signed_group, validation_time_ms, broadcasted, tenure_change, \
         tenure_change_cause, vote, ext, reject_reason) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, 0, NULL, \
         NULL, 0, ?13)",
        params![
            hash(&b.block).as_bytes(),
            b.reward_cycle as i64,
            b.burn_block_height as i64,
            b.block.header.consensus_hash.as_bytes(),
            b.block.header.chain_length as i64,
            b.block.serialize_to_vec(),
            b.state.name(),
            b.valid,
            b.signed_over,
            b.proposed_time as i64,
            b.signed_self.map(|t| t as i64),
            b.signed_group.map(|t| t as i64),
            b.reject_reason
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap()),
        ],
    )
    .unwrap();
}

fn schema_objects(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
             ORDER BY type, name",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[test]
fn a_schema_19_database_gets_own_votes_backfilled_from_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v19.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(SCHEMA_V19).unwrap();
    conn.execute("INSERT INTO db_config VALUES (19)", [])
        .unwrap();
    let row = |height: u64, state: BlockState| {
        let mut b = info(block(1, height, 1));
        b.proposed_time = 50 + height;
        b.state = state;
        b
    };
    // Favourable votes: signed_self set, whatever the state.
    let mut pre = row(1, BlockState::PreCommitted);
    (pre.valid, pre.signed_over, pre.signed_self) = (Some(true), true, Some(100));
    let mut signed = row(2, BlockState::LocallyAccepted);
    (signed.valid, signed.signed_over, signed.signed_self) = (Some(true), true, Some(200));
    let mut accepted_signed = row(3, BlockState::GloballyAccepted);
    (accepted_signed.signed_self, accepted_signed.signed_group) = (Some(300), Some(310));
    // The reference's flip: signed, then rejected (v0-logic §11.3).
    let mut flipped = row(4, BlockState::LocallyRejected);
    (flipped.valid, flipped.signed_self) = (Some(false), Some(400));
    flipped.reject_reason = Some(RejectReason::ConnectivityIssues("timeout".into()));
    // A rejection.
    let mut rejected = row(5, BlockState::LocallyRejected);
    rejected.valid = Some(false);
    rejected.reject_reason = Some(RejectReason::InvalidParentBlock);
    // No vote of this signer on record.
    let mut accepted_unsigned = row(6, BlockState::GloballyAccepted);
    accepted_unsigned.signed_group = Some(600);
    let mut globally_rejected = row(7, BlockState::GloballyRejected);
    globally_rejected.valid = Some(false);
    let unprocessed = row(8, BlockState::Unprocessed);
    let mut group_accepted = row(9, BlockState::LocallyAccepted);
    group_accepted.signed_group = Some(900);
    let all = [
        &pre,
        &signed,
        &accepted_signed,
        &flipped,
        &rejected,
        &accepted_unsigned,
        &globally_rejected,
        &unprocessed,
        &group_accepted,
    ];
    for b in all {
        insert_v19_block(&conn, b);
    }
    drop(conn);

    let mut db = reopen(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), 21);
    assert_eq!(SCHEMA_VERSION, 21);
    for b in all {
        assert_eq!(db.block_lookup(&hash(&b.block)).unwrap().as_ref(), Some(b));
    }
    let record = |b: &BlockInfo, pre, signed, rejected, reason| OwnVoteRecord {
        signer_signature_hash: hash(&b.block),
        reward_cycle: 42,
        consensus_hash: b.block.header.consensus_hash,
        stacks_height: b.block.header.chain_length,
        pre_committed_at: pre,
        signed_at: signed,
        rejected_at: rejected,
        reject_reason: reason,
    };
    assert_eq!(
        db.get_own_votes().unwrap(),
        vec![
            record(&pre, Some(100), None, None, None),
            record(&signed, None, Some(200), None, None),
            record(&accepted_signed, None, Some(300), None, None),
            record(&flipped, None, Some(400), None, None),
            record(
                &rejected,
                None,
                None,
                Some(55),
                Some(RejectReason::InvalidParentBlock)
            ),
        ]
    );
    // The rules apply to the backfilled votes.
    assert_eq!(
        vote_at(&mut db, &OwnVote::PreCommit, &block(1, 1, 2), now(), None),
        conflict_with(&pre.block)
    );
    assert_eq!(
        vote_at(
            &mut db,
            &reject(RejectReason::InvalidMiner),
            &flipped.block,
            now(),
            None
        ),
        VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
    );
    assert_eq!(
        vote_at(&mut db, &OwnVote::Accept, &rejected.block, now(), None),
        VoteRecord::Refused(VoteRefusal::AlreadyRejected)
    );
    drop(db);

    // The migrated file is exactly a fresh one, with both versions on record.
    let migrated = Connection::open(&path).unwrap();
    let fresh_path = dir.path().join("fresh.sqlite");
    drop(reopen(&fresh_path).unwrap());
    let fresh = Connection::open(&fresh_path).unwrap();
    assert_eq!(schema_objects(&migrated), schema_objects(&fresh));
    let versions: Vec<i64> = migrated
        .prepare("SELECT version FROM db_config ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, vec![19, 20, 21]);
}

#[test]
fn a_failing_schema_19_migration_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v19.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(SCHEMA_V19).unwrap();
    conn.execute("INSERT INTO db_config VALUES (19)", [])
        .unwrap();
    // A stray table in the way of the new one.
    conn.execute_batch("CREATE TABLE own_votes (x INTEGER);")
        .unwrap();
    drop(conn);
    let err = reopen(&path).unwrap_err();
    assert!(
        matches!(err, SignerDbError::Migration { to: 20, .. }),
        "{err:?}"
    );
    let conn = Connection::open(&path).unwrap();
    let max: i64 = conn
        .query_row("SELECT MAX(version) FROM db_config", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, 19);
}
