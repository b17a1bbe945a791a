//! A real `stacks-signer run` process against the in-process mock node: its config, its log
//! (JSON lines in a file the test reads back), its resident memory, its monitoring server,
//! and the votes it writes, as the node records them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::devnet::{Activity, ActivityEntry, RunningMockNode};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The signer under test's key.
pub fn signer_key(seed: &str) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(seed.as_bytes())
}

/// A running signer process.
pub struct SignerProcess {
    /// The child.
    pub child: Child,
    /// Its event endpoint.
    pub endpoint: SocketAddr,
    /// Its monitoring server.
    pub metrics: SocketAddr,
    /// Its stderr (JSON log lines).
    pub log_path: PathBuf,
    /// The writer the node records for its chunks.
    pub writer: Hash160,
}

impl SignerProcess {
    /// Writes a config into `dir` and starts `stacks-signer run` on it, logging JSON lines at
    /// debug level into `dir/signer.log`. `extra` is appended to the config.
    pub fn start(dir: &Path, node: &RunningMockNode, key: &StacksPrivateKey, extra: &str) -> Self {
        let port = free_port();
        let metrics_port = free_port();
        let config = dir.join("signer.toml");
        let text = format!(
            "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:{port}\"\n\
             network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n\
             metrics_endpoint = \"127.0.0.1:{metrics_port}\"\n{extra}\n",
            libsigner::chain::hex::to_hex(&key.to_bytes()),
            node.node_host(),
            dir.join("signer.sqlite").display(),
        );
        std::fs::write(&config, text).expect("config written");
        let log_path = dir.join("signer.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
            .args(["run", "--config"])
            .arg(&config)
            .env("STACKS_LOG_JSON", "1")
            .env("STACKS_LOG_DEBUG", "1")
            .env_remove("STACKS_LOG_TRACE")
            .env_remove("STACKS_LOG_CRITONLY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the signer binary starts");
        let process = SignerProcess {
            child,
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            metrics: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
            log_path,
            writer: Hash160::from_node_public_key(&StacksPublicKey::from_private(key)),
        };
        wait_until(
            "the signer's monitoring server",
            Duration::from_secs(30),
            || get(process.metrics, "/status.json").is_ok_and(|r| r.starts_with("HTTP/1.1 200")),
        );
        process
    }

    /// The process's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log lines written so far, parsed (lines that are not JSON are skipped).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// A counter or gauge of `/metrics` (the sum over its label values), if exposed.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let page = get(self.metrics, "/metrics").ok()?;
        let values: Vec<f64> = page
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of process `pid` in KiB (0 if unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The raw answer (status line, headers, body) to `GET path`, or the error.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    Ok(raw)
}

/// Polls `ok` every 100 ms until it holds; panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A vote the signer wrote, as the node stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// `BlockPreCommit`.
    PreCommit,
    /// `BlockResponse::Accepted`.
    Accepted,
    /// `BlockResponse::Rejected`.
    Rejected,
}

/// The votes `writer` wrote about any block, in the order the node stored them.
pub fn votes_of(entries: &[ActivityEntry], writer: Hash160) -> Vec<(Sha512Trunc256Sum, Vote)> {
    entries
        .iter()
        .filter_map(|entry| match &entry.activity {
            Activity::ChunkWrite {
                writer: Some(w),
                data,
                accepted: true,
                contract,
                ..
            } if *w == writer && contract.starts_with("signers-") => {
                match SignerMessage::consensus_deserialize(&mut data.as_slice()).ok()? {
                    SignerMessage::BlockPreCommit(h) => Some((h, Vote::PreCommit)),
                    SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => {
                        Some((a.signer_signature_hash, Vote::Accepted))
                    }
                    SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => {
                        Some((r.signer_signature_hash, Vote::Rejected))
                    }
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// Collects activity into `into` until `done` holds over it, or `timeout` passes; returns
/// whether it held.
pub fn collect_until(
    activity: &Receiver<ActivityEntry>,
    into: &mut Vec<ActivityEntry>,
    timeout: Duration,
    mut done: impl FnMut(&[ActivityEntry]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        into.extend(activity.try_iter());
        if done(into) {
            return true;
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        if let Ok(entry) = activity.recv_timeout(left.min(Duration::from_millis(100))) {
            into.push(entry);
        }
    }
}
