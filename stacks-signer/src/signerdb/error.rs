//! Errors of the signer database.

use std::path::PathBuf;

use super::state::BlockState;

/// Everything that can go wrong opening, migrating, reading or writing the signer database.
#[derive(Debug, thiserror::Error)]
pub enum SignerDbError {
    /// Another process (or another handle in this process) already holds the database.
    #[error(
        "the signer database {path} is already in use by another stacks-signer process \
         (one signer per database: stop the other one or point db_path elsewhere)"
    )]
    AlreadyLocked {
        /// The database file.
        path: PathBuf,
    },
    /// The lock file next to the database could not be created or locked.
    #[error("cannot lock the signer database {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database file holds a schema newer than this program understands.
    #[error(
        "the signer database {path} has schema version {found}, newer than the {supported} this \
         stacks-signer understands: use a newer stacks-signer"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build writes.
        supported: u32,
    },
    /// The database file holds a schema version no migration starts from.
    #[error(
        "the signer database {path} has schema version {found}, which cannot be migrated: {reason}"
    )]
    SchemaUnsupported {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// Why there is no migration path.
        reason: String,
    },
    /// The file at the database path is not a signer database: not SQLite at all, damaged
    /// beyond reading, or another program's database. It is left untouched.
    #[error(
        "the signer database {path} is not a usable signer database ({reason}): move it away \
         or point db_path elsewhere"
    )]
    NotASignerDb {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A migration step failed (the whole migration was rolled back).
    #[error("migrating the signer database to schema version {to} failed: {reason}")]
    Migration {
        /// The version the failed step was migrating to.
        to: u32,
        /// What went wrong.
        reason: String,
    },
    /// A stored value cannot be decoded.
    #[error("corrupt value in {table}.{column}: {reason}")]
    Corrupt {
        /// The table holding the value.
        table: &'static str,
        /// The column holding the value.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A value is too large to be stored (integers are signed 64-bit on both engines).
    #[error("{what} = {value} is too large to store (maximum {max})", max = i64::MAX)]
    ValueTooLarge {
        /// What the value is.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A block state transition the state machine refuses.
    #[error("Invalid state transition from {from} to {to}")]
    InvalidStateTransition {
        /// The current state.
        from: BlockState,
        /// The refused new state.
        to: BlockState,
    },
    /// A lookup that must find a row found none.
    #[error("not found: {0}")]
    NotFound(String),
    /// A pending block validation for this block is already queued.
    #[error("a pending validation for block {0} is already queued")]
    DuplicatePendingValidation(String),
    /// A call's arguments contradict each other (a caller's bug); nothing was written.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The system clock is before the Unix epoch.
    #[error("bad system time: {0}")]
    BadSystemTime(String),
    /// An I/O error on the database's directory or files.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The shared record of an active/standby pair (PostgreSQL, [`crate::ha`]) failed.
    #[error("shared signer database: {0}")]
    Shared(String),
    /// An error from PostgreSQL, when the database is on PostgreSQL (the server's code and
    /// message, or why the connection failed).
    #[error("postgresql: {0}")]
    Postgres(String),
    /// An error from SQLite.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl SignerDbError {
    /// A corrupt-value error naming its table and column.
    pub(crate) fn corrupt(
        table: &'static str,
        column: &'static str,
        reason: impl std::fmt::Display,
    ) -> Self {
        Self::Corrupt {
            table,
            column,
            reason: reason.to_string(),
        }
    }
}
