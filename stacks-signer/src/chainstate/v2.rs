//! Proposal checks against the signer set's agreed state (the global state of the
//! [`GlobalStateEvaluator`]). Dormant in the reference: only reached once signers holding 70%
//! of the weight support [`super::GLOBAL_SIGNER_STATE_ACTIVATION_VERSION`].

use std::time::Duration;

use libsigner::chain::{ConsensusHash, Hash160, NakamotoBlock, StacksAddress};
use libsigner::v0::messages::RejectReason;
use libsigner::v0::signer_state::{GlobalStateEvaluator, MinerState, SignerStateMachine};
use slog::{info, warn, Logger};

use super::v1::{check_no_accepted_block_in_tenure, check_tenure_extend, timed_out_since};
use super::{NodeRpc, ProposalEvalConfig, SignerChainstateError, SortitionData};
use crate::signerdb::SignerDb;

/// Whether the miner of tenure `consensus_hash` stayed silent longer than `timeout`, counted
/// from the time by which signers holding 70% of the weight had reported its burn block
/// (this signer's own receive time included); see [`super::v1::is_timed_out`] for the rest.
pub fn is_timed_out(
    consensus_hash: &ConsensusHash,
    db: &SignerDb,
    eval: &GlobalStateEvaluator,
    local_address: &StacksAddress,
    timeout: Duration,
    log: &Logger,
) -> Result<bool, SignerChainstateError> {
    if db.has_signed_block_in_tenure(consensus_hash)? {
        return Ok(false);
    }
    let Some(received) =
        db.get_burn_block_received_time_from_signers(eval, consensus_hash, local_address)?
    else {
        return Ok(false);
    };
    let last_activity = db
        .get_last_activity_time(consensus_hash)?
        .unwrap_or(received);
    timed_out_since(consensus_hash, last_activity, timeout, log)
}

/// The signer set's agreed state, as a view to check proposals against.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalStateView {
    /// The agreed state.
    pub signer_state: SignerStateMachine,
    /// The checks' configuration.
    pub config: ProposalEvalConfig,
}

impl GlobalStateView {
    /// Checks `block` against the agreed state, returning the first reason to reject it:
    /// the agreed miner and tenure, the miner key, the bitvec, the parent, and the
    /// tenure-extend rules. The parent-tenure choice is not checked here: the state machine
    /// already judged it when it chose the miner.
    pub fn check_proposal(
        &self,
        node: &dyn NodeRpc,
        db: &mut SignerDb,
        block: &NakamotoBlock,
        log: &Logger,
    ) -> Result<(), RejectReason> {
        let sighash = block.header.signer_signature_hash();
        let MinerState::ActiveMiner {
            current_miner_pkh,
            tenure_id,
            parent_tenure_id,
            ..
        } = &self.signer_state.current_miner
        else {
            info!(log, "No valid current miner. Considering invalid.";
                "block_height" => block.header.chain_length,
                "signer_signature_hash" => %sighash);
            return Err(RejectReason::InvalidMiner);
        };
        if &block.header.consensus_hash != tenure_id {
            info!(log, "Miner block proposal consensus hash does not match the current miner's tenure id. Considering invalid.";
                "block_height" => block.header.chain_length,
                "signer_signature_hash" => %sighash,
                "block_consensus_hash" => %block.header.consensus_hash,
                "active_miner_tenure_id" => %tenure_id,
                "active_miner_parent_tenure_id" => %parent_tenure_id);
            return Err(RejectReason::ConsensusHashMismatch {
                actual: block.header.consensus_hash,
                expected: *tenure_id,
            });
        }
        let Some(miner_pk) = block.header.recover_miner_pk() else {
            warn!(log, "Failed to recover miner pubkey";
                "signer_signature_hash" => %sighash,
                "consensus_hash" => %block.header.consensus_hash);
            return Err(RejectReason::IrrecoverablePubkeyHash);
        };
        let miner_pkh = Hash160::from_data(&miner_pk.to_bytes_compressed());
        if current_miner_pkh != &miner_pkh {
            warn!(log, "Miner block proposal pubkey does not match the winning pubkey hash for its sortition. Considering invalid.";
                "signer_signature_hash" => %sighash,
                "proposed_block_pubkey_hash" => %miner_pkh,
                "active_miner_pubkey_hash" => %current_miner_pkh);
            return Err(RejectReason::PubkeyHashMismatch);
        }
        if !block.header.pox_treatment.iter().all(|bit| bit) {
            warn!(log, "Miner block proposal has bitvec field which punishes in disagreement with signer. Considering invalid.";
                "signer_signature_hash" => %sighash);
            return Err(RejectReason::InvalidBitvec);
        }
        if let Some(tenure_change) = block.get_tenure_change_tx_payload() {
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
            check_no_accepted_block_in_tenure(block, db, log)?;
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
            tenure_id,
            db,
            node,
            &self.config,
            self.signer_state.tx_replay_set.is_some(),
            log,
        )
    }
}
