//! Burn blocks this signer has seen, keyed by the consensus hash of their sortition.

use std::time::SystemTime;

use super::engine::sql_params;
use libsigner::chain::{BurnchainHeaderHash, ConsensusHash};

use super::sql::{system_time_secs, u64_to_sql, Cols};
use super::{BurnBlockInfo, SignerDb, SignerDbError};

const TABLE: &str = "burn_blocks";

impl SignerDb {
    /// Records a burn block (replacing any earlier record of the same consensus hash); the
    /// receive time is kept in whole seconds.
    pub fn insert_burn_block(
        &mut self,
        burn_hash: &BurnchainHeaderHash,
        consensus_hash: &ConsensusHash,
        burn_height: u64,
        received_time: &SystemTime,
        parent_burn_block_hash: &BurnchainHeaderHash,
    ) -> Result<(), SignerDbError> {
        let received = u64_to_sql("received_time", system_time_secs(received_time)?)?;
        let height = u64_to_sql("burn_block_height", burn_height)?;
        self.sql().exec(
            "INSERT INTO burn_blocks \
             (block_hash, consensus_hash, block_height, received_time, parent_burn_block_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (consensus_hash) DO UPDATE SET block_hash = excluded.block_hash, \
             block_height = excluded.block_height, received_time = excluded.received_time, \
             parent_burn_block_hash = excluded.parent_burn_block_hash",
            sql_params![
                burn_hash.as_bytes(),
                consensus_hash.as_bytes(),
                height,
                received,
                parent_burn_block_hash.as_bytes()
            ],
        )?;
        Ok(())
    }

    /// When this signer received the burn block with header hash `burn_hash` (seconds).
    pub fn get_burn_block_receive_time(
        &self,
        burn_hash: &BurnchainHeaderHash,
    ) -> Result<Option<u64>, SignerDbError> {
        self.burn_receive_time("block_hash", burn_hash.as_bytes())
    }

    /// When this signer received the burn block of sortition `consensus_hash` (seconds).
    pub fn get_burn_block_receive_time_ch(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<u64>, SignerDbError> {
        self.burn_receive_time("consensus_hash", consensus_hash.as_bytes())
    }

    fn burn_receive_time(
        &self,
        key_column: &'static str,
        key: &[u8],
    ) -> Result<Option<u64>, SignerDbError> {
        let sql = format!("SELECT received_time FROM burn_blocks WHERE {key_column} = ?1 LIMIT 1");
        self.sql().row(&sql, sql_params![key], |row| {
            Cols::new(row, TABLE).u64(0, "received_time")
        })
    }

    /// The burn block with header hash `burn_hash`; [`SignerDbError::NotFound`] if unknown.
    pub fn get_burn_block_by_hash(
        &self,
        burn_hash: &BurnchainHeaderHash,
    ) -> Result<BurnBlockInfo, SignerDbError> {
        self.burn_block_by("block_hash", burn_hash.as_bytes())?
            .ok_or_else(|| SignerDbError::NotFound(format!("burn block {burn_hash}")))
    }

    /// The burn block of sortition `consensus_hash`; [`SignerDbError::NotFound`] if unknown.
    pub fn get_burn_block_by_ch(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<BurnBlockInfo, SignerDbError> {
        self.burn_block_by("consensus_hash", consensus_hash.as_bytes())?
            .ok_or_else(|| {
                SignerDbError::NotFound(format!("burn block of consensus hash {consensus_hash}"))
            })
    }

    fn burn_block_by(
        &self,
        key_column: &'static str,
        key: &[u8],
    ) -> Result<Option<BurnBlockInfo>, SignerDbError> {
        let sql = format!(
            "SELECT block_hash, block_height, consensus_hash, parent_burn_block_hash \
             FROM burn_blocks WHERE {key_column} = ?1 LIMIT 1"
        );
        self.sql().row(&sql, sql_params![key], |row| {
            read_burn_block(&Cols::new(row, TABLE))
        })
    }
}

fn read_burn_block(cols: &Cols<'_>) -> Result<BurnBlockInfo, SignerDbError> {
    Ok(BurnBlockInfo {
        block_hash: BurnchainHeaderHash::from(cols.array::<32>(0, "block_hash")?),
        block_height: cols.u64(1, "block_height")?,
        consensus_hash: ConsensusHash::from(cols.array::<20>(2, "consensus_hash")?),
        parent_burn_block_hash: BurnchainHeaderHash::from(
            cols.array::<32>(3, "parent_burn_block_hash")?,
        ),
    })
}
