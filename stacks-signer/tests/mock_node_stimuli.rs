//! The stimuli tests drive a signer with through the mock node, each observed from outside
//! (RPC answers, events an observer or libsigner's receiver gets, the activity stream):
//! puppet signers (keys the node holds, messages only on demand), raw `/stackerdb_chunks`
//! batches, validation answered by hand, RPC answer overrides and request counters, miner
//! messages (pushed blocks, re-proposals, mock proposals, the previous winner's proposals),
//! blocks processed on demand, and burn blocks with a chosen sortition shape.

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::{
    ConsensusHash, Hash160, MessageSignature, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;
use libsigner::v0::messages::{
    BlockResponse, RejectCode, RejectReason, SignerMessage, StateMachineUpdate,
    StateMachineUpdateContent, StateMachineUpdateMinerState, ValidateRejectCode,
};
use libsigner::SignerEvent;
use mock_node_common::{get, post_block_proposal, Observer, SignerEvents};
use serde_json::{json, Value};
use stacks_signer::client::api::{
    BlockValidateResponse, RPCPeerInfoData, RPCPoxInfoData, SortitionInfo, StacksEpochId,
    TenureForkingInfo,
};
use stacks_signer::devnet::record::entry_json;
use stacks_signer::devnet::scenario::{Scenario, ScenarioRunner};
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, BlockOverrides, BurnBlockOptions, CannedAnswer,
    InfoOverride, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions, RpcAnswer,
    RunningMockNode, SignerSpec, ValidationAnswer,
};

const TIMEOUT: Duration = Duration::from_secs(20);

fn key(name: &str) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("stimuli {name}").as_bytes())
}

fn pk(key: &StacksPrivateKey) -> StacksPublicKey {
    StacksPublicKey::from_private(key)
}

/// Baseline-like world: puppets P1..P4 and one external signer ("S0") of weight 10 each
/// (total 50, threshold 35), observed by a raw recorder and libsigner's receiver.
struct World {
    node: RunningMockNode,
    raw: Observer,
    events: SignerEvents,
    /// Slot ids of P1..P4 in cycle 12's set.
    puppets: Vec<u32>,
    /// P1..P4's keys, in the same order.
    puppet_keys: Vec<StacksPrivateKey>,
}

fn world() -> World {
    world_with(|_| {})
}

fn world_with(tweak: impl FnOnce(&mut MockNodeConfig)) -> World {
    let raw = Observer::start();
    let events = SignerEvents::start();
    let puppet_keys: Vec<StacksPrivateKey> = (1..=4).map(|i| key(&format!("P{i}"))).collect();
    let mut signers: Vec<SignerSpec> = puppet_keys
        .iter()
        .map(|k| SignerSpec::puppet(k.clone(), 10))
        .collect();
    signers.push(SignerSpec::external(pk(&key("S0")), 10));
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config.observers.push(ObserverSpec::signer(raw.endpoint()));
    config
        .observers
        .push(ObserverSpec::signer(events.endpoint.to_string()));
    tweak(&mut config);
    let node = MockNode::start(config).unwrap();
    let puppets = puppet_keys
        .iter()
        .map(|k| node.signer_index(&pk(k)).unwrap())
        .collect();
    World {
        node,
        raw,
        events,
        puppets,
        puppet_keys,
    }
}

/// A burn block won by miner 0 and its tenure-start proposal.
fn tenure_start(node: &RunningMockNode) -> Sha512Trunc256Sum {
    node.mine_burn_block(Some(0)).unwrap();
    node.propose_block(&ProposeOptions {
        kind: Some(BlockKind::TenureStart),
        ..ProposeOptions::default()
    })
    .unwrap()
    .signer_signature_hash
}

fn decode(data: &[u8]) -> SignerMessage {
    SignerMessage::consensus_deserialize(&mut &data[..]).expect("libsigner decodes the chunk")
}

/// Every `/stackerdb_chunks` event for contract `name`, as the chunks it carried.
fn chunk_events(observer: &Observer, name: &str) -> Vec<Vec<StackerDBChunkData>> {
    observer
        .events_on("/stackerdb_chunks")
        .into_iter()
        .filter(|e| e.body["contract_id"]["name"] == name)
        .map(|e| serde_json::from_value(e.body["modified_slots"].clone()).unwrap())
        .collect()
}

fn chunks_of(observer: &Observer, name: &str) -> Vec<StackerDBChunkData> {
    chunk_events(observer, name).into_iter().flatten().collect()
}

fn slot_version(node: &RunningMockNode, contract: &str, slot: u32) -> u32 {
    node.with_state(|s| {
        s.stackerdbs
            .get(contract)
            .and_then(|db| db.slots.get(slot as usize))
            .map(|slot| slot.version)
            .unwrap_or(0)
    })
}

/// The messages libsigner's receiver attributed to `key` on signer set 0.
fn messages_from(events: &SignerEvents, key: &StacksPublicKey) -> Vec<SignerMessage> {
    events
        .seen
        .iter()
        .filter_map(|e| match e {
            SignerEvent::SignerMessages {
                signer_set: 0,
                messages,
                ..
            } => Some(messages),
            _ => None,
        })
        .flatten()
        .filter(|(pk, _)| pk == key)
        .map(|(_, m)| m.clone())
        .collect()
}

fn record_lines(entries: &std::sync::mpsc::Receiver<ActivityEntry>) -> Vec<Value> {
    entries.try_iter().map(|e| entry_json(&e)).collect()
}

