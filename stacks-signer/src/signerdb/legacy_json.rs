//! The reference's JSON-encoded rows (`blocks.block_info`, `state_update`), re-encoded in
//! their consensus form.

use rusqlite::Transaction;

use super::engine::{Row, Sql};
use super::error::SignerDbError;
use super::sql::Cols;
use super::BlockInfo;
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::StateMachineUpdate;

/// Converts `legacy_blocks` rows (`block_info` JSON + `broadcasted`) into `blocks`.
pub(crate) fn convert_blocks(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    let mut stmt = tx.prepare("SELECT block_info, broadcasted FROM legacy_blocks")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let row = Row::Sqlite(row);
        let cols = Cols::new(&row, "blocks");
        let json = cols.text(0, "block_info")?;
        let info: BlockInfo = serde_json::from_str(json)
            .map_err(|e| SignerDbError::corrupt("blocks", "block_info", e))?;
        info.to_row()?.upsert(Sql::Sqlite(tx))?;
        if let Some(broadcasted) = cols.opt_u64(1, "broadcasted")? {
            tx.execute(
                "UPDATE blocks SET broadcasted = ?1 WHERE signer_signature_hash = ?2",
                rusqlite::params![
                    super::sql::u64_to_sql("broadcasted", broadcasted)?,
                    info.signer_signature_hash().as_bytes()
                ],
            )?;
        }
    }
    Ok(())
}

/// Converts `legacy_signer_state_machine_updates` rows (`state_update` JSON) into
/// `signer_state_machine_updates`.
pub(crate) fn convert_state_machine_updates(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    let table = "signer_state_machine_updates";
    let mut stmt = tx.prepare(
        "SELECT signer_addr, reward_cycle, state_update, received_time \
         FROM legacy_signer_state_machine_updates",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let row = Row::Sqlite(row);
        let cols = Cols::new(&row, table);
        let addr = cols.address(0, "signer_addr")?;
        let cycle = cols.u64(1, "reward_cycle")?;
        let update: StateMachineUpdate = serde_json::from_str(cols.text(2, "state_update")?)
            .map_err(|e| SignerDbError::corrupt(table, "state_update", e))?;
        let received = cols.u64(3, "received_time")?;
        let mut bytes = Vec::new();
        update
            .consensus_serialize(&mut bytes)
            .map_err(|e| SignerDbError::corrupt(table, "state_update", e))?;
        tx.execute(
            "INSERT INTO signer_state_machine_updates \
             (signer_addr, reward_cycle, state_update, received_time) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                addr.to_string(),
                super::sql::u64_to_sql("reward_cycle", cycle)?,
                bytes,
                super::sql::u64_to_sql("received_time", received)?
            ],
        )?;
    }
    Ok(())
}
