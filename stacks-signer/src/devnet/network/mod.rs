//! A whole signer network on one machine: the mock node (with its miners) in this process,
//! and N real signers as child processes (`stacks-signer run`, or a reference binary), each
//! with its own generated key, config, event port, SQLite database and log in a data
//! directory, all on loopback. It mines tenures, injects the faults asked for (silent
//! signers, SIGKILL chaos with restarts, node outages, an equivocating miner), shows
//! progress, and ends with a [`Summary`] and the equivocation check over the node's record
//! and every signer's database. `stacks-signer devnet` is its command line.
//!
//! Modules, one idea each: [`options`] (what a run is asked to do), [`layout`] (keys,
//! ports, files, manifest), [`process`] (one signer process), [`fleet`] (all of them),
//! [`chaos`] (the kills), [`driver`] (the miner), [`tally`] (what the node saw, counted),
//! [`check`] (the equivocation check), [`summary`] (the report).

pub mod chaos;
pub mod check;
pub mod driver;
pub mod failover;
pub mod fleet;
pub mod layout;
pub mod options;
pub mod process;
pub mod rng;
pub mod summary;
pub mod tally;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::devnet::record::spawn_recorder;
use crate::devnet::{MockNode, MockNodeConfig, ObserverSpec, SignerSpec};
use crate::ha::cluster::TempPostgres;

pub use check::{check_run, CheckOutcome, CheckedSigner};
pub use options::{DataDir, DevnetOptions, ReferenceSigners};
pub use summary::Summary;

use driver::{Driver, DriverReport, MinerStatus};
use fleet::Fleet;
use layout::{DataDirGuard, Manifest, SignerKind, SignerPlan, RECORD_FILE};
use tally::Tally;

/// What the progress display shows, refreshed a few times a second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveStatus {
    /// The tenure being mined (1-based; 0 before the first).
    pub tenure: usize,
    /// Tenures to mine.
    pub tenures: usize,
    /// Distinct blocks proposed.
    pub proposed: usize,
    /// Blocks processed (signed to the threshold).
    pub signed: usize,
    /// Proposals at least one signer rejected.
    pub rejected: usize,
    /// Signer processes running now.
    pub signers_up: usize,
    /// Signers in the reward set.
    pub signers: usize,
    /// SIGKILLs so far.
    pub kills: u64,
    /// Whether the node's RPC is down now.
    pub outage: bool,
    /// Whether a scenario is running.
    pub scenario: bool,
    /// Seconds since the start.
    pub elapsed_secs: f64,
}

/// Where a run reports its progress (a terminal display, log lines, nothing).
pub trait ProgressSink: Send + Sync {
    /// The current figures (called a few times a second).
    fn update(&self, status: &LiveStatus);
    /// A notable event, as one line.
    fn note(&self, line: &str);
    /// The run is over (the summary follows).
    fn finish(&self, status: &LiveStatus);
}

/// A sink that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&self, _status: &LiveStatus) {}
    fn note(&self, _line: &str) {}
    fn finish(&self, _status: &LiveStatus) {}
}

fn now_secs() -> u64 {
    crate::devnet::activity::now_secs()
}

fn db_bytes(path: &Path) -> u64 {
    let main = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    main + std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
}

/// The size of instance `instance`'s signer database in its schema of `db_url`'s database
/// (0 if it cannot be read; its processes have stopped, so its lock is free).
fn postgres_db_bytes(db_url: &str, instance: &str) -> u64 {
    crate::ha::own_schema_url(db_url, instance)
        .and_then(|url| crate::signerdb::SignerDb::open(url).ok())
        .and_then(|db| db.database_size_bytes().ok())
        .unwrap_or(0)
}

/// Everything a running network holds, for the live display.
struct Live {
    tally: Arc<Tally>,
    fleet: Arc<Fleet>,
    miner: Arc<Mutex<MinerStatus>>,
    signers: usize,
    tenures: usize,
    started: Instant,
}

