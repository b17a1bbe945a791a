//! Proposal-to-response latency of a signer process on the mock node: the time from the
//! miner's `BlockProposal` chunk being stored in the `miners` StackerDB to the signer's
//! `BlockResponse` chunk being stored in its `signers-*-1` slot, with validation answered at
//! once. Tenure-start blocks are reported apart from the rest.
//!
//! ```sh
//! cargo build --release -p stacks-signer
//! cargo run --release -p stacks-signer --example proposal_latency -- --blocks 1000
//! # with a reference signer binary you have, measured in the same run on the same node:
//! STACKS_SIGNER_REFERENCE_BIN=/path/to/reference/stacks-signer \
//!   cargo run --release -p stacks-signer --example proposal_latency -- --blocks 1000
//! ```
//!
//! Options: `--blocks N` (default 1000), `--blocks-per-tenure M` (default 10),
//! `--signer-bin PATH` (default: `stacks-signer` beside this example's directory, i.e.
//! `target/release/stacks-signer`), `--reference-bin PATH` (default
//! `$STACKS_SIGNER_REFERENCE_BIN`), `--keep` (keep the signers' logs and databases),
//! `--shared-db` (our signer is one instance of an active/standby pair: it records every vote
//! in a throwaway PostgreSQL as well, `db_url`), `--with-standby` (the same, with the pair's
//! standby instance running beside it on the same node), `--signerdb-on-postgres` (our signer's
//! own signer database, `db_path`, in a throwaway PostgreSQL instead of a SQLite file; with
//! `--shared-db`, each instance's in its own schema of the shared database).
//!
//! The reward set holds simulated signers with enough weight that each measured signer
//! reaches the 70% pre-commit threshold with its own pre-commit alone (so neither waits for
//! the other), but not without it. Blocks are processed by the benchmark once every measured
//! signer has answered (uploads are recorded, not processed), so every response is to a
//! live proposal. The mock runs on a fixed clock starting now, so blocks come at signing speed
//! with timestamps one second apart.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::SignerMessage;
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, MockNode, MockNodeConfig, ObserverSpec, ProposeOptions,
    RunningMockNode, SignerSpec,
};

struct Options {
    blocks: usize,
    blocks_per_tenure: usize,
    signer_bin: PathBuf,
    reference_bin: Option<PathBuf>,
    keep: bool,
    shared_db: bool,
    with_standby: bool,
    signerdb_on_postgres: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let default_signer = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("stacks-signer")))
        .unwrap_or_else(|| PathBuf::from("target/release/stacks-signer"));
    let mut options = Options {
        blocks: 1000,
        blocks_per_tenure: 10,
        signer_bin: default_signer,
        reference_bin: std::env::var_os("STACKS_SIGNER_REFERENCE_BIN")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from),
        keep: false,
        shared_db: false,
        with_standby: false,
        signerdb_on_postgres: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--blocks" => {
                options.blocks = value()?.parse().map_err(|e| format!("--blocks: {e}"))?
            }
            "--blocks-per-tenure" => {
                options.blocks_per_tenure = value()?
                    .parse()
                    .map_err(|e| format!("--blocks-per-tenure: {e}"))?
            }
            "--signer-bin" => options.signer_bin = PathBuf::from(value()?),
            "--reference-bin" => options.reference_bin = Some(PathBuf::from(value()?)),
            "--keep" => options.keep = true,
            "--shared-db" => options.shared_db = true,
            "--signerdb-on-postgres" => options.signerdb_on_postgres = true,
            "--with-standby" => {
                options.shared_db = true;
                options.with_standby = true;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.blocks_per_tenure == 0 {
        return Err("--blocks-per-tenure must be at least 1".into());
    }
    Ok(options)
}

/// A signer process under measurement.
struct Measured {
    name: &'static str,
    key: StacksPrivateKey,
    writer: Hash160,
    child: Option<Child>,
    tenure_start: Vec<f64>,
    other: Vec<f64>,
}

impl Measured {
    fn new(name: &'static str, seed: &str) -> Self {
        let key = StacksPrivateKey::from_seed(seed.as_bytes());
        let writer = Hash160::from_node_public_key(&StacksPublicKey::from_private(&key));
        Self {
            name,
            key,
            writer,
            child: None,
            tenure_start: Vec::new(),
            other: Vec::new(),
        }
    }

