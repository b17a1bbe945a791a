//! This signer's own view of the current and last sortitions, and the proposal checks made
//! against it: the live path (every protocol version below
//! [`super::GLOBAL_SIGNER_STATE_ACTIVATION_VERSION`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{
    ConsensusHash, Hash160, NakamotoBlock, TenureChangeCause, TenureChangePayload,
};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::ReplayTransactionSet;
use slog::{info, warn, Logger};

use super::{
    CurrentAndLastSortition, NodeRpc, ProposalEvalConfig, SignerChainstateError, SortitionData,
};
use crate::client::ClientError;
use crate::clock::now_secs;
use crate::signerdb::SignerDb;

/// This signer's opinion of a sortition's miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortitionMinerStatus {
    /// Invalid (timed out, bad parent tenure, reorg refused by the signer set, or the signer
    /// set's view moved on) before this signer signed any of its blocks.
    InvalidatedBeforeFirstBlock,
    /// Invalid after this signer signed some of its blocks (never set, as in the reference).
    InvalidatedAfterFirstBlock,
    /// May propose.
    Valid,
}

/// One sortition in the view, with this signer's opinion of its miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortitionState {
    /// The sortition.
    pub data: SortitionData,
    /// This signer's opinion of its miner.
    pub miner_status: SortitionMinerStatus,
}

impl TryFrom<crate::client::api::SortitionInfo> for SortitionState {
    type Error = ClientError;

    fn try_from(info: crate::client::api::SortitionInfo) -> Result<Self, Self::Error> {
        Ok(Self {
            data: SortitionData::try_from(info)?,
            miner_status: SortitionMinerStatus::Valid,
        })
    }
}

/// Whether the miner of tenure `consensus_hash` stayed silent longer than `timeout`: no block
/// of the tenure signed over by this signer, and more than `timeout` since the later of the
/// tenure's burn block arrival and the last activity recorded for it (strictly). A tenure
/// whose burn block this signer never saw never times out.
pub fn is_timed_out(
    consensus_hash: &ConsensusHash,
    db: &SignerDb,
    timeout: Duration,
    log: &Logger,
) -> Result<bool, SignerChainstateError> {
    if db.has_signed_block_in_tenure(consensus_hash)? {
        return Ok(false);
    }
    let Some(received) = db.get_burn_block_receive_time_ch(consensus_hash)? else {
        return Ok(false);
    };
    let last_activity = db
        .get_last_activity_time(consensus_hash)?
        .unwrap_or(received);
    timed_out_since(consensus_hash, last_activity, timeout, log)
}

/// Whether more than `timeout` passed since `last_activity` (seconds), with sub-second
/// precision on the current time, as the reference measures it.
pub(crate) fn timed_out_since(
    consensus_hash: &ConsensusHash,
    last_activity: u64,
    timeout: Duration,
    log: &Logger,
) -> Result<bool, SignerChainstateError> {
    let since = UNIX_EPOCH + Duration::from_secs(last_activity);
    let Ok(elapsed) = SystemTime::now().duration_since(since) else {
        return Ok(false);
    };
    let timed_out = elapsed > timeout;
    if timed_out {
        info!(log, "Tenure miner was inactive too long and timed out";
            "tenure_ch" => %consensus_hash,
            "elapsed_inactive" => elapsed.as_secs(),
            "config_block_proposal_timeout" => timeout.as_secs());
    }
    Ok(timed_out)
}

/// Which sortition a proposal claims to belong to.
enum ProposedBy {
    CurrentSortition,
    LastSortition,
}

/// This signer's view of the current and last sortitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortitionsView {
    /// The previous winning sortition (the "prior" miner), when known.
    pub last_sortition: Option<SortitionState>,
    /// The latest winning sortition.
    pub cur_sortition: SortitionState,
    /// The checks' configuration.
    pub config: ProposalEvalConfig,
}

