//! Whether, and how, this signer takes part in a reward cycle: the signer set from the node,
//! this signer's place in it and its StackerDB slot.

use libsigner::SignerEntries;
use slog::{error, info, warn, Logger};

use crate::client::{ClientError, StacksClient};
use crate::config::{GlobalConfig, SignerConfig, SignerConfigMode};

/// Why the configuration of a reward cycle could not be determined (yet).
#[derive(Debug, thiserror::Error)]
pub enum ConfigurationError {
    /// The node could not answer.
    #[error("{0}")]
    ClientError(#[from] ClientError),
    /// The `.signers` contract does not hold the cycle's signer set yet.
    #[error("The stackerdb config is not yet updated")]
    StackerDBNotUpdated,
    /// `dry_run` is set but this key is registered: it must sign, not observe.
    #[error("The signer binary is configured as dry-run, but is also registered for this cycle")]
    DryRunStackerIsRegistered,
    /// The reward set the node returned cannot be parsed.
    #[error("malformed reward set: {0}")]
    MalformedRewardSet(String),
}

/// The configuration of this signer for `reward_cycle`: `Ok(None)` when it does not take part
/// (no signer set, or this key is not in it), an error when that cannot be known yet.
pub fn signer_config_for_cycle(
    config: &GlobalConfig,
    stacks_client: &StacksClient,
    reward_cycle: u64,
    logger: &Logger,
) -> Result<Option<SignerConfig>, ConfigurationError> {
    let mainnet = config.network.is_mainnet();
    let Some(signers) = stacks_client.get_reward_set_signers(reward_cycle)? else {
        warn!(
            logger,
            "No reward set signers found for reward cycle {reward_cycle}."
        );
        return Ok(None);
    };
    if signers.is_empty() {
        warn!(
            logger,
            "No registered signers found for reward cycle {reward_cycle}."
        );
        return Ok(None);
    }
    let entries = SignerEntries::parse(mainnet, &signers)
        .map_err(|e| ConfigurationError::MalformedRewardSet(e.to_string()))?;

    let last_set_cycle = stacks_client
        .get_last_set_cycle()
        .map_err(|_| ConfigurationError::StackerDBNotUpdated)?;
    if last_set_cycle < u128::from(reward_cycle) {
        warn!(
            logger,
            "Signer set for reward cycle {reward_cycle} is not yet written to .signers";
            "last_set_cycle" => last_set_cycle.to_string()
        );
        return Err(ConfigurationError::StackerDBNotUpdated);
    }

    let slots = stacks_client.get_parsed_signer_slots(reward_cycle)?;
    let address = stacks_client.get_signer_address();
    let slot = slots.get(address).copied();
    let signer_id = entries.signer_addr_to_id.get(address).copied();
    let mode = if config.dry_run {
        if slot.is_some() {
            error!(
                logger,
                "Signer {address} is registered for reward cycle {reward_cycle} but configured as dry-run"
            );
            return Err(ConfigurationError::DryRunStackerIsRegistered);
        }
        if signer_id.is_some() {
            warn!(
                logger,
                "Signer {address} is in the reward set of cycle {reward_cycle} but has no StackerDB slot; not running dry-run for it"
            );
            return Ok(None);
        }
        SignerConfigMode::DryRun
    } else {
        let Some(signer_slot_id) = slot else {
            warn!(
                logger,
                "Signer {address} was not found in stacker db. Must not be registered for this reward cycle {reward_cycle}."
            );
            return Ok(None);
        };
        let Some(signer_id) = signer_id else {
            warn!(
                logger,
                "Signer {address} was found in stacker db but not the reward set for reward cycle {reward_cycle}."
            );
            return Ok(None);
        };
        info!(
            logger,
            "Signer #{signer_id} ({address}) is registered for reward cycle {reward_cycle}."
        );
        SignerConfigMode::Normal {
            signer_id,
            signer_slot_id,
        }
    };
    let mut slot_ids: Vec<_> = slots.into_values().collect();
    slot_ids.sort();
    Ok(Some(SignerConfig::new(
        config,
        reward_cycle,
        mode,
        entries,
        slot_ids,
    )))
}
