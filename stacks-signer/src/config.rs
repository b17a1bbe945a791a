//! The signer's configuration file (TOML): every key of the reference signer, with the same
//! names, types, defaults and units.
//!
//! Stricter than the reference where that cannot break a drop-in swap: keys the reference once
//! had and now ignores are accepted with a warning; any other unknown key is an error that
//! names it and suggests the closest valid key; a bad value names the key, the value and what
//! was expected. The private key and the auth password never appear in `Debug`/`Display`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use libsigner::chain::{
    StacksAddress, StacksPrivateKey, StacksPublicKey, CHAIN_ID_MAINNET, CHAIN_ID_TESTNET,
};
use toml::{Table, Value as TomlValue};

mod event_sources;
pub mod keys;
mod signer_config;
pub use event_sources::{EventAllowedSources, EventSource, EVENT_ALLOWED_SOURCES_KEY};
pub use signer_config::{SignerConfig, SignerConfigMode};

/// Default event poll timeout (ms).
pub const EVENT_TIMEOUT_MS: u64 = 5000;
/// Default time to wait for a block proposal before marking the miner invalid (ms).
pub const BLOCK_PROPOSAL_TIMEOUT_MS: u64 = 120_000;
/// Default time to wait for the node to validate a proposal (ms).
pub const BLOCK_PROPOSAL_VALIDATION_TIMEOUT_MS: u64 = 120_000;
/// Default window after a burn block in which a new miner's first proposal may come (s).
pub const DEFAULT_FIRST_PROPOSAL_BURN_BLOCK_TIMING_SECS: u64 = 60;
/// Default time after the last block of a tenure during which it may still be extended (s).
pub const DEFAULT_TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS: u64 = 30;
/// Default idle time before a time-based tenure extend is allowed (s).
pub const TENURE_IDLE_TIMEOUT_SECS: u64 = 120;
/// Default idle time before a read-count tenure extend is allowed (s).
pub const READ_COUNT_IDLE_TIMEOUT_SECS: u64 = 20;
/// Default buffer added to the tenure idle timeout (s).
pub const DEFAULT_TENURE_IDLE_TIMEOUT_BUFFER_SECS: u64 = 2;
/// Default maximum age of a block proposal (s).
pub const DEFAULT_BLOCK_PROPOSAL_MAX_AGE_SECS: u64 = 600;
/// Default time a reorg attempt must show activity within (ms).
pub const DEFAULT_REORG_ATTEMPTS_ACTIVITY_TIMEOUT_MS: u64 = 200_000;
/// Default time to wait for a proposal's parent block (s).
pub const DEFAULT_PROPOSAL_WAIT_TIME_FOR_PARENT_SECS: u64 = 15;
/// Default number of blocks after a fork before the replay set is reset.
pub const DEFAULT_RESET_REPLAY_SET_AFTER_FORK_BLOCKS: u64 = 2;
/// Default time before capitulating to the miner view of the other signers (s).
pub const DEFAULT_CAPITULATE_MINER_VIEW_SECS: u64 = 20;
/// Default StackerDB socket timeout (s).
pub const DEFAULT_STACKERDB_TIMEOUT_SECS: u64 = 120;
/// The signer protocol version this signer supports.
pub const SUPPORTED_SIGNER_PROTOCOL_VERSION: u64 = 2;

/// Every key the configuration file may hold.
pub const CONFIG_KEYS: &[&str] = &[
    "node_host",
    "endpoint",
    "stacks_private_key",
    "network",
    "auth_password",
    "db_path",
    "metrics_endpoint",
    "event_timeout_ms",
    "first_proposal_burn_block_timing_secs",
    "block_proposal_timeout_ms",
    "chain_id",
    "tenure_last_block_proposal_timeout_secs",
    "block_proposal_validation_timeout_ms",
    "tenure_idle_timeout_secs",
    "read_count_idle_timeout_secs",
    "tenure_idle_timeout_buffer_secs",
    "block_proposal_max_age_secs",
    "reorg_attempts_activity_timeout_ms",
    "proposal_wait_for_parent_time_secs",
    "dry_run",
    "validate_with_replay_tx",
    "reset_replay_set_after_fork_blocks",
    "capitulate_miner_view_timeout_secs",
    "stackerdb_timeout_secs",
    "supported_signer_protocol_version",
    // Not reference keys (docs/compatibility.md).
    EVENT_ALLOWED_SOURCES_KEY,
    "db_url",
    "ha_lease_ms",
    "ha_lease_renew_ms",
    "ha_instance_name",
];

