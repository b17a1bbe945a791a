//! What a devnet run is asked to do, checked before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use crate::devnet::scenario::Scenario;

/// The signers' `tenure_last_block_proposal_timeout_secs` in a devnet: how long a signer
/// that voted for a block waits before it may vote for a sibling (the invariant's window).
/// Shorter than the reference's 30 s so that a run shows the rule at work within minutes.
pub const DEVNET_WINDOW: Duration = Duration::from_secs(10);

/// How long the devnet's miner waits without a new vote on a proposal before it proposes
/// the same block again (a higher slot version: every signer receives it anew).
pub const REPROPOSE_AFTER: Duration = Duration::from_secs(2);

/// A reference signer binary and how many signers run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSigners {
    /// The binary (run as `BIN run --config FILE`).
    pub binary: PathBuf,
    /// How many of the signers run it (the first ones).
    pub count: usize,
}

/// Where the signers' files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    /// A new directory under the system's temporary directory.
    Temporary,
    /// This directory (created if missing; it must be empty).
    At(PathBuf),
}

/// Everything a devnet run needs, validated ([`DevnetOptions::validate`]).
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// The binary whose `run` subcommand each (non-reference) signer process runs.
    pub signer_binary: PathBuf,
    /// Each signer's weight; the number of signers is its length.
    pub weights: Vec<u32>,
    /// Tenures to mine (after the scenario, if any).
    pub tenures: usize,
    /// Blocks per tenure.
    pub blocks_per_tenure: usize,
    /// Seed of the keys, the miner's choices and the chaos schedule.
    pub seed: u64,
    /// A scenario (the mock node's format) run before the tenures, with its file name.
    pub scenario: Option<(PathBuf, Scenario)>,
    /// Also write the node's activity record (JSON lines) here.
    pub record: Option<PathBuf>,
    /// Reference signers mixed in.
    pub reference: Option<ReferenceSigners>,
    /// How many signers (the last ones) are in the reward set but never run.
    pub silent: usize,
    /// Kill a random signer with SIGKILL this many times per second on average, and
    /// restart it on its database (`None`: no chaos).
    pub chaos_rate: Option<f64>,
    /// With chaos: keep mining tenures past `tenures` until chaos has killed this many
    /// signers (at most 100 times `tenures`).
    pub chaos_kills: Option<u64>,
    /// Once per tenure, the node's RPC answers 503 for this long.
    pub node_outage: Option<Duration>,
    /// The miner proposes conflicting siblings now and then.
    pub equivocating_miner: bool,
    /// Where the signers' configs, keys, logs and databases go.
    pub data_dir: DataDir,
    /// Keep the data directory at the end (a temporary one is removed otherwise).
    pub keep: bool,
    /// How long a block may take to reach the threshold before the run reports a stall.
    pub block_timeout: Duration,
    /// Run each of this implementation's signers as an active/standby pair sharing a
    /// PostgreSQL database started for the run, with this signing lease (`--standby`).
    pub standby: Option<Duration>,
    /// With `standby`: each instance's own signer database is its schema of the shared
    /// PostgreSQL database (`--signerdb-on-postgres`), not a SQLite file.
    pub signerdb_on_postgres: bool,
    /// The least time between two blocks' proposals (`--block-interval-ms`).
    pub block_interval: Duration,
}

impl DevnetOptions {
    /// The defaults: 5 signers of weight 1, 100 tenures of 10 blocks (about a minute on a
    /// 2-core machine), no faults.
    pub fn new(signer_binary: PathBuf) -> Self {
        DevnetOptions {
            signer_binary,
            weights: vec![1; 5],
            tenures: 100,
            blocks_per_tenure: 10,
            seed: 0,
            scenario: None,
            record: None,
            reference: None,
            silent: 0,
            chaos_rate: None,
            chaos_kills: None,
            node_outage: None,
            equivocating_miner: false,
            data_dir: DataDir::Temporary,
            keep: false,
            block_timeout: Duration::from_secs(30),
            standby: None,
            signerdb_on_postgres: false,
            block_interval: Duration::ZERO,
        }
    }

    /// How many signers the reward set holds.
    pub fn signer_count(&self) -> usize {
        self.weights.len()
    }

    /// How many signers run the reference binary.
    pub fn reference_count(&self) -> usize {
        self.reference.as_ref().map_or(0, |r| r.count)
    }

    /// The total weight of the reward set.
    pub fn total_weight(&self) -> u64 {
        self.weights.iter().map(|w| u64::from(*w)).sum()
    }

    /// The weight a block needs: 70 %, rounded up (as the node computes it).
    pub fn threshold_weight(&self) -> u64 {
        (self.total_weight() * 7).div_ceil(10)
    }

