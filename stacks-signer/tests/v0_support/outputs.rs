//! Everything S0 sent from a point of a scenario on, in order: its chunks (votes, state-machine
//! updates, anything else), its validation requests and its uploads. Used by the §8.3 and §8.4
//! scenarios (`v0_scenarios_gates.rs`, `v0_scenarios_parents.rs`) to assert a row's outputs
//! exactly, including that nothing else was sent; and the wait that makes a setup block's late
//! validation answer land before such a point.

use libsigner::chain::{Sha512Trunc256Sum, StacksBlockId};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::devnet::{Activity, ActivityEntry};

use crate::v0_support::World;

/// One thing S0 sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// A `BlockPreCommit` chunk.
    PreCommit(Sha512Trunc256Sum),
    /// A `BlockResponse::Accepted` chunk.
    Accepted(Sha512Trunc256Sum),
    /// A `BlockResponse::Rejected` chunk.
    Rejected(Sha512Trunc256Sum),
    /// A `StateMachineUpdate` chunk.
    Update,
    /// Any other chunk (its kind).
    Chunk(String),
    /// A `POST /v3/block_proposal`.
    Validation(Sha512Trunc256Sum),
    /// A `POST /v3/blocks/upload`.
    Upload(StacksBlockId),
}

/// A point in a scenario's activity.
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// The point reached now (after everything the node recorded so far).
pub fn mark(world: &World) -> Mark {
    Mark(world.activity().len())
}

fn output_of(world: &World, entry: &ActivityEntry) -> Option<Out> {
    match &entry.activity {
        Activity::ChunkWrite {
            writer: Some(writer),
            data,
            accepted: true,
            contract,
            ..
        } if *writer == world.s0_writer && contract.starts_with("signers-") => {
            let message = SignerMessage::consensus_deserialize(&mut data.as_slice());
            Some(match message {
                Ok(SignerMessage::BlockPreCommit(h)) => Out::PreCommit(h),
                Ok(SignerMessage::BlockResponse(BlockResponse::Accepted(a))) => {
                    Out::Accepted(a.signer_signature_hash)
                }
                Ok(SignerMessage::BlockResponse(BlockResponse::Rejected(r))) => {
                    Out::Rejected(r.signer_signature_hash)
                }
                Ok(SignerMessage::StateMachineUpdate(_)) => Out::Update,
                Ok(other) => Out::Chunk(format!("{other:?}")),
                Err(e) => Out::Chunk(format!("undecodable: {e}")),
            })
        }
        Activity::ValidationRequested {
            signer_signature_hash: Some(h),
            ..
        } => Some(Out::Validation(*h)),
        Activity::BlockUploaded {
            block_id: Some(id), ..
        } => Some(Out::Upload(*id)),
        _ => None,
    }
}

/// Waits until the node answered S0's validation request for `hash` and S0 handled the
/// answer. Setup blocks that the puppets sign on autopilot reach the threshold without S0
/// (40 of 50), so the node may process them, and a scenario go on, before the validator's
/// answer to S0 came back: S0's vote on them would then land in the scenario.
pub fn settle_validation(world: &World, hash: &Sha512Trunc256Sum) {
    world.wait_for("the node's answer to S0's validation request", |w| {
        w.activity()
            .iter()
            .any(|entry| {
                matches!(&entry.activity, Activity::ValidationResult(response)
                    if response.signer_signature_hash() == hash)
            })
            .then_some(())
    });
    world.settle();
}

/// What S0 sent after `mark`, in order.
pub fn outputs_since(world: &World, mark: Mark) -> Vec<Out> {
    world
        .activity()
        .iter()
        .skip(mark.0)
        .filter_map(|entry| output_of(world, entry))
        .collect()
}
