//! The v0 signer protocol: its messages and the global state evaluator.

pub mod messages;
pub mod signer_state;
mod validate_reject_code;