impl SortitionsView {
    /// The view the node reports now. A last sortition that cannot be read is dropped, as in
    /// the reference; a current one that cannot be read is an error.
    pub fn fetch_view(config: ProposalEvalConfig, node: &dyn NodeRpc) -> Result<Self, ClientError> {
        let sortitions = node.get_current_and_last_sortition()?;
        Self::from_sortitions(config, sortitions)
    }

    /// The view of `sortitions`.
    pub fn from_sortitions(
        config: ProposalEvalConfig,
        sortitions: CurrentAndLastSortition,
    ) -> Result<Self, ClientError> {
        let (cur_sortition, last_sortition) = Self::states_of(sortitions)?;
        Ok(Self {
            last_sortition,
            cur_sortition,
            config,
        })
    }

    fn states_of(
        sortitions: CurrentAndLastSortition,
    ) -> Result<(SortitionState, Option<SortitionState>), ClientError> {
        let cur = SortitionState::try_from(sortitions.current_sortition)?;
        let last = sortitions
            .last_sortition
            .and_then(|info| SortitionState::try_from(info).ok());
        Ok((cur, last))
    }

    /// Replaces both sortitions with what the node reports now (every miner valid again).
    pub fn reset_view(&mut self, node: &dyn NodeRpc) -> Result<(), ClientError> {
        node.invalidate_sortitions();
        let (cur, last) = Self::states_of(node.get_current_and_last_sortition()?)?;
        self.cur_sortition = cur;
        self.last_sortition = last;
        Ok(())
    }

