//! The database schema and the migrations that bring any supported file up to it.
//!
//! Version numbers continue the reference signer's (whose last schema is 18), so a database
//! written by this signer reads as "newer than supported" to the reference, which then
//! refuses to open it instead of misreading it. Every migration of one open runs in a single
//! `BEGIN IMMEDIATE` transaction: a failure anywhere leaves the file exactly as it was.
//!
//! Starting points:
//! * an empty file (version 0): the current schema is created directly;
//! * a database of the reference signer at its schema 18: converted in place (see
//!   [`super::legacy`]), keeping burn blocks, tenure activity, votes and slot versions, with
//!   this signer's own votes taken from its blocks (see [`backfill_own_votes`]);
//! * a database of this signer at schema 19 (before the `own_votes` table): the table is
//!   created and filled from the blocks the same way, then as from 20;
//! * a database of this signer at schema 20 (before the `prune_floor` table): the table is
//!   created empty (floor 0: the database was never pruned under the floor rule).
//!
//! History of this signer's versions: 19 is the reference's 18 re-encoded (bytes for hex,
//! consensus encodings for JSON); 20 adds `own_votes`, the record of what this signer
//! published (see [`super::own_vote`]); 21 adds `prune_floor`, the oldest reward cycle whose
//! votes pruning kept, below which no vote is recorded any more.
//!
//! The schema version lives in `db_config`; like the reference it may hold several rows and
//! the version is their maximum.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::error::SignerDbError;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 21;

/// The last schema version of the reference signer (tag signer-3.3.0.0.4.0).
pub const REFERENCE_SCHEMA_VERSION: u32 = 18;

/// The `own_votes` table (schema 20), as a literal so the current schema can include it.
macro_rules! own_votes_table {
    () => {
        r#"
CREATE TABLE own_votes (
    signer_signature_hash BLOB NOT NULL PRIMARY KEY,
    reward_cycle INTEGER NOT NULL,
    consensus_hash BLOB NOT NULL,
    stacks_height INTEGER NOT NULL,
    pre_committed_at INTEGER,
    signed_at INTEGER,
    rejected_at INTEGER,
    reject_reason TEXT,
    CHECK (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL OR rejected_at IS NOT NULL)
) STRICT;
CREATE INDEX own_votes_tenure_height ON own_votes (consensus_hash, stacks_height);
CREATE INDEX own_votes_reward_cycle ON own_votes (reward_cycle);
"#
    };
}

/// The `own_votes` table and its indexes: what schema 20 adds to 19.
const OWN_VOTES_TABLE: &str = own_votes_table!();

/// The `prune_floor` table (schema 21): at most one row, the highest `min_reward_cycle`
/// [`super::SignerDb::prune`] was given.
macro_rules! prune_floor_table {
    () => {
        r#"
CREATE TABLE prune_floor (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    min_reward_cycle INTEGER NOT NULL CHECK (min_reward_cycle >= 0)
) STRICT;
"#
    };
}

/// The `prune_floor` table: what schema 21 adds to 20.
const PRUNE_FLOOR_TABLE: &str = prune_floor_table!();

/// The current schema. Hashes are BLOBs of their exact size, addresses c32 TEXT, times
/// seconds since the Unix epoch; blocks are kept in their consensus encoding.
pub(crate) const CURRENT_SCHEMA: &str = concat!(
    r#"
CREATE TABLE db_config (
    version INTEGER NOT NULL
) STRICT;

CREATE TABLE blocks (
    signer_signature_hash BLOB NOT NULL PRIMARY KEY,
    reward_cycle INTEGER NOT NULL,
    burn_block_height INTEGER NOT NULL,
    consensus_hash BLOB NOT NULL,
    stacks_height INTEGER NOT NULL,
    block BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('Unprocessed', 'LocallyAccepted', 'LocallyRejected',
                                         'GloballyAccepted', 'GloballyRejected', 'PreCommitted')),
    valid INTEGER CHECK (valid IN (0, 1)),
    signed_over INTEGER NOT NULL CHECK (signed_over IN (0, 1)),
    proposed_time INTEGER NOT NULL,
    signed_self INTEGER,
    signed_group INTEGER,
    validation_time_ms INTEGER,
    broadcasted INTEGER,
    tenure_change INTEGER NOT NULL CHECK (tenure_change IN (0, 1)),
    tenure_change_cause INTEGER,
    vote BLOB,
    ext INTEGER NOT NULL DEFAULT 0,
    reject_reason TEXT
) STRICT;
CREATE INDEX blocks_tenure_signed_height ON blocks (consensus_hash, signed_over, stacks_height);
CREATE INDEX blocks_tenure_state_height ON blocks (consensus_hash, state, stacks_height DESC);
CREATE INDEX blocks_tenure_height ON blocks (consensus_hash, stacks_height);
CREATE INDEX blocks_state_height_signed_group ON blocks (state, stacks_height DESC, signed_group DESC);
CREATE INDEX blocks_reward_cycle_state ON blocks (reward_cycle, state);

