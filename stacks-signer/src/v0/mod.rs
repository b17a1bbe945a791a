//! The v0 signer: the voting logic of the reference signer's `v0` module.

pub mod signer_state;
