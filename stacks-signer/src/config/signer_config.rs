//! The configuration of one signer instance: the global configuration narrowed to one reward
//! cycle, with that cycle's signer set and this signer's place in it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use libsigner::chain::StacksPrivateKey;
use libsigner::SignerEntries;

use super::GlobalConfig;
use crate::client::SignerSlotID;

/// How a signer instance takes part in its reward cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerConfigMode {
    /// Observes and decides, but publishes nothing (`dry_run = true`, and not registered).
    DryRun,
    /// A registered signer: it votes and writes to its StackerDB slot.
    Normal {
        /// Index of this signer in the cycle's reward set.
        signer_id: u32,
        /// Index of this signer's slot in the `.signers` StackerDB contracts.
        signer_slot_id: SignerSlotID,
    },
}

impl fmt::Display for SignerConfigMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerConfigMode::DryRun => f.write_str("Dry-Run signer"),
            SignerConfigMode::Normal { signer_id, .. } => write!(f, "signer #{signer_id}"),
        }
    }
}

/// Everything one signer instance needs for one reward cycle. Built by the run loop from the
/// [`GlobalConfig`] and what the node reports for the cycle.
#[derive(Clone)]
pub struct SignerConfig {
    /// The reward cycle this instance signs for.
    pub reward_cycle: u64,
    /// How this instance takes part (dry run, or its signer id and slot).
    pub signer_mode: SignerConfigMode,
    /// The cycle's signer set (ids, keys, addresses, weights).
    pub signer_entries: SignerEntries,
    /// The StackerDB slot of every signer of the cycle.
    pub signer_slot_ids: Vec<SignerSlotID>,
    /// The signer's key.
    pub stacks_private_key: StacksPrivateKey,
    /// Whether the network is mainnet.
    pub mainnet: bool,
    /// `host:port` of the node's RPC interface.
    pub node_host: String,
    /// The signer's database.
    pub db_path: PathBuf,
    /// StackerDB socket timeout.
    pub stackerdb_timeout: Duration,
    /// Window after a burn block in which a new miner's first proposal may arrive.
    pub first_proposal_burn_block_timing: Duration,
    /// How long to wait for a block proposal before the miner is considered invalid.
    pub block_proposal_timeout: Duration,
    /// How long after the last block of a tenure it may still be extended.
    pub tenure_last_block_proposal_timeout: Duration,
    /// How long to wait for the node to validate a proposal.
    pub block_proposal_validation_timeout: Duration,
    /// Idle time before a time-based tenure extend is allowed.
    pub tenure_idle_timeout: Duration,
    /// Idle time before a read-count tenure extend is allowed.
    pub read_count_idle_timeout: Duration,
    /// Buffer added to the tenure idle timeout.
    pub tenure_idle_timeout_buffer: Duration,
    /// Maximum age of a block proposal, in seconds.
    pub block_proposal_max_age_secs: u64,
    /// Time within which a reorg attempt must show activity.
    pub reorg_attempts_activity_timeout: Duration,
    /// How long to wait for a proposal's parent block.
    pub proposal_wait_for_parent_time: Duration,
    /// Validate proposals against the transaction replay set.
    pub validate_with_replay_tx: bool,
    /// Blocks after a fork before the replay set is reset.
    pub reset_replay_set_after_fork_blocks: u64,
    /// Time before capitulating to the other signers' miner view.
    pub capitulate_miner_view_timeout: Duration,
}

impl SignerConfig {
    /// The configuration of the instance for `reward_cycle`, copying the global settings.
    pub fn new(
        global: &GlobalConfig,
        reward_cycle: u64,
        signer_mode: SignerConfigMode,
        signer_entries: SignerEntries,
        signer_slot_ids: Vec<SignerSlotID>,
    ) -> Self {
        Self {
            reward_cycle,
            signer_mode,
            signer_entries,
            signer_slot_ids,
            stacks_private_key: global.stacks_private_key.clone(),
            mainnet: global.network.is_mainnet(),
            node_host: global.node_host.clone(),
            db_path: global.db_path.clone(),
            stackerdb_timeout: global.stackerdb_timeout,
            first_proposal_burn_block_timing: global.first_proposal_burn_block_timing,
            block_proposal_timeout: global.block_proposal_timeout,
            tenure_last_block_proposal_timeout: global.tenure_last_block_proposal_timeout,
            block_proposal_validation_timeout: global.block_proposal_validation_timeout,
            tenure_idle_timeout: global.tenure_idle_timeout,
            read_count_idle_timeout: global.read_count_idle_timeout,
            tenure_idle_timeout_buffer: global.tenure_idle_timeout_buffer,
            block_proposal_max_age_secs: global.block_proposal_max_age_secs,
            reorg_attempts_activity_timeout: global.reorg_attempts_activity_timeout,
            proposal_wait_for_parent_time: global.proposal_wait_for_parent_time,
            validate_with_replay_tx: global.validate_with_replay_tx,
            reset_replay_set_after_fork_blocks: global.reset_replay_set_after_fork_blocks,
            capitulate_miner_view_timeout: global.capitulate_miner_view_timeout,
        }
    }
}

impl fmt::Debug for SignerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerConfig")
            .field("reward_cycle", &self.reward_cycle)
            .field("signer_mode", &self.signer_mode)
            .field("signers", &self.signer_entries.signer_addresses.len())
            .field("signer_slot_ids", &self.signer_slot_ids)
            .field("mainnet", &self.mainnet)
            .field("node_host", &self.node_host)
            .field("db_path", &self.db_path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_displays_as_the_reference() {
        assert_eq!(SignerConfigMode::DryRun.to_string(), "Dry-Run signer");
        let normal = SignerConfigMode::Normal {
            signer_id: 3,
            signer_slot_id: SignerSlotID(5),
        };
        assert_eq!(normal.to_string(), "signer #3");
    }

    #[test]
    fn debug_never_prints_the_private_key() {
        let (global, _) = GlobalConfig::load_from_str(
            "stacks_private_key = \"6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01\"\n\
             node_host = \"127.0.0.1:20443\"\nendpoint = \"127.0.0.1:30000\"\n\
             network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \":memory:\"\n",
        )
        .expect("sample config loads");
        let config = SignerConfig::new(
            &global,
            7,
            SignerConfigMode::DryRun,
            SignerEntries::default(),
            vec![],
        );
        let printed = format!("{config:?}");
        assert!(!printed.contains("6a1fc1a3"), "{printed}");
        assert!(printed.contains("reward_cycle: 7"), "{printed}");
    }
}
