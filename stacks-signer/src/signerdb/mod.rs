//! The signer's database: the blocks it has seen and how it voted on them, the burn blocks,
//! its peers' votes and state-machine updates, and its StackerDB slot versions.
//!
//! One database per signer key (`db_path`): a SQLite file (bundled SQLite, through
//! `rusqlite`; the default and the reference's choice) or a PostgreSQL database named by a
//! `postgresql://` URL (see [`Engine`]). Both hold the same schema and answer every method
//! the same way.
//!
//! # One handle per database
//! [`SignerDb::open`] takes an exclusive lock on the file (on PostgreSQL, an advisory lock of
//! the database and schema) for the life of the handle (see [`SignerDbError::AlreadyLocked`]);
//! a second opener, in this process or another, is refused.
//! Open it once and share the handle (e.g. `Arc<Mutex<SignerDb>>`) between the parts of the
//! signer that need it (StackerDB client, the signers of both reward cycles). `":memory:"`
//! opens a private in-memory database, unlocked.
//!
//! # Durability of votes
//! Ordinary writes are committed with `synchronous=NORMAL` (PostgreSQL: `synchronous_commit =
//! off`): they survive a crash of the process, and at worst are lost on power failure (or a
//! crash of the PostgreSQL server), which only costs re-work. The writes that record this
//! signer's own vote — [`SignerDb::record_own_vote`] — are committed with `synchronous=FULL`
//! (`synchronous_commit = on`): when they return, the vote is on disk. **Publish a vote (StackerDB
//! chunk, block upload) only after the call that records it has returned `Ok`.** A signer that
//! crashes after publishing but before recording would otherwise forget its vote and could
//! vote differently on restart.
//!
//! # Storage
//! Blocks are stored in their consensus encoding with the columns the queries need; old data
//! is dropped by [`SignerDb::prune`], which the run loop calls as reward cycles pass.

mod block_info;
mod blocks;
mod burn_blocks;
pub(crate) mod engine;
mod error;
mod health;
mod legacy;
mod legacy_json;
mod lock;
mod own_vote;
mod pending;
mod postgres_store;
mod prune;
mod schema;
mod sql;
mod stackerdb_tracking;
mod state;
mod state_updates;
mod tenure;
mod types;
mod votes;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use engine::{PgConn, Sql};

pub use block_info::BlockInfo;
pub use engine::Engine;
pub use error::SignerDbError;
pub(crate) use own_vote::{apply_vote, sibling_vote_blocks, SiblingCheck};
pub use own_vote::{ConflictPolicy, OwnVote, OwnVoteRecord, VoteContext, VoteRecord, VoteRefusal};
pub use prune::{PruneHorizon, PruneStats};
pub use schema::{REFERENCE_SCHEMA_VERSION, SCHEMA_VERSION};
pub use state::BlockState;
pub use tenure::TenureTimer;
pub use types::{
    BlockValidatedByReplaySet, BurnBlockInfo, ExtraBlockInfo, NakamotoBlockVote,
    PendingBlockValidation,
};

/// The one handle of a process's database, shared by the parts of the signer that use it.
pub type SharedSignerDb = std::sync::Arc<std::sync::Mutex<SignerDb>>;

/// The path that opens a private in-memory database.
pub const IN_MEMORY_PATH: &str = ":memory:";

/// The signer's database handle. See the [module documentation](self).
#[derive(Debug)]
pub struct SignerDb {
    store: Store,
    /// The file, or the URL with its password hidden.
    path: PathBuf,
    /// The schema version the file had before this handle migrated it.
    opened_at_version: u32,
    _lock: Option<lock::DbLock>,
    /// The shared record of an active/standby pair, when this instance is one
    /// ([`SignerDb::attach_shared`]).
    shared: Option<std::sync::Arc<crate::ha::SharedStore>>,
}

/// The connection of either engine.
#[derive(Debug)]
enum Store {
    Sqlite(Connection),
    Postgres(Box<RefCell<PgConn>>),
}

