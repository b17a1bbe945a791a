//! The mock node's StackerDB routes enforce the node's write rules (slot ownership by
//! signature recovery, strictly increasing versions, missing slots) with the exact acks, serve
//! chunks and metadata, and emit `/stackerdb_chunks` after each accepted write.

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{Sha512Trunc256Sum, StacksPrivateKey};
use mock_node_common::{get, post_json, Observer};
use serde_json::json;
use stacks_signer::client::api::{NeighborAddress, SlotMetadata, StackerDBChunkAckData};
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};

const DB: &str = "/v2/stackerdb/ST000000000000000000002AMW42H";

struct Fixture {
    node: RunningMockNode,
    observer: Observer,
    /// Signer keys in reward-set (slot) order.
    keys: Vec<StacksPrivateKey>,
}

fn fixture() -> Fixture {
    let observer = Observer::start();
    let keys: Vec<StacksPrivateKey> = (0..3)
        .map(|i| StacksPrivateKey::from_seed(format!("stackerdb test {i}").as_bytes()))
        .collect();
    let signers = keys
        .iter()
        .map(|k| SignerSpec::external(libsigner::chain::StacksPublicKey::from_private(k), 1))
        .collect();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    // Slot order = ascending compressed key.
    let mut keys = keys;
    keys.sort_by_key(|k| libsigner::chain::StacksPublicKey::from_private(k).to_bytes_compressed());
    Fixture {
        node,
        observer,
        keys,
    }
}