/// Keys earlier releases of the reference signer read and the current one ignores. A config
/// carrying them still loads (with a warning), so operators can switch without editing it.
pub const RETIRED_KEYS: &[&str] = &[
    "event_timeout",
    "max_tx_fee_ustx",
    "tx_fee_ustx",
    "tx_fee_ms",
    "dkg_end_timeout_ms",
    "dkg_private_timeout_ms",
    "dkg_public_timeout_ms",
    "nonce_timeout_ms",
    "sign_timeout_ms",
    "message_private_key",
    "private_key",
    "signer_id",
    "signers",
    "stackerdb_contract_id",
    "signers_stackerdb_contract_id",
    "miners_stackerdb_contract_id",
    "pox_contract_id",
    "proposal_wait_time_ms",
];

/// Why a configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the operating system said.
        reason: String,
    },
    /// The text is not valid TOML.
    #[error("config is not valid TOML: {0}")]
    Toml(String),
    /// A required key is absent.
    #[error("missing required key `{0}`")]
    MissingKey(&'static str),
    /// A key this signer does not know.
    #[error("unknown key `{key}`{}", suggestion_text(.suggestion))]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// The closest valid key, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("bad value for `{key}`: {value} (expected {expected})")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as written (secrets are never echoed).
        value: String,
        /// What the key takes.
        expected: &'static str,
    },
}

fn suggestion_text(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

/// Something in a loaded config the operator should hear about but that does not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A key from an earlier release that has no effect any more.
    RetiredKey(String),
    /// `supported_signer_protocol_version` is a testing knob; it is read but not honoured.
    TestingOnlyKey(&'static str),
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::RetiredKey(key) => write!(
                f,
                "config key `{key}` is no longer used by the signer and has no effect"
            ),
            ConfigWarning::TestingOnlyKey(key) => write!(
                f,
                "config key `{key}` only applies to testing builds and has no effect"
            ),
        }
    }
}

/// Which Stacks network the signer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// Stacks mainnet.
    Mainnet,
    /// Stacks testnet.
    Testnet,
    /// A local mock network; behaves exactly like testnet.
    Mocknet,
}

impl Network {
    /// Whether this is mainnet.
    pub const fn is_mainnet(&self) -> bool {
        matches!(self, Network::Mainnet)
    }

    /// The single-signature address version of this network.
    pub const fn to_address_version(&self) -> u8 {
        if self.is_mainnet() {
            libsigner::chain::C32_ADDRESS_VERSION_MAINNET_SINGLESIG
        } else {
            libsigner::chain::C32_ADDRESS_VERSION_TESTNET_SINGLESIG
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Mocknet => "mocknet",
        })
    }
}

