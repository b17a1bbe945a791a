//! The node client's errors, with the reference's `ClientError` Display texts.

use libsigner::chain::KeyError;
use libsigner::codec::Error as CodecError;
use libsigner::RPCError;

use crate::signerdb::SignerDbError;

/// What can go wrong talking to the Stacks node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with a body of an unexpected shape.
    #[error("Unexpected response format: {0}")]
    UnexpectedResponseFormat(String),
    /// A StackerDB message could not be serialized.
    #[error("Unable to serialize stacker-db message: {0}")]
    StackerDBSerializationError(CodecError),
    /// A StackerDB chunk could not be signed.
    #[error("Failed to sign stacker-db chunk: {0}")]
    FailToSign(KeyError),
    /// The signer database failed.
    #[error("SignerDB database error: {0}")]
    SignerDBError(#[from] SignerDbError),
    /// The node rejected a StackerDB chunk.
    #[error("Stacker-db rejected the chunk. Reason: {0}")]
    PutChunkRejected(String),
    /// A read-only contract call failed.
    #[error("Failed to call read only function. {0}")]
    ReadOnlyFailure(String),
    /// A transport or body-decoding error (the reference's `ReqwestError`).
    #[error("{0}")]
    HttpError(String),
    /// A transaction could not be built.
    #[error("Failed to generate transaction from a transaction signer: {0}")]
    TransactionGenerationFailure(String),
    /// The node answered with a non-success status code.
    #[error("Stacks node client request failed: {}", status_text(*.0))]
    RequestFailure(u16),
    /// A Clarity value could not be serialized.
    #[error("Failed to serialize Clarity value: {0}")]
    ClaritySerializationError(CodecError),
    /// A Clarity value had an unexpected type or could not be decoded.
    #[error("Received a malformed clarity value: {0}")]
    MalformedClarityValue(String),
    /// The retry budget ran out.
    #[error("Backoff retry timeout occurred. Stacks node may be down.")]
    RetryTimeout,
    /// Not connected to the node.
    #[error("Not connected")]
    NotConnected,
    /// A Clarity value did not have the expected type.
    #[error("Clarity interpreter error: {0}")]
    ClarityError(String),
    /// A contract's data was malformed.
    #[error("Malformed contract data: {0}")]
    MalformedContractData(String),
    /// The node lacks a feature the signer needs.
    #[error("Stacks node does not support a required feature: {0}")]
    UnsupportedStacksFeature(String),
    /// The node's answer was well formed but not valid.
    #[error("Invalid response from the stacks node: {0}")]
    InvalidResponse(String),
    /// Sortition info did not make sense.
    #[error("A successful sortition's info response should be parseable into a SortitionState")]
    UnexpectedSortitionInfo,
    /// A libsigner RPC error.
    #[error("A libsigner RPC error occurred: {0}")]
    RPCError(#[from] RPCError),
    /// A message that has no slot in the signer StackerDB contracts (a miner message) was
    /// given to send. Same text as the reference, which reports it as `PutChunkRejected`.
    #[error(
        "Stacker-db rejected the chunk. Reason: Tried to send a SignerMessage which does not \
         have a corresponding .signers slot identifier"
    )]
    MessageHasNoSlot,
    /// This process is a standby of an active/standby pair ([`crate::ha`]): another instance
    /// holds the signing lease and publishes; this one sends nothing.
    #[error("not publishing: this instance is a standby (the signing lease is held by {holder})")]
    Standby {
        /// The lease holder, or what is known of it.
        holder: String,
    },
    /// There is no StackerDB session for this message slot kind.
    #[error("No stacker-db session for message slot {0}")]
    NoStackerDBSession(String),
    /// The node kept rejecting a chunk (version conflicts, or rejections without a code) and
    /// the client gave up.
    #[error(
        "Stacker-db rejected the chunk {attempts} times (slot {slot_id}, last version \
         {slot_version}); giving up. Reason: {reason}"
    )]
    PutChunkGaveUp {
        /// The slot written.
        slot_id: u32,
        /// The version of the last attempt.
        slot_version: u32,
        /// How many rejections of that kind were received.
        attempts: u32,
        /// The node's reason for the last one.
        reason: String,
    },
    /// A chunk is over the signer contracts' size limit; nothing was sent.
    #[error("Stacker-db chunk of {size} bytes exceeds the {limit}-byte limit")]
    ChunkTooLarge {
        /// The chunk's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The shared signer database's lock is poisoned (a thread panicked holding it).
    #[error("SignerDB database error: the shared database lock is poisoned")]
    SignerDbPoisoned,
}

/// `"{code} {reason}"` as the reference's `reqwest::StatusCode` prints it.
fn status_text(code: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("<unknown status code>");
    format!("{code} {reason}")
}

impl From<ureq::Error> for ClientError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::StatusCode(code) => ClientError::RequestFailure(code),
            other => ClientError::HttpError(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        ClientError::HttpError(format!("error decoding response body: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_are_the_references() {
        let cases: Vec<(ClientError, &str)> = vec![
            (
                ClientError::UnexpectedResponseFormat("x".into()),
                "Unexpected response format: x",
            ),
            (
                ClientError::PutChunkRejected("r".into()),
                "Stacker-db rejected the chunk. Reason: r",
            ),
            (
                ClientError::ReadOnlyFailure("f: c".into()),
                "Failed to call read only function. f: c",
            ),
            (ClientError::HttpError("boom".into()), "boom"),
            (
                ClientError::RequestFailure(400),
                "Stacks node client request failed: 400 Bad Request",
            ),
            (
                ClientError::RequestFailure(202),
                "Stacks node client request failed: 202 Accepted",
            ),
            (
                ClientError::RequestFailure(599),
                "Stacks node client request failed: 599 <unknown status code>",
            ),
            (
                ClientError::MalformedClarityValue("v".into()),
                "Received a malformed clarity value: v",
            ),
            (
                ClientError::RetryTimeout,
                "Backoff retry timeout occurred. Stacks node may be down.",
            ),
            (ClientError::NotConnected, "Not connected"),
            (
                ClientError::ClarityError("e".into()),
                "Clarity interpreter error: e",
            ),
            (
                ClientError::MalformedContractData("d".into()),
                "Malformed contract data: d",
            ),
            (
                ClientError::UnsupportedStacksFeature("s".into()),
                "Stacks node does not support a required feature: s",
            ),
            (
                ClientError::InvalidResponse("i".into()),
                "Invalid response from the stacks node: i",
            ),
            (
                ClientError::UnexpectedSortitionInfo,
                "A successful sortition's info response should be parseable into a SortitionState",
            ),
            (
                ClientError::TransactionGenerationFailure("t".into()),
                "Failed to generate transaction from a transaction signer: t",
            ),
            (
                ClientError::MessageHasNoSlot,
                "Stacker-db rejected the chunk. Reason: Tried to send a SignerMessage which does \
                 not have a corresponding .signers slot identifier",
            ),
            (
                ClientError::PutChunkGaveUp {
                    slot_id: 3,
                    slot_version: 9,
                    attempts: 8,
                    reason: "x".into(),
                },
                "Stacker-db rejected the chunk 8 times (slot 3, last version 9); giving up. \
                 Reason: x",
            ),
            (
                ClientError::ChunkTooLarge { size: 5, limit: 4 },
                "Stacker-db chunk of 5 bytes exceeds the 4-byte limit",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }
}
