//! The event endpoint trusts only what it can check (issue 14), against a running signer S0
//! and the mock node (world: baseline B of §8.1, see `v0_support`):
//! - a forged `/proposal_response` `Ok` from an address outside `event_allowed_sources` is
//!   refused with 403 and changes nothing; the same body from an allowed address is believed
//!   (so the tests show the check, not a broken endpoint);
//! - a `/new_block` naming a block without signer signatures that verify and reach 70% of
//!   the set's weight does not make the block globally accepted; the node's real event does.
//!
//! Clients bind `127.0.0.2` before connecting: on Linux all of `127.0.0.0/8` is loopback.

mod v0_scenario_steps;
mod v0_support;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{MessageSignature, Sha512Trunc256Sum, StacksPrivateKey};
use libsigner::v0::messages::ValidateRejectCode;
use libsigner::{BlockValidateOk, BlockValidateResponse, ExecutionCost};
use stacks_signer::devnet::{BlockKind, Proposal, ProposeOptions, ValidationAnswer};
use stacks_signer::signerdb::BlockState;
use stacks_signer::v0::unverified_block_events;
use v0_scenario_steps::{answer_ok, propose_held};
use v0_support::{puppet_key, s0_key, World, WorldConfig, WAIT};

/// S0 accepts events from 127.0.0.1 only (not the rest of loopback).
const ONLY_127_0_0_1: &str = r#"event_allowed_sources = ["127.0.0.1"]"#;

/// Sends `method path` with `body` from a socket bound to `source`; returns the status.
fn request_from(source: &str, to: SocketAddr, method: &str, path: &str, body: &[u8]) -> u16 {
    let source: IpAddr = source.parse().expect("an address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bound to the source address");
    socket
        .connect_timeout(&to.into(), Duration::from_secs(10))
        .expect("connected");
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).expect("timeout set");
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    stream.write_all(&raw).expect("sent");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("answered");
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"))
}

fn s0_endpoint(world: &World) -> SocketAddr {
    world.signer.as_ref().expect("S0 runs").local_addr()
}

fn refused_by_s0(world: &World) -> u64 {
    world
        .signer
        .as_ref()
        .expect("S0 runs")
        .refused_event_requests()
}

/// The node's `Ok` for `hash`, as anyone could write it.
fn forged_ok(hash: &Sha512Trunc256Sum) -> Vec<u8> {
    serde_json::to_vec(&BlockValidateResponse::Ok(BlockValidateOk {
        signer_signature_hash: *hash,
        cost: ExecutionCost::default(),
        size: 1,
        validation_time_ms: 1,
        replay_tx_hash: None,
        replay_tx_exhausted: false,
    }))
    .expect("serializes")
}

/// M2's tenure-start block B11, proposed with manual validation; returns once S0 asked the
/// node to validate it.
fn propose_b11(world: &World) -> Proposal {
    propose_held(
        world,
        ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        },
    )
    .proposal
}

fn world_allowing_only_127_0_0_1() -> World {
    World::baseline_with(WorldConfig {
        extra_config: ONLY_127_0_0_1.to_string(),
        ..WorldConfig::baseline()
    })
    .0
}

