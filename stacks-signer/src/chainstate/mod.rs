//! What the signer checks a proposed block against: the sortitions (who may mine now, on which
//! parent tenure), the blocks it has already accepted in a tenure, and the tenure-extend
//! rules. The checks read the signer database and ask the node ([`NodeRpc`]).
//!
//! Two views exist, as in the reference: [`v1::SortitionsView`], this signer's own view of the
//! current and last sortitions (the live path: every protocol version below
//! [`GLOBAL_SIGNER_STATE_ACTIVATION_VERSION`]), and [`v2::GlobalStateView`], the signer set's
//! agreed state (dormant until that version is agreed). This module holds what both share:
//! the configuration, one sortition's data, and the parent and tenure-tip rules.

pub mod cache;
pub mod node;
#[cfg(test)]
mod tests;
pub mod v1;
pub mod v2;

use std::time::Duration;

use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, Hash160, NakamotoBlock, StacksAddress, StacksPublicKey,
    TenureChangePayload,
};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::GlobalStateEvaluator;
use slog::{info, warn, Logger};

pub use cache::CachedNode;
pub use node::{CurrentAndLastSortition, NodeRpc, TenureTip};

use crate::client::api::SortitionInfo;
use crate::client::ClientError;
use crate::clock::now_secs;
use crate::config::SignerConfig;
use crate::signerdb::{BlockInfo, BlockState, SignerDb, SignerDbError};

/// The signer protocol version this signer supports and announces.
pub const SUPPORTED_SIGNER_PROTOCOL_VERSION: u64 = 1;

/// The protocol version from which proposals are checked against the signer set's global
/// state ([`v2::GlobalStateView`]) instead of this signer's own view. The reference has not
/// activated it: no version reaches it.
pub const GLOBAL_SIGNER_STATE_ACTIVATION_VERSION: u64 = u64::MAX;

/// Why a check could not be completed. Turned into a
/// [`RejectReason::ConnectivityIssues`] carrying the Display text, as the reference's
/// `SignerChainstateError`.
#[derive(Debug, thiserror::Error)]
pub enum SignerChainstateError {
    /// The signer database failed.
    #[error("Database error: {0}")]
    DBError(#[from] SignerDbError),
    /// The node could not be asked.
    #[error("Client error: {0}")]
    ClientError(#[from] ClientError),
    /// Neither the node nor the database knows the last block of a parent tenure.
    #[error("No information available for parent tenure '{0}'")]
    NoParentTenureInfo(ConsensusHash),
    /// The local state machine cannot produce an update message yet.
    #[error("The local state machine is not ready, so no update message can be produced")]
    LocalStateMachineNotReady,
}

impl From<SignerChainstateError> for RejectReason {
    fn from(error: SignerChainstateError) -> Self {
        RejectReason::ConnectivityIssues(error.to_string())
    }
}

/// The configuration the proposal checks use (the reference's `ProposalEvalConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalEvalConfig {
    /// How long after a sortition its miner's first block may still reorg the tenure before
    /// (a tenure whose first block was signed less than this long before the next sortition
    /// may be reorged).
    pub first_proposal_burn_block_timing: Duration,
    /// How long a miner may stay silent after its sortition before it is invalid.
    pub block_proposal_timeout: Duration,
    /// How long a block this signer accepted pins its height in its tenure.
    pub tenure_last_block_proposal_timeout: Duration,
    /// Idle time before a full tenure extend is allowed.
    pub tenure_idle_timeout: Duration,
    /// Idle time before a read-count tenure extend is allowed.
    pub read_count_idle_timeout: Duration,
    /// Added to the idle timeouts in the timestamps announced to the miner.
    pub tenure_idle_timeout_buffer: Duration,
    /// How long after a block's group signature a reorg attempt of it still counts as the
    /// proposing miner's activity (compared in whole seconds).
    pub reorg_attempts_activity_timeout: Duration,
    /// How long a proposal waits for its parent to be processed before it is submitted
    /// anyway.
    pub proposal_wait_for_parent_time: Duration,
    /// How many burn blocks past the replay's tip the replay set is kept without progress.
    pub reset_replay_set_after_fork_blocks: u64,
}

impl From<&SignerConfig> for ProposalEvalConfig {
    fn from(config: &SignerConfig) -> Self {
        let g = &config.global;
        Self {
            first_proposal_burn_block_timing: g.first_proposal_burn_block_timing,
            block_proposal_timeout: g.block_proposal_timeout,
            tenure_last_block_proposal_timeout: g.tenure_last_block_proposal_timeout,
            tenure_idle_timeout: g.tenure_idle_timeout,
            read_count_idle_timeout: g.read_count_idle_timeout,
            tenure_idle_timeout_buffer: g.tenure_idle_timeout_buffer,
            reorg_attempts_activity_timeout: g.reorg_attempts_activity_timeout,
            proposal_wait_for_parent_time: g.proposal_wait_for_parent_time,
            reset_replay_set_after_fork_blocks: g.reset_replay_set_after_fork_blocks,
        }
    }
}

/// One winning sortition, as `latest_and_last` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortitionData {
    /// Hash160 of the winning miner's key.
    pub miner_pkh: Hash160,
    /// The winner's public key, if known.
    pub miner_pubkey: Option<StacksPublicKey>,
    /// The previous winning sortition of this fork.
    pub prior_sortition: ConsensusHash,
    /// The tenure the winner committed to build on.
    pub parent_tenure_id: ConsensusHash,
    /// This sortition's consensus hash (the tenure id).
    pub consensus_hash: ConsensusHash,
    /// The burn block's timestamp.
    pub burn_header_timestamp: u64,
    /// The burn block's hash.
    pub burn_block_hash: BurnchainHeaderHash,
}

