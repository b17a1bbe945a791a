//! The network's layout on disk and on loopback: each signer's key (from the seed), weight,
//! kind, event port, directory, config file, database and log, and the run's manifest
//! (`devnet.json`), which lets `devnet --check-only` check a kept run again.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use libsigner::chain::{Hash160, StacksPrivateKey, StacksPublicKey};
use serde::{Deserialize, Serialize};

use super::options::{DataDir, DevnetOptions};

/// The auth token the node and its signers share.
pub const AUTH_TOKEN: &str = "12345";
/// The manifest's file name inside the data directory.
pub const MANIFEST_FILE: &str = "devnet.json";
/// The node's activity record inside the data directory.
pub const RECORD_FILE: &str = "record.jsonl";

/// What runs as a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerKind {
    /// This implementation (`stacks-signer run`).
    Ours,
    /// The reference binary given with `--reference-signer`.
    Reference,
    /// In the reward set, but never started (`--silent`).
    Silent,
}

impl SignerKind {
    /// A short label for displays.
    pub fn label(self) -> &'static str {
        match self {
            SignerKind::Ours => "ours",
            SignerKind::Reference => "reference",
            SignerKind::Silent => "silent",
        }
    }
}

/// One signer of the network.
#[derive(Debug, Clone)]
pub struct SignerPlan {
    /// Its position (0-based) in the devnet's list.
    pub index: usize,
    /// What runs it.
    pub kind: SignerKind,
    /// Its weight in the reward set.
    pub weight: u32,
    /// Its key.
    pub private_key: StacksPrivateKey,
    /// Its public key.
    pub public_key: StacksPublicKey,
    /// Hash160 of its public key: the writer the node records for its chunks.
    pub key_hash: Hash160,
    /// Where it listens for the node's events.
    pub endpoint: SocketAddr,
    /// Its directory (config, database, log).
    pub dir: PathBuf,
    /// With `--standby`: which instance of its key's active/standby pair this is.
    pub ha: Option<HaInstance>,
}

/// One instance of an active/standby pair (`--standby`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaInstance {
    /// The shared database.
    pub db_url: String,
    /// `ha_instance_name`.
    pub instance: String,
    /// `ha_lease_ms`.
    pub lease: std::time::Duration,
    /// Whether its own signer database is its schema of `db_url`'s database (its config
    /// then has no `db_path`).
    pub signerdb_in_shared: bool,
}

impl SignerPlan {
    /// `signer.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("signer.toml")
    }

    /// `signer.sqlite`.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("signer.sqlite")
    }

    /// `signer.log` (stdout and stderr of every incarnation, appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("signer.log")
    }

    /// Whether a process runs for it.
    pub fn runs(&self) -> bool {
        self.kind != SignerKind::Silent
    }

    /// The signer config (the reference's keys, so that a reference binary reads it too).
    /// `signers` is the size of the network: the one node validates proposals one at a time
    /// for all of them (a real node serves one signer), so the validation timeout grows with
    /// it (10 s, or half a second per signer if more).
    pub fn config_text(&self, node_host: &str, signers: usize) -> String {
        format!(
            "# stacks-signer devnet: signer {index} ({kind}, weight {weight})\n\
             stacks_private_key = \"{key}\"\n\
             node_host = \"{node_host}\"\n\
             endpoint = \"{endpoint}\"\n\
             network = \"testnet\"\n\
             auth_password = \"{AUTH_TOKEN}\"\n\
             {db}\
             event_timeout_ms = 500\n\
             block_proposal_validation_timeout_ms = {validation_ms}\n\
             tenure_last_block_proposal_timeout_secs = {window}\n",
            index = self.index,
            kind = self.kind.label(),
            weight = self.weight,
            key = libsigner::chain::hex::to_hex(&self.private_key.to_bytes()),
            endpoint = self.endpoint,
            db = match &self.ha {
                Some(ha) if ha.signerdb_in_shared => String::new(),
                _ => format!(
                    "db_path = \"{}\"\n",
                    toml_escape(&self.db_path().display().to_string())
                ),
            },
            window = super::options::DEVNET_WINDOW.as_secs(),
            validation_ms = validation_timeout_ms(signers),
        ) + &self.ha_config_text()
    }

    /// The active/standby keys of an instance of a pair (none otherwise).
    fn ha_config_text(&self) -> String {
        let Some(ha) = &self.ha else {
            return String::new();
        };
        let lease_ms = ha.lease.as_millis() as u64;
        format!(
            "db_url = \"{url}\"\n\
             ha_instance_name = \"{name}\"\n\
             ha_lease_ms = {lease_ms}\n\
             ha_lease_renew_ms = {renew_ms}\n",
            url = toml_escape(&ha.db_url),
            name = toml_escape(&ha.instance),
            renew_ms = (lease_ms / 4).max(25),
        )
    }
}