CREATE TABLE burn_blocks (
    consensus_hash BLOB NOT NULL PRIMARY KEY,
    block_hash BLOB NOT NULL,
    block_height INTEGER NOT NULL,
    received_time INTEGER NOT NULL,
    parent_burn_block_hash BLOB
) STRICT;
CREATE INDEX burn_blocks_block_hash ON burn_blocks (block_hash);
CREATE INDEX burn_blocks_block_height ON burn_blocks (block_height);

CREATE TABLE block_signatures (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_rejection_signer_addrs (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    reject_code INTEGER NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_pre_commits (
    signer_signature_hash BLOB NOT NULL,
    signer_addr TEXT NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr)
) STRICT;

CREATE TABLE block_validations_pending (
    signer_signature_hash BLOB NOT NULL PRIMARY KEY,
    added_time INTEGER NOT NULL
) STRICT;
CREATE INDEX block_validations_pending_added_time ON block_validations_pending (added_time ASC);

CREATE TABLE block_validated_by_replay_txs (
    signer_signature_hash BLOB NOT NULL,
    replay_tx_hash TEXT NOT NULL,
    replay_tx_exhausted INTEGER NOT NULL CHECK (replay_tx_exhausted IN (0, 1)),
    PRIMARY KEY (signer_signature_hash, replay_tx_hash)
) STRICT;

CREATE TABLE tenure_activity (
    consensus_hash BLOB NOT NULL PRIMARY KEY,
    last_activity_time INTEGER NOT NULL
) STRICT;

CREATE TABLE signer_state_machine_updates (
    signer_addr TEXT NOT NULL,
    reward_cycle INTEGER NOT NULL,
    state_update BLOB NOT NULL,
    received_time INTEGER NOT NULL,
    PRIMARY KEY (signer_addr, reward_cycle)
) STRICT;
CREATE INDEX signer_state_machine_updates_reward_cycle ON signer_state_machine_updates (reward_cycle, received_time ASC);

CREATE TABLE burn_block_updates_received_times (
    signer_addr TEXT NOT NULL,
    burn_block_consensus_hash BLOB NOT NULL,
    received_time INTEGER NOT NULL,
    PRIMARY KEY (signer_addr, burn_block_consensus_hash)
) STRICT;
CREATE INDEX burn_block_updates_received_times_consensus_hash ON burn_block_updates_received_times (burn_block_consensus_hash, received_time ASC);

CREATE TABLE stackerdb_tracking (
    public_key TEXT NOT NULL,
    slot_id INTEGER NOT NULL,
    slot_version INTEGER NOT NULL,
    PRIMARY KEY (public_key, slot_id)
) STRICT;
"#,
    own_votes_table!(),
    prune_floor_table!()
);

/// One step of the migration chain.
struct Migration {
    /// The version the step starts from.
    from: u32,
    /// The version the step produces.
    to: u32,
    /// What the step does.
    apply: fn(&Transaction<'_>) -> Result<(), SignerDbError>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 0,
        to: SCHEMA_VERSION,
        apply: create_current_schema,
    },
    Migration {
        from: REFERENCE_SCHEMA_VERSION,
        to: SCHEMA_VERSION,
        apply: super::legacy::convert_reference_v18,
    },
    Migration {
        from: 19,
        to: 20,
        apply: add_own_votes,
    },
    Migration {
        from: 20,
        to: 21,
        apply: add_prune_floor,
    },
];

fn create_current_schema(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    tx.execute_batch(CURRENT_SCHEMA)?;
    Ok(())
}

/// Schema 19 → 20: the `own_votes` table, filled from the blocks.
fn add_own_votes(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    tx.execute_batch(OWN_VOTES_TABLE)?;
    backfill_own_votes(tx)
}

/// Schema 20 → 21: the `prune_floor` table, empty (nothing was pruned under the floor rule).
fn add_prune_floor(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    tx.execute_batch(PRUNE_FLOOR_TABLE)?;
    Ok(())
}

