//! Tenure extends through the simulated miner, taking endpoints down, activity records, and
//! stopping a node promptly even while an observer is unreachable.

mod mock_node_common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mock_node_common::get;
use stacks_signer::client::api::{BlockHeaderWithMetadata, RPCPeerInfoData};
use stacks_signer::devnet::wire::TenureChangeCause;
use stacks_signer::devnet::{
    Activity, BlockKind, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions,
};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The data of every slot of the cycle-0 block-response StackerDB (`signers-0-1`).
fn block_response_slots(node: &stacks_signer::devnet::RunningMockNode) -> Vec<Vec<u8>> {
    node.with_state(|s| {
        s.stackerdbs
            .get("signers-0-1")
            .unwrap()
            .slots
            .iter()
            .map(|slot| slot.data.clone())
            .collect()
    })
}

#[test]
fn a_tenure_extend_after_a_burn_block_without_winner_moves_the_tenure_burn_view() {
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(3)).unwrap();
    let tenure = node.mine_tenures(1, 1, TIMEOUT).unwrap()[0].tenure();
    let empty = node.mine_burn_block(None).unwrap();
    let proposal = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::Extend(TenureChangeCause::Extended)),
            ..ProposeOptions::default()
        })
        .unwrap();
    let stored = node
        .wait_for_block(&proposal.signer_signature_hash, TIMEOUT)
        .expect("the extend is signed and processed");
    assert_eq!(stored.tenure(), tenure);
    let tc = stored.block.get_tenure_extend_tx_payload().unwrap();
    assert_eq!(tc.cause, TenureChangeCause::Extended);
    assert_eq!(tc.burn_view_consensus_hash, empty.consensus_hash);
    let meta: BlockHeaderWithMetadata =
        get(node.addr(), &format!("/v3/tenures/tip_metadata/{tenure}")).parse();
    assert_eq!(meta.burn_view, Some(empty.consensus_hash));
    // Further blocks continue the extended tenure.
    let next = node.propose_block(&ProposeOptions::default()).unwrap();
    assert!(node
        .wait_for_block(&next.signer_signature_hash, TIMEOUT)
        .is_some());
    assert_eq!(node.stacks_tip().unwrap().height(), 5);
}

#[test]
fn an_endpoint_taken_down_answers_503_until_brought_back() {
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(1)).unwrap();
    node.set_endpoint_down("/v2/info", true);
    assert_eq!(get(node.addr(), "/v2/info").status, 503);
    assert_eq!(get(node.addr(), "/v2/pox").status, 200);
    node.set_endpoint_down("/v2/info", false);
    let _: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
}

#[test]
fn the_activity_stream_reports_proposals_chunk_writes_and_processed_blocks() {
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(2)).unwrap();
    let activity = node.subscribe();
    node.mine_tenures(1, 1, TIMEOUT).unwrap();
    let entries: Vec<Activity> = activity.try_iter().map(|e| e.activity).collect();
    let position = |pred: &dyn Fn(&Activity) -> bool| entries.iter().position(pred).unwrap();
    let burn = position(&|a| matches!(a, Activity::BurnBlock { height: 345, .. }));
    let proposed = position(&|a| matches!(a, Activity::BlockProposed { .. }));
    let accepted = position(
        &|a| matches!(a, Activity::ChunkWrite { contract, accepted: true, .. } if contract == "signers-0-1"),
    );
    let processed = position(&|a| {
        matches!(a, Activity::BlockProcessed { signed_weight, threshold_weight, .. }
            if signed_weight >= threshold_weight)
    });
    assert!(burn < proposed && proposed < accepted && accepted < processed);
}

