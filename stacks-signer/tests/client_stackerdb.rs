//! The StackerDB client against the mock node over loopback (the node's write rules, acks and
//! codes), and against a scripted HTTP server for what the node never does (rejections without
//! a code, endless version conflicts).

mod scripted_server;

use std::net::TcpListener;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::{
    ConsensusHash, MessageSignature, NakamotoBlock, NakamotoBlockHeader, Sha512Trunc256Sum,
    StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::{StackerDBChunkData, SIGNERS_STACKERDB_CHUNK_SIZE};
use libsigner::v0::messages::{
    BlockResponse, MessageSlotID, SignerMessage, StateMachineUpdate, StateMachineUpdateContent,
    StateMachineUpdateMinerState,
};
use libsigner::{SignerSession, StackerDBSession};
use scripted_server::Scripted;
use stacks_signer::client::{ClientError, SignerSlotID, StackerDB};
use stacks_signer::config::{GlobalConfig, SignerConfig, SignerConfigMode};
use stacks_signer::devnet::activity::{Activity, ActivityEntry, ChunkSource};
use stacks_signer::devnet::{MockNode, MockNodeConfig, RunningMockNode, SignerSpec};
use stacks_signer::signerdb::{SharedSignerDb, SignerDb};

const TIMEOUT: Duration = Duration::from_secs(2);

/// Three external signers, sorted by compressed key (= reward-set order = slot order).
fn keys() -> Vec<StacksPrivateKey> {
    let mut keys: Vec<StacksPrivateKey> = (0..3)
        .map(|i| StacksPrivateKey::from_seed(format!("stackerdb client {i}").as_bytes()))
        .collect();
    keys.sort_by_key(|k| StacksPublicKey::from_private(k).to_bytes_compressed());
    keys
}

/// A mock node whose current reward cycle is 12 (or 13 with `odd_cycle`), with [`keys`] as
/// its signers; a subscription to its activity.
fn start(odd_cycle: bool) -> (RunningMockNode, Receiver<ActivityEntry>, u64) {
    let mut config = MockNodeConfig {
        signers: keys()
            .iter()
            .map(|k| SignerSpec::external(StacksPublicKey::from_private(k), 1))
            .collect(),
        ..MockNodeConfig::default()
    };
    // first burn height 100, cycles of 20: 344 is in cycle 12, 364 in cycle 13.
    config.start_burn_height = if odd_cycle { 364 } else { 344 };
    let node = MockNode::start(config).unwrap();
    let activity = node.subscribe();
    (node, activity, if odd_cycle { 13 } else { 12 })
}

/// A signer database in a fresh temporary directory.
fn temp_db() -> (tempfile::TempDir, std::path::PathBuf, SharedSignerDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sqlite");
    let db = SignerDb::open(&path).unwrap();
    (dir, path, Arc::new(Mutex::new(db)))
}

fn normal(slot: u32) -> SignerConfigMode {
    SignerConfigMode::Normal {
        signer_id: slot,
        signer_slot_id: SignerSlotID(slot),
    }
}

fn client(
    host: &str,
    key: &StacksPrivateKey,
    cycle: u64,
    mode: SignerConfigMode,
    db: &SharedSignerDb,
) -> StackerDB<MessageSlotID> {
    StackerDB::new(
        host,
        key.clone(),
        false,
        cycle,
        mode,
        TIMEOUT,
        Arc::clone(db),
    )
}

/// One chunk write the node saw over RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    contract: String,
    slot_id: u32,
    slot_version: u32,
    accepted: bool,
    code: Option<u32>,
}

fn w(contract: &str, slot_id: u32, slot_version: u32, code: Option<u32>) -> Write {
    Write {
        contract: contract.into(),
        slot_id,
        slot_version,
        accepted: code.is_none(),
        code,
    }
}

/// The RPC chunk writes recorded since the last call. The node records a write before it
/// answers it, so everything a finished call sent is already here.
fn rpc_writes(activity: &Receiver<ActivityEntry>) -> Vec<Write> {
    activity
        .try_iter()
        .filter_map(|e| match e.activity {
            Activity::ChunkWrite {
                contract,
                slot_id,
                slot_version,
                accepted,
                code,
                source: ChunkSource::Rpc,
                ..
            } => Some(Write {
                contract,
                slot_id,
                slot_version,
                accepted,
                code,
            }),
            _ => None,
        })
        .collect()
}

fn stored_version(db: &SharedSignerDb, key: &StacksPrivateKey, slot: u32) -> Option<u32> {
    db.lock()
        .unwrap()
        .get_latest_chunk_version(&StacksPublicKey::from_private(key), slot)
        .unwrap()
}

