//! `stacks-signer devnet`: a whole signer network on this machine
//! ([`crate::devnet::network`]). This module turns the flags into
//! [`DevnetOptions`], shows progress (a live display on a terminal, plain lines otherwise),
//! stops everything on Ctrl-C, and prints the summary (text, or JSON with `--json`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::mock_node::load_scenario;
use super::CommandError;
use crate::cli::DevnetArgs;
use crate::devnet::network::options::parse_weights;
use crate::devnet::network::{
    check_data_dir, run_devnet, DataDir, DevnetOptions, LiveStatus, ProgressSink, ReferenceSigners,
};

/// Why `devnet` failed: a bad option (exit 2, as clap's own errors) or a failed run (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevnetFailure {
    /// The options do not make sense together, or a file they name is unusable.
    Usage(String),
    /// The run failed (a stall, a failed check, an interruption, a signer that would not
    /// start).
    Failed(String),
}

impl DevnetFailure {
    /// The process exit code: 2 for [`DevnetFailure::Usage`], 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            DevnetFailure::Usage(_) => 2,
            DevnetFailure::Failed(_) => 1,
        }
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        match self {
            DevnetFailure::Usage(m) | DevnetFailure::Failed(m) => m,
        }
    }
}

impl From<DevnetFailure> for CommandError {
    fn from(f: DevnetFailure) -> Self {
        CommandError(f.message().to_string())
    }
}

/// The default number of signers.
pub const DEFAULT_SIGNERS: usize = 5;

/// The signing lease of `--standby` pairs unless `--ha-lease-ms` says otherwise.
pub const DEFAULT_DEVNET_LEASE_MS: u64 = 600;

/// Builds the run's options from the flags (nothing is started).
pub fn options_from_args(args: &DevnetArgs) -> Result<DevnetOptions, DevnetFailure> {
    let usage = DevnetFailure::Usage;
    let binary = std::env::current_exe()
        .map_err(|e| DevnetFailure::Failed(format!("cannot find this program's path: {e}")))?;
    let mut options = DevnetOptions::new(binary);
    let weights = match &args.weights {
        Some(text) => Some(parse_weights(text).map_err(|e| usage(format!("--weights: {e}")))?),
        None => None,
    };
    let count = args.signers.map(|n| n as usize);
    options.weights = match (count, weights) {
        (Some(n), Some(w)) if w.len() != n => {
            return Err(usage(format!(
                "--weights has {} weights but --signers is {n}",
                w.len()
            )))
        }
        (_, Some(w)) => w,
        (n, None) => vec![1; n.unwrap_or(DEFAULT_SIGNERS)],
    };
    if let Some(path) = &args.scenario {
        let scenario = load_scenario(path).map_err(|e| usage(e.0))?;
        options.scenario = Some((path.clone(), scenario));
        options.tenures = args.tenures.unwrap_or(0);
    } else if let Some(tenures) = args.tenures {
        options.tenures = tenures;
    }
    if let Some(m) = args.blocks_per_tenure {
        options.blocks_per_tenure = m;
    }
    options.seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() % 1_000_000)
            .unwrap_or(0)
    });
    options.record = args.record.clone();
    options.reference = args
        .reference_signer
        .as_ref()
        .map(|binary| ReferenceSigners {
            binary: binary.clone(),
            count: args.reference_count.unwrap_or(1),
        });
    options.silent = args.silent.unwrap_or(0);
    if args.chaos {
        options.chaos_rate = Some(args.chaos_rate.unwrap_or(1.0));
    }
    options.chaos_kills = args.chaos_kills;
    options.node_outage = args.node_outage.map(Duration::from_secs);
    options.equivocating_miner = args.equivocating_miner;
    options.data_dir = match &args.data_dir {
        Some(dir) => DataDir::At(dir.clone()),
        None => DataDir::Temporary,
    };
    options.keep = args.keep;
    if let Some(secs) = args.block_timeout {
        options.block_timeout = Duration::from_secs(secs);
    }
    if args.standby {
        let lease = Duration::from_millis(args.ha_lease_ms.unwrap_or(DEFAULT_DEVNET_LEASE_MS));
        options.standby = Some(lease);
        options.signerdb_on_postgres = args.signerdb_on_postgres;
        options.block_interval = lease + Duration::from_millis(400);
    }
    if let Some(ms) = args.block_interval_ms {
        options.block_interval = Duration::from_millis(ms);
    }
    options.validate().map_err(usage)?;
    Ok(options)
}

/// Plain progress lines (stdout not a terminal): one per tenure, and the notes.
struct Lines {
    out: Mutex<Box<dyn Write + Send>>,
    last_tenure: AtomicUsize,
}

