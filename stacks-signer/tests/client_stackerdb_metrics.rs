//! The StackerDB client's retries and give-ups are counted by reason. Alone in its test
//! binary so that the process-wide counters move only with what it does.

mod scripted_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsigner::chain::{Sha512Trunc256Sum, StacksPrivateKey};
use libsigner::v0::messages::{MessageSlotID, SignerMessage};
use scripted_server::Scripted;
use stacks_signer::client::stackerdb::{MAX_UNCODED_REJECTIONS, MAX_VERSION_CONFLICTS};
use stacks_signer::client::{SignerSlotID, StackerDB};
use stacks_signer::config::SignerConfigMode;
use stacks_signer::monitoring::metrics::metrics;
use stacks_signer::signerdb::{SharedSignerDb, SignerDb};

fn client(host: &str, db: &SharedSignerDb) -> StackerDB<MessageSlotID> {
    StackerDB::new(
        host,
        StacksPrivateKey::from_seed(b"stackerdb metrics"),
        false,
        12,
        SignerConfigMode::Normal {
            signer_id: 0,
            signer_slot_id: SignerSlotID(0),
        },
        Duration::from_secs(2),
        Arc::clone(db),
    )
}

fn retries(reason: &str) -> u64 {
    metrics()
        .stackerdb_write_retries
        .with_label_values(&[reason])
        .get()
}

fn give_ups(reason: &str) -> u64 {
    metrics()
        .stackerdb_write_give_ups
        .with_label_values(&[reason])
        .get()
}

#[test]
fn stackerdb_retries_and_give_ups_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db: SharedSignerDb = Arc::new(Mutex::new(
        SignerDb::open(dir.path().join("signer.sqlite")).unwrap(),
    ));
    let message = SignerMessage::BlockPreCommit(Sha512Trunc256Sum::from_data(&[1]));

    // Rejections without a code: retried with the same version, then given up.
    let server = Scripted::start(|_, _, _| (200, r#"{"accepted":false}"#.to_string()));
    client(&server.host(), &db)
        .send_message_with_retry(&message)
        .unwrap_err();
    assert_eq!(
        retries("rejected_without_code"),
        u64::from(MAX_UNCODED_REJECTIONS - 1)
    );
    assert_eq!(give_ups("rejected_without_code"), 1);

    // Version conflicts: each tries the next version, then given up.
    let server = Scripted::start(|_, _, _| {
        (200, r#"{"accepted":false,"reason":"{\"code\":0,\"message\":\"DataAlreadyExists\",\"reason\":\"exists\"}","code":0}"#.to_string())
    });
    client(&server.host(), &db)
        .send_message_with_retry(&message)
        .unwrap_err();
    assert_eq!(
        retries("version_conflict"),
        u64::from(MAX_VERSION_CONFLICTS - 1)
    );
    assert_eq!(give_ups("version_conflict"), 1);

    // A refusal with another code: given up at once.
    let server = Scripted::start(|_, _, _| {
        (
            200,
            r#"{"accepted":false,"reason":"bad signer","code":1}"#.to_string(),
        )
    });
    client(&server.host(), &db)
        .send_message_with_retry(&message)
        .unwrap_err();
    assert_eq!(give_ups("rejected"), 1);

    // A node that is not there: retried for the backoff budget, then given up.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = closed.local_addr().unwrap().to_string();
    drop(closed);
    client(&host, &db)
        .send_message_with_retry(&message)
        .unwrap_err();
    assert!(retries("transport") >= 1);
    assert_eq!(give_ups("transport"), 1);
}
