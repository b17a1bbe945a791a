//! Events a signer receives from its stacks-node's event dispatcher.
//!
//! The node POSTs JSON bodies to the signer's observer endpoints; [`SignerEventReceiver`]
//! acknowledges each one, decodes it ([`payloads`]) and turns it into a [`SignerEvent`].

mod http;
mod payloads;
mod receiver;
mod sources;
mod stop;

use std::fmt::Debug;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::chain::{
    BurnchainHeaderHash, ConsensusHash, MessageSignature, Sha512Trunc256Sum, StacksBlockId,
    StacksPublicKey, StacksTransaction,
};
use crate::codec::StacksMessageCodec;

pub use http::MAX_EVENT_BODY_LEN;
pub use payloads::{
    BlockValidateOk, BlockValidateReject, BlockValidateResponse, BurnBlockEvent, ExecutionCost,
    StacksBlockEvent,
};
pub use receiver::{parse_event, EventReceiver, SignerEventReceiver, EVENT_PATHS};
pub use sources::{IpRange, IpRangeError, SourceFilter, REFUSAL_LOG_INTERVAL, RERESOLVE_INTERVAL};
pub use stop::{EventStopSignaler, SignerStopSignaler};

/// A message type that can travel in StackerDB chunks events (blanket-implemented for every
/// codec type that is `Clone + Debug + Send`).
pub trait SignerEventTrait<T = Self>: StacksMessageCodec + Clone + Debug + Send {}

impl<T: StacksMessageCodec + Clone + Debug + Send> SignerEventTrait for T {}

/// An event delivered to a signer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignerEvent<T: SignerEventTrait> {
    /// Messages written by miners to the `.miners` StackerDB (signatures not checked).
    MinerMessages(Vec<T>),
    /// Messages written by signers to a `signers-{signer_set}-{message_id}` StackerDB.
    SignerMessages {
        /// The signer set (reward cycle parity) the contract belongs to.
        signer_set: u32,
        /// Each message with the public key recovered from its chunk's signature.
        messages: Vec<(StacksPublicKey, T)>,
        /// When the receiver got the event.
        received_time: SystemTime,
    },
    /// The node's verdict on a block proposal the signer submitted for validation.
    BlockValidationResponse(BlockValidateResponse),
    /// A `/status` probe.
    StatusCheck,
    /// A new burnchain block.
    NewBurnBlock {
        /// The burn block's height.
        burn_height: u64,
        /// The burn block's hash.
        burn_header_hash: BurnchainHeaderHash,
        /// The consensus hash of the sortition.
        consensus_hash: ConsensusHash,
        /// When the receiver got the event.
        received_time: SystemTime,
        /// The parent burn block's hash.
        parent_burn_block_hash: BurnchainHeaderHash,
    },
    /// A new Stacks block was processed.
    NewBlock {
        /// The block's index block hash.
        block_id: StacksBlockId,
        /// The consensus hash of the block's tenure.
        consensus_hash: ConsensusHash,
        /// The signer signature hash (Nakamoto blocks only).
        signer_sighash: Option<Sha512Trunc256Sum>,
        /// The block's height.
        block_height: u64,
        /// The block's transactions (burnchain operations left out).
        transactions: Vec<StacksTransaction>,
        /// The block's signer signatures as the node sent them (`signer_signature`), in
        /// reward-set order. **Not verified here**: anyone who can reach the endpoint can send
        /// this event, so check them against the reward set (for example, recovered over
        /// `signer_sighash`, weighed against [`crate::chain::signing_weight_threshold`])
        /// before treating the block as accepted by the signer set. Entries that are not 65
        /// hex-encoded bytes are left out; an absent or malformed list is empty (the
        /// reference ignores the field, so no body it accepts is refused for it).
        #[serde(default)]
        signer_signature: Vec<MessageSignature>,
    },
}
