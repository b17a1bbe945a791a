//! Bounded storage: dropping what no decision can need any more.
//!
//! The reference keeps everything forever. Here the run loop calls [`SignerDb::prune`] when a
//! reward cycle begins, with a horizon a few reward cycles back. What goes:
//! * blocks of reward cycles before `min_reward_cycle` — except the canonical tip, which
//!   anchors later parent checks — and every vote, pre-commit, pending validation and replay
//!   record of those blocks;
//! * this signer's own votes (`own_votes`) of reward cycles before `min_reward_cycle`, except
//!   the one on the canonical tip — including votes on blocks that were never stored. So
//!   that a deleted vote cannot be contradicted, `min_reward_cycle` becomes the pruning floor
//!   (`prune_floor`, it never goes down): [`SignerDb::record_own_vote`] refuses every vote
//!   on a block of an earlier reward cycle, as EIP-3076's lower bounds do for pruned
//!   slashing-protection data;
//! * peers' state-machine updates of reward cycles before `min_reward_cycle`;
//! * burn blocks below `min_burn_height`, with the tenure activity and the peers' burn block
//!   reports of their sortitions; reports and activity older than the oldest burn block kept
//!   (which no kept burn block can match) go too.
//!
//! StackerDB slot versions are never pruned (one row per slot, and a lost version would make
//! the next write look stale).

use super::engine::{sql_params, Engine};
use super::sql::{u64_to_sql, Cols};
use super::{SignerDb, SignerDbError};

/// What to keep: everything at or after these points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneHorizon {
    /// The oldest reward cycle whose blocks and updates are kept.
    pub min_reward_cycle: u64,
    /// The lowest burn block height kept.
    pub min_burn_height: u64,
}

/// How many rows a prune removed, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Block rows.
    pub blocks: usize,
    /// Signature, rejection and pre-commit rows, and this signer's own-vote rows.
    pub votes: usize,
    /// Pending-validation and replay-validation rows.
    pub validations: usize,
    /// Burn block rows.
    pub burn_blocks: usize,
    /// Tenure activity, state-machine update and burn block report rows.
    pub peer_state: usize,
}

