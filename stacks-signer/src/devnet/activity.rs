//! What happened inside the node, as a stream other tools (the JSON-lines recorder, tests)
//! subscribe to: chunks written, validation requests and results, uploads, burn blocks,
//! proposals and processed blocks.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{SystemTime, UNIX_EPOCH};

use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, Hash160, Sha512Trunc256Sum, StacksBlockId,
};
use serde::Serialize;

use crate::client::api::BlockValidateResponse;

/// Who wrote a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkSource {
    /// Through `POST /v2/stackerdb/.../chunks`.
    Rpc,
    /// The node itself (its miner or its simulated signers).
    Internal,
    /// A test's `inject_chunks`: sent to observers as given, not stored in the replica.
    Injected,
}

/// One thing the node saw or did. Its JSON form is `{"<Kind>": {...}}` with hashes as hex
/// and chunk data as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Activity {
    /// A burn block was added.
    BurnBlock {
        /// Its height.
        height: u64,
        /// Its consensus hash.
        consensus_hash: ConsensusHash,
        /// The winning miner's index, if any.
        winner: Option<usize>,
    },
    /// The burn tip was moved to a block already known (`set_burn_tip`: a reorg) and
    /// `/new_burn_block` was sent for it.
    BurnTipSet {
        /// The new tip's height.
        height: u64,
        /// Its consensus hash.
        consensus_hash: ConsensusHash,
        /// Its burn header hash.
        burn_header_hash: BurnchainHeaderHash,
    },
    /// A reward set was computed.
    RewardSetComputed {
        /// The cycle.
        cycle: u64,
    },
    /// A chunk write was attempted.
    ChunkWrite {
        /// The contract name (`signers-1-1`, `miners`).
        contract: String,
        /// The slot.
        slot_id: u32,
        /// The version written.
        slot_version: u32,
        /// The recovered writer, if its signature recovers.
        writer: Option<Hash160>,
        /// The chunk.
        #[serde(with = "libsigner::chain::hex::serde_hex_vec")]
        data: Vec<u8>,
        /// Whether it was stored.
        accepted: bool,
        /// The rejection code, if refused.
        code: Option<u32>,
        /// Who wrote it.
        source: ChunkSource,
    },
    /// The simulated miner proposed a block.
    BlockProposed {
        /// The block's signer signature hash.
        signer_signature_hash: Sha512Trunc256Sum,
        /// Its height.
        height: u64,
        /// Its reward cycle.
        reward_cycle: u64,
    },
    /// `POST /v3/block_proposal` was answered.
    ValidationRequested {
        /// The block's signer signature hash, if the body decoded.
        signer_signature_hash: Option<Sha512Trunc256Sum>,
        /// The HTTP status sent.
        status: u16,
    },
    /// A validation finished and `/proposal_response` was sent.
    ValidationResult(BlockValidateResponse),
    /// `POST /v3/blocks/upload/` was answered.
    BlockUploaded {
        /// The block id, if the body decoded.
        block_id: Option<StacksBlockId>,
        /// The HTTP status sent.
        status: u16,
        /// The `accepted` field, for a 200.
        accepted: Option<bool>,
    },
    /// A block was appended to the chain and `/new_block` was sent.
    BlockProcessed {
        /// Its id.
        block_id: StacksBlockId,
        /// Its signer signature hash.
        signer_signature_hash: Sha512Trunc256Sum,
        /// Its height.
        height: u64,
        /// Signer weight of its signatures.
        signed_weight: u64,
        /// The weight needed.
        threshold_weight: u64,
    },
}

/// An [`Activity`] with the time it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityEntry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub activity: Activity,
}

/// Fan-out of activity entries to subscribers (dropped subscribers are forgotten).
#[derive(Debug, Default)]
pub struct ActivityLog {
    subscribers: Vec<Sender<ActivityEntry>>,
}

impl ActivityLog {
    /// A new subscription.
    pub fn subscribe(&mut self) -> Receiver<ActivityEntry> {
        let (tx, rx) = channel();
        self.subscribers.push(tx);
        rx
    }

    /// Sends `activity` to every subscriber.
    pub fn emit(&mut self, activity: Activity) {
        if self.subscribers.is_empty() {
            return;
        }
        let entry = ActivityEntry {
            at_ms: now_ms(),
            activity,
        };
        self.subscribers.retain(|s| s.send(entry.clone()).is_ok());
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_serialize_with_hex_fields() {
        let entry = ActivityEntry {
            at_ms: 5,
            activity: Activity::ChunkWrite {
                contract: "signers-0-1".into(),
                slot_id: 1,
                slot_version: 2,
                writer: Some(Hash160([0xab; 20])),
                data: vec![7, 8],
                accepted: true,
                code: None,
                source: ChunkSource::Rpc,
            },
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["activity"]["ChunkWrite"]["data"], "0708");
        assert_eq!(json["activity"]["ChunkWrite"]["writer"], "ab".repeat(20));
        assert_eq!(json["activity"]["ChunkWrite"]["source"], "rpc");
    }
}
