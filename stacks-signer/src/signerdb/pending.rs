//! Blocks waiting for a validation slot at the node (oldest first), and the record of blocks
//! validated against a transaction replay set.

use super::engine::sql_params;
use libsigner::chain::Sha512Trunc256Sum;

use super::sql::{u64_to_sql, Cols};
use super::{BlockValidatedByReplaySet, PendingBlockValidation, SignerDb, SignerDbError};

const PENDING: &str = "block_validations_pending";

impl SignerDb {
    /// Queues the block for validation. Queuing the same block twice is
    /// [`SignerDbError::DuplicatePendingValidation`] (the reference's plain INSERT fails the
    /// same way; callers log it).
    pub fn insert_pending_block_validation(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        added_time: u64,
    ) -> Result<(), SignerDbError> {
        let added = u64_to_sql("added_time", added_time)?;
        let inserted = self.sql().exec(
            "INSERT INTO block_validations_pending (signer_signature_hash, added_time) \
             VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            sql_params![signer_signature_hash.as_bytes(), added],
        )?;
        if inserted == 0 {
            return Err(SignerDbError::DuplicatePendingValidation(
                signer_signature_hash.to_string(),
            ));
        }
        Ok(())
    }

    /// Removes and returns the oldest queued block (by `added_time`).
    pub fn get_and_remove_pending_block_validation(
        &mut self,
    ) -> Result<Option<PendingBlockValidation>, SignerDbError> {
        self.write(|tx| {
            tx.row(
                "DELETE FROM block_validations_pending WHERE signer_signature_hash = \
                 (SELECT signer_signature_hash FROM block_validations_pending \
                  ORDER BY added_time ASC LIMIT 1) \
                 RETURNING signer_signature_hash, added_time",
                &[],
                |row| read_pending(&Cols::new(row, PENDING)),
            )
        })
    }

    /// Removes and returns the oldest queued block of reward cycle `reward_cycle` (blocks of
    /// other cycles, and queued hashes of blocks not stored, stay queued).
    ///
    /// The signers of two reward cycles share the queue; a signer that took another cycle's
    /// block would submit it and then wait for an answer it never handles (a signer ignores
    /// the node's answers until its cycle starts) until its validation timeout.
    pub fn get_and_remove_pending_block_validation_of_cycle(
        &mut self,
        reward_cycle: u64,
    ) -> Result<Option<PendingBlockValidation>, SignerDbError> {
        let cycle = u64_to_sql("reward_cycle", reward_cycle)?;
        self.write(|tx| {
            tx.row(
                "DELETE FROM block_validations_pending WHERE signer_signature_hash = \
                 (SELECT p.signer_signature_hash FROM block_validations_pending p \
                  JOIN blocks b ON b.signer_signature_hash = p.signer_signature_hash \
                  WHERE b.reward_cycle = ?1 \
                  ORDER BY p.added_time ASC LIMIT 1) \
                 RETURNING signer_signature_hash, added_time",
                sql_params![cycle],
                |row| read_pending(&Cols::new(row, PENDING)),
            )
        })
    }

    /// Removes the block from the validation queue (no-op if absent).
    pub fn remove_pending_block_validation(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<(), SignerDbError> {
        self.sql().exec(
            "DELETE FROM block_validations_pending WHERE signer_signature_hash = ?1",
            sql_params![signer_signature_hash.as_bytes()],
        )?;
        Ok(())
    }

    /// Whether the block is queued for validation.
    pub fn has_pending_block_validation(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<bool, SignerDbError> {
        self.sql().exists(
            "SELECT 1 FROM block_validations_pending WHERE signer_signature_hash = ?1",
            sql_params![signer_signature_hash.as_bytes()],
        )
    }

    /// Every queued block, oldest first.
    pub fn get_all_pending_block_validations(
        &self,
    ) -> Result<Vec<PendingBlockValidation>, SignerDbError> {
        self.sql().rows(
            "SELECT signer_signature_hash, added_time FROM block_validations_pending \
             ORDER BY added_time ASC",
            &[],
            |row| read_pending(&Cols::new(row, PENDING)),
        )
    }

    /// Records that the block was validated against replay set `replay_tx_hash`. A second
    /// record of the same pair is an error, as in the reference.
    pub fn insert_block_validated_by_replay_tx(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        replay_tx_hash: u64,
        replay_tx_exhausted: bool,
    ) -> Result<(), SignerDbError> {
        self.sql().exec(
            "INSERT INTO block_validated_by_replay_txs \
             (signer_signature_hash, replay_tx_hash, replay_tx_exhausted) VALUES (?1, ?2, ?3)",
            sql_params![
                signer_signature_hash.as_bytes(),
                replay_tx_hash.to_string(),
                replay_tx_exhausted
            ],
        )?;
        Ok(())
    }

    /// Whether the block was validated against replay set `replay_tx_hash`, and how.
    pub fn get_was_block_validated_by_replay_tx(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
        replay_tx_hash: u64,
    ) -> Result<Option<BlockValidatedByReplaySet>, SignerDbError> {
        self.sql().row(
            "SELECT replay_tx_hash, replay_tx_exhausted FROM block_validated_by_replay_txs \
             WHERE signer_signature_hash = ?1 AND replay_tx_hash = ?2",
            sql_params![signer_signature_hash.as_bytes(), replay_tx_hash.to_string()],
            |row| {
                let cols = Cols::new(row, "block_validated_by_replay_txs");
                Ok(BlockValidatedByReplaySet {
                    replay_tx_hash: cols.text(0, "replay_tx_hash")?.to_string(),
                    replay_tx_exhausted: cols.bool(1, "replay_tx_exhausted")?,
                })
            },
        )
    }
}

fn read_pending(cols: &Cols<'_>) -> Result<PendingBlockValidation, SignerDbError> {
    Ok(PendingBlockValidation {
        signer_signature_hash: Sha512Trunc256Sum::from(
            cols.array::<32>(0, "signer_signature_hash")?,
        ),
        added_time: cols.u64(1, "added_time")?,
    })
}
