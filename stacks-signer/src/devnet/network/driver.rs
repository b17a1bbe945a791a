//! The devnet's miner: mines the tenures (a burn block, then the tenure's blocks, each
//! waited for until the node processed it with the threshold's signatures), with the faults
//! that concern the miner and the node: conflicting siblings (`--equivocating-miner`) and
//! an RPC outage once per tenure (`--node-outage`). It runs a scenario file first if given.
//!
//! A block that does not reach the threshold is handled as a miner would: while the signers
//! still vote (a new vote on any candidate of the height within [`REPROPOSE_AFTER`]) it
//! waits; when no vote came for [`REPROPOSE_AFTER`] the proposal is sent again (signers that
//! missed it, or restarted, get it anew), and when none came for [`REPLACE_AFTER`] the miner
//! builds a replacement at the same height (a new timestamp, so a new block): signers that
//! never validated the first (a validation request lost to an outage or a kill) can vote for
//! it, and those that did may once their `tenure_last_block_proposal_timeout` has passed.
//! After `--block-timeout` the run stops and reports a stall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::Sha512Trunc256Sum;

use super::chaos::sleep_unless;
use super::options::{DevnetOptions, REPROPOSE_AFTER};
use super::rng::DevnetRng;
use super::tally::Tally;
use crate::devnet::scenario::ScenarioRunner;
use crate::devnet::{BlockKind, BlockOverrides, Proposal, ProposeOptions, RunningMockNode};

/// How long the miner waits at the end of a tenure for slower signers to answer its last
/// block.
const LAGGARD_WAIT: Duration = Duration::from_secs(3);

/// How long the signers may go without a new vote on a height before the miner proposes a
/// replacement.
pub const REPLACE_AFTER: Duration = Duration::from_secs(12);

/// The chance, per block, that the equivocating miner proposes a conflicting sibling right
/// after the block (before it is signed), and separately right after it was signed.
pub const SIBLING_CHANCE: f64 = 0.25;

/// One position of the chain the miner meant to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBlock {
    /// The tenure (1-based).
    pub tenure: usize,
    /// The block's place in its tenure (1-based).
    pub index: usize,
    /// Its height.
    pub height: u64,
    /// The first block proposed for it.
    pub first: Sha512Trunc256Sum,
    /// Every block proposed for it (the first, conflicting siblings, replacements).
    pub candidates: Vec<Sha512Trunc256Sum>,
    /// The one that reached the threshold, if any.
    pub signed: Option<Sha512Trunc256Sum>,
    /// Proposals sent again.
    pub reproposals: u32,
    /// Replacements built.
    pub replacements: u32,
}

/// What the miner did.
#[derive(Debug, Clone, Default)]
pub struct DriverReport {
    /// Every position, in order.
    pub blocks: Vec<PlannedBlock>,
    /// Conflicting siblings proposed before the first block was signed.
    pub siblings_before: usize,
    /// Conflicting siblings proposed after the first block was signed.
    pub siblings_after: usize,
    /// The hashes of every conflicting sibling (`--equivocating-miner`).
    pub sibling_hashes: Vec<Sha512Trunc256Sum>,
    /// Tenures fully mined.
    pub tenures_mined: usize,
    /// Node outages made.
    pub outages: usize,
    /// Why mining stopped early, if a block stalled.
    pub stall: Option<String>,
    /// The scenario's failure, if it failed.
    pub scenario_error: Option<String>,
    /// Whether a stop request (Ctrl-C) ended it.
    pub interrupted: bool,
}

/// What the progress display shows of the miner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinerStatus {
    /// The tenure being mined (1-based; 0 before the first).
    pub tenure: usize,
    /// Whether the node's RPC is down now.
    pub outage: bool,
    /// Whether the scenario is running.
    pub scenario: bool,
}

/// The miner of one run.
pub struct Driver<'a> {
    node: &'a RunningMockNode,
    tally: &'a Tally,
    options: &'a DevnetOptions,
    stop: &'a AtomicBool,
    status: Arc<Mutex<MinerStatus>>,
    kills: Box<dyn Fn() -> u64 + 'a>,
    rng: DevnetRng,
    report: DriverReport,
    /// When the last block was first proposed (for `--block-interval-ms`).
    last_proposed: Option<Instant>,
}