impl Lines {
    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

fn figures(s: &LiveStatus) -> String {
    format!(
        "{} proposed, {} signed, {} rejected, signers up {}/{}, {} kills{}",
        s.proposed,
        s.signed,
        s.rejected,
        s.signers_up,
        s.signers,
        s.kills,
        if s.outage { ", node down" } else { "" }
    )
}

impl ProgressSink for Lines {
    fn update(&self, status: &LiveStatus) {
        let previous = self.last_tenure.swap(status.tenure, Ordering::SeqCst);
        if status.tenure != previous && status.tenure > 0 {
            self.line(&format!(
                "[{:>6.1}s] tenure {}/{}: {}",
                status.elapsed_secs,
                status.tenure,
                status.tenures,
                figures(status)
            ));
        }
    }

    fn note(&self, line: &str) {
        self.line(line);
    }

    fn finish(&self, status: &LiveStatus) {
        self.line(&format!(
            "[{:>6.1}s] done: {}",
            status.elapsed_secs,
            figures(status)
        ));
    }
}

/// The live display on a terminal.
struct Live {
    bar: ProgressBar,
}

impl Live {
    fn new(tenures: usize) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(tenures as u64),
            ProgressDrawTarget::stdout_with_hz(5),
        );
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] tenure {pos}/{len} {bar:24} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Live { bar }
    }
}

impl ProgressSink for Live {
    fn update(&self, status: &LiveStatus) {
        self.bar.set_position(status.tenure as u64);
        let phase = if status.scenario { "scenario: " } else { "" };
        self.bar.set_message(format!("{phase}{}", figures(status)));
    }

    fn note(&self, line: &str) {
        self.bar.println(line);
    }

    fn finish(&self, status: &LiveStatus) {
        self.update(status);
        // Leave the bar where the run ended (an interrupted run is not at its end).
        self.bar.abandon();
    }
}

/// Runs `devnet`: prints the summary to `out` and returns the failure, if any.
pub fn devnet(args: &DevnetArgs, out: &mut dyn Write) -> Result<(), DevnetFailure> {
    if args.check_only {
        return check_only(args, out);
    }
    let options = options_from_args(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("devnet: stopping already (the signers get 5 s, then SIGKILL)");
            } else {
                eprintln!("devnet: stopping: the signers, then the node; the summary follows");
            }
        })
        .map_err(|e| DevnetFailure::Failed(format!("cannot install the Ctrl-C handler: {e}")))?;
    }
    let terminal = std::io::stdout().is_terminal() && !args.json;
    let progress: Arc<dyn ProgressSink> = if terminal {
        Arc::new(Live::new(options.tenures))
    } else {
        let sink: Box<dyn Write + Send> = if args.json {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        Arc::new(Lines {
            out: Mutex::new(sink),
            last_tenure: AtomicUsize::new(0),
        })
    };
    if !args.json {
        progress.note(&format!(
            "devnet: {} signers, {} tenures of {} blocks, seed {}",
            options.signer_count(),
            options.tenures,
            options.blocks_per_tenure,
            options.seed
        ));
    }
    let summary = run_devnet(&options, progress, stop).map_err(DevnetFailure::Failed)?;
    let written = if args.json {
        serde_json::to_string_pretty(&summary)
            .map_err(|e| DevnetFailure::Failed(format!("cannot encode the summary: {e}")))
            .and_then(|json| {
                writeln!(out, "{json}")
                    .map_err(|e| DevnetFailure::Failed(format!("cannot print the summary: {e}")))
            })
    } else {
        write!(out, "{}", summary.render())
            .map_err(|e| DevnetFailure::Failed(format!("cannot print the summary: {e}")))
    };
    let _ = out.flush();
    written?;
    match summary.error {
        None => Ok(()),
        Some(error) => Err(DevnetFailure::Failed(error)),
    }
}

fn check_only(args: &DevnetArgs, out: &mut dyn Write) -> Result<(), DevnetFailure> {
    let dir: PathBuf = args
        .data_dir
        .clone()
        .ok_or_else(|| DevnetFailure::Usage("--check-only needs --data-dir".into()))?;
    let outcome = check_data_dir(&dir).map_err(DevnetFailure::Failed)?;
    let text = if args.json {
        serde_json::to_string_pretty(&outcome).unwrap_or_default()
    } else {
        let mut text = format!(
            "check {}: {} votes published, {} own-vote records read; {} equivocations, {} votes lost, {} flips (window {} s)",
            if outcome.passed { "passed" } else { "FAILED" },
            outcome.votes_published,
            outcome.own_votes_read,
            outcome.equivocations,
            outcome.votes_lost,
            outcome.flips,
            outcome.window_secs
        );
        for line in outcome.violations.iter().chain(&outcome.database_errors) {
            text.push_str("\n  ");
            text.push_str(line);
        }
        text
    };
    writeln!(out, "{text}")
        .map_err(|e| DevnetFailure::Failed(format!("cannot print the check: {e}")))?;
    if outcome.passed {
        Ok(())
    } else {
        Err(DevnetFailure::Failed(format!(
            "equivocation check failed: {} equivocations, {} votes lost, {} flips{}",
            outcome.equivocations,
            outcome.votes_lost,
            outcome.flips,
            outcome
                .violations
                .first()
                .or(outcome.database_errors.first())
                .map(|v| format!(" (first: {v})"))
                .unwrap_or_default()
        )))
    }
}