/// The processes of `plans`: one per running signer, or, with a shared database
/// (`--standby`), two for each of this implementation's signers (instance `a` in the
/// signer's directory, instance `b` in `signer-N-b` with its own event port), each naming
/// its instance.
pub fn instances(
    plans: &[SignerPlan],
    standby: Option<(&str, std::time::Duration, bool)>,
) -> Result<Vec<SignerPlan>, String> {
    let running: Vec<&SignerPlan> = plans.iter().filter(|p| p.runs()).collect();
    let Some((db_url, lease, signerdb_in_shared)) = standby else {
        return Ok(running.into_iter().cloned().collect());
    };
    let pairs = running
        .iter()
        .filter(|p| p.kind == SignerKind::Ours)
        .count();
    let mut ports = free_ports(pairs)?.into_iter();
    let mut out = Vec::new();
    for plan in running {
        if plan.kind != SignerKind::Ours {
            out.push(plan.clone());
            continue;
        }
        let instance = |name: &str| HaInstance {
            db_url: db_url.to_string(),
            instance: format!("signer-{}-{name}", plan.index),
            lease,
            signerdb_in_shared,
        };
        out.push(SignerPlan {
            ha: Some(instance("a")),
            ..plan.clone()
        });
        let port = ports.next().ok_or("cannot find a free loopback port")?;
        let dir = plan.dir.with_file_name(format!("signer-{}-b", plan.index));
        out.push(SignerPlan {
            ha: Some(instance("b")),
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            ..plan.clone()
        });
    }
    Ok(out)
}

/// The signers' `block_proposal_validation_timeout_ms` in a network of `signers`.
pub fn validation_timeout_ms(signers: usize) -> u64 {
    (signers as u64 * 500).max(10_000)
}

fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The key of signer `index` for `seed`.
pub fn signer_key(seed: u64, index: usize) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("stacks-signer devnet {seed} signer {index}").as_bytes())
}

/// Picks `count` distinct free loopback ports (all bound at once, then released), below the
/// kernel's range for outgoing connections (`ip_local_port_range`): a signer that chaos
/// restarts binds its endpoint again, and a port from that range may by then be the local
/// port of some connection ("Address already in use"). Where the range is unknown or leaves
/// too little room below it, any free port.
pub fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    const LOWEST: u16 = 10_000;
    let below = outgoing_port_range().map_or(0, |(low, _)| low.saturating_sub(LOWEST));
    if usize::from(below) < count.saturating_mul(8).max(1_000) {
        return any_free_ports(count);
    }
    // Start somewhere that differs between runs, so devnets started together rarely try
    // the same ports.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let span = u32::from(below);
    let mut listeners = Vec::with_capacity(count);
    for i in 0..span {
        if listeners.len() == count {
            break;
        }
        let port = LOWEST + ((seed.wrapping_add(i)) % span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    if listeners.len() < count {
        return any_free_ports(count);
    }
    ports_of(&listeners)
}

/// The kernel's range of local ports for outgoing connections, where `/proc` tells it.
fn outgoing_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

/// `count` distinct ports the kernel picks.
fn any_free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    ports_of(&listeners)
}

fn ports_of(listeners: &[TcpListener]) -> Result<Vec<u16>, String> {
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| format!("cannot find a free loopback port: {e}"))
        })
        .collect()
}

/// Lays the signers out: keys from the seed, the first `--reference-count` run the reference
/// binary, the last `--silent` never run, the others run this binary.
pub fn plan_signers(options: &DevnetOptions, data_dir: &Path) -> Result<Vec<SignerPlan>, String> {
    let n = options.signer_count();
    let references = options.reference_count();
    let running = n - options.silent;
    let ports = free_ports(running)?;
    let mut plans = Vec::with_capacity(n);
    for (index, weight) in options.weights.iter().enumerate() {
        let kind = if index >= running {
            SignerKind::Silent
        } else if index < references {
            SignerKind::Reference
        } else {
            SignerKind::Ours
        };
        let private_key = signer_key(options.seed, index);
        let public_key = StacksPublicKey::from_private(&private_key);
        let port = ports.get(index).copied().unwrap_or(0);
        plans.push(SignerPlan {
            index,
            kind,
            weight: *weight,
            key_hash: Hash160::from_node_public_key(&public_key),
            private_key,
            public_key,
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: data_dir.join(format!("signer-{index}")),
            ha: None,
        });
    }
    Ok(plans)
}

/// Creates each running signer's (or instance's) directory and writes its config;
/// `signers` is the size of the reward set.
pub fn write_signer_files(
    plans: &[SignerPlan],
    node_host: &str,
    signers: usize,
) -> Result<(), String> {
    for plan in plans.iter().filter(|p| p.runs()) {
        std::fs::create_dir_all(&plan.dir)
            .map_err(|e| format!("cannot create {}: {e}", plan.dir.display()))?;
        std::fs::write(plan.config_path(), plan.config_text(node_host, signers))
            .map_err(|e| format!("cannot write {}: {e}", plan.config_path().display()))?;
    }
    Ok(())
}

