//! The end-of-run summary: blocks proposed, signed to the threshold, rejected and why; each
//! signer's votes, rejections, restarts and database size; proposal-to-threshold latency;
//! the faults injected; the equivocation check's verdict; and, when something failed, the
//! one line that names it. Rendered as text, or as JSON (`--json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::check::CheckOutcome;

/// Proposal-to-threshold latency over the signed blocks (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// How many blocks were measured.
    pub samples: usize,
    /// Median.
    pub p50_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// Slowest.
    pub max_ms: u64,
}

impl Latency {
    /// The nearest-rank percentiles of `samples` (milliseconds).
    pub fn of(mut samples: Vec<u64>) -> Latency {
        samples.sort_unstable();
        let rank = |p: f64| -> u64 {
            if samples.is_empty() {
                return 0;
            }
            let k = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[k - 1]
        };
        Latency {
            samples: samples.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The blocks of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlockFigures {
    /// Blocks the miner meant to add (one per height it mined).
    pub planned: usize,
    /// Of those, how many reached the threshold and were processed.
    pub signed: usize,
    /// Distinct blocks proposed (conflicting siblings and replacements included).
    pub proposed: usize,
    /// Conflicting siblings proposed by `--equivocating-miner` (before / after the first
    /// block of their height was signed).
    pub conflicting_siblings: usize,
    /// Of those, proposed before the first was signed.
    pub siblings_before_signing: usize,
    /// Of those, proposed after the first was signed.
    pub siblings_after_signing: usize,
    /// Conflicting siblings that reached the threshold instead of the first block of their
    /// height (possible for one proposed before signing; the check judges every vote).
    pub siblings_signed: usize,
    /// Replacements the miner built for blocks that went too long without the threshold.
    pub replacements: usize,
    /// Proposals sent again while waiting for the threshold.
    pub reproposals: usize,
    /// Blocks processed in all (by the scenario too).
    pub processed: usize,
    /// Proposals never processed that at least one signer rejected.
    pub rejected: usize,
    /// Rejections (one per signer and block) of blocks never signed, by reason.
    pub rejections_of_unsigned: BTreeMap<String, u64>,
    /// Rejections of blocks that reached the threshold anyway (a signer that restarted, or
    /// lost its view of the node during an outage), by reason.
    pub rejections_of_signed: BTreeMap<String, u64>,
}

/// The faults of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultFigures {
    /// Signers that never ran.
    pub silent_signers: usize,
    /// Their weight.
    pub silent_weight: u64,
    /// `--chaos-rate`, when chaos ran.
    pub chaos_rate: Option<f64>,
    /// SIGKILLs.
    pub kills: u64,
    /// Restarts after them.
    pub restarts: u64,
    /// Node outages made, and how long each lasted.
    pub node_outages: usize,
    /// Seconds per outage.
    pub node_outage_secs: Option<u64>,
    /// Whether the miner proposed conflicting siblings.
    pub equivocating_miner: bool,
}

/// Active/standby pairs (`--standby`): what each kill of an active cost its key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FailoverFigures {
    /// Keys run as pairs.
    pub pairs: usize,
    /// The signing lease (ms).
    pub lease_ms: u64,
    /// The least time between blocks (ms).
    pub block_interval_ms: u64,
    /// Kills of an active instance.
    pub active_kills: usize,
    /// Of those, how many its key answered (signed a processed block) again within one
    /// processed block: the standby's first vote came before the next block but one.
    pub answered_within_one_block: usize,
    /// The most processed blocks a kill's key missed before it signed again.
    pub most_blocks_missed: usize,
    /// For each paired key, the longest run of processed blocks it did not sign.
    pub longest_unsigned_run: BTreeMap<usize, usize>,
    /// Each kill of an active: the signer, when (ms since the Unix epoch), and the blocks
    /// its key missed before it signed again.
    pub kills: Vec<KillCost>,
}

/// What one kill of an active cost its key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KillCost {
    /// The signer (index).
    pub signer: usize,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// Processed blocks its key did not sign before it signed one again.
    pub blocks_missed: usize,
}

