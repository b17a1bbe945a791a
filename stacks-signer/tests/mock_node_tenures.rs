//! Runs of several tenures: blocks built by the simulated miner reach the 70% signature
//! threshold (from signers simulated in the node, or from signers whose keys the test holds
//! and which sign through the node's RPC and StackerDB) and are processed and announced.

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::hex::hex_bytes;
use libsigner::chain::{Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use mock_node_common::{post_json, request, Observer};
use serde_json::json;
use stacks_signer::client::api::{
    BlockValidateResponse, StackerDBChunkAckData, StacksBlockAcceptedData,
};
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::wire::messages::{self, block_accepted, block_pre_commit};
use stacks_signer::devnet::wire::NakamotoBlock;
use stacks_signer::devnet::wire::SignerMessage;
use stacks_signer::devnet::{
    BlockKind, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions, RunningMockNode, SignerSpec,
};

const TIMEOUT: Duration = Duration::from_secs(20);

fn tx_json_txid(tx: &serde_json::Value) -> String {
    tx["txid"].as_str().unwrap().to_string()
}

fn check_new_block_events(observer: &Observer, expected_blocks: usize) {
    let events = observer.events_on("/new_block");
    assert_eq!(events.len(), expected_blocks);
    for e in &events {
        let b = &e.body;
        assert!(b["signer_signature_hash"]
            .as_str()
            .unwrap()
            .starts_with("0x"));
        assert!(b["index_block_hash"].as_str().unwrap().starts_with("0x"));
        for tx_value in b["transactions"].as_array().unwrap() {
            let raw = hex_bytes(&tx_value["raw_tx"].as_str().unwrap()[2..]).unwrap();
            // Decoded with libsigner's transaction codec, as a signer does.
            let mut slice = raw.as_slice();
            let tx = <libsigner::chain::StacksTransaction as libsigner::codec::StacksMessageCodec>::consensus_deserialize(&mut slice)
                .expect("raw_tx decodes");
            assert!(slice.is_empty());
            assert_eq!(format!("0x{}", tx.txid()), tx_json_txid(tx_value));
        }
        assert!(!b["signer_signature"].as_array().unwrap().is_empty());
    }
    let heights: Vec<u64> = events
        .iter()
        .map(|e| e.body["block_height"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (3..3 + expected_blocks as u64).collect();
    assert_eq!(heights, expected);
}

#[test]
fn tenures_signed_by_signers_simulated_in_the_node_reach_the_threshold_and_are_processed() {
    let observer = Observer::start();
    let mut config = MockNodeConfig::with_simulated_signers(5);
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let blocks = node.mine_tenures(3, 3, TIMEOUT).unwrap();
    assert_eq!(blocks.len(), 9);
    let set = node.with_state(|s| s.reward_sets.get(12).unwrap().clone());
    assert_eq!(set.threshold_weight(), 4);
    for (i, stored) in blocks.iter().enumerate() {
        let header = &stored.block.header;
        assert_eq!(header.chain_length, 3 + i as u64);
        assert!(header.signer_signature.len() as u64 >= set.threshold_weight());
        // Signatures are over the signer signature hash, in reward-set order.
        let hash = header.signer_signature_hash();
        let indexes: Vec<usize> = header
            .signer_signature
            .iter()
            .map(|sig| {
                let pk = StacksPublicKey::recover_to_pubkey(&hash.0, sig).unwrap();
                set.index_of_key(&pk).unwrap()
            })
            .collect();
        let mut sorted = indexes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(indexes, sorted);
        let is_start = i % 3 == 0;
        assert_eq!(stored.block.txs.len(), if is_start { 2 } else { 1 });
        assert_eq!(stored.tenure_height, 3 + (i / 3) as u64);
    }
    assert!(node.wait_events_delivered(TIMEOUT));
    check_new_block_events(&observer, 9);
    // Each signer wrote pre-commits and acceptances into its own slots.
    let versions = node.with_state(|s| {
        s.stackerdbs
            .get("signers-0-1")
            .unwrap()
            .slots
            .iter()
            .map(|slot| slot.version)
            .collect::<Vec<_>>()
    });
    assert_eq!(versions, vec![9; 5]);
    // Each simulated signer published its view of the burn tip and the current miner.
    let update = mock_node_common::get(
        node.addr(),
        "/v2/stackerdb/ST000000000000000000002AMW42H/signers-0-2/0",
    );
    let tip = node.burn_tip();
    assert_eq!(update.body.len(), 1 + 8 + 8 + 4 + 133);
    assert_eq!(update.body[0], 6);
    assert_eq!(&update.body[21..41], &tip.consensus_hash.0);
    assert_eq!(&update.body[49], &1);
    assert_eq!(&update.body[50..70], &tip.winner.unwrap().miner_pkh.0);
}

/// A signer whose key the test holds, writing through the node's RPC like the reference
/// signer does (first attempt at version 0 for a fresh slot, then the node's version + 1).
struct TestSigner {
    key: StacksPrivateKey,
    slot: u32,
    next_version: Option<u32>,
}

impl TestSigner {
    fn write(&mut self, node: &RunningMockNode, contract: &str, data: Vec<u8>) {
        let mut version = self.next_version.unwrap_or(0);
        for _ in 0..3 {
            let chunk = sign_chunk(&self.key, self.slot, version, data.clone());
            let resp = post_json(
                node.addr(),
                &format!("/v2/stackerdb/ST000000000000000000002AMW42H/{contract}/chunks"),
                &serde_json::to_value(&chunk).unwrap(),
            );
            let ack: StackerDBChunkAckData = resp.parse();
            if ack.accepted {
                self.next_version = Some(version + 1);
                return;
            }
            assert_eq!(ack.code, Some(0), "unexpected rejection {ack:?}");
            version = ack
                .metadata
                .map(|m| m.slot_version + 1)
                .unwrap_or(version + 1);
        }
        panic!("chunk never accepted");
    }
}

fn external_signers(count: usize) -> (Vec<SignerSpec>, Vec<TestSigner>) {
    let mut keys: Vec<StacksPrivateKey> = (0..count)
        .map(|i| StacksPrivateKey::from_seed(format!("external signer {i}").as_bytes()))
        .collect();
    keys.sort_by_key(|k| StacksPublicKey::from_private(k).to_bytes_compressed());
    let specs = keys
        .iter()
        .map(|k| SignerSpec::external(StacksPublicKey::from_private(k), 1))
        .collect();
    let signers = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| TestSigner {
            key,
            slot: i as u32,
            next_version: None,
        })
        .collect();
    (specs, signers)
}

/// Finds the latest proposal the observer saw in the `miners` DB.
fn latest_proposal(observer: &Observer) -> Option<(NakamotoBlock, u64)> {
    observer
        .events_on("/stackerdb_chunks")
        .into_iter()
        .filter(|e| e.body["contract_id"]["name"] == "miners")
        .filter_map(|e| {
            let data = hex_bytes(e.body["modified_slots"][0]["data"].as_str()?).ok()?;
            match messages::decode(&data).ok()? {
                SignerMessage::BlockProposal(p) => Some((p.block, p.reward_cycle)),
                _ => None,
            }
        })
        .next_back()
}

fn validate_through_the_node(
    node: &RunningMockNode,
    observer: &Observer,
    block: &NakamotoBlock,
) -> BlockValidateResponse {
    let hash = block.header.signer_signature_hash();
    let body = json!({
        "block": libsigner::chain::hex::to_hex(&block.serialize_to_vec()),
        "chain_id": 0x8000_0000u32,
        "replay_txs": null,
    });
    let resp = request(
        node.addr(),
        "POST",
        "/v3/block_proposal",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "12345"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"result": "Accepted", "message": "Block proposal is processing, result will be returned via the event observer"})
    );
    let matches = |e: &mock_node_common::ReceivedEvent| {
        e.path == "/proposal_response" && e.body["signer_signature_hash"] == json!(hash.to_hex())
    };
    assert!(observer.wait_for(TIMEOUT, |evs| evs.iter().any(matches)));
    let event = observer.events().into_iter().find(|e| matches(e)).unwrap();
    serde_json::from_value(event.body).unwrap()
}