#[test]
fn a_node_stops_promptly_while_an_observer_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = MockNodeConfig::with_simulated_signers(1);
    config
        .observers
        .push(ObserverSpec::signer(format!("127.0.0.1:{port}")));
    let node = MockNode::start(config).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    node.stop();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn simulated_signers_reject_an_invalid_proposal_with_the_validation_code() {
    use libsigner::v0::messages::{BlockResponse, RejectCode, ValidateRejectCode};
    use stacks_signer::devnet::wire::{messages, SignerMessage};
    use stacks_signer::devnet::BlockOverrides;
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(2)).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let proposal = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            overrides: BlockOverrides {
                timestamp: Some(future),
                ..BlockOverrides::default()
            },
        })
        .unwrap();
    let chunks = block_response_slots(&node);
    assert_eq!(chunks.len(), 2);
    for data in chunks {
        match messages::decode(&data).unwrap() {
            SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) => {
                assert_eq!(
                    rejection.signer_signature_hash,
                    proposal.signer_signature_hash
                );
                assert_eq!(
                    rejection.reason,
                    "Block timestamp is too far into the future"
                );
                assert_eq!(
                    rejection.reason_code,
                    RejectCode::ValidationFailed(ValidateRejectCode::InvalidTimestamp)
                );
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert!(node
        .wait_for_block(&proposal.signer_signature_hash, Duration::from_millis(200))
        .is_none());
}

#[test]
fn simulated_signers_refuse_signer_detected_deviations_with_the_signers_reasons() {
    use libsigner::chain::{ConsensusHash, StacksPrivateKey};
    use libsigner::v0::messages::{BlockResponse, RejectReason};
    use stacks_signer::devnet::wire::{messages, pox_treatment_ones, SignerMessage};
    use stacks_signer::devnet::BlockOverrides;
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(3)).unwrap();
    node.mine_tenures(1, 1, TIMEOUT).unwrap();
    let mut zero_bit = pox_treatment_ones(3);
    zero_bit.set(1, false).unwrap();
    let cases: Vec<(BlockKind, BlockOverrides, RejectReason)> = vec![
        (
            BlockKind::Continue,
            BlockOverrides {
                miner_key: Some(StacksPrivateKey::from_seed(b"impostor")),
                ..BlockOverrides::default()
            },
            RejectReason::PubkeyHashMismatch,
        ),
        (
            BlockKind::Continue,
            BlockOverrides {
                pox_treatment: Some(zero_bit),
                ..BlockOverrides::default()
            },
            RejectReason::InvalidBitvec,
        ),
        (
            BlockKind::Continue,
            BlockOverrides {
                consensus_hash: Some(ConsensusHash([7; 20])),
                ..BlockOverrides::default()
            },
            RejectReason::SortitionViewMismatch,
        ),
        (
            BlockKind::Continue,
            BlockOverrides {
                duplicate_tenure_change: true,
                ..BlockOverrides::default()
            },
            RejectReason::DuplicateBlockFound,
        ),
    ];
    for (kind, overrides, expected) in cases {
        let proposal = node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                overrides,
            })
            .unwrap();
        let responses = node.with_state(|s| {
            s.stackerdbs
                .get("signers-0-1")
                .unwrap()
                .slots
                .iter()
                .map(|slot| messages::decode(&slot.data).unwrap())
                .collect::<Vec<_>>()
        });
        for response in responses {
            let SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) = response else {
                panic!("expected a rejection for {expected:?}");
            };
            assert_eq!(
                rejection.signer_signature_hash,
                proposal.signer_signature_hash
            );
            assert_eq!(rejection.response_data.reject_reason, expected);
            assert_eq!(rejection.reason, expected.to_string());
        }
    }
    // A normal block is still signed afterwards.
    let ok = node.propose_block(&ProposeOptions::default()).unwrap();
    assert!(node
        .wait_for_block(&ok.signer_signature_hash, TIMEOUT)
        .is_some());
}

#[test]
fn a_forced_rejection_of_the_next_proposal_is_honoured_by_simulated_signers() {
    use libsigner::v0::messages::{BlockResponse, RejectCode, ValidateRejectCode};
    use stacks_signer::devnet::wire::{messages, SignerMessage};
    use stacks_signer::devnet::ForcedRejection;
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(2)).unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    node.force_rejection(ForcedRejection {
        signer_signature_hash: None,
        code: ValidateRejectCode::BadTransaction,
        reason: "Problematic tx 0: forced".into(),
    });
    let rejected = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .unwrap();
    let responses = block_response_slots(&node);
    assert_eq!(responses.len(), 2);
    for data in responses {
        match messages::decode(&data).unwrap() {
            SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) => {
                assert_eq!(
                    rejection.signer_signature_hash,
                    rejected.signer_signature_hash
                );
                assert_eq!(rejection.reason, "Problematic tx 0: forced");
                assert_eq!(
                    rejection.reason_code,
                    RejectCode::ValidationFailed(ValidateRejectCode::BadTransaction)
                );
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert!(node
        .wait_for_block(&rejected.signer_signature_hash, Duration::from_millis(500))
        .is_none());
    // The forced rejection was bound to that proposal only: the next one is signed.
    let next = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .unwrap();
    assert!(node
        .wait_for_block(&next.signer_signature_hash, TIMEOUT)
        .is_some());
}