/// The signer's configuration, loaded from its TOML file.
#[derive(Clone)]
pub struct GlobalConfig {
    /// `host:port` of the Stacks node's RPC interface.
    pub node_host: String,
    /// Where the signer's event receiver listens (the node's event observer endpoint).
    pub endpoint: SocketAddr,
    /// The signer's key.
    pub stacks_private_key: StacksPrivateKey,
    /// The signer's address (hash of the compressed public key).
    pub stacks_address: StacksAddress,
    /// The network.
    pub network: Network,
    /// How long the run loop waits for an event before a timer tick.
    pub event_timeout: Duration,
    /// The node's auth token, sent as the `Authorization` header.
    pub auth_password: String,
    /// The signer database: a SQLite file (`:memory:` for an in-memory one) or a
    /// `postgresql://` URL (with `db_url` and `ha_instance_name` and no `db_path`: the
    /// instance's own schema of the shared database).
    pub db_path: PathBuf,
    /// Where the Prometheus metrics server listens, if anywhere.
    pub metrics_endpoint: Option<SocketAddr>,
    /// Window after a burn block in which a new miner's first proposal may arrive.
    pub first_proposal_burn_block_timing: Duration,
    /// How long to wait for a block proposal before the miner is considered invalid.
    pub block_proposal_timeout: Duration,
    /// A custom chain id; the network's default when absent.
    pub chain_id: Option<u32>,
    /// How long after the last block of a tenure it may still be extended.
    pub tenure_last_block_proposal_timeout: Duration,
    /// How long to wait for the node to validate a proposal.
    pub block_proposal_validation_timeout: Duration,
    /// Idle time before a time-based tenure extend is allowed.
    pub tenure_idle_timeout: Duration,
    /// Idle time before a read-count tenure extend is allowed.
    pub read_count_idle_timeout: Duration,
    /// Buffer added to the tenure idle timeout.
    pub tenure_idle_timeout_buffer: Duration,
    /// Maximum age of a block proposal, in seconds.
    pub block_proposal_max_age_secs: u64,
    /// Time within which a reorg attempt must show activity.
    pub reorg_attempts_activity_timeout: Duration,
    /// How long to wait for a proposal's parent block.
    pub proposal_wait_for_parent_time: Duration,
    /// Run without publishing anything (observe only).
    pub dry_run: bool,
    /// Validate proposals against the transaction replay set.
    pub validate_with_replay_tx: bool,
    /// Blocks after a fork before the replay set is reset.
    pub reset_replay_set_after_fork_blocks: u64,
    /// Time before capitulating to the other signers' miner view.
    pub capitulate_miner_view_timeout: Duration,
    /// StackerDB socket timeout.
    pub stackerdb_timeout: Duration,
    /// Who may POST node events to `endpoint` (`event_allowed_sources`; not a reference key).
    pub event_allowed_sources: EventAllowedSources,
    /// The shared database of an active/standby pair (`db_url` and the `ha_*` keys; not
    /// reference keys), when this signer is one of several instances of its key.
    pub ha: Option<crate::ha::HaConfig>,
}

/// Reads and removes `key` from `table`, typed.
struct Fields {
    table: Table,
}

/// What kind of TOML value `value` is, without its content (for secrets).
fn kind_of(value: &TomlValue) -> &'static str {
    match value {
        TomlValue::String(_) => "a string",
        TomlValue::Integer(_) => "an integer",
        TomlValue::Float(_) => "a float",
        TomlValue::Boolean(_) => "a boolean",
        TomlValue::Datetime(_) => "a date-time",
        TomlValue::Array(_) => "an array",
        TomlValue::Table(_) => "a table",
    }
}

/// An unknown key's name as an error shows it: redacted when it looks like a private key
/// (32 or more hex digits) written where a key name goes.
fn shown_key_name(key: String) -> String {
    if key.len() >= 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("<redacted: {} hex digits>", key.len())
    } else {
        one_line(&key)
    }
}

/// `text` with its control characters (newlines among them) escaped: an error quoting the
/// config file stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A TOML parse error on one line: the parser's message (its lines joined) and where it is.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let at = e
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" (line {line}, column {column})")
        });
    ConfigError::Toml(one_line(&format!("{message}{}", at.unwrap_or_default())))
}

fn describe(value: &TomlValue) -> String {
    match value {
        TomlValue::String(s) => format!("{s:?}"),
        other => one_line(&other.to_string()),
    }
}

impl Fields {
    fn take(&mut self, key: &'static str) -> Option<TomlValue> {
        self.table.remove(key)
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(TomlValue::String(s)) => Ok(Some(s)),
            Some(other) => Err(ConfigError::BadValue {
                key,
                value: describe(&other),
                expected: "a string",
            }),
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<String, ConfigError> {
        self.string(key)?.ok_or(ConfigError::MissingKey(key))
    }

    /// A required string that is a secret: a value of another type is described by its kind
    /// only, never echoed.
    fn required_secret(&mut self, key: &'static str) -> Result<String, ConfigError> {
        match self.take(key) {
            None => Err(ConfigError::MissingKey(key)),
            Some(TomlValue::String(s)) => Ok(s),
            Some(other) => Err(ConfigError::BadValue {
                key,
                value: format!("<redacted: {}>", kind_of(&other)),
                expected: "a string",
            }),
        }
    }

    fn u64(
        &mut self,
        key: &'static str,
        expected: &'static str,
    ) -> Result<Option<u64>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(TomlValue::Integer(i)) => {
                u64::try_from(i)
                    .map(Some)
                    .map_err(|_| ConfigError::BadValue {
                        key,
                        value: i.to_string(),
                        expected,
                    })
            }
            Some(other) => Err(ConfigError::BadValue {
                key,
                value: describe(&other),
                expected,
            }),
        }
    }

    fn duration_ms(&mut self, key: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(
            self.u64(key, "a non-negative integer number of milliseconds")?
                .unwrap_or(default_ms),
        ))
    }

    fn duration_secs(
        &mut self,
        key: &'static str,
        default_secs: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.u64(key, "a non-negative integer number of seconds")?
                .unwrap_or(default_secs),
        ))
    }

    fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.take(key) {
            None => Ok(default),
            Some(TomlValue::Boolean(b)) => Ok(b),
            Some(other) => Err(ConfigError::BadValue {
                key,
                value: describe(&other),
                expected: "true or false",
            }),
        }
    }
}

