//! Taking over a database written by the reference signer (schema 18), so an operator can
//! swap signers without losing the record of what their key already voted.
//!
//! The reference tables are renamed aside, the current schema created, the data copied with
//! hex text turned into bytes, and the old tables dropped — all inside the migration's single
//! transaction. A value that cannot be converted fails the whole migration (the file is left
//! untouched) rather than being dropped silently. This signer's own votes, which the reference
//! keeps only in its block rows, are read from the converted blocks into `own_votes` (with the
//! limits listed at [`super::schema::backfill_own_votes`]). Deliberately not carried over: the
//! unused `signer_states` table.

use rusqlite::Transaction;

use super::error::SignerDbError;
use super::schema::CURRENT_SCHEMA;

/// The reference tables this conversion reads (all of schema 18 except `db_config`).
const REFERENCE_TABLES: &[&str] = &[
    "blocks",
    "burn_blocks",
    "signer_states",
    "block_signatures",
    "block_rejection_signer_addrs",
    "block_validations_pending",
    "tenure_activity",
    "signer_state_machine_updates",
    "stackerdb_tracking",
    "block_validated_by_replay_txs",
    "burn_block_updates_received_times",
    "block_pre_commits",
];

/// Copies of the reference data whose only change is hex text to bytes.
const COPY_STATEMENTS: &[&str] = &[
    "INSERT INTO burn_blocks (consensus_hash, block_hash, block_height, received_time, \
       parent_burn_block_hash) \
     SELECT unhex(consensus_hash), unhex(block_hash), block_height, received_time, \
       unhex(parent_burn_block_hash) FROM legacy_burn_blocks",
    // The reference stores each signature as a JSON string: "\"<hex>\"".
    "INSERT INTO block_signatures (signer_signature_hash, signer_addr, signature) \
     SELECT unhex(signer_signature_hash), signer_addr, unhex(trim(signature, '\"')) \
     FROM legacy_block_signatures",
    "INSERT INTO block_rejection_signer_addrs (signer_signature_hash, signer_addr, reject_code) \
     SELECT unhex(signer_signature_hash), signer_addr, reject_code \
     FROM legacy_block_rejection_signer_addrs",
    "INSERT INTO block_pre_commits (signer_signature_hash, signer_addr) \
     SELECT unhex(signer_signature_hash), signer_addr FROM legacy_block_pre_commits",
    "INSERT INTO block_validations_pending (signer_signature_hash, added_time) \
     SELECT unhex(signer_signature_hash), added_time FROM legacy_block_validations_pending",
    "INSERT INTO block_validated_by_replay_txs \
       (signer_signature_hash, replay_tx_hash, replay_tx_exhausted) \
     SELECT unhex(signer_signature_hash), replay_tx_hash, replay_tx_exhausted \
     FROM legacy_block_validated_by_replay_txs",
    "INSERT INTO tenure_activity (consensus_hash, last_activity_time) \
     SELECT unhex(consensus_hash), last_activity_time FROM legacy_tenure_activity",
    "INSERT INTO burn_block_updates_received_times \
       (signer_addr, burn_block_consensus_hash, received_time) \
     SELECT signer_addr, unhex(burn_block_consensus_hash), received_time \
     FROM legacy_burn_block_updates_received_times",
    "INSERT INTO stackerdb_tracking (public_key, slot_id, slot_version) \
     SELECT public_key, slot_id, slot_version FROM legacy_stackerdb_tracking",
];

/// Schema 18 (reference) → current ([`super::SCHEMA_VERSION`]).
pub(crate) fn convert_reference_v18(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    for table in REFERENCE_TABLES {
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |row| row.get(0),
        )?;
        if !exists {
            return Err(SignerDbError::Migration {
                to: super::SCHEMA_VERSION,
                reason: format!("the reference schema 18 table {table} is missing"),
            });
        }
    }
    // The reference's index names overlap ours; drop them before the renamed tables would
    // carry them into a name clash.
    let indexes: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")?;
        let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
        names.collect::<Result<_, _>>()?
    };
    for index in indexes {
        tx.execute_batch(&format!("DROP INDEX \"{}\";", index.replace('"', "\"\"")))?;
    }
    for table in REFERENCE_TABLES {
        tx.execute_batch(&format!("ALTER TABLE {table} RENAME TO legacy_{table};"))?;
    }
    tx.execute_batch("ALTER TABLE db_config RENAME TO legacy_db_config;")?;
    tx.execute_batch(CURRENT_SCHEMA)?;
    tx.execute_batch("INSERT INTO db_config (version) SELECT version FROM legacy_db_config;")?;
    for statement in COPY_STATEMENTS {
        tx.execute_batch(statement)?;
    }
    check_signature_lengths(tx)?;
    super::legacy_json::convert_blocks(tx)?;
    super::schema::backfill_own_votes(tx)?;
    super::legacy_json::convert_state_machine_updates(tx)?;
    for table in REFERENCE_TABLES {
        tx.execute_batch(&format!("DROP TABLE legacy_{table};"))?;
    }
    tx.execute_batch("DROP TABLE legacy_db_config;")?;
    Ok(())
}

fn check_signature_lengths(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    let bad: i64 = tx.query_row(
        "SELECT COUNT(*) FROM block_signatures WHERE length(signature) != 65",
        [],
        |row| row.get(0),
    )?;
    if bad > 0 {
        return Err(SignerDbError::corrupt(
            "block_signatures",
            "signature",
            format!("{bad} reference signatures are not 65 bytes of hex"),
        ));
    }
    Ok(())
}
