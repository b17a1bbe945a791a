//! The signer's StackerDB client: publishes this signer's messages (block responses, state
//! machine updates, pre-commits) to its slot in the `.signers` StackerDB contracts
//! (`signers-{reward_cycle % 2}-{message slot id}`), and reads the latest messages of a set of
//! slots.
//!
//! # Slot versions
//! The node stores a chunk only if its version is above the slot's current one. The last
//! version this signer wrote is kept in the signer database (`stackerdb_tracking`), so a
//! restarted signer carries on above it. The database is the process's shared handle
//! ([`SharedSignerDb`]): the client never opens its own, and never holds the lock during a
//! network call.
//!
//! # Rejections
//! * transport errors (node down, HTTP errors) are retried with the reference's backoff
//!   ([`retry_with_exponential_backoff`], about 5 s), then returned;
//! * `DataAlreadyExists` (code 0): the node's version (from the ack's metadata, else the
//!   attempted one) is recorded and the next version is tried, at most
//!   [`MAX_VERSION_CONFLICTS`] times;
//! * any other code: [`ClientError::PutChunkRejected`] with the node's reason, no retry;
//! * a rejection without a code: retried with the same version, at most
//!   [`MAX_UNCODED_REJECTIONS`] times (the reference retries forever).

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use libsigner::chain::hex::to_hex;
use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use libsigner::codec::{read_next, StacksMessageCodec};
use libsigner::stackerdb::{
    StackerDBChunkAckData, StackerDBChunkData, StackerDBErrorCodes, SIGNERS_STACKERDB_CHUNK_SIZE,
};
use libsigner::{MessageSlotID, RPCError, SignerSession, StackerDBSession};
use slog::{debug, info, o, warn, Logger};

use crate::client::health::NodeHealth;
use crate::client::{retry_with_exponential_backoff, ClientError, RetryError, SignerSlotID};
use crate::config::{SignerConfig, SignerConfigMode};
use crate::monitoring::actions::{
    increment_stackerdb_write_give_up as give_up, increment_stackerdb_write_retry as retried,
    StackerDbWriteIssue,
};
use crate::signerdb::{SharedSignerDb, SignerDb};

/// How many `DataAlreadyExists` rejections one send accepts (each moves to the node's
/// version + 1) before giving up with [`ClientError::PutChunkGaveUp`].
///
/// A signer's first write to a fresh slot always costs one (fresh slots are at version 0).
pub const MAX_VERSION_CONFLICTS: u32 = 8;

/// How many rejections without a code one send accepts before giving up with
/// [`ClientError::PutChunkGaveUp`].
pub const MAX_UNCODED_REJECTIONS: u32 = 3;

/// The StackerDB client of one signer instance (one reward cycle), generic over the kind of
/// message slot (`M`); v0 signers use [`libsigner::v0::messages::MessageSlotID`].
#[derive(Debug)]
pub struct StackerDB<M: MessageSlotID> {
    /// One session per message slot kind, each with its `signers-{rc%2}-{id}` contract.
    sessions: HashMap<M, StackerDBSession>,
    /// The key chunks are signed with.
    stacks_private_key: StacksPrivateKey,
    /// Dry run (nothing is written) or the slot this signer writes.
    mode: SignerConfigMode,
    /// The reward cycle the contracts were chosen for.
    reward_cycle: u64,
    /// The process's signer database, for the slot versions.
    signer_db: SharedSignerDb,
    /// Where sends, conflicts and rejections are logged.
    logger: Logger,
    /// The node's health, shared with the node's other clients (see [`super::health`]).
    health: Arc<NodeHealth>,
}

/// The latest messages read from a set of slots.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestMessages<T> {
    /// `(slot id, message)` for each slot whose latest chunk decoded, in the order asked.
    pub messages: Vec<(u32, T)>,
    /// The slots whose latest chunk is non-empty but did not decode.
    pub undecodable: Vec<u32>,
}

