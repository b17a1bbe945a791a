//! `StacksClient` against a scripted HTTP server, for what the mock node never does: malformed
//! or inconsistent answers (each must be an error, never a panic or a hang), and the exact
//! request shapes on the wire (headers, bodies, query strings).

mod scripted_server;

use std::time::{Duration, Instant};

use libsigner::chain::{ConsensusHash, StacksPrivateKey, StacksPublicKey, Value};
use libsigner::codec::StacksMessageCodec;
use scripted_server::Scripted;
use serde_json::{json, Value as Json};
use stacks_signer::client::ClientError;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ProposeOptions, SignerSpec};

/// Real JSON bodies from a mock node, to be altered.
fn mock_bodies() -> (Json, Json) {
    let node = MockNode::start(MockNodeConfig::default()).unwrap();
    let get = |path: &str| -> Json {
        let mut resp = ureq::get(&format!("http://{}{path}", node.node_host()))
            .call()
            .unwrap();
        serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
    };
    (get("/v2/pox"), get("/v3/sortitions/latest_and_last"))
}

#[test]
fn a_zero_reward_cycle_length_is_an_error_not_a_division_by_zero() {
    let (mut pox, _) = mock_bodies();
    pox["reward_phase_block_length"] = json!(0);
    pox["prepare_phase_block_length"] = json!(0);
    let body = pox.to_string();
    let server = Scripted::start(move |_, _, _| (200, body.clone()));
    let c = server.client("");
    assert!(c.get_pox_data().is_ok());
    assert!(matches!(
        c.get_current_reward_cycle_info(),
        Err(ClientError::InvalidResponse(_))
    ));
}