/// How the loader turns a `host:port` text into socket addresses (see
/// [`GlobalConfig::load_from_str_with_resolver`]).
pub type Resolver<'a> = &'a dyn Fn(&str) -> std::io::Result<Vec<SocketAddr>>;

/// The system's resolver (`ToSocketAddrs`), which [`GlobalConfig::load_from_str`] uses.
pub fn system_resolver(text: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(text.to_socket_addrs()?.collect())
}

fn socket_addr(
    key: &'static str,
    text: &str,
    resolve: Resolver<'_>,
) -> Result<SocketAddr, ConfigError> {
    let bad = || ConfigError::BadValue {
        key,
        value: format!("{text:?}"),
        expected: "a socket address host:port that resolves",
    };
    resolve(text)
        .map_err(|_| bad())?
        .into_iter()
        .next()
        .ok_or_else(bad)
}

/// Whether `host` can be the authority of an `http://` URL: `name[:port]`, `ipv4[:port]` or
/// `[ipv6][:port]`.
fn is_valid_node_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => ("v6", t.strip_prefix(':')),
                }
            }
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_');
    let port_ok = match port {
        None => true,
        Some("") => true,
        Some(p) => p.parse::<u16>().is_ok(),
    };
    name_ok && port_ok
}

/// Edit distance between two keys, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid key closest to `key`, if it is plausibly a typo of it.
pub fn closest_key(key: &str) -> Option<&'static str> {
    CONFIG_KEYS
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2) || k.contains(key) || key.contains(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

impl GlobalConfig {
    /// Loads the config file at `path`; warnings are returned for the caller to log.
    pub fn load_from_file(path: &Path) -> Result<(Self, Vec<ConfigWarning>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::load_from_str(&text)
    }

    /// Parses a config from TOML text; warnings are returned for the caller to log.
    pub fn load_from_str(text: &str) -> Result<(Self, Vec<ConfigWarning>), ConfigError> {
        Self::load_from_str_with_resolver(text, &system_resolver)
    }

    /// [`GlobalConfig::load_from_str`] resolving `endpoint` and `metrics_endpoint` with
    /// `resolve` instead of the system's resolver (so that tests and fuzzing ask no DNS
    /// server). Never panics, whatever the text.
    pub fn load_from_str_with_resolver(
        text: &str,
        resolve: Resolver<'_>,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigError> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| toml_error(text, &e))?;
        let mut warnings = Vec::new();
        let mut known = Table::new();
        for (key, value) in table {
            if CONFIG_KEYS.contains(&key.as_str()) {
                known.insert(key, value);
            } else if RETIRED_KEYS.contains(&key.as_str()) {
                warnings.push(ConfigWarning::RetiredKey(key));
            } else {
                let suggestion = closest_key(&key);
                return Err(ConfigError::UnknownKey {
                    key: shown_key_name(key),
                    suggestion,
                });
            }
        }
        let mut fields = Fields { table: known };
        let config = Self::from_fields(&mut fields, &mut warnings, resolve)?;
        Ok((config, warnings))
    }

    fn from_fields(
        fields: &mut Fields,
        warnings: &mut Vec<ConfigWarning>,
        resolve: Resolver<'_>,
    ) -> Result<Self, ConfigError> {
        let node_host = fields.required_string("node_host")?;
        if !is_valid_node_host(&node_host) {
            return Err(ConfigError::BadValue {
                key: "node_host",
                value: format!("{node_host:?}"),
                expected: "host:port of the node's RPC interface",
            });
        }
        let endpoint = socket_addr("endpoint", &fields.required_string("endpoint")?, resolve)?;
        let stacks_private_key = StacksPrivateKey::from_hex(
            &fields.required_secret("stacks_private_key")?,
        )
        .map_err(|e| ConfigError::BadValue {
            key: "stacks_private_key",
            value: format!("<redacted: {e}>"),
            expected: "64 hex digits, or 66 ending in 01 (compressed)",
        })?;
        let network = match fields.required_string("network")?.as_str() {
            "mainnet" => Network::Mainnet,
            "testnet" => Network::Testnet,
            "mocknet" => Network::Mocknet,
            other => {
                return Err(ConfigError::BadValue {
                    key: "network",
                    value: format!("{other:?}"),
                    expected: "\"mainnet\", \"testnet\" or \"mocknet\"",
                })
            }
        };
        let auth_password = fields.required_secret("auth_password")?;
        let db_path = fields.string("db_path")?;
        let metrics_endpoint = match fields.string("metrics_endpoint")? {
            Some(text) => Some(socket_addr("metrics_endpoint", &text, resolve)?),
            None => None,
        };
        let chain_id = match fields.u64("chain_id", "a 32-bit chain id")? {
            Some(id) => Some(u32::try_from(id).map_err(|_| ConfigError::BadValue {
                key: "chain_id",
                value: id.to_string(),
                expected: "a 32-bit chain id",
            })?),
            None => None,
        };
        if fields
            .u64(
                "supported_signer_protocol_version",
                "a protocol version number",
            )?
            .is_some()
        {
            warnings.push(ConfigWarning::TestingOnlyKey(
                "supported_signer_protocol_version",
            ));
        }

        let event_allowed_sources = match fields.take(EVENT_ALLOWED_SOURCES_KEY) {
            Some(value) => EventAllowedSources::from_toml(&value)?,
            None => EventAllowedSources::default(),
        };

        let ha = ha_config(fields)?;
        let db_path = PathBuf::from(match (db_path, &ha) {
            (Some(path), _) => postgres_url_checked("db_path", path)?,
            (None, Some((ha, true))) => own_schema_of(&ha.db_url, &ha.instance)?,
            (None, Some((_, false))) => {
                return Err(ConfigError::BadValue {
                    key: "db_path",
                    value: "not set".into(),
                    expected: "db_path, or ha_instance_name beside db_url (this instance's signer database is then its own schema of db_url's database, named after it)",
                })
            }
            (None, None) => return Err(ConfigError::MissingKey("db_path")),
        });
        let ha = ha.map(|(ha, _)| ha);

        let mut public_key = StacksPublicKey::from_private(&stacks_private_key);
        public_key.set_compressed(true);
        let stacks_address = StacksAddress::p2pkh(network.is_mainnet(), &public_key);

        Ok(GlobalConfig {
            node_host,
            endpoint,
            stacks_private_key,
            stacks_address,
            network,
            event_timeout: fields.duration_ms("event_timeout_ms", EVENT_TIMEOUT_MS)?,
            auth_password,
            db_path,
            metrics_endpoint,
            first_proposal_burn_block_timing: fields.duration_secs(
                "first_proposal_burn_block_timing_secs",
                DEFAULT_FIRST_PROPOSAL_BURN_BLOCK_TIMING_SECS,
            )?,
            block_proposal_timeout: fields
                .duration_ms("block_proposal_timeout_ms", BLOCK_PROPOSAL_TIMEOUT_MS)?,
            chain_id,
            tenure_last_block_proposal_timeout: fields.duration_secs(
                "tenure_last_block_proposal_timeout_secs",
                DEFAULT_TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS,
            )?,
            block_proposal_validation_timeout: fields.duration_ms(
                "block_proposal_validation_timeout_ms",
                BLOCK_PROPOSAL_VALIDATION_TIMEOUT_MS,
            )?,
            tenure_idle_timeout: fields
                .duration_secs("tenure_idle_timeout_secs", TENURE_IDLE_TIMEOUT_SECS)?,
            read_count_idle_timeout: fields
                .duration_secs("read_count_idle_timeout_secs", READ_COUNT_IDLE_TIMEOUT_SECS)?,
            tenure_idle_timeout_buffer: fields.duration_secs(
                "tenure_idle_timeout_buffer_secs",
                DEFAULT_TENURE_IDLE_TIMEOUT_BUFFER_SECS,
            )?,
            block_proposal_max_age_secs: fields
                .u64(
                    "block_proposal_max_age_secs",
                    "a non-negative integer number of seconds",
                )?
                .unwrap_or(DEFAULT_BLOCK_PROPOSAL_MAX_AGE_SECS),
            reorg_attempts_activity_timeout: fields.duration_ms(
                "reorg_attempts_activity_timeout_ms",
                DEFAULT_REORG_ATTEMPTS_ACTIVITY_TIMEOUT_MS,
            )?,
            proposal_wait_for_parent_time: fields.duration_secs(
                "proposal_wait_for_parent_time_secs",
                DEFAULT_PROPOSAL_WAIT_TIME_FOR_PARENT_SECS,
            )?,
            dry_run: fields.bool("dry_run", false)?,
            validate_with_replay_tx: fields.bool("validate_with_replay_tx", false)?,
            reset_replay_set_after_fork_blocks: fields
                .u64(
                    "reset_replay_set_after_fork_blocks",
                    "a non-negative integer number of blocks",
                )?
                .unwrap_or(DEFAULT_RESET_REPLAY_SET_AFTER_FORK_BLOCKS),
            capitulate_miner_view_timeout: fields.duration_secs(
                "capitulate_miner_view_timeout_secs",
                DEFAULT_CAPITULATE_MINER_VIEW_SECS,
            )?,
            stackerdb_timeout: fields
                .duration_secs("stackerdb_timeout_secs", DEFAULT_STACKERDB_TIMEOUT_SECS)?,
            event_allowed_sources,
            ha,
        })
    }

    /// The chain id in use: the configured one, or the network's.
    pub fn to_chain_id(&self) -> u32 {
        self.chain_id.unwrap_or(if self.network.is_mainnet() {
            CHAIN_ID_MAINNET
        } else {
            CHAIN_ID_TESTNET
        })
    }

    /// The node's RPC origin, `http://{node_host}`.
    pub fn http_origin(&self) -> String {
        format!("http://{}", self.node_host)
    }

    /// The event receiver's source filter for `event_allowed_sources` (resolves `node_host`
    /// now when the sources name it).
    pub fn event_source_filter(&self) -> libsigner::SourceFilter {
        self.event_allowed_sources.to_filter(&self.node_host)
    }

    /// The summary `check-config` prints and the signer logs at start: no secrets.
    pub fn config_to_log_string(&self) -> String {
        let public_key = StacksPublicKey::from_private(&self.stacks_private_key);
        format!(
            "\nStacks node host: {}\nSigner endpoint: {}\nStacks address: {}\nPublic key: {}\nNetwork: {}\nChain ID: 0x{:x}\nDatabase path: {}\nMetrics endpoint: {}\nDry run: {}\n",
            self.node_host,
            self.endpoint,
            self.stacks_address,
            libsigner::chain::hex::to_hex(&public_key.to_bytes_compressed()),
            self.network,
            self.to_chain_id(),
            crate::ha::redact_url(self.db_path.to_str().unwrap_or("")),
            self.metrics_endpoint
                .map(|e| e.to_string())
                .unwrap_or_else(|| "None".to_string()),
            self.dry_run,
        ) + &self.ha_to_log_string()
    }

    /// The active/standby lines of the summary (none for a single instance, so the summary
    /// reads as the reference's).
    fn ha_to_log_string(&self) -> String {
        match &self.ha {
            None => String::new(),
            Some(ha) => format!(
                "Shared database (active/standby): {}\nInstance name: {}\nLease: {} ms, renewed every {} ms\n",
                crate::ha::redact_url(&ha.db_url),
                ha.instance,
                ha.lease.as_millis(),
                ha.renew.as_millis(),
            ),
        }
    }
}

/// The active/standby keys: `db_url` turns them on; the `ha_*` keys need it.
/// `value` of `key` as it was, after checking it, if it is a PostgreSQL URL, the way the
/// client will read it (TLS parameters, parameters the client knows).
fn postgres_url_checked(key: &'static str, value: String) -> Result<String, ConfigError> {
    use crate::signerdb::Engine;
    if Engine::of_location(&value) != Engine::Postgres {
        return Ok(value);
    }
    if let Err(why) = crate::ha::tls::plan(&value).and_then(|plan| {
        postgres::Config::from_str(&plan.url)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }) {
        return Err(ConfigError::BadValue {
            key,
            value: format!("{:?}: {why}", crate::ha::redact_url(&value)),
            expected: "a PostgreSQL URL whose parameters the client knows; TLS with sslmode=verify-full and, for a private CA, sslrootcert=<PEM file> (docs/high-availability.md)",
        });
    }
    Ok(value)
}

/// The `db_path` of an instance of an active/standby pair that gives none (see
/// [`crate::ha::own_schema_url`]).
fn own_schema_of(db_url: &str, instance: &str) -> Result<String, ConfigError> {
    crate::ha::own_schema_url(db_url, instance).ok_or(ConfigError::BadValue {
        key: "db_path",
        value: "not set".into(),
        expected: "db_path set explicitly, since db_url has its own options= (the default signer database is a schema of db_url's database chosen through options=)",
    })
}

/// The active/standby keys: the pair's config, and whether `ha_instance_name` was given.
fn ha_config(fields: &mut Fields) -> Result<Option<(crate::ha::HaConfig, bool)>, ConfigError> {
    use crate::ha::{default_instance_name, redact_url, HaConfig};
    let db_url = fields.string("db_url")?;
    let lease_ms = fields.u64("ha_lease_ms", "a positive number of milliseconds")?;
    let renew_ms = fields.u64("ha_lease_renew_ms", "a positive number of milliseconds")?;
    let instance = fields.string("ha_instance_name")?;
    let Some(db_url) = db_url else {
        for (key, set) in [
            ("ha_lease_ms", lease_ms.is_some()),
            ("ha_lease_renew_ms", renew_ms.is_some()),
            ("ha_instance_name", instance.is_some()),
        ] {
            if set {
                return Err(ConfigError::BadValue {
                    key,
                    value: "set without db_url".into(),
                    expected: "db_url = \"postgresql://…\" beside it (the shared database of an active/standby pair)",
                });
            }
        }
        return Ok(None);
    };
    if !(db_url.starts_with("postgresql://") || db_url.starts_with("postgres://")) {
        return Err(ConfigError::BadValue {
            key: "db_url",
            value: format!("{:?}", redact_url(&db_url)),
            expected: "a PostgreSQL URL, postgresql://user:password@host:port/database",
        });
    }
    let db_url = postgres_url_checked("db_url", db_url)?;
    let lease_ms = lease_ms.unwrap_or(crate::ha::DEFAULT_LEASE_MS);
    let renew_ms = renew_ms.unwrap_or(crate::ha::DEFAULT_LEASE_RENEW_MS.min(lease_ms / 3));
    if lease_ms < 100 {
        return Err(ConfigError::BadValue {
            key: "ha_lease_ms",
            value: lease_ms.to_string(),
            expected: "at least 100 milliseconds",
        });
    }
    if renew_ms == 0 || renew_ms * 2 > lease_ms {
        return Err(ConfigError::BadValue {
            key: "ha_lease_renew_ms",
            value: renew_ms.to_string(),
            expected: "a positive number of milliseconds at most half of ha_lease_ms",
        });
    }
    let named = instance.is_some();
    let instance = match instance {
        Some(name) if name.trim().is_empty() || name.chars().any(char::is_control) => {
            return Err(ConfigError::BadValue {
                key: "ha_instance_name",
                value: format!("{:?}", one_line(&name)),
                expected: "a non-empty name on one line",
            })
        }
        Some(name) => name,
        None => default_instance_name(),
    };
    Ok(Some((
        HaConfig {
            db_url,
            lease: Duration::from_millis(lease_ms),
            renew: Duration::from_millis(renew_ms),
            instance,
        },
        named,
    )))
}

impl TryFrom<&Path> for GlobalConfig {
    type Error = ConfigError;
    fn try_from(path: &Path) -> Result<Self, ConfigError> {
        Self::load_from_file(path).map(|(config, _)| config)
    }
}

impl fmt::Display for GlobalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.config_to_log_string())
    }
}

impl fmt::Debug for GlobalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.config_to_log_string())
    }
}

#[cfg(test)]
mod tests;