fn sign_block(
    node: &RunningMockNode,
    signers: &mut [TestSigner],
    hash: &Sha512Trunc256Sum,
    cycle: u64,
) {
    let parity = cycle % 2;
    for s in signers.iter_mut() {
        s.write(node, &format!("signers-{parity}-3"), block_pre_commit(hash));
    }
    for s in signers.iter_mut() {
        let sig = s.key.sign(&hash.0).unwrap();
        s.write(
            node,
            &format!("signers-{parity}-1"),
            block_accepted(hash, &sig, "test-signer", u64::MAX, u64::MAX),
        );
    }
}

#[test]
fn tenures_signed_by_external_keys_through_stackerdb_reach_the_threshold_and_are_processed() {
    let observer = Observer::start();
    let (specs, mut signers) = external_signers(4);
    let mut config = MockNodeConfig {
        signers: specs,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let mut processed = 0;
    for tenure in 0..2 {
        node.mine_burn_block(Some(tenure % 2)).unwrap();
        for b in 0..2 {
            let kind = if b == 0 {
                BlockKind::TenureStart
            } else {
                BlockKind::Continue
            };
            let proposal = node
                .propose_block(&ProposeOptions {
                    kind: Some(kind),
                    ..ProposeOptions::default()
                })
                .unwrap();
            // The signers learn of the proposal from the miners' StackerDB event.
            let hash = proposal.signer_signature_hash;
            assert!(observer.wait_for(TIMEOUT, |_| latest_proposal(&observer)
                .is_some_and(|(blk, _)| blk.header.signer_signature_hash() == hash)));
            let (block, cycle) = latest_proposal(&observer).unwrap();
            assert_eq!(cycle, 12);
            match validate_through_the_node(&node, &observer, &block) {
                BlockValidateResponse::Ok(ok) => {
                    assert_eq!(ok.size, block.serialize_to_vec().len() as u64);
                    assert!(!ok.replay_tx_exhausted);
                }
                other => panic!("validation failed: {other:?}"),
            }
            // Two of four signers (weight 2 < ceil(2.8)) are not enough.
            sign_block(&node, &mut signers[..2], &hash, cycle);
            assert!(node
                .wait_for_block(&hash, Duration::from_millis(300))
                .is_none());
            sign_block(&node, &mut signers[2..3], &hash, cycle);
            let stored = node.wait_for_block(&hash, TIMEOUT).expect("processed");
            assert_eq!(stored.block.header.signer_signature.len(), 3);
            processed += 1;
        }
    }
    assert!(node.wait_events_delivered(TIMEOUT));
    check_new_block_events(&observer, processed);
    let stats: stacks_signer::client::api::GetSignerResponse = mock_node_common::get(
        node.addr(),
        &format!(
            "/v3/signer/{}/12",
            StacksPublicKey::from_private(&signers[0].key).to_hex()
        ),
    )
    .parse();
    assert_eq!(stats.blocks_signed, 4);
}

#[test]
fn a_block_uploaded_by_the_signers_is_processed_when_the_miner_does_not_broadcast() {
    let observer = Observer::start();
    let (specs, signers) = external_signers(3);
    let mut config = MockNodeConfig {
        signers: specs,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    node.set_miner_broadcasts(false);
    node.mine_burn_block(Some(0)).unwrap();
    let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
    let hash = proposal.signer_signature_hash;
    let mut block = proposal.block.clone();
    // Too few signatures: 400.
    block.header.signer_signature = vec![signers[0].key.sign(&hash.0).unwrap()];
    let upload = |block: &NakamotoBlock, auth: &str| {
        request(
            node.addr(),
            "POST",
            "/v3/blocks/upload/?broadcast=1",
            &[
                ("Content-Type", "application/octet-stream"),
                ("Authorization", auth),
            ],
            &block.serialize_to_vec(),
        )
    };
    assert_eq!(upload(&block, "12345").status, 400);
    block.header.signer_signature = signers
        .iter()
        .map(|s| s.key.sign(&hash.0).unwrap())
        .collect();
    assert_eq!(upload(&block, "wrong").status, 401);
    let resp = upload(&block, "12345");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let accepted: StacksBlockAcceptedData = resp.parse();
    assert!(accepted.accepted);
    assert_eq!(accepted.stacks_block_id, block.header.block_id());
    assert!(node.wait_for_block(&hash, TIMEOUT).is_some());
    // Uploading again: already stored (true with broadcast).
    let again: StacksBlockAcceptedData = upload(&block, "12345").parse();
    assert!(again.accepted);
    assert!(node.wait_events_delivered(TIMEOUT));
    check_new_block_events(&observer, 1);
}

/// What a signer learns at startup through the reference's call sequence (§5): the cycle from
/// `/v2/pox`, the reward set, `get-last-set-cycle`, and its slot id from the slot page.
fn discover_slot(node: &RunningMockNode, key: &StacksPrivateKey) -> (u64, u32) {
    use libsigner::chain::{PrincipalData, StacksAddress, Value};
    use stacks_signer::client::api::{CallReadOnlyResponse, GetStackersResponse, RPCPoxInfoData};
    let pox: RPCPoxInfoData = mock_node_common::get(node.addr(), "/v2/pox").parse();
    let cycle = (pox.current_burnchain_block_height - pox.first_burnchain_block_height)
        / (pox.reward_phase_block_length + pox.prepare_phase_block_length);
    let set: GetStackersResponse =
        mock_node_common::get(node.addr(), &format!("/v3/stacker_set/{cycle}")).parse();
    let me = StacksPublicKey::from_private(key).to_bytes_compressed();
    assert!(set
        .stacker_set
        .signers
        .unwrap()
        .iter()
        .any(|s| s.signing_key.to_vec() == me));
    let base = "/v2/contracts/call-read/ST000000000000000000002AMW42H/signers";
    let my_address = StacksAddress::p2pkh(false, &StacksPublicKey::from_private(key));
    let last: CallReadOnlyResponse = post_json(
        node.addr(),
        &format!("{base}/get-last-set-cycle"),
        &json!({"sender": my_address.to_string(), "arguments": []}),
    )
    .parse();
    let last = Value::try_deserialize_hex_untyped(&last.result.unwrap()[2..]).unwrap();
    assert!(last.as_ok().unwrap().as_u128().unwrap() >= u128::from(cycle));
    let page_arg = Value::UInt(u128::from(cycle % 2))
        .serialize_to_hex()
        .unwrap();
    let page: CallReadOnlyResponse = post_json(
        node.addr(),
        &format!("{base}/stackerdb-get-signer-slots-page"),
        &json!({"sender": my_address.to_string(), "arguments": [page_arg]}),
    )
    .parse();
    let page = Value::try_deserialize_hex_untyped(&page.result.unwrap()[2..]).unwrap();
    let slot = page
        .as_ok()
        .unwrap()
        .as_list()
        .unwrap()
        .iter()
        .position(|t| {
            t.as_tuple().unwrap().get("signer").unwrap().as_principal()
                == Some(&PrincipalData::from(my_address))
        })
        .expect("the signer is in the slot page");
    (cycle, slot as u32)
}

#[test]
fn signers_following_the_reference_call_sequence_check_and_sign_every_block() {
    use libsigner::chain::Hash160;
    use stacks_signer::client::api::{RPCPeerInfoData, SortitionInfo};
    let observer = Observer::start();
    let (specs, signers) = external_signers(3);
    let mut config = MockNodeConfig {
        signers: specs,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let mut signers: Vec<TestSigner> = signers
        .into_iter()
        .map(|mut s| {
            let (cycle, slot) = discover_slot(&node, &s.key);
            assert_eq!(cycle, 12);
            s.slot = slot;
            s
        })
        .collect();
    for tenure in 0..2usize {
        node.mine_burn_block(Some(tenure % 2)).unwrap();
        for _ in 0..2 {
            let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
            let hash = proposal.signer_signature_hash;
            assert!(observer.wait_for(TIMEOUT, |_| latest_proposal(&observer)
                .is_some_and(|(b, _)| b.header.signer_signature_hash() == hash)));
            let (block, cycle) = latest_proposal(&observer).unwrap();
            // The signer's sortition-view checks, against the node's answers.
            let view: Vec<SortitionInfo> =
                mock_node_common::get(node.addr(), "/v3/sortitions/latest_and_last").parse();
            assert!(view[0].was_sortition);
            assert_eq!(block.header.consensus_hash, view[0].consensus_hash);
            let miner = StacksPublicKey::recover_to_pubkey(
                &block.header.miner_signature_hash().0,
                &block.header.miner_signature,
            )
            .unwrap();
            assert_eq!(
                Some(Hash160::from_node_public_key(&miner)),
                view[0].miner_pk_hash160
            );
            assert!(block.header.pox_treatment.iter().all(|bit| bit));
            let info: RPCPeerInfoData = mock_node_common::get(node.addr(), "/v2/info").parse();
            assert!(info.stacks_tip_height + 1 >= block.header.chain_length);
            if let Some(tc) = block.try_get_tenure_change_payload() {
                assert_eq!(tc.previous_tenure_end, block.header.parent_block_id);
                assert_eq!(
                    Some(tc.prev_tenure_consensus_hash),
                    view[0].stacks_parent_ch
                );
            }
            assert!(matches!(
                validate_through_the_node(&node, &observer, &block),
                BlockValidateResponse::Ok(_)
            ));
            sign_block(&node, &mut signers, &hash, cycle);
            assert!(node.wait_for_block(&hash, TIMEOUT).is_some());
        }
    }
    assert!(node.wait_events_delivered(TIMEOUT));
    check_new_block_events(&observer, 4);
}

#[test]
fn a_mixed_set_needs_the_external_signers_weight_on_top_of_the_simulated_signers() {
    let (mut specs, mut external) = external_signers(1);
    specs[0].weight = 2;
    specs.extend(SignerSpec::generated(2, 99));
    let mut config = MockNodeConfig {
        signers: specs,
        ..MockNodeConfig::default()
    };
    let observer = Observer::start();
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let set = node.with_state(|s| s.reward_sets.get(12).unwrap().clone());
    // Weights 2 + 1 + 1: the two simulated signers (2) are below ceil(2.8) = 3.
    assert_eq!(set.threshold_weight(), 3);
    external[0].slot = set
        .index_of_key(&StacksPublicKey::from_private(&external[0].key))
        .unwrap() as u32;
    node.mine_burn_block(Some(0)).unwrap();
    let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
    let hash = proposal.signer_signature_hash;
    assert!(node
        .wait_for_block(&hash, Duration::from_millis(300))
        .is_none());
    let pending = node.with_state(|s| s.pending.get(&hash).unwrap().signatures.len());
    assert_eq!(pending, 2);
    sign_block(&node, &mut external, &hash, 12);
    let stored = node.wait_for_block(&hash, TIMEOUT).unwrap();
    assert_eq!(stored.block.header.signer_signature.len(), 3);
    assert_eq!(
        stored
            .signer_bitvec
            .as_ref()
            .map(|b| (0..3).all(|i| b.get(i) == Some(true))),
        Some(true)
    );
}
