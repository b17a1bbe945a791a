//! `POST /v3/block_proposal`: authentication and the node's status codes (202, 429, 422,
//! 400, 401), and the simulated validator's results sent through `/proposal_response`
//! (Ok, the node's reject codes and reasons, forced rejections, stalls).

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{
    ConsensusHash, Hash160, MessageSignature, StacksBlockId, StacksPrivateKey, StacksTransaction,
};
use mock_node_common::{request, HttpResponse, Observer};
use serde_json::json;
use stacks_signer::client::api::{BlockValidateResponse, ValidateRejectCode};
use stacks_signer::devnet::state::sign_as_miner;
use stacks_signer::devnet::validator::check_block;
use stacks_signer::devnet::wire::{
    NakamotoBlock, TenureChangeCause, TenureChangePayload as TenureChange,
};
use stacks_signer::devnet::{
    Activity, BlockKind, BlockOverrides, BurnBlockOptions, ForcedRejection, MockNode,
    MockNodeConfig, NodeState, ObserverSpec, ProposeOptions, RunningMockNode, SignerSpec,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn setup() -> (RunningMockNode, Observer) {
    let observer = Observer::start();
    // External signers only, so proposals stay unsigned.
    let signers = (0..3)
        .map(|i| {
            SignerSpec::external(
                libsigner::chain::StacksPublicKey::from_private(&StacksPrivateKey::from_seed(
                    format!("v{i}").as_bytes(),
                )),
                1,
            )
        })
        .collect();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    (node, observer)
}

fn propose(node: &RunningMockNode, overrides: BlockOverrides) -> NakamotoBlock {
    node.propose_block(&ProposeOptions {
        kind: Some(BlockKind::TenureStart),
        overrides,
    })
    .unwrap()
    .block
}

fn submit(
    node: &RunningMockNode,
    block: &NakamotoBlock,
    chain_id: u32,
    auth: Option<&str>,
) -> HttpResponse {
    let body = json!({"block": to_hex(&libsigner::codec::StacksMessageCodec::serialize_to_vec(block)), "chain_id": chain_id, "replay_txs": null});
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    request(
        node.addr(),
        "POST",
        "/v3/block_proposal",
        &headers,
        body.to_string().as_bytes(),
    )
}

fn result_for(observer: &Observer, block: &NakamotoBlock) -> BlockValidateResponse {
    let hash = json!(block.header.signer_signature_hash().to_hex());
    let matches = |e: &mock_node_common::ReceivedEvent| {
        e.path == "/proposal_response" && e.body["signer_signature_hash"] == hash
    };
    assert!(
        observer.wait_for(TIMEOUT, |evs| evs.iter().any(matches)),
        "no result"
    );
    let event = observer.events().into_iter().find(|e| matches(e)).unwrap();
    serde_json::from_value(event.body).unwrap()
}

fn rejection(observer: &Observer, block: &NakamotoBlock) -> (ValidateRejectCode, String) {
    match result_for(observer, block) {
        BlockValidateResponse::Reject(r) => (r.reason_code, r.reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_valid_proposal_is_accepted_with_202_and_answered_ok_through_the_observer() {
    let (node, observer) = setup();
    let block = propose(&node, BlockOverrides::default());
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
    let BlockValidateResponse::Ok(ok) = result_for(&observer, &block) else {
        panic!("expected Ok");
    };
    assert_eq!(
        ok.signer_signature_hash,
        block.header.signer_signature_hash()
    );
    let raw = observer.events_on("/proposal_response").pop().unwrap().raw;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("{\"cost\":"), "{text}");
    assert!(text.contains("\"replay_tx_exhausted\":false"));
    assert!(text.contains("\"result\":\"Ok\""));
}

#[test]
fn an_accepted_proposal_is_recorded_before_its_validation_result() {
    let (node, observer) = setup();
    let node = std::sync::Arc::new(node);
    let activity = node.subscribe();
    let block = propose(&node, BlockOverrides::default());
    // Another client keeps the node busy, so the request and its validation contend for
    // the state as they do when signers poll the node.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (node, stop) = (node.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                node.with_state(|_| std::thread::sleep(Duration::from_micros(200)));
            }
        })
    };
    let rounds = 30;
    for round in 1..=rounds {
        assert_eq!(
            submit(&node, &block, 0x8000_0000, Some("12345")).status,
            202
        );
        assert!(observer.wait_for(TIMEOUT, |events| {
            events
                .iter()
                .filter(|e| e.path == "/proposal_response")
                .count()
                == round
        }));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    busy.join().unwrap();
    let order: Vec<&str> = activity
        .try_iter()
        .filter_map(|entry| match entry.activity {
            Activity::ValidationRequested { .. } => Some("requested"),
            Activity::ValidationResult(_) => Some("result"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["requested", "result"].repeat(rounds));
}

#[test]
fn authentication_and_request_checks_answer_with_the_nodes_codes() {
    let (node, _observer) = setup();
    let block = propose(&node, BlockOverrides::default());
    assert_eq!(submit(&node, &block, 0x8000_0000, None).status, 401);
    let wrong = submit(&node, &block, 0x8000_0000, Some("Bearer 12345"));
    assert_eq!((wrong.status, wrong.text().as_str()), (401, "Unauthorized"));
    let no_type = request(
        node.addr(),
        "POST",
        "/v3/block_proposal",
        &[("Authorization", "12345")],
        b"{}",
    );
    assert_eq!(no_type.status, 400);
    let bad_block = request(
        node.addr(),
        "POST",
        "/v3/block_proposal",
        &[
            ("Authorization", "12345"),
            ("Content-Type", "application/json"),
        ],
        br#"{"block":"00","chain_id":1}"#,
    );
    assert_eq!(bad_block.status, 400);
    assert!(bad_block.text().starts_with("Failed to parse body"));
    // A wrong Merkle root fails to decode, as in the node's codec.
    let mut broken = block.clone();
    broken.header.tx_merkle_root.0[0] ^= 1;
    assert_eq!(
        submit(&node, &broken, 0x8000_0000, Some("12345")).status,
        400
    );
    // Shadow blocks are refused.
    let mut shadow = block.clone();
    shadow.header.version = 0x80;
    assert_eq!(
        submit(&node, &shadow, 0x8000_0000, Some("12345")).status,
        400
    );
    // Too old.
    let old = propose(
        &node,
        BlockOverrides {
            timestamp: Some(1_000),
            ..BlockOverrides::default()
        },
    );
    let resp = submit(&node, &old, 0x8000_0000, Some("12345"));
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.json(),
        json!({"result":"Error","message":"Could not process block proposal request: Block proposal is too old to process."})
    );
    // Busy.
    node.set_busy_responses(1);
    let resp = submit(&node, &block, 0x8000_0000, Some("12345"));
    assert_eq!(resp.status, 429);
    assert_eq!(
        resp.json()["message"],
        "Could not process block proposal request: Proposal currently being evaluated"
    );
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
}

#[test]
fn without_a_token_or_a_proposal_observer_proposals_are_refused_with_400() {
    let mut config = MockNodeConfig::with_simulated_signers(1);
    config.auth_token = None;
    let node = MockNode::start(config).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    let block = propose(&node, BlockOverrides::default());
    let resp = submit(&node, &block, 0x8000_0000, Some("12345"));
    assert_eq!((resp.status, resp.text().as_str()), (400, "Bad Request."));

    let node = MockNode::start(MockNodeConfig::with_simulated_signers(1)).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    let block = propose(&node, BlockOverrides::default());
    let resp = submit(&node, &block, 0x8000_0000, Some("12345"));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["message"],
        "Could not process block proposal request: No `observer` registered for receiving proposal callbacks"
    );
}

