//! The mock node driven by libsigner's own node clients: `StackerDBSession` reads and writes
//! its StackerDBs (including the reference signer's version-0 retry), and a
//! `SignerEventReceiver` registered as an observer turns its events into `SignerEvent`s.

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::{QualifiedContractIdentifier, StacksPrivateKey, StacksPublicKey};
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use libsigner::{SignerEvent, SignerSession, StackerDBSession};
use mock_node_common::SignerEvents;
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, SignerSpec};

const TIMEOUT: Duration = Duration::from_secs(20);

fn session(node_host: &str, name: &str) -> StackerDBSession {
    StackerDBSession::new(
        node_host,
        QualifiedContractIdentifier::boot_contract(name, false).unwrap(),
        Duration::from_secs(5),
    )
}

#[test]
fn libsigners_session_and_event_receiver_work_against_the_mock_node() {
    // The signer's event receiver, on a free port.
    let mut events = SignerEvents::start();
    let endpoint = events.endpoint;

    let own_key = StacksPrivateKey::from_seed(b"libsigner session signer");
    let mut signers = SignerSpec::generated(3, 5);
    signers.push(SignerSpec::external(
        StacksPublicKey::from_private(&own_key),
        1,
    ));
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(endpoint.to_string()));
    let node = MockNode::start(config).unwrap();
    let set = node.with_state(|s| s.reward_sets.get(12).unwrap().clone());
    let own_slot = set
        .index_of_key(&StacksPublicKey::from_private(&own_key))
        .unwrap() as u32;

    // StackerDB reads: metadata of every slot, and the simulated signers' state updates.
    let mut updates = session(&node.node_host(), "signers-0-2");
    let metadata = updates.list_chunks().unwrap();
    assert_eq!(metadata.len(), 4);
    let slots: Vec<u32> = (0..4).collect();
    let latest = updates.get_latest_chunks(&slots).unwrap();
    for (slot, chunk) in slots.iter().zip(&latest) {
        let chunk = chunk.as_ref().expect("every slot exists");
        if *slot == own_slot {
            assert!(chunk.is_empty());
        } else {
            let message =
                libsigner::codec::StacksMessageCodec::consensus_deserialize(&mut chunk.as_slice());
            assert!(matches!(message, Ok(SignerMessage::StateMachineUpdate(_))));
        }
    }
    assert_eq!(updates.get_latest_chunk(99).unwrap(), None);

    // StackerDB write as the reference signer does it: version 0 first, then the node's + 1.
    let mut responses = session(&node.node_host(), "signers-0-3");
    let data = SignerMessage::BlockPreCommit(libsigner::chain::Sha512Trunc256Sum([1; 32]));
    let data = libsigner::codec::StacksMessageCodec::serialize_to_vec(&data);
    let first = responses
        .put_chunk(&sign_chunk(&own_key, own_slot, 0, data.clone()))
        .unwrap();
    assert!(!first.accepted);
    assert_eq!(first.code, Some(0));
    let next = first.metadata.unwrap().slot_version + 1;
    let second = responses
        .put_chunk(&sign_chunk(&own_key, own_slot, next, data.clone()))
        .unwrap();
    assert!(second.accepted);
    assert_eq!(responses.get_chunk(own_slot, next).unwrap(), Some(data));

    // Events, decoded by the receiver.
    node.mine_tenures(2, 2, TIMEOUT).unwrap();
    events.collect_until(TIMEOUT, |seen| {
        seen.iter()
            .filter(|e| matches!(e, SignerEvent::NewBlock { .. }))
            .count()
            >= 4
    });
    let seen = &events.seen;
    let burn_heights: Vec<u64> = seen
        .iter()
        .filter_map(|e| match e {
            SignerEvent::NewBurnBlock { burn_height, .. } => Some(*burn_height),
            _ => None,
        })
        .collect();
    assert_eq!(burn_heights, vec![345, 346]);
    let proposals = seen
        .iter()
        .filter(|e| {
            matches!(e, SignerEvent::MinerMessages(m)
                if m.iter().any(|m| matches!(m, SignerMessage::BlockProposal(_))))
        })
        .count();
    assert_eq!(proposals, 4);
    let mut acceptances = 0;
    for event in seen {
        if let SignerEvent::SignerMessages {
            signer_set,
            messages,
            ..
        } = event
        {
            assert_eq!(*signer_set, 0);
            for (pk, message) in messages {
                assert!(set.index_of_key(pk).is_some(), "a reward-set key wrote it");
                if matches!(
                    message,
                    SignerMessage::BlockResponse(BlockResponse::Accepted(_))
                ) {
                    acceptances += 1;
                }
            }
        }
    }
    assert_eq!(acceptances, 4 * 3);
    let new_blocks: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            SignerEvent::NewBlock {
                block_height,
                signer_sighash,
                transactions,
                ..
            } => Some((*block_height, signer_sighash.is_some(), transactions.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        new_blocks,
        vec![(3, true, 2), (4, true, 1), (5, true, 2), (6, true, 1)]
    );

    // A validation request answered through the receiver.
    let tip = node.stacks_tip().unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    let proposal = node
        .propose_block(&stacks_signer::devnet::ProposeOptions::default())
        .unwrap();
    let body = serde_json::json!({
        "block": libsigner::chain::hex::to_hex(&libsigner::codec::StacksMessageCodec::serialize_to_vec(&proposal.block)),
        "chain_id": 0x8000_0000u32,
        "replay_txs": null,
    });
    let status = post_proposal(&node.node_host(), &body.to_string());
    assert_eq!(status, 202);
    events.collect_until(TIMEOUT, |seen| {
        seen.iter().any(|e| {
            matches!(e, SignerEvent::BlockValidationResponse(r)
            if r.signer_signature_hash() == &proposal.signer_signature_hash)
        })
    });
    assert!(tip.height() < proposal.block.header.chain_length);
}

fn post_proposal(host: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST /v3/block_proposal HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: 12345\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_whitespace().nth(1).unwrap().parse().unwrap()
}
