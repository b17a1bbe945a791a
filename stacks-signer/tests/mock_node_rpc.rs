//! The mock node's read-only RPC endpoints answer with the node's JSON shapes (decoded here
//! with the client's `api` types), status codes and error bodies.

mod mock_node_common;

use libsigner::chain::hex::{hex_bytes, to_hex};
use libsigner::chain::{BlockHeaderHash, ConsensusHash, StacksBlockId, StacksPublicKey};
use mock_node_common::{get, post_json, request};
use serde_json::json;
use stacks_signer::client::api::{
    AccountEntryResponse, BlockHeaderWithMetadata, CallReadOnlyResponse, GetSignerResponse,
    GetStackersResponse, NodeErrorResponse, RPCPeerInfoData, RPCPoxInfoData, SortitionInfo,
    StacksBlockHeaderTypes, StacksEpochId, TenureForkingInfo,
};
use stacks_signer::devnet::wire::decode_block;
use stacks_signer::devnet::{MockNode, MockNodeConfig, RunningMockNode, SignerSpec};

const SIGNER_0: &str = "02f695543271f71ca1acf5d4f1234f01fd3c899b5033530edb67a99062a6c6bf63";
const SIGNER_1: &str = "03bc489f27da3701d9f9e577c88de5567cf4023111b7577042d55cde4d823a3505";

fn spec_node() -> RunningMockNode {
    let config = MockNodeConfig {
        // Given in reverse order: the reward set must sort them by key.
        signers: vec![
            SignerSpec::external(StacksPublicKey::from_hex(SIGNER_1).unwrap(), 1066),
            SignerSpec::external(StacksPublicKey::from_hex(SIGNER_0).unwrap(), 1066),
        ],
        pox_ustx_threshold: 1_875_190_000_000,
        ..MockNodeConfig::default()
    };
    MockNode::start(config).unwrap()
}

#[test]
fn info_reports_the_burn_tip_and_the_canonical_stacks_tip() {
    let node = spec_node();
    let resp = get(node.addr(), "/v2/info");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    let info: RPCPeerInfoData = resp.parse();
    let tip = node.burn_tip();
    assert_eq!(info.burn_block_height, 344);
    assert_eq!(info.pox_consensus, tip.consensus_hash);
    assert_eq!(info.network_id, 0x8000_0000);
    let stacks_tip = node.stacks_tip().unwrap();
    assert_eq!(info.stacks_tip_height, 2);
    assert_eq!(info.stacks_tip, stacks_tip.block.header.block_hash());
    assert_eq!(info.stacks_tip_consensus_hash, stacks_tip.tenure());
    assert!(info
        .stackerdbs
        .unwrap()
        .contains(&"ST000000000000000000002AMW42H.signers-1-12".to_string()));
    // A body on a GET /v2/info is refused.
    assert_eq!(
        request(node.addr(), "GET", "/v2/info", &[], b"x").status,
        400
    );
}

#[test]
fn pox_reports_the_reward_cycle_position() {
    let node = spec_node();
    let pox: RPCPoxInfoData = get(node.addr(), "/v2/pox").parse();
    assert_eq!(pox.first_burnchain_block_height, 100);
    assert_eq!(pox.current_burnchain_block_height, 344);
    assert_eq!(pox.reward_cycle_id, 12);
    assert_eq!(pox.reward_cycle_length, 20);
    assert_eq!(pox.prepare_phase_block_length, 5);
    assert_eq!(pox.reward_phase_block_length, 15);
    assert_eq!(pox.next_reward_cycle_in, 16);
    assert_eq!(pox.next_cycle.reward_phase_start_block_height, 360);
    assert_eq!(pox.next_cycle.prepare_phase_start_block_height, 355);
    assert_eq!(pox.current_epoch, StacksEpochId::Epoch33);
    assert_eq!(pox.contract_id, "ST000000000000000000002AMW42H.pox-4");
}

#[test]
fn stacker_set_serves_computed_cycles_and_a_json_400_before() {
    let node = spec_node();
    let resp = get(node.addr(), "/v3/stacker_set/12");
    assert_eq!(resp.status, 200);
    let set: GetStackersResponse = resp.parse();
    let signers = set.stacker_set.signers.unwrap();
    assert_eq!(to_hex(&signers[0].signing_key), SIGNER_0);
    assert_eq!(to_hex(&signers[1].signing_key), SIGNER_1);
    assert_eq!(signers[0].weight, 1066);
    assert_eq!(signers[0].stacked_amt, 1066 * 1_875_190_000_000u128);
    // u128 amounts are bare JSON numbers.
    assert!(resp.text().contains("\"stacked_amt\":1998952540000000"));

    let resp = get(node.addr(), "/v3/stacker_set/13");
    assert_eq!(resp.status, 400);
    let err: NodeErrorResponse = resp.parse();
    assert_eq!(err.err_type, "not_available_try_again");
    assert!(err.err_msg.starts_with("Could not read reward set."));
    // Cycles before genesis have their configured set.
    let past: GetStackersResponse = get(node.addr(), "/v3/stacker_set/3").parse();
    assert_eq!(past.stacker_set.signers.unwrap().len(), 2);
    assert_eq!(get(node.addr(), "/v3/stacker_set/abc").status, 404);
    assert_eq!(get(node.addr(), "/v3/stacker_set/12345678901").status, 404);
}

