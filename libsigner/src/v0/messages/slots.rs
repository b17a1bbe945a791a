//! Where messages live in StackerDB: the signer slot kinds and the miner slots.

use std::fmt;

use crate::chain::QualifiedContractIdentifier;
use crate::define_u8_enum;

define_u8_enum! {
    /// The kind of message a signer writes, which is also the `X` of the signer StackerDB
    /// contract `signers-{cycle % 2}-X` that stores it.
    pub enum MessageSlotID {
        /// Block responses (and epoch 2.5 mock signatures).
        BlockResponse = 1,
        /// Signer state machine updates.
        StateMachineUpdate = 2,
        /// Block pre-commits, sent before a signer commits to a response.
        BlockPreCommit = 3,
    }
}

define_u8_enum! {
    /// The miner's slots in the `.miners` contract, relative to the start of its slot range.
    pub enum MinerSlotID {
        /// The miner's block proposal.
        BlockProposal = 0,
        /// The block the miner pushes once signed.
        BlockPushed = 1,
    }
}

impl MessageSlotID {
    /// The boot contract `signers-{reward_cycle % 2}-{id}` that stores messages of this kind.
    pub fn stacker_db_contract(
        &self,
        mainnet: bool,
        reward_cycle: u64,
    ) -> QualifiedContractIdentifier {
        signers_db_contract_id(reward_cycle, self.to_u32(), mainnet)
    }

    /// The slot kind as a `u32` (the contract index).
    pub fn to_u32(self) -> u32 {
        self.to_u8().into()
    }
}

/// The boot contract `signers-{reward_cycle % 2}-{message_id}`.
pub(crate) fn signers_db_contract_id(
    reward_cycle: u64,
    message_id: u32,
    mainnet: bool,
) -> QualifiedContractIdentifier {
    let name = format!("signers-{}-{message_id}", reward_cycle % 2);
    // The name is at most 21 characters of `[a-z0-9-]` starting with a letter, which is
    // always a valid contract name, so this cannot fail.
    QualifiedContractIdentifier::boot_contract(&name, mainnet)
        .expect("signers-N-M is a valid contract name")
}

impl fmt::Display for MessageSlotID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}({})", self.to_u8())
    }
}

impl crate::MessageSlotID for MessageSlotID {
    fn stacker_db_contract(&self, mainnet: bool, reward_cycle: u64) -> QualifiedContractIdentifier {
        MessageSlotID::stacker_db_contract(self, mainnet, reward_cycle)
    }

    fn all() -> &'static [Self] {
        MessageSlotID::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_contracts_alternate_by_reward_cycle_parity() {
        let id = MessageSlotID::StateMachineUpdate.stacker_db_contract(false, 7);
        assert_eq!(id.to_string(), "ST000000000000000000002AMW42H.signers-1-2");
        let id = MessageSlotID::BlockResponse.stacker_db_contract(true, 10);
        assert_eq!(id.to_string(), "SP000000000000000000002Q6VF78.signers-0-1");
    }

    #[test]
    fn slot_display_shows_name_and_number() {
        assert_eq!(
            MessageSlotID::BlockPreCommit.to_string(),
            "BlockPreCommit(3)"
        );
        assert_eq!(MinerSlotID::BlockPushed.to_u8(), 1);
    }

    #[test]
    fn signer_slots_per_user_covers_every_slot_kind() {
        const SIGNER_SLOTS_PER_USER: usize = 13;
        assert!(SIGNER_SLOTS_PER_USER >= MessageSlotID::ALL.len());
    }
}
