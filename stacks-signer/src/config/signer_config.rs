//! The configuration of one signer instance: one reward cycle's signer set and this signer's
//! place in it, next to the process's global configuration.

use std::fmt;

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

/// Everything one signer instance needs for one reward cycle: the cycle's signer set and this
/// signer's place in it, with the process's [`GlobalConfig`] (key, node, database, timeouts).
/// Built by the run loop from what the node reports for the cycle.
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
    /// The process's configuration.
    pub global: GlobalConfig,
}

impl SignerConfig {
    /// The configuration of the instance for `reward_cycle`.
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
            global: global.clone(),
        }
    }

    /// Whether the network is mainnet.
    pub fn mainnet(&self) -> bool {
        self.global.network.is_mainnet()
    }
}

impl fmt::Debug for SignerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerConfig")
            .field("reward_cycle", &self.reward_cycle)
            .field("signer_mode", &self.signer_mode)
            .field("signers", &self.signer_entries.signer_addresses.len())
            .field("signer_slot_ids", &self.signer_slot_ids)
            .field("mainnet", &self.mainnet())
            .field("node_host", &self.global.node_host)
            .field("db_path", &self.global.db_path)
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