#[test]
fn inconsistent_sortition_lists_are_errors() {
    let (_, list) = mock_bodies();
    let cases: Vec<(Json, &str)> = vec![
        (json!([]), "Empty SortitionInfo returned"),
        (
            {
                let mut l = list.clone();
                l[0]["was_sortition"] = json!(false);
                l
            },
            "was not a winning sortition",
        ),
        (
            json!([list[0].clone()]),
            "has `last_sortition_ch` field, but corresponding data not returned",
        ),
    ];
    for (body, needle) in cases {
        let text = body.to_string();
        let server = Scripted::start(move |_, _, _| (200, text.clone()));
        let err = server
            .client("")
            .get_current_and_last_sortition()
            .unwrap_err();
        assert!(
            matches!(err, ClientError::UnexpectedResponseFormat(_)),
            "{err:?}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    // Without a last sortition, one element is enough.
    let mut only = list[0].clone();
    only["last_sortition_ch"] = Json::Null;
    let text = json!([only]).to_string();
    let server = Scripted::start(move |_, _, _| (200, text.clone()));
    let (_, last) = server.client("").get_current_and_last_sortition().unwrap();
    assert!(last.is_none());
}

fn fork_entry(ch: u8, height: u64) -> Json {
    json!({
        "burn_block_hash": format!("0x{}", "11".repeat(32)),
        "burn_block_height": height,
        "sortition_id": format!("0x{}", "22".repeat(32)),
        "parent_sortition_id": format!("0x{}", "33".repeat(32)),
        "consensus_hash": format!("0x{}", format!("{ch:02x}").repeat(20)),
        "was_sortition": true,
        "first_block_mined": null,
        "nakamoto_blocks": null,
    })
}

#[test]
fn fork_info_that_stops_short_or_walks_in_circles_is_an_error() {
    let start = ConsensusHash([0x01; 20]);
    let stop = ConsensusHash([0x05; 20]);
    // Second call answers only the repeated tenure: cannot get back to start.
    let short = Scripted::start(|_, url, _| {
        let body = if url.ends_with(&"05".repeat(20)) {
            json!([fork_entry(5, 50), fork_entry(4, 40)])
        } else {
            json!([fork_entry(4, 40)])
        };
        (200, body.to_string())
    });
    let err = short
        .client("")
        .get_tenure_forking_info(&start, &stop)
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidResponse(_)), "{err:?}");
    assert!(err
        .to_string()
        .contains("Could not fetch forking info all the way back"));

    // A node that keeps answering with a cycle: an error, not an endless loop.
    let circle = Scripted::start(|_, url, _| {
        let body = if url.ends_with(&"05".repeat(20)) {
            json!([fork_entry(5, 50), fork_entry(4, 40)])
        } else {
            json!([fork_entry(4, 40), fork_entry(5, 50), fork_entry(4, 40)])
        };
        (200, body.to_string())
    });
    let t = Instant::now();
    assert!(matches!(
        circle.client("").get_tenure_forking_info(&start, &stop),
        Err(ClientError::InvalidResponse(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(2));

    // Empty first answer: empty result.
    let empty = Scripted::start(|_, _, _| (200, "[]".into()));
    assert!(empty
        .client("")
        .get_tenure_forking_info(&start, &stop)
        .unwrap()
        .is_empty());

    // Two steps: the duplicate is dropped.
    let two = Scripted::start(|_, url, _| {
        let body = if url.ends_with(&"05".repeat(20)) {
            json!([fork_entry(5, 50), fork_entry(4, 40)])
        } else {
            json!([fork_entry(4, 40), fork_entry(2, 20), fork_entry(1, 10)])
        };
        (200, body.to_string())
    });
    let list = two
        .client("")
        .get_tenure_forking_info(&start, &stop)
        .unwrap();
    let heights: Vec<u64> = list.iter().map(|e| e.burn_block_height).collect();
    assert_eq!(heights, vec![50, 40, 20, 10]);
    let urls: Vec<String> = two.seen().into_iter().map(|s| s.url).collect();
    assert_eq!(
        urls,
        vec![
            format!("/v3/tenures/fork_info/{start}/{stop}"),
            format!("/v3/tenures/fork_info/{start}/{}", "04".repeat(20)),
        ]
    );
}

#[test]
fn malformed_bodies_are_errors_and_are_not_retried() {
    let server = Scripted::start(|_, url, _| {
        if url.starts_with("/v3/stacker_set") {
            (400, "not json".into())
        } else if url.starts_with("/v2/contracts") {
            (200, json!({"okay": true, "result": "0xzz"}).to_string())
        } else {
            (200, "{\"truncated\":".into())
        }
    });
    let c = server.client("");
    let t = Instant::now();
    assert!(matches!(c.get_peer_info(), Err(ClientError::HttpError(_))));
    assert!(matches!(
        c.get_reward_set_signers(1),
        Err(ClientError::HttpError(_))
    ));
    assert!(matches!(
        c.get_last_set_cycle(),
        Err(ClientError::MalformedClarityValue(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(server.seen().len(), 3, "one request each");
}

#[test]
fn a_contract_principal_among_the_signers_is_an_error_on_the_wire_too() {
    let page = concat!(
        "0x070b00000001",
        "0c00000002096e756d2d736c6f747301000000000000000000000000000000010673",
        "69676e6572061a52cb471c08e4c04c1830ec6705cf2bdfa9600c6a0568656c6c6f"
    );
    let server =
        Scripted::start(move |_, _, _| (200, json!({"okay": true, "result": page}).to_string()));
    assert!(matches!(
        server.client("").get_parsed_signer_slots(12),
        Err(ClientError::MalformedContractData(_))
    ));
    // A non-`ok` answer to get-last-set-cycle.
    let err = Scripted::start(|_, _, _| {
        (
            200,
            json!({"okay": true, "result": "0x080100000000000000000000000000000001"}).to_string(),
        )
    });
    assert!(matches!(
        err.client("").get_last_set_cycle(),
        Err(ClientError::ClarityError(_))
    ));
}

#[test]
fn requests_have_the_references_shapes() {
    let server = Scripted::start(|_, url, _| {
        if url.starts_with("/v3/blocks/upload") {
            (
                200,
                json!({"stacks_block_id": "00".repeat(32), "accepted": false}).to_string(),
            )
        } else if url.starts_with("/v3/block_proposal") {
            (
                202,
                json!({"result": "Accepted", "message": "ok"}).to_string(),
            )
        } else {
            (
                200,
                json!({"okay": true, "result": "0x0701000000000000000000000000000000ff"})
                    .to_string(),
            )
        }
    });
    let c = server.client("my secret");
    // A real block from a mock node.
    let key = StacksPrivateKey::from_seed(b"shape signer");
    let node = MockNode::start(MockNodeConfig {
        signers: vec![SignerSpec::external(StacksPublicKey::from_private(&key), 1)],
        ..MockNodeConfig::default()
    })
    .unwrap();
    node.mine_burn_block(Some(0)).unwrap();
    let block = node
        .propose_block(&ProposeOptions::default())
        .unwrap()
        .block;

    c.submit_block_for_validation(block.clone(), None).unwrap();
    assert!(!c.post_block(&block).unwrap());
    let contract =
        libsigner::chain::QualifiedContractIdentifier::boot_contract("signers", false).unwrap();
    let v = c
        .read_only_contract_call(
            &contract.issuer_address(),
            "signers",
            "some-fn",
            &[Value::UInt(3), Value::Bool(true)],
        )
        .unwrap();
    assert_eq!(
        v,
        Value::Response(libsigner::chain::ResponseData {
            committed: true,
            data: Box::new(Value::UInt(255))
        })
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let proposal = &seen[0];
    assert_eq!(proposal.method, "POST");
    assert_eq!(proposal.url, "/v3/block_proposal");
    assert_eq!(proposal.header("Authorization"), Some("my secret"));
    assert_eq!(proposal.header("Content-Type"), Some("application/json"));
    let body: Json = serde_json::from_slice(&proposal.body).unwrap();
    assert_eq!(
        body,
        json!({
            "block": libsigner::chain::hex::to_hex(&block.serialize_to_vec()),
            "chain_id": 0x8000_0000u32,
            "replay_txs": null,
        })
    );
    assert!(String::from_utf8_lossy(&proposal.body).starts_with("{\"block\":"));

    let upload = &seen[1];
    assert_eq!(upload.url, "/v3/blocks/upload/?broadcast=1");
    assert_eq!(upload.header("Authorization"), Some("my secret"));
    assert_eq!(
        upload.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(upload.body, block.serialize_to_vec());

    let call = &seen[2];
    assert_eq!(
        call.url,
        format!(
            "/v2/contracts/call-read/{}/signers/some-fn",
            contract.issuer_address()
        )
    );
    assert_eq!(call.header("Content-Type"), Some("application/json"));
    assert_eq!(call.header("Authorization"), None);
    assert_eq!(
        String::from_utf8(call.body.clone()).unwrap(),
        format!(
            "{{\"arguments\":[\"0100000000000000000000000000000003\",\"03\"],\"sender\":\"{}\"}}",
            c.get_signer_address()
        )
    );
}