fn post_chunk(
    node: &RunningMockNode,
    name: &str,
    chunk: &impl serde::Serialize,
) -> StackerDBChunkAckData {
    let resp = post_json(
        node.addr(),
        &format!("{DB}/{name}/chunks"),
        &serde_json::to_value(chunk).unwrap(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.parse()
}

#[test]
fn a_fresh_slot_refuses_version_zero_then_takes_strictly_increasing_versions() {
    let f = fixture();
    // Cycle 12 → parity 0.
    let ack = post_chunk(
        &f.node,
        "signers-0-1",
        &sign_chunk(&f.keys[1], 1, 0, vec![7, 1]),
    );
    assert!(!ack.accepted);
    assert_eq!(ack.code, Some(0));
    let md = ack.metadata.unwrap();
    assert_eq!((md.slot_id, md.slot_version), (1, 0));
    assert_eq!(md.data_hash, Sha512Trunc256Sum::zero());

    let chunk = sign_chunk(&f.keys[1], 1, 1, vec![7, 1]);
    let ack = post_chunk(&f.node, "signers-0-1", &chunk);
    assert!(ack.accepted);
    assert_eq!(ack.code, None);
    assert_eq!(ack.reason, None);
    let md = ack.metadata.unwrap();
    assert_eq!(md.slot_version, 1);
    assert_eq!(md.data_hash, Sha512Trunc256Sum::from_data(&[7, 1]));
    assert_eq!(md.signature, chunk.sig);

    // Same version again: stale.
    let stale = post_chunk(
        &f.node,
        "signers-0-1",
        &sign_chunk(&f.keys[1], 1, 1, vec![9]),
    );
    assert_eq!(stale.code, Some(0));
    assert_eq!(stale.metadata.unwrap().slot_version, 1);
    // Gaps are allowed.
    assert!(
        post_chunk(
            &f.node,
            "signers-0-1",
            &sign_chunk(&f.keys[1], 1, 9, vec![9])
        )
        .accepted
    );

    // The chunk reads back, latest and by exact version only.
    let latest = get(f.node.addr(), &format!("{DB}/signers-0-1/1"));
    assert_eq!(latest.status, 200);
    assert_eq!(
        latest.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(latest.body, vec![9]);
    assert_eq!(
        get(f.node.addr(), &format!("{DB}/signers-0-1/1/9")).body,
        vec![9]
    );
    assert_eq!(
        get(f.node.addr(), &format!("{DB}/signers-0-1/1/1")).status,
        404
    );
    // A never-written slot is an empty 200; a slot past the count is a 404.
    let empty = get(f.node.addr(), &format!("{DB}/signers-0-1/0"));
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    assert_eq!(
        get(f.node.addr(), &format!("{DB}/signers-0-1/3")).status,
        404
    );
}

#[test]
fn writes_by_a_key_that_does_not_own_the_slot_or_to_missing_slots_are_refused_with_their_codes() {
    let f = fixture();
    let ack = post_chunk(
        &f.node,
        "signers-0-2",
        &sign_chunk(&f.keys[0], 2, 1, vec![1]),
    );
    assert!(!ack.accepted);
    assert_eq!(ack.code, Some(2));
    assert_eq!(ack.metadata.as_ref().unwrap().slot_id, 2);
    let reason: serde_json::Value = serde_json::from_str(ack.reason.as_deref().unwrap()).unwrap();
    assert_eq!(
        reason,
        json!({"code": 2, "message": "BadSigner", "reason": "Signature does not match slot signer"})
    );
    let ack = post_chunk(
        &f.node,
        "signers-0-2",
        &sign_chunk(&f.keys[0], 3, 1, vec![1]),
    );
    assert_eq!(ack.code, Some(1));
    assert!(ack.metadata.is_none());
    // An unrecoverable signature on an existing slot is code 0.
    let mut bad = sign_chunk(&f.keys[0], 0, 1, vec![1]);
    bad.sig.0[0] = 9;
    assert_eq!(post_chunk(&f.node, "signers-0-2", &bad).code, Some(0));
    // Raw ack text keeps the node's field order.
    let raw = post_json(
        f.node.addr(),
        &format!("{DB}/signers-0-2/chunks"),
        &serde_json::to_value(sign_chunk(&f.keys[0], 7, 1, vec![1])).unwrap(),
    );
    assert_eq!(
        raw.text(),
        r#"{"accepted":false,"reason":"{\"code\":1,\"message\":\"NoSuchSlot\",\"reason\":\"No such StackerDB slot\"}","code":1}"#
    );
    // The other cycle parity has no signers yet; unknown contracts are 404.
    assert_eq!(
        post_chunk(
            &f.node,
            "signers-1-1",
            &sign_chunk(&f.keys[0], 0, 1, vec![1])
        )
        .code,
        Some(1)
    );
    let missing = post_json(
        f.node.addr(),
        &format!("{DB}/signers-2-1/chunks"),
        &serde_json::to_value(sign_chunk(&f.keys[0], 0, 1, vec![1])).unwrap(),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "StackerDB not found");
}

#[test]
fn metadata_and_replicas_list_every_slot() {
    let f = fixture();
    post_chunk(
        &f.node,
        "signers-0-3",
        &sign_chunk(&f.keys[2], 2, 4, vec![7; 33]),
    );
    let list: Vec<SlotMetadata> = get(f.node.addr(), &format!("{DB}/signers-0-3")).parse();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.iter().map(|m| m.slot_id).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(list[2].slot_version, 4);
    assert_eq!(list[0].slot_version, 0);
    let miners: Vec<SlotMetadata> = get(f.node.addr(), &format!("{DB}/miners")).parse();
    assert_eq!(miners.len(), 4);
    let replicas: Vec<NeighborAddress> =
        get(f.node.addr(), &format!("{DB}/signers-0-3/replicas")).parse();
    assert_eq!(replicas[0].port, f.node.addr().port());
    assert_eq!(get(f.node.addr(), &format!("{DB}/nope")).status, 404);
}

#[test]
fn accepted_writes_are_announced_to_stackerdb_observers_with_sorted_keys() {
    let f = fixture();
    let chunk = sign_chunk(&f.keys[0], 0, 1, vec![7; 33]);
    assert!(post_chunk(&f.node, "signers-0-3", &chunk).accepted);
    // A refused write produces no event.
    post_chunk(
        &f.node,
        "signers-0-3",
        &sign_chunk(&f.keys[0], 0, 1, vec![8]),
    );
    assert!(f
        .observer
        .wait_for(Duration::from_secs(5), |e| !e.is_empty()));
    assert!(f.node.wait_events_delivered(Duration::from_secs(5)));
    let events = f.observer.events_on("/stackerdb_chunks");
    assert_eq!(events.len(), 1);
    let expected = format!(
        r#"{{"contract_id":{{"issuer":[26,[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]],"name":"signers-0-3"}},"modified_slots":[{{"data":"{}","sig":"{}","slot_id":0,"slot_version":1}}]}}"#,
        to_hex(&[7; 33]),
        chunk.sig.to_hex()
    );
    assert_eq!(String::from_utf8(events[0].raw.clone()).unwrap(), expected);
}