fn block_response(n: u8) -> SignerMessage {
    SignerMessage::BlockResponse(BlockResponse::accepted(
        Sha512Trunc256Sum::from_data(&[n]),
        MessageSignature([n; 65]),
        1_000 + u64::from(n),
        2_000 + u64::from(n),
    ))
}

fn state_update(height: u64) -> SignerMessage {
    SignerMessage::StateMachineUpdate(
        StateMachineUpdate::new(
            0,
            3,
            StateMachineUpdateContent::V0 {
                burn_block: ConsensusHash::from([7; 20]),
                burn_block_height: height,
                current_miner: StateMachineUpdateMinerState::NoValidMiner,
            },
        )
        .unwrap(),
    )
}

fn pre_commit(n: u8) -> SignerMessage {
    SignerMessage::BlockPreCommit(Sha512Trunc256Sum::from_data(&[n, n]))
}

/// The latest message in `slot` of the `msg_id` contract, read with the client.
fn read_back(
    c: &mut StackerDB<MessageSlotID>,
    msg_id: MessageSlotID,
    slot: u32,
) -> Option<SignerMessage> {
    let latest = c
        .get_latest_messages::<SignerMessage>(&msg_id, &[slot])
        .unwrap();
    assert!(latest.undecodable.is_empty());
    latest.messages.into_iter().next().map(|(s, m)| {
        assert_eq!(s, slot);
        m
    })
}

#[test]
fn each_message_kind_lands_in_its_contract_and_slot_with_increasing_versions() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&node.node_host(), &keys[1], cycle, normal(1), &db);
    assert_eq!((c.reward_cycle(), c.signer_set()), (12, 0));
    assert_eq!(c.signer_slot_id(), Some(SignerSlotID(1)));

    // A fresh slot is at version 0: the first attempt conflicts, the next is stored.
    let ack = c.send_message_with_retry(&block_response(1)).unwrap();
    assert!(ack.accepted);
    assert_eq!(ack.metadata.as_ref().map(|m| m.slot_version), Some(1));
    assert_eq!(
        rpc_writes(&activity),
        vec![
            w("signers-0-1", 1, 0, Some(0)),
            w("signers-0-1", 1, 1, None)
        ]
    );
    assert_eq!(stored_version(&db, &keys[1], 1), Some(1));

    // Versions are tracked per slot, across the message kinds (as the reference does).
    assert!(
        c.send_message_with_retry(&state_update(7))
            .unwrap()
            .accepted
    );
    assert!(c.send_message_with_retry(&pre_commit(3)).unwrap().accepted);
    assert!(
        c.send_message_with_retry(&block_response(2))
            .unwrap()
            .accepted
    );
    assert_eq!(
        rpc_writes(&activity),
        vec![
            w("signers-0-2", 1, 2, None),
            w("signers-0-3", 1, 3, None),
            w("signers-0-1", 1, 4, None),
        ]
    );
    assert_eq!(stored_version(&db, &keys[1], 1), Some(4));

    assert_eq!(
        read_back(&mut c, MessageSlotID::BlockResponse, 1),
        Some(block_response(2))
    );
    assert_eq!(
        read_back(&mut c, MessageSlotID::StateMachineUpdate, 1),
        Some(state_update(7))
    );
    assert_eq!(
        read_back(&mut c, MessageSlotID::BlockPreCommit, 1),
        Some(pre_commit(3))
    );
    // The other signers' slots are untouched.
    assert_eq!(read_back(&mut c, MessageSlotID::BlockResponse, 0), None);
    assert_eq!(read_back(&mut c, MessageSlotID::BlockResponse, 2), None);
}

#[test]
fn an_odd_reward_cycle_writes_to_the_signers_1_contracts() {
    let (node, activity, cycle) = start(true);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&node.node_host(), &keys[2], cycle, normal(2), &db);
    assert_eq!((c.reward_cycle(), c.signer_set()), (13, 1));
    assert_eq!(
        c.get_session_mut(&MessageSlotID::StateMachineUpdate)
            .unwrap()
            .stackerdb_contract_id
            .to_string(),
        "ST000000000000000000002AMW42H.signers-1-2"
    );
    assert!(
        c.send_message_with_retry(&state_update(9))
            .unwrap()
            .accepted
    );
    assert!(c.send_message_with_retry(&pre_commit(9)).unwrap().accepted);
    assert_eq!(
        rpc_writes(&activity),
        vec![
            w("signers-1-2", 2, 0, Some(0)),
            w("signers-1-2", 2, 1, None),
            w("signers-1-3", 2, 2, None),
        ]
    );
    assert_eq!(
        read_back(&mut c, MessageSlotID::StateMachineUpdate, 2),
        Some(state_update(9))
    );
}

