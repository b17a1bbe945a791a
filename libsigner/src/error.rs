//! The errors of the event receiver ([`EventError`]) and of StackerDB sessions ([`RPCError`]).

use std::io;

use crate::chain::QualifiedContractIdentifier;

/// A failed request to the node's RPC interface (see [`crate::StackerDBSession`]).
#[derive(Debug, thiserror::Error)]
pub enum RPCError {
    /// The connection failed or timed out.
    #[error("{0}")]
    IO(#[from] io::Error),
    /// The reply could not be decoded.
    #[error("{0}")]
    Deserialize(String),
    /// The session has no connection.
    #[error("Not connected")]
    NotConnected,
    /// The request could not be built.
    #[error("Malformed request: {0}")]
    MalformedRequest(String),
    /// The reply was not valid HTTP.
    #[error("Malformed response: {0}")]
    MalformedResponse(String),
    /// The node answered with this non-200 HTTP status.
    #[error("HTTP code {0}")]
    HttpError(u32),
}

/// A failure of the event receiver or of starting a signer.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// An I/O error (binding, accepting or reading a request).
    #[error("{0}")]
    IO(#[from] io::Error),
    /// An event body that could not be decoded.
    #[error("{0}")]
    Deserialize(String),
    /// A request that is not an event (wrong method, unreadable or oversized body).
    #[error("{0}")]
    MalformedRequest(String),
    /// The receiver was asked for events before [`crate::EventReceiver::bind`].
    #[error("Not bound to a port yet")]
    NotBound,
    /// The receiver has been stopped.
    #[error("Listener is terminated")]
    Terminated,
    /// The signer has already been spawned.
    #[error("Already running")]
    AlreadyRunning,
    /// A signer thread could not be started.
    #[error("Failed to start")]
    FailedToStart,
    /// A POST to a path that is not an event endpoint.
    #[error("Unrecognized event: {0}")]
    UnrecognizedEvent(String),
    /// A `/stackerdb_chunks` event from a contract that is neither `.miners` nor a
    /// `signers-X-Y` boot contract.
    #[error("Unrecognized StackerDB contract: {0}")]
    UnrecognizedStackerDBContract(QualifiedContractIdentifier),
    /// A chunks event without chunks (kept for API compatibility; never produced).
    #[error("Empty chunks event")]
    EmptyChunksEvent,
}