#[test]
fn signers_read_only_calls_return_the_spec_encodings() {
    let node = spec_node();
    let base = "/v2/contracts/call-read/ST000000000000000000002AMW42H/signers";
    let sender = "ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ";
    let last: CallReadOnlyResponse = post_json(
        node.addr(),
        &format!("{base}/get-last-set-cycle"),
        &json!({"sender": sender, "arguments": []}),
    )
    .parse();
    assert!(last.okay);
    assert_eq!(
        last.result.as_deref(),
        Some("0x07010000000000000000000000000000000c")
    );
    let page: CallReadOnlyResponse = post_json(
        node.addr(),
        &format!("{base}/stackerdb-get-signer-slots-page"),
        &json!({"sender": sender, "arguments": ["0100000000000000000000000000000000"]}),
    )
    .parse();
    assert_eq!(
        page.result.unwrap(),
        concat!(
            "0x070b00000002",
            "0c00000002096e756d2d736c6f74730100000000000000000000000000000001067369676e6572051a52cb471c08e4c04c1830ec6705cf2bdfa9600c6a",
            "0c00000002096e756d2d736c6f74730100000000000000000000000000000001067369676e6572051adf6aa26bf8fd65d81f9414a8eb6fa5dba93305bd"
        )
    );
    let page2: CallReadOnlyResponse = post_json(
        node.addr(),
        &format!("{base}/stackerdb-get-signer-slots-page"),
        &json!({"sender": sender, "arguments": ["0x0100000000000000000000000000000002"]}),
    )
    .parse();
    assert_eq!(
        page2.result.as_deref(),
        Some("0x080100000000000000000000000000000001")
    );
    let other: CallReadOnlyResponse = post_json(
        node.addr(),
        "/v2/contracts/call-read/ST000000000000000000002AMW42H/pox-4/get-info",
        &json!({"sender": sender, "arguments": []}),
    )
    .parse();
    assert!(!other.okay);
    assert!(other.cause.unwrap().contains("NoSuchContract"));
    let no_type = request(
        node.addr(),
        "POST",
        &format!("{base}/get-last-set-cycle"),
        &[],
        br#"{"sender":"x","arguments":[]}"#,
    );
    assert_eq!(no_type.status, 400);
}

#[test]
fn sortitions_answer_every_key_with_all_optional_fields_present() {
    let node = spec_node();
    node.mine_burn_block(None).unwrap();
    let list: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/latest_and_last").parse();
    assert_eq!(list.len(), 2);
    assert!(list[0].was_sortition);
    assert_eq!(list[0].burn_block_height, 344);
    assert_eq!(list[0].last_sortition_ch, Some(list[1].consensus_hash));
    assert!(list[1].miner_pk_hash160.is_some() && list[1].stacks_parent_ch.is_some());

    let tip: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions").parse();
    assert_eq!(tip[0].burn_block_height, 345);
    assert!(!tip[0].was_sortition);
    assert_eq!(tip[0].last_sortition_ch, Some(list[0].consensus_hash));
    let raw = get(node.addr(), "/v3/sortitions").json();
    for key in [
        "miner_pk_hash160",
        "stacks_parent_ch",
        "committed_block_hash",
        "vrf_seed",
    ] {
        assert_eq!(
            raw[0][key],
            serde_json::Value::Null,
            "{key} must be present as null"
        );
    }
    assert!(raw[0]["consensus_hash"].as_str().unwrap().starts_with("0x"));

    let by_ch: Vec<SortitionInfo> = get(
        node.addr(),
        &format!("/v3/sortitions/consensus/{}", list[1].consensus_hash),
    )
    .parse();
    assert_eq!(by_ch[0], list[1]);
    let by_hash: Vec<SortitionInfo> = get(
        node.addr(),
        &format!("/v3/sortitions/burn/{}", list[0].burn_block_hash),
    )
    .parse();
    assert_eq!(by_hash[0], list[0]);
    let by_height: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/burn_height/343").parse();
    assert_eq!(by_height[0], list[1]);
    assert_eq!(
        get(
            node.addr(),
            &format!("/v3/sortitions/consensus/{}", "ab".repeat(20))
        )
        .status,
        404
    );
    assert_eq!(get(node.addr(), "/v3/sortitions/bogus/12").status, 400);
    assert_eq!(get(node.addr(), "/v3/sortitions/BAD").status, 404);
}

