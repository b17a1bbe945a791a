//! What operators and the monitoring server read about the database: its size, how many
//! blocks it holds in each state, the validation queue, and this signer's latest vote.

use rusqlite::OptionalExtension;

use super::error::SignerDbError;
use super::own_vote::OwnVoteRecord;
use super::state::BlockState;
use super::SignerDb;
use libsigner::chain::Sha512Trunc256Sum;

impl SignerDb {
    /// The schema version the file had when this handle opened it (before any migration): 0
    /// for a new file, [`super::REFERENCE_SCHEMA_VERSION`] for a database taken over from the
    /// reference signer, [`super::SCHEMA_VERSION`] when nothing had to change.
    pub fn schema_version_at_open(&self) -> u32 {
        self.opened_at_version
    }

    /// The database's size in bytes: its pages plus, for a file, the write-ahead log.
    pub fn database_size_bytes(&self) -> Result<u64, SignerDbError> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let main = u64::try_from(pages.saturating_mul(page_size)).unwrap_or(0);
        let mut wal_path = self.path.clone().into_os_string();
        wal_path.push("-wal");
        let wal = std::fs::metadata(&wal_path).map(|m| m.len()).unwrap_or(0);
        Ok(main.saturating_add(wal))
    }

    /// How many blocks the database holds in each state (every state listed, in
    /// [`BlockState::ALL`] order).
    pub fn count_blocks_by_state(&self) -> Result<Vec<(BlockState, u64)>, SignerDbError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, COUNT(*) FROM blocks GROUP BY state")?;
        let mut rows = stmt.query([])?;
        let mut counts: Vec<(BlockState, u64)> =
            BlockState::ALL.iter().map(|state| (*state, 0)).collect();
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let count: i64 = row.get(1)?;
            if let Some(entry) = counts.iter_mut().find(|(state, _)| state.name() == name) {
                entry.1 = u64::try_from(count).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    /// How many proposals wait in the validation queue.
    pub fn count_pending_block_validations(&self) -> Result<u64, SignerDbError> {
        let count: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM block_validations_pending", [], |r| {
                    r.get(0)
                })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// This signer's most recent vote (by the time of its latest pre-commit, signature or
    /// rejection; the highest block on a tie), if it recorded any.
    pub fn get_last_own_vote(&self) -> Result<Option<OwnVoteRecord>, SignerDbError> {
        let hash: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT signer_signature_hash FROM own_votes \
                 ORDER BY MAX(COALESCE(pre_committed_at, 0), COALESCE(signed_at, 0), \
                              COALESCE(rejected_at, 0)) DESC, stacks_height DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(hash) = hash else {
            return Ok(None);
        };
        let bytes: [u8; 32] = hash.as_slice().try_into().map_err(|_| {
            SignerDbError::corrupt("own_votes", "signer_signature_hash", "not 32 bytes")
        })?;
        self.get_own_vote(&Sha512Trunc256Sum::from(bytes))
    }
}
