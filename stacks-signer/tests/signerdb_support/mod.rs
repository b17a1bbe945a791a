//! Helpers shared by the `signerdb_*` integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{Hash160, StacksAddress};
use stacks_signer::ha::cluster::TempPostgres;
use stacks_signer::signerdb::SignerDb;

/// The environment variable that tells a helper test it runs as a child process.
pub const CHILD_DB_ENV: &str = "SIGNERDB_TEST_CHILD_DB";

/// The environment variable that runs the suite on PostgreSQL: `SIGNERDB_ENGINE=postgresql`
/// (anything else, or nothing: SQLite).
pub const ENGINE_ENV: &str = "SIGNERDB_ENGINE";

/// Whether this run of the suite is on PostgreSQL (see [`ENGINE_ENV`]).
pub fn on_postgres() -> bool {
    std::env::var(ENGINE_ENV).is_ok_and(|v| v == "postgresql")
}

/// The throwaway cluster every test of this binary shares on a PostgreSQL run (each test
/// gets its own database in it), stopped by a watchdog once the binary exits.
fn cluster() -> &'static TempPostgres {
    static CLUSTER: OnceLock<TempPostgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = TempPostgres::start()
            .unwrap_or_else(|e| panic!("{ENGINE_ENV}=postgresql needs a PostgreSQL: {e}"));
        cluster.stop_when_this_process_exits().unwrap();
        cluster
    })
}

/// Where a fresh database lives: a new SQLite file in `dir`, or, on a PostgreSQL run, a new
/// database of the shared cluster (its URL, as a path: `SignerDb::open` takes both).
pub fn fresh_location(dir: &Path) -> PathBuf {
    if !on_postgres() {
        return dir.join("signer.sqlite");
    }
    static DATABASES: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "signerdb_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    PathBuf::from(cluster().create_database(&name).unwrap())
}

/// A fresh database in a fresh temporary directory (kept alive by the returned guard) — a
/// SQLite file, or a PostgreSQL database on a PostgreSQL run.
pub fn temp_db() -> (tempfile::TempDir, PathBuf, SignerDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh_location(dir.path());
    let db = SignerDb::open(&path).unwrap();
    (dir, path, db)
}

/// For a test about the SQLite file itself (its bytes, its lock file, SQLite's own SQL, the
/// reference's SQLite history): `true` on a PostgreSQL run, after saying so, and the test
/// returns; its PostgreSQL counterpart, if the engine has one, is in `signerdb_postgres.rs`.
pub fn sqlite_file_test(name: &str) -> bool {
    if on_postgres() {
        println!("{name}: about the SQLite file itself; not run on PostgreSQL");
        return true;
    }
    false
}

/// How the signer names the database at `path` in its errors and logs: the path, or a
/// PostgreSQL URL with its password hidden.
pub fn shown(path: &Path) -> PathBuf {
    PathBuf::from(stacks_signer::ha::redact_url(&path.to_string_lossy()))
}

/// A value read straight from a table, whatever the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A connection of the test's own to the database behind a closed (or open) `SignerDb`, to
/// read and damage its rows directly: SQLite through `rusqlite`, PostgreSQL through
/// `postgres`.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// A direct connection to the database at `path` (see [`Raw`]).
pub fn raw(path: &Path) -> Raw {
    if on_postgres() {
        let url = path.to_str().unwrap();
        Raw::Postgres(postgres::Client::connect(url, postgres::NoTls).unwrap())
    } else {
        Raw::Sqlite(rusqlite::Connection::open(path).unwrap())
    }
}

impl Raw {
    /// Runs `sql`, written as SQLite spells it; on PostgreSQL its `x'…'` BLOB literals are
    /// written as `BYTEA` ones.
    pub fn execute(&mut self, sql: &str) {
        match self {
            Raw::Sqlite(conn) => {
                conn.execute_batch(sql).unwrap();
            }
            Raw::Postgres(client) => {
                let mut pg = String::new();
                let mut rest = sql;
                while let Some(at) = rest.find("x'") {
                    pg.push_str(&rest[..at]);
                    let hex_end = rest[at + 2..].find('\'').unwrap() + at + 2;
                    pg.push_str(&format!("'\\x{}'::bytea", &rest[at + 2..hex_end]));
                    rest = &rest[hex_end + 1..];
                }
                pg.push_str(rest);
                client.batch_execute(&pg).unwrap();
            }
        }
    }