#[test]
fn puppets_never_vote_or_publish_state_updates_by_themselves() {
    let w = world();
    let hash = tenure_start(&w.node);
    assert!(w.node.wait_events_delivered(TIMEOUT));
    std::thread::sleep(Duration::from_millis(300));
    for id in 1..=3 {
        let contract = format!("signers-0-{id}");
        assert!(
            chunks_of(&w.raw, &contract).is_empty(),
            "nobody wrote to {contract}"
        );
        for slot in &w.puppets {
            assert_eq!(slot_version(&w.node, &contract, *slot), 0);
        }
    }
    assert!(w
        .node
        .wait_for_block(&hash, Duration::from_millis(200))
        .is_none());

    // On autopilot they act as simulated signers: updates, then votes on the next proposal.
    w.node.set_puppet_autopilot(true);
    let next = w
        .node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .unwrap()
        .signer_signature_hash;
    assert!(w.node.wait_for_block(&next, TIMEOUT).is_some());
    for slot in &w.puppets {
        assert!(slot_version(&w.node, "signers-0-2", *slot) >= 1);
        assert!(slot_version(&w.node, "signers-0-3", *slot) >= 1);
    }
    w.node.set_puppet_autopilot(false);
}

#[test]
fn puppet_votes_reach_observers_as_the_puppets_own_signed_messages() {
    let mut w = world();
    let hash = tenure_start(&w.node);
    let (p1, p2) = (w.puppets[0], w.puppets[1]);
    let (k1, k2) = (pk(&w.puppet_keys[0]), pk(&w.puppet_keys[1]));
    assert!(w.node.puppet_pre_commit(p1, &hash).unwrap().accepted);
    assert!(w.node.puppet_accept(p1, &hash).unwrap().accepted);
    assert!(
        w.node
            .puppet_reject(p2, &hash, RejectReason::ReorgNotAllowed)
            .unwrap()
            .accepted
    );
    let events = &mut w.events;
    events.collect_until(TIMEOUT, |seen| {
        seen.iter()
            .filter(|e| matches!(e, SignerEvent::SignerMessages { .. }))
            .count()
            >= 3
    });

    let from_p1 = messages_from(events, &k1);
    assert!(from_p1.contains(&SignerMessage::BlockPreCommit(hash)));
    let accepted = from_p1
        .iter()
        .find_map(|m| match m {
            SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("P1's acceptance");
    assert_eq!(accepted.signer_signature_hash, hash);
    assert_eq!(
        StacksPublicKey::recover_to_pubkey(&hash.0, &accepted.signature).unwrap(),
        k1
    );
    assert_eq!(
        accepted.response_data.reject_reason,
        RejectReason::NotRejected
    );
    assert_ne!(accepted.response_data.tenure_extend_timestamp, u64::MAX);
    assert_ne!(
        accepted.response_data.tenure_extend_read_count_timestamp,
        u64::MAX
    );
    assert!(!accepted.metadata.server_version.is_empty());

    let rejected = messages_from(events, &k2)
        .into_iter()
        .find_map(|m| match m {
            SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => Some(r),
            _ => None,
        })
        .expect("P2's rejection");
    assert_eq!(rejected.signer_signature_hash, hash);
    assert_eq!(rejected.reason_code, RejectCode::SortitionViewMismatch);
    assert_eq!(
        rejected.response_data.reject_reason,
        RejectReason::ReorgNotAllowed
    );
    assert_eq!(rejected.recover_public_key().unwrap(), k2);

    // The slots written are the puppets' own, in the contracts of each kind.
    assert!(w.node.wait_events_delivered(TIMEOUT));
    assert!(chunks_of(&w.raw, "signers-0-3")
        .iter()
        .any(|c| c.slot_id == p1 && c.recover_pk().unwrap() == k1));
    assert_eq!(slot_version(&w.node, "signers-0-1", p2), 1);

    // A validation-failure rejection carries the code and the text.
    w.node
        .puppet_reject_validation(p2, &hash, ValidateRejectCode::BadTransaction, "tx bad")
        .unwrap();
    assert!(w.node.wait_events_delivered(TIMEOUT));
    let last = chunks_of(&w.raw, "signers-0-1")
        .into_iter()
        .rfind(|c| c.slot_id == p2)
        .unwrap();
    let SignerMessage::BlockResponse(BlockResponse::Rejected(r)) = decode(&last.data) else {
        panic!("expected a rejection");
    };
    assert_eq!(r.reason, "tx bad");
    assert_eq!(
        r.reason_code,
        RejectCode::ValidationFailed(ValidateRejectCode::BadTransaction)
    );
    assert_eq!(last.slot_version, 2);

    // A signer the node has no key for cannot be made to write.
    let s0 = w.node.signer_index(&pk(&key("S0"))).unwrap();
    let err = w.node.puppet_accept(s0, &hash).unwrap_err();
    assert!(err.contains("no key"), "{err}");
}

#[test]
fn puppet_acceptances_count_toward_the_threshold_and_the_miner_processes_the_block() {
    let w = world();
    let activity = w.node.subscribe();
    let hash = tenure_start(&w.node);
    for p in &w.puppets[..3] {
        w.node.puppet_accept(*p, &hash).unwrap();
    }
    // 30 of 50: below the 35 needed.
    assert!(w
        .node
        .wait_for_block(&hash, Duration::from_millis(300))
        .is_none());
    w.node.puppet_accept(w.puppets[3], &hash).unwrap();
    let block = w.node.wait_for_block(&hash, TIMEOUT).expect("processed");
    assert_eq!(block.block.header.signer_signature.len(), 4);
    let processed = activity
        .try_iter()
        .find_map(|e| match e.activity {
            Activity::BlockProcessed {
                signer_signature_hash,
                signed_weight,
                threshold_weight,
                ..
            } if signer_signature_hash == hash => Some((signed_weight, threshold_weight)),
            _ => None,
        })
        .unwrap();
    assert_eq!(processed, (40, 35));
    assert!(w
        .raw
        .wait_for(TIMEOUT, |evs| evs.iter().any(|e| e.path == "/new_block"
            && e.body["signer_signature_hash"]
                == json!(format!("0x{}", hash.to_hex())))));
}

#[test]
fn puppet_state_updates_carry_exactly_the_given_content() {
    let mut w = world();
    let (tip_ch, tip_height) = w
        .node
        .with_state(|s| (s.burn_tip().consensus_hash, s.burn_tip().height));
    let update = StateMachineUpdate::new(
        0,
        0,
        StateMachineUpdateContent::V0 {
            burn_block: tip_ch,
            burn_block_height: tip_height,
            current_miner: StateMachineUpdateMinerState::NoValidMiner,
        },
    )
    .unwrap();
    for p in &w.puppets {
        assert!(w.node.puppet_state_update(*p, &update).unwrap().accepted);
    }
    let keys: Vec<StacksPublicKey> = w.puppet_keys.iter().map(pk).collect();
    w.events.collect_until(TIMEOUT, |seen| {
        keys.iter().all(|k| {
            seen.iter().any(|e| {
                matches!(e, SignerEvent::SignerMessages { messages, .. }
                    if messages.iter().any(|(pk, _)| pk == k))
            })
        })
    });
    for k in &keys {
        assert_eq!(
            messages_from(&w.events, k),
            vec![SignerMessage::StateMachineUpdate(update.clone())]
        );
    }
    // A generic message goes to the contract of its kind.
    w.node
        .puppet_message(
            12,
            w.puppets[0],
            &SignerMessage::BlockPreCommit(Sha512Trunc256Sum([9; 32])),
        )
        .unwrap();
    assert_eq!(slot_version(&w.node, "signers-0-3", w.puppets[0]), 1);
    let err = w
        .node
        .puppet_message(
            12,
            w.puppets[0],
            &SignerMessage::BlockPushed(w.node.stacks_tip().unwrap().block),
        )
        .unwrap_err();
    assert!(err.contains("miner message"), "{err}");
}

#[test]
fn an_injected_batch_arrives_as_one_event_with_an_unknown_signer_first_and_is_not_stored() {
    let mut w = world();
    let activity = w.node.subscribe();
    let stranger = key("stranger");
    let p1 = w.puppets[0];
    let hash = Sha512Trunc256Sum([5; 32]);
    let pre_commit = SignerMessage::BlockPreCommit(hash).serialize_to_vec();
    let chunks = vec![
        w.node
            .signed_chunk("signers-0-3", p1, &stranger, pre_commit.clone()),
        w.node
            .signed_chunk("signers-0-3", p1, &w.puppet_keys[0], pre_commit.clone()),
    ];
    w.node.inject_chunks("signers-0-3", &chunks).unwrap();
    assert!(w.node.wait_events_delivered(TIMEOUT));

    // One event, both chunks, in order.
    let events = chunk_events(&w.raw, "signers-0-3");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0], chunks);
    w.events.collect_until(TIMEOUT, |seen| {
        seen.iter().any(
            |e| matches!(e, SignerEvent::SignerMessages { messages, .. } if messages.len() == 2),
        )
    });
    let batch = w
        .events
        .seen
        .iter()
        .find_map(|e| match e {
            SignerEvent::SignerMessages {
                signer_set: 0,
                messages,
                ..
            } => Some(messages.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(batch[0].0, pk(&stranger));
    assert_eq!(batch[1].0, pk(&w.puppet_keys[0]));

    // Nothing was stored; the record shows both as injected.
    assert_eq!(slot_version(&w.node, "signers-0-3", p1), 0);
    let lines = record_lines(&activity);
    let injected: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "ChunkWrite" && l["source"] == "injected")
        .collect();
    assert_eq!(injected.len(), 2);
    assert_eq!(
        injected[0]["writer"],
        json!(Hash160::from_node_public_key(&pk(&stranger)).to_hex())
    );

    // A single chunk by a key outside the set, to another parity's contract with no slots.
    let chunk = w
        .node
        .inject_chunk("signers-1-1", 0, &stranger, vec![1, 2, 3])
        .unwrap();
    assert_eq!(chunk.slot_version, 1);
    assert!(w.node.wait_events_delivered(TIMEOUT));
    assert_eq!(chunks_of(&w.raw, "signers-1-1"), vec![chunk]);
    assert!(w.node.inject_chunks("signers-0-3", &[]).is_err());
    assert!(w.node.inject_chunks("Not A Name!", &chunks).is_err());
}

#[test]
fn manual_validation_holds_each_request_until_the_test_answers_it() {
    let w = world();
    w.node.set_manual_validation(true);
    let activity = w.node.subscribe();
    let first = tenure_start(&w.node);
    let block = w
        .node
        .with_state(|s| s.pending.get(&first).unwrap().block.clone());
    assert_eq!(post_block_proposal(w.node.addr(), &block).status, 202);
    // A held request does not keep the validator busy.
    assert_eq!(post_block_proposal(w.node.addr(), &block).status, 202);
    assert_eq!(w.node.held_validations(), vec![first, first]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.node.wait_events_delivered(TIMEOUT));
    assert!(w.raw.events_on("/proposal_response").is_empty());

    let sent = w
        .node
        .answer_validation(
            &first,
            ValidationAnswer::Ok {
                validation_time_ms: 1234,
                cost_zero: true,
            },
        )
        .unwrap();
    assert!(w.raw.wait_for(TIMEOUT, |evs| evs
        .iter()
        .any(|e| e.path == "/proposal_response")));
    let event = w.raw.events_on("/proposal_response").remove(0);
    let received: BlockValidateResponse = serde_json::from_value(event.body).unwrap();
    assert_eq!(received, sent);
    let BlockValidateResponse::Ok(ok) = received else {
        panic!("expected Ok");
    };
    assert_eq!(ok.signer_signature_hash, first);
    assert_eq!(ok.validation_time_ms, 1234);
    assert_eq!(ok.cost.runtime, 0);

    let sent = w
        .node
        .answer_validation(
            &first,
            ValidationAnswer::Reject {
                code: ValidateRejectCode::BadTransaction,
                reason: "tx bad".into(),
            },
        )
        .unwrap();
    assert!(w.raw.wait_for(TIMEOUT, |evs| evs
        .iter()
        .filter(|e| e.path == "/proposal_response")
        .count()
        == 2));
    let event = w.raw.events_on("/proposal_response").remove(1);
    assert_eq!(event.body["result"], "Reject");
    assert_eq!(event.body["reason"], "tx bad");
    assert_eq!(event.body["reason_code"], "BadTransaction");
    assert_eq!(
        serde_json::from_value::<BlockValidateResponse>(event.body).unwrap(),
        sent
    );
    assert!(w.node.held_validations().is_empty());
    let err = w
        .node
        .answer_validation(&first, ValidationAnswer::Checked)
        .unwrap_err();
    assert!(err.contains("no held validation request"), "{err}");

    // Both requests and both answers are in the activity stream, with the sighash.
    let lines = record_lines(&activity);
    let requested = lines
        .iter()
        .filter(|l| {
            l["event"] == "ValidationRequested"
                && l["signer_signature_hash"] == json!(first.to_hex())
                && l["status"] == 202
        })
        .count();
    assert_eq!(requested, 2);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["event"] == "ValidationResult")
            .count(),
        2
    );

    // Back to automatic: the validator answers by itself.
    w.node.set_manual_validation(false);
    assert_eq!(post_block_proposal(w.node.addr(), &block).status, 202);
    assert!(w.raw.wait_for(TIMEOUT, |evs| evs
        .iter()
        .filter(|e| e.path == "/proposal_response")
        .count()
        == 3));
}

