//! Nothing a client sends makes the mock node panic: its decoders return errors on arbitrary
//! bytes, its own encodings round-trip, and its HTTP routes keep answering after garbage.

mod mock_node_common;

use libsigner::chain::hex::to_hex;
use libsigner::codec::StacksMessageCodec;
use mock_node_common::{get, request};
use proptest::prelude::*;
use stacks_signer::devnet::wire::{decode_block, messages};
use stacks_signer::devnet::{MockNode, MockNodeConfig};

proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = messages::decode(&bytes);
        let _ = decode_block(&bytes);
    }

    #[test]
    fn truncated_mock_blocks_are_errors(cut in 0usize..400) {
        let node_block = {
            let state = stacks_signer::devnet::NodeState::new(MockNodeConfig::with_simulated_signers(1)).unwrap();
            state.stacks.tip().unwrap().block.clone()
        };
        let bytes = node_block.serialize_to_vec();
        prop_assert_eq!(decode_block(&bytes).unwrap(), node_block);
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(decode_block(&bytes[..cut]).is_err());
    }
}

#[test]
fn routes_answer_garbage_with_errors_and_keep_serving() {
    let node = MockNode::start(MockNodeConfig::with_simulated_signers(1)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 64,
        ..Default::default()
    });
    let paths = [
        "/v3/block_proposal",
        "/v3/blocks/upload/?broadcast=1",
        "/v2/stackerdb/ST000000000000000000002AMW42H/signers-0-1/chunks",
        "/v2/stackerdb/ST000000000000000000002AMW42H/miners/chunks",
        "/v2/contracts/call-read/ST000000000000000000002AMW42H/signers/stackerdb-get-signer-slots-page",
    ];
    runner
        .run(
            &(0usize..paths.len(), proptest::collection::vec(any::<u8>(), 1..300)),
            |(i, body)| {
                let json_like = format!(
                    "{{\"block\":\"{}\",\"chain_id\":1,\"slot_id\":0,\"slot_version\":1,\"sig\":\"{}\",\"data\":\"{}\",\"sender\":\"x\",\"arguments\":[\"{}\"]}}",
                    to_hex(&body),
                    to_hex(&body),
                    to_hex(&body),
                    to_hex(&body)
                );
                for payload in [body.as_slice(), json_like.as_bytes()] {
                    for ctype in ["application/json", "application/octet-stream"] {
                        let resp = request(
                            node.addr(),
                            "POST",
                            paths[i],
                            &[("Content-Type", ctype), ("Authorization", "12345")],
                            payload,
                        );
                        prop_assert!(resp.status >= 200 && resp.status < 600);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(get(node.addr(), "/v2/info").status, 200);
}