    /// The weight of the silent signers (the last `silent`).
    pub fn silent_weight(&self) -> u64 {
        let n = self.signer_count();
        self.weights[n.saturating_sub(self.silent)..]
            .iter()
            .map(|w| u64::from(*w))
            .sum()
    }

    /// Checks the combination; the error is one line naming the option.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.signer_count();
        if n == 0 {
            return Err("--signers must be at least 1".into());
        }
        if n > 1000 {
            return Err(format!("--signers {n}: at most 1000 signers"));
        }
        if let Some(i) = self.weights.iter().position(|w| *w == 0) {
            return Err(format!(
                "--weights: signer {i} has weight 0 (weights are at least 1)"
            ));
        }
        if self.blocks_per_tenure == 0 {
            return Err("--blocks-per-tenure must be at least 1".into());
        }
        if self.tenures == 0 && self.scenario.is_none() {
            return Err("--tenures must be at least 1 (or give a --scenario)".into());
        }
        if self.silent > n {
            return Err(format!(
                "--silent {}: there are only {n} signers",
                self.silent
            ));
        }
        if let Some(reference) = &self.reference {
            if reference.count == 0 {
                return Err("--reference-count must be at least 1".into());
            }
            if reference.count + self.silent > n {
                return Err(format!(
                    "--reference-count {} with --silent {}: only {n} signers",
                    reference.count, self.silent
                ));
            }
            if !reference.binary.is_file() {
                return Err(format!(
                    "--reference-signer {}: no such file",
                    reference.binary.display()
                ));
            }
        }
        if let Some(rate) = self.chaos_rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= 50.0) {
                return Err(format!(
                    "--chaos-rate {rate}: expected kills per second, above 0 and at most 50"
                ));
            }
            if self.silent == n {
                return Err("--chaos with every signer silent: nothing to kill".into());
            }
        }
        if self.chaos_kills.is_some() && self.chaos_rate.is_none() {
            return Err("--chaos-kills needs --chaos".into());
        }
        if self.chaos_kills.is_some() && self.tenures == 0 {
            return Err("--chaos-kills needs --tenures of at least 1".into());
        }
        if let Some(outage) = self.node_outage {
            if outage.is_zero() {
                return Err("--node-outage must be at least 1 second".into());
            }
            if outage >= self.block_timeout {
                return Err(format!(
                    "--node-outage {}s must be shorter than --block-timeout {}s",
                    outage.as_secs(),
                    self.block_timeout.as_secs()
                ));
            }
        }
        if let DataDir::At(dir) = &self.data_dir {
            let used = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            if used {
                return Err(format!(
                    "--data-dir {} is not empty (a previous run's?): give a new or empty directory",
                    dir.display()
                ));
            }
        }
        if self.block_timeout.is_zero() {
            return Err("--block-timeout must be at least 1 second".into());
        }
        if self.signerdb_on_postgres && self.standby.is_none() {
            return Err("--signerdb-on-postgres needs --standby".into());
        }
        if let Some(lease) = self.standby {
            if self.reference_count() + self.silent >= n {
                return Err("--standby: no signer of this implementation to pair".into());
            }
            if lease < Duration::from_millis(100) {
                return Err("--ha-lease-ms must be at least 100".into());
            }
            if self.block_interval >= self.block_timeout {
                return Err("--block-interval-ms must be below --block-timeout".into());
            }
        }
        Ok(())
    }
}

/// Parses `--weights 1,1,2`: positive integers separated by commas.
pub fn parse_weights(text: &str) -> Result<Vec<u32>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<u32>()
                .map_err(|_| format!("`{part}` is not a weight (a positive integer)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> DevnetOptions {
        DevnetOptions::new(PathBuf::from("/bin/true"))
    }

    #[test]
    fn the_defaults_are_valid_and_five_signers_need_four() {
        let o = options();
        assert!(o.validate().is_ok());
        assert_eq!(o.threshold_weight(), 4);
    }

    #[test]
    fn silent_weight_counts_the_last_signers() {
        let mut o = options();
        o.weights = vec![1, 1, 1, 2, 3];
        o.silent = 2;
        assert_eq!(o.silent_weight(), 5);
        assert_eq!(o.threshold_weight(), 6);
    }

    #[test]
    fn bad_combinations_name_the_option() {
        let mut o = options();
        o.silent = 6;
        assert!(o.validate().unwrap_err().starts_with("--silent"));
        let mut o = options();
        o.weights = vec![1, 0];
        assert!(o.validate().unwrap_err().starts_with("--weights"));
        let mut o = options();
        o.chaos_rate = Some(0.0);
        assert!(o.validate().unwrap_err().starts_with("--chaos-rate"));
        assert!(parse_weights("1,x").is_err());
        assert_eq!(parse_weights("1, 2,3").unwrap(), vec![1, 2, 3]);
    }
}
