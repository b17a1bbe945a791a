//! The running signers: every signer process of the network, shared by the miner, the
//! chaos thread and the progress display.

use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::layout::{SignerKind, SignerPlan};
use super::options::DevnetOptions;
use super::process::SignerProcess;

/// What happened to one signer's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStats {
    /// The signer's index.
    pub index: usize,
    /// Restarts (after kills).
    pub restarts: u32,
    /// SIGKILLs.
    pub kills: u32,
    /// How it exited by itself, if it did.
    pub unexpected_exit: Option<String>,
}

/// A SIGKILL, as the summary reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillRecord {
    /// The killed process's signer index.
    pub signer_index: usize,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
}

/// Every signer process (silent signers have none; with `--standby`, two per pair).
#[derive(Debug)]
pub struct Fleet {
    processes: Vec<Mutex<SignerProcess>>,
    kills: Mutex<Vec<KillRecord>>,
}

impl Fleet {
    /// Starts a process for every running signer of `plans`.
    pub fn start(options: &DevnetOptions, plans: &[SignerPlan]) -> Result<Fleet, String> {
        let mut processes = Vec::new();
        for plan in plans.iter().filter(|p| p.runs()) {
            let binary = match (&options.reference, plan.kind) {
                (Some(reference), SignerKind::Reference) => reference.binary.clone(),
                _ => options.signer_binary.clone(),
            };
            let mut process = SignerProcess::new(binary, plan.clone());
            process.start()?;
            processes.push(Mutex::new(process));
        }
        Ok(Fleet {
            processes,
            kills: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, SignerProcess> {
        self.processes[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many processes the fleet has (running or not).
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether it has no process (every signer silent).
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// The signer index of process `i`.
    pub fn signer_index(&self, i: usize) -> usize {
        self.lock(i).plan().index
    }

    /// How many processes run now.
    pub fn up_count(&self) -> usize {
        (0..self.len())
            .filter(|i| self.lock(*i).is_running())
            .count()
    }

    /// Waits until every process accepts connections on its event endpoint.
    pub fn wait_listening(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.len() {
            let (endpoint, index) = {
                let p = self.lock(i);
                (p.plan().endpoint, p.plan().index)
            };
            loop {
                if TcpStream::connect_timeout(&endpoint, Duration::from_millis(200)).is_ok() {
                    break;
                }
                let mut p = self.lock(i);
                if !p.is_running() {
                    return Err(format!(
                        "signer {index} exited at start ({}); see {}",
                        p.unexpected_exit.clone().unwrap_or_default(),
                        p.plan().log_path().display()
                    ));
                }
                drop(p);
                if Instant::now() >= deadline {
                    return Err(format!(
                        "signer {index} did not listen on {endpoint} within {}s",
                        timeout.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// SIGKILLs process `i` if it runs; returns whether it did.
    pub fn kill(&self, i: usize) -> bool {
        let mut process = self.lock(i);
        let killed = process.kill();
        if killed {
            let record = KillRecord {
                signer_index: process.plan().index,
                at_ms: crate::devnet::activity::now_ms(),
            };
            drop(process);
            self.kills
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
        }
        killed
    }

    /// Every kill so far, in order.
    pub fn kill_log(&self) -> Vec<KillRecord> {
        self.kills.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The process running instance `instance` of an active/standby pair, if any.
    pub fn process_of_instance(&self, instance: &str) -> Option<usize> {
        (0..self.len()).find(|i| {
            self.lock(*i)
                .plan()
                .ha
                .as_ref()
                .is_some_and(|ha| ha.instance == instance)
        })
    }

    /// How long process `i` has been running (None when it is down).
    pub fn up_for(&self, i: usize) -> Option<Duration> {
        self.lock(i).up_for()
    }

    /// The other processes of process `i`'s signer (its pair's other instance).
    pub fn partners(&self, i: usize) -> Vec<usize> {
        let index = self.signer_index(i);
        (0..self.len())
            .filter(|j| *j != i && self.signer_index(*j) == index)
            .collect()
    }

    /// The plan of process `i`.
    pub fn plan(&self, i: usize) -> SignerPlan {
        self.lock(i).plan().clone()
    }

    /// Whether process `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.lock(i).is_running()
    }

    /// Starts process `i` again on its database.
    pub fn restart(&self, i: usize) -> Result<(), String> {
        self.lock(i).start()
    }

    /// Stops every process: `POST /shutdown` to all, then waits up to `grace` before
    /// killing those still running.
    pub fn stop_all(&self, grace: Duration) {
        for i in 0..self.len() {
            self.lock(i).request_stop();
        }
        let deadline = Instant::now() + grace;
        for i in 0..self.len() {
            self.lock(i).wait_stopped(deadline);
        }
    }

    /// Each process's restarts, kills and unexpected exit.
    pub fn stats(&self) -> Vec<ProcessStats> {
        (0..self.len())
            .map(|i| {
                let mut p = self.lock(i);
                p.is_running();
                ProcessStats {
                    index: p.plan().index,
                    restarts: p.restarts,
                    kills: p.kills,
                    unexpected_exit: p.unexpected_exit.clone(),
                }
            })
            .collect()
    }

    /// Each running process's peak resident memory in KiB, by signer index (see
    /// [`SignerProcess::peak_rss_kib`]).
    pub fn peak_rss_kib(&self) -> Vec<(usize, u64)> {
        (0..self.len())
            .filter_map(|i| {
                let p = self.lock(i);
                Some((p.plan().index, p.peak_rss_kib()?))
            })
            .collect()
    }

    /// The process ids running now.
    pub fn pids(&self) -> Vec<u32> {
        (0..self.len()).filter_map(|i| self.lock(i).pid()).collect()
    }
}