    /// Checks `block` against the view, in the reference's order, returning the first reason
    /// to reject it. The miners' statuses change as a side effect (a timed-out or badly
    /// parented current miner is invalidated) and last until the view is dropped.
    ///
    /// With `reset_view_if_wrong_consensus_hash`, a block of neither sortition makes the view
    /// refresh from the node once and the checks run again. `replay_set` is the signer set's
    /// transaction replay set: while it is non-empty, tenure extends need no idle time.
    pub fn check_proposal(
        &mut self,
        node: &dyn NodeRpc,
        db: &mut SignerDb,
        block: &NakamotoBlock,
        reset_view_if_wrong_consensus_hash: bool,
        replay_set: &ReplayTransactionSet,
        log: &Logger,
    ) -> Result<(), RejectReason> {
        let block_ch = block.header.consensus_hash;
        self.check_current_miner(node, db, block, log)?;
        if let Some(last) = self.last_sortition.as_mut() {
            if last.miner_status == SortitionMinerStatus::Valid
                && is_timed_out(
                    &last.data.consensus_hash,
                    db,
                    self.config.block_proposal_timeout,
                    log,
                )?
            {
                info!(log, "Last miner timed out, marking as invalid.";
                    "block_height" => block.header.chain_length,
                    "last_sortition_consensus_hash" => %last.data.consensus_hash);
                last.miner_status = SortitionMinerStatus::InvalidatedBeforeFirstBlock;
            }
        }
        let Some(miner_pk) = block.header.recover_miner_pk() else {
            warn!(log, "Failed to recover miner pubkey";
                "signer_signature_hash" => %block.header.signer_signature_hash(),
                "consensus_hash" => %block_ch);
            return Err(RejectReason::IrrecoverablePubkeyHash);
        };
        if !block.header.pox_treatment.iter().all(|bit| bit) {
            warn!(log, "Miner block proposal has bitvec field which punishes in disagreement with signer. Considering invalid.";
                "proposed_block_consensus_hash" => %block_ch,
                "signer_signature_hash" => %block.header.signer_signature_hash());
            return Err(RejectReason::InvalidBitvec);
        }
        let miner_pkh = Hash160::from_data(&miner_pk.to_bytes_compressed());
        let proposed_by = if block_ch == self.cur_sortition.data.consensus_hash {
            ProposedBy::CurrentSortition
        } else if self
            .last_sortition
            .as_ref()
            .is_some_and(|last| last.data.consensus_hash == block_ch)
        {
            ProposedBy::LastSortition
        } else if reset_view_if_wrong_consensus_hash {
            info!(log, "Miner block proposal has consensus hash that is neither the current or last sortition. Resetting view.";
                "proposed_block_consensus_hash" => %block_ch,
                "current_sortition_consensus_hash" => %self.cur_sortition.data.consensus_hash);
            self.reset_view(node).map_err(SignerChainstateError::from)?;
            return self.check_proposal(node, db, block, false, replay_set, log);
        } else {
            warn!(log, "Miner block proposal has consensus hash that is neither the current or last sortition. Considering invalid.";
                "proposed_block_consensus_hash" => %block_ch,
                "signer_signature_hash" => %block.header.signer_signature_hash(),
                "current_sortition_consensus_hash" => %self.cur_sortition.data.consensus_hash,
                "last_sortition_consensus_hash" => ?self.last_sortition.as_ref().map(|s| s.data.consensus_hash));
            return Err(RejectReason::SortitionViewMismatch);
        };
        let proposer = match proposed_by {
            ProposedBy::CurrentSortition => &self.cur_sortition,
            ProposedBy::LastSortition => self
                .last_sortition
                .as_ref()
                .ok_or(RejectReason::SortitionViewMismatch)?,
        };
        if proposer.data.miner_pkh != miner_pkh {
            warn!(log, "Miner block proposal pubkey does not match the winning pubkey hash for its sortition. Considering invalid.";
                "proposed_block_consensus_hash" => %block_ch,
                "signer_signature_hash" => %block.header.signer_signature_hash(),
                "proposed_block_pubkey_hash" => %miner_pkh,
                "sortition_winner_pubkey_hash" => %proposer.data.miner_pkh);
            return Err(RejectReason::PubkeyHashMismatch);
        }
        match proposed_by {
            ProposedBy::CurrentSortition => {
                if proposer.miner_status != SortitionMinerStatus::Valid {
                    warn!(log, "Current miner behaved improperly, this signer views the miner as invalid.";
                        "proposed_block_consensus_hash" => %block_ch,
                        "signer_signature_hash" => %block.header.signer_signature_hash(),
                        "current_sortition_miner_status" => ?proposer.miner_status);
                    return Err(RejectReason::InvalidMiner);
                }
            }
            ProposedBy::LastSortition => {
                // The last miner may continue only if the current one was invalidated before
                // this signer signed any of its blocks.
                if self.cur_sortition.miner_status
                    != SortitionMinerStatus::InvalidatedBeforeFirstBlock
                {
                    warn!(log, "Miner block proposal is from last sortition winner, when the new sortition winner is still valid. Considering proposal invalid.";
                        "proposed_block_consensus_hash" => %block_ch,
                        "signer_signature_hash" => %block.header.signer_signature_hash(),
                        "current_sortition_miner_status" => ?self.cur_sortition.miner_status);
                    return Err(RejectReason::NotLatestSortitionWinner);
                }
            }
        }
        let proposer = proposer.data.clone();
        if let Some(tenure_change) = block.get_tenure_change_tx_payload() {
            self.validate_tenure_change_payload(&proposer, tenure_change, block, db, node, log)?;
        } else {
            let confirms = SortitionData::confirms_latest_block_in_same_tenure(
                block,
                db,
                node,
                &self.config,
                log,
            )
            .map_err(SignerChainstateError::from)?;
            if !confirms {
                return Err(RejectReason::InvalidParentBlock);
            }
        }
        check_tenure_extend(
            block,
            &proposer.consensus_hash,
            db,
            node,
            &self.config,
            !replay_set.is_empty(),
            log,
        )
    }