impl Live {
    fn status(&self) -> LiveStatus {
        let (proposed, signed, rejected) = {
            let state = self.tally.lock();
            let rejected = state
                .blocks
                .iter()
                .filter(|(hash, votes)| {
                    !votes.rejects.is_empty() && !state.processed.contains_key(*hash)
                })
                .count();
            (state.proposals.len(), state.processed.len(), rejected)
        };
        let miner = *self.miner.lock().unwrap_or_else(|p| p.into_inner());
        let stats = self.fleet.stats();
        LiveStatus {
            tenure: miner.tenure,
            tenures: self.tenures.max(miner.tenure),
            proposed,
            signed,
            rejected,
            signers_up: self.fleet.up_count(),
            signers: self.signers,
            kills: stats.iter().map(|s| u64::from(s.kills)).sum(),
            outage: miner.outage,
            scenario: miner.scenario,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Runs a devnet to its end (or until `stop` is set: Ctrl-C) and returns its summary.
/// Errors are setup failures (bad options, a signer that cannot start); what goes wrong in
/// the run itself is in the summary (`ok`, `error`).
pub fn run_devnet(
    options: &DevnetOptions,
    progress: Arc<dyn ProgressSink>,
    stop: Arc<AtomicBool>,
) -> Result<Summary, String> {
    options.validate()?;
    let started = Instant::now();
    let data = DataDirGuard::create(&options.data_dir)?;
    let result = run_in(options, &data, progress, stop, started);
    match result {
        Ok(mut summary) => {
            // A failed run keeps its files for a look, even in a temporary directory (an
            // interrupted one does not: nothing went wrong).
            let keep = options.keep || (!summary.ok && !summary.interrupted);
            if data.finish(keep) {
                summary.data_dir = Some(data.path.display().to_string());
            }
            Ok(summary)
        }
        Err(e) => {
            data.finish(options.keep);
            Err(e)
        }
    }
}

fn run_in(
    options: &DevnetOptions,
    data: &DataDirGuard,
    progress: Arc<dyn ProgressSink>,
    stop: Arc<AtomicBool>,
    started: Instant,
) -> Result<Summary, String> {
    let plans = layout::plan_signers(options, &data.path)?;
    // With --standby: the shared database of the pairs, alive until the check has read it.
    let shared = match options.standby {
        Some(lease) => {
            let cluster = TempPostgres::start()
                .map_err(|e| format!("--standby: cannot start a PostgreSQL for the run: {e}"))?;
            let url = cluster
                .create_database("devnet")
                .map_err(|e| format!("--standby: {e}"))?;
            progress.note(&format!(
                "devnet: PostgreSQL for the active/standby pairs on 127.0.0.1:{} (lease {} ms)",
                cluster.port(),
                lease.as_millis()
            ));
            Some((cluster, url, lease))
        }
        None => None,
    };
    let instances = layout::instances(
        &plans,
        shared
            .as_ref()
            .map(|(_, url, lease)| (url.as_str(), *lease, options.signerdb_on_postgres)),
    )?;
    let mut config = MockNodeConfig {
        seed: options.seed,
        // The node's clock follows its chain from the present: blocks come at signing
        // speed, and signers find every proposal fresh (docs/mock-node.md, "Clock and block
        // rate").
        fixed_clock_secs: Some(now_secs()),
        signers: plans
            .iter()
            .map(|p| SignerSpec::external(p.public_key, p.weight))
            .collect(),
        http_threads: 4 + plans.len() / 10,
        ..MockNodeConfig::default()
    };
    for instance in &instances {
        config
            .observers
            .push(ObserverSpec::signer(instance.endpoint.to_string()));
    }
    let node = MockNode::start(config)?;
    {
        let progress = Arc::clone(&progress);
        node.set_notice_handler(move |notice| progress.note(&format!("mock node: {notice}")));
    }

    let tally_stop = Arc::new(AtomicBool::new(false));
    let key_hashes: Vec<_> = plans.iter().map(|p| p.key_hash).collect();
    let (tally, tally_thread) = Tally::spawn(
        node.subscribe(),
        &key_hashes,
        &options.weights,
        tally_stop.clone(),
    );
    let mut recorders = Vec::new();
    let mut record_paths = vec![data.path.join(RECORD_FILE)];
    record_paths.extend(options.record.iter().cloned());
    for path in &record_paths {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        recorders.push(spawn_recorder(
            node.subscribe(),
            BufWriter::new(file),
            tally_stop.clone(),
        ));
    }

    layout::write_signer_files(&instances, &node.node_host(), plans.len())?;
    let mut manifest = Manifest::new(options.seed, &plans);
    manifest.write(&data.path)?;
    progress.note(&format!(
        "devnet: mock node on {}, {} signers ({} running, {} silent, {} reference), data in {}",
        node.node_host(),
        plans.len(),
        plans.iter().filter(|p| p.runs()).count(),
        options.silent,
        options.reference_count(),
        data.path.display()
    ));
    if options.silent > 0 && options.silent_weight() * 10 > options.total_weight() * 3 {
        progress.note(&format!(
            "devnet: the {} silent signers hold weight {} of {}, more than 30%: blocks cannot reach the 70% threshold",
            options.silent,
            options.silent_weight(),
            options.total_weight()
        ));
    }

    let fleet = Arc::new(Fleet::start(options, &instances)?);
    fleet.wait_listening(Duration::from_secs(30))?;
    node.send_status_check();

    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let chaos_stop = Arc::new(AtomicBool::new(false));
    let pairs = shared.as_ref().map(|(_, url, lease)| chaos::StandbyPairs {
        db_url: url.clone(),
        lease: *lease,
        keys: plans
            .iter()
            .filter(|p| p.kind == SignerKind::Ours)
            .map(|p| p.public_key.to_bytes_compressed())
            .collect(),
    });
    let chaos = options.chaos_rate.map(|rate| {
        chaos::spawn_chaos(
            Arc::clone(&fleet),
            rate,
            options.seed,
            chaos_stop.clone(),
            Arc::clone(&errors),
            pairs,
        )
    });

    let miner_status = Arc::new(Mutex::new(MinerStatus::default()));
    let live = Arc::new(Live {
        tally: Arc::clone(&tally),
        fleet: Arc::clone(&fleet),
        miner: Arc::clone(&miner_status),
        // Processes (two per pair with --standby), silent signers included.
        signers: instances.len() + options.silent,
        tenures: options.tenures,
        started,
    });
    let display_stop = Arc::new(AtomicBool::new(false));
    let display = spawn_display(
        Arc::clone(&live),
        Arc::clone(&progress),
        display_stop.clone(),
    );

    let kills = {
        let fleet = Arc::clone(&fleet);
        Box::new(move || {
            fleet
                .stats()
                .iter()
                .map(|s| u64::from(s.kills))
                .sum::<u64>()
        })
    };
    let mining = Instant::now();
    let report =
        Driver::new(&node, &tally, options, &stop, miner_status, kills).run(options.tenures);
    let mining_secs = mining.elapsed().as_secs_f64();

    // Wind down: no more kills, let the signers answer what is on its way, stop them,
    // then the node.
    display_stop.store(true, Ordering::SeqCst);
    let _ = display.join();
    let final_status = live.status();
    chaos_stop.store(true, Ordering::SeqCst);
    let rss = fleet.peak_rss_kib();
    if let Some(handle) = chaos {
        let _ = handle.join();
    }
    node.wait_events_delivered(Duration::from_secs(2));
    fleet.stop_all(Duration::from_secs(5));
    let last_cycle = node.with_state(|s| s.current_cycle());
    node.wait_events_delivered(Duration::from_millis(500));
    node.stop();
    tally_stop.store(true, Ordering::SeqCst);
    let _ = tally_thread.join();
    for recorder in recorders {
        match recorder.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => lock(&errors).push(format!("writing the record failed: {e}")),
            Err(_) => lock(&errors).push("the record writer crashed".into()),
        }
    }
    progress.finish(&LiveStatus {
        elapsed_secs: started.elapsed().as_secs_f64(),
        ..final_status
    });

    manifest.last_reward_cycle = Some(last_cycle);
    manifest.write(&data.path)?;
    let checked: Vec<CheckedSigner> = plans
        .iter()
        .map(|p| CheckedSigner {
            index: p.index,
            kind: p.kind,
            key_hash: p.key_hash,
            public_key: Some(p.public_key),
            db_path: p.db_path(),
            shared_record: shared
                .as_ref()
                .filter(|_| p.kind == SignerKind::Ours)
                .map(|(_, url, _)| url.clone()),
        })
        .collect();
    progress.note("devnet: checking every signer's votes against the node's record");
    let check = {
        let state = tally.lock();
        check_run(&state.entries, &checked, options::DEVNET_WINDOW, last_cycle)
    };
    let errors = lock(&errors).clone();
    let mut summary = summarize(
        options, &plans, &report, &tally, &fleet, check, errors, started,
    );
    if let Some((_, _, lease)) = &shared {
        let paired: Vec<usize> = plans
            .iter()
            .filter(|p| p.kind == SignerKind::Ours)
            .map(|p| p.index)
            .collect();
        summary.failover = Some(failover::failover_figures(
            &tally.lock(),
            &fleet.kill_log(),
            &paired,
            *lease,
            options.block_interval,
        ));
    }
    if let Some((_, url, _)) = shared.as_ref().filter(|_| options.signerdb_on_postgres) {
        // Instance a's signer database is a schema of the shared one, not a file.
        for signer in &mut summary.per_signer {
            if signer.kind == SignerKind::Ours.label() {
                signer.db_bytes = postgres_db_bytes(url, &format!("signer-{}-a", signer.index));
            }
        }
    }
    drop(shared);
    for signer in &mut summary.per_signer {
        signer.peak_rss_kib = rss
            .iter()
            .find(|(i, _)| *i == signer.index)
            .map(|(_, kib)| *kib);
    }
    summary.devnet_peak_rss_kib = own_peak_rss_kib();
    summary.mining_secs = mining_secs;
    summary.blocks_per_sec = if mining_secs > 0.0 {
        summary.blocks.processed as f64 / mining_secs
    } else {
        0.0
    };
    Ok(summary)
}

/// This process's peak resident memory in KiB (the mock node, its miners and the
/// tally), on Linux.
fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn spawn_display(
    live: Arc<Live>,
    progress: Arc<dyn ProgressSink>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            progress.update(&live.status());
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    options: &DevnetOptions,
    plans: &[SignerPlan],
    report: &DriverReport,
    tally: &Tally,
    fleet: &Fleet,
    check: CheckOutcome,
    mut errors: Vec<String>,
    started: Instant,
) -> Summary {
    let state = tally.lock();
    let stats = fleet.stats();
    let siblings: HashSet<_> = report.sibling_hashes.iter().collect();
    let signed_positions = report
        .blocks
        .iter()
        .filter(|b| {
            b.signed
                .and_then(|h| state.processed.get(&h))
                .is_some_and(|p| p.signed_weight >= p.threshold_weight)
        })
        .count();
    let latencies: Vec<u64> = if report.blocks.is_empty() {
        state
            .processed
            .iter()
            .filter_map(|(hash, p)| {
                state
                    .proposals
                    .get(hash)
                    .map(|s| p.at_ms.saturating_sub(s.first_at_ms))
            })
            .collect()
    } else {
        report
            .blocks
            .iter()
            .filter_map(|b| {
                let processed = state.processed.get(&b.signed?)?;
                let proposed = state.proposals.get(&b.first)?;
                Some(processed.at_ms.saturating_sub(proposed.first_at_ms))
            })
            .collect()
    };
    let mut unsigned_reasons = std::collections::BTreeMap::new();
    let mut signed_reasons = std::collections::BTreeMap::new();
    let mut rejected = 0;
    for (hash, votes) in &state.blocks {
        let processed = state.processed.contains_key(hash);
        let reasons = if processed {
            &mut signed_reasons
        } else {
            &mut unsigned_reasons
        };
        for reason in votes.rejects.values() {
            *reasons.entry(reason.clone()).or_insert(0u64) += 1;
        }
        if !votes.rejects.is_empty() && !processed {
            rejected += 1;
        }
    }
    let siblings_signed = report
        .blocks
        .iter()
        .filter(|b| b.signed.is_some_and(|h| siblings.contains(&h)))
        .count();
    let per_signer = plans
        .iter()
        .map(|p| {
            let counts = state.signers.get(p.index).copied().unwrap_or_default();
            // A pair's two processes count as one signer.
            let processes: Vec<_> = stats.iter().filter(|s| s.index == p.index).collect();
            summary::SignerFigures {
                index: p.index,
                kind: p.kind.label().into(),
                weight: p.weight,
                public_key: p.public_key.to_hex(),
                pre_commits: counts.pre_commits,
                signatures: counts.signatures,
                rejections: counts.rejections,
                restarts: processes.iter().map(|s| s.restarts).sum(),
                kills: processes.iter().map(|s| s.kills).sum(),
                db_bytes: if p.kind == SignerKind::Silent {
                    0
                } else {
                    db_bytes(&p.db_path())
                },
                unexpected_exit: processes.iter().find_map(|s| s.unexpected_exit.clone()),
                peak_rss_kib: None,
            }
        })
        .collect::<Vec<_>>();
    let mut summary = Summary {
        ok: false,
        error: None,
        interrupted: report.interrupted,
        seed: options.seed,
        duration_secs: started.elapsed().as_secs_f64(),
        signers: plans.len(),
        total_weight: options.total_weight(),
        threshold_weight: options.threshold_weight(),
        tenures_planned: options.tenures,
        tenures_mined: report.tenures_mined,
        scenario: options
            .scenario
            .as_ref()
            .map(|(path, _)| path.display().to_string()),
        blocks: summary::BlockFigures {
            planned: report.blocks.len(),
            signed: signed_positions,
            proposed: state.proposals.len(),
            conflicting_siblings: report.sibling_hashes.len(),
            siblings_signed,
            siblings_before_signing: report.siblings_before,
            siblings_after_signing: report.siblings_after,
            replacements: report.blocks.iter().map(|b| b.replacements as usize).sum(),
            reproposals: report.blocks.iter().map(|b| b.reproposals as usize).sum(),
            processed: state.processed.len(),
            rejected,
            rejections_of_unsigned: unsigned_reasons,
            rejections_of_signed: signed_reasons,
        },
        latency: summary::Latency::of(latencies),
        faults: summary::FaultFigures {
            silent_signers: options.silent,
            silent_weight: options.silent_weight(),
            chaos_rate: options.chaos_rate,
            kills: stats.iter().map(|s| u64::from(s.kills)).sum(),
            restarts: stats.iter().map(|s| u64::from(s.restarts)).sum(),
            node_outages: report.outages,
            node_outage_secs: options.node_outage.map(|d| d.as_secs()),
            equivocating_miner: options.equivocating_miner,
        },
        per_signer,
        check,
        failover: None,
        data_dir: None,
        devnet_peak_rss_kib: None,
        mining_secs: 0.0,
        blocks_per_sec: 0.0,
    };
    // What failed, most telling first.
    let mut failures = Vec::new();
    if report.interrupted {
        failures.push(format!(
            "interrupted after {} of {} tenures",
            report.tenures_mined, options.tenures
        ));
    }
    if let Some(stall) = &report.stall {
        failures.push(format!("stalled: {stall}"));
    }
    if let Some(e) = &report.scenario_error {
        failures.push(format!("scenario failed: {e}"));
    }
    let unsigned = report.blocks.len() - signed_positions;
    if unsigned > 0 && report.stall.is_none() && !report.interrupted {
        failures.push(format!("{unsigned} blocks did not reach the threshold"));
    }
    for s in &summary.per_signer {
        if let Some(exit) = &s.unexpected_exit {
            failures.push(format!(
                "signer {} exited by itself ({exit}; see its signer.log)",
                s.index
            ));
        }
    }
    failures.append(&mut errors);
    let c = &summary.check;
    if !c.passed {
        let mut what = format!(
            "equivocation check failed: {} equivocations, {} votes lost, {} flips",
            c.equivocations, c.votes_lost, c.flips
        );
        if let Some(first) = c.violations.first().or(c.database_errors.first()) {
            what.push_str(&format!(" (first: {first})"));
        }
        failures.push(what);
    }
    summary.ok = failures.is_empty();
    summary.error = (!failures.is_empty()).then(|| failures.join("; "));
    summary
}

/// Checks a kept run again (`devnet --check-only --data-dir DIR`): reads its manifest,
/// its node record and every signer's database.
pub fn check_data_dir(dir: &Path) -> Result<CheckOutcome, String> {
    let manifest = Manifest::read(dir)?;
    let record_path = dir.join(RECORD_FILE);
    let text = std::fs::read_to_string(&record_path)
        .map_err(|e| format!("cannot read {}: {e}", record_path.display()))?;
    let entries =
        check::read_record(&text).map_err(|e| format!("{}: {e}", record_path.display()))?;
    let signers = manifest
        .signers
        .iter()
        .map(|s| {
            Ok(CheckedSigner {
                index: s.index,
                kind: s.kind,
                public_key: libsigner::chain::StacksPublicKey::from_hex(&s.public_key).ok(),
                shared_record: None,
                key_hash: libsigner::chain::Hash160::from_hex(&s.key_hash)
                    .map_err(|e| format!("invalid key hash in the manifest: {e}"))?,
                db_path: s.db_path.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let last_cycle = manifest
        .last_reward_cycle
        .ok_or("the run did not finish (its manifest has no last reward cycle)")?;
    Ok(check_run(
        &entries,
        &signers,
        Duration::from_secs(manifest.window_secs),
        last_cycle,
    ))
}