/// One signer's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SignerFigures {
    /// Its index.
    pub index: usize,
    /// `ours`, `reference` or `silent`.
    pub kind: String,
    /// Its weight.
    pub weight: u32,
    /// Its public key (hex).
    pub public_key: String,
    /// Blocks it pre-committed to.
    pub pre_commits: u64,
    /// Blocks it signed.
    pub signatures: u64,
    /// Blocks it rejected.
    pub rejections: u64,
    /// Times it was started again after a kill.
    pub restarts: u32,
    /// Times it was killed.
    pub kills: u32,
    /// Its database's size in bytes (with the WAL), at the end.
    pub db_bytes: u64,
    /// How it exited by itself, if it did.
    pub unexpected_exit: Option<String>,
    /// Its peak resident memory in KiB at the end of the run (the current incarnation's;
    /// Linux only).
    pub peak_rss_kib: Option<u64>,
}

/// The whole summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Whether every block reached the threshold and the check passed.
    pub ok: bool,
    /// What failed, in one line (without the `error: ` prefix).
    pub error: Option<String>,
    /// Whether Ctrl-C (or SIGTERM) ended the run.
    pub interrupted: bool,
    /// The seed.
    pub seed: u64,
    /// Wall-clock duration of the run, start-up and checks included.
    pub duration_secs: f64,
    /// How long the miner ran (the scenario and the tenures).
    pub mining_secs: f64,
    /// Blocks processed per second of mining: the network's throughput to the threshold.
    pub blocks_per_sec: f64,
    /// Signers in the reward set.
    pub signers: usize,
    /// Their total weight.
    pub total_weight: u64,
    /// The weight a block needs.
    pub threshold_weight: u64,
    /// Tenures asked for.
    pub tenures_planned: usize,
    /// Tenures fully mined.
    pub tenures_mined: usize,
    /// The scenario file, if one ran.
    pub scenario: Option<String>,
    /// Blocks.
    pub blocks: BlockFigures,
    /// Proposal-to-threshold latency.
    pub latency: Latency,
    /// Faults.
    pub faults: FaultFigures,
    /// Active/standby pairs, with `--standby`.
    pub failover: Option<FailoverFigures>,
    /// Per signer.
    pub per_signer: Vec<SignerFigures>,
    /// The equivocation check.
    pub check: CheckOutcome,
    /// The data directory, when it was kept.
    pub data_dir: Option<String>,
    /// The devnet process's peak resident memory in KiB (the mock node and its miners;
    /// Linux only).
    pub devnet_peak_rss_kib: Option<u64>,
}