    /// Step A: the current miner's liveness, or its parent-tenure choice when this signer's
    /// canonical tip is in neither its tenure nor its parent tenure.
    fn check_current_miner(
        &mut self,
        node: &dyn NodeRpc,
        db: &mut SignerDb,
        block: &NakamotoBlock,
        log: &Logger,
    ) -> Result<(), RejectReason> {
        let cur_ch = self.cur_sortition.data.consensus_hash;
        let of_current = block.header.consensus_hash == cur_ch;
        if self.cur_sortition.miner_status == SortitionMinerStatus::Valid
            && is_timed_out(&cur_ch, db, self.config.block_proposal_timeout, log)?
        {
            info!(log, "Current miner timed out, marking as invalid.";
                "block_height" => block.header.chain_length,
                "block_proposal_timeout" => ?self.config.block_proposal_timeout,
                "current_sortition_consensus_hash" => %cur_ch);
            self.cur_sortition.miner_status = SortitionMinerStatus::InvalidatedBeforeFirstBlock;
            if of_current {
                return Err(RejectReason::InvalidMiner);
            }
            return Ok(());
        }
        let Some(tip) = db
            .get_canonical_tip()
            .map_err(SignerChainstateError::from)?
        else {
            return Ok(());
        };
        let tip_ch = tip.block.header.consensus_hash;
        if cur_ch == tip_ch || self.cur_sortition.data.parent_tenure_id == tip_ch {
            return Ok(());
        }
        let good_parent = self.cur_sortition.data.check_parent_tenure_choice(
            db,
            node,
            self.config.first_proposal_burn_block_timing,
            log,
        )?;
        if !good_parent {
            warn!(log, "Current sortition does not build off of canonical tip tenure, marking as invalid";
                "current_sortition_parent" => %self.cur_sortition.data.parent_tenure_id,
                "tip_consensus_hash" => %tip_ch);
            self.cur_sortition.miner_status = SortitionMinerStatus::InvalidatedBeforeFirstBlock;
            if of_current {
                return Err(RejectReason::ReorgNotAllowed);
            }
        }
        Ok(())
    }

    /// A tenure-start block must be higher than the last block of the tenure it follows, its
    /// parent tenure must be an acceptable choice, and its tenure must not already have a
    /// globally accepted block.
    fn validate_tenure_change_payload(
        &self,
        proposer: &SortitionData,
        tenure_change: &TenureChangePayload,
        block: &NakamotoBlock,
        db: &mut SignerDb,
        node: &dyn NodeRpc,
        log: &Logger,
    ) -> Result<(), RejectReason> {
        let confirms_parent = SortitionData::check_tenure_change_confirms_parent(
            tenure_change,
            block,
            db,
            node,
            &self.config,
            log,
        )
        .map_err(SignerChainstateError::from)?;
        if !confirms_parent {
            return Err(RejectReason::InvalidParentBlock);
        }
        if !proposer.check_parent_tenure_choice(
            db,
            node,
            self.config.first_proposal_burn_block_timing,
            log,
        )? {
            return Err(RejectReason::ReorgNotAllowed);
        }
        check_no_accepted_block_in_tenure(block, db, log)
    }
}

/// A second tenure start in a tenure that already has a globally accepted block is
/// [`RejectReason::DuplicateBlockFound`].
pub(crate) fn check_no_accepted_block_in_tenure(
    block: &NakamotoBlock,
    db: &SignerDb,
    log: &Logger,
) -> Result<(), RejectReason> {
    let last = db
        .get_last_globally_accepted_block(&block.header.consensus_hash)
        .map_err(|e| SignerChainstateError::from(ClientError::InvalidResponse(e.to_string())))?;
    if let Some(last) = last {
        warn!(log, "Miner block proposal contains a tenure change, but we've already signed a block in this tenure. Considering proposal invalid.";
            "proposed_block_consensus_hash" => %block.header.consensus_hash,
            "proposed_block_signer_signature_hash" => %block.header.signer_signature_hash(),
            "last_in_tenure_signer_signature_hash" => %last.signer_signature_hash());
        return Err(RejectReason::DuplicateBlockFound);
    }
    Ok(())
}

