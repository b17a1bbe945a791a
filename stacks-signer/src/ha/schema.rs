//! The shared database's tables, created and migrated by whichever instance starts first
//! (under a transaction-scoped advisory lock, so two instances starting at once do not race).

use postgres::Client;

use super::store::shared_error;
use crate::signerdb::SignerDbError;

/// The schema version this build writes.
pub const HA_SCHEMA_VERSION: i32 = 1;

/// The advisory lock key migrations hold (an arbitrary constant: "SSHA" in ASCII).
const MIGRATION_LOCK: i64 = 0x5353_4841;

/// Each version's statements; version `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: lease, own votes, the per-height guard, who rejected what, the pruning floor, slot
    // versions.
    "CREATE TABLE ha_lease (
        signer_key BYTEA PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        term BIGINT NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE ha_own_votes (
        signer_key BYTEA NOT NULL,
        signer_signature_hash BYTEA NOT NULL,
        reward_cycle BIGINT NOT NULL,
        consensus_hash BYTEA NOT NULL,
        stacks_height BIGINT NOT NULL,
        pre_committed_at BIGINT,
        signed_at BIGINT,
        rejected_at BIGINT,
        reject_reason TEXT,
        recorded_by TEXT NOT NULL,
        PRIMARY KEY (signer_key, signer_signature_hash),
        CHECK (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL OR rejected_at IS NOT NULL)
    );
    CREATE INDEX ha_own_votes_by_height ON ha_own_votes (signer_key, consensus_hash, stacks_height);
    CREATE TABLE ha_favourable_blocks (
        signer_key BYTEA NOT NULL,
        reward_cycle BIGINT NOT NULL,
        consensus_hash BYTEA NOT NULL,
        stacks_height BIGINT NOT NULL,
        seq INTEGER NOT NULL,
        signer_signature_hash BYTEA NOT NULL,
        PRIMARY KEY (signer_key, consensus_hash, stacks_height, seq),
        UNIQUE (signer_key, signer_signature_hash)
    );
    CREATE TABLE ha_rejections (
        signer_key BYTEA NOT NULL,
        reward_cycle BIGINT NOT NULL,
        signer_signature_hash BYTEA NOT NULL,
        instance TEXT NOT NULL,
        PRIMARY KEY (signer_key, signer_signature_hash, instance)
    );
    CREATE TABLE ha_prune_floor (
        signer_key BYTEA PRIMARY KEY,
        min_reward_cycle BIGINT NOT NULL
    );
    CREATE TABLE ha_slot_versions (
        signer_key BYTEA NOT NULL,
        slot_id BIGINT NOT NULL,
        slot_version BIGINT NOT NULL,
        PRIMARY KEY (signer_key, slot_id)
    );",
];

/// Brings the shared database to [`HA_SCHEMA_VERSION`]; refuses one written by a newer build.
pub fn migrate(client: &mut Client) -> Result<i32, SignerDbError> {
    let mut tx = client.transaction().map_err(shared_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(shared_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ha_schema (version INTEGER NOT NULL)")
        .map_err(shared_error)?;
    let found: Option<i32> = tx
        .query_opt("SELECT max(version) FROM ha_schema", &[])
        .map_err(shared_error)?
        .and_then(|row| row.get(0));
    let found = found.unwrap_or(0);
    if found > HA_SCHEMA_VERSION {
        return Err(SignerDbError::Shared(format!(
            "the shared database is at schema version {found}, newer than this build's \
             {HA_SCHEMA_VERSION}: upgrade this signer"
        )));
    }
    for (index, statements) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(statements).map_err(shared_error)?;
        let version = index as i32 + 1;
        tx.execute("DELETE FROM ha_schema", &[])
            .map_err(shared_error)?;
        tx.execute("INSERT INTO ha_schema (version) VALUES ($1)", &[&version])
            .map_err(shared_error)?;
    }
    tx.commit().map_err(shared_error)?;
    Ok(found)
}
