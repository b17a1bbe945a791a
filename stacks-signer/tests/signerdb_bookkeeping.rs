//! The validation queue, replay-set validations, tenure activity and StackerDB slot versions.

mod signerdb_support;

use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use signerdb_support::*;
use stacks_signer::signerdb::{PendingBlockValidation, SignerDb, SignerDbError};

fn hash(n: u8) -> Sha512Trunc256Sum {
    Sha512Trunc256Sum::from([n; 32])
}

#[test]
fn pending_validations_come_out_oldest_first() {
    let (_dir, _path, mut db) = temp_db();
    db.insert_pending_block_validation(&hash(2), 2000).unwrap();
    db.insert_pending_block_validation(&hash(3), 3000).unwrap();
    db.insert_pending_block_validation(&hash(1), 1000).unwrap();
    assert!(db.has_pending_block_validation(&hash(3)).unwrap());
    assert_eq!(
        db.get_all_pending_block_validations().unwrap(),
        vec![
            PendingBlockValidation {
                signer_signature_hash: hash(1),
                added_time: 1000
            },
            PendingBlockValidation {
                signer_signature_hash: hash(2),
                added_time: 2000
            },
            PendingBlockValidation {
                signer_signature_hash: hash(3),
                added_time: 3000
            },
        ]
    );
    for (n, t) in [(1, 1000), (2, 2000), (3, 3000)] {
        assert_eq!(
            db.get_and_remove_pending_block_validation().unwrap(),
            Some(PendingBlockValidation {
                signer_signature_hash: hash(n),
                added_time: t
            })
        );
    }
    assert_eq!(db.get_and_remove_pending_block_validation().unwrap(), None);
    assert!(!db.has_pending_block_validation(&hash(3)).unwrap());
}

#[test]
fn queuing_a_block_twice_is_a_typed_error_and_removal_is_idempotent() {
    let (_dir, _path, mut db) = temp_db();
    db.insert_pending_block_validation(&hash(1), 10).unwrap();
    let err = db
        .insert_pending_block_validation(&hash(1), 20)
        .unwrap_err();
    assert!(
        matches!(err, SignerDbError::DuplicatePendingValidation(_)),
        "{err:?}"
    );
    db.remove_pending_block_validation(&hash(1)).unwrap();
    db.remove_pending_block_validation(&hash(1)).unwrap();
    assert!(db.get_all_pending_block_validations().unwrap().is_empty());
}

#[test]
fn replay_validations_keep_the_set_hash_as_decimal_text() {
    let (_dir, path, mut db) = temp_db();
    let big = 15_559_610_262_907_183_370u64;
    assert!(db
        .get_was_block_validated_by_replay_tx(&hash(1), big)
        .unwrap()
        .is_none());
    db.insert_block_validated_by_replay_tx(&hash(1), big, true)
        .unwrap();
    db.insert_block_validated_by_replay_tx(&hash(1), 7, false)
        .unwrap();
    let found = db
        .get_was_block_validated_by_replay_tx(&hash(1), big)
        .unwrap()
        .unwrap();
    assert_eq!(found.replay_tx_hash, "15559610262907183370");
    assert!(found.replay_tx_exhausted);
    assert!(
        !db.get_was_block_validated_by_replay_tx(&hash(1), 7)
            .unwrap()
            .unwrap()
            .replay_tx_exhausted
    );
    assert!(db
        .get_was_block_validated_by_replay_tx(&hash(2), big)
        .unwrap()
        .is_none());
    assert!(db
        .insert_block_validated_by_replay_tx(&hash(1), big, false)
        .is_err());
    drop(db);
    let text = raw(&path).value(
        "SELECT replay_tx_hash FROM block_validated_by_replay_txs WHERE replay_tx_exhausted = 1",
    );
    assert_eq!(text, RawValue::Text("15559610262907183370".into()));
}

#[test]
fn tenure_activity_is_kept_per_tenure() {
    let (_dir, _path, mut db) = temp_db();
    let (t1, t2) = (ConsensusHash::from([1; 20]), ConsensusHash::from([2; 20]));
    assert_eq!(db.get_last_activity_time(&t1).unwrap(), None);
    db.update_last_activity_time(&t1, 100).unwrap();
    db.update_last_activity_time(&t2, 50).unwrap();
    db.update_last_activity_time(&t1, 150).unwrap();
    assert_eq!(db.get_last_activity_time(&t1).unwrap(), Some(150));
    assert_eq!(db.get_last_activity_time(&t2).unwrap(), Some(50));
    let err = db.update_last_activity_time(&t1, u64::MAX).unwrap_err();
    assert!(
        matches!(err, SignerDbError::ValueTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn slot_versions_survive_a_restart_per_key_and_slot() {
    let (_dir, path, mut db) = temp_db();
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"signer"));
    let other = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"other"));
    assert_eq!(db.get_latest_chunk_version(&key, 1).unwrap(), None);
    db.set_latest_chunk_version(&key, 1, 5).unwrap();
    db.set_latest_chunk_version(&key, 1, 6).unwrap();
    db.set_latest_chunk_version(&key, 2, u32::MAX).unwrap();
    db.set_latest_chunk_version(&other, 1, 9).unwrap();
    drop(db);
    let db = SignerDb::open(&path).unwrap();
    assert_eq!(db.get_latest_chunk_version(&key, 1).unwrap(), Some(6));
    assert_eq!(
        db.get_latest_chunk_version(&key, 2).unwrap(),
        Some(u32::MAX)
    );
    assert_eq!(db.get_latest_chunk_version(&other, 1).unwrap(), Some(9));
    assert_eq!(db.get_latest_chunk_version(&other, 2).unwrap(), None);
}

#[test]
fn a_signer_takes_only_its_own_reward_cycles_pending_validations() {
    let (_dir, _path, mut db) = temp_db();
    let mut old = info(block(1, 5, 1));
    old.reward_cycle = 16;
    let mut new = info(block(2, 6, 1));
    new.reward_cycle = 17;
    db.insert_block(&old).unwrap();
    db.insert_block(&new).unwrap();
    let old_hash = old.signer_signature_hash();
    let new_hash = new.signer_signature_hash();
    db.insert_pending_block_validation(&old_hash, 1000).unwrap();
    db.insert_pending_block_validation(&new_hash, 2000).unwrap();
    // A hash whose block is not stored stays queued for the plain call.
    db.insert_pending_block_validation(&hash(9), 500).unwrap();
    let took = db
        .get_and_remove_pending_block_validation_of_cycle(17)
        .unwrap()
        .unwrap();
    assert_eq!(
        took.signer_signature_hash, new_hash,
        "the older cycle-16 block stays"
    );
    assert_eq!(
        db.get_and_remove_pending_block_validation_of_cycle(17)
            .unwrap(),
        None
    );
    let took = db
        .get_and_remove_pending_block_validation_of_cycle(16)
        .unwrap()
        .unwrap();
    assert_eq!(took.signer_signature_hash, old_hash);
    assert_eq!(
        db.get_all_pending_block_validations().unwrap(),
        vec![PendingBlockValidation {
            signer_signature_hash: hash(9),
            added_time: 500
        }]
    );
}