/// Fills `own_votes` from the `blocks` rows of a database that had no such record (this
/// signer's schema 19, or the reference's 18 once converted).
///
/// What a block row tells about this signer's vote, and what it cannot:
/// * `signed_self` set: this signer voted for the block at that time (the reference sets it
///   at its first pre-commit or signature and never clears it). A `PreCommitted` row is
///   recorded as a pre-commit; any other state as a signature — the row cannot tell whether
///   a signature followed the pre-commit, so a block that was only pre-committed and then
///   moved on (e.g. to a global state) reads as signed. Both count the same for the rules.
///   A rejection the reference sent after such a vote (its flips, v0-logic §11.3) is not
///   recorded: the record keeps the favourable vote, which is the one the rules protect.
/// * `LocallyRejected` with `valid = 0` and no `signed_self`: this signer rejected the block,
///   with the row's `reject_reason`; the time of the rejection is not stored, so the
///   proposal time (a lower bound) stands in for it.
/// * Nothing else is recorded. In particular a `GloballyRejected` row may hide this signer's
///   own rejection (the global state overwrote it), and a row whose `signed_self` was lost
///   (a stale copy written over it, v0-logic §11.5) hides its vote; such blocks read as never
///   voted on.
pub(crate) fn backfill_own_votes(tx: &Transaction<'_>) -> Result<(), SignerDbError> {
    tx.execute_batch(
        "INSERT INTO own_votes (signer_signature_hash, reward_cycle, consensus_hash, \
           stacks_height, pre_committed_at, signed_at, rejected_at, reject_reason) \
         SELECT signer_signature_hash, reward_cycle, consensus_hash, stacks_height, \
           CASE WHEN state = 'PreCommitted' THEN signed_self END, \
           CASE WHEN state != 'PreCommitted' THEN signed_self END, \
           NULL, NULL \
         FROM blocks WHERE signed_self IS NOT NULL;
         INSERT INTO own_votes (signer_signature_hash, reward_cycle, consensus_hash, \
           stacks_height, pre_committed_at, signed_at, rejected_at, reject_reason) \
         SELECT signer_signature_hash, reward_cycle, consensus_hash, stacks_height, \
           NULL, NULL, proposed_time, reject_reason \
         FROM blocks WHERE state = 'LocallyRejected' AND valid = 0 AND signed_self IS NULL;",
    )?;
    Ok(())
}

/// The schema version of the database behind `conn` (0 for an empty file).
pub(crate) fn schema_version(conn: &Connection) -> Result<u32, SignerDbError> {
    let has_config: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'db_config')",
        [],
        |row| row.get(0),
    )?;
    if !has_config {
        return Ok(0);
    }
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM db_config", [], |row| row.get(0))
        .optional()?
        .flatten();
    let version = version.unwrap_or(0);
    u32::try_from(version).map_err(|_| {
        SignerDbError::corrupt(
            "db_config",
            "version",
            format!("impossible version {version}"),
        )
    })
}

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction; returns the version it
/// had before.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, SignerDbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut version = schema_version(&tx)?;
    let found = version;
    if version > SCHEMA_VERSION {
        return Err(SignerDbError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    while version < SCHEMA_VERSION {
        let step = MIGRATIONS
            .iter()
            .find(|m| m.from == version)
            .ok_or_else(|| SignerDbError::SchemaUnsupported {
                path: path.to_path_buf(),
                found: version,
                reason: unsupported_reason(version),
            })?;
        (step.apply)(&tx).map_err(|e| match e {
            // A damaged file, not a failed step: reported as such by the opener.
            SignerDbError::Sqlite(ref sqlite)
                if matches!(
                    sqlite.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
            {
                e
            }
            // A step that already says which migration failed.
            SignerDbError::Migration { .. } => e,
            other => SignerDbError::Migration {
                to: step.to,
                reason: super::one_line(&other.to_string()),
            },
        })?;
        tx.execute(
            "INSERT INTO db_config (version) VALUES (?1)",
            [i64::from(step.to)],
        )?;
        let reached = schema_version(&tx)?;
        if reached != step.to {
            return Err(SignerDbError::Migration {
                to: step.to,
                reason: format!("the database reports version {reached} afterwards"),
            });
        }
        version = reached;
    }
    tx.commit()?;
    Ok(found)
}

/// A database without a schema version must be empty: any table, index, view or trigger in
/// it belongs to another program (or to a file damaged past recognition), and creating the
/// signer's tables next to them would silently adopt it. Only reads: run it before anything
/// writes to the file, so that a refused file is left as it was.
pub(crate) fn refuse_foreign_file(conn: &Connection, path: &Path) -> Result<(), SignerDbError> {
    if schema_version(conn)? != 0 {
        return Ok(());
    }
    const SHOWN: usize = 5;
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT ?1",
    )?;
    let names = stmt
        .query_map([SHOWN + 1], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Ok(());
    }
    let mut listed = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(", ...");
    }
    Err(SignerDbError::NotASignerDb {
        path: path.to_path_buf(),
        reason: format!("it has no db_config version but holds {listed}"),
    })
}

fn unsupported_reason(version: u32) -> String {
    if version < REFERENCE_SCHEMA_VERSION {
        format!(
            "it looks like a database of an older reference stacks-signer (schema {version}); \
             run the reference signer signer-3.3.0.0.4.0 on it once to bring it to schema \
             {REFERENCE_SCHEMA_VERSION}, or move it away to start afresh"
        )
    } else {
        format!("no migration starts from schema {version}")
    }
}