#[test]
fn a_checked_answer_and_an_unsolicited_response_reach_the_observer() {
    let w = world();
    w.node.set_manual_validation(true);
    let hash = tenure_start(&w.node);
    let block = w
        .node
        .with_state(|s| s.pending.get(&hash).unwrap().block.clone());
    assert_eq!(post_block_proposal(w.node.addr(), &block).status, 202);
    assert!(w.node.wait_for_held_validation(&hash, TIMEOUT));
    let BlockValidateResponse::Ok(ok) = w
        .node
        .answer_validation(&hash, ValidationAnswer::Checked)
        .unwrap()
    else {
        panic!("the block is valid");
    };
    assert_eq!(ok.signer_signature_hash, hash);
    let unsolicited =
        BlockValidateResponse::Reject(stacks_signer::client::api::BlockValidateReject {
            signer_signature_hash: Sha512Trunc256Sum([1; 32]),
            reason: "never asked".into(),
            reason_code: ValidateRejectCode::UnknownParent,
        });
    w.node.send_validation_response(unsolicited.clone());
    assert!(w.raw.wait_for(TIMEOUT, |evs| evs
        .iter()
        .filter(|e| e.path == "/proposal_response")
        .count()
        == 2));
    let last = w.raw.events_on("/proposal_response").remove(1);
    assert_eq!(
        serde_json::from_value::<BlockValidateResponse>(last.body).unwrap(),
        unsolicited
    );
}

