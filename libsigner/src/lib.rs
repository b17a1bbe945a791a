//! # libsigner
//!
//! The building blocks of a Stacks Nakamoto block signer, byte-compatible with the reference
//! implementation (stacks-core `signer-3.3.0.0.4.0`):
//!
//! - [`codec`]: the consensus codec ([`codec::StacksMessageCodec`]) and its length limits;
//! - [`chain`]: every Stacks primitive a signer touches (hashes, keys, addresses, Clarity
//!   values, transactions, Nakamoto blocks, SIP-018 structured data);
//! - [`stackerdb`]: StackerDB chunks, slot metadata and acks;
//! - [`v0`]: the v0 signer messages and the global state evaluator;
//! - the network layer, re-exported here: [`SignerEventReceiver`] (the HTTP endpoint the
//!   node POSTs events to, turning them into [`SignerEvent`]s), [`SignerRunLoop`] and
//!   [`Signer`] (a signer's logic and the threads running it), and [`StackerDBSession`]
//!   (reading and writing StackerDB chunks through the node's RPC interface). The example
//!   `examples/print_events.rs` puts them together.
//!
//! Decoders never panic and never trust a length prefix for an allocation; they return
//! [`codec::Error`] on any malformed input.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
pub mod codec;
mod error;
mod events;
mod node_agent;
mod runloop;
mod session;
mod signer_set;
pub mod stackerdb;
pub mod v0;
mod version;

pub use error::{EventError, RPCError};
pub use events::{
    parse_event, BlockValidateOk, BlockValidateReject, BlockValidateResponse, BurnBlockEvent,
    EventReceiver, EventStopSignaler, ExecutionCost, IpRange, IpRangeError, SignerEvent,
    SignerEventReceiver, SignerEventTrait, SignerStopSignaler, SourceFilter, StacksBlockEvent,
    EVENT_PATHS, MAX_EVENT_BODY_LEN, REFUSAL_LOG_INTERVAL, RERESOLVE_INTERVAL,
};
pub use node_agent::node_agent;
pub use runloop::{set_runloop_signal_handler, RunningSigner, Signer, SignerRunLoop};
pub use session::{SignerSession, StackerDBSession};
pub use signer_set::{NakamotoSignerEntry, ParseSignerEntriesError, SignerEntries};
pub use v0::messages::{BlockProposal, BlockProposalData};
pub use version::{version_string, STACKS_NODE_VERSION, STACKS_SIGNER_VERSION, VERSION_STRING};

use std::fmt::Debug;
use std::hash::Hash;

use crate::chain::QualifiedContractIdentifier;
use crate::codec::StacksMessageCodec;

/// A StackerDB message slot kind: which signer contract (`signers-{cycle % 2}-{id}`) a message
/// type is written to.
pub trait MessageSlotID: Sized + Eq + Hash + Debug + Copy {
    /// The StackerDB contract holding this slot kind for `reward_cycle`.
    fn stacker_db_contract(&self, mainnet: bool, reward_cycle: u64) -> QualifiedContractIdentifier;
    /// Every slot kind.
    fn all() -> &'static [Self];
}

/// A message that knows which StackerDB slot kind it is published to.
pub trait SignerMessage<T: MessageSlotID>: StacksMessageCodec {
    /// The slot kind, or `None` for messages signers do not publish (miner messages).
    fn msg_id(&self) -> Option<T>;
}