#[test]
fn versions_persist_across_clients_sharing_the_database_and_across_reopening_it() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, path, db) = temp_db();
    let host = node.node_host();

    let mut first = client(&host, &keys[0], cycle, normal(0), &db);
    first.send_message_with_retry(&block_response(1)).unwrap();
    drop(first);
    assert_eq!(rpc_writes(&activity).len(), 2);

    // A new client with the same handle starts above the recorded version: one write.
    let mut second = client(&host, &keys[0], cycle, normal(0), &db);
    second.send_message_with_retry(&block_response(2)).unwrap();
    drop(second);
    assert_eq!(rpc_writes(&activity), vec![w("signers-0-1", 0, 2, None)]);

    // The version is on disk: a reopened database carries on.
    drop(db);
    let reopened: SharedSignerDb = Arc::new(Mutex::new(SignerDb::open(&path).unwrap()));
    assert_eq!(stored_version(&reopened, &keys[0], 0), Some(2));
    let mut third = client(&host, &keys[0], cycle, normal(0), &reopened);
    third.send_message_with_retry(&pre_commit(1)).unwrap();
    assert_eq!(rpc_writes(&activity), vec![w("signers-0-3", 0, 3, None)]);
}

#[test]
fn a_slot_bumped_by_another_writer_is_recovered_by_writing_above_it() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let host = node.node_host();
    let mut c = client(&host, &keys[1], cycle, normal(1), &db);
    c.send_message_with_retry(&block_response(1)).unwrap();
    assert_eq!(stored_version(&db, &keys[1], 1), Some(1));
    rpc_writes(&activity);

    // Someone else with the same key (a second signer process) writes version 5.
    let mut other = StackerDBSession::new(
        &host,
        MessageSlotID::BlockResponse.stacker_db_contract(false, cycle),
        TIMEOUT,
    );
    let mut chunk = StackerDBChunkData::new(1, 5, block_response(9).serialize_to_vec());
    chunk.sign(&keys[1]).unwrap();
    assert!(other.put_chunk(&chunk).unwrap().accepted);
    rpc_writes(&activity);

    let ack = c.send_message_with_retry(&block_response(2)).unwrap();
    assert!(ack.accepted);
    assert_eq!(
        rpc_writes(&activity),
        vec![
            w("signers-0-1", 1, 2, Some(0)),
            w("signers-0-1", 1, 6, None)
        ]
    );
    assert_eq!(stored_version(&db, &keys[1], 1), Some(6));
    assert_eq!(
        read_back(&mut c, MessageSlotID::BlockResponse, 1),
        Some(block_response(2))
    );
}

#[test]
fn a_slot_owned_by_another_signer_is_refused_with_bad_signer_without_retrying() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    // keys[0] owns slot 0, not slot 1.
    let mut c = client(&node.node_host(), &keys[0], cycle, normal(1), &db);
    let err = c.send_message_with_retry(&block_response(1)).unwrap_err();
    assert_rejected_with(&err, "BadSigner");
    assert!(err
        .to_string()
        .starts_with("Stacker-db rejected the chunk. Reason: "));
    assert_eq!(rpc_writes(&activity), vec![w("signers-0-1", 1, 0, Some(2))]);
    assert_eq!(stored_version(&db, &keys[0], 1), None);
}

#[test]
fn a_slot_past_the_slot_count_is_refused_with_no_such_slot_without_retrying() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&node.node_host(), &keys[0], cycle, normal(7), &db);
    let err = c.send_message_with_retry(&pre_commit(1)).unwrap_err();
    assert_rejected_with(&err, "NoSuchSlot");
    assert_eq!(rpc_writes(&activity), vec![w("signers-0-3", 7, 0, Some(1))]);
}

#[test]
fn a_dry_run_client_writes_nothing_and_reports_acceptance() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(
        &node.node_host(),
        &keys[0],
        cycle,
        SignerConfigMode::DryRun,
        &db,
    );
    assert_eq!(c.signer_slot_id(), None);
    for message in [block_response(1), state_update(3), pre_commit(2)] {
        let ack = c.send_message_with_retry(&message).unwrap();
        assert!(ack.accepted);
        assert_eq!((ack.reason, ack.metadata, ack.code), (None, None, None));
    }
    assert_eq!(rpc_writes(&activity), vec![]);
    assert_eq!(stored_version(&db, &keys[0], 0), None);
    assert_eq!(read_back(&mut c, MessageSlotID::BlockResponse, 0), None);
}