    /// Every row `sql` returns.
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<RawValue>> {
        match self {
            Raw::Sqlite(conn) => {
                use rusqlite::types::Value;
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                let rows = stmt
                    .query_map([], |row| {
                        (0..n)
                            .map(|i| {
                                Ok(match row.get::<_, Value>(i)? {
                                    Value::Null => RawValue::Null,
                                    Value::Integer(v) => RawValue::Int(v),
                                    Value::Text(t) => RawValue::Text(t),
                                    Value::Blob(b) => RawValue::Blob(b),
                                    Value::Real(r) => panic!("unexpected real {r}"),
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
            Raw::Postgres(client) => {
                use postgres::types::Type;
                let rows = client.query(sql, &[]).unwrap();
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                let value = match *row.columns()[i].type_() {
                                    Type::INT8 => row.get::<_, Option<i64>>(i).map(RawValue::Int),
                                    Type::INT4 => row
                                        .get::<_, Option<i32>>(i)
                                        .map(|v| RawValue::Int(v.into())),
                                    Type::TEXT | Type::VARCHAR | Type::NAME => {
                                        row.get::<_, Option<String>>(i).map(RawValue::Text)
                                    }
                                    Type::BYTEA => {
                                        row.get::<_, Option<Vec<u8>>>(i).map(RawValue::Blob)
                                    }
                                    ref other => panic!("unexpected column type {other}"),
                                };
                                value.unwrap_or(RawValue::Null)
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The single value `sql` returns.
    pub fn value(&mut self, sql: &str) -> RawValue {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        assert_eq!(rows[0].len(), 1, "{sql}: {rows:?}");
        rows[0][0].clone()
    }
}

/// A testnet single-sig address with hash `[n; 20]`.
pub fn addr(n: u8) -> StacksAddress {
    StacksAddress::new(26, Hash160::from([n; 20])).unwrap()
}

/// A mainnet single-sig address with hash `[n; 20]`.
pub fn mainnet_addr(n: u8) -> StacksAddress {
    StacksAddress::new(22, Hash160::from([n; 20])).unwrap()
}

/// Seconds since the epoch as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Held from a child's spawn until it has announced itself, and while a database is
/// reopened. Between its fork and the end of its exec a child holds copies of every
/// descriptor of this process, the lock files of other tests' databases included (the
/// kernel wakes the parent before it closes them); a test reopening its database at that
/// moment would find its own lock still held.
static SPAWN_WINDOW: Mutex<()> = Mutex::new(());

/// Opens the database at `path` when no child is being started; use it to reopen a database
/// in a test binary that also spawns children.
pub fn reopen(path: &Path) -> Result<SignerDb, stacks_signer::signerdb::SignerDbError> {
    let _window = SPAWN_WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    SignerDb::open(path)
}

/// Runs the ignored test `name` of this test binary as a child process with
/// [`CHILD_DB_ENV`] set to `db`, and returns once it has printed a line ending with `marker`
/// (by then it runs its own program and holds none of this process's descriptors).
pub fn spawn_child_until(name: &str, db: &Path, marker: &str) -> Child {
    let _window = SPAWN_WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, marker);
    child
}

/// Reads the child's stdout until a line ending with `marker` (the test harness may print the
/// test's name on the same line); panics if the output ends first.
fn wait_for_line(child: &mut Child, marker: &str) {
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited before printing {marker:?}");
        if line.trim_end().ends_with(marker) {
            // Keep the pipe open (a closed pipe could kill the child with SIGPIPE on its
            // next write).
            std::mem::forget(reader);
            return;
        }
    }
}

/// The database path a helper test was given, or None when run normally.
pub fn child_db() -> Option<PathBuf> {
    std::env::var_os(CHILD_DB_ENV).map(PathBuf::from)
}

/// Announces `marker` on stdout, then waits to be killed or for stdin to close (the parent
/// exiting closes it).
pub fn announce_and_wait(marker: &str) {
    use std::io::{Read, Write};
    let mut out = std::io::stdout();
    writeln!(out, "{marker}").unwrap();
    out.flush().unwrap();
    let mut buf = [0u8; 1];
    let _ = std::io::stdin().read(&mut buf);
}

use libsigner::chain::{
    CoinbasePayload, ConsensusHash, MessageSignature, NakamotoBlock, NakamotoBlockHeader,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, StacksTransaction, TenureChangeCause,
    TenureChangePayload, TransactionAuth, TransactionPayload, TransactionSpendingCondition,
    TransactionVersion, VRFProof,
};
use stacks_signer::signerdb::{BlockInfo, BlockState, ExtraBlockInfo};

/// A block of tenure `[tenure; 20]` at `height`; `variant` makes siblings distinct.
pub fn block(tenure: u8, height: u64, variant: u8) -> NakamotoBlock {
    block_with_txs(tenure, height, variant, Vec::new())
}

/// A block with these transactions (and the matching Merkle root).
pub fn block_with_txs(
    tenure: u8,
    height: u64,
    variant: u8,
    txs: Vec<StacksTransaction>,
) -> NakamotoBlock {
    let mut header = NakamotoBlockHeader::empty();
    header.consensus_hash = ConsensusHash::from([tenure; 20]);
    header.chain_length = height;
    header.parent_block_id = StacksBlockId::from([0x03; 32]);
    header.miner_signature = MessageSignature([variant; 65]);
    let mut block = NakamotoBlock { header, txs };
    block.header.tx_merkle_root = block.compute_tx_merkle_root();
    block
}

fn auth() -> TransactionAuth {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"miner"));
    TransactionAuth::Standard(TransactionSpendingCondition::new_singlesig_p2pkh(key).unwrap())
}

/// A tenure change of `tenure` with `cause`, continuing block `[0x03; 32]`.
pub fn tenure_change_tx(tenure: u8, cause: TenureChangeCause) -> StacksTransaction {
    StacksTransaction::new(
        TransactionVersion::Testnet,
        auth(),
        TransactionPayload::TenureChange(TenureChangePayload {
            tenure_consensus_hash: ConsensusHash::from([tenure; 20]),
            prev_tenure_consensus_hash: ConsensusHash::from([0x01; 20]),
            burn_view_consensus_hash: ConsensusHash::from([tenure; 20]),
            previous_tenure_end: StacksBlockId::from([0x03; 32]),
            previous_tenure_blocks: 1,
            cause,
            pubkey_hash: libsigner::chain::Hash160::from([0x99; 20]),
        }),
    )
}

/// A Nakamoto coinbase (with a VRF proof).
pub fn coinbase_tx() -> StacksTransaction {
    // The ed25519 base point as Gamma, zero c and s: a well-formed proof.
    let mut proof = [0u8; 80];
    proof[0] = 0x58;
    for b in proof.iter_mut().take(32).skip(1) {
        *b = 0x66;
    }
    StacksTransaction::new(
        TransactionVersion::Testnet,
        auth(),
        TransactionPayload::Coinbase(
            CoinbasePayload::from([0; 32]),
            None,
            Some(VRFProof::from_slice(&proof).unwrap()),
        ),
    )
}

/// An `Unprocessed` record of `block` in reward cycle 42 at burn height 7.
pub fn info(block: NakamotoBlock) -> BlockInfo {
    BlockInfo {
        block,
        burn_block_height: 7,
        reward_cycle: 42,
        vote: None,
        valid: None,
        signed_over: false,
        proposed_time: now(),
        signed_self: None,
        signed_group: None,
        state: BlockState::Unprocessed,
        validation_time_ms: None,
        ext: ExtraBlockInfo::None,
        reject_reason: None,
    }
}

/// The reference's final schema (stacks-signer.md §5.2), as its migrations leave it.
pub const REFERENCE_V18: &str = r#"
CREATE TABLE db_config( version INTEGER NOT NULL ) STRICT;
CREATE TABLE "blocks" (
    signer_signature_hash TEXT NOT NULL PRIMARY KEY, reward_cycle INTEGER NOT NULL,
    block_info TEXT NOT NULL, consensus_hash TEXT NOT NULL, signed_over INTEGER NOT NULL,
    broadcasted INTEGER, stacks_height INTEGER NOT NULL, burn_block_height INTEGER NOT NULL,
    valid INTEGER, state TEXT NOT NULL, signed_group INTEGER, signed_self INTEGER,
    proposed_time INTEGER NOT NULL, validation_time_ms INTEGER, tenure_change INTEGER NOT NULL
, tenure_change_cause INTEGER) STRICT;
CREATE INDEX blocks_signed_over ON blocks (consensus_hash, signed_over);
CREATE INDEX blocks_consensus_hash_state ON blocks (consensus_hash, state);
CREATE INDEX blocks_state ON blocks (state);
CREATE INDEX blocks_signed_group ON blocks (signed_group);
CREATE INDEX blocks_consensus_hash_state_height ON blocks (consensus_hash, state, stacks_height DESC);
CREATE INDEX blocks_state_height_signed_group ON blocks (state, stacks_height DESC, signed_group DESC);
CREATE INDEX blocks_consensus_hash_status_height ON blocks (consensus_hash, signed_over, stacks_height ASC);
CREATE INDEX blocks_reward_cycle_state on blocks (reward_cycle, state);
CREATE INDEX idx_blocks_query_opt ON blocks (consensus_hash, state, signed_self, burn_block_height DESC);
CREATE TABLE "burn_blocks" ( block_hash TEXT NOT NULL, block_height INTEGER NOT NULL,
    received_time INTEGER NOT NULL, consensus_hash TEXT PRIMARY KEY NOT NULL
, parent_burn_block_hash TEXT) STRICT;
CREATE INDEX idx_burn_blocks_block_hash ON burn_blocks(block_hash);
CREATE INDEX burn_blocks_parent_burn_block_hash_idx on burn_blocks (parent_burn_block_hash);
CREATE TABLE signer_states ( reward_cycle INTEGER PRIMARY KEY, encrypted_state BLOB NOT NULL ) STRICT;
CREATE TABLE block_signatures ( signer_signature_hash TEXT NOT NULL, signer_addr TEXT NOT NULL,
    signature TEXT NOT NULL, PRIMARY KEY (signer_signature_hash, signer_addr) ) STRICT;
CREATE TABLE block_rejection_signer_addrs ( signer_signature_hash TEXT NOT NULL,
    signer_addr TEXT NOT NULL, reject_code INTEGER NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr) ) STRICT;
CREATE TABLE block_validations_pending ( signer_signature_hash TEXT NOT NULL,
    added_time INTEGER NOT NULL, PRIMARY KEY (signer_signature_hash) ) STRICT;
CREATE INDEX block_validations_pending_on_added_time ON block_validations_pending(added_time ASC);
CREATE TABLE tenure_activity ( consensus_hash TEXT NOT NULL PRIMARY KEY, last_activity_time INTEGER NOT NULL ) STRICT;
CREATE TABLE signer_state_machine_updates ( signer_addr TEXT NOT NULL, reward_cycle INTEGER NOT NULL,
    state_update TEXT NOT NULL, received_time INTEGER NOT NULL, PRIMARY KEY (signer_addr, reward_cycle) ) STRICT;
CREATE INDEX signer_state_machine_updates_reward_cycle_received_time ON signer_state_machine_updates (reward_cycle, received_time ASC);
CREATE TABLE stackerdb_tracking( public_key TEXT NOT NULL, slot_id INTEGER NOT NULL,
   slot_version INTEGER NOT NULL, PRIMARY KEY (public_key, slot_id) ) STRICT;
CREATE TABLE block_validated_by_replay_txs ( signer_signature_hash TEXT NOT NULL,
    replay_tx_hash TEXT NOT NULL, replay_tx_exhausted INTEGER NOT NULL,
    PRIMARY KEY (signer_signature_hash, replay_tx_hash) ) STRICT;
CREATE TABLE burn_block_updates_received_times ( signer_addr TEXT NOT NULL,
    burn_block_consensus_hash TEXT NOT NULL, received_time INTEGER NOT NULL,
    PRIMARY KEY (signer_addr, burn_block_consensus_hash) ) STRICT;
CREATE INDEX burn_block_updates_received_times_consensus_hash ON burn_block_updates_received_times(burn_block_consensus_hash, received_time ASC);
CREATE TABLE block_pre_commits ( signer_signature_hash TEXT NOT NULL, signer_addr TEXT NOT NULL,
    PRIMARY KEY (signer_signature_hash, signer_addr) ) STRICT;
"#;
