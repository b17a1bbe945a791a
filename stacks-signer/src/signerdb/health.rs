//! What operators and the monitoring server read about the database: its size, how many
//! blocks it holds in each state, the validation queue, and this signer's latest vote.

use super::engine::Engine;
use super::error::SignerDbError;
use super::own_vote::OwnVoteRecord;
use super::sql::Cols;
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

    /// The database's size in bytes: its pages plus, for a file, the write-ahead log; on
    /// PostgreSQL, its tables with their indexes.
    pub fn database_size_bytes(&self) -> Result<u64, SignerDbError> {
        let read = |sql: &str| -> Result<u64, SignerDbError> {
            Ok(self
                .sql()
                .row(sql, &[], |r| Cols::new(r, "size").opt_u64(0, "size"))?
                .flatten()
                .unwrap_or(0))
        };
        if self.engine() == Engine::Postgres {
            // The tables of the connection's schema, with their indexes and TOAST data.
            return read(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            );
        }
        let pages = read("PRAGMA page_count")?;
        let page_size = read("PRAGMA page_size")?;
        let main = pages.saturating_mul(page_size);
        let mut wal_path = self.path.clone().into_os_string();
        wal_path.push("-wal");
        let wal = std::fs::metadata(&wal_path).map(|m| m.len()).unwrap_or(0);
        Ok(main.saturating_add(wal))
    }

    /// How many blocks the database holds in each state (every state listed, in
    /// [`BlockState::ALL`] order).
    pub fn count_blocks_by_state(&self) -> Result<Vec<(BlockState, u64)>, SignerDbError> {
        let mut counts: Vec<(BlockState, u64)> =
            BlockState::ALL.iter().map(|state| (*state, 0)).collect();
        self.sql().for_each(
            "SELECT state, COUNT(*) FROM blocks GROUP BY state",
            &[],
            |row| {
                let cols = Cols::new(row, "blocks");
                let name = cols.text(0, "state")?;
                let count = cols.u64(1, "count")?;
                if let Some(entry) = counts.iter_mut().find(|(state, _)| state.name() == name) {
                    entry.1 = count;
                }
                Ok(())
            },
        )?;
        Ok(counts)
    }

    /// How many proposals wait in the validation queue.
    pub fn count_pending_block_validations(&self) -> Result<u64, SignerDbError> {
        Ok(self
            .sql()
            .row("SELECT COUNT(*) FROM block_validations_pending", &[], |r| {
                Cols::new(r, "block_validations_pending").u64(0, "count")
            })?
            .unwrap_or(0))
    }

    /// This signer's most recent vote (by the time of its latest pre-commit, signature or
    /// rejection; the highest block on a tie), if it recorded any.
    pub fn get_last_own_vote(&self) -> Result<Option<OwnVoteRecord>, SignerDbError> {
        // SQLite's scalar MAX is PostgreSQL's GREATEST.
        let greatest = match self.engine() {
            Engine::Sqlite => "MAX",
            Engine::Postgres => "GREATEST",
        };
        let hash = self.sql().row(
            &format!(
                "SELECT signer_signature_hash FROM own_votes \
                 ORDER BY {greatest}(COALESCE(pre_committed_at, 0), COALESCE(signed_at, 0), \
                              COALESCE(rejected_at, 0)) DESC, stacks_height DESC LIMIT 1"
            ),
            &[],
            |r| Cols::new(r, "own_votes").array::<32>(0, "signer_signature_hash"),
        )?;
        let Some(bytes) = hash else {
            return Ok(None);
        };
        self.get_own_vote(&Sha512Trunc256Sum::from(bytes))
    }
}