#[test]
fn invalid_blocks_are_rejected_with_the_nodes_codes_and_reasons() {
    let (node, observer) = setup();
    let wrong_key = StacksPrivateKey::from_seed(b"not the miner");
    let cases: Vec<(BlockOverrides, u32, ValidateRejectCode, &str)> = vec![
        (
            BlockOverrides::default(),
            1,
            ValidateRejectCode::NetworkChainMismatch,
            "Wrong network/chain_id",
        ),
        (
            BlockOverrides {
                parent_block_id: Some(StacksBlockId([7; 32])),
                ..BlockOverrides::default()
            },
            0x8000_0000,
            ValidateRejectCode::UnknownParent,
            "Unknown parent block",
        ),
        (
            BlockOverrides {
                miner_key: Some(wrong_key),
                ..BlockOverrides::default()
            },
            0x8000_0000,
            ValidateRejectCode::ChainstateError,
            "Chainstate Error: Invalid miner signature",
        ),
        (
            BlockOverrides {
                timestamp: Some(libsigner_now() + 3600),
                ..BlockOverrides::default()
            },
            0x8000_0000,
            ValidateRejectCode::InvalidTimestamp,
            "Block timestamp is too far into the future",
        ),
    ];
    for (overrides, chain_id, code, reason) in cases {
        let block = propose(&node, overrides);
        assert_eq!(submit(&node, &block, chain_id, Some("12345")).status, 202);
        assert_eq!(rejection(&observer, &block), (code, reason.to_string()));
    }
    // A non-start block whose parent is in the previous tenure: it keeps that parent's burn
    // view, which is older than its own tenure's sortition.
    let stale_parent = node.with_state(|s| s.stacks.tip().unwrap().block.header.parent_block_id);
    let block = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::Continue),
            overrides: BlockOverrides {
                parent_block_id: Some(stale_parent),
                ..BlockOverrides::default()
            },
        })
        .unwrap()
        .block;
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
    assert_eq!(
        rejection(&observer, &block),
        (
            ValidateRejectCode::NonCanonicalTenure,
            "Tenure consensus hash is not on the canonical Bitcoin fork".to_string()
        )
    );
}