#[test]
fn tenure_tip_metadata_returns_the_real_stored_header() {
    let node = spec_node();
    let tip = node.stacks_tip().unwrap();
    let ch = tip.tenure();
    let meta: BlockHeaderWithMetadata =
        get(node.addr(), &format!("/v3/tenures/tip_metadata/{ch}")).parse();
    let StacksBlockHeaderTypes::Nakamoto(header) = meta.anchored_header else {
        panic!("expected a Nakamoto header");
    };
    assert_eq!(meta.burn_view, Some(ch));
    let rebuilt = *header;
    // The signer recomputes the id from the header: it must be the stored block's id.
    assert_eq!(StacksBlockId::new(&ch, &rebuilt.block_hash()), tip.id);
    assert_eq!(
        rebuilt.block_hash(),
        BlockHeaderHash(tip.block.header.signer_signature_hash().0)
    );

    let bare = get(node.addr(), &format!("/v3/tenures/tip/{ch}")).json();
    assert_eq!(bare["Nakamoto"]["chain_length"], 2);
    let missing = get(
        node.addr(),
        &format!("/v3/tenures/tip_metadata/{}", ConsensusHash([9; 20])),
    );
    assert_eq!(missing.status, 404);
    assert!(missing.text().starts_with("No blocks in tenure"));
}

#[test]
fn fork_info_walks_from_stop_back_to_start_through_winning_sortitions() {
    let node = spec_node();
    let genesis: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/latest_and_last").parse();
    let start = genesis[1].consensus_hash;
    node.mine_burn_block(None).unwrap();
    let stop = node.mine_burn_block(Some(0)).unwrap().consensus_hash;
    let list: Vec<TenureForkingInfo> = get(
        node.addr(),
        &format!("/v3/tenures/fork_info/{start}/{stop}"),
    )
    .parse();
    let heights: Vec<u64> = list.iter().map(|e| e.burn_block_height).collect();
    assert_eq!(heights, vec![346, 344, 343]);
    assert_eq!(list[0].consensus_hash, stop);
    assert_eq!(list[2].consensus_hash, start);
    // The new tenure has no blocks yet; the genesis tenures have one each.
    assert_eq!(list[0].first_block_mined, None);
    let blocks = list[1].nakamoto_blocks.clone().unwrap();
    assert_eq!(&blocks[..4], &[0, 0, 0, 1]);
    let block = decode_block(&blocks[4..]).unwrap();
    assert_eq!(Some(block.header.block_id()), list[1].first_block_mined);
    let raw = get(
        node.addr(),
        &format!("/v3/tenures/fork_info/{stop}/{start}"),
    );
    assert_eq!(raw.status, 400);
    assert_eq!(
        raw.json(),
        json!("Supplied start and end sortitions are not in the same sortition fork")
    );
    assert_eq!(
        get(
            node.addr(),
            &format!("/v3/tenures/fork_info/{start}/{}", "00".repeat(20))
        )
        .status,
        404
    );
}

#[test]
fn accounts_and_signer_stats_decode() {
    let node = spec_node();
    let acct: AccountEntryResponse = get(
        node.addr(),
        "/v2/accounts/ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ?proof=0",
    )
    .parse();
    assert_eq!(acct.balance_ustx(), Some(0));
    assert_eq!(acct.nonce, 0);
    let stats: GetSignerResponse = get(node.addr(), &format!("/v3/signer/{SIGNER_0}/12")).parse();
    assert_eq!(stats.blocks_signed, 0);
    assert_eq!(get(node.addr(), "/v3/signer/04abcd/12").status, 404);
}

#[test]
fn malformed_requests_get_errors_and_the_server_keeps_serving() {
    let node = spec_node();
    let cases: &[(&str, &str, &[u8])] = &[
        ("GET", "/v3/tenures/tip_metadata/zz", b""),
        (
            "GET",
            "/v3/sortitions/burn_height/99999999999999999999999",
            b"",
        ),
        (
            "POST",
            "/v2/stackerdb/ST000000000000000000002AMW42H/signers-0-1/chunks",
            b"{",
        ),
        ("POST", "/v3/block_proposal", b"\xff\xfe"),
        ("POST", "/v3/blocks/upload/", b"\x00\x01"),
        ("GET", "/v2/stackerdb/not-an-address/miners/0", b""),
        (
            "GET",
            "/v2/stackerdb/ST000000000000000000002AMW42H/miners/99999999999",
            b"",
        ),
        ("GET", "/%%%/../..", b""),
        ("DELETE", "/v2/info", b""),
    ];
    for (method, path, body) in cases {
        let resp = request(node.addr(), method, path, &[], body);
        assert!(
            resp.status >= 400,
            "{method} {path} answered {}",
            resp.status
        );
    }
    assert_eq!(get(node.addr(), "/v2/info").status, 200);
    assert!(hex_bytes("00").is_ok());
}