impl SignerDb {
    /// Deletes the data older than `horizon`, in one transaction: blocks of earlier reward
    /// cycles (except the canonical tip) with their votes and queue entries, this signer's own
    /// votes of earlier cycles (except on the canonical tip), peers' updates of
    /// earlier cycles, burn blocks below the height with their tenures' activity and reports;
    /// raises the pruning floor to `horizon.min_reward_cycle` (see [`SignerDb::prune_floor`]).
    /// For an instance of an active/standby pair, then prunes the shared record too
    /// ([`crate::ha::SharedStore::prune`]).
    pub fn prune(&mut self, horizon: PruneHorizon) -> Result<PruneStats, SignerDbError> {
        let min_cycle = u64_to_sql("min_reward_cycle", horizon.min_reward_cycle)?;
        let min_height = u64_to_sql("min_burn_height", horizon.min_burn_height)?;
        self.write(|tx| {
            let mut stats = PruneStats::default();
            // The floor first: from this commit on, no vote of an earlier cycle is recorded.
            // SQLite's scalar MAX is PostgreSQL's GREATEST; their temporary schemas differ.
            let (greatest, temp, blob) = match tx.engine() {
                Engine::Sqlite => ("MAX", "temp", "BLOB"),
                Engine::Postgres => ("GREATEST", "pg_temp", "BYTEA"),
            };
            tx.exec(
                &format!(
                    "INSERT INTO prune_floor (id, min_reward_cycle) VALUES (0, ?1) \
                     ON CONFLICT (id) DO UPDATE SET min_reward_cycle = \
                     {greatest}(prune_floor.min_reward_cycle, excluded.min_reward_cycle)"
                ),
                sql_params![min_cycle],
            )?;
            tx.exec(
                &format!("CREATE TEMP TABLE IF NOT EXISTS prune_blocks (h {blob} PRIMARY KEY)"),
                &[],
            )?;
            tx.exec(&format!("DELETE FROM {temp}.prune_blocks"), &[])?;
            tx.exec(
                &format!(
                    "INSERT INTO {temp}.prune_blocks (h) SELECT signer_signature_hash FROM blocks \
                     WHERE reward_cycle < ?1 AND signer_signature_hash IS DISTINCT FROM ( \
                       SELECT signer_signature_hash FROM blocks WHERE state = 'GloballyAccepted' \
                       ORDER BY stacks_height DESC, signed_group DESC NULLS LAST LIMIT 1)"
                ),
                sql_params![min_cycle],
            )?;
            for table in [
                "block_signatures",
                "block_rejection_signer_addrs",
                "block_pre_commits",
            ] {
                stats.votes += count(tx.exec(
                    &format!(
                        "DELETE FROM {table} WHERE signer_signature_hash IN \
                         (SELECT h FROM {temp}.prune_blocks)"
                    ),
                    &[],
                )?);
            }
            for table in ["block_validations_pending", "block_validated_by_replay_txs"] {
                stats.validations += count(tx.exec(
                    &format!(
                        "DELETE FROM {table} WHERE signer_signature_hash IN \
                         (SELECT h FROM {temp}.prune_blocks)"
                    ),
                    &[],
                )?);
            }
            stats.votes += count(tx.exec(
                "DELETE FROM own_votes WHERE reward_cycle < ?1 \
                 AND signer_signature_hash IS DISTINCT FROM ( \
                   SELECT signer_signature_hash FROM blocks WHERE state = 'GloballyAccepted' \
                   ORDER BY stacks_height DESC, signed_group DESC NULLS LAST LIMIT 1)",
                sql_params![min_cycle],
            )?);
            stats.blocks = count(tx.exec(
                &format!(
                    "DELETE FROM blocks WHERE signer_signature_hash IN \
                     (SELECT h FROM {temp}.prune_blocks)"
                ),
                &[],
            )?);
            tx.exec(&format!("DELETE FROM {temp}.prune_blocks"), &[])?;

            stats.peer_state += count(tx.exec(
                "DELETE FROM signer_state_machine_updates WHERE reward_cycle < ?1",
                sql_params![min_cycle],
            )?);
            for (table, column) in [
                ("tenure_activity", "consensus_hash"),
                (
                    "burn_block_updates_received_times",
                    "burn_block_consensus_hash",
                ),
            ] {
                stats.peer_state += count(tx.exec(
                    &format!(
                        "DELETE FROM {table} WHERE {column} IN \
                         (SELECT consensus_hash FROM burn_blocks WHERE block_height < ?1)"
                    ),
                    sql_params![min_height],
                )?);
            }
            stats.burn_blocks = count(tx.exec(
                "DELETE FROM burn_blocks WHERE block_height < ?1",
                sql_params![min_height],
            )?);
            let oldest_kept = tx
                .row("SELECT MIN(received_time) FROM burn_blocks", &[], |row| {
                    Cols::new(row, "burn_blocks").opt_i64(0, "received_time")
                })?
                .flatten();
            if let Some(oldest) = oldest_kept {
                stats.peer_state += count(tx.exec(
                    "DELETE FROM burn_block_updates_received_times WHERE received_time < ?1 \
                     AND burn_block_consensus_hash NOT IN (SELECT consensus_hash FROM burn_blocks)",
                    sql_params![oldest],
                )?);
                stats.peer_state += count(tx.exec(
                    "DELETE FROM tenure_activity WHERE last_activity_time < ?1 \
                     AND consensus_hash NOT IN (SELECT consensus_hash FROM burn_blocks)",
                    sql_params![oldest],
                )?);
            }
            Ok(stats)
        })
        .and_then(|mut stats| {
            // The shared record of an active/standby pair is pruned the same way (with one
            // more cycle kept); its floor refuses votes of earlier cycles.
            if let Some(shared) = &self.shared {
                stats.votes +=
                    usize::try_from(shared.prune(horizon.min_reward_cycle)?).unwrap_or(usize::MAX);
            }
            Ok(stats)
        })
    }
}

/// A row count as the statistics hold it.
fn count(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}