#[test]
fn a_miner_message_has_no_slot_and_is_refused_without_sending() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&node.node_host(), &keys[0], cycle, normal(0), &db);
    let pushed = SignerMessage::BlockPushed(NakamotoBlock {
        header: NakamotoBlockHeader::empty(),
        txs: vec![],
    });
    let err = c.send_message_with_retry(&pushed).unwrap_err();
    assert!(matches!(err, ClientError::MessageHasNoSlot), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Stacker-db rejected the chunk. Reason: Tried to send a SignerMessage which does not \
         have a corresponding .signers slot identifier"
    );
    assert_eq!(rpc_writes(&activity), vec![]);
}

#[test]
fn an_oversized_chunk_is_refused_before_sending() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&node.node_host(), &keys[0], cycle, normal(0), &db);
    let err = c
        .send_message_bytes_with_retry(
            &MessageSlotID::BlockResponse,
            vec![1; SIGNERS_STACKERDB_CHUNK_SIZE + 1],
        )
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ChunkTooLarge { size, limit }
            if size == SIGNERS_STACKERDB_CHUNK_SIZE + 1 && limit == SIGNERS_STACKERDB_CHUNK_SIZE),
        "{err:?}"
    );
    assert_eq!(rpc_writes(&activity), vec![]);
}

#[test]
fn latest_messages_skip_empty_and_undecodable_chunks() {
    let (node, _activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let host = node.node_host();
    let mut c0 = client(&host, &keys[0], cycle, normal(0), &db);
    c0.send_message_with_retry(&state_update(5)).unwrap();
    let mut c1 = client(&host, &keys[1], cycle, normal(1), &db);
    c1.send_message_bytes_with_retry(&MessageSlotID::StateMachineUpdate, vec![0xff, 0xee])
        .unwrap();

    // Slot 2 was never written (empty), slot 9 does not exist (404).
    let latest = c0
        .get_latest_messages::<SignerMessage>(&MessageSlotID::StateMachineUpdate, &[2, 1, 0, 9])
        .unwrap();
    assert_eq!(latest.messages, vec![(0, state_update(5))]);
    assert_eq!(latest.undecodable, vec![1]);

    let session = c0
        .get_session_mut(&MessageSlotID::StateMachineUpdate)
        .unwrap();
    let messages: Vec<SignerMessage> =
        StackerDB::<MessageSlotID>::get_messages(session, &[0, 1, 2]).unwrap();
    assert_eq!(messages, vec![state_update(5)]);
}

#[test]
fn from_config_uses_the_configs_host_cycle_key_and_mode() {
    let (node, activity, _) = start(true);
    let keys = keys();
    let (_dir, path, db) = temp_db();
    let text = format!(
        "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:30000\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n",
        keys[1].to_hex(),
        node.node_host(),
        path.display()
    );
    let (global, _) = GlobalConfig::load_from_str(&text).unwrap();
    let config = SignerConfig::new(
        &global,
        13,
        normal(1),
        libsigner::SignerEntries::default(),
        vec![SignerSlotID(0), SignerSlotID(1), SignerSlotID(2)],
    );
    let mut c = StackerDB::<MessageSlotID>::from_config(&config, Arc::clone(&db));
    assert_eq!(c.reward_cycle(), 13);
    assert_eq!(c.mode(), normal(1));
    assert!(c.send_message_with_retry(&pre_commit(4)).unwrap().accepted);
    assert_eq!(
        rpc_writes(&activity),
        vec![
            w("signers-1-3", 1, 0, Some(0)),
            w("signers-1-3", 1, 1, None)
        ]
    );
}

#[test]
fn a_poisoned_database_lock_is_an_error_not_a_panic() {
    let (node, activity, cycle) = start(false);
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let poisoner = Arc::clone(&db);
    let _ = std::thread::spawn(move || {
        let _guard = poisoner.lock().unwrap();
        panic!("poison the signer database lock");
    })
    .join();
    assert!(db.is_poisoned());
    let mut c = client(&node.node_host(), &keys[0], cycle, normal(0), &db);
    let err = c.send_message_with_retry(&pre_commit(1)).unwrap_err();
    assert!(matches!(err, ClientError::SignerDbPoisoned), "{err:?}");
    assert_eq!(rpc_writes(&activity), vec![]);
}

#[test]
fn a_down_node_fails_after_the_retry_budget_instead_of_hanging() {
    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&format!("127.0.0.1:{port}"), &keys[0], 12, normal(0), &db);
    let t = Instant::now();
    let err = c.send_message_with_retry(&pre_commit(1)).unwrap_err();
    let elapsed = t.elapsed();
    assert!(matches!(err, ClientError::RPCError(_)), "{err:?}");
    // Retried (not given up at once), and bounded by the 5 s budget (generous margin).
    assert!(elapsed >= Duration::from_secs(1), "retried: {elapsed:?}");
    assert!(elapsed <= Duration::from_secs(30), "bounded: {elapsed:?}");
    assert_eq!(stored_version(&db, &keys[0], 0), None);
}