    fn start(
        &mut self,
        bin: &Path,
        dir: &Path,
        node: &str,
        port: u16,
        extra: &str,
        db: Option<String>,
    ) -> Result<(), String> {
        let config = dir.join(format!("{}.toml", self.name));
        let db = db.unwrap_or_else(|| {
            dir.join(format!("{}.sqlite", self.name))
                .display()
                .to_string()
        });
        let text = format!(
            "stacks_private_key = \"{}\"\nnode_host = \"{node}\"\nendpoint = \"127.0.0.1:{port}\"\n\
             network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{db}\"\n{extra}",
            libsigner::chain::hex::to_hex(&self.key.to_bytes()),
        );
        std::fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log = std::fs::File::create(dir.join(format!("{}.log", self.name)))
            .map_err(|e| format!("log file: {e}"))?;
        let child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Milliseconds from the storing of the proposal of `hash` to the storing of each measured
/// signer's response. The node stamps its activity in whole milliseconds, so each entry is
/// timed here, on the monotonic clock, as it arrives: this thread waits on the activity
/// channel, and the node sends an entry the moment it has stored the chunk.
fn wait_for_responses(
    activity: &Receiver<ActivityEntry>,
    hash: &Sha512Trunc256Sum,
    measured: &[Measured],
    timeout: Duration,
) -> Result<Vec<f64>, String> {
    let deadline = Instant::now() + timeout;
    let mut proposed_at: Option<Instant> = None;
    let mut answered: Vec<Option<Instant>> = vec![None; measured.len()];
    let missing = |answered: &[Option<Instant>]| {
        let names: Vec<&str> = measured
            .iter()
            .zip(answered)
            .filter(|(_, at)| at.is_none())
            .map(|(m, _)| m.name)
            .collect();
        format!(
            "no response to block {hash} from {} within {timeout:?}",
            names.join(" and ")
        )
    };
    while proposed_at.is_none() || answered.iter().any(Option::is_none) {
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or_else(|| missing(&answered))?;
        let entry = activity
            .recv_timeout(left)
            .map_err(|_| missing(&answered))?;
        let arrived = Instant::now();
        let Activity::ChunkWrite {
            contract,
            writer,
            data,
            accepted: true,
            ..
        } = &entry.activity
        else {
            continue;
        };
        let Ok(message) = SignerMessage::consensus_deserialize(&mut data.as_slice()) else {
            continue;
        };
        match message {
            SignerMessage::BlockProposal(p)
                if contract == "miners" && p.block.header.signer_signature_hash() == *hash =>
            {
                proposed_at = Some(arrived);
            }
            SignerMessage::BlockResponse(r) if r.get_signer_signature_hash() == hash => {
                for (i, m) in measured.iter().enumerate() {
                    if *writer == Some(m.writer) && answered[i].is_none() {
                        answered[i] = Some(arrived);
                    }
                }
            }
            _ => {}
        }
    }
    let proposed_at = proposed_at.ok_or_else(|| missing(&answered))?;
    Ok(answered
        .into_iter()
        .map(|at| {
            at.map_or(f64::NAN, |at| {
                at.saturating_duration_since(proposed_at).as_secs_f64() * 1000.0
            })
        })
        .collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(label: &str, values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{label:<34} n={:<5} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        sorted.len(),
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    )
}

fn run(options: Options) -> Result<(), String> {
    let mut measured = vec![Measured::new("ours", "latency bench: ours")];
    if options.reference_bin.is_some() {
        measured.push(Measured::new("reference", "latency bench: reference"));
    }
    // Simulated weight S with S + 1 >= ceil(0.7 * total) > S: each measured signer's own
    // pre-commit completes the threshold.
    let simulated = if measured.len() == 1 { 2 } else { 4 };
    let mut signers = SignerSpec::generated(simulated, 7);
    for m in &measured {
        signers.push(SignerSpec::external(
            StacksPublicKey::from_private(&m.key),
            1,
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let ports: Vec<u16> = measured
        .iter()
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let standby_port = free_port()?;
    let cluster = if options.shared_db || options.signerdb_on_postgres {
        let cluster = stacks_signer::ha::cluster::TempPostgres::start()
            .map_err(|e| format!("PostgreSQL for the run: {e}"))?;
        let url = cluster
            .create_database("bench")
            .map_err(|e| e.to_string())?;
        Some((cluster, url))
    } else {
        None
    };
    let shared = cluster.as_ref().filter(|_| options.shared_db);
    let view = |instance: &str| {
        cluster
            .as_ref()
            .filter(|_| options.signerdb_on_postgres)
            .map(|(_, url)| format!("{url}?options=-csearch_path%3Dview_{instance}"))
    };
    let ha_text = |instance: &str| match shared {
        Some((_, url)) => {
            format!("db_url = \"{url}\"\nha_instance_name = \"{instance}\"\nha_lease_ms = 3000\n")
        }
        None => String::new(),
    };
    let mut config = MockNodeConfig {
        signers,
        fixed_clock_secs: Some(now),
        ..MockNodeConfig::default()
    };
    for port in &ports {
        config
            .observers
            .push(ObserverSpec::signer(format!("127.0.0.1:{port}")));
    }
    if options.with_standby {
        config
            .observers
            .push(ObserverSpec::signer(format!("127.0.0.1:{standby_port}")));
    }
    let node: RunningMockNode = MockNode::start(config)?;
    node.set_miner_broadcasts(false);
    node.set_upload_processing(false);
    let dir = tempfile::Builder::new()
        .prefix("proposal-latency-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    eprintln!("signer logs in {}", dir.path().display());
    let bins: Vec<PathBuf> = std::iter::once(options.signer_bin.clone())
        .chain(options.reference_bin.clone())
        .collect();
    for (i, ((m, bin), port)) in measured.iter_mut().zip(&bins).zip(&ports).enumerate() {
        // Only our signer (the first) can be an instance of a pair.
        let extra = if i == 0 {
            ha_text("active")
        } else {
            String::new()
        };
        let db = if i == 0 { view("active") } else { None };
        m.start(bin, dir.path(), &node.node_host(), *port, &extra, db)?;
    }
    // The pair's standby: same key, not measured (it publishes nothing); started once the
    // active holds the lease.
    let mut standby = Measured::new("ours-standby", "latency bench: ours");
    if options.with_standby {
        std::thread::sleep(Duration::from_secs(1));
        standby.start(
            &options.signer_bin,
            dir.path(),
            &node.node_host(),
            standby_port,
            &ha_text("standby"),
            view("standby"),
        )?;
    }
    // A tenure that is not measured: the signers register and warm up.
    node.mine_burn_block(Some(1))?;
    std::thread::sleep(Duration::from_secs(2));
    let activity = node.subscribe();
    let tenures = options.blocks.div_ceil(options.blocks_per_tenure);
    let started = Instant::now();
    let mut done = 0;
    'tenures: for tenure in 0..tenures {
        node.mine_burn_block(Some(tenure % 2))?;
        for b in 0..options.blocks_per_tenure {
            if done == options.blocks {
                break 'tenures;
            }
            let kind = if b == 0 {
                BlockKind::TenureStart
            } else {
                BlockKind::Continue
            };
            let proposal = node.propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            })?;
            let hash = proposal.signer_signature_hash;
            let answered =
                match wait_for_responses(&activity, &hash, &measured, Duration::from_secs(30)) {
                    Ok(times) => times,
                    Err(e) => {
                        // Keep the logs for a look.
                        let kept = dir.keep();
                        return Err(format!("{e} (logs kept in {})", kept.display()));
                    }
                };
            for (m, ms) in measured.iter_mut().zip(answered) {
                if b == 0 {
                    m.tenure_start.push(ms);
                } else {
                    m.other.push(ms);
                }
            }
            node.process_proposed_block(&hash)?;
            done += 1;
            if done % 100 == 0 {
                eprintln!("{done} blocks in {:.1} s", started.elapsed().as_secs_f64());
            }
        }
    }
    println!(
        "{done} blocks ({} per tenure), validation answered at once, {:.1} s",
        options.blocks_per_tenure,
        started.elapsed().as_secs_f64()
    );
    if options.keep {
        println!("signer logs kept in {}", dir.keep().display());
    }
    for m in &measured {
        let all: Vec<f64> = m.tenure_start.iter().chain(&m.other).copied().collect();
        println!("{}", summary(&format!("{}: all blocks", m.name), &all));
        println!(
            "{}",
            summary(&format!("{}: tenure-start blocks", m.name), &m.tenure_start)
        );
        println!(
            "{}",
            summary(&format!("{}: other blocks", m.name), &m.other)
        );
    }
    Ok(())
}

fn main() {
    let result = parse_options().and_then(run);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
