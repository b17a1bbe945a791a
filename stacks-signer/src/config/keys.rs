//! The operator's reference of every configuration key: type, default, unit and meaning.
//! `docs/configuration.md` is generated from [`KEY_DOCS`] and [`super::RETIRED_KEYS`]
//! ([`configuration_markdown`]); tests check that every key of [`super::CONFIG_KEYS`] is
//! documented and that each documented default is the one the loader applies.

/// One configuration key, as the operator needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// The key.
    pub key: &'static str,
    /// Its TOML type and form.
    pub kind: &'static str,
    /// Whether the file must set it.
    pub required: bool,
    /// The value used when it is absent, written as TOML (`None`: required, or no value).
    pub default: Option<&'static str>,
    /// The unit of a number (`ms`, `s`, `blocks`), if any.
    pub unit: Option<&'static str>,
    /// What it does.
    pub meaning: &'static str,
}

/// Every key of [`super::CONFIG_KEYS`], in the same order.
pub const KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "node_host",
        kind: "string `host:port`",
        required: true,
        default: None,
        unit: None,
        meaning: "The Stacks node's RPC address; the signer calls `http://{node_host}`. Use the node's own host (an IP address or a name), never a public load balancer.",
    },
    KeyDoc {
        key: "endpoint",
        kind: "string `ip:port`",
        required: true,
        default: None,
        unit: None,
        meaning: "Where the signer listens for the node's events: the node's `[[events_observer]] endpoint`. Port 0 picks a free port (logged).",
    },
    KeyDoc {
        key: "stacks_private_key",
        kind: "string, hex",
        required: true,
        default: None,
        unit: None,
        meaning: "The signer's private key: 64 hex digits, or 66 ending in `01` (compressed). Never logged; keep the file readable by the signer's user only.",
    },
    KeyDoc {
        key: "network",
        kind: "string: `mainnet`, `testnet` or `mocknet`",
        required: true,
        default: None,
        unit: None,
        meaning: "The network: address versions and the default chain id (`mocknet` behaves as testnet).",
    },
    KeyDoc {
        key: "auth_password",
        kind: "string",
        required: true,
        default: None,
        unit: None,
        meaning: "Sent as the `Authorization` header of block proposals and uploads; must equal the node's `connection_options.auth_token`. Never logged.",
    },
    KeyDoc {
        key: "db_path",
        kind: "string, path or `postgresql://` URL",
        required: true,
        default: None,
        unit: None,
        meaning: "The signer database: a SQLite file (created if absent, locked while the signer runs; a reference signer's database is taken over), or a PostgreSQL database `postgresql://user:password@host:port/database` (tables created in an empty database, held by one signer through an advisory lock; `?options=-csearch_path%3D<schema>` puts it in its own schema, created if absent; TLS parameters as for `db_url`; the password is never logged). Beside `db_url` and `ha_instance_name` it may be left out: the instance's signer database is then its own schema `view_<instance name>` of `db_url`'s database. `:memory:` keeps nothing across restarts: never in production.",
    },
    KeyDoc {
        key: "metrics_endpoint",
        kind: "string `ip:port`",
        required: false,
        default: None,
        unit: None,
        meaning: "Where the monitoring server listens (`/metrics`, `/info`, `/heartbeat`, `/`, `/status.json`). Unset: no server (metrics are still counted). A port that cannot be bound is logged once; the signer runs on.",
    },
    KeyDoc {
        key: "event_timeout_ms",
        kind: "integer",
        required: false,
        default: Some("5000"),
        unit: Some("ms"),
        meaning: "How long the run loop waits for an event before its periodic tick (timeouts, queued validations).",
    },
    KeyDoc {
        key: "first_proposal_burn_block_timing_secs",
        kind: "integer",
        required: false,
        default: Some("60"),
        unit: Some("s"),
        meaning: "After a burn block, how long a block of the previous miner may still arrive before the new miner's first block.",
    },
    KeyDoc {
        key: "block_proposal_timeout_ms",
        kind: "integer",
        required: false,
        default: Some("120000"),
        unit: Some("ms"),
        meaning: "How long a winning miner has to propose its first block before the signer considers it inactive and lets the previous miner extend.",
    },
    KeyDoc {
        key: "chain_id",
        kind: "integer (32 bits; `0x` hex allowed)",
        required: false,
        default: None,
        unit: None,
        meaning: "The chain id sent with block proposals. Unset: the network's (`0x00000001` mainnet, `0x80000000` otherwise).",
    },
    KeyDoc {
        key: "tenure_last_block_proposal_timeout_secs",
        kind: "integer",
        required: false,
        default: Some("30"),
        unit: Some("s"),
        meaning: "How long after the last block of a tenure a sibling of it may still be accepted, and a previous tenure be extended.",
    },
    KeyDoc {
        key: "block_proposal_validation_timeout_ms",
        kind: "integer",
        required: false,
        default: Some("120000"),
        unit: Some("ms"),
        meaning: "How long the signer waits for its node to validate a proposal before rejecting it (`ConnectivityIssues`).",
    },
    KeyDoc {
        key: "tenure_idle_timeout_secs",
        kind: "integer",
        required: false,
        default: Some("120"),
        unit: Some("s"),
        meaning: "Idle time after which the signer allows a time-based tenure extend (announced in its responses).",
    },
    KeyDoc {
        key: "read_count_idle_timeout_secs",
        kind: "integer",
        required: false,
        default: Some("20"),
        unit: Some("s"),
        meaning: "Idle time after which the signer allows a read-count tenure extend.",
    },
    KeyDoc {
        key: "tenure_idle_timeout_buffer_secs",
        kind: "integer",
        required: false,
        default: Some("2"),
        unit: Some("s"),
        meaning: "Added to the idle timeouts to absorb clock differences between signers.",
    },
    KeyDoc {
        key: "block_proposal_max_age_secs",
        kind: "integer",
        required: false,
        default: Some("600"),
        unit: Some("s"),
        meaning: "Proposals whose block timestamp is older than this are ignored.",
    },
    KeyDoc {
        key: "reorg_attempts_activity_timeout_ms",
        kind: "integer",
        required: false,
        default: Some("200000"),
        unit: Some("ms"),
        meaning: "How long a tenure that produced no block stays eligible for a reorg by the next miner.",
    },
    KeyDoc {
        key: "proposal_wait_for_parent_time_secs",
        kind: "integer",
        required: false,
        default: Some("15"),
        unit: Some("s"),
        meaning: "How long a proposal whose parent the node has not processed waits before it is submitted anyway.",
    },
    KeyDoc {
        key: "dry_run",
        kind: "boolean",
        required: false,
        default: Some("false"),
        unit: None,
        meaning: "Observe a cycle this key is not registered for: run every check and log what would be published, publishing nothing. A cycle the key is registered for is refused with an error in the log (a registered signer must sign).",
    },
    KeyDoc {
        key: "validate_with_replay_tx",
        kind: "boolean",
        required: false,
        default: Some("false"),
        unit: None,
        meaning: "Send the transaction replay set (after a Bitcoin fork) with validation requests.",
    },
    KeyDoc {
        key: "reset_replay_set_after_fork_blocks",
        kind: "integer",
        required: false,
        default: Some("2"),
        unit: Some("blocks"),
        meaning: "Burn blocks after a fork after which a replay set that made no progress is dropped.",
    },
    KeyDoc {
        key: "capitulate_miner_view_timeout_secs",
        kind: "integer",
        required: false,
        default: Some("20"),
        unit: Some("s"),
        meaning: "How often at most the signer adopts the signer set's view of the current miner when it disagrees.",
    },
    KeyDoc {
        key: "stackerdb_timeout_secs",
        kind: "integer",
        required: false,
        default: Some("120"),
        unit: Some("s"),
        meaning: "Socket timeout of each StackerDB request (publishing votes, reading peers' messages).",
    },
    KeyDoc {
        key: "supported_signer_protocol_version",
        kind: "integer",
        required: false,
        default: None,
        unit: None,
        meaning: "A testing knob of the reference's test builds: accepted with a warning, no effect.",
    },
    KeyDoc {
        key: "event_allowed_sources",
        kind: "array of strings",
        required: false,
        default: Some("[\"loopback\", \"node_host\"]"),
        unit: None,
        meaning: "Who may POST node events to `endpoint` (not a reference key): IP addresses, CIDR ranges, `\"loopback\"` (127.0.0.0/8 and ::1), `\"node_host\"` (the addresses `node_host` resolves to, re-resolved when a request is refused), or `\"any\"` alone (the reference's behaviour). Other sources get 403 and no event; `/status` stays open.",
    },
    KeyDoc {
        key: "db_url",
        kind: "string, `postgresql://user:password@host:port/database`",
        required: false,
        default: None,
        unit: None,
        meaning: "Makes this signer one instance of an active/standby pair of its key (not a reference key; docs/high-availability.md): the instances share this PostgreSQL database, which holds the signing lease, every vote of the key and its StackerDB slot versions; only the lease holder publishes. `db_path` stays each instance's own view (a SQLite file, or its own schema of this database: docs/high-availability.md). The password is never logged. TLS: `?sslmode=verify-full` (or `require`, `verify-ca`: always verified, certificate chain and host name), with `&sslrootcert=<PEM file>` for a private CA (else the built-in Mozilla roots); without `sslmode` the connection is plain.",
    },
    KeyDoc {
        key: "ha_lease_ms",
        kind: "integer",
        required: false,
        default: Some("3000"),
        unit: Some("ms"),
        meaning: "With `db_url`: how long the signing lease lasts unless renewed; a standby takes over this long after the active stops renewing (at least 100).",
    },
    KeyDoc {
        key: "ha_lease_renew_ms",
        kind: "integer",
        required: false,
        default: Some("1000"),
        unit: Some("ms"),
        meaning: "With `db_url`: how often the holder renews the lease, at most half of `ha_lease_ms` (when unset and `ha_lease_ms` is under 3000: a third of it); every instance tries to take the lease this often.",
    },
    KeyDoc {
        key: "ha_instance_name",
        kind: "string",
        required: false,
        default: None,
        unit: None,
        meaning: "With `db_url`: this instance's name in the lease, the shared vote record and the logs (by default `<host name>:<process id>`). Give each instance of a key its own.",
    },
];

/// Why each retired key is still accepted.
pub const RETIRED_KEY_NOTE: &str = "Keys of earlier reference releases (the WSTS/DKG era and before): a config that still carries them loads, with a warning naming each (`config key `...` is no longer used by the signer and has no effect`); remove them at leisure.";

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The generated part of `docs/configuration.md`.
pub fn configuration_markdown() -> String {
    let mut out = String::from(
        "| key | type | required | default | unit | meaning |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for doc in KEY_DOCS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            doc.key,
            cell(doc.kind),
            if doc.required { "yes" } else { "no" },
            doc.default
                .map(|d| format!("`{d}`"))
                .unwrap_or_else(|| "–".to_string()),
            doc.unit.unwrap_or("–"),
            cell(doc.meaning),
        ));
    }
    out.push_str("\n### Retired keys\n\n");
    out.push_str(RETIRED_KEY_NOTE);
    out.push_str("\n\n");
    for key in super::RETIRED_KEYS {
        out.push_str(&format!("- `{key}`\n"));
    }
    out
}
