//! The last StackerDB slot version this signer wrote, per signer key and slot, so a restarted
//! signer writes the next version instead of a stale one.

use super::engine::sql_params;
use libsigner::chain::StacksPublicKey;

use super::sql::Cols;
use super::{SignerDb, SignerDbError};

impl SignerDb {
    /// The last version written to `slot_id` with key `public_key`, if any (the later of
    /// this database's and, for an active/standby pair, the shared record's).
    ///
    /// The key is identified by its hex form, which (as in the reference) depends on its
    /// compression flag.
    pub fn get_latest_chunk_version(
        &self,
        public_key: &StacksPublicKey,
        slot_id: u32,
    ) -> Result<Option<u32>, SignerDbError> {
        let local = self.sql().row(
            "SELECT slot_version FROM stackerdb_tracking WHERE public_key = ?1 AND slot_id = ?2",
            sql_params![public_key.to_hex(), slot_id],
            |row| Cols::new(row, "stackerdb_tracking").u32(0, "slot_version"),
        )?;
        match self.shared.as_ref().filter(|s| s.is_key(public_key)) {
            Some(shared) => Ok(local.max(shared.latest_slot_version(slot_id)?)),
            None => Ok(local),
        }
    }

    /// Records `slot_version` as the last version written to `slot_id` with `public_key`
    /// (in the shared record too, for an active/standby pair).
    pub fn set_latest_chunk_version(
        &mut self,
        public_key: &StacksPublicKey,
        slot_id: u32,
        slot_version: u32,
    ) -> Result<(), SignerDbError> {
        self.sql().exec(
            "INSERT INTO stackerdb_tracking (public_key, slot_id, slot_version) \
             VALUES (?1, ?2, ?3) \
             ON CONFLICT (public_key, slot_id) DO UPDATE SET slot_version = excluded.slot_version",
            sql_params![public_key.to_hex(), slot_id, slot_version],
        )?;
        if let Some(shared) = self.shared.as_ref().filter(|s| s.is_key(public_key)) {
            shared.note_slot_version(slot_id, slot_version)?;
        }
        Ok(())
    }
}
