//! The v0 signer messages: what signers and miners write to StackerDB.

pub use super::validate_reject_code::ValidateRejectCode;
