//! # libsigner
//!
//! The building blocks of a Stacks Nakamoto block signer, byte-compatible with the reference
//! implementation (stacks-core `signer-3.3.0.0.4.0`):
//!
//! - [`codec`]: the consensus codec ([`codec::StacksMessageCodec`]) and its length limits;
//! - [`chain`]: every Stacks primitive a signer touches (hashes, keys, addresses, Clarity
//!   values, transactions, Nakamoto blocks, SIP-018 structured data);
//! - [`stackerdb`]: StackerDB chunks, slot metadata and acks.
//!
//! Decoders never panic and never trust a length prefix for an allocation; they return
//! [`codec::Error`] on any malformed input.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
pub mod codec;
pub mod stackerdb;