fn libsigner_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn forced_rejections_and_stalls_follow_the_test_hooks() {
    let (node, observer) = setup();
    let block = propose(&node, BlockOverrides::default());
    node.force_rejection(ForcedRejection {
        signer_signature_hash: Some(block.header.signer_signature_hash()),
        code: ValidateRejectCode::BadTransaction,
        reason: "Problematic tx 0: poisoned".into(),
    });
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
    assert_eq!(
        rejection(&observer, &block),
        (
            ValidateRejectCode::BadTransaction,
            "Problematic tx 0: poisoned".into()
        )
    );
    // Consumed: the same block now validates.
    node.set_validation_stall(true);
    let before = observer.events_on("/proposal_response").len();
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(node.wait_events_delivered(TIMEOUT));
    assert_eq!(observer.events_on("/proposal_response").len(), before);
    node.set_validation_stall(false);
    assert_eq!(
        submit(&node, &block, 0x8000_0000, Some("12345")).status,
        202
    );
    assert!(observer.wait_for(TIMEOUT, |e| e
        .iter()
        .filter(|e| e.path == "/proposal_response")
        .count()
        > before));
    let last: BlockValidateResponse =
        serde_json::from_value(observer.events_on("/proposal_response").pop().unwrap().body)
            .unwrap();
    assert!(matches!(last, BlockValidateResponse::Ok(_)));
}

/// What a hand-built block is checked against: the chain after one tenure of two blocks
/// and a later burn block without a sortition.
struct Chain {
    tip: stacks_signer::devnet::stacks_chain::StoredBlock,
    tenure: ConsensusHash,
    miner_index: usize,
    miner_key: StacksPrivateKey,
    miner_pkh: Hash160,
    now: u64,
}