impl<M: MessageSlotID + 'static> StackerDB<M> {
    /// A client writing to the contracts of `reward_cycle` on the node at `node_host`
    /// (`host:port`), signing with `private_key`; `stackerdb_timeout` is each session's
    /// socket timeout. Nothing is dialled yet. Logs go nowhere until
    /// [`StackerDB::with_logger`].
    pub fn new(
        node_host: &str,
        private_key: StacksPrivateKey,
        mainnet: bool,
        reward_cycle: u64,
        mode: SignerConfigMode,
        stackerdb_timeout: Duration,
        signer_db: SharedSignerDb,
    ) -> Self {
        let sessions = M::all()
            .iter()
            .map(|msg_id| {
                let contract = msg_id.stacker_db_contract(mainnet, reward_cycle);
                (
                    *msg_id,
                    StackerDBSession::new(node_host, contract, stackerdb_timeout),
                )
            })
            .collect();
        Self {
            sessions,
            stacks_private_key: private_key,
            mode,
            reward_cycle,
            signer_db,
            logger: Logger::root(slog::Discard, o!()),
            health: NodeHealth::for_node(&format!("http://{node_host}")),
        }
    }

    /// The client of the signer instance configured by `config`, sharing `signer_db`.
    pub fn from_config(config: &SignerConfig, signer_db: SharedSignerDb) -> Self {
        Self::new(
            &config.global.node_host,
            config.global.stacks_private_key.clone(),
            config.mainnet(),
            config.reward_cycle,
            config.signer_mode,
            config.global.stackerdb_timeout,
            signer_db,
        )
    }

    /// Whether the node is failing right now (see [`super::health`]).
    pub fn node_is_failing(&self) -> bool {
        self.health.is_failing()
    }

    /// Logs to `logger` from now on.
    pub fn with_logger(mut self, logger: Logger) -> Self {
        self.logger = logger;
        self
    }

    /// The reward cycle this client writes for.
    pub fn reward_cycle(&self) -> u64 {
        self.reward_cycle
    }

    /// The signer set (`reward_cycle % 2`) whose contracts this client uses.
    pub fn signer_set(&self) -> u32 {
        if self.reward_cycle % 2 == 0 {
            0
        } else {
            1
        }
    }

    /// Dry run, or the slot this client writes.
    pub fn mode(&self) -> SignerConfigMode {
        self.mode
    }

    /// The slot this client writes, unless it is a dry run.
    pub fn signer_slot_id(&self) -> Option<SignerSlotID> {
        match self.mode {
            SignerConfigMode::DryRun => None,
            SignerConfigMode::Normal { signer_slot_id, .. } => Some(signer_slot_id),
        }
    }

    /// The session of message slot kind `msg_id`, if there is one.
    pub fn get_session_mut(&mut self, msg_id: &M) -> Option<&mut StackerDBSession> {
        self.sessions.get_mut(msg_id)
    }

    /// Publishes `message` in this signer's slot of the contract its kind belongs to (see
    /// [`StackerDB::send_message_bytes_with_retry`]). Messages signers do not publish
    /// (miner messages) are refused with [`ClientError::MessageHasNoSlot`] before anything is
    /// sent.
    pub fn send_message_with_retry<T: libsigner::SignerMessage<M>>(
        &mut self,
        message: &T,
    ) -> Result<StackerDBChunkAckData, ClientError> {
        let msg_id = message.msg_id().ok_or(ClientError::MessageHasNoSlot)?;
        let mut bytes = vec![];
        message
            .consensus_serialize(&mut bytes)
            .map_err(ClientError::StackerDBSerializationError)?;
        self.send_message_bytes_with_retry(&msg_id, bytes)
    }

    /// Publishes `message_bytes` in this signer's slot of the `msg_id` contract.
    ///
    /// The version written is the last recorded one + 1 (0 if none); see the
    /// [module documentation](self) for how rejections are handled. A dry-run client writes
    /// nothing and returns an accepted ack. Chunks over the signer contracts' 2 MiB limit are
    /// refused before anything is sent ([`ClientError::ChunkTooLarge`]).
    pub fn send_message_bytes_with_retry(
        &mut self,
        msg_id: &M,
        message_bytes: Vec<u8>,
    ) -> Result<StackerDBChunkAckData, ClientError> {
        let slot_id = match self.mode {
            SignerConfigMode::DryRun => {
                info!(self.logger, "Dry-run signer would have sent a stackerdb message";
                    "message_id" => ?msg_id, "message_bytes" => to_hex(&message_bytes));
                return Ok(StackerDBChunkAckData {
                    accepted: true,
                    reason: None,
                    metadata: None,
                    code: None,
                });
            }
            SignerConfigMode::Normal { signer_slot_id, .. } => signer_slot_id.0,
        };
        if message_bytes.len() > SIGNERS_STACKERDB_CHUNK_SIZE {
            return Err(ClientError::ChunkTooLarge {
                size: message_bytes.len(),
                limit: SIGNERS_STACKERDB_CHUNK_SIZE,
            });
        }
        if let Err(standby) = may_publish(&self.signer_db) {
            debug!(self.logger, "Standby instance: not sending a stackerdb message";
                "message_id" => ?msg_id, "error" => %standby);
            return Err(standby);
        }
        let session = self
            .sessions
            .get_mut(msg_id)
            .ok_or_else(|| ClientError::NoStackerDBSession(format!("{msg_id:?}")))?;
        let public_key = StacksPublicKey::from_private(&self.stacks_private_key);
        let mut data = message_bytes;
        let mut conflicts = 0u32;
        let mut uncoded = 0u32;
        loop {
            let slot_version = lock(&self.signer_db)?
                .get_latest_chunk_version(&public_key, slot_id)?
                .map(|v| v.saturating_add(1))
                .unwrap_or(0);
            let mut chunk = StackerDBChunkData::new(slot_id, slot_version, data);
            chunk
                .sign(&self.stacks_private_key)
                .map_err(ClientError::FailToSign)?;
            debug!(self.logger, "Sending a chunk to stackerdb";
                "contract" => %session.stackerdb_contract_id, "slot_id" => slot_id,
                "slot_version" => slot_version, "message_id" => ?msg_id);
            let mut attempts = 0u32;
            let what = format!(
                "POST /v2/stackerdb/{}/chunks",
                session.stackerdb_contract_id
            );
            // An instance of an active/standby pair that lost the lease while this send was
            // being retried (paused, cut off) must not land it after the new active's
            // messages: every attempt checks again.
            may_publish(&self.signer_db)?;
            let mut lost_lease = None;
            let sent = retry_with_exponential_backoff(|| {
                if let Err(standby) = may_publish(&self.signer_db) {
                    lost_lease = Some(standby);
                    return Err(RetryError::Permanent(RPCError::NotConnected));
                }
                attempts += 1;
                if attempts > 1 {
                    retried(StackerDbWriteIssue::Transport);
                }
                let started = Instant::now();
                let result = session.put_chunk(&chunk);
                report(&self.health, &self.logger, &what, started, &result);
                result.map_err(RetryError::Transient)
            });
            if let Some(standby) = lost_lease {
                return Err(standby);
            }
            let ack = sent.inspect_err(|_| give_up(StackerDbWriteIssue::Transport))?;
            data = chunk.data;

            if ack.accepted {
                debug!(self.logger, "Chunk accepted by stackerdb";
                    "slot_id" => slot_id, "slot_version" => slot_version);
                lock(&self.signer_db)?.set_latest_chunk_version(
                    &public_key,
                    slot_id,
                    slot_version,
                )?;
                return Ok(ack);
            }
            let reason = ack
                .reason
                .clone()
                .unwrap_or_else(|| "No reason given".to_string());
            match ack.code.map(StackerDBErrorCodes::from_code) {
                Some(Some(StackerDBErrorCodes::DataAlreadyExists)) => {
                    conflicts += 1;
                    let node_version = ack.metadata.as_ref().map(|md| md.slot_version);
                    warn!(self.logger, "Failed to send message to stackerdb due to wrong version number";
                        "slot_id" => slot_id, "attempted" => slot_version,
                        "expected" => ?node_version.map(|v| v.saturating_add(1)),
                        "conflicts" => conflicts);
                    lock(&self.signer_db)?.set_latest_chunk_version(
                        &public_key,
                        slot_id,
                        node_version.unwrap_or(slot_version),
                    )?;
                    if conflicts < MAX_VERSION_CONFLICTS {
                        retried(StackerDbWriteIssue::VersionConflict);
                    }
                    if conflicts >= MAX_VERSION_CONFLICTS {
                        give_up(StackerDbWriteIssue::VersionConflict);
                        return Err(ClientError::PutChunkGaveUp {
                            slot_id,
                            slot_version,
                            attempts: conflicts,
                            reason,
                        });
                    }
                }
                Some(_) => {
                    warn!(self.logger, "Failed to send message to stackerdb";
                        "slot_id" => slot_id, "slot_version" => slot_version, "ack" => %ack);
                    give_up(StackerDbWriteIssue::Rejected);
                    return Err(ClientError::PutChunkRejected(reason));
                }
                None => {
                    uncoded += 1;
                    warn!(self.logger, "Chunk rejected by stackerdb without a code";
                        "slot_id" => slot_id, "slot_version" => slot_version,
                        "reason" => &reason, "rejections" => uncoded);
                    if uncoded < MAX_UNCODED_REJECTIONS {
                        retried(StackerDbWriteIssue::RejectedWithoutCode);
                    }
                    if uncoded >= MAX_UNCODED_REJECTIONS {
                        give_up(StackerDbWriteIssue::RejectedWithoutCode);
                        return Err(ClientError::PutChunkGaveUp {
                            slot_id,
                            slot_version,
                            attempts: uncoded,
                            reason,
                        });
                    }
                }
            }
        }
    }

    /// The latest chunks of `slot_ids` in the `msg_id` contract, decoded as `T`.
    ///
    /// The read is retried like a send's transport errors. Empty or missing chunks are
    /// skipped; chunks that do not decode are skipped and listed in
    /// [`LatestMessages::undecodable`].
    pub fn get_latest_messages<T: StacksMessageCodec>(
        &mut self,
        msg_id: &M,
        slot_ids: &[u32],
    ) -> Result<LatestMessages<T>, ClientError> {
        let session = self
            .sessions
            .get_mut(msg_id)
            .ok_or_else(|| ClientError::NoStackerDBSession(format!("{msg_id:?}")))?;
        let latest = read_latest_messages(session, slot_ids, Some((&self.health, &self.logger)))?;
        for slot_id in &latest.undecodable {
            debug!(self.logger, "Failed to deserialize a stackerdb chunk";
                "message_id" => ?msg_id, "slot_id" => slot_id);
        }
        Ok(latest)
    }

    /// The messages in the latest chunks of `slot_ids` of `session`'s contract, skipping
    /// empty, missing and undecodable chunks (the reference's `get_messages`).
    pub fn get_messages<T: StacksMessageCodec>(
        session: &mut StackerDBSession,
        slot_ids: &[u32],
    ) -> Result<Vec<T>, ClientError> {
        Ok(read_latest_messages(session, slot_ids, None)?
            .messages
            .into_iter()
            .map(|(_, message)| message)
            .collect())
    }
}

