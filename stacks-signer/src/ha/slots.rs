//! StackerDB slot versions in the shared database: the last version this key wrote to each
//! slot, so that the instance that takes the lease over writes the next one (the node keeps
//! a chunk only if its version is above the slot's).

use super::store::{shared_error, SharedStore};
use crate::signerdb::SignerDbError;

impl SharedStore {
    /// The last version this key wrote to `slot_id`, if any instance recorded one.
    pub fn latest_slot_version(&self, slot_id: u32) -> Result<Option<u32>, SignerDbError> {
        self.with_client(|client| {
            let row = client
                .query_opt(
                    "SELECT slot_version FROM ha_slot_versions \
                     WHERE signer_key = $1 AND slot_id = $2",
                    &[&self.signer_key(), &i64::from(slot_id)],
                )
                .map_err(shared_error)?;
            row.map(|row| {
                let version: i64 = row.get(0);
                u32::try_from(version).map_err(|_| {
                    SignerDbError::corrupt(
                        "ha_slot_versions",
                        "slot_version",
                        format!("{version} is not a slot version"),
                    )
                })
            })
            .transpose()
        })
    }

    /// Records that `slot_version` was written to (or found in) `slot_id`: the shared
    /// version only moves forward.
    pub fn note_slot_version(&self, slot_id: u32, slot_version: u32) -> Result<(), SignerDbError> {
        self.with_client(|client| {
            client
                .execute(
                    "INSERT INTO ha_slot_versions (signer_key, slot_id, slot_version) \
                     VALUES ($1, $2, $3) ON CONFLICT (signer_key, slot_id) DO UPDATE SET \
                     slot_version = GREATEST(ha_slot_versions.slot_version, excluded.slot_version)",
                    &[
                        &self.signer_key(),
                        &i64::from(slot_id),
                        &i64::from(slot_version),
                    ],
                )
                .map_err(shared_error)?;
            Ok(())
        })
    }
}