impl SignerDb {
    /// Opens (creating it if needed) and migrates the database at `path`, and locks it for
    /// the life of the returned handle.
    ///
    /// `":memory:"` opens a private in-memory database; a `postgresql://` URL opens that
    /// PostgreSQL database (see [`SignerDb::open_postgres`]). Errors:
    /// [`SignerDbError::AlreadyLocked`] when another handle holds it,
    /// [`SignerDbError::SchemaTooNew`] / [`SignerDbError::SchemaUnsupported`] when its schema
    /// cannot be brought to [`SCHEMA_VERSION`], [`SignerDbError::NotASignerDb`] when the file
    /// is not SQLite, is damaged, or is another program's database (left untouched).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SignerDbError> {
        let path = path.as_ref();
        if let Some(url) = path.to_str() {
            if Engine::of_location(url) == Engine::Postgres {
                return Self::open_postgres(url);
            }
        }
        if path.as_os_str() == IN_MEMORY_PATH {
            let mut conn = Connection::open_in_memory()?;
            let opened_at_version = schema::migrate(&mut conn, path)?;
            return Ok(Self {
                store: Store::Sqlite(conn),
                path: path.to_path_buf(),
                opened_at_version,
                _lock: None,
                shared: None,
            });
        }
        let lock = lock::DbLock::acquire(path)?;
        let existed = path.exists();
        let (conn, opened_at_version) =
            Self::open_file(path, existed).map_err(|e| not_a_database(e, path))?;
        Ok(Self {
            store: Store::Sqlite(conn),
            path: path.to_path_buf(),
            opened_at_version,
            _lock: Some(lock),
            shared: None,
        })
    }

    /// Opens and migrates the file at `path` (the lock is held): the connection and the
    /// schema version the file had.
    fn open_file(path: &Path, existed: bool) -> Result<(Connection, u32), SignerDbError> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        // Exclusive locking mode must be set before the first access; with it SQLite keeps
        // the WAL index in process memory and holds its file lock until the handle closes.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // Whatever stops the version from being read (a `db_config` without a `version`
        // column, an impossible version) means the file is not a usable signer database.
        schema::refuse_foreign_file(&conn, path).map_err(|e| match e {
            SignerDbError::NotASignerDb { .. } => e,
            other => other.into_unusable(path),
        })?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SignerDbError::Migration {
                to: SCHEMA_VERSION,
                reason: format!("cannot switch {} to WAL mode (got {mode})", path.display()),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let opened_at_version = schema::migrate(&mut conn, path)?;
        if !existed {
            sync_parent_dir(path)?;
        }
        Ok((conn, opened_at_version))
    }

    /// Same as [`SignerDb::open`], under the reference's name.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, SignerDbError> {
        Self::open(path)
    }

    /// Makes this instance one of an active/standby pair sharing `store`: from now on every
    /// own vote is also checked and recorded in the shared record (and refused unless this
    /// instance holds the lease), and StackerDB slot versions of the store's key continue
    /// the shared sequence. See [`crate::ha`].
    pub fn attach_shared(&mut self, store: std::sync::Arc<crate::ha::SharedStore>) {
        self.shared = Some(store);
    }

    /// The shared record this instance uses, if it is one of an active/standby pair.
    pub fn shared(&self) -> Option<&std::sync::Arc<crate::ha::SharedStore>> {
        self.shared.as_ref()
    }

    /// Why this instance must not publish now: it is one of an active/standby pair and does
    /// not hold the lease (the holder's name, when known). `None` when it may publish.
    pub fn standby(&self) -> Option<String> {
        let shared = self.shared.as_ref()?;
        if shared.is_active() {
            return None;
        }
        Some(
            shared
                .lease_state()
                .holder(shared.instance())
                .unwrap_or("nobody known")
                .to_string(),
        )
    }

    /// The engine this database runs on.
    pub fn engine(&self) -> Engine {
        match self.store {
            Store::Sqlite(_) => Engine::Sqlite,
            Store::Postgres(_) => Engine::Postgres,
        }
    }

    /// Where statements run outside a transaction.
    pub(crate) fn sql(&self) -> Sql<'_> {
        match &self.store {
            Store::Sqlite(conn) => Sql::Sqlite(conn),
            Store::Postgres(conn) => Sql::Postgres {
                conn,
                in_transaction: false,
            },
        }
    }

    /// The path this database was opened from (for PostgreSQL, its URL with the password
    /// hidden).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file held next to the database (None for an in-memory database).
    pub fn lock_path(&self) -> Option<&Path> {
        self._lock.as_ref().map(|l| l.path())
    }

    /// The schema version of the open database (always [`SCHEMA_VERSION`] after open).
    pub fn schema_version(&self) -> Result<u32, SignerDbError> {
        match &self.store {
            Store::Sqlite(conn) => schema::schema_version(conn),
            Store::Postgres(_) => postgres_store::schema_version(self.sql()),
        }
    }

    /// The bundled SQLite library's version string.
    pub fn sqlite_version() -> &'static str {
        rusqlite::version()
    }

    /// Runs `f` in one transaction (SQLite: `IMMEDIATE`) committed with the connection's
    /// normal durability; nothing of it stays if `f` fails.
    fn write<T>(
        &mut self,
        f: impl FnOnce(Sql<'_>) -> Result<T, SignerDbError>,
    ) -> Result<T, SignerDbError> {
        match &mut self.store {
            Store::Sqlite(conn) => {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(Sql::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Store::Postgres(conn) => {
                let outside = Sql::Postgres {
                    conn,
                    in_transaction: false,
                };
                outside.batch("BEGIN")?;
                let inside = Sql::Postgres {
                    conn,
                    in_transaction: true,
                };
                match f(inside) {
                    Ok(out) => {
                        inside.batch("COMMIT")?;
                        Ok(out)
                    }
                    Err(e) => {
                        // A broken connection rolls back by itself.
                        let _ = inside.batch("ROLLBACK");
                        Err(e)
                    }
                }
            }
        }
    }

    /// Runs `f` in one transaction committed durably: when this returns `Ok`, the write is
    /// on stable storage (`synchronous=FULL` for this commit on SQLite, `synchronous_commit =
    /// on` on PostgreSQL; other commits wait for no disk flush on either).
    fn durable_write<T>(
        &mut self,
        f: impl FnOnce(Sql<'_>) -> Result<T, SignerDbError>,
    ) -> Result<T, SignerDbError> {
        if let Store::Sqlite(conn) = &self.store {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let result = self.write(|tx| {
            if tx.engine() == Engine::Postgres {
                tx.batch("SET LOCAL synchronous_commit = on")?;
            }
            f(tx)
        });
        let restored = match &self.store {
            Store::Sqlite(conn) => conn.pragma_update(None, "synchronous", "NORMAL"),
            Store::Postgres(_) => Ok(()),
        };
        let out = result?;
        restored?;
        Ok(out)
    }
}

/// Makes the creation of a new database file durable (its directory entry).
/// SQLite's "not a database", "malformed", "short read", "unsupported file format" and "out
/// of memory" errors, wherever opening hits them, as [`SignerDbError::NotASignerDb`] naming the file (on
/// one line: SQLite quotes the file's own schema text, newlines included); any other error as
/// it is.
fn not_a_database(e: SignerDbError, path: &Path) -> SignerDbError {
    let SignerDbError::Sqlite(sqlite) = &e else {
        return e;
    };
    let reason = sqlite.to_string();
    // SQLITE_IOERR_SHORT_READ: the file is shorter than its header says.
    const SHORT_READ: i32 = 522;
    let unusable = matches!(
        sqlite.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::NotADatabase
                | rusqlite::ErrorCode::DatabaseCorrupt
                | rusqlite::ErrorCode::OutOfMemory
        )
    ) || matches!(sqlite, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == SHORT_READ)
        || reason == "unsupported file format"
        || reason.starts_with("malformed database schema");
    if !unusable {
        return e;
    }
    SignerDbError::NotASignerDb {
        path: path.to_path_buf(),
        reason: one_line(&reason),
    }
}

impl SignerDbError {
    /// A corrupt value or an SQLite error other than the file being busy, locked or
    /// unreadable, met while reading the schema version, as [`SignerDbError::NotASignerDb`]
    /// naming `path`; anything else unchanged.
    fn into_unusable(self, path: &Path) -> SignerDbError {
        use rusqlite::ErrorCode;
        let unusable = match &self {
            SignerDbError::Corrupt { .. } => true,
            SignerDbError::Sqlite(sqlite) => !matches!(
                sqlite.sqlite_error_code(),
                Some(
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::CannotOpen
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::PermissionDenied
                        | ErrorCode::ReadOnly
                        | ErrorCode::DiskFull
                )
            ),
            _ => false,
        };
        if !unusable {
            return not_a_database(self, path);
        }
        let reason = match &self {
            SignerDbError::Sqlite(sqlite) => sqlite.to_string(),
            other => other.to_string(),
        };
        SignerDbError::NotASignerDb {
            path: path.to_path_buf(),
            reason: one_line(&reason),
        }
    }
}

/// `text` with its control characters (newlines among them) escaped, so that an error quoting
/// a file's content stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn sync_parent_dir(path: &Path) -> Result<(), SignerDbError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(dir).map_err(|source| SignerDbError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        handle.sync_all().map_err(|source| SignerDbError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
