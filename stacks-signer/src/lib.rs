//! # stacks-signer
//!
//! The Stacks Nakamoto block signer daemon as a library: its configuration, command line and
//! (as they land) node client, database, run loop and v0 voting logic. The `stacks-signer`
//! binary is a thin wrapper over it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chainstate;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod devnet;
pub mod ha;
pub mod invariant;
pub mod logging;
pub mod monitor;
pub mod monitoring;
pub mod runloop;
pub mod signer;
pub mod signerdb;
pub mod spawned;
pub mod v0;

#[cfg(test)]
pub(crate) mod test_support;

pub use runloop::RunLoop;
pub use signer::{SignerContext, SignerResult, SignerTrait, StateInfo};
pub use spawned::SpawnedSigner;
