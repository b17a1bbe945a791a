//! The `blocks` table: one row per proposed block, its consensus encoding plus the columns
//! the queries filter and sort on.

use super::engine::{sql_params, Row, Sql, Value};
use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum};

use super::sql::{opt_u64_to_sql, u64_to_sql, Cols};
use super::{BlockInfo, BlockState, ExtraBlockInfo, SignerDb, SignerDbError};

const TABLE: &str = "blocks";

/// The columns of a block row, in [`BlockRow::read`] order.
pub(crate) const BLOCK_COLUMNS: &str = "signer_signature_hash, reward_cycle, burn_block_height, \
     consensus_hash, stacks_height, block, state, valid, signed_over, proposed_time, \
     signed_self, signed_group, validation_time_ms, tenure_change, tenure_change_cause, vote, \
     ext, reject_reason";

/// A block row with its block still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockRow {
    pub signer_signature_hash: Sha512Trunc256Sum,
    pub reward_cycle: u64,
    pub burn_block_height: u64,
    pub consensus_hash: ConsensusHash,
    pub stacks_height: u64,
    /// The block's consensus encoding.
    pub block: Vec<u8>,
    pub state: BlockState,
    pub valid: Option<bool>,
    pub signed_over: bool,
    pub proposed_time: u64,
    pub signed_self: Option<u64>,
    pub signed_group: Option<u64>,
    pub validation_time_ms: Option<u64>,
    pub tenure_change: bool,
    pub tenure_change_cause: Option<u8>,
    /// A `NakamotoBlockVote`'s consensus encoding.
    pub vote: Option<Vec<u8>>,
    pub ext: ExtraBlockInfo,
    /// A `RejectReason`'s JSON (its consensus encoding drops the text of some reasons).
    pub reject_reason: Option<String>,
}

