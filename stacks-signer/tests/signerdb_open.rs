//! Opening the signer database: creation, reopening, the exclusive lock, schema versions.

mod signerdb_support;

use rusqlite::Connection;
use signerdb_support::*;
use stacks_signer::signerdb::{SignerDb, SignerDbError, REFERENCE_SCHEMA_VERSION, SCHEMA_VERSION};

const EXPECTED_TABLES: &[&str] = &[
    "block_pre_commits",
    "block_rejection_signer_addrs",
    "block_signatures",
    "block_validated_by_replay_txs",
    "block_validations_pending",
    "blocks",
    "burn_block_updates_received_times",
    "burn_blocks",
    "db_config",
    "own_votes",
    "prune_floor",
    "signer_state_machine_updates",
    "stackerdb_tracking",
    "tenure_activity",
];

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

#[test]
fn an_empty_file_is_created_at_the_current_schema_version() {
    let (_dir, path, db) = temp_db();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    // 19: the reference's 18 re-encoded; 20: this signer's own-vote record; 21: the pruning
    // floor.
    assert_eq!(SCHEMA_VERSION, REFERENCE_SCHEMA_VERSION + 3);
    drop(db);
    let mut conn = raw(&path);
    let tables: Vec<RawValue> = conn
        .rows(if on_postgres() {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        })
        .into_iter()
        .flatten()
        .collect();
    let expected: Vec<RawValue> = EXPECTED_TABLES
        .iter()
        .map(|t| RawValue::Text(t.to_string()))
        .collect();
    assert_eq!(tables, expected);
    assert_eq!(
        conn.rows("SELECT version FROM db_config"),
        vec![vec![RawValue::Int(i64::from(SCHEMA_VERSION))]]
    );
    if !on_postgres() {
        let mode = conn.value("PRAGMA journal_mode");
        assert_eq!(mode, RawValue::Text("wal".into()));
    }
}

#[test]
fn a_zero_length_existing_file_is_migrated_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite");
    std::fs::write(&path, b"").unwrap();
    let db = reopen(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn reopening_keeps_everything_and_does_not_migrate_again() {
    let (_dir, path, mut db) = temp_db();
    let ch = libsigner::chain::ConsensusHash::from([3; 20]);
    db.update_last_activity_time(&ch, 77).unwrap();
    db.insert_pending_block_validation(&libsigner::chain::Sha512Trunc256Sum::from([1; 32]), 5)
        .unwrap();
    drop(db);
    let db = reopen(&path).unwrap();
    assert_eq!(db.get_last_activity_time(&ch).unwrap(), Some(77));
    assert_eq!(db.get_all_pending_block_validations().unwrap().len(), 1);
    drop(db);
    let rows = raw(&path).value("SELECT COUNT(*) FROM db_config");
    assert_eq!(rows, RawValue::Int(1));
}

#[test]
fn a_second_handle_in_the_same_process_is_refused_with_the_path() {
    let (_dir, path, db) = temp_db();
    let err = reopen(&path).unwrap_err();
    match &err {
        SignerDbError::AlreadyLocked { path: p } => assert_eq!(p, &shown(&path)),
        other => panic!("expected AlreadyLocked, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains(&shown(&path).display().to_string()));
    assert!(err.to_string().contains("already in use"));
    if on_postgres() {
        assert_eq!(db.lock_path(), None, "an advisory lock, no file");
    } else {
        assert_eq!(
            db.lock_path().unwrap(),
            path.with_file_name("signer.sqlite.lock")
        );
    }
    drop(db);
    reopen(&path).expect("the lock is released when the handle drops");
}

#[test]
fn in_memory_databases_are_private_and_unlocked() {
    let mut a = SignerDb::open(":memory:").unwrap();
    let b = SignerDb::open(":memory:").unwrap();
    let ch = libsigner::chain::ConsensusHash::from([9; 20]);
    a.update_last_activity_time(&ch, 1).unwrap();
    assert_eq!(a.get_last_activity_time(&ch).unwrap(), Some(1));
    assert_eq!(b.get_last_activity_time(&ch).unwrap(), None);
    assert!(a.lock_path().is_none());
}

/// Child side of `a_second_process_is_refused_while_the_first_holds_the_database`.
#[test]
#[ignore = "helper run as a child process"]
fn child_holds_the_database_open() {
    let Some(path) = child_db() else { return };
    let _db = reopen(&path).unwrap();
    announce_and_wait("locked");
}

#[test]
fn a_second_process_is_refused_while_the_first_holds_the_database() {
    let (_dir, path, db) = temp_db();
    drop(db);
    let mut child = spawn_child_until("child_holds_the_database_open", &path, "locked");
    let err = reopen(&path).unwrap_err();
    assert!(
        matches!(&err, SignerDbError::AlreadyLocked { path: p } if p == &shown(&path)),
        "got {err:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    reopen(&path).expect("the lock dies with the process holding it");
}

#[test]
fn a_database_newer_than_this_build_is_refused() {
    let (_dir, path, db) = temp_db();
    drop(db);
    raw(&path).execute(&format!(
        "INSERT INTO db_config (version) VALUES ({})",
        SCHEMA_VERSION + 1
    ));
    match reopen(&path).unwrap_err() {
        SignerDbError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn an_old_reference_schema_is_refused_with_advice_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE db_config (version INTEGER NOT NULL) STRICT;
         INSERT INTO db_config VALUES (16);
         CREATE TABLE blocks (x INTEGER);",
    )
    .unwrap();
    drop(conn);
    let err = reopen(&path).unwrap_err();
    match &err {
        SignerDbError::SchemaUnsupported { found, .. } => assert_eq!(*found, 16),
        other => panic!("expected SchemaUnsupported, got {other:?}"),
    }
    assert!(err.to_string().contains("signer-3.3.0.0.4.0"));
    let conn = Connection::open(&path).unwrap();
    let max: i64 = conn
        .query_row("SELECT MAX(version) FROM db_config", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, 16);
}

#[test]
fn a_failing_migration_rolls_back_completely() {
    // A file at schema 19 without its tables: the 19 → 20 step creates `own_votes`, then
    // fails to fill it from the missing `blocks`, and nothing of it must remain.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stray.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE db_config (version INTEGER NOT NULL); INSERT INTO db_config VALUES (19);",
    )
    .unwrap();
    drop(conn);
    let err = reopen(&path).unwrap_err();
    assert!(
        matches!(err, SignerDbError::Migration { to: 20, .. }),
        "{err:?}"
    );
    let conn = Connection::open(&path).unwrap();
    assert_eq!(tables(&conn), vec!["db_config".to_string()]);
}

#[test]
fn the_bundled_sqlite_is_recent_enough_for_the_schema() {
    // STRICT tables need 3.37, unhex() 3.41, RETURNING 3.35.
    let version = SignerDb::sqlite_version();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts[0] == 3 && parts[1] >= 41, "{version}");
}
