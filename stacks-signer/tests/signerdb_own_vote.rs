//! Recording this signer's own votes: the check-and-record rules and their durability.

mod signerdb_support;

use std::time::Duration;

use libsigner::v0::messages::RejectReason;
use signerdb_support::*;
use stacks_signer::signerdb::{
    BlockState::*, ConflictPolicy, OwnVote, SignerDb, VoteRecord, VoteRefusal,
};

const POLICY: ConflictPolicy = ConflictPolicy {
    reconsider_after: Duration::from_secs(30),
};

#[test]
fn pre_commit_then_signature_are_recorded_and_stored() {
    let (_dir, path, mut db) = temp_db();
    let mut b = info(block(1, 5, 1));
    db.insert_block(&b).unwrap();
    assert_eq!(
        db.record_own_vote(&mut b, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(
        (b.state, b.valid, b.signed_over),
        (PreCommitted, Some(true), true)
    );
    let signed = b.signed_self.unwrap();
    assert_eq!(
        db.record_own_vote(&mut b, OwnVote::Accept, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!((b.state, b.signed_self), (LocallyAccepted, Some(signed)));
    drop(db);
    let db = SignerDb::open(&path).unwrap();
    assert_eq!(
        db.block_lookup(&b.signer_signature_hash()).unwrap(),
        Some(b)
    );
}

#[test]
fn recording_again_is_idempotent_and_a_stale_copy_is_merged_with_the_stored_vote() {
    let (_dir, _path, mut db) = temp_db();
    let original = info(block(1, 5, 1));
    let mut b = original.clone();
    db.record_own_vote(&mut b, OwnVote::PreCommit, &POLICY)
        .unwrap();
    // A copy taken before the pre-commit still cannot be rejected.
    let mut stale = original.clone();
    assert_eq!(
        db.record_own_vote(
            &mut stale,
            OwnVote::Reject(RejectReason::InvalidMiner),
            &POLICY
        )
        .unwrap(),
        VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
    );
    assert_eq!(stale, original, "a refusal leaves the caller's copy alone");
    let mut stale = original;
    assert_eq!(
        db.record_own_vote(&mut stale, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(stale.signed_self, b.signed_self);
    assert_eq!(stale.state, PreCommitted);
}

#[test]
fn a_rejection_is_never_followed_by_a_favourable_vote() {
    let (_dir, _path, mut db) = temp_db();
    let mut b = info(block(1, 5, 1));
    let reason = RejectReason::SortitionViewMismatch;
    assert_eq!(
        db.record_own_vote(&mut b, OwnVote::Reject(reason.clone()), &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(
        (b.state, b.valid, b.reject_reason.clone()),
        (LocallyRejected, Some(false), Some(reason))
    );
    for vote in [OwnVote::PreCommit, OwnVote::Accept] {
        assert_eq!(
            db.record_own_vote(&mut b, vote, &POLICY).unwrap(),
            VoteRecord::Refused(VoteRefusal::AlreadyRejected)
        );
    }
    let stored = db
        .block_lookup(&b.signer_signature_hash())
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, LocallyRejected);
}

#[test]
fn a_favourable_vote_is_never_followed_by_a_rejection() {
    let (_dir, _path, mut db) = temp_db();
    for first in [OwnVote::PreCommit, OwnVote::Accept] {
        let mut b = info(block(1, 5, if first == OwnVote::Accept { 1 } else { 2 }));
        // Distinct heights so the two blocks are not siblings.
        b.block.header.chain_length = if first == OwnVote::Accept { 5 } else { 6 };
        b.block.header.tx_merkle_root = b.block.compute_tx_merkle_root();
        assert_eq!(
            db.record_own_vote(&mut b, first, &POLICY).unwrap(),
            VoteRecord::Recorded
        );
        assert_eq!(
            db.record_own_vote(&mut b, OwnVote::Reject(RejectReason::InvalidMiner), &POLICY)
                .unwrap(),
            VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
        );
    }
}

#[test]
fn a_recent_vote_for_a_sibling_blocks_a_vote_for_another_block_at_the_same_height() {
    let (_dir, _path, mut db) = temp_db();
    let mut first = info(block(1, 5, 1));
    let mut sibling = info(block(1, 5, 2));
    assert_eq!(
        db.record_own_vote(&mut first, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    for vote in [OwnVote::PreCommit, OwnVote::Accept] {
        assert_eq!(
            db.record_own_vote(&mut sibling, vote, &POLICY).unwrap(),
            VoteRecord::Refused(VoteRefusal::ConflictingBlock {
                signer_signature_hash: first.signer_signature_hash(),
                state: PreCommitted,
            })
        );
    }
    assert_eq!(
        db.block_lookup(&sibling.signer_signature_hash()).unwrap(),
        None
    );
    // Other heights and other tenures are not siblings; rejecting a sibling is fine.
    let mut child = info(block(1, 6, 3));
    assert_eq!(
        db.record_own_vote(&mut child, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    let mut other_tenure = info(block(2, 5, 4));
    assert_eq!(
        db.record_own_vote(&mut other_tenure, OwnVote::Accept, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(
        db.record_own_vote(
            &mut sibling,
            OwnVote::Reject(RejectReason::InvalidParentBlock),
            &POLICY
        )
        .unwrap(),
        VoteRecord::Recorded
    );
}

#[test]
fn an_old_unaccepted_sibling_vote_no_longer_blocks_after_the_reconsider_delay() {
    let (_dir, _path, mut db) = temp_db();
    let mut old = info(block(1, 5, 1));
    old.mark_pre_committed().unwrap();
    old.signed_self = Some(now() - 31);
    db.insert_block(&old).unwrap();
    let mut sibling = info(block(1, 5, 2));
    assert_eq!(
        db.record_own_vote(&mut sibling, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    // Within a longer delay it would still have blocked.
    let mut third = info(block(1, 5, 3));
    let long = ConflictPolicy {
        reconsider_after: Duration::from_secs(3600),
    };
    assert!(matches!(
        db.record_own_vote(&mut third, OwnVote::PreCommit, &long)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock { .. })
    ));
}

#[test]
fn a_sibling_the_network_accepted_always_blocks() {
    let (_dir, _path, mut db) = temp_db();
    let mut accepted = info(block(1, 5, 1));
    accepted.state = GloballyAccepted;
    accepted.signed_group = Some(1);
    db.insert_block(&accepted).unwrap();
    let mut group_signed = info(block(2, 5, 1));
    group_signed.mark_locally_accepted(true).unwrap();
    group_signed.signed_group = Some(1);
    db.insert_block(&group_signed).unwrap();
    let no_delay = ConflictPolicy {
        reconsider_after: Duration::ZERO,
    };
    let mut s1 = info(block(1, 5, 2));
    assert_eq!(
        db.record_own_vote(&mut s1, OwnVote::Accept, &no_delay)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock {
            signer_signature_hash: accepted.signer_signature_hash(),
            state: GloballyAccepted,
        })
    );
    let mut s2 = info(block(2, 5, 2));
    assert_eq!(
        db.record_own_vote(&mut s2, OwnVote::PreCommit, &no_delay)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock {
            signer_signature_hash: group_signed.signer_signature_hash(),
            state: LocallyAccepted,
        })
    );
}

#[test]
fn the_signature_that_follows_a_pre_commit_is_not_rechecked_for_siblings() {
    let (_dir, _path, mut db) = temp_db();
    let mut b = info(block(1, 5, 1));
    db.record_own_vote(&mut b, OwnVote::PreCommit, &POLICY)
        .unwrap();
    // A sibling got accepted meanwhile (e.g. the node's tip); the pre-committed block can
    // still be signed, as the reference does.
    let mut sibling = info(block(1, 5, 2));
    sibling.state = GloballyAccepted;
    db.insert_block(&sibling).unwrap();
    assert_eq!(
        db.record_own_vote(&mut b, OwnVote::Accept, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
}

#[test]
fn globally_decided_blocks_follow_the_state_machine() {
    let (_dir, _path, mut db) = temp_db();
    let mut accepted = info(block(1, 5, 1));
    accepted.state = GloballyAccepted;
    accepted.valid = Some(true);
    db.insert_block(&accepted).unwrap();
    // Signing a globally accepted block keeps its state and stamps signed_self.
    assert_eq!(
        db.record_own_vote(&mut accepted, OwnVote::Accept, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    assert_eq!(accepted.state, GloballyAccepted);
    assert!(accepted.signed_self.is_some());
    let mut accepted2 = info(block(1, 6, 1));
    accepted2.state = GloballyAccepted;
    assert_eq!(
        db.record_own_vote(&mut accepted2, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::InvalidTransition {
            from: GloballyAccepted,
            to: PreCommitted
        })
    );
    let mut rejected = info(block(1, 7, 1));
    rejected.state = GloballyRejected;
    for (vote, to) in [
        (OwnVote::Accept, LocallyAccepted),
        (OwnVote::PreCommit, PreCommitted),
        (OwnVote::Reject(RejectReason::InvalidMiner), LocallyRejected),
    ] {
        assert_eq!(
            db.record_own_vote(&mut rejected, vote, &POLICY).unwrap(),
            VoteRecord::Refused(VoteRefusal::InvalidTransition {
                from: GloballyRejected,
                to
            })
        );
    }
}

/// Child side of `a_kill_right_after_a_vote_is_recorded_loses_nothing`.
#[test]
#[ignore = "helper run as a child process"]
fn child_records_a_vote_then_waits_to_be_killed() {
    let Some(path) = child_db() else { return };
    let mut db = SignerDb::open(&path).unwrap();
    let mut b = info(block(1, 5, 1));
    assert_eq!(
        db.record_own_vote(&mut b, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    let mut b2 = info(block(1, 6, 1));
    db.record_own_vote(&mut b2, OwnVote::PreCommit, &POLICY)
        .unwrap();
    assert_eq!(
        db.record_own_vote(&mut b2, OwnVote::Accept, &POLICY)
            .unwrap(),
        VoteRecord::Recorded
    );
    let mut b3 = info(block(1, 7, 1));
    db.record_own_vote(
        &mut b3,
        OwnVote::Reject(RejectReason::ReorgNotAllowed),
        &POLICY,
    )
    .unwrap();
    announce_and_wait("written");
}

#[test]
fn a_kill_right_after_a_vote_is_recorded_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sqlite");
    let mut child = spawn_child("child_records_a_vote_then_waits_to_be_killed", &path);
    wait_for_line(&mut child, "written");
    // SIGKILL: no destructor, no checkpoint, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    let db = SignerDb::open(&path).unwrap();
    let pre = db
        .block_lookup(&block(1, 5, 1).header.signer_signature_hash())
        .unwrap()
        .unwrap();
    assert_eq!((pre.state, pre.valid), (PreCommitted, Some(true)));
    assert!(pre.signed_self.is_some());
    let signed = db
        .block_lookup(&block(1, 6, 1).header.signer_signature_hash())
        .unwrap()
        .unwrap();
    assert_eq!(signed.state, LocallyAccepted);
    let rejected = db
        .block_lookup(&block(1, 7, 1).header.signer_signature_hash())
        .unwrap()
        .unwrap();
    assert_eq!(rejected.state, LocallyRejected);
    assert_eq!(rejected.reject_reason, Some(RejectReason::ReorgNotAllowed));
    // And the restarted signer keeps refusing a sibling of what it voted for.
    let mut db = db;
    let mut sibling = info(block(1, 5, 2));
    assert!(matches!(
        db.record_own_vote(&mut sibling, OwnVote::PreCommit, &POLICY)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock { .. })
    ));
}