#[test]
fn busy_responses_answer_429_exactly_n_times_then_202_and_each_request_is_recorded() {
    let w = world();
    let activity = w.node.subscribe();
    let hash = tenure_start(&w.node);
    let block = w
        .node
        .with_state(|s| s.pending.get(&hash).unwrap().block.clone());
    w.node.set_busy_responses(2);
    let statuses: Vec<u16> = (0..3)
        .map(|_| post_block_proposal(w.node.addr(), &block).status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 202]);
    let recorded: Vec<(Option<Sha512Trunc256Sum>, u16)> = activity
        .try_iter()
        .filter_map(|e| match e.activity {
            Activity::ValidationRequested {
                signer_signature_hash,
                status,
            } => Some((signer_signature_hash, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded,
        vec![(Some(hash), 429), (Some(hash), 429), (Some(hash), 202)]
    );
}

#[test]
fn info_overrides_change_only_the_named_fields_until_cleared() {
    let w = world();
    let before: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    let old = w.node.burn_tip();
    let new = w.node.mine_burn_block(Some(0)).unwrap();
    // A node that has not processed the new burn block yet, with a lower Stacks tip.
    w.node.set_info_override(InfoOverride {
        stacks_tip_height: Some(before.stacks_tip_height - 1),
        burn_block_height: Some(old.height),
        pox_consensus: Some(old.consensus_hash),
        ..InfoOverride::default()
    });
    let info: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    assert_eq!(info.stacks_tip_height, before.stacks_tip_height - 1);
    assert_eq!(info.burn_block_height, old.height);
    assert_eq!(info.pox_consensus, old.consensus_hash);
    assert_eq!(info.stacks_tip, before.stacks_tip);
    assert_eq!(info.server_version, before.server_version);
    w.node.set_info_override(InfoOverride::default());
    let info: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    assert_eq!(info.burn_block_height, new.height);
    assert_eq!(info.pox_consensus, new.consensus_hash);
    assert_eq!(info.stacks_tip_height, before.stacks_tip_height);
}

#[test]
fn tenure_tip_overrides_answer_a_given_tip_or_an_error_status_until_cleared() {
    let w = world();
    let tip = w.node.stacks_tip().unwrap();
    let ch = tip.tenure();
    let path = format!("/v3/tenures/tip_metadata/{ch}");
    let natural = get(w.node.addr(), &path).json();
    let parent = w.node.block(&tip.block.header.parent_block_id).unwrap();
    let burn_view = ConsensusHash([7; 20]);
    w.node.set_tenure_tip_override(
        &ch,
        Some(RpcAnswer::tenure_tip(&parent.block.header, Some(burn_view))),
    );
    let answer = get(w.node.addr(), &path).json();
    assert_eq!(answer["burn_view"], json!(burn_view.to_hex()));
    assert_eq!(
        answer["anchored_header"]["Nakamoto"]["chain_length"],
        parent.height()
    );
    let plain = get(w.node.addr(), &format!("/v3/tenures/tip/{ch}")).json();
    assert_eq!(plain["Nakamoto"]["chain_length"], parent.height());

    w.node
        .set_tenure_tip_override(&ch, Some(RpcAnswer::Status(500)));
    let answer = get(w.node.addr(), &path);
    assert_eq!(answer.status, 500);
    assert_eq!(answer.text(), "Internal Server Error");
    w.node
        .set_tenure_tip_override(&ch, Some(RpcAnswer::Status(404)));
    let answer = get(w.node.addr(), &path);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.text(), format!("No blocks in tenure {ch}"));

    w.node.set_tenure_tip_override(&ch, None);
    assert_eq!(get(w.node.addr(), &path).json(), natural);
}

#[test]
fn the_pox_epoch_override_and_a_mock_proposal_reach_a_signer() {
    let mut w = world();
    w.node.set_pox_epoch_override(Some(StacksEpochId::Epoch25));
    let pox: RPCPoxInfoData = get(w.node.addr(), "/v2/pox").parse();
    assert_eq!(pox.current_epoch, StacksEpochId::Epoch25);
    assert_eq!(
        get(w.node.addr(), "/v2/pox").json()["current_epoch"],
        "Epoch25"
    );

    let info: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    let proposal = w.node.propose_mock(None).unwrap();
    assert_eq!(proposal.peer_info.burn_block_height, info.burn_block_height);
    assert_eq!(proposal.peer_info.stacks_tip, info.stacks_tip);
    assert_eq!(proposal.peer_info.pox_consensus, info.pox_consensus);
    assert_eq!(proposal.peer_info.network_id, info.network_id);
    let miner_key = w.node.with_state(|s| {
        let index = s.current_miner_slot_index().unwrap();
        s.miner_key_for_slot(index).unwrap()
    });
    assert!(proposal.verify(&pk(&miner_key)).unwrap());
    w.events.collect_until(TIMEOUT, |seen| {
        seen.iter().any(|e| {
            matches!(e, SignerEvent::MinerMessages(m)
                if m.contains(&SignerMessage::MockProposal(proposal.clone())))
        })
    });

    w.node.set_pox_epoch_override(None);
    let pox: RPCPoxInfoData = get(w.node.addr(), "/v2/pox").parse();
    assert_eq!(pox.current_epoch, StacksEpochId::Epoch33);
}

#[test]
fn fork_info_latest_and_last_and_canned_answers_are_served_until_cleared() {
    let w = world();
    let tip = w.node.burn_tip();
    let parent_ch = w
        .node
        .with_state(|s| s.burnchain.parent(s.burn_tip()).unwrap().consensus_hash);
    let fork_path = format!("/v3/tenures/fork_info/{parent_ch}/{}", tip.consensus_hash);
    let natural: Vec<TenureForkingInfo> = get(w.node.addr(), &fork_path).parse();
    assert_eq!(natural.len(), 2);
    let reversed: Vec<TenureForkingInfo> = natural.iter().rev().cloned().collect();
    w.node.set_fork_info_override(
        &parent_ch,
        &tip.consensus_hash,
        Some(RpcAnswer::Value(reversed.clone())),
    );
    let answered: Vec<TenureForkingInfo> = get(w.node.addr(), &fork_path).parse();
    assert_eq!(answered, reversed);
    w.node
        .set_fork_info_override(&parent_ch, &tip.consensus_hash, None);
    let answered: Vec<TenureForkingInfo> = get(w.node.addr(), &fork_path).parse();
    assert_eq!(answered, natural);

    let path = "/v3/sortitions/latest_and_last";
    let natural: Vec<SortitionInfo> = get(w.node.addr(), path).parse();
    w.node
        .set_latest_and_last_override(Some(RpcAnswer::Status(500)));
    assert_eq!(get(w.node.addr(), path).status, 500);
    w.node
        .set_latest_and_last_override(Some(RpcAnswer::Value(vec![natural[0].clone()])));
    let one: Vec<SortitionInfo> = get(w.node.addr(), path).parse();
    assert_eq!(one, vec![natural[0].clone()]);
    w.node.set_latest_and_last_override(None);
    assert_eq!(
        get(w.node.addr(), path).parse::<Vec<SortitionInfo>>(),
        natural
    );

    w.node.set_canned_answer(
        "GET",
        "/v2/accounts/anything",
        Some(CannedAnswer::json(200, &json!({"balance": "0x01"}))),
    );
    let canned = get(w.node.addr(), "/v2/accounts/anything?proof=0");
    assert_eq!(canned.status, 200);
    assert_eq!(canned.json(), json!({"balance": "0x01"}));
    assert_eq!(canned.header("content-type"), Some("application/json"));
    w.node
        .set_canned_answer("GET", "/v2/accounts/anything", None);
    assert_eq!(get(w.node.addr(), "/v2/accounts/anything").status, 400);
    w.node
        .set_canned_answer("GET", path, Some(CannedAnswer::status(502)));
    w.node.clear_overrides();
    assert_eq!(get(w.node.addr(), path).status, 200);
}

#[test]
fn request_counters_count_every_request_per_method_and_path_prefix() {
    let w = world();
    w.node.reset_request_counts();
    let latest = "/v3/sortitions/latest_and_last";
    get(w.node.addr(), latest);
    assert_eq!(w.node.request_count(Some("GET"), latest), 1);
    w.node.set_endpoint_down(latest, true);
    assert_eq!(get(w.node.addr(), latest).status, 503);
    assert_eq!(w.node.request_count(Some("GET"), latest), 2);
    get(w.node.addr(), "/v2/info");
    assert_eq!(w.node.request_count(Some("GET"), "/v3/sortitions"), 2);
    assert_eq!(w.node.request_count(Some("POST"), "/v3/sortitions"), 0);
    assert_eq!(w.node.request_count(None, ""), 3);
    w.node.reset_request_counts();
    assert_eq!(w.node.request_count(None, ""), 0);
}

#[test]
fn miner_messages_go_to_the_miners_slots_and_a_reproposal_bumps_the_version() {
    let mut w = world();
    let hash = tenure_start(&w.node);
    let slot = w.node.with_state(|s| s.current_miner_slot_index().unwrap()) * 2;
    assert_eq!(slot_version(&w.node, "miners", slot), 1);
    w.node.repropose(&hash).unwrap();
    assert_eq!(slot_version(&w.node, "miners", slot), 2);
    let block = w
        .node
        .with_state(|s| s.pending.get(&hash).unwrap().block.clone());
    w.node.push_block(&block).unwrap();
    assert_eq!(slot_version(&w.node, "miners", slot + 1), 1);
    w.events.collect_until(TIMEOUT, |seen| {
        let proposals = seen
            .iter()
            .filter(|e| {
                matches!(e, SignerEvent::MinerMessages(m)
                    if m.iter().any(|m| matches!(m, SignerMessage::BlockProposal(p)
                        if p.block.header.signer_signature_hash() == hash)))
            })
            .count();
        let pushed = seen.iter().any(|e| {
            matches!(e, SignerEvent::MinerMessages(m)
                if m.contains(&SignerMessage::BlockPushed(block.clone())))
        });
        proposals == 2 && pushed
    });
    // Any message, as the current winner.
    w.node
        .miner_message(None, &SignerMessage::BlockPreCommit(hash))
        .unwrap();
    assert_eq!(slot_version(&w.node, "miners", slot), 3);
    assert!(w
        .node
        .miner_message(Some(7), &SignerMessage::BlockPreCommit(hash))
        .is_err());
}

#[test]
fn the_previous_winner_proposes_its_tenures_block_into_its_own_miners_slot() {
    let w = world();
    // Genesis: miner 0 then miner 1 won; now miner 0 wins again, and its tenure is empty.
    w.node.mine_burn_block(Some(0)).unwrap();
    let previous = w.node.stacks_tip().unwrap();
    let proposal = w
        .node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::Continue),
            ..ProposeOptions::default()
        })
        .unwrap();
    assert_eq!(proposal.block.header.consensus_hash, previous.tenure());
    let (current, prior) = w.node.with_state(|s| {
        (
            s.miner_slot_index_of(0).unwrap(),
            s.miner_slot_index_of(1).unwrap(),
        )
    });
    assert_ne!(current, prior);
    assert!(w.node.wait_events_delivered(TIMEOUT));
    let chunk = chunks_of(&w.raw, "miners")
        .into_iter()
        .find(|c| {
            matches!(decode(&c.data), SignerMessage::BlockProposal(p)
                if p.block.header.signer_signature_hash() == proposal.signer_signature_hash)
        })
        .unwrap();
    assert_eq!(chunk.slot_id, prior * 2);
    let miner1 = w.node.with_state(|s| s.miners[1].key.clone());
    assert_eq!(chunk.recover_pk().unwrap(), pk(&miner1));
}

