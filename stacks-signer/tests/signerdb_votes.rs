//! Peers' votes on blocks: signatures, rejections and pre-commits.

mod signerdb_support;

use libsigner::chain::{MessageSignature, Sha512Trunc256Sum, StacksAddress};
use libsigner::v0::messages::{RejectReason, RejectReasonPrefix, ValidateRejectCode};
use signerdb_support::*;

fn hash(n: u8) -> Sha512Trunc256Sum {
    Sha512Trunc256Sum::from([n; 32])
}

#[test]
fn signatures_are_returned_in_signer_address_order() {
    let (_dir, _path, mut db) = temp_db();
    let testnet = StacksAddress::burn_address(false);
    let mainnet = StacksAddress::burn_address(true);
    let sig1 = MessageSignature([0x11; 65]);
    let sig2 = MessageSignature([0x22; 65]);
    assert!(db.get_block_signatures(&hash(1)).unwrap().is_empty());
    assert!(db.add_block_signature(&hash(1), &testnet, &sig1).unwrap());
    assert!(db.add_block_signature(&hash(1), &mainnet, &sig2).unwrap());
    // "SP000…" sorts before "ST000…".
    assert_eq!(db.get_block_signatures(&hash(1)).unwrap(), vec![sig2, sig1]);
    assert_eq!(
        db.get_block_signers_and_signatures(&hash(1)).unwrap(),
        vec![(mainnet, sig2), (testnet, sig1)]
    );
    assert!(db.get_block_signatures(&hash(2)).unwrap().is_empty());
}

#[test]
fn the_first_signature_of_each_signer_wins() {
    let (_dir, _path, mut db) = temp_db();
    let signer = addr(1);
    let first = MessageSignature([0x33; 65]);
    let second = MessageSignature([0x44; 65]);
    assert!(db.add_block_signature(&hash(1), &signer, &first).unwrap());
    assert!(!db.add_block_signature(&hash(1), &signer, &second).unwrap());
    assert!(!db.add_block_signature(&hash(1), &signer, &first).unwrap());
    assert_eq!(db.get_block_signatures(&hash(1)).unwrap(), vec![first]);
}

#[test]
fn rejections_keep_the_prefix_of_each_signer_in_address_order() {
    let (_dir, _path, mut db) = temp_db();
    let testnet = StacksAddress::burn_address(false);
    let mainnet = StacksAddress::burn_address(true);
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &testnet, &RejectReason::DuplicateBlockFound)
        .unwrap());
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &mainnet, &RejectReason::InvalidParentBlock)
        .unwrap());
    assert_eq!(
        db.get_block_rejection_signer_addrs(&hash(1)).unwrap(),
        vec![
            (mainnet, RejectReasonPrefix::InvalidParentBlock),
            (testnet, RejectReasonPrefix::DuplicateBlockFound)
        ]
    );
}

#[test]
fn a_repeated_rejection_is_refused_and_a_changed_reason_replaces_it() {
    let (_dir, _path, mut db) = temp_db();
    let signer = addr(2);
    let failed = RejectReason::ValidationFailed(ValidateRejectCode::BadBlockHash);
    let failed_other = RejectReason::ValidationFailed(ValidateRejectCode::ChainstateError);
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &signer, &failed)
        .unwrap());
    // Same prefix (even with another validation code) is a duplicate.
    assert!(!db
        .add_block_rejection_signer_addr(&hash(1), &signer, &failed_other)
        .unwrap());
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &signer, &RejectReason::ReorgNotAllowed)
        .unwrap());
    assert_eq!(
        db.get_block_rejection_signer_addrs(&hash(1)).unwrap(),
        vec![(signer, RejectReasonPrefix::ReorgNotAllowed)]
    );
}

#[test]
fn a_signature_supersedes_an_earlier_rejection() {
    let (_dir, _path, mut db) = temp_db();
    let signer = addr(3);
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &signer, &RejectReason::InvalidMiner)
        .unwrap());
    assert!(db
        .add_block_signature(&hash(1), &signer, &MessageSignature([1; 65]))
        .unwrap());
    assert!(db
        .get_block_rejection_signer_addrs(&hash(1))
        .unwrap()
        .is_empty());
    assert_eq!(db.get_block_signatures(&hash(1)).unwrap().len(), 1);
}

#[test]
fn a_rejection_after_a_signature_is_refused() {
    let (_dir, _path, mut db) = temp_db();
    let signer = addr(4);
    assert!(db
        .add_block_signature(&hash(1), &signer, &MessageSignature([1; 65]))
        .unwrap());
    assert!(!db
        .add_block_rejection_signer_addr(&hash(1), &signer, &RejectReason::InvalidMiner)
        .unwrap());
    assert!(db
        .get_block_rejection_signer_addrs(&hash(1))
        .unwrap()
        .is_empty());
    // Another signer's rejection of the same block is still recorded.
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &addr(5), &RejectReason::InvalidMiner)
        .unwrap());
}

#[test]
fn unknown_stored_reason_bytes_read_as_unknown() {
    let (_dir, path, mut db) = temp_db();
    assert!(db
        .add_block_rejection_signer_addr(&hash(1), &addr(1), &RejectReason::Unknown(200))
        .unwrap());
    drop(db);
    let mut conn = raw(&path);
    let code = conn.value("SELECT reject_code FROM block_rejection_signer_addrs");
    assert_eq!(code, RawValue::Int(254));
    conn.execute("UPDATE block_rejection_signer_addrs SET reject_code = 99");
    drop(conn);
    let db = stacks_signer::signerdb::SignerDb::open(&path).unwrap();
    assert_eq!(
        db.get_block_rejection_signer_addrs(&hash(1)).unwrap(),
        vec![(addr(1), RejectReasonPrefix::Unknown)]
    );
}

#[test]
fn a_corrupt_signature_row_is_an_error_naming_table_and_column() {
    let (_dir, path, mut db) = temp_db();
    db.add_block_signature(&hash(1), &addr(1), &MessageSignature([1; 65]))
        .unwrap();
    drop(db);
    raw(&path).execute("UPDATE block_signatures SET signature = x'0102'");
    let db = stacks_signer::signerdb::SignerDb::open(&path).unwrap();
    let err = db.get_block_signatures(&hash(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupt value in block_signatures.signature: expected 65 bytes, got 2"
    );
}

#[test]
fn pre_commits_are_a_set_per_block() {
    let (_dir, _path, mut db) = temp_db();
    let (a, b, c) = (addr(1), addr(2), mainnet_addr(3));
    assert!(db.get_block_pre_committers(&hash(1)).unwrap().is_empty());
    db.add_block_pre_commit(&hash(1), &a).unwrap();
    db.add_block_pre_commit(&hash(1), &b).unwrap();
    db.add_block_pre_commit(&hash(1), &a).unwrap();
    db.add_block_pre_commit(&hash(2), &c).unwrap();
    // Address text order: "ST1040…" (hash 0x02…) before "STG208…" (hash 0x01…).
    assert_eq!(db.get_block_pre_committers(&hash(1)).unwrap(), vec![b, a]);
    assert_eq!(db.get_block_pre_committers(&hash(2)).unwrap(), vec![c]);
    assert!(db.has_committed(&hash(1), &a).unwrap());
    assert!(!db.has_committed(&hash(1), &c).unwrap());
    assert!(!db.has_committed(&hash(3), &a).unwrap());
}
