//! `POST /v3/block_proposal`: authentication and the node's status codes (202, 429, 422,
//! 400, 401), and the simulated validator's results sent through `/proposal_response`
//! (Ok, the node's reject codes and reasons, forced rejections, stalls).

mod mock_node_common;

use std::time::Duration;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{StacksBlockId, StacksPrivateKey};
use mock_node_common::{request, HttpResponse, Observer};
use serde_json::json;
use stacks_signer::client::api::{BlockValidateResponse, ValidateRejectCode};
use stacks_signer::devnet::wire::NakamotoBlock;
use stacks_signer::devnet::{
    Activity, BlockKind, BlockOverrides, ForcedRejection, MockNode, MockNodeConfig, ObserverSpec,
    ProposeOptions, RunningMockNode, SignerSpec,
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
    // A non-start block whose parent is not its tenure's tip.
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
        rejection(&observer, &block).0,
        ValidateRejectCode::InvalidParentBlock
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