/// Asserts `err` is the node's rejection with a reason naming `code`.
fn assert_rejected_with(err: &ClientError, code: &str) {
    match err {
        ClientError::PutChunkRejected(reason) => assert!(reason.contains(code), "{reason}"),
        other => panic!("expected PutChunkRejected, got {other:?}"),
    }
}

/// The `slot_version` of every chunk posted to `server` so far.
fn versions(server: &Scripted) -> Vec<u64> {
    server
        .seen()
        .iter()
        .map(|post| post.json()["slot_version"].as_u64().unwrap())
        .collect()
}

#[test]
fn rejections_without_a_code_give_up_after_a_bounded_number_of_attempts() {
    let server = Scripted::start(|_, _, _| (200, r#"{"accepted":false}"#.to_string()));
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&server.host(), &keys[0], 12, normal(0), &db);
    let err = c.send_message_with_retry(&pre_commit(1)).unwrap_err();
    match &err {
        ClientError::PutChunkGaveUp {
            slot_id,
            slot_version,
            attempts,
            reason,
        } => {
            assert_eq!((*slot_id, *slot_version), (0, 0));
            assert_eq!(
                *attempts,
                stacks_signer::client::stackerdb::MAX_UNCODED_REJECTIONS
            );
            assert_eq!(reason, "No reason given");
        }
        other => panic!("expected PutChunkGaveUp, got {other:?}"),
    }
    assert!(err.to_string().contains("slot 0"), "{err}");
    // The same version each time, and nothing recorded.
    assert_eq!(versions(&server), vec![0, 0, 0]);
    assert_eq!(stored_version(&db, &keys[0], 0), None);
}

#[test]
fn endless_version_conflicts_give_up_after_a_bounded_number_of_attempts() {
    // Always "DataAlreadyExists", without the slot's metadata.
    let server = Scripted::start(|_, _, _| {
        (200, r#"{"accepted":false,"reason":"{\"code\":0,\"message\":\"DataAlreadyExists\",\"reason\":\"Data for this slot and version already exist\"}","code":0}"#
                .to_string())
    });
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    let mut c = client(&server.host(), &keys[0], 12, normal(0), &db);
    let err = c.send_message_with_retry(&pre_commit(1)).unwrap_err();
    let max = stacks_signer::client::stackerdb::MAX_VERSION_CONFLICTS;
    match &err {
        ClientError::PutChunkGaveUp {
            slot_id,
            slot_version,
            attempts,
            reason,
        } => {
            assert_eq!((*slot_id, *slot_version), (0, max - 1));
            assert_eq!(*attempts, max);
            assert!(reason.contains("DataAlreadyExists"), "{reason}");
        }
        other => panic!("expected PutChunkGaveUp, got {other:?}"),
    }
    // Each conflict moves one version up; the last attempted one is recorded.
    let expected: Vec<u64> = (0..u64::from(max)).collect();
    assert_eq!(versions(&server), expected);
    assert_eq!(stored_version(&db, &keys[0], 0), Some(max - 1));
}

#[test]
fn the_database_lock_is_not_held_while_the_node_answers() {
    let keys = keys();
    let (_dir, _path, db) = temp_db();
    // The server answers a conflict first, then accepts; each time it checks whether the
    // client's database lock is free while the request is in flight.
    let free: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![]));
    let (db_seen, free_seen) = (Arc::clone(&db), Arc::clone(&free));
    let server = Scripted::start(move |_, _, _| {
        let mut seen = free_seen.lock().unwrap();
        seen.push(db_seen.try_lock().is_ok());
        let answer = if seen.len() == 1 {
            r#"{"accepted":false,"code":0}"#
        } else {
            r#"{"accepted":true}"#
        };
        (200, answer.to_string())
    });
    let mut c = client(&server.host(), &keys[0], 12, normal(0), &db);
    assert!(c.send_message_with_retry(&pre_commit(1)).unwrap().accepted);
    assert_eq!(versions(&server), vec![0, 1]);
    assert_eq!(*free.lock().unwrap(), vec![true, true]);
    assert_eq!(stored_version(&db, &keys[0], 0), Some(1));
}
