//! `StacksClient` against a running mock node: every endpoint returns what the node's state
//! says, request shapes and authorization are what the node expects, and the error paths
//! (unknown cycle, wrong auth, node down) end in the reference's errors.

mod mock_node_common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use libsigner::chain::{
    ConsensusHash, QualifiedContractIdentifier, StacksAddress, StacksPrivateKey, StacksPublicKey,
    Value,
};
use mock_node_common::Observer;
use serde_json::json;
use stacks_signer::client::api::{StacksBlockHeaderTypes, StacksEpochId};
use stacks_signer::client::stacks_client::parse_signer_slots;
use stacks_signer::client::{ClientError, SignerSlotID, StacksClient};
use stacks_signer::config::GlobalConfig;
use stacks_signer::devnet::{
    BlockKind, BlockOverrides, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions,
    RunningMockNode, SignerSpec,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const CHAIN_ID_TESTNET: u32 = 0x8000_0000;

/// Three external signers, sorted by compressed key (= reward-set order = slot order).
fn keys() -> Vec<StacksPrivateKey> {
    let mut keys: Vec<StacksPrivateKey> = (0..3)
        .map(|i| StacksPrivateKey::from_seed(format!("client signer {i}").as_bytes()))
        .collect();
    keys.sort_by_key(|k| StacksPublicKey::from_private(k).to_bytes_compressed());
    keys
}

fn start(observer: Option<&Observer>) -> (RunningMockNode, Vec<StacksPrivateKey>) {
    let keys = keys();
    let mut config = MockNodeConfig {
        signers: keys
            .iter()
            .map(|k| SignerSpec::external(StacksPublicKey::from_private(k), 1))
            .collect(),
        ..MockNodeConfig::default()
    };
    if let Some(o) = observer {
        config.observers.push(ObserverSpec::signer(o.endpoint()));
    }
    (MockNode::start(config).unwrap(), keys)
}

fn client(node: &RunningMockNode, key: &StacksPrivateKey, auth: &str) -> StacksClient {
    StacksClient::new(
        key,
        &node.node_host(),
        auth.to_string(),
        false,
        CHAIN_ID_TESTNET,
    )
}

#[test]
fn peer_info_pox_cycle_and_epoch_follow_the_node() {
    let (node, keys) = start(None);
    let c = client(&node, &keys[0], "12345");
    let info = c.get_peer_info().unwrap();
    let tip = node.burn_tip();
    let stacks_tip = node.stacks_tip().unwrap();
    assert_eq!(info.burn_block_height, 344);
    assert_eq!(info.pox_consensus, tip.consensus_hash);
    assert_eq!(info.stacks_tip, stacks_tip.block.header.block_hash());
    assert_eq!(info.stacks_tip_consensus_hash, stacks_tip.tenure());
    assert_eq!(info.network_id, CHAIN_ID_TESTNET);

    let pox = c.get_pox_data().unwrap();
    assert_eq!(pox.current_burnchain_block_height, 344);
    assert_eq!(pox.reward_cycle_id, 12);
    let rc = c.get_current_reward_cycle_info().unwrap();
    assert_eq!(rc.reward_cycle, 12);
    assert_eq!(rc.reward_cycle_length, 20);
    assert_eq!(rc.prepare_phase_block_length, 5);
    assert_eq!(rc.first_burnchain_block_height, 100);
    assert_eq!(rc.last_burnchain_block_height, 344);
    assert!(rc.is_in_reward_cycle(359));
    assert!(!rc.is_in_reward_cycle(360));
    assert!(!rc.is_in_next_prepare_phase(354));
    assert!(rc.is_in_next_prepare_phase(355));
    assert_eq!(c.get_node_epoch().unwrap(), StacksEpochId::Epoch33);

    // The burn tip moves: so do the answers.
    node.mine_burn_block(None).unwrap();
    assert_eq!(c.get_peer_info().unwrap().burn_block_height, 345);
    assert_eq!(
        c.get_current_reward_cycle_info()
            .unwrap()
            .last_burnchain_block_height,
        345
    );

    // monitor-signers' constructor learns the network from /v2/info.
    let probed = StacksClient::try_from_host(&keys[0], &node.node_host(), String::new()).unwrap();
    assert!(!probed.mainnet);
    assert_eq!(probed.chain_id(), CHAIN_ID_TESTNET);
    assert_eq!(probed.get_signer_address(), c.get_signer_address());
}

#[test]
fn reward_set_slots_and_last_set_cycle_match_the_node() {
    let (node, keys) = start(None);
    let c = client(&node, &keys[1], "12345");
    let signers = c.get_reward_set_signers(12).unwrap().unwrap();
    assert_eq!(signers.len(), 3);
    for (entry, key) in signers.iter().zip(&keys) {
        assert_eq!(
            entry.signing_key.to_vec(),
            StacksPublicKey::from_private(key).to_bytes_compressed()
        );
        assert_eq!(entry.weight, 1);
    }
    // The next cycle is not computed yet: 400 → RequestFailure, at once (permanent).
    let t = Instant::now();
    match c.get_reward_set_signers(13) {
        Err(ClientError::RequestFailure(400)) => {}
        other => panic!("expected RequestFailure(400), got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(2));

    assert_eq!(c.get_last_set_cycle().unwrap(), 12);
    let slots = c.get_parsed_signer_slots(12).unwrap();
    assert_eq!(slots.len(), 3);
    for (i, key) in keys.iter().enumerate() {
        let addr = StacksAddress::p2pkh(false, &StacksPublicKey::from_private(key));
        assert_eq!(slots.get(&addr), Some(&SignerSlotID(i as u32)));
    }
    assert_eq!(slots.get(c.get_signer_address()), Some(&SignerSlotID(1)));
    let contract = QualifiedContractIdentifier::boot_contract("signers", false).unwrap();
    let page = c.get_stackerdb_signer_slots(&contract, 0).unwrap();
    assert_eq!(page.len(), 3);
    assert!(page.iter().all(|(_, n)| *n == 1));

    // Anything else than the two `.signers` functions is `okay: false` on the mock.
    let err = c
        .read_only_contract_call(
            &contract.issuer_address(),
            "pox-4",
            "get-info",
            &[Value::UInt(1)],
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::ReadOnlyFailure(_)));
    assert!(err
        .to_string()
        .starts_with("Failed to call read only function. get-info: "));
}

#[test]
fn sortitions_tenure_tip_and_accounts() {
    let (node, keys) = start(None);
    let c = client(&node, &keys[0], "12345");
    let (current, last) = c.get_current_and_last_sortition().unwrap();
    assert!(current.was_sortition);
    assert_eq!(current.burn_block_height, 344);
    let last = last.expect("genesis has a last sortition");
    assert_eq!(current.last_sortition_ch, Some(last.consensus_hash));
    assert_eq!(last.burn_block_height, 343);

    // A burn block without a winner: the latest winning sortition is unchanged.
    node.mine_burn_block(None).unwrap();
    let (again, _) = c.get_current_and_last_sortition().unwrap();
    assert_eq!(again, current);
    // A new winner.
    let won = node.mine_burn_block(Some(1)).unwrap();
    let (now, prev) = c.get_current_and_last_sortition().unwrap();
    assert_eq!(now.consensus_hash, won.consensus_hash);
    assert_eq!(prev.unwrap().consensus_hash, current.consensus_hash);

    assert_eq!(
        c.get_sortition_by_consensus_hash(&last.consensus_hash)
            .unwrap(),
        last
    );
    match c.get_sortition_by_consensus_hash(&ConsensusHash([0xab; 20])) {
        Err(ClientError::RequestFailure(404)) => {}
        other => panic!("expected 404, got {other:?}"),
    }

    let tip = node.stacks_tip().unwrap();
    let meta = c.get_tenure_tip(&tip.tenure()).unwrap();
    let StacksBlockHeaderTypes::Nakamoto(header) = meta.anchored_header else {
        panic!("expected a Nakamoto header");
    };
    assert_eq!(header.block_id(), tip.id);
    assert!(matches!(
        c.get_tenure_tip(&ConsensusHash([9; 20])),
        Err(ClientError::RequestFailure(404))
    ));

    let account = c.get_account_entry(c.get_signer_address()).unwrap();
    assert_eq!(account.balance_ustx(), Some(0));
    assert_eq!(account.nonce, 0);
}

#[test]
fn fork_info_is_walked_back_past_the_nodes_depth_limit() {
    let (node, keys) = start(None);
    let c = client(&node, &keys[0], "12345");
    let (_, genesis_last) = c.get_current_and_last_sortition().unwrap();
    let start_ch = genesis_last.unwrap().consensus_hash;
    // 13 more winning sortitions (and one empty one): 15 tenures from the tip back to start.
    let mut stop = start_ch;
    for i in 0..14 {
        let winner = if i == 5 { None } else { Some(i % 2) };
        let b = node.mine_burn_block(winner).unwrap();
        if winner.is_some() {
            stop = b.consensus_hash;
        }
    }
    let infos = c.get_tenure_forking_info(&start_ch, &stop).unwrap();
    assert_eq!(infos.first().unwrap().consensus_hash, stop);
    assert_eq!(infos.last().unwrap().consensus_hash, start_ch);
    assert_eq!(infos.len(), 15);
    let mut heights: Vec<u64> = infos.iter().map(|i| i.burn_block_height).collect();
    let before = heights.clone();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    heights.dedup();
    assert_eq!(heights, before, "strictly decreasing, no duplicates");
    // Same start and stop: one tenure.
    let one = c.get_tenure_forking_info(&stop, &stop).unwrap();
    assert_eq!(one.len(), 1);
    // Not on the same fork: the node's 400.
    assert!(matches!(
        c.get_tenure_forking_info(&stop, &start_ch),
        Err(ClientError::RequestFailure(400))
    ));
}

#[test]
fn block_proposals_are_accepted_and_answered_on_the_observer() {
    let observer = Observer::start();
    let (node, keys) = start(Some(&observer));
    node.mine_burn_block(Some(0)).unwrap();
    let block = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            overrides: BlockOverrides::default(),
        })
        .unwrap()
        .block;
    let c = client(&node, &keys[0], "12345");
    c.submit_block_for_validation(block.clone(), None).unwrap();
    let hash = json!(block.header.signer_signature_hash().to_hex());
    assert!(
        observer.wait_for(TIMEOUT, |evs| evs
            .iter()
            .any(|e| e.path == "/proposal_response"
                && e.body["signer_signature_hash"] == hash
                && e.body["result"] == "Ok")),
        "no Ok validation result: {:?}",
        observer.events_on("/proposal_response")
    );

    // With (empty) replay transactions: the same request shape, also accepted.
    c.submit_block_for_validation(block.clone(), Some(vec![]))
        .unwrap();

    // Wrong password: the node's 401, returned at once.
    let wrong = client(&node, &keys[0], "nope");
    let t = Instant::now();
    match wrong.submit_block_for_validation(block, None) {
        Err(e @ ClientError::RequestFailure(401)) => {
            assert_eq!(
                e.to_string(),
                "Stacks node client request failed: 401 Unauthorized"
            )
        }
        other => panic!("expected RequestFailure(401), got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_signed_block_is_posted_and_processed() {
    let (node, keys) = start(None);
    node.set_miner_broadcasts(false);
    node.mine_burn_block(Some(0)).unwrap();
    let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
    let hash = proposal.signer_signature_hash;
    let mut block = proposal.block.clone();
    block.header.signer_signature = keys.iter().map(|k| k.sign(&hash.0).unwrap()).collect();
    let c = client(&node, &keys[0], "12345");
    assert!(c.post_block(&block).unwrap());
    let stored = node.wait_for_block(&hash, TIMEOUT).expect("processed");
    assert_eq!(stored.id, block.header.block_id());
    assert_eq!(node.stacks_tip().unwrap().id, block.header.block_id());
}

#[test]
fn a_down_node_is_retried_for_about_five_seconds() {
    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let key = StacksPrivateKey::from_seed(b"down");
    let c = StacksClient::new(
        &key,
        &format!("127.0.0.1:{port}"),
        String::new(),
        false,
        CHAIN_ID_TESTNET,
    );
    let t = Instant::now();
    let err = c.get_peer_info().unwrap_err();
    let elapsed = t.elapsed();
    assert!(matches!(err, ClientError::HttpError(_)), "{err:?}");
    assert!(elapsed >= Duration::from_secs(2), "retried: {elapsed:?}");
    assert!(elapsed <= Duration::from_secs(7), "bounded: {elapsed:?}");
    // Non-retried endpoints fail at once.
    let t = Instant::now();
    assert!(c.get_current_and_last_sortition().is_err());
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn an_error_status_is_a_request_failure_not_a_retry() {
    let (node, keys) = start(None);
    let c = client(&node, &keys[0], "12345");
    node.set_endpoint_down("/v2/pox", true);
    let t = Instant::now();
    assert!(matches!(
        c.get_pox_data(),
        Err(ClientError::RequestFailure(503))
    ));
    assert!(t.elapsed() < Duration::from_secs(1));
    node.set_endpoint_down("/v2/pox", false);
    assert!(c.get_pox_data().is_ok());
}

#[test]
fn a_contract_principal_in_the_slot_page_is_an_error() {
    // (ok (list {num-slots: u1, signer: ST..signers-contract.hello}))
    let hex = concat!(
        "070b00000001",
        "0c00000002096e756d2d736c6f747301000000000000000000000000000000010673",
        "69676e6572061a52cb471c08e4c04c1830ec6705cf2bdfa9600c6a0568656c6c6f"
    );
    let value = Value::try_deserialize_hex_untyped(hex).unwrap();
    assert!(matches!(
        parse_signer_slots(value),
        Err(ClientError::MalformedContractData(_))
    ));
    // Not a response at all.
    assert!(matches!(
        parse_signer_slots(Value::UInt(1)),
        Err(ClientError::ClarityError(_))
    ));
}

#[test]
fn from_global_config_uses_its_address_chain_and_host() {
    let text = r#"
stacks_private_key = "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01"
node_host = "127.0.0.1:20443"
endpoint = "127.0.0.1:30000"
network = "testnet"
auth_password = "12345"
db_path = ":memory:"
"#;
    let (config, _) = GlobalConfig::load_from_str(text).unwrap();
    let c = StacksClient::from(&config);
    assert_eq!(c.get_signer_address(), &config.stacks_address);
    assert_eq!(c.chain_id(), CHAIN_ID_TESTNET);
    assert!(!c.mainnet);
    assert_eq!(c.http_origin(), "http://127.0.0.1:20443");
    assert_eq!(
        ClientError::RetryTimeout.to_string(),
        "Backoff retry timeout occurred. Stacks node may be down."
    );
    assert_eq!(
        ClientError::RequestFailure(404).to_string(),
        "Stacks node client request failed: 404 Not Found"
    );
}

#[test]
fn every_request_has_a_timeout() {
    // Accepts connections but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = std::thread::spawn(move || {
        let mut held = vec![];
        for stream in listener.incoming().take(1) {
            held.push(stream);
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let key = StacksPrivateKey::from_seed(b"slow");
    let c = StacksClient::new(
        &key,
        &addr.to_string(),
        String::new(),
        false,
        CHAIN_ID_TESTNET,
    )
    .with_timeout(Duration::from_millis(300));
    let t = Instant::now();
    // Not retried: one attempt, cut off by the timeout.
    let err = c.get_current_and_last_sortition().unwrap_err();
    assert!(matches!(err, ClientError::HttpError(_)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    hold.join().unwrap();
}

#[test]
fn a_block_post_with_a_wrong_password_is_retried_then_fails_with_401() {
    let (node, keys) = start(None);
    node.set_miner_broadcasts(false);
    node.mine_burn_block(Some(0)).unwrap();
    let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
    let hash = proposal.signer_signature_hash;
    let mut block = proposal.block.clone();
    block.header.signer_signature = keys.iter().map(|k| k.sign(&hash.0).unwrap()).collect();
    let c = client(&node, &keys[0], "wrong");
    let t = Instant::now();
    assert!(matches!(
        c.post_block(&block),
        Err(ClientError::RequestFailure(401))
    ));
    // Error statuses are retried for post_block (as in the reference), within the budget.
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert!(t.elapsed() <= Duration::from_secs(7));
    assert!(node.block(&block.header.block_id()).is_none());
}

#[test]
fn the_next_cycles_reward_set_and_slots_appear_in_its_prepare_phase() {
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(3)).unwrap();
    let c = StacksClient::new(
        &StacksPrivateKey::from_seed(b"watcher"),
        &node.node_host(),
        "12345".into(),
        false,
        CHAIN_ID_TESTNET,
    );
    assert!(matches!(
        c.get_reward_set_signers(13),
        Err(ClientError::RequestFailure(400))
    ));
    assert_eq!(c.get_last_set_cycle().unwrap(), 12);
    // From 344 into cycle 12's prepare phase (heights 356..360) and past its first block.
    node.mine_tenures(14, 1, TIMEOUT).unwrap();
    let rc = c.get_current_reward_cycle_info().unwrap();
    assert_eq!(rc.last_burnchain_block_height, 358);
    assert!(rc.is_in_next_prepare_phase(rc.last_burnchain_block_height));
    let next = c.get_reward_set_signers(13).unwrap().unwrap();
    assert_eq!(next.len(), 3);
    assert_eq!(c.get_last_set_cycle().unwrap(), 13);
    let slots = c.get_parsed_signer_slots(13).unwrap();
    assert_eq!(slots.len(), 3);
    let mut ids: Vec<u32> = slots.values().map(|s| s.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1, 2]);
    // Cycle 12's page (the other parity) is still there.
    assert_eq!(c.get_parsed_signer_slots(12).unwrap().len(), 3);
}
