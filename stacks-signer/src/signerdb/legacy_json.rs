//! The reference's JSON-encoded rows (`blocks.block_info`, `state_update`), re-encoded in
//! their consensus form.

use rusqlite::Transaction;

use super::error::SignerDbError;

fn legacy_rows(tx: &Transaction<'_>, table: &str) -> Result<i64, SignerDbError> {
    Ok(
        tx.query_row(&format!("SELECT COUNT(*) FROM legacy_{table}"), [], |row| {
            row.get(0)
        })?,
    )
}

/// Converts `legacy_blocks` rows into `blocks`.
pub(crate) fn convert_blocks(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    let count = legacy_rows(tx, "blocks")?;
    if count > 0 {
        return Err(SignerDbError::Migration {
            to: super::SCHEMA_VERSION,
            reason: format!("{count} reference block rows cannot be converted yet"),
        });
    }
    Ok(())
}

/// Converts `legacy_signer_state_machine_updates` rows into `signer_state_machine_updates`.
pub(crate) fn convert_state_machine_updates(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    let count = legacy_rows(tx, "signer_state_machine_updates")?;
    if count > 0 {
        return Err(SignerDbError::Migration {
            to: super::SCHEMA_VERSION,
            reason: format!("{count} reference state machine updates cannot be converted yet"),
        });
    }
    Ok(())
}
