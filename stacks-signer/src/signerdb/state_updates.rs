//! Peers' state-machine updates (the latest per signer and reward cycle) and the first time
//! each signer reported each burn block, from which the time the signer set agreed on a burn
//! block is derived.

use std::collections::HashMap;
use std::time::SystemTime;

use super::engine::sql_params;
use libsigner::chain::{ConsensusHash, StacksAddress};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::StateMachineUpdate;
use libsigner::v0::signer_state::GlobalStateEvaluator;

use super::sql::{system_time_secs, u64_to_sql, Cols};
use super::{SignerDb, SignerDbError};

const UPDATES: &str = "signer_state_machine_updates";

impl SignerDb {
    /// Stores `signer`'s latest state-machine update for `reward_cycle` (replacing the
    /// previous one), and records `received_time` as the time `signer` reported the update's
    /// burn block unless an earlier report of that burn block by `signer` is already kept.
    pub fn insert_state_machine_update(
        &mut self,
        reward_cycle: u64,
        signer: &StacksAddress,
        update: &StateMachineUpdate,
        received_time: &SystemTime,
    ) -> Result<(), SignerDbError> {
        let mut bytes = Vec::new();
        update
            .consensus_serialize(&mut bytes)
            .map_err(|e| SignerDbError::corrupt(UPDATES, "state_update", e))?;
        let burn_block = *update.content.burn_block_view().0;
        self.insert_state_machine_update_bytes(
            reward_cycle,
            signer,
            &bytes,
            &burn_block,
            received_time,
        )
    }

    /// The latest state-machine update of every signer for `reward_cycle`.
    pub fn get_signer_state_machine_updates(
        &self,
        reward_cycle: u64,
    ) -> Result<HashMap<StacksAddress, StateMachineUpdate>, SignerDbError> {
        self.get_signer_state_machine_update_bytes(reward_cycle)?
            .into_iter()
            .map(|(addr, bytes)| {
                let update = StateMachineUpdate::consensus_deserialize(&mut bytes.as_slice())
                    .map_err(|e| SignerDbError::corrupt(UPDATES, "state_update", e))?;
                Ok((addr, update))
            })
            .collect()
    }

    /// [`SignerDb::get_burn_block_received_time_from_signers_weighted`] with the weights and
    /// agreement threshold of `eval`.
    pub fn get_burn_block_received_time_from_signers(
        &self,
        eval: &GlobalStateEvaluator,
        consensus_hash: &ConsensusHash,
        local_signer: &StacksAddress,
    ) -> Result<Option<u64>, SignerDbError> {
        self.get_burn_block_received_time_from_signers_weighted(
            &eval.address_weights,
            |weight| eval.reached_agreement(weight),
            consensus_hash,
            local_signer,
        )
    }

    /// Stores an already encoded state-machine update (see
    /// [`SignerDb::insert_state_machine_update`]); `burn_block` is the update's burn block.
    pub(crate) fn insert_state_machine_update_bytes(
        &mut self,
        reward_cycle: u64,
        signer: &StacksAddress,
        update: &[u8],
        burn_block: &ConsensusHash,
        received_time: &SystemTime,
    ) -> Result<(), SignerDbError> {
        let cycle = u64_to_sql("reward_cycle", reward_cycle)?;
        let received = u64_to_sql("received_time", system_time_secs(received_time)?)?;
        let addr = signer.to_string();
        self.write(|tx| {
            tx.exec(
                "INSERT INTO signer_state_machine_updates \
                 (signer_addr, reward_cycle, state_update, received_time) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (signer_addr, reward_cycle) DO UPDATE \
                 SET state_update = excluded.state_update, received_time = excluded.received_time",
                sql_params![addr, cycle, update, received],
            )?;
            tx.exec(
                "INSERT INTO burn_block_updates_received_times \
                 (signer_addr, burn_block_consensus_hash, received_time) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
                sql_params![addr, burn_block.as_bytes(), received],
            )?;
            Ok(())
        })
    }

    /// The latest state-machine update (consensus bytes) of every signer for `reward_cycle`.
    fn get_signer_state_machine_update_bytes(
        &self,
        reward_cycle: u64,
    ) -> Result<HashMap<StacksAddress, Vec<u8>>, SignerDbError> {
        let cycle = u64_to_sql("reward_cycle", reward_cycle)?;
        let mut out = HashMap::new();
        self.sql().for_each(
            "SELECT signer_addr, state_update FROM signer_state_machine_updates \
             WHERE reward_cycle = ?1",
            sql_params![cycle],
            |row| {
                let cols = Cols::new(row, UPDATES);
                out.insert(
                    cols.address(0, "signer_addr")?,
                    cols.blob(1, "state_update")?.to_vec(),
                );
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Forgets every stored state-machine update.
    pub fn clear_state_machine_updates(&mut self) -> Result<(), SignerDbError> {
        self.sql()
            .exec("DELETE FROM signer_state_machine_updates", &[])?;
        Ok(())
    }

    /// The time at which signers holding an agreeing weight had seen burn block
    /// `consensus_hash`, counting this signer (`local_signer`, with its own receive time of
    /// the burn block, if it has it) and every peer's first report.
    ///
    /// Reports are taken in time order, accumulating `weights` (an address without a weight
    /// counts 0); the first time at which `reached_agreement(accumulated)` holds is returned.
    pub fn get_burn_block_received_time_from_signers_weighted(
        &self,
        weights: &HashMap<StacksAddress, u32>,
        reached_agreement: impl Fn(u32) -> bool,
        consensus_hash: &ConsensusHash,
        local_signer: &StacksAddress,
    ) -> Result<Option<u64>, SignerDbError> {
        let mut entries = Vec::new();
        if let Some(local_time) = self.get_burn_block_receive_time_ch(consensus_hash)? {
            entries.push((*local_signer, local_time));
        }
        self.sql().for_each(
            "SELECT signer_addr, received_time FROM burn_block_updates_received_times \
             WHERE burn_block_consensus_hash = ?1",
            sql_params![consensus_hash.as_bytes()],
            |row| {
                let cols = Cols::new(row, "burn_block_updates_received_times");
                entries.push((
                    cols.address(0, "signer_addr")?,
                    cols.u64(1, "received_time")?,
                ));
                Ok(())
            },
        )?;
        entries.sort_by_key(|(_, time)| *time);
        let mut weight = 0u32;
        for (addr, time) in entries {
            weight = weight.saturating_add(weights.get(&addr).copied().unwrap_or(0));
            if reached_agreement(weight) {
                return Ok(Some(time));
            }
        }
        Ok(None)
    }
}