impl TryFrom<SortitionInfo> for SortitionData {
    type Error = ClientError;

    /// Fails with [`ClientError::UnexpectedSortitionInfo`] when the winner's key hash, the
    /// last sortition or the parent tenure is missing.
    fn try_from(info: SortitionInfo) -> Result<Self, Self::Error> {
        Ok(Self {
            miner_pkh: info
                .miner_pk_hash160
                .ok_or(ClientError::UnexpectedSortitionInfo)?,
            miner_pubkey: None,
            prior_sortition: info
                .last_sortition_ch
                .ok_or(ClientError::UnexpectedSortitionInfo)?,
            parent_tenure_id: info
                .stacks_parent_ch
                .ok_or(ClientError::UnexpectedSortitionInfo)?,
            consensus_hash: info.consensus_hash,
            burn_header_timestamp: info.burn_header_timestamp,
            burn_block_hash: info.burn_block_hash,
        })
    }
}

impl SortitionData {
    /// Whether this sortition's miner chose an acceptable parent tenure: the last sortition,
    /// or one before it when every tenure it skips produced no block, or at most one
    /// globally accepted height whose first block this signer signed less than
    /// `first_proposal_burn_block_timing` before it saw this sortition's burn block.
    pub fn check_parent_tenure_choice(
        &self,
        db: &SignerDb,
        node: &dyn NodeRpc,
        first_proposal_burn_block_timing: Duration,
        log: &Logger,
    ) -> Result<bool, SignerChainstateError> {
        if self.prior_sortition == self.parent_tenure_id {
            return Ok(true);
        }
        info!(log, "Most recent miner's tenure does not build off the prior sortition, checking if this is valid behavior";
            "sortition_state.consensus_hash" => %self.consensus_hash,
            "sortition_state.prior_sortition" => %self.prior_sortition,
            "sortition_state.parent_tenure_id" => %self.parent_tenure_id);
        let tenures =
            node.get_tenure_forking_info(&self.parent_tenure_id, &self.prior_sortition)?;
        if tenures.is_empty() {
            warn!(log, "Miner is not building off of most recent tenure, but the node returned no information about the sortitions in between. Marking miner invalid.");
            return Ok(false);
        }
        let received = db.get_burn_block_receive_time(&self.burn_block_hash)?;
        for tenure in &tenures {
            if tenure.consensus_hash == self.parent_tenure_id {
                continue;
            }
            let accepted_span =
                db.get_globally_accepted_block_count_in_tenure(&tenure.consensus_hash)?;
            if accepted_span > 1 {
                warn!(log, "Miner is not building off of most recent tenure, and a tenure it would reorg already has more than one globally accepted block";
                    "parent_tenure" => %self.parent_tenure_id,
                    "last_sortition" => %self.prior_sortition,
                    "violating_tenure_id" => %tenure.consensus_hash,
                    "globally_accepted_blocks" => accepted_span);
                return Ok(false);
            }
            let Some(first_block_mined) = &tenure.first_block_mined else {
                continue;
            };
            let Some(first_signed) = db.get_first_signed_block_in_tenure(&tenure.consensus_hash)?
            else {
                warn!(log, "Miner is not building off of most recent tenure, and a tenure it would reorg has blocks this signer knows nothing of";
                    "parent_tenure" => %self.parent_tenure_id,
                    "violating_tenure_id" => %tenure.consensus_hash,
                    "violating_tenure_first_block_id" => %first_block_mined);
                return Ok(false);
            };
            let Some(received) = received else {
                warn!(log, "Miner is not building off of most recent tenure, and this signer has no receive time for its burn block";
                    "violating_tenure_id" => %tenure.consensus_hash);
                return Ok(false);
            };
            let proposal_to_sortition = first_signed
                .signed_self
                .map_or(0, |signed_at| received.saturating_sub(signed_at));
            if Duration::from_secs(proposal_to_sortition) < first_proposal_burn_block_timing {
                info!(log, "Miner is not building off of most recent tenure, but the tenure it reorgs had its first block too close to the next burn block; allowing the reorg";
                    "violating_tenure_id" => %tenure.consensus_hash,
                    "proposal_to_sortition" => proposal_to_sortition,
                    "first_proposal_burn_block_timing_secs" => first_proposal_burn_block_timing.as_secs());
                continue;
            }
            warn!(log, "Miner is not building off of most recent tenure, and a tenure it would reorg already has mined blocks";
                "parent_tenure" => %self.parent_tenure_id,
                "violating_tenure_id" => %tenure.consensus_hash,
                "violating_tenure_first_block_id" => %first_block_mined);
            return Ok(false);
        }
        Ok(true)
    }