/// Locks the shared database; a poisoned lock is an error.
/// Whether this process may publish now: [`ClientError::Standby`] when it is an instance of
/// an active/standby pair that does not hold the lease.
fn may_publish(db: &SharedSignerDb) -> Result<(), ClientError> {
    match lock(db)?.standby() {
        Some(holder) => Err(ClientError::Standby { holder }),
        None => Ok(()),
    }
}

fn lock(db: &SharedSignerDb) -> Result<MutexGuard<'_, SignerDb>, ClientError> {
    db.lock().map_err(|_| ClientError::SignerDbPoisoned)
}

/// Reports a StackerDB request's outcome to the node's health: an answer (a `4xx` too), or
/// a failure (transport errors, `5xx`, undecodable answers); a slow answer is a failure.
fn report<T>(
    health: &NodeHealth,
    logger: &Logger,
    what: &str,
    started: Instant,
    result: &Result<T, RPCError>,
) {
    match result {
        Ok(_) => health.answered_in(logger, what, started.elapsed()),
        Err(RPCError::HttpError(code)) if *code < 500 => health.answered(logger, what),
        Err(e) => health.failed(logger, what, &e.to_string()),
    }
}

/// Reads and decodes the latest chunks of `slot_ids`, with the transport retry policy;
/// outcomes go to `observer`'s node health, if given.
fn read_latest_messages<T: StacksMessageCodec>(
    session: &mut StackerDBSession,
    slot_ids: &[u32],
    observer: Option<(&NodeHealth, &Logger)>,
) -> Result<LatestMessages<T>, ClientError> {
    let what = format!("GET /v2/stackerdb/{}", session.stackerdb_contract_id);
    let chunks = retry_with_exponential_backoff(|| {
        let started = Instant::now();
        let result = session.get_latest_chunks(slot_ids);
        if let Some((health, logger)) = observer {
            report(health, logger, &what, started, &result);
        }
        result.map_err(RetryError::Transient)
    })?;
    let mut latest = LatestMessages {
        messages: vec![],
        undecodable: vec![],
    };
    for (slot_id, chunk) in slot_ids.iter().zip(chunks) {
        let Some(data) = chunk.filter(|d| !d.is_empty()) else {
            continue;
        };
        match read_next::<T, _>(&mut data.as_slice()) {
            Ok(message) => latest.messages.push((*slot_id, message)),
            Err(_) => latest.undecodable.push(*slot_id),
        }
    }
    Ok(latest)
}