#[test]
fn a_miner_signature_override_leaves_no_recoverable_miner_key() {
    let w = world();
    w.node.mine_burn_block(Some(0)).unwrap();
    let mut r_zero = [0u8; 65];
    r_zero[0] = 1;
    r_zero[33..].fill(0x11);
    let proposal = w
        .node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            overrides: BlockOverrides {
                miner_signature: Some(MessageSignature(r_zero)),
                ..BlockOverrides::default()
            },
        })
        .unwrap();
    assert_eq!(
        proposal.block.header.miner_signature,
        MessageSignature(r_zero)
    );
    assert!(proposal.block.header.recover_miner_pk().is_none());

    // The same through a scenario step.
    let mut runner = ScenarioRunner::new(&w.node, TIMEOUT);
    let text = format!(
        "[[step]]\ntype = \"propose\"\nkind = \"tenure_start\"\nlabel = \"r0\"\nminer_signature = \"{}\"\n",
        MessageSignature(r_zero).to_hex()
    );
    runner.run(&Scenario::parse(&text).unwrap()).unwrap();
    let hash = runner.proposal(Some("r0")).unwrap();
    let header = w
        .node
        .with_state(|s| s.pending.get(&hash).unwrap().block.header.clone());
    assert_eq!(header.miner_signature, MessageSignature(r_zero));
    assert!(header.recover_miner_pk().is_none());
}