#[test]
fn a_forged_validation_ok_from_a_source_not_allowed_is_refused_and_the_nodes_answer_decides() {
    let world = world_allowing_only_127_0_0_1();
    let b11 = propose_b11(&world);
    let hash = b11.signer_signature_hash;
    let endpoint = s0_endpoint(&world);
    let status = request_from(
        "127.0.0.2",
        endpoint,
        "POST",
        "/proposal_response",
        &forged_ok(&hash),
    );
    assert_eq!(status, 403);
    assert_eq!(refused_by_s0(&world), 1);
    // `/status` stays open to every address.
    assert_eq!(
        request_from("127.0.0.2", endpoint, "GET", "/status", b""),
        200
    );
    world.settle();
    assert!(world.s0_votes(&hash).is_empty(), "S0 did not pre-commit");

    // The node's real answer decides.
    world
        .node
        .answer_validation(
            &hash,
            ValidationAnswer::Reject {
                code: ValidateRejectCode::BadTransaction,
                reason: "tx bad".to_string(),
            },
        )
        .expect("answered");
    world.wait_for("S0's rejection", |w| {
        (!w.s0_votes(&hash).is_empty()).then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["Rejected"]);
    assert_eq!(
        refused_by_s0(&world),
        1,
        "the node's events are all accepted"
    );
}

#[test]
fn the_same_forged_validation_ok_from_an_allowed_source_is_believed() {
    // The control: the endpoint works and the body is a valid `Ok`, so the test above shows
    // the source check.
    let world = world_allowing_only_127_0_0_1();
    let b11 = propose_b11(&world);
    let hash = b11.signer_signature_hash;
    let status = request_from(
        "127.0.0.1",
        s0_endpoint(&world),
        "POST",
        "/proposal_response",
        &forged_ok(&hash),
    );
    assert_eq!(status, 200);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    assert_eq!(refused_by_s0(&world), 0);
}

/// A `/new_block` for `proposal`'s block with `signatures` (the field left out if `None`).
fn new_block_body(proposal: &Proposal, signatures: Option<Vec<MessageSignature>>) -> Vec<u8> {
    let header = &proposal.block.header;
    let mut body = serde_json::json!({
        "block_hash": format!("0x{}", to_hex(&header.block_hash().0)),
        "block_height": header.chain_length,
        "index_block_hash": format!("0x{}", to_hex(&header.block_id().0)),
        "consensus_hash": format!("0x{}", to_hex(&header.consensus_hash.0)),
        "signer_signature_hash": format!("0x{}", to_hex(&proposal.signer_signature_hash.0)),
        "transactions": [],
    });
    if let Some(signatures) = signatures {
        body["signer_signature"] = signatures.iter().map(|s| s.to_hex()).collect();
    }
    serde_json::to_vec(&body).expect("serializes")
}

fn canonical_tip(world: &World) -> Option<Sha512Trunc256Sum> {
    world
        .status()
        .signer_canonical_tips
        .iter()
        .filter_map(|(_, tip)| tip.as_ref())
        .map(|tip| tip.signer_signature_hash())
        .next()
}

#[test]
fn new_block_events_without_enough_valid_signatures_do_not_make_a_block_globally_accepted() {
    // Default sources (loopback and the node): the forged events come from 127.0.0.1 and are
    // accepted by the endpoint; their signatures are what is checked.
    let (mut world, t1_block, _) = World::baseline();
    let b11 = propose_b11(&world);
    let hash = b11.signer_signature_hash;
    answer_ok(&world, &hash, 10);
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    let t1_hash = t1_block.header.signer_signature_hash();
    assert_eq!(canonical_tip(&world), Some(t1_hash));

    let sign = |key: &StacksPrivateKey, over: &Sha512Trunc256Sum| {
        key.sign(over.as_bytes()).expect("signed")
    };
    let other_hash = Sha512Trunc256Sum([0x5a; 32]);
    let stranger = StacksPrivateKey::from_seed(b"not a signer");
    let cases: [(&str, Option<Vec<MessageSignature>>); 4] = [
        ("no signer_signature", None),
        (
            "invalid signatures",
            Some(vec![
                MessageSignature([0xff; 65]),
                sign(&stranger, &hash),
                sign(&puppet_key(1), &other_hash),
                sign(&puppet_key(2), &other_hash),
                sign(&puppet_key(3), &other_hash),
                sign(&puppet_key(4), &other_hash),
            ]),
        ),
        (
            "too few (20 of 50, threshold 35)",
            Some(vec![sign(&s0_key(), &hash), sign(&puppet_key(1), &hash)]),
        ),
        (
            "one signer repeated",
            Some(vec![sign(&puppet_key(1), &hash); 4]),
        ),
    ];
    let before = unverified_block_events();
    for (what, signatures) in cases {
        let status = request_from(
            "127.0.0.1",
            s0_endpoint(&world),
            "POST",
            "/new_block",
            &new_block_body(&b11, signatures),
        );
        assert_eq!(status, 200, "{what}");
        assert_eq!(canonical_tip(&world), Some(t1_hash), "{what}");
    }
    // Counted per event (other tests of this binary may add theirs).
    assert!(unverified_block_events() >= before + 4);

    // The node's real event, once the puppets' signatures reach the threshold.
    for i in 1..=4 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
    }
    world
        .node
        .wait_for_block(&hash, WAIT)
        .expect("the block is signed and processed");
    world.wait_for_canonical_tip(&hash);
    let row = world.s0_block(&hash).expect("stored");
    assert_eq!(row.state, BlockState::GloballyAccepted);
}