    /// The highest block of tenure `consensus_hash` this signer pre-committed to or accepted
    /// (or saw accepted), unless its `signed_self` is older than
    /// `tenure_last_block_proposal_timeout` or unset: then `None`, and the caller asks the
    /// node instead.
    pub fn get_tenure_last_block_info(
        consensus_hash: &ConsensusHash,
        db: &SignerDb,
        tenure_last_block_proposal_timeout: Duration,
        log: &Logger,
    ) -> Result<Option<BlockInfo>, ClientError> {
        let last = db
            .get_last_accepted_block(consensus_hash)
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
        let Some(info) = last else {
            return Ok(None);
        };
        let Some(signed_at) = info.signed_self else {
            return Ok(None);
        };
        if signed_at.saturating_add(tenure_last_block_proposal_timeout.as_secs()) > now_secs() {
            return Ok(Some(info));
        }
        info!(log, "Last accepted block has timed out";
            "signer_signature_hash" => %info.signer_signature_hash(),
            "signed_over_time" => signed_at,
            "state" => %info.state);
        Ok(None)
    }

    /// Whether `block` is higher than the highest block of tenure `tenure_id`: first against
    /// the last block this signer accepted there (see
    /// [`SortitionData::get_tenure_last_block_info`]); a block no higher is refused, and the
    /// attempt counts as activity of the block's miner; then against the node's tenure tip
    /// (when the node cannot answer, the block is assumed higher: the node validates it
    /// anyway). A tip this signer knows but has not seen accepted is marked globally
    /// accepted on the way.
    pub fn check_latest_block_in_tenure(
        tenure_id: &ConsensusHash,
        block: &NakamotoBlock,
        db: &mut SignerDb,
        node: &dyn NodeRpc,
        tenure_last_block_proposal_timeout: Duration,
        reorg_attempts_activity_timeout: Duration,
        log: &Logger,
    ) -> Result<bool, ClientError> {
        let last = Self::get_tenure_last_block_info(
            tenure_id,
            db,
            tenure_last_block_proposal_timeout,
            log,
        )?;
        if let Some(info) = last {
            if block.header.chain_length <= info.block.header.chain_length {
                warn!(log, "Miner's block proposal does not confirm as many blocks as we expect";
                    "proposed_block_consensus_hash" => %block.header.consensus_hash,
                    "signer_signature_hash" => %block.header.signer_signature_hash(),
                    "proposed_chain_length" => block.header.chain_length,
                    "expected_at_least" => info.block.header.chain_length.saturating_add(1));
                let counts_as_activity = info.signed_group.is_none_or(|signed_at| {
                    signed_at.saturating_add(reorg_attempts_activity_timeout.as_secs()) > now_secs()
                });
                if counts_as_activity {
                    if let Err(e) =
                        db.update_last_activity_time(&block.header.consensus_hash, now_secs())
                    {
                        warn!(log, "Failed to update last activity time: {e}");
                    }
                }
                return Ok(false);
            }
        }
        let tip = match node.get_tenure_tip(tenure_id) {
            Ok(tip) => tip,
            Err(e) => {
                warn!(log, "Failed to fetch the tenure tip for the parent tenure: {e}. Assuming proposal is higher than the parent tenure for now.";
                    "proposed_block_consensus_hash" => %block.header.consensus_hash,
                    "signer_signature_hash" => %block.header.signer_signature_hash(),
                    "parent_tenure" => %tenure_id);
                return Ok(true);
            }
        };
        if let Some(tip_hash) = &tip.signer_signature_hash {
            if let Ok(Some(mut known)) = db.block_lookup(tip_hash) {
                if known.state != BlockState::GloballyAccepted {
                    if let Err(e) = db.mark_block_globally_accepted(&mut known) {
                        warn!(log, "Failed to mark block as globally accepted: {e}");
                    } else if let Err(e) = db.insert_block(&known) {
                        warn!(log, "Failed to update block info in db: {e}");
                    }
                }
            }
        }
        Ok(tip.height < block.header.chain_length)
    }