/// The tenure-extend rules, shared by both views (`tenure_id` is the tenure whose tip names
/// the current burn view; `in_replay` whether a replay set is in force):
/// * only `Extended` and `ExtendedReadCount` extends are supported;
/// * a full extend must change the tenure's burn view, or come after the tenure's idle time
///   (`tenure_idle_timeout` after its last tenure change plus its validation time), or come
///   during a replay;
/// * a read-count extend must keep the burn view, and come after the read-count idle time or
///   during a replay.
///
/// A tenure tip the node cannot give (asked of the node itself, never of kept answers), or
/// without a burn view, refuses the extend.
pub(crate) fn check_tenure_extend(
    block: &NakamotoBlock,
    tenure_id: &ConsensusHash,
    db: &SignerDb,
    node: &dyn NodeRpc,
    config: &ProposalEvalConfig,
    in_replay: bool,
    log: &Logger,
) -> Result<(), RejectReason> {
    let Some(extend) = block.get_tenure_extend_tx_payload() else {
        return Ok(());
    };
    let block_ch = block.header.consensus_hash;
    let sighash = block.header.signer_signature_hash();
    let full = extend.cause == TenureChangeCause::Extended;
    let read_count = extend.cause == TenureChangeCause::ExtendedReadCount;
    if !full && !read_count {
        warn!(log, "Miner block proposal contains a tenure extend with an unsupported cause";
            "tenure_extend_cause" => %extend.cause);
        return Err(RejectReason::InvalidTenureExtend);
    }
    // Asked of the node, not of the kept answers: a node that cannot answer refuses the
    // extend, as in the reference.
    let tip = node.get_tenure_tip_from_node(tenure_id).map_err(|e| {
        warn!(log, "Could not load current tenure tip while evaluating a tenure-extend; cannot approve."; "err" => %e);
        RejectReason::InvalidTenureExtend
    })?;
    let Some(current_burn_view) = tip.burn_view else {
        warn!(log, "Tenure-extend attempted in tenure without burn-view.");
        return Err(RejectReason::InvalidTenureExtend);
    };
    let changed_burn_view = extend.burn_view_consensus_hash != current_burn_view;
    let now = now_secs();
    if full {
        let extend_at =
            db.calculate_full_extend_timestamp(config.tenure_idle_timeout, block, false);
        let enough_time_passed = now >= extend_at;
        if !changed_burn_view && !enough_time_passed && !in_replay {
            warn!(log, "Miner block proposal contains a tenure extend, but the conditions for allowing a tenure extend are not met. Considering proposal invalid.";
                "proposed_block_consensus_hash" => %block_ch,
                "signer_signature_hash" => %sighash,
                "extend_timestamp" => extend_at,
                "epoch_time" => now,
                "is_in_replay" => in_replay,
                "changed_burn_view" => changed_burn_view,
                "enough_time_passed" => enough_time_passed);
            return Err(RejectReason::InvalidTenureExtend);
        }
        info!(log, "Miner block proposal contains a tenure extend that is allowed";
            "proposed_block_consensus_hash" => %block_ch,
            "signer_signature_hash" => %sighash,
            "is_in_replay" => in_replay,
            "changed_burn_view" => changed_burn_view,
            "enough_time_passed" => enough_time_passed);
        return Ok(());
    }
    if changed_burn_view {
        warn!(log, "Miner block proposal contains a read-count extend, but the conditions for allowing a tenure extend are not met. Considering proposal invalid.";
            "proposed_block_consensus_hash" => %block_ch,
            "signer_signature_hash" => %sighash,
            "changed_burn_view" => changed_burn_view);
        return Err(RejectReason::InvalidTenureExtend);
    }
    let extend_at =
        db.calculate_read_count_extend_timestamp(config.read_count_idle_timeout, block, false);
    let enough_time_passed = now >= extend_at;
    if !enough_time_passed && !in_replay {
        warn!(log, "Miner block proposal contains a read-count extend, but the conditions for allowing a tenure extend are not met. Considering proposal invalid.";
            "proposed_block_consensus_hash" => %block_ch,
            "signer_signature_hash" => %sighash,
            "extend_timestamp" => extend_at,
            "epoch_time" => now,
            "is_in_replay" => in_replay,
            "enough_time_passed" => enough_time_passed);
        return Err(RejectReason::InvalidTenureExtend);
    }
    Ok(())
}
