//! Crossing a reward-cycle boundary: the next cycle's reward set becomes available only once
//! a Stacks block is processed in the node's prepare phase (400 `not_available_try_again`
//! before), the `.signers` data and StackerDB slots follow it, and proposals of the new cycle
//! are signed by the new set.

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use mock_node_common::{get, post_json, Observer};
use serde_json::json;
use stacks_signer::client::api::{CallReadOnlyResponse, GetStackersResponse};
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};

const TIMEOUT: Duration = Duration::from_secs(20);

fn key(name: &str) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(name.as_bytes())
}

fn mine_until(node: &RunningMockNode, burn_height: u64) {
    while node.burn_tip().height < burn_height {
        node.mine_tenures(1, 1, TIMEOUT).unwrap();
    }
}

fn last_set_cycle(node: &RunningMockNode) -> String {
    let resp: CallReadOnlyResponse = post_json(
        node.addr(),
        "/v2/contracts/call-read/ST000000000000000000002AMW42H/signers/get-last-set-cycle",
        &json!({"sender": "ST000000000000000000002AMW42H", "arguments": []}),
    )
    .parse();
    resp.result.unwrap()
}

#[test]
fn the_next_reward_set_appears_in_the_prepare_phase_and_signs_the_next_cycle() {
    let observer = Observer::start();
    let (a, b, c, d) = (key("a"), key("b"), key("c"), key("d"));
    let signers = [&a, &b, &c]
        .iter()
        .map(|k| SignerSpec::simulated((*k).clone(), 1))
        .collect();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config.cycle_signers.insert(
        13,
        [&b, &c, &d]
            .iter()
            .map(|k| SignerSpec::simulated((*k).clone(), 1))
            .collect(),
    );
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();

    // Index 15 of cycle 12 is the signer's prepare phase but not yet the node's.
    mine_until(&node, 355);
    let resp = get(node.addr(), "/v3/stacker_set/13");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["err_type"], "not_available_try_again");
    assert_eq!(
        last_set_cycle(&node),
        "0x07010000000000000000000000000000000c"
    );

    // The first block processed at index 16 computes cycle 13's set.
    mine_until(&node, 356);
    let set: GetStackersResponse = get(node.addr(), "/v3/stacker_set/13").parse();
    let keys: Vec<Vec<u8>> = set
        .stacker_set
        .signers
        .unwrap()
        .iter()
        .map(|s| s.signing_key.to_vec())
        .collect();
    let mut expected: Vec<Vec<u8>> = [&b, &c, &d]
        .iter()
        .map(|k| StacksPublicKey::from_private(k).to_bytes_compressed())
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(
        last_set_cycle(&node),
        "0x07010000000000000000000000000000000d"
    );
    assert!(node.wait_events_delivered(TIMEOUT));
    let computing = observer
        .events_on("/new_block")
        .into_iter()
        .find(|e| !e.body["reward_set"].is_null())
        .expect("a /new_block carries the new reward set");
    assert_eq!(computing.body["cycle_number"], 13);
    assert!(computing.body["reward_set"]["signers"][0]["stacked_amt"].is_string());
    assert_eq!(
        node.with_state(|s| s.stackerdbs.get("signers-1-1").unwrap().slots.len()),
        3
    );

    // Blocks of cycle 13 are proposed for cycle 13 and signed by its set.
    mine_until(&node, 361);
    let tip = node.stacks_tip().unwrap();
    assert_eq!(tip.reward_cycle, 13);
    let hash = tip.block.header.signer_signature_hash();
    let set13 = node.with_state(|s| s.reward_sets.get(13).unwrap().clone());
    for sig in &tip.block.header.signer_signature {
        let pk = StacksPublicKey::recover_to_pubkey(&hash.0, sig).unwrap();
        assert!(set13.index_of_key(&pk).is_some());
    }
    let a_index_13 = set13.index_of_key(&StacksPublicKey::from_private(&a));
    assert_eq!(a_index_13, None);

    // Cycle 14 has cycle 12's signers again: the parity-0 slots keep their versions.
    let versions_before =
        node.with_state(|s| s.stackerdbs.get("signers-0-1").unwrap().slots.clone());
    mine_until(&node, 376);
    let versions_after =
        node.with_state(|s| s.stackerdbs.get("signers-0-1").unwrap().slots.clone());
    assert!(node.with_state(|s| s.reward_sets.is_computed(14)));
    assert_eq!(
        versions_before
            .iter()
            .map(|s| (s.owner, s.version))
            .collect::<Vec<_>>(),
        versions_after
            .iter()
            .map(|s| (s.owner, s.version))
            .collect::<Vec<_>>()
    );
    assert!(versions_after.iter().all(|s| s.version > 0));
}

#[test]
fn a_signer_moved_to_another_slot_starts_from_a_reset_slot() {
    let (a, b, c) = (key("a"), key("b"), key("c"));
    let signers = [&a, &b]
        .iter()
        .map(|k| SignerSpec::simulated((*k).clone(), 1))
        .collect();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    // Cycle 14 (same parity as 12) adds c, which shifts some indexes.
    config.cycle_signers.insert(
        14,
        [&a, &b, &c]
            .iter()
            .map(|k| SignerSpec::simulated((*k).clone(), 1))
            .collect(),
    );
    let node = MockNode::start(config).unwrap();
    mine_until(&node, 350);
    let before = node.with_state(|s| s.stackerdbs.get("signers-0-1").unwrap().slots.clone());
    mine_until(&node, 376);
    let after = node.with_state(|s| s.stackerdbs.get("signers-0-1").unwrap().slots.clone());
    assert_eq!(after.len(), 3);
    for (i, slot) in after.iter().enumerate() {
        match before.get(i) {
            Some(old) if old.owner == slot.owner => assert!(slot.version >= old.version),
            _ => assert_eq!(slot.version, 0, "slot {i} changed owner and must be reset"),
        }
    }
}