    /// Whether a tenure-start block is higher than the last block of the tenure it follows
    /// (`tenure_change.prev_tenure_consensus_hash`); see
    /// [`SortitionData::check_latest_block_in_tenure`].
    pub fn check_tenure_change_confirms_parent(
        tenure_change: &TenureChangePayload,
        block: &NakamotoBlock,
        db: &mut SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        log: &Logger,
    ) -> Result<bool, ClientError> {
        Self::check_latest_block_in_tenure(
            &tenure_change.prev_tenure_consensus_hash,
            block,
            db,
            node,
            config.tenure_last_block_proposal_timeout,
            config.reorg_attempts_activity_timeout,
            log,
        )
    }

    /// Whether `block` is higher than the last block of its own tenure; see
    /// [`SortitionData::check_latest_block_in_tenure`].
    pub fn confirms_latest_block_in_same_tenure(
        block: &NakamotoBlock,
        db: &mut SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        log: &Logger,
    ) -> Result<bool, ClientError> {
        Self::check_latest_block_in_tenure(
            &block.header.consensus_hash,
            block,
            db,
            node,
            config.tenure_last_block_proposal_timeout,
            config.reorg_attempts_activity_timeout,
            log,
        )
    }
}

/// Which view proposals are checked against, by active protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortitionStateVersion {
    /// This signer's own view of the sortitions.
    V1,
    /// The signer set's agreed state.
    V2,
}

impl SortitionStateVersion {
    /// The view for protocol version `version`.
    pub fn from_protocol_version(version: u64) -> Self {
        if version < GLOBAL_SIGNER_STATE_ACTIVATION_VERSION {
            Self::V1
        } else {
            Self::V2
        }
    }

    /// Whether this view is the signer set's global state.
    pub fn uses_global_state(&self) -> bool {
        matches!(self, Self::V2)
    }
}

/// One sortition's data in the view of a version, for the state machine's choice of miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortitionState {
    /// Which view judges the sortition (decides how a miner times out).
    pub version: SortitionStateVersion,
    /// The sortition.
    pub data: SortitionData,
}

impl SortitionState {
    /// The sortition `data` judged in `version`'s view.
    pub fn new(version: SortitionStateVersion, data: SortitionData) -> Self {
        Self { version, data }
    }

    /// The sortition's data.
    pub fn data(&self) -> &SortitionData {
        &self.data
    }

    /// Whether the sortition's miner chose an acceptable parent tenure and has not timed
    /// out.
    pub fn is_tenure_valid(
        &self,
        db: &SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        eval: &GlobalStateEvaluator,
        log: &Logger,
    ) -> Result<bool, SignerChainstateError> {
        if !self.data.check_parent_tenure_choice(
            db,
            node,
            config.first_proposal_burn_block_timing,
            log,
        )? {
            return Ok(false);
        }
        let timed_out = Self::is_timed_out(
            self.version,
            &self.data.consensus_hash,
            db,
            node.signer_address(),
            config,
            eval,
            log,
        )?;
        Ok(!timed_out)
    }

    /// Whether the miner of tenure `consensus_hash` stayed silent longer than
    /// `block_proposal_timeout` (see [`v1::is_timed_out`] and [`v2::is_timed_out`]).
    pub fn is_timed_out(
        version: SortitionStateVersion,
        consensus_hash: &ConsensusHash,
        db: &SignerDb,
        local_address: &StacksAddress,
        config: &ProposalEvalConfig,
        eval: &GlobalStateEvaluator,
        log: &Logger,
    ) -> Result<bool, SignerChainstateError> {
        match version {
            SortitionStateVersion::V1 => {
                v1::is_timed_out(consensus_hash, db, config.block_proposal_timeout, log)
            }
            SortitionStateVersion::V2 => v2::is_timed_out(
                consensus_hash,
                db,
                eval,
                local_address,
                config.block_proposal_timeout,
                log,
            ),
        }
    }
}
