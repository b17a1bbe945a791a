//! v0-logic §8.9, mock signing and dry run (#46, #47), run through the mock node against a
//! real v0 signer: a MockSignature in slot 1 in epoch 2.5 only, and a dry-run signer outside
//! the reward set that validates, "signs" into its log and uploads, but writes no chunk.

mod v0_support;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use libsigner::chain::hex::hex_bytes;
use libsigner::chain::{Sha512Trunc256Sum, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::client::api::StacksEpochId;
use stacks_signer::devnet::{Activity, BlockKind};
use stacks_signer::logging::{logger_to, LogSettings};
use v0_support::{s0_key, World, WorldConfig};

/// S0's chunk writes as the node recorded them, stored ones only unless `refused_too`:
/// (contract, slot, message).
fn s0_chunks(world: &World, refused_too: bool) -> Vec<(String, u32, SignerMessage)> {
    world
        .activity()
        .into_iter()
        .filter_map(|entry| match entry.activity {
            Activity::ChunkWrite {
                contract,
                slot_id,
                writer: Some(writer),
                data,
                accepted,
                ..
            } if writer == world.s0_writer && (accepted || refused_too) => {
                let message = SignerMessage::consensus_deserialize(&mut data.as_slice()).ok()?;
                Some((contract, slot_id, message))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn in_epoch_2_5_a_mock_proposal_is_mock_signed_in_the_block_response_slot() {
    // #46: `/v2/pox` says Epoch25; the miner's MockProposal gets S0's MockSignature in
    // `signers-{p}-1`, S0's slot, verifiable against S0's key.
    let world = World::start(&WorldConfig::baseline());
    world
        .node
        .set_pox_epoch_override(Some(StacksEpochId::Epoch25));
    let before = s0_chunks(&world, false).len();
    let proposal = world.node.propose_mock(None).expect("a mock proposal");
    world.settle();
    let written = s0_chunks(&world, false).split_off(before);
    assert_eq!(written.len(), 1, "one chunk: {written:#?}");
    let (contract, slot, message) = &written[0];
    assert_eq!(*contract, format!("signers-{}-1", world.cycle % 2));
    assert_eq!(Some(*slot), world.s0_id);
    let SignerMessage::MockSignature(signature) = message else {
        panic!("not a mock signature: {message:?}");
    };
    assert_eq!(signature.mock_proposal, proposal);
    assert_eq!(
        signature.verify(&StacksPublicKey::from_private(&s0_key())),
        Ok(true)
    );
}

#[test]
fn outside_epoch_2_5_a_mock_proposal_gets_nothing() {
    // #46: with Epoch30 (and the node's own epoch 3.3) S0 writes nothing.
    let world = World::start(&WorldConfig::baseline());
    let before = s0_chunks(&world, false).len();
    world
        .node
        .set_pox_epoch_override(Some(StacksEpochId::Epoch30));
    world.node.propose_mock(None).expect("a mock proposal");
    world.settle();
    world.node.set_pox_epoch_override(None);
    world.node.propose_mock(None).expect("a mock proposal");
    world.settle();
    assert_eq!(s0_chunks(&world, false).split_off(before), []);
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The messages a dry-run signer logged instead of writing them, oldest first.
    fn dry_run_messages(&self) -> Vec<SignerMessage> {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        text.lines()
            .filter(|line| line.contains("Dry-run signer would have sent a stackerdb message"))
            .map(|line| {
                let hex = line
                    .split("message_bytes: ")
                    .nth(1)
                    .and_then(|rest| rest.split(',').next())
                    .expect("the line carries the bytes");
                let bytes = hex_bytes(hex.trim()).expect("hex");
                SignerMessage::consensus_deserialize(&mut bytes.as_slice())
                    .expect("the logged bytes are a signer message")
            })
            .collect()
    }

    /// The dry-run votes about `hash`: `"PreCommit"`, `"Accepted"`, `"Rejected"`.
    fn dry_run_votes(&self, hash: &Sha512Trunc256Sum) -> Vec<&'static str> {
        self.dry_run_messages()
            .iter()
            .filter_map(|message| match message {
                SignerMessage::BlockPreCommit(h) if h == hash => Some("PreCommit"),
                SignerMessage::BlockResponse(BlockResponse::Accepted(a))
                    if a.signer_signature_hash == *hash =>
                {
                    Some("Accepted")
                }
                SignerMessage::BlockResponse(BlockResponse::Rejected(r))
                    if r.signer_signature_hash == *hash =>
                {
                    Some("Rejected")
                }
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_dry_run_signer_validates_signs_into_its_log_and_uploads_but_writes_no_chunk() {
    // #47 (with v0-logic §11.9): S0 outside the reward set, P1…P4 weight 10 (total 40,
    // threshold 28). The proposal is validated; S0's pre-commit is logged (weight 0); at P3's
    // signature (30 >= 28) S0 logs its BlockAccepted and uploads the block once. The node
    // never sees a StackerDB write from S0.
    let capture = Captured::default();
    let logger = logger_to(
        LogSettings {
            json: false,
            level: slog::Level::Info,
        },
        capture.clone(),
    );
    let (world, _, _) = World::baseline_logged(
        WorldConfig {
            dry_run: true,
            ..WorldConfig::baseline()
        },
        Some(logger),
    );
    let s0_public = StacksPublicKey::from_private(&s0_key());
    assert_eq!(world.s0_id, None);
    assert_eq!(world.node.signer_index(&s0_public), None, "not in the set");
    assert_eq!(world.puppets.len(), 4);
    world.node.set_miner_broadcasts(false);
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    world.wait_for("S0's logged pre-commit", |_| {
        (capture.dry_run_votes(&hash) == ["PreCommit"]).then_some(())
    });
    world.settle();
    assert_eq!(world.validation_requests(&hash), 1);
    for i in 1..=2 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
        world.settle();
        assert_eq!(
            capture.dry_run_votes(&hash),
            ["PreCommit"],
            "after P{i}'s signature"
        );
        assert_eq!(world.uploads(&proposal.block), 0, "after P{i}'s signature");
    }
    world
        .node
        .puppet_accept(world.p(3), &hash)
        .expect("written");
    world.settle();
    assert_eq!(capture.dry_run_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(world.uploads(&proposal.block), 1);
    let signature = capture
        .dry_run_messages()
        .into_iter()
        .find_map(|message| match message {
            SignerMessage::BlockResponse(BlockResponse::Accepted(a))
                if a.signer_signature_hash == hash =>
            {
                Some(a)
            }
            _ => None,
        })
        .expect("the logged acceptance");
    assert_eq!(
        StacksPublicKey::recover_to_pubkey(hash.as_bytes(), &signature.signature).ok(),
        Some(s0_public),
        "S0's own signature, logged"
    );
    // The uploaded block carries the puppets' signatures only (S0 is not a signer).
    let stored = world
        .node
        .block(&proposal.block.block_id())
        .expect("the upload was processed");
    assert_eq!(stored.block.header.signer_signature.len(), 3);
    // State-machine updates went to the log as well…
    assert!(capture
        .dry_run_messages()
        .iter()
        .any(|m| matches!(m, SignerMessage::StateMachineUpdate(_))));
    // …and not one chunk reached the node, since S0 started.
    assert_eq!(s0_chunks(&world, true), []);
    assert_eq!(world.node.request_count(Some("POST"), "/v2/stackerdb"), 0);
}