/// A data directory in use, removed on [`DataDirGuard::finish`] unless kept.
#[derive(Debug)]
pub struct DataDirGuard {
    /// Its path.
    pub path: PathBuf,
    /// Whether it is a temporary directory the devnet made.
    pub temporary: bool,
}

impl DataDirGuard {
    /// Creates the directory: a new temporary one, or the given one, which must be empty
    /// or missing (a previous run's databases would not match this run's chain).
    pub fn create(dir: &DataDir) -> Result<Self, String> {
        match dir {
            DataDir::Temporary => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let path = std::env::temp_dir().join(format!(
                    "stacks-signer-devnet-{}-{nanos:09}",
                    std::process::id()
                ));
                std::fs::create_dir_all(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                Ok(DataDirGuard {
                    path,
                    temporary: true,
                })
            }
            DataDir::At(path) => {
                if path.exists() {
                    let mut entries = std::fs::read_dir(path).map_err(|e| {
                        format!("--data-dir {}: cannot read it: {e}", path.display())
                    })?;
                    if entries.next().is_some() {
                        return Err(format!(
                            "--data-dir {} is not empty (a previous run's?): give a new or empty directory",
                            path.display()
                        ));
                    }
                } else {
                    std::fs::create_dir_all(path).map_err(|e| {
                        format!("--data-dir {}: cannot create it: {e}", path.display())
                    })?;
                }
                Ok(DataDirGuard {
                    path: path.clone(),
                    temporary: false,
                })
            }
        }
    }

    /// Removes a temporary directory unless `keep`; returns whether it is still there.
    pub fn finish(&self, keep: bool) -> bool {
        if self.temporary && !keep {
            return std::fs::remove_dir_all(&self.path).is_err();
        }
        true
    }
}

/// One signer in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSigner {
    /// Its index.
    pub index: usize,
    /// What ran it.
    pub kind: SignerKind,
    /// Its weight.
    pub weight: u32,
    /// Its public key (hex, compressed).
    pub public_key: String,
    /// Hash160 of the public key (hex).
    pub key_hash: String,
    /// Its event endpoint.
    pub endpoint: String,
    /// Its database.
    pub db_path: PathBuf,
}

/// `devnet.json`: what a later `--check-only` needs to check the run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The seed.
    pub seed: u64,
    /// The signers' `tenure_last_block_proposal_timeout_secs`.
    pub window_secs: u64,
    /// The reward cycle at the end of the run (set when it ends).
    pub last_reward_cycle: Option<u64>,
    /// The signers.
    pub signers: Vec<ManifestSigner>,
}

impl Manifest {
    /// The manifest of `plans`.
    pub fn new(seed: u64, plans: &[SignerPlan]) -> Self {
        Manifest {
            seed,
            window_secs: super::options::DEVNET_WINDOW.as_secs(),
            last_reward_cycle: None,
            signers: plans
                .iter()
                .map(|p| ManifestSigner {
                    index: p.index,
                    kind: p.kind,
                    weight: p.weight,
                    public_key: p.public_key.to_hex(),
                    key_hash: p.key_hash.to_hex(),
                    endpoint: p.endpoint.to_string(),
                    db_path: p.db_path(),
                })
                .collect(),
        }
    }

    /// Writes it to `dir/devnet.json`.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot encode the manifest: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Reads `dir/devnet.json`.
    pub fn read(dir: &Path) -> Result<Self, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {} (is it a devnet --keep data directory?): {e}",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("invalid {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_signers_come_first_and_silent_ones_last() {
        let mut options = DevnetOptions::new(PathBuf::from("/bin/true"));
        options.silent = 1;
        options.reference = Some(super::super::options::ReferenceSigners {
            binary: PathBuf::from("/bin/true"),
            count: 2,
        });
        let plans = plan_signers(&options, Path::new("/tmp/x")).unwrap();
        let kinds: Vec<SignerKind> = plans.iter().map(|p| p.kind).collect();
        use SignerKind::*;
        assert_eq!(kinds, vec![Reference, Reference, Ours, Ours, Silent]);
        let ports: std::collections::HashSet<u16> =
            plans[..4].iter().map(|p| p.endpoint.port()).collect();
        assert_eq!(ports.len(), 4);
        if let Some((low, _)) = outgoing_port_range() {
            assert!(
                ports.iter().all(|p| *p < low),
                "endpoints below the outgoing range (from {low}): {ports:?}"
            );
        }
        assert!(plans[0]
            .config_text("127.0.0.1:1", 5)
            .contains("endpoint = \"127.0.0.1:"));
    }
}