impl BlockRow {
    /// Reads a row selected with [`BLOCK_COLUMNS`].
    pub(crate) fn read(row: &Row<'_, '_>) -> Result<Self, SignerDbError> {
        let c = Cols::new(row, TABLE);
        let state_text = c.text(6, "state")?;
        let state = BlockState::try_from(state_text)
            .map_err(|e| SignerDbError::corrupt(TABLE, "state", format!("{e}: {state_text:?}")))?;
        let ext_code = c
            .opt_i64(16, "ext")?
            .ok_or_else(|| SignerDbError::corrupt(TABLE, "ext", "unexpected NULL"))?;
        let ext = ExtraBlockInfo::from_code(ext_code).ok_or_else(|| {
            SignerDbError::corrupt(TABLE, "ext", format!("unknown code {ext_code}"))
        })?;
        let cause = c
            .opt_u64(14, "tenure_change_cause")?
            .map(|v| {
                u8::try_from(v).map_err(|_| {
                    SignerDbError::corrupt(
                        TABLE,
                        "tenure_change_cause",
                        format!("{v} is not a cause byte"),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            signer_signature_hash: Sha512Trunc256Sum::from(
                c.array::<32>(0, "signer_signature_hash")?,
            ),
            reward_cycle: c.u64(1, "reward_cycle")?,
            burn_block_height: c.u64(2, "burn_block_height")?,
            consensus_hash: ConsensusHash::from(c.array::<20>(3, "consensus_hash")?),
            stacks_height: c.u64(4, "stacks_height")?,
            block: c.blob(5, "block")?.to_vec(),
            state,
            valid: c.opt_bool(7, "valid")?,
            signed_over: c.bool(8, "signed_over")?,
            proposed_time: c.u64(9, "proposed_time")?,
            signed_self: c.opt_u64(10, "signed_self")?,
            signed_group: c.opt_u64(11, "signed_group")?,
            validation_time_ms: c.opt_u64(12, "validation_time_ms")?,
            tenure_change: c.bool(13, "tenure_change")?,
            tenure_change_cause: cause,
            vote: c.opt_blob(15, "vote")?.map(<[u8]>::to_vec),
            ext,
            reject_reason: c.opt_text(17, "reject_reason")?.map(str::to_string),
        })
    }

    /// Inserts or replaces the row, keeping the stored `broadcasted` time.
    pub(crate) fn upsert(&self, sql: Sql<'_>) -> Result<(), SignerDbError> {
        sql.exec(
            "INSERT INTO blocks (signer_signature_hash, reward_cycle, burn_block_height, \
             consensus_hash, stacks_height, block, state, valid, signed_over, proposed_time, \
             signed_self, signed_group, validation_time_ms, tenure_change, tenure_change_cause, \
             vote, ext, reject_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
             ON CONFLICT (signer_signature_hash) DO UPDATE SET \
             reward_cycle = excluded.reward_cycle, burn_block_height = excluded.burn_block_height, \
             consensus_hash = excluded.consensus_hash, stacks_height = excluded.stacks_height, \
             block = excluded.block, state = excluded.state, valid = excluded.valid, \
             signed_over = excluded.signed_over, proposed_time = excluded.proposed_time, \
             signed_self = excluded.signed_self, signed_group = excluded.signed_group, \
             validation_time_ms = excluded.validation_time_ms, \
             tenure_change = excluded.tenure_change, \
             tenure_change_cause = excluded.tenure_change_cause, vote = excluded.vote, \
             ext = excluded.ext, reject_reason = excluded.reject_reason",
            sql_params![
            self.signer_signature_hash.as_bytes(),
            u64_to_sql("reward_cycle", self.reward_cycle)?,
            u64_to_sql("burn_block_height", self.burn_block_height)?,
            self.consensus_hash.as_bytes(),
            u64_to_sql("stacks_height", self.stacks_height)?,
            self.block,
            self.state.name(),
            self.valid,
            self.signed_over,
            u64_to_sql("proposed_time", self.proposed_time)?,
            opt_u64_to_sql("signed_self", self.signed_self)?,
            opt_u64_to_sql("signed_group", self.signed_group)?,
            opt_u64_to_sql("validation_time_ms", self.validation_time_ms)?,
            self.tenure_change,
            self.tenure_change_cause,
            self.vote,
            self.ext.to_code(),
            self.reject_reason,
        ],
        )?;
        Ok(())
    }
}

/// Runs a block query expected to return at most one row.
pub(crate) fn query_block_row(
    conn: Sql<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Option<BlockRow>, SignerDbError> {
    conn.row(sql, params, BlockRow::read)
}

/// The row of block `signer_signature_hash`.
pub(crate) fn lookup_row(
    conn: Sql<'_>,
    signer_signature_hash: &Sha512Trunc256Sum,
) -> Result<Option<BlockRow>, SignerDbError> {
    query_block_row(
        conn,
        &format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE signer_signature_hash = ?1"),
        sql_params![signer_signature_hash.as_bytes()],
    )
}

/// The queries over the `blocks` table that only need its columns.
impl SignerDb {
    /// Whether this signer has signed over (pre-committed, accepted, or seen globally accepted)
    /// any block of tenure `consensus_hash`.
    pub fn has_signed_block_in_tenure(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<bool, SignerDbError> {
        self.sql().exists(
            "SELECT 1 FROM blocks WHERE consensus_hash = ?1 AND signed_over = 1 LIMIT 1",
            sql_params![consensus_hash.as_bytes()],
        )
    }

    /// The height span (`max - min + 1`, 0 if none) of the globally accepted blocks of tenure
    /// `consensus_hash` — a span, not a row count, as in the reference.
    pub fn get_globally_accepted_block_count_in_tenure(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<u64, SignerDbError> {
        Ok(self
            .sql()
            .row(
                "SELECT COALESCE(MAX(stacks_height) - MIN(stacks_height) + 1, 0) FROM blocks \
                 WHERE consensus_hash = ?1 AND state = 'GloballyAccepted'",
                sql_params![consensus_hash.as_bytes()],
                |row| Cols::new(row, TABLE).u64(0, "stacks_height"),
            )?
            .unwrap_or(0))
    }

    /// The `signed_self` time of the globally accepted block of tenure `consensus_hash` with
    /// the highest burn block height among those this signer signed itself.
    pub fn get_last_globally_accepted_block_signed_self(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<std::time::SystemTime>, SignerDbError> {
        self.sql().row(
            "SELECT signed_self FROM blocks WHERE consensus_hash = ?1 \
             AND state = 'GloballyAccepted' AND signed_self IS NOT NULL \
             ORDER BY burn_block_height DESC LIMIT 1",
            sql_params![consensus_hash.as_bytes()],
            |row| {
                let secs = Cols::new(row, TABLE).u64(0, "signed_self")?;
                Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            },
        )
    }

    /// Whether any block of `reward_cycle` is still `Unprocessed`.
    pub fn has_unprocessed_blocks(&self, reward_cycle: u64) -> Result<bool, SignerDbError> {
        self.sql().exists(
            "SELECT 1 FROM blocks WHERE reward_cycle = ?1 AND state = 'Unprocessed' LIMIT 1",
            sql_params![u64_to_sql("reward_cycle", reward_cycle)?],
        )
    }

    /// Records when the block was broadcast (seconds; kept across later `insert_block`s).
    pub fn set_block_broadcasted(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        broadcasted: u64,
    ) -> Result<(), SignerDbError> {
        self.sql().exec(
            "UPDATE blocks SET broadcasted = ?1 WHERE signer_signature_hash = ?2",
            sql_params![
                u64_to_sql("broadcasted", broadcasted)?,
                signer_signature_hash.as_bytes()
            ],
        )?;
        Ok(())
    }

    /// When the block was broadcast, if it was (a stored 0 reads as never, as in the
    /// reference).
    pub fn get_block_broadcasted(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Option<u64>, SignerDbError> {
        Ok(self
            .sql()
            .row(
                "SELECT broadcasted FROM blocks WHERE signer_signature_hash = ?1",
                sql_params![signer_signature_hash.as_bytes()],
                |row| Cols::new(row, TABLE).opt_u64(0, "broadcasted"),
            )?
            .flatten()
            .filter(|t| *t != 0))
    }
}

/// The queries that return whole block records.
impl SignerDb {
    /// The record of block `signer_signature_hash` (any reward cycle).
    pub fn block_lookup(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Option<BlockInfo>, SignerDbError> {
        lookup_row(self.sql(), signer_signature_hash)?
            .map(BlockInfo::from_row)
            .transpose()
    }

    /// Stores `block_info` (replacing the previous record of the block but keeping its
    /// broadcast time).
    ///
    /// This does not check the state machine against the stored record and is not durable
    /// on power loss: record this signer's own votes with [`SignerDb::record_own_vote`].
    pub fn insert_block(&mut self, block_info: &BlockInfo) -> Result<(), SignerDbError> {
        block_info.to_row()?.upsert(self.sql())
    }

    /// The lowest block of tenure `consensus_hash` that this signer signed over.
    pub fn get_first_signed_block_in_tenure(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<BlockInfo>, SignerDbError> {
        self.one_block(
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM blocks WHERE consensus_hash = ?1 \
                 AND signed_over = 1 ORDER BY stacks_height ASC LIMIT 1"
            ),
            consensus_hash,
        )
    }

    /// The highest block of tenure `consensus_hash` that is pre-committed, locally accepted
    /// or globally accepted.
    pub fn get_last_accepted_block(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<BlockInfo>, SignerDbError> {
        self.one_block(
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM blocks WHERE consensus_hash = ?1 \
                 AND state IN ('GloballyAccepted', 'LocallyAccepted', 'PreCommitted') \
                 ORDER BY stacks_height DESC LIMIT 1"
            ),
            consensus_hash,
        )
    }

    /// The highest globally accepted block of tenure `consensus_hash`.
    pub fn get_last_globally_accepted_block(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<BlockInfo>, SignerDbError> {
        self.one_block(
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM blocks WHERE consensus_hash = ?1 \
                 AND state = 'GloballyAccepted' ORDER BY stacks_height DESC LIMIT 1"
            ),
            consensus_hash,
        )
    }

    /// The highest globally accepted block of any tenure (the latest `signed_group` first
    /// among equal heights).
    pub fn get_canonical_tip(&self) -> Result<Option<BlockInfo>, SignerDbError> {
        query_block_row(
            self.sql(),
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM blocks WHERE state = 'GloballyAccepted' \
                 ORDER BY stacks_height DESC, signed_group DESC NULLS LAST LIMIT 1"
            ),
            &[],
        )?
        .map(BlockInfo::from_row)
        .transpose()
    }

    /// Marks the block globally accepted (see [`BlockInfo`]'s state machine) and drops it
    /// from the validation queue. The record is not stored: call
    /// [`SignerDb::insert_block`].
    pub fn mark_block_globally_accepted(
        &mut self,
        block_info: &mut BlockInfo,
    ) -> Result<(), SignerDbError> {
        block_info.mark_globally_accepted()?;
        self.remove_pending_block_validation(&block_info.signer_signature_hash())
    }

    /// Marks the block globally rejected and drops it from the validation queue. The record
    /// is not stored: call [`SignerDb::insert_block`].
    pub fn mark_block_globally_rejected(
        &mut self,
        block_info: &mut BlockInfo,
    ) -> Result<(), SignerDbError> {
        block_info.mark_globally_rejected()?;
        self.remove_pending_block_validation(&block_info.signer_signature_hash())
    }

    fn one_block(
        &self,
        sql: &str,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<BlockInfo>, SignerDbError> {
        query_block_row(self.sql(), sql, sql_params![consensus_hash.as_bytes()])?
            .map(BlockInfo::from_row)
            .transpose()
    }
}
