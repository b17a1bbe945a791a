//! One signer per database: an exclusive advisory lock held for the life of the handle.
//!
//! Two signers sharing one database (the same key, two processes) could each believe the
//! other's votes were never cast and sign conflicting blocks. So opening a database first
//! takes an exclusive `flock`-style lock on `<db_path>.lock`, which the operating system
//! releases when the process exits however it exits, and only then opens SQLite (which is
//! itself put in exclusive locking mode). A second opener gets
//! [`SignerDbError::AlreadyLocked`] naming the path, instead of waiting or sharing.
//!
//! The lock belongs to the open file, not to the process: a child this process spawns holds a
//! copy of the descriptor between its fork and its exec (the descriptor is close-on-exec), so
//! a reopen racing a spawn in the same process can briefly see the lock still held.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use super::error::SignerDbError;

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DbLock {
    _file: File,
    path: PathBuf,
}

impl DbLock {
    /// The lock file guarding `db_path`.
    pub(crate) fn lock_path(db_path: &Path) -> PathBuf {
        let mut name = db_path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the exclusive lock for `db_path` without waiting.
    pub(crate) fn acquire(db_path: &Path) -> Result<Self, SignerDbError> {
        let path = Self::lock_path(db_path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| SignerDbError::Lock {
                path: path.clone(),
                source,
            })?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Self { _file: file, path }),
            Ok(false) => Err(SignerDbError::AlreadyLocked {
                path: db_path.to_path_buf(),
            }),
            Err(source) => Err(SignerDbError::Lock { path, source }),
        }
    }

    /// The lock file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
