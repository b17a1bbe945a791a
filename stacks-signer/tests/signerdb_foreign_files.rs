//! A file at `db_path` that is not a signer database — random bytes, a damaged SQLite file,
//! another program's SQLite database, a truncated signer database, one from a newer
//! stacks-signer — is refused at open with one clear line naming the file, never a panic,
//! and a foreign file is left untouched.

mod signerdb_support;

use std::path::Path;

use rusqlite::Connection;
use signerdb_support::*;
use stacks_signer::signerdb::{SignerDb, SignerDbError, SCHEMA_VERSION};

/// Deterministic pseudo-random bytes (xorshift), not starting with SQLite's magic.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Opens `path`, which must fail; the error's one line, checked to name the file.
fn refused(path: &Path) -> (SignerDbError, String) {
    let err = SignerDb::open(path).expect_err("the file must be refused");
    let line = err.to_string();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(line.contains(&shown(path).display().to_string()), "{line}");
    (err, line)
}

#[test]
fn a_file_of_random_bytes_is_not_a_signer_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.sqlite");
    let bytes = random_bytes(16 * 1024, 0x5eed);
    std::fs::write(&path, &bytes).unwrap();
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(line.contains("is not a usable signer database"), "{line}");
    assert!(line.contains("file is not a database"), "{line}");
    assert!(
        line.ends_with("move it away or point db_path elsewhere"),
        "{line}"
    );
    assert!(std::fs::read(&path).unwrap() == bytes, "left untouched");
}

#[test]
fn an_sqlite_header_over_garbage_is_not_a_signer_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(random_bytes(8 * 1024, 7));
    std::fs::write(&path, &bytes).unwrap();
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(line.contains("is not a usable signer database"), "{line}");
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO customers (name) VALUES ('alice'), ('bob');
         CREATE INDEX customers_by_name ON customers (name);",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(
        line.contains(r#"it has no db_config version but holds "customers", "customers_by_name""#),
        "{line}"
    );
    assert!(std::fs::read(&path).unwrap() == before, "left untouched");
}

#[test]
fn a_truncated_signer_database_is_refused() {
    if sqlite_file_test("a_truncated_signer_database_is_refused") {
        return;
    }
    let (dir, path, mut db) = temp_db();
    // Enough rows for the file to span many pages.
    for n in 0..2000u64 {
        let ch = libsigner::chain::ConsensusHash::from([(n % 251) as u8; 20]);
        db.update_last_activity_time(&ch, n).unwrap();
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&n.to_be_bytes());
        db.insert_pending_block_validation(&libsigner::chain::Sha512Trunc256Sum::from(hash), n)
            .unwrap();
    }
    drop(db);
    let full = std::fs::read(&path).unwrap();
    assert!(full.len() > 4 * 4096, "{} bytes", full.len());
    for keep in [full.len() / 2, 4096 + 100, 100] {
        let cut = dir.path().join(format!("cut-{keep}.sqlite"));
        std::fs::write(&cut, &full[..keep]).unwrap();
        let (err, line) = refused(&cut);
        eprintln!("{keep} bytes kept: {line}");
        assert!(
            matches!(err, SignerDbError::NotASignerDb { .. }),
            "{keep} bytes kept: {err:?}"
        );
    }
}

#[test]
fn a_signer_database_of_a_newer_schema_is_refused() {
    let (_dir, path, db) = temp_db();
    drop(db);
    raw(&path).execute(&format!(
        "INSERT INTO db_config (version) VALUES ({})",
        SCHEMA_VERSION + 5
    ));
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::SchemaTooNew { .. }), "{err:?}");
    assert!(
        line.contains(&format!(
            "has schema version {}, newer than the {SCHEMA_VERSION} this stacks-signer understands",
            SCHEMA_VERSION + 5
        )),
        "{line}"
    );
}

/// Found by the `signerdb_file` fuzz target: a signer database whose schema text was damaged
/// so that SQLite's "malformed database schema" error quotes it, newline included. The
/// refusal must still be one line.
#[test]
fn a_damaged_schema_quoted_by_sqlite_still_gives_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged-schema.sqlite");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signerdb/fuzz-multiline-schema-error.sqlite"
    );
    std::fs::copy(fixture, &path).unwrap();
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(line.contains("malformed database schema"), "{line}");
    assert!(line.contains("\\n"), "the newline is shown escaped: {line}");
}

/// The same, made by hand: another program's table whose stored schema text spans lines and
/// does not parse.
#[test]
fn a_multiline_malformed_schema_gives_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multiline.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (x INTEGER);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = 'CREATE TABLE t (x\n[hash)\n) STRICT' WHERE name = 't';
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(conn);
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(line.contains("malformed database schema (t)"), "{line}");
}

/// Found by the `signerdb_file` fuzz target: a `db_config` without a `version` column, or with
/// an impossible version, is refused naming the file (it was an unnamed SQLite error).
#[test]
fn an_unreadable_schema_version_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql, reason) in [
        (
            "no-version-column.sqlite",
            "CREATE TABLE db_config (v INTEGER); INSERT INTO db_config VALUES (21);",
            "no such column: version",
        ),
        (
            "negative-version.sqlite",
            "CREATE TABLE db_config (version INTEGER); INSERT INTO db_config VALUES (-1);",
            "corrupt value in db_config.version: impossible version -1",
        ),
    ] {
        let path = dir.path().join(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        drop(conn);
        let (err, line) = refused(&path);
        assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
        assert!(line.contains(reason), "{line}");
    }
}

/// Found by the `signerdb_file` fuzz target: a file claiming the reference's schema 18 without
/// its tables is refused with the migration named once (it was said twice).
#[test]
fn a_reference_version_without_its_tables_names_the_failed_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hollow-18.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE db_config (version INTEGER NOT NULL); INSERT INTO db_config VALUES (18);",
    )
    .unwrap();
    drop(conn);
    let err = SignerDb::open(&path).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, SignerDbError::Migration { .. }), "{err:?}");
    assert_eq!(
        line.matches("migrating the signer database").count(),
        1,
        "{line}"
    );
    assert!(line.contains("table blocks is missing"), "{line}");
}

/// Found by the `signerdb_file` fuzz target: a file shorter than its header says, whose
/// damaged schema text SQLite quotes (newline included) in a short-read I/O error, not a
/// corruption error.
#[test]
fn a_damaged_schema_met_elsewhere_still_gives_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged-schema-2.sqlite");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signerdb/fuzz-malformed-schema-not-corrupt-code.sqlite"
    );
    std::fs::copy(fixture, &path).unwrap();
    let (err, line) = refused(&path);
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    assert!(line.contains("malformed database schema"), "{line}");
}