impl Chain {
    fn tenure_change(&self, cause: TenureChangeCause, burn_view: ConsensusHash) -> TenureChange {
        TenureChange {
            tenure_consensus_hash: self.tenure,
            prev_tenure_consensus_hash: self.tenure,
            burn_view_consensus_hash: burn_view,
            previous_tenure_end: self.tip.id,
            previous_tenure_blocks: 2,
            cause,
            pubkey_hash: self.miner_pkh,
        }
    }

    /// A block on the tip with `tenure_change` (`None`: a plain transfer block).
    fn block(&self, s: &mut NodeState, tenure_change: Option<TenureChange>) -> NakamotoBlock {
        s.build_block(
            self.miner_index,
            self.tenure,
            self.tip.id,
            self.tip.height() + 1,
            self.tip.block.header.timestamp + 1,
            tenure_change,
            Some(self.tip.block.header.pox_treatment.len()),
        )
    }

    /// Recomputes the Merkle root and signs the header with the tenure's miner key.
    fn resign(&self, mut block: NakamotoBlock) -> NakamotoBlock {
        block.header.tx_merkle_root = block.compute_tx_merkle_root();
        sign_as_miner(&mut block, &self.miner_key);
        block
    }
}

#[test]
fn each_validation_check_answers_with_the_nodes_code_and_reason_text() {
    use ValidateRejectCode::*;
    let start = libsigner_now();
    let config = MockNodeConfig {
        fixed_clock_secs: Some(start),
        ..MockNodeConfig::with_simulated_signers(2)
    };
    let node = MockNode::start(config).unwrap();
    node.mine_tenures(1, 2, TIMEOUT).unwrap();
    let empty = node.mine_burn_block(None).unwrap().consensus_hash;
    // A sibling of the tenure's sortition, below the burn tip (so not canonical).
    let tenure_parent_burn = node.with_state(|s| {
        let tenure = s.stacks.tip().unwrap().tenure();
        s.burnchain.by_consensus_hash(&tenure).unwrap().parent_hash
    });
    let sibling = node
        .advance_burn_block(&BurnBlockOptions {
            parent: Some(tenure_parent_burn),
            ..BurnBlockOptions::default()
        })
        .unwrap()
        .consensus_hash;
    assert_eq!(node.burn_tip().consensus_hash, empty);
    let other_key = StacksPrivateKey::from_seed(b"not the miner");
    type Answer = Result<(), (ValidateRejectCode, String)>;
    type Case = (&'static str, NakamotoBlock, u32, Answer);
    let results: Vec<(&str, Answer, Answer)> = node.with_state(|s| {
            let tip = s.stacks.tip().unwrap().clone();
            let tenure = tip.tenure();
            let miner_index = s
                .burnchain
                .by_consensus_hash(&tenure)
                .unwrap()
                .winner
                .as_ref()
                .unwrap()
                .miner_index;
            let miner_key = s.miners[miner_index].key.clone();
            let chain = Chain {
                tenure,
                miner_index,
                miner_pkh: s.miners[miner_index].pkh,
                miner_key,
                now: s.now_secs(),
                tip,
            };
            let first = s.stacks.tenure_start(&tenure).unwrap().clone();
            let prior_tenure = s.stacks.get(&first.block.header.parent_block_id).unwrap().tenure();
            let testnet = 0x8000_0000;
            let err = |code, reason: &str| Err((code, reason.to_string()));
            let plain = chain.block(s, None);
            let extend = |s: &mut NodeState, cause, view| {
                let tc = chain.tenure_change(cause, view);
                chain.block(s, Some(tc))
            };
            // A second tenure start in the tenure, on its tip (valid for the validator).
            let start_block = |s: &mut NodeState| {
                let tc = chain.tenure_change(TenureChangeCause::BlockFound, empty);
                chain.block(s, Some(tc))
            };
            let mut cases: Vec<Case> = vec![
                ("a plain block on the tenure tip", plain.clone(), testnet, Ok(())),
                (
                    "a full extend to the burn tip",
                    extend(s, TenureChangeCause::Extended, empty),
                    testnet,
                    Ok(()),
                ),
                (
                    "a SIP-034 extend (epoch 3.3 supports them)",
                    extend(s, TenureChangeCause::ExtendedRuntime, empty),
                    testnet,
                    Ok(()),
                ),
                ("a second tenure start on the tip", start_block(s), testnet, Ok(())),
                {
                    let mut b = plain.clone();
                    b.header.signer_signature = vec![MessageSignature([3; 65])];
                    ("signer signatures are not validated", b, testnet, Ok(()))
                },
                (
                    "another chain id",
                    plain.clone(),
                    1,
                    err(NetworkChainMismatch, "Wrong network/chain_id"),
                ),
                (
                    "a testnet chain id other than the node's",
                    plain.clone(),
                    0x8000_0001,
                    err(NetworkChainMismatch, "Wrong network/chain_id"),
                ),
                {
                    let mut b = plain.clone();
                    b.header.parent_block_id = StacksBlockId([7; 32]);
                    ("an unknown parent", chain.resign(b), testnet, err(UnknownParent, "Unknown parent block"))
                },
                (
                    "an extend to an unknown burn view",
                    extend(s, TenureChangeCause::Extended, ConsensusHash([9; 20])),
                    testnet,
                    err(ChainstateError, "Chainstate Error: Not found"),
                ),
                (
                    "an extend to a burn view off its parent's burn view's fork",
                    extend(s, TenureChangeCause::Extended, sibling),
                    testnet,
                    err(
                        ChainstateError,
                        "Chainstate Error: Does not connect to burn view of parent block ID",
                    ),
                ),
                {
                    let mut b = plain.clone();
                    b.header.consensus_hash = ConsensusHash([0x42; 20]);
                    (
                        "a plain block of an unknown tenure",
                        chain.resign(b),
                        testnet,
                        err(
                            NonCanonicalTenure,
                            "Tenure consensus hash is not on the canonical Bitcoin fork",
                        ),
                    )
                },
                {
                    let mut b = start_block(s);
                    b.txs.remove(0);
                    (
                        "a coinbase without a tenure change",
                        chain.resign(b),
                        testnet,
                        err(InvalidBlock, "Block is not well-formed"),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.parent_block_id = first.id;
                    b.header.chain_length = first.height() + 1;
                    (
                        "a plain block on a block below its tenure's tip",
                        chain.resign(b),
                        testnet,
                        err(
                            InvalidParentBlock,
                            "Block is not higher than the highest block in its tenure",
                        ),
                    )
                },
                {
                    let mut b = start_block(s);
                    b.header.parent_block_id = first.id;
                    b.header.chain_length = first.height() + 1;
                    let mut tc = chain.tenure_change(TenureChangeCause::BlockFound, empty);
                    tc.previous_tenure_end = first.id;
                    b.txs[0] = tenure_change_tx(s, &chain, &tc);
                    (
                        "a tenure start on a block below its parent tenure's tip",
                        chain.resign(b),
                        testnet,
                        err(
                            InvalidParentBlock,
                            "Block is not higher than the highest block in its tenure",
                        ),
                    )
                },
                {
                    let mut b = start_block(s);
                    b.header.consensus_hash = empty;
                    let mut tc = chain.tenure_change(TenureChangeCause::BlockFound, empty);
                    tc.tenure_consensus_hash = empty;
                    b.txs[0] = tenure_change_tx(s, &chain, &tc);
                    (
                        "a tenure start in a sortition without a winner",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: No block-commit in sortition for block's consensus hash",
                        ),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.burn_spent += 1;
                    (
                        "a wrong total burn",
                        chain.resign(b),
                        testnet,
                        err(ChainstateError, "Chainstate Error: Invalid Nakamoto block: invalid total burns"),
                    )
                },
                {
                    let mut b = plain.clone();
                    sign_as_miner(&mut b, &other_key);
                    (
                        "a signature by another key",
                        b,
                        testnet,
                        err(ChainstateError, "Chainstate Error: Invalid miner signature"),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.miner_signature = MessageSignature::empty();
                    (
                        "an unrecoverable miner signature",
                        b,
                        testnet,
                        err(ChainstateError, "Chainstate Error: Unrecoverable miner public key"),
                    )
                },
                {
                    let mut b = start_block(s);
                    let mut tc = chain.tenure_change(TenureChangeCause::BlockFound, empty);
                    tc.pubkey_hash = Hash160([5; 20]);
                    b.txs[0] = tenure_change_tx(s, &chain, &tc);
                    (
                        "a tenure change naming another miner",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: Invalid tenure change -- bad miner pubkey hash160",
                        ),
                    )
                },
                {
                    let mut b = start_block(s);
                    let mut tc = chain.tenure_change(TenureChangeCause::BlockFound, empty);
                    tc.tenure_consensus_hash = prior_tenure;
                    b.txs[0] = tenure_change_tx(s, &chain, &tc);
                    (
                        "a tenure start whose tenure change names another tenure",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: Invalid tenure change -- bad consensus hash",
                        ),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.txs.clear();
                    (
                        "a block without transactions",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: Invalid Nakamoto block: failed static transaction checks",
                        ),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.txs[0].chain_id = 1;
                    (
                        "a transaction for another chain",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: Invalid Nakamoto block: failed static transaction checks",
                        ),
                    )
                },
                {
                    let mut b = extend(s, TenureChangeCause::Extended, empty);
                    let mut tc = chain.tenure_change(TenureChangeCause::Extended, empty);
                    tc.previous_tenure_end = first.id;
                    b.txs[0] = tenure_change_tx(s, &chain, &tc);
                    (
                        "an extend that does not continue the parent",
                        chain.resign(b),
                        testnet,
                        err(
                            ChainstateError,
                            "Chainstate Error: Invalid Nakamoto block: failed static transaction checks",
                        ),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.timestamp = chain.tip.block.header.timestamp;
                    (
                        "a timestamp equal to the parent's",
                        chain.resign(b),
                        testnet,
                        err(InvalidTimestamp, "Block timestamp is not greater than parent block"),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.timestamp = chain.now + 15;
                    ("a timestamp 15 s ahead", chain.resign(b), testnet, Ok(()))
                },
                {
                    let mut b = plain.clone();
                    b.header.timestamp = chain.now + 16;
                    (
                        "a timestamp 16 s ahead",
                        chain.resign(b),
                        testnet,
                        err(InvalidTimestamp, "Block timestamp is too far into the future"),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.chain_length += 1;
                    (
                        "a chain length other than the parent's + 1",
                        chain.resign(b),
                        testnet,
                        err(BadBlockHash, "Block hash is not as expected"),
                    )
                },
                {
                    let mut b = plain.clone();
                    b.header.pox_treatment.set(0, false).unwrap();
                    (
                        "a cleared pox_treatment bit",
                        chain.resign(b),
                        testnet,
                        err(BadBlockHash, "Block hash is not as expected"),
                    )
                },
            ];
            cases
                .drain(..)
                .map(|(name, block, chain_id, expected)| {
                    (name, check_block(s, &block, chain_id), expected)
                })
                .collect()
        });
    for (name, got, expected) in results {
        assert_eq!(got, expected, "{name}");
    }
}

/// A tenure-change transaction with `tc` from the tenure's miner.
fn tenure_change_tx(s: &NodeState, chain: &Chain, tc: &TenureChange) -> StacksTransaction {
    stacks_signer::devnet::wire::tx::tenure_change(
        &chain.miner_key,
        s.config.mainnet,
        s.config.chain_id,
        0,
        tc,
    )
}