impl<'a> Driver<'a> {
    /// A miner for `node`, counting with `tally`, stopping early when `stop` is set;
    /// `kills` tells how many kills chaos made so far (for `chaos_kills`).
    pub fn new(
        node: &'a RunningMockNode,
        tally: &'a Tally,
        options: &'a DevnetOptions,
        stop: &'a AtomicBool,
        status: Arc<Mutex<MinerStatus>>,
        kills: Box<dyn Fn() -> u64 + 'a>,
    ) -> Self {
        Driver {
            node,
            tally,
            options,
            stop,
            status,
            kills,
            rng: DevnetRng::new(options.seed, "miner"),
            report: DriverReport::default(),
            last_proposed: None,
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut MinerStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut status);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn more_kills_wanted(&self) -> bool {
        self.options.chaos_kills.is_some_and(|n| (self.kills)() < n)
    }

    /// Runs the scenario (if any), then the tenures (more with `chaos_kills`), and reports.
    pub fn run(mut self, tenures: usize) -> DriverReport {
        if let Some((path, scenario)) = &self.options.scenario {
            self.set_status(|s| s.scenario = true);
            let mut runner = ScenarioRunner::new(self.node, self.options.block_timeout);
            for (i, step) in scenario.step.iter().enumerate() {
                if self.stopped() {
                    self.report.interrupted = true;
                    return self.report;
                }
                if let Err(e) = runner.step(step) {
                    self.report.scenario_error = Some(format!(
                        "{}: step {} ({}): {e}",
                        path.display(),
                        i + 1,
                        step.name()
                    ));
                    return self.report;
                }
            }
            self.set_status(|s| s.scenario = false);
        }
        let miners = self.node.with_state(|s| s.miners.len()).max(1);
        let most = tenures.saturating_mul(100);
        let mut tenure = 0;
        while tenure < tenures || (self.more_kills_wanted() && tenure < most) {
            tenure += 1;
            if self.stopped() {
                self.report.interrupted = true;
                break;
            }
            self.set_status(|s| s.tenure = tenure);
            if let Err(e) = self.node.mine_burn_block(Some((tenure - 1) % miners)) {
                self.report.stall = Some(format!("tenure {tenure}: the burn block failed: {e}"));
                break;
            }
            let outage_at = self
                .options
                .node_outage
                .map(|_| self.rng.below(self.options.blocks_per_tenure as u64) as usize + 1);
            let mut result = Ok(());
            for index in 1..=self.options.blocks_per_tenure {
                result = self.mine_block(tenure, index, outage_at == Some(index));
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                self.let_laggards_catch_up();
            }
            match result {
                Ok(()) => self.report.tenures_mined += 1,
                Err(Some(reason)) => {
                    self.report.stall = Some(reason);
                    break;
                }
                Err(None) => {
                    self.report.interrupted = true;
                    break;
                }
            }
        }
        self.report
    }

    /// Proposes a sibling of `of` (same parent and kind, a later timestamp).
    fn propose_sibling(&self, of: &Proposal, kind: BlockKind, timestamp: u64) -> Option<Proposal> {
        let overrides = BlockOverrides {
            parent_block_id: Some(of.block.header.parent_block_id),
            timestamp: Some(timestamp),
            ..BlockOverrides::default()
        };
        self.node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                overrides,
            })
            .ok()
    }

    /// Mines one block: `Err(None)` when stopped, `Err(Some(reason))` on a stall.
    /// Before the next burn block, lets the signers that voted in this tenure answer its last
    /// block (for a bounded time). A real tenure lasts minutes; without this pause a signer
    /// a few events behind would judge the tenure's last proposals against the next
    /// sortition, as any signer that asks its node at proposal time does.
    fn let_laggards_catch_up(&self) {
        let Some(last) = self.report.blocks.last() else {
            return;
        };
        let Some(signed) = last.signed else {
            return;
        };
        let tenure_hashes: Vec<Sha512Trunc256Sum> = self
            .report
            .blocks
            .iter()
            .filter(|b| b.tenure == last.tenure)
            .flat_map(|b| b.candidates.iter().copied())
            .collect();
        let voters = self.tally.voters_on(&tenure_hashes);
        self.tally
            .wait_answered(&signed, &voters, LAGGARD_WAIT, self.stop);
    }

    fn mine_block(
        &mut self,
        tenure: usize,
        index: usize,
        outage: bool,
    ) -> Result<(), Option<String>> {
        let kind = if index == 1 {
            BlockKind::TenureStart
        } else {
            BlockKind::Continue
        };
        if let Some(last) = self.last_proposed {
            let wait = self.options.block_interval.saturating_sub(last.elapsed());
            if !wait.is_zero() && !sleep_unless(self.stop, wait) {
                return Err(None);
            }
        }
        self.last_proposed = Some(Instant::now());
        let first = self
            .node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            })
            .map_err(|e| {
                Some(format!(
                    "tenure {tenure}, block {index}: the miner failed: {e}"
                ))
            })?;
        let mut candidates = vec![first.clone()];
        let mut last_timestamp = first.block.header.timestamp;
        let mut planned = PlannedBlock {
            tenure,
            index,
            height: first.block.header.chain_length,
            first: first.signer_signature_hash,
            candidates: vec![first.signer_signature_hash],
            signed: None,
            reproposals: 0,
            replacements: 0,
        };
        if self.options.equivocating_miner && self.rng.chance(SIBLING_CHANCE) {
            last_timestamp += 1;
            if let Some(sibling) = self.propose_sibling(&first, kind, last_timestamp) {
                self.report.siblings_before += 1;
                self.report
                    .sibling_hashes
                    .push(sibling.signer_signature_hash);
                planned.candidates.push(sibling.signer_signature_hash);
                candidates.push(sibling);
            }
        }
        if outage {
            if let Some(secs) = self.options.node_outage {
                self.report.outages += 1;
                self.set_status(|s| s.outage = true);
                self.node.set_endpoint_down("/", true);
                let slept = sleep_unless(self.stop, secs);
                self.node.set_endpoint_down("/", false);
                self.set_status(|s| s.outage = false);
                if !slept {
                    self.report.blocks.push(planned);
                    return Err(None);
                }
            }
        }
        let started = Instant::now();
        let mut last_new_candidate = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_weight = 0;
        let signed = loop {
            let hashes: Vec<Sha512Trunc256Sum> =
                candidates.iter().map(|c| c.signer_signature_hash).collect();
            if let Some(hash) = self
                .tally
                .wait_processed(&hashes, REPROPOSE_AFTER, self.stop)
            {
                break hash;
            }
            // The tally may lag behind a loaded node: ask the node itself.
            if let Some(done) = candidates
                .iter()
                .find(|c| self.node.block(&c.block.block_id()).is_some())
            {
                break done.signer_signature_hash;
            }
            if self.stopped() {
                self.report.blocks.push(planned);
                return Err(None);
            }
            if started.elapsed() >= self.options.block_timeout {
                let (pre, acc, rej) = self.tally.weights_on(&first.signer_signature_hash);
                let reason = format!(
                    "block {index} of tenure {tenure} (height {}) did not reach the threshold within {}s: \
                     its first proposal has pre-commits of weight {pre}, signatures of weight {acc} and \
                     rejections of weight {rej}, {} needed{}",
                    planned.height,
                    self.options.block_timeout.as_secs(),
                    self.options.threshold_weight(),
                    self.silent_note()
                );
                self.report.blocks.push(planned);
                return Err(Some(reason));
            }
            // Progress: any new vote (for or against) on any candidate. A network that is
            // slow but still voting is left alone; one that went quiet gets the proposal
            // again, and after a while a replacement.
            let weight: u64 = candidates
                .iter()
                .map(|c| {
                    let (pre, acc, rej) = self.tally.weights_on(&c.signer_signature_hash);
                    pre + acc + rej
                })
                .sum();
            if weight > last_weight {
                last_weight = weight;
                last_progress = Instant::now();
                continue;
            }
            if last_progress.elapsed() >= REPLACE_AFTER
                && last_new_candidate.elapsed() >= REPLACE_AFTER
            {
                last_timestamp += 1;
                if let Some(replacement) = self.propose_sibling(&first, kind, last_timestamp) {
                    planned.replacements += 1;
                    planned.candidates.push(replacement.signer_signature_hash);
                    candidates.push(replacement);
                }
                last_new_candidate = Instant::now();
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= REPROPOSE_AFTER {
                // Send again the candidate with the most favourable weight.
                let best = candidates
                    .iter()
                    .max_by_key(|c| {
                        let (pre, acc, _) = self.tally.weights_on(&c.signer_signature_hash);
                        pre + acc
                    })
                    .map(|c| c.signer_signature_hash);
                if let Some(hash) = best {
                    if self.node.repropose(&hash).is_ok() {
                        planned.reproposals += 1;
                    }
                }
            }
        };
        planned.signed = Some(signed);
        if self.options.equivocating_miner && self.rng.chance(SIBLING_CHANCE) {
            if let Some(winner) = candidates
                .iter()
                .find(|c| c.signer_signature_hash == signed)
            {
                last_timestamp += 1;
                if let Some(sibling) = self.propose_sibling(winner, kind, last_timestamp) {
                    self.report.siblings_after += 1;
                    self.report
                        .sibling_hashes
                        .push(sibling.signer_signature_hash);
                    planned.candidates.push(sibling.signer_signature_hash);
                }
            }
        }
        self.report.blocks.push(planned);
        Ok(())
    }

    fn silent_note(&self) -> String {
        if self.options.silent == 0 {
            return String::new();
        }
        let total = self.options.total_weight();
        let silent = self.options.silent_weight();
        let percent = silent as f64 * 100.0 / total.max(1) as f64;
        let verdict = if silent * 10 > total * 3 {
            "more than the 30% a network can lose"
        } else {
            "within the 30% a network can lose"
        };
        format!(
            " ({} silent signers hold weight {silent} of {total}, {percent:.0}%: {verdict})",
            self.options.silent
        )
    }
}