#[test]
fn processing_a_proposal_on_demand_appends_it_and_sends_new_block_without_signatures() {
    let w = world();
    let hash = tenure_start(&w.node);
    w.node.puppet_accept(w.puppets[0], &hash).unwrap();
    let id = w.node.process_proposed_block(&hash).unwrap();
    let tip = w.node.stacks_tip().unwrap();
    assert_eq!(tip.id, id);
    assert_eq!(tip.block.header.signer_signature.len(), 1);
    let info: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    assert_eq!(info.stacks_tip_height, tip.height());
    let meta = get(
        w.node.addr(),
        &format!("/v3/tenures/tip_metadata/{}", tip.tenure()),
    )
    .json();
    assert_eq!(
        meta["anchored_header"]["Nakamoto"]["chain_length"],
        tip.height()
    );
    assert!(w
        .raw
        .wait_for(TIMEOUT, |evs| evs.iter().any(|e| e.path == "/new_block"
            && e.body["index_block_hash"]
                == json!(format!("0x{}", id.to_hex())))));
    let err = w.node.process_proposed_block(&hash).unwrap_err();
    assert!(err.contains("already processed"), "{err}");
    // The miner does not process it again when more signatures arrive.
    for p in &w.puppets[1..] {
        w.node.puppet_accept(*p, &hash).unwrap();
    }
    assert!(w.node.wait_events_delivered(TIMEOUT));
    let announced = w
        .raw
        .events_on("/new_block")
        .into_iter()
        .filter(|e| e.body["index_block_hash"] == json!(format!("0x{}", id.to_hex())))
        .count();
    assert_eq!(announced, 1);
    assert!(w
        .node
        .process_proposed_block(&Sha512Trunc256Sum([3; 32]))
        .is_err());
}

