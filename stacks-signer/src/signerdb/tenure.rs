//! Per-tenure timing: the last activity seen in a tenure, and when the tenure's idle timers
//! (full and read-count) last restarted, from which the tenure-extend timestamps sent to the
//! miner are computed.

use std::time::Duration;

use super::engine::sql_params;
use libsigner::chain::{ConsensusHash, NakamotoBlock};

use super::sql::{now_secs, u64_to_sql, Cols};
use super::{SignerDb, SignerDbError};

/// `TenureChangeCause` bytes (libsigner.md §4): the causes that restart a timer.
const CAUSE_BLOCK_FOUND: u8 = 0;
const CAUSE_EXTENDED: u8 = 1;
const CAUSE_EXTENDED_READ_COUNT: u8 = 3;

/// Which tenure idle timer a tenure-extend timestamp is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenureTimer {
    /// The full budget: restarted by a new tenure (BlockFound) or a full extend (Extended).
    Full,
    /// The read-count budget: restarted by those and by ExtendedReadCount.
    ReadCount,
}

impl TenureTimer {
    /// Whether a tenure change with cause byte `cause` restarts this timer.
    pub fn restarted_by(self, cause: u8) -> bool {
        match self {
            TenureTimer::Full => matches!(cause, CAUSE_BLOCK_FOUND | CAUSE_EXTENDED),
            TenureTimer::ReadCount => matches!(
                cause,
                CAUSE_BLOCK_FOUND | CAUSE_EXTENDED | CAUSE_EXTENDED_READ_COUNT
            ),
        }
    }
}

impl SignerDb {
    /// Records the last activity time of tenure `consensus_hash` (seconds).
    pub fn update_last_activity_time(
        &mut self,
        consensus_hash: &ConsensusHash,
        last_activity_time: u64,
    ) -> Result<(), SignerDbError> {
        let time = u64_to_sql("last_activity_time", last_activity_time)?;
        self.sql().exec(
            "INSERT INTO tenure_activity (consensus_hash, last_activity_time) VALUES (?1, ?2) \
             ON CONFLICT (consensus_hash) DO UPDATE \
             SET last_activity_time = excluded.last_activity_time",
            sql_params![consensus_hash.as_bytes(), time],
        )?;
        Ok(())
    }

    /// The last activity time recorded for tenure `consensus_hash`.
    pub fn get_last_activity_time(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<Option<u64>, SignerDbError> {
        self.sql().row(
            "SELECT last_activity_time FROM tenure_activity WHERE consensus_hash = ?1 LIMIT 1",
            sql_params![consensus_hash.as_bytes()],
            |row| Cols::new(row, "tenure_activity").u64(0, "last_activity_time"),
        )
    }

    /// When `timer` last restarted in tenure `consensus_hash`, and the validation time spent
    /// since: `(start_secs, processing_ms)`.
    ///
    /// Walks the tenure's globally accepted blocks from the highest down, adding each one's
    /// validation time and taking its proposal time as the start, and stops after the first
    /// block whose tenure change restarts `timer` (that block's own time included). With no
    /// globally accepted block the start is now and the processing time 0.
    pub fn get_tenure_times(
        &self,
        consensus_hash: &ConsensusHash,
        timer: TenureTimer,
    ) -> Result<(u64, u64), SignerDbError> {
        let rows = self.sql().rows(
            "SELECT tenure_change_cause, proposed_time, validation_time_ms FROM blocks \
             WHERE consensus_hash = ?1 AND state = 'GloballyAccepted' \
             ORDER BY stacks_height DESC",
            sql_params![consensus_hash.as_bytes()],
            |row| {
                let cols = Cols::new(row, "blocks");
                Ok((
                    cols.opt_u64(0, "tenure_change_cause")?,
                    cols.u64(1, "proposed_time")?,
                    cols.opt_u64(2, "validation_time_ms")?,
                ))
            },
        )?;
        let mut processing_ms = 0u64;
        let mut start = None;
        for (cause, proposed_time, validation_ms) in rows {
            processing_ms = processing_ms.saturating_add(validation_ms.unwrap_or(0));
            start = Some(proposed_time);
            let restarts = cause
                .and_then(|c| u8::try_from(c).ok())
                .is_some_and(|c| timer.restarted_by(c));
            if restarts {
                break;
            }
        }
        Ok((start.unwrap_or_else(now_secs), processing_ms))
    }

    /// The tenure-extend timestamp of `timer` for tenure `consensus_hash` computed from the
    /// database: `start + idle_timeout_secs + ceil(processing_ms / 1000)` (saturating), with
    /// `(start, processing_ms)` from [`SignerDb::get_tenure_times`]; on a database error, as
    /// the reference, `now + idle_timeout_secs`.
    pub fn tenure_extend_timestamp_from_db(
        &self,
        consensus_hash: &ConsensusHash,
        timer: TenureTimer,
        idle_timeout_secs: u64,
    ) -> u64 {
        let (start, processing_ms) = self
            .get_tenure_times(consensus_hash, timer)
            .unwrap_or_else(|_| (now_secs(), 0));
        start
            .saturating_add(idle_timeout_secs)
            .saturating_add(processing_ms.div_ceil(1000))
    }
}

/// The tenure-extend timestamps sent to the miner with each block response.
impl SignerDb {
    /// When the miner may extend the full tenure budget, for a response about `block`.
    ///
    /// With `check_tenure_extend` (acceptances) a well-formed tenure-start block restarts
    /// the timer now: `now + idle_timeout`. Otherwise (and for rejections) the timestamp comes
    /// from the tenure's globally accepted blocks, see
    /// [`SignerDb::tenure_extend_timestamp_from_db`].
    pub fn calculate_full_extend_timestamp(
        &self,
        idle_timeout: Duration,
        block: &NakamotoBlock,
        check_tenure_extend: bool,
    ) -> u64 {
        self.calculate_tenure_extend_timestamp(
            TenureTimer::Full,
            idle_timeout,
            block,
            check_tenure_extend,
        )
    }

    /// When the miner may extend the read-count budget, for a response about `block` (as
    /// [`SignerDb::calculate_full_extend_timestamp`], for the read-count timer).
    pub fn calculate_read_count_extend_timestamp(
        &self,
        idle_timeout: Duration,
        block: &NakamotoBlock,
        check_tenure_extend: bool,
    ) -> u64 {
        self.calculate_tenure_extend_timestamp(
            TenureTimer::ReadCount,
            idle_timeout,
            block,
            check_tenure_extend,
        )
    }

    fn calculate_tenure_extend_timestamp(
        &self,
        timer: TenureTimer,
        idle_timeout: Duration,
        block: &NakamotoBlock,
        check_tenure_extend: bool,
    ) -> u64 {
        let idle_secs = idle_timeout.as_secs();
        if check_tenure_extend {
            if let Some(tc) = block.get_tenure_change_tx_payload() {
                if timer.restarted_by(tc.cause.to_u8()) {
                    return now_secs().wrapping_add(idle_secs);
                }
            }
        }
        self.tenure_extend_timestamp_from_db(&block.header.consensus_hash, timer, idle_secs)
    }
}
