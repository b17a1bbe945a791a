//! What only the PostgreSQL engine of `SignerDb` has: a database on a server (refusing
//! another program's tables, holding one handle per database and schema, reconnecting after
//! the server restarts), and errors that never show the password. The behaviour both engines
//! share is the `signerdb_*` suite, run on PostgreSQL with `SIGNERDB_ENGINE=postgresql`.

mod signerdb_support;

use std::sync::OnceLock;

use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum};
use stacks_signer::ha::cluster::TempPostgres;
use stacks_signer::signerdb::{
    ConflictPolicy, Engine, OwnVote, SignerDb, SignerDbError, VoteContext, VoteRecord,
    SCHEMA_VERSION,
};

/// The cluster the tests of this file share (each test its own database), stopped when the
/// binary exits.
fn cluster() -> &'static TempPostgres {
    static CLUSTER: OnceLock<TempPostgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = TempPostgres::start().expect("a throwaway PostgreSQL cluster");
        cluster.stop_when_this_process_exits().unwrap();
        cluster
    })
}

fn fresh(name: &str) -> String {
    cluster().create_database(name).unwrap()
}

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

#[test]
fn a_postgresql_url_opens_a_postgresql_signer_database_at_the_current_schema() {
    let url = fresh("current_schema");
    let db = SignerDb::open(&url).unwrap();
    assert_eq!(db.engine(), Engine::Postgres);
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(db.schema_version_at_open(), 0, "a new database");
    assert_eq!(db.lock_path(), None);
    assert!(
        !db.path().display().to_string().contains("signer:signer@"),
        "the path shown hides the password: {}",
        db.path().display()
    );
    drop(db);
    let db = SignerDb::open(&url).unwrap();
    assert_eq!(
        db.schema_version_at_open(),
        SCHEMA_VERSION,
        "reopened as it was"
    );
}

#[test]
fn a_database_holding_another_programs_tables_is_refused_and_left_untouched() {
    let url = fresh("foreign");
    client(&url)
        .batch_execute(
            "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT);
             INSERT INTO customers VALUES (1, 'alice');",
        )
        .unwrap();
    let err = SignerDb::open(&url).unwrap_err();
    assert!(matches!(err, SignerDbError::NotASignerDb { .. }), "{err:?}");
    let line = err.to_string();
    assert!(
        line.contains(r#"it has no db_config version but holds "customers""#),
        "{line}"
    );
    assert!(line.contains("postgresql://signer:***@"), "{line}");
    assert!(
        !line.contains("signer:signer@"),
        "the password shown: {line}"
    );
    let rows = client(&url)
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "nothing was created beside the foreign table"
    );
}

#[test]
fn the_shared_records_tables_beside_it_do_not_make_a_database_foreign() {
    let url = fresh("beside_shared_record");
    client(&url)
        .batch_execute("CREATE TABLE ha_lease (id BIGINT PRIMARY KEY)")
        .unwrap();
    let db = SignerDb::open(&url).unwrap();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_postgresql_database_at_an_older_schema_is_refused_not_migrated() {
    let url = fresh("older_schema");
    drop(SignerDb::open(&url).unwrap());
    client(&url)
        .batch_execute(&format!(
            "DELETE FROM db_config; INSERT INTO db_config VALUES ({})",
            SCHEMA_VERSION - 1
        ))
        .unwrap();
    let err = SignerDb::open(&url).unwrap_err();
    assert!(
        matches!(err, SignerDbError::SchemaUnsupported { found, .. } if found == SCHEMA_VERSION - 1),
        "{err:?}"
    );
}

#[test]
fn two_schemas_of_one_database_are_two_signer_databases_each_held_by_one_handle() {
    let url = fresh("two_schemas");
    let in_schema = |name: &str| format!("{url}?options=-csearch_path%3D{name}");
    let mut a = SignerDb::open(in_schema("view_a")).unwrap();
    let b = SignerDb::open(in_schema("view_b")).unwrap();
    let ch = ConsensusHash::from([4; 20]);
    a.update_last_activity_time(&ch, 9).unwrap();
    assert_eq!(a.get_last_activity_time(&ch).unwrap(), Some(9));
    assert_eq!(b.get_last_activity_time(&ch).unwrap(), None, "apart");
    // Each schema was created on first use, and holds one handle.
    let err = SignerDb::open(in_schema("view_a")).unwrap_err();
    assert!(
        matches!(err, SignerDbError::AlreadyLocked { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("signer:signer@"), "{err}");
    drop(a);
    let a = SignerDb::open(in_schema("view_a")).unwrap();
    assert_eq!(a.get_last_activity_time(&ch).unwrap(), Some(9));
    // An unquoted name means its lower case, as PostgreSQL reads it.
    drop(a);
    let a = SignerDb::open(in_schema("View_A")).unwrap();
    assert_eq!(a.get_last_activity_time(&ch).unwrap(), Some(9));
}

#[test]
fn the_size_reported_is_the_tables_and_grows_with_their_rows() {
    let url = fresh("size");
    let mut db = SignerDb::open(&url).unwrap();
    let before = db.database_size_bytes().unwrap();
    assert!(before > 0);
    for n in 0..500u64 {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&n.to_be_bytes());
        db.insert_pending_block_validation(&Sha512Trunc256Sum::from(hash), n)
            .unwrap();
    }
    let after = db.database_size_bytes().unwrap();
    assert!(after > before, "{after} <= {before}");
}

#[test]
fn an_unreachable_server_is_a_one_line_error_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgresql://signer:secret-pw@127.0.0.1:{port}/signer");
    let err = SignerDb::open(&url).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, SignerDbError::Postgres(_)), "{err:?}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("cannot connect to postgresql://signer:***@"),
        "{line}"
    );
    assert!(!line.contains("secret-pw"), "{line}");
}

#[test]
fn after_the_server_crashes_the_handle_reconnects_and_keeps_its_votes() {
    // A cluster of its own: this test stops it, as a crash would (no checkpoint).
    let mut own = TempPostgres::start().expect("a throwaway PostgreSQL cluster");
    let url = own.create_database("restarted").unwrap();
    let mut db = SignerDb::open(&url).unwrap();
    // An own vote's commit is flushed: it survives the crash.
    let block = signerdb_support::block(1, 5, 1);
    let context = VoteContext {
        policy: ConflictPolicy {
            reconsider_after: std::time::Duration::from_secs(30),
        },
        tenure_tip_height: None,
    };
    let recorded = db
        .record_own_vote(&OwnVote::PreCommit, &block.header, 42, None, &context)
        .unwrap();
    assert_eq!(recorded, VoteRecord::Recorded);
    let ch = ConsensusHash::from([5; 20]);

    own.stop().unwrap();
    let err = db.update_last_activity_time(&ch, 2).unwrap_err();
    assert!(matches!(err, SignerDbError::Postgres(_)), "{err:?}");
    let err = db
        .get_own_vote(&block.header.signer_signature_hash())
        .unwrap_err();
    assert!(matches!(err, SignerDbError::Postgres(_)), "{err:?}");

    own.resume().unwrap();
    let vote = db
        .get_own_vote(&block.header.signer_signature_hash())
        .unwrap()
        .expect("the pre-commit survived the crash");
    assert!(vote.pre_committed_at.is_some(), "{vote:?}");
    db.update_last_activity_time(&ch, 3).unwrap();
    assert_eq!(db.get_last_activity_time(&ch).unwrap(), Some(3));
    // The reconnected handle took the lock again.
    let err = SignerDb::open(&url).unwrap_err();
    assert!(
        matches!(err, SignerDbError::AlreadyLocked { .. }),
        "{err:?}"
    );
}
