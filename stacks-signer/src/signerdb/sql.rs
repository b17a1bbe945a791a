//! Converting between Rust values and database columns, with errors that name the column.
//!
//! Integers are signed 64-bit on both engines (SQLite `INTEGER`, PostgreSQL `BIGINT`): every
//! `u64` going in is checked (never wrapped) and every integer coming out must be
//! non-negative. Fixed-size hashes are stored as BLOBs (`BYTEA`) of their exact length.

use std::time::{SystemTime, UNIX_EPOCH};

use super::engine::{Cell, Row};
use super::error::SignerDbError;
use libsigner::chain::StacksAddress;

/// A `u64` as a SQLite integer, refusing values above `i64::MAX`.
pub(crate) fn u64_to_sql(what: &'static str, value: u64) -> Result<i64, SignerDbError> {
    i64::try_from(value).map_err(|_| SignerDbError::ValueTooLarge { what, value })
}

/// An optional `u64` as a nullable SQLite integer.
pub(crate) fn opt_u64_to_sql(
    what: &'static str,
    value: Option<u64>,
) -> Result<Option<i64>, SignerDbError> {
    value.map(|v| u64_to_sql(what, v)).transpose()
}

/// Seconds since the Unix epoch of `time`.
pub(crate) fn system_time_secs(time: &SystemTime) -> Result<u64, SignerDbError> {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| SignerDbError::BadSystemTime(e.to_string()))
}

/// The current time in seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads typed columns of one row, naming the table and column in every error.
pub(crate) struct Cols<'r> {
    row: &'r Row<'r, 'r>,
    table: &'static str,
}

impl<'r> Cols<'r> {
    /// Columns of `row`, read from `table`.
    pub(crate) fn new(row: &'r Row<'r, 'r>, table: &'static str) -> Self {
        Self { row, table }
    }

    fn value(&self, idx: usize, column: &'static str) -> Result<Cell<'r>, SignerDbError> {
        self.row
            .cell(idx)
            .map_err(|e| SignerDbError::corrupt(self.table, column, e))
    }

    fn corrupt(&self, column: &'static str, reason: impl std::fmt::Display) -> SignerDbError {
        SignerDbError::corrupt(self.table, column, reason)
    }

    /// A nullable integer as `Option<i64>`.
    pub(crate) fn opt_i64(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<i64>, SignerDbError> {
        match self.value(idx, column)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v)),
            other => Err(self.corrupt(column, format!("expected an integer, got {other:?}"))),
        }
    }

    /// A nullable non-negative integer.
    pub(crate) fn opt_u64(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<u64>, SignerDbError> {
        self.opt_i64(idx, column)?
            .map(|v| {
                u64::try_from(v).map_err(|_| self.corrupt(column, format!("negative value {v}")))
            })
            .transpose()
    }

    /// A non-negative integer.
    pub(crate) fn u64(&self, idx: usize, column: &'static str) -> Result<u64, SignerDbError> {
        self.opt_u64(idx, column)?
            .ok_or_else(|| self.corrupt(column, "unexpected NULL"))
    }

    /// A nullable integer that must fit a `u32`.
    pub(crate) fn u32(&self, idx: usize, column: &'static str) -> Result<u32, SignerDbError> {
        let v = self.u64(idx, column)?;
        u32::try_from(v).map_err(|_| self.corrupt(column, format!("{v} does not fit in 32 bits")))
    }

    /// A nullable 0/1 integer.
    pub(crate) fn opt_bool(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<bool>, SignerDbError> {
        match self.opt_i64(idx, column)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(v) => Err(self.corrupt(column, format!("expected 0 or 1, got {v}"))),
        }
    }

    /// A 0/1 integer.
    pub(crate) fn bool(&self, idx: usize, column: &'static str) -> Result<bool, SignerDbError> {
        self.opt_bool(idx, column)?
            .ok_or_else(|| self.corrupt(column, "unexpected NULL"))
    }

    /// A nullable BLOB.
    pub(crate) fn opt_blob(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<&'r [u8]>, SignerDbError> {
        match self.value(idx, column)? {
            Cell::Null => Ok(None),
            Cell::Blob(b) => Ok(Some(b)),
            other => Err(self.corrupt(column, format!("expected a blob, got {other:?}"))),
        }
    }

    /// A BLOB.
    pub(crate) fn blob(&self, idx: usize, column: &'static str) -> Result<&'r [u8], SignerDbError> {
        self.opt_blob(idx, column)?
            .ok_or_else(|| self.corrupt(column, "unexpected NULL"))
    }

    /// A BLOB of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<[u8; N], SignerDbError> {
        let bytes = self.blob(idx, column)?;
        <[u8; N]>::try_from(bytes)
            .map_err(|_| self.corrupt(column, format!("expected {N} bytes, got {}", bytes.len())))
    }

    /// A nullable TEXT value.
    pub(crate) fn opt_text(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<&'r str>, SignerDbError> {
        match self.value(idx, column)? {
            Cell::Null => Ok(None),
            _ => self.text(idx, column).map(Some),
        }
    }

    /// A TEXT value.
    pub(crate) fn text(&self, idx: usize, column: &'static str) -> Result<&'r str, SignerDbError> {
        match self.value(idx, column)? {
            Cell::Text(t) => std::str::from_utf8(t).map_err(|e| self.corrupt(column, e)),
            other => Err(self.corrupt(column, format!("expected text, got {other:?}"))),
        }
    }

    /// A c32 Stacks address stored as TEXT.
    pub(crate) fn address(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<StacksAddress, SignerDbError> {
        let text = self.text(idx, column)?;
        StacksAddress::from_string(text)
            .ok_or_else(|| self.corrupt(column, format!("not a Stacks address: {text:?}")))
    }
}
