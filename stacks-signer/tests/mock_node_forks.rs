//! Burn-chain forks: a fork block at the tip's height becomes the tip, the canonical Stacks
//! tip falls back to the fork's tenures, sortitions and fork info follow the new fork, and
//! blocks of abandoned tenures are refused as the node refuses them.

mod mock_node_common;

use std::time::Duration;

use mock_node_common::{get, post_block_proposal, Observer};
use serde_json::json;
use stacks_signer::client::api::{
    BlockValidateResponse, RPCPeerInfoData, SortitionInfo, TenureForkingInfo, ValidateRejectCode,
};
use stacks_signer::devnet::{
    BlockKind, BurnBlockOptions, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions,
};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Posts `block` to `/v3/block_proposal` and returns the validator's rejection.
fn validation_rejection(
    node: &stacks_signer::devnet::RunningMockNode,
    observer: &Observer,
    block: &stacks_signer::devnet::wire::NakamotoBlock,
) -> (ValidateRejectCode, String) {
    let resp = post_block_proposal(node.addr(), block);
    assert_eq!(resp.status, 202);
    let hash = json!(block.header.signer_signature_hash().to_hex());
    assert!(observer
        .wait_for(TIMEOUT, |e| e.iter().any(|e| e.path
            == "/proposal_response"
            && e.body["signer_signature_hash"] == hash)));
    let event = observer
        .events_on("/proposal_response")
        .into_iter()
        .find(|e| e.body["signer_signature_hash"] == hash)
        .unwrap();
    match serde_json::from_value(event.body).unwrap() {
        BlockValidateResponse::Reject(r) => (r.reason_code, r.reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_burn_fork_moves_the_canonical_tips_and_blocks_of_abandoned_tenures_are_refused_as_the_node_does(
) {
    let observer = Observer::start();
    let mut config = MockNodeConfig::with_simulated_signers(3);
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let first = node.mine_tenures(1, 1, TIMEOUT).unwrap();
    let fork_point = node.burn_tip();
    let abandoned = node.mine_tenures(1, 2, TIMEOUT).unwrap();
    assert_eq!(node.stacks_tip().unwrap().height(), 5);

    // A competing block at height 346 on 345: the newest block at the tip height wins.
    let fork = node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(1),
            parent: Some(fork_point.hash),
            ..BurnBlockOptions::default()
        })
        .unwrap();
    assert_eq!(fork.height, 346);
    let info: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
    assert_eq!(info.pox_consensus, fork.consensus_hash);
    assert_eq!(info.stacks_tip_height, 3);
    assert_eq!(info.stacks_tip, first[0].block.header.block_hash());
    let sortitions: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/latest_and_last").parse();
    assert_eq!(sortitions[0].consensus_hash, fork.consensus_hash);
    assert_eq!(sortitions[1].consensus_hash, fork_point.consensus_hash);
    assert_eq!(
        sortitions[0].stacks_parent_ch,
        Some(fork_point.consensus_hash)
    );
    let forked: Vec<TenureForkingInfo> = get(
        node.addr(),
        &format!(
            "/v3/tenures/fork_info/{}/{}",
            fork_point.consensus_hash, fork.consensus_hash
        ),
    )
    .parse();
    assert_eq!(forked.len(), 2);

    // The blocks of the abandoned tenure, proposed again. Its sortition is on their burn
    // view's fork, so the tenure check passes; a later block has no highest block of its
    // tenure with a canonical burn view, and the tenure start fails the burnchain check.
    assert_eq!(
        validation_rejection(&node, &observer, &abandoned[1].block),
        (
            ValidateRejectCode::NoSuchTenure,
            "Block is not a tenure-start block, and has an unrecognized tenure consensus hash"
                .to_string()
        )
    );
    assert_eq!(
        validation_rejection(&node, &observer, &abandoned[0].block),
        (
            ValidateRejectCode::ChainstateError,
            "Chainstate Error: No sortition for block's consensus hash -- not canonical"
                .to_string()
        )
    );

    // The fork's winner mines on the fork; heights are reused.
    let proposal = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .unwrap();
    let stored = node
        .wait_for_block(&proposal.signer_signature_hash, TIMEOUT)
        .unwrap();
    assert_eq!(stored.height(), 4);
    assert_eq!(stored.block.header.parent_block_id, first[0].id);
    assert_eq!(node.stacks_tip().unwrap().id, stored.id);

    // Reorg back to the abandoned fork's tip: its tenures and blocks are canonical again.
    let old_tip = node.with_state(|s| {
        s.burnchain
            .by_consensus_hash(&abandoned[0].tenure())
            .unwrap()
            .hash
    });
    node.set_burn_tip(&old_tip).unwrap();
    assert_eq!(node.stacks_tip().unwrap().id, abandoned[1].id);
    let info: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
    assert_eq!(info.stacks_tip_height, 5);
    assert!(node.wait_events_delivered(TIMEOUT));
    let last_burn = observer.events_on("/new_burn_block").pop().unwrap();
    assert_eq!(
        last_burn.body["burn_block_hash"],
        json!(format!("0x{old_tip}"))
    );
}