fn size(bytes: u64) -> String {
    if bytes >= 10 * 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

fn ms(value: u64) -> String {
    if value >= 10_000 {
        format!("{:.1} s", value as f64 / 1000.0)
    } else {
        format!("{value} ms")
    }
}

impl Summary {
    /// The summary as text, for a person.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let b = &self.blocks;
        let _ = writeln!(
            out,
            "devnet summary: {} signers (threshold weight {} of {}), seed {}, {:.1} s",
            self.signers, self.threshold_weight, self.total_weight, self.seed, self.duration_secs
        );
        if let Some(scenario) = &self.scenario {
            let _ = writeln!(out, "  scenario    {scenario}");
        }
        if self.tenures_mined > self.tenures_planned {
            let _ = writeln!(
                out,
                "  tenures     {} mined ({} asked for, then more until the chaos kills asked for)",
                self.tenures_mined, self.tenures_planned
            );
        } else {
            let _ = writeln!(
                out,
                "  tenures     {} of {} mined",
                self.tenures_mined, self.tenures_planned
            );
        }
        let _ = writeln!(
            out,
            "  blocks      {} of {} signed to the threshold; {} proposed ({} conflicting siblings: {} before, {} after signing, {} of them signed; {} replacements; {} re-sent)",
            b.signed,
            b.planned,
            b.proposed,
            b.conflicting_siblings,
            b.siblings_before_signing,
            b.siblings_after_signing,
            b.siblings_signed,
            b.replacements,
            b.reproposals
        );
        let reasons = |map: &BTreeMap<String, u64>| {
            if map.is_empty() {
                "none".to_string()
            } else {
                map.iter()
                    .map(|(reason, n)| format!("{reason} x{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(
            out,
            "  rejected    {} proposals never signed; their rejections: {}",
            b.rejected,
            reasons(&b.rejections_of_unsigned)
        );
        if !b.rejections_of_signed.is_empty() {
            let _ = writeln!(
                out,
                "              rejections of blocks signed anyway: {}",
                reasons(&b.rejections_of_signed)
            );
        }
        let _ = writeln!(
            out,
            "  throughput  {:.1} blocks per second to the threshold ({} blocks in {:.1} s of mining)",
            self.blocks_per_sec, b.processed, self.mining_secs
        );
        let l = &self.latency;
        let _ = writeln!(
            out,
            "  latency     proposal to threshold: p50 {}, p99 {}, max {} ({} blocks)",
            ms(l.p50_ms),
            ms(l.p99_ms),
            ms(l.max_ms),
            l.samples
        );
        let f = &self.faults;
        let mut faults = Vec::new();
        if f.silent_signers > 0 {
            faults.push(format!(
                "{} silent signers (weight {} of {})",
                f.silent_signers, f.silent_weight, self.total_weight
            ));
        }
        if let Some(rate) = f.chaos_rate {
            faults.push(format!(
                "chaos: {} kills, {} restarts ({rate}/s)",
                f.kills, f.restarts
            ));
        }
        if let Some(secs) = f.node_outage_secs {
            faults.push(format!("{} node outages of {secs} s", f.node_outages));
        }
        if f.equivocating_miner {
            faults.push("equivocating miner".into());
        }
        if faults.is_empty() {
            faults.push("none".into());
        }
        let _ = writeln!(out, "  faults      {}", faults.join("; "));
        if let Some(h) = &self.failover {
            let longest = h.longest_unsigned_run.values().max().copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "  standby     {} active/standby pairs (lease {} ms, blocks at least {} ms apart): {} actives killed, {} answered again within one block, at most {} blocks missed after a kill; longest run of blocks a paired key did not sign: {}",
                h.pairs,
                h.lease_ms,
                h.block_interval_ms,
                h.active_kills,
                h.answered_within_one_block,
                h.most_blocks_missed,
                longest
            );
        }
        let _ = writeln!(
            out,
            "  signers     {:>4}  {:<9}  {:>6}  {:>11}  {:>10}  {:>10}  {:>8}  {:>9}  {:>9}",
            "#",
            "kind",
            "weight",
            "pre-commits",
            "signatures",
            "rejections",
            "restarts",
            "database",
            "peak RSS"
        );
        for s in &self.per_signer {
            let db = if s.kind == "silent" {
                "-".to_string()
            } else {
                size(s.db_bytes)
            };
            let rss = s
                .peak_rss_kib
                .map_or_else(|| "-".to_string(), |kib| size(kib * 1024));
            let _ = write!(
                out,
                "              {:>4}  {:<9}  {:>6}  {:>11}  {:>10}  {:>10}  {:>8}  {:>9}  {:>9}",
                s.index,
                s.kind,
                s.weight,
                s.pre_commits,
                s.signatures,
                s.rejections,
                s.restarts,
                db,
                rss
            );
            if let Some(exit) = &s.unexpected_exit {
                let _ = write!(out, "  exited by itself: {exit}");
            }
            out.push('\n');
        }
        if let Some(kib) = self.devnet_peak_rss_kib {
            let _ = writeln!(
                out,
                "  memory      the devnet process (mock node, miners, tally): peak RSS {}",
                size(kib * 1024)
            );
        }
        let c = &self.check;
        let verdict = if c.passed { "passed" } else { "FAILED" };
        let _ = writeln!(
            out,
            "  check       {verdict}: {} votes published, {} own-vote records read; {} equivocations, {} votes lost, {} flips (window {} s)",
            c.votes_published, c.own_votes_read, c.equivocations, c.votes_lost, c.flips, c.window_secs
        );
        if c.reference_flips > 0 {
            let _ = writeln!(
                out,
                "              reference signers published {} rejections of blocks they had signed (their known behaviour on a late validation answer; not counted)",
                c.reference_flips
            );
        }
        for violation in &c.violations {
            let _ = writeln!(out, "              {violation}");
        }
        for e in &c.database_errors {
            let _ = writeln!(out, "              {e}");
        }
        if let Some(dir) = &self.data_dir {
            let _ = writeln!(out, "  data        {dir}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).collect());
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.max_ms, l.samples),
            (50, 99, 100, 100)
        );
        assert_eq!(Latency::of(vec![]).max_ms, 0);
        assert_eq!(Latency::of(vec![7]).p99_ms, 7);
    }

    #[test]
    fn the_text_names_the_verdict() {
        let mut summary = Summary::default();
        summary.check.passed = true;
        assert!(summary.render().contains("check       passed"));
        summary.check.passed = false;
        assert!(summary.render().contains("FAILED"));
    }
}