#[test]
fn a_burn_block_can_name_an_older_parent_tenure_while_the_last_sortition_stays_the_previous() {
    // §8 #20's shape: T2's winner builds on T0 while the last sortition is T1.
    let w = world_with(|c| {
        c.miners
            .push(StacksPrivateKey::from_seed(b"stimuli third miner"));
    });
    let (t0, t1) = w.node.with_state(|s| {
        let t1 = s.burn_tip().clone();
        let t0 = s.burnchain.parent(&t1).unwrap().clone();
        (t0, t1)
    });
    let t2 = w
        .node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(2),
            stacks_parent_ch: Some(t0.consensus_hash),
            ..BurnBlockOptions::default()
        })
        .unwrap();
    let sortitions: Vec<SortitionInfo> =
        get(w.node.addr(), "/v3/sortitions/latest_and_last").parse();
    assert_eq!(sortitions[0].consensus_hash, t2.consensus_hash);
    assert_eq!(sortitions[0].stacks_parent_ch, Some(t0.consensus_hash));
    assert_eq!(sortitions[0].last_sortition_ch, Some(t1.consensus_hash));
    assert_eq!(sortitions[1].consensus_hash, t1.consensus_hash);
    let fork: Vec<TenureForkingInfo> = get(
        w.node.addr(),
        &format!(
            "/v3/tenures/fork_info/{}/{}",
            t0.consensus_hash, t1.consensus_hash
        ),
    )
    .parse();
    assert_eq!(
        fork.iter().map(|f| f.consensus_hash).collect::<Vec<_>>(),
        vec![t1.consensus_hash, t0.consensus_hash]
    );
    assert!(fork[0].first_block_mined.is_some());
    // The new winner's tenure start builds on T0's tip.
    let t0_tip = w
        .node
        .with_state(|s| s.stacks.tenure_tip(&t0.consensus_hash).unwrap().id);
    let proposal = w
        .node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .unwrap();
    assert_eq!(proposal.block.header.parent_block_id, t0_tip);
}

