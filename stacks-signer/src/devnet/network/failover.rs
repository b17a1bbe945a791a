//! What the kills of active instances cost their keys (`--standby`): after each kill, how
//! many processed blocks went by before the key signed one again, and for each paired key
//! the longest run of processed blocks it did not sign.

use std::collections::BTreeMap;
use std::time::Duration;

use super::fleet::KillRecord;
use super::summary::{FailoverFigures, KillCost};
use super::tally::TallyState;

/// The figures of a run with pairs for the signers `paired` (indices).
pub fn failover_figures(
    state: &TallyState,
    kills: &[KillRecord],
    paired: &[usize],
    lease: Duration,
    block_interval: Duration,
) -> FailoverFigures {
    let mut processed: Vec<(u64, Vec<usize>)> = state
        .processed
        .iter()
        .map(|(hash, p)| {
            let signers = state
                .blocks
                .get(hash)
                .map(|votes| votes.accepts.iter().copied().collect())
                .unwrap_or_default();
            (p.at_ms, signers)
        })
        .collect();
    processed.sort_by_key(|(at, _)| *at);
    let signed_by = |index: usize, signers: &[usize]| signers.contains(&index);

    let mut longest_unsigned_run = BTreeMap::new();
    for &index in paired {
        let (mut run, mut longest) = (0usize, 0usize);
        for (_, signers) in &processed {
            if signed_by(index, signers) {
                run = 0;
            } else {
                run += 1;
                longest = longest.max(run);
            }
        }
        longest_unsigned_run.insert(index, longest);
    }

    let mut figures = FailoverFigures {
        pairs: paired.len(),
        lease_ms: lease.as_millis() as u64,
        block_interval_ms: block_interval.as_millis() as u64,
        longest_unsigned_run,
        ..FailoverFigures::default()
    };
    for kill in kills.iter().filter(|k| paired.contains(&k.signer_index)) {
        figures.active_kills += 1;
        let missed = processed
            .iter()
            .filter(|(at, _)| *at > kill.at_ms)
            .take_while(|(_, signers)| !signed_by(kill.signer_index, signers))
            .count();
        if missed <= 1 {
            figures.answered_within_one_block += 1;
        }
        figures.most_blocks_missed = figures.most_blocks_missed.max(missed);
        figures.kills.push(KillCost {
            signer: kill.signer_index,
            at_ms: kill.at_ms,
            blocks_missed: missed,
        });
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::network::tally::{BlockVotes, ProcessedStat};
    use libsigner::chain::Sha512Trunc256Sum;

    fn state(blocks: &[(u64, &[usize])]) -> TallyState {
        let mut state = TallyState::default();
        for (i, (at, signers)) in blocks.iter().enumerate() {
            let hash = Sha512Trunc256Sum::from([i as u8; 32]);
            state.processed.insert(
                hash,
                ProcessedStat {
                    at_ms: *at,
                    signed_weight: 4,
                    threshold_weight: 4,
                },
            );
            state.blocks.insert(
                hash,
                BlockVotes {
                    accepts: signers.iter().copied().collect(),
                    ..BlockVotes::default()
                },
            );
        }
        state
    }

    #[test]
    fn a_kill_counts_the_blocks_its_key_missed_until_it_signed_again() {
        let s = state(&[
            (100, &[0, 1]),
            (200, &[1]),
            (300, &[1]),
            (400, &[0, 1]),
            (500, &[1]),
            (600, &[0, 1]),
        ]);
        let kills = [
            KillRecord {
                signer_index: 0,
                at_ms: 150,
            },
            KillRecord {
                signer_index: 0,
                at_ms: 450,
            },
            KillRecord {
                signer_index: 2,
                at_ms: 450,
            },
        ];
        let f = failover_figures(
            &s,
            &kills,
            &[0, 1],
            Duration::from_millis(600),
            Duration::from_secs(1),
        );
        assert_eq!(f.active_kills, 2, "signer 2 is not paired");
        assert_eq!(f.most_blocks_missed, 2);
        assert_eq!(f.answered_within_one_block, 1);
        assert_eq!(f.longest_unsigned_run[&0], 2);
        assert_eq!(f.longest_unsigned_run[&1], 0);
    }
}