#[test]
fn stimulus_scenario_steps_drive_puppets_validation_overrides_and_the_miner() {
    let w = world();
    let p1 = w.puppets[0];
    let stranger = "0101010101010101010101010101010101010101010101010101010101010101";
    let mut runner = ScenarioRunner::new(&w.node, TIMEOUT);
    let text = format!(
        r#"
[[step]]
type = "validation"
manual = true
[[step]]
type = "burn_block"
winner = 0
label = "t2"
[[step]]
type = "propose"
kind = "tenure_start"
label = "b11"
[[step]]
type = "inject"
signer = {p1}
message = "reject"
reason = "ReorgNotAllowed"
block = "b11"
[[step]]
type = "inject_chunks"
contract = "signers-0-3"
[[step.chunk]]
slot = {p1}
key = "{stranger}"
data = "0a"
[[step.chunk]]
slot = {p1}
signer = {p1}
data = "0b"
[[step]]
type = "repropose"
block = "b11"
[[step]]
type = "info"
stacks_tip_height = 1
pox_consensus = "t2"
[[step]]
type = "pox_epoch"
epoch = "Epoch25"
[[step]]
type = "tenure_tip"
tenure = "t2"
status = 500
[[step]]
type = "respond"
path = "/v3/sortitions/latest_and_last"
status = 500
[[step]]
type = "mock_proposal"
[[step]]
type = "process_block"
block = "b11"
[[step]]
type = "push_block"
block = "b11"
[[step]]
type = "status_check"
"#
    );
    runner
        .run(&Scenario::parse(&text).unwrap_or_else(|e| panic!("{e}")))
        .unwrap();
    let b11 = runner.proposal(Some("b11")).unwrap();
    let (_, t2) = runner.burn_block("t2").unwrap();

    // The rejection is P1's, with the named reason.
    assert!(w.node.wait_events_delivered(TIMEOUT));
    let rejection = chunks_of(&w.raw, "signers-0-1")
        .into_iter()
        .find_map(|c| match decode(&c.data) {
            SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(rejection.signer_signature_hash, b11);
    assert_eq!(
        rejection.response_data.reject_reason,
        RejectReason::ReorgNotAllowed
    );
    let batch = chunk_events(&w.raw, "signers-0-3");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].len(), 2);
    assert_eq!(slot_version(&w.node, "signers-0-3", p1), 0);
    let miner_slot = w.node.with_state(|s| s.current_miner_slot_index().unwrap()) * 2;
    // Proposal, re-proposal, mock proposal.
    assert_eq!(slot_version(&w.node, "miners", miner_slot), 3);
    assert_eq!(slot_version(&w.node, "miners", miner_slot + 1), 1);
    let info: RPCPeerInfoData = get(w.node.addr(), "/v2/info").parse();
    assert_eq!(info.stacks_tip_height, 1);
    assert_eq!(info.pox_consensus, t2);
    assert_eq!(
        get(w.node.addr(), "/v2/pox").json()["current_epoch"],
        "Epoch25"
    );
    assert_eq!(
        get(w.node.addr(), &format!("/v3/tenures/tip_metadata/{t2}")).status,
        500
    );
    assert_eq!(
        get(w.node.addr(), "/v3/sortitions/latest_and_last").status,
        500
    );
    assert!(w.node.wait_for_block(&b11, TIMEOUT).is_some());
    assert!(w
        .raw
        .wait_for(TIMEOUT, |evs| evs.iter().any(|e| e.path == "/status")));

    // A held validation is answered by a step.
    let block = w
        .node
        .with_state(|s| s.pending.get(&b11).unwrap().block.clone());
    assert_eq!(post_block_proposal(w.node.addr(), &block).status, 202);
    runner
        .run(
            &Scenario::parse(
                r#"
[[step]]
type = "answer_validation"
block = "b11"
reject = "BadTransaction"
reason = "tx bad"
[[step]]
type = "tenure_tip"
tenure = "t2"
clear = true
[[step]]
type = "respond"
path = "/v3/sortitions/latest_and_last"
clear = true
[[step]]
type = "info"
clear = true
[[step]]
type = "pox_epoch"
"#,
            )
            .unwrap(),
        )
        .unwrap();
    assert!(w.raw.wait_for(TIMEOUT, |evs| evs
        .iter()
        .any(|e| e.path == "/proposal_response" && e.body["reason"] == "tx bad")));
    assert_eq!(
        get(w.node.addr(), &format!("/v3/tenures/tip_metadata/{t2}")).status,
        200
    );
    assert_eq!(
        get(w.node.addr(), "/v3/sortitions/latest_and_last").status,
        200
    );
    assert_eq!(
        get(w.node.addr(), "/v2/pox").json()["current_epoch"],
        "Epoch33"
    );

    // Parse errors name the problem.
    for (step, wanted) in [
        (
            "type = \"inject\"\nsigner = 0\nmessage = \"accept\"\nreason = \"InvalidMiner\"",
            "`reason` goes with",
        ),
        (
            "type = \"inject\"\nsigner = 0\nmessage = \"reject\"\nreason = \"Nope\"",
            "unknown reject reason",
        ),
        ("type = \"pox_epoch\"\nepoch = \"Epoch99\"", "unknown epoch"),
        (
            "type = \"tenure_tip\"\ntenure = \"t2\"\nstatus = 500\nclear = true",
            "exactly one of",
        ),
        (
            "type = \"answer_validation\"\nreject = \"BadTransaction\"\nchecked = true",
            "at most one of",
        ),
        (
            "type = \"inject_chunks\"\ncontract = \"signers-0-3\"\nchunk = []",
            "at least one",
        ),
    ] {
        let err = Scenario::parse(&format!("[[step]]\n{step}\n")).unwrap_err();
        assert!(err.contains(wanted), "{step}: {err}");
    }
}

#[test]
fn an_answer_validation_step_fails_in_one_line_when_no_request_is_held() {
    let w = world();
    w.node.set_manual_validation(true);
    let mut runner = ScenarioRunner::new(&w.node, TIMEOUT);
    let err = runner
        .run(
            &Scenario::parse(
                r#"
[[step]]
type = "burn_block"
winner = 0
[[step]]
type = "propose"
[[step]]
type = "answer_validation"
timeout_secs = 0.2
"#,
            )
            .unwrap(),
        )
        .unwrap_err();
    assert!(
        err.starts_with("step 3 (answer_validation): no validation request"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn a_block_the_test_built_is_processed_without_a_proposal_and_a_status_probe_reaches_observers() {
    let mut w = world();
    let block = w.node.with_state(|s| {
        let tip = s.stacks.tip().unwrap().clone();
        let miner = s
            .burnchain
            .by_consensus_hash(&tip.tenure())
            .and_then(|b| b.winner.as_ref().map(|w| w.miner_index))
            .unwrap();
        let signers = s.reward_sets.get(12).unwrap().signers.len() as u16;
        s.build_block(
            miner,
            tip.tenure(),
            tip.id,
            tip.height() + 1,
            tip.block.header.timestamp + 1,
            None,
            Some(signers),
        )
    });
    let id = w.node.process_block(block.clone()).unwrap();
    assert_eq!(w.node.stacks_tip().unwrap().id, id);
    assert!(w.node.process_block(block).is_err());
    assert!(w
        .raw
        .wait_for(TIMEOUT, |evs| evs.iter().any(|e| e.path == "/new_block"
            && e.body["index_block_hash"]
                == json!(format!("0x{}", id.to_hex())))));
    for slot in 0..4 {
        assert_eq!(slot_version(&w.node, "miners", slot), 0, "nothing proposed");
    }

    w.node.send_status_check();
    assert!(w
        .raw
        .wait_for(TIMEOUT, |evs| evs.iter().any(|e| e.path == "/status")));
    w.events.collect_until(TIMEOUT, |seen| {
        seen.iter().any(|e| matches!(e, SignerEvent::StatusCheck))
    });
}
