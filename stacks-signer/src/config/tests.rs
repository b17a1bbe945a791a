use super::*;

const SIGNER_0: &str = include_str!("../../tests/conf/signer-0.toml");
const SIGNER_1: &str = include_str!("../../tests/conf/signer-1.toml");
const CUSTOM_CHAIN: &str = include_str!("../../tests/conf/signer-custom-chain-id.toml");

const MINIMAL: &str = r#"
stacks_private_key = "2de4e77aab89c0c2570bb8bb90824f5cf2a5204a975905fee450ff9dad0fcf28"
node_host = "127.0.0.1:20443"
endpoint = "127.0.0.1:30000"
network = "mainnet"
auth_password = "hunter2-secret"
db_path = "/tmp/signer.sqlite"
"#;

fn load(text: &str) -> GlobalConfig {
    GlobalConfig::load_from_str(text).unwrap().0
}

fn load_err(text: &str) -> ConfigError {
    GlobalConfig::load_from_str(text).unwrap_err()
}

fn with_line(line: &str) -> String {
    format!("{MINIMAL}{line}\n")
}

#[test]
fn sample_signer_0_loads_and_prints_like_the_reference() {
    let config = load(SIGNER_0);
    assert_eq!(config.network, Network::Testnet);
    assert_eq!(config.to_chain_id(), CHAIN_ID_TESTNET);
    assert_eq!(
        config.config_to_log_string(),
        "\nStacks node host: 127.0.0.1:20443\nSigner endpoint: [::1]:30000\nStacks address: ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ\nPublic key: 03bc489f27da3701d9f9e577c88de5567cf4023111b7577042d55cde4d823a3505\nNetwork: testnet\nChain ID: 0x80000000\nDatabase path: :memory:\nMetrics endpoint: 0.0.0.0:9090\nDry run: false\n"
    );
}

#[test]
fn sample_signer_1_resolves_localhost_endpoint() {
    let config = load(SIGNER_1);
    assert_eq!(config.endpoint.port(), 30001);
    assert!(config.endpoint.ip().is_loopback());
    assert_eq!(config.metrics_endpoint, None);
}

#[test]
fn custom_chain_id_accepts_hex_literal() {
    let config = load(CUSTOM_CHAIN);
    assert_eq!(config.chain_id, Some(0x8000_0100));
    assert_eq!(config.to_chain_id(), 0x8000_0100);
    assert!(config
        .config_to_log_string()
        .contains("Chain ID: 0x80000100\n"));
}

#[test]
fn defaults_match_the_reference() {
    let c = load(MINIMAL);
    assert_eq!(c.event_timeout, Duration::from_millis(5000));
    assert_eq!(c.first_proposal_burn_block_timing, Duration::from_secs(60));
    assert_eq!(c.block_proposal_timeout, Duration::from_millis(120_000));
    assert_eq!(c.chain_id, None);
    assert_eq!(c.to_chain_id(), CHAIN_ID_MAINNET);
    assert_eq!(
        c.tenure_last_block_proposal_timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        c.block_proposal_validation_timeout,
        Duration::from_millis(120_000)
    );
    assert_eq!(c.tenure_idle_timeout, Duration::from_secs(120));
    assert_eq!(c.read_count_idle_timeout, Duration::from_secs(20));
    assert_eq!(c.tenure_idle_timeout_buffer, Duration::from_secs(2));
    assert_eq!(c.block_proposal_max_age_secs, 600);
    assert_eq!(
        c.reorg_attempts_activity_timeout,
        Duration::from_millis(200_000)
    );
    assert_eq!(c.proposal_wait_for_parent_time, Duration::from_secs(15));
    assert!(!c.dry_run);
    assert!(!c.validate_with_replay_tx);
    assert_eq!(c.reset_replay_set_after_fork_blocks, 2);
    assert_eq!(c.capitulate_miner_view_timeout, Duration::from_secs(20));
    assert_eq!(c.stackerdb_timeout, Duration::from_secs(120));
    assert_eq!(c.metrics_endpoint, None);
}

#[test]
fn every_optional_key_is_read_with_its_unit() {
    let text = format!(
        "{MINIMAL}
metrics_endpoint = \"127.0.0.1:9154\"
event_timeout_ms = 1
first_proposal_burn_block_timing_secs = 2
block_proposal_timeout_ms = 3
chain_id = 7
tenure_last_block_proposal_timeout_secs = 4
block_proposal_validation_timeout_ms = 5
tenure_idle_timeout_secs = 6
read_count_idle_timeout_secs = 7
tenure_idle_timeout_buffer_secs = 8
block_proposal_max_age_secs = 9
reorg_attempts_activity_timeout_ms = 10
proposal_wait_for_parent_time_secs = 11
dry_run = true
validate_with_replay_tx = true
reset_replay_set_after_fork_blocks = 12
capitulate_miner_view_timeout_secs = 13
stackerdb_timeout_secs = 14
"
    );
    let c = load(&text);
    assert_eq!(c.metrics_endpoint, Some("127.0.0.1:9154".parse().unwrap()));
    assert_eq!(c.event_timeout, Duration::from_millis(1));
    assert_eq!(c.first_proposal_burn_block_timing, Duration::from_secs(2));
    assert_eq!(c.block_proposal_timeout, Duration::from_millis(3));
    assert_eq!(c.to_chain_id(), 7);
    assert_eq!(c.tenure_last_block_proposal_timeout, Duration::from_secs(4));
    assert_eq!(
        c.block_proposal_validation_timeout,
        Duration::from_millis(5)
    );
    assert_eq!(c.tenure_idle_timeout, Duration::from_secs(6));
    assert_eq!(c.read_count_idle_timeout, Duration::from_secs(7));
    assert_eq!(c.tenure_idle_timeout_buffer, Duration::from_secs(8));
    assert_eq!(c.block_proposal_max_age_secs, 9);
    assert_eq!(c.reorg_attempts_activity_timeout, Duration::from_millis(10));
    assert_eq!(c.proposal_wait_for_parent_time, Duration::from_secs(11));
    assert!(c.dry_run);
    assert!(c.validate_with_replay_tx);
    assert_eq!(c.reset_replay_set_after_fork_blocks, 12);
    assert_eq!(c.capitulate_miner_view_timeout, Duration::from_secs(13));
    assert_eq!(c.stackerdb_timeout, Duration::from_secs(14));
}

#[test]
fn address_uses_the_compressed_key_whatever_the_key_form() {
    let uncompressed = load(MINIMAL);
    let compressed = load(&MINIMAL.replace("0ff9dad0fcf28\"", "0ff9dad0fcf2801\""));
    assert_eq!(
        uncompressed.stacks_address.to_string(),
        "SP1286C62P3TAWVQV2VM2CEGTRBQZSZ6MHMS9RW05"
    );
    assert_eq!(compressed.stacks_address, uncompressed.stacks_address);
}

#[test]
fn every_required_key_is_named_when_missing() {
    for key in [
        "stacks_private_key",
        "node_host",
        "endpoint",
        "network",
        "auth_password",
        "db_path",
    ] {
        let text: String = MINIMAL
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(load_err(&text), ConfigError::MissingKey(key), "{key}");
    }
}

#[test]
fn unknown_key_is_an_error_with_a_suggestion() {
    let err = load_err(&with_line("event_timeout_msec = 10"));
    assert_eq!(
        err,
        ConfigError::UnknownKey {
            key: "event_timeout_msec".into(),
            suggestion: Some("event_timeout_ms"),
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown key `event_timeout_msec`; did you mean `event_timeout_ms`?"
    );
    let err = load_err(&with_line("zzz = 1"));
    assert_eq!(err.to_string(), "unknown key `zzz`");
}

#[test]
fn retired_keys_load_with_a_warning() {
    let text = with_line("event_timeout = 5000\nmax_tx_fee_ustx = 10\ntx_fee_ustx = 1");
    let (_, warnings) = GlobalConfig::load_from_str(&text).unwrap();
    assert_eq!(
        warnings,
        vec![
            ConfigWarning::RetiredKey("event_timeout".into()),
            ConfigWarning::RetiredKey("max_tx_fee_ustx".into()),
            ConfigWarning::RetiredKey("tx_fee_ustx".into()),
        ]
    );
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    let cases = [
        ("event_timeout_ms = -1", "event_timeout_ms", "-1"),
        ("event_timeout_ms = \"5s\"", "event_timeout_ms", "\"5s\""),
        ("dry_run = \"yes\"", "dry_run", "\"yes\""),
        ("chain_id = 4294967296", "chain_id", "4294967296"),
        (
            "metrics_endpoint = \"nope\"",
            "metrics_endpoint",
            "\"nope\"",
        ),
        (
            "stackerdb_timeout_secs = 1.5",
            "stackerdb_timeout_secs",
            "1.5",
        ),
    ];
    for (line, key, value) in cases {
        match load_err(&with_line(line)) {
            ConfigError::BadValue {
                key: k, value: v, ..
            } => {
                assert_eq!((k, v.as_str()), (key, value), "{line}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    for (from, to, key) in [
        ("\"mainnet\"", "\"Mainnet\"", "network"),
        ("\"127.0.0.1:30000\"", "\"not an address\"", "endpoint"),
        ("\"127.0.0.1:20443\"", "\"http://x/y\"", "node_host"),
        ("\"2de4e77aab89", "\"zz", "stacks_private_key"),
    ] {
        match load_err(&MINIMAL.replacen(from, to, 1)) {
            ConfigError::BadValue { key: k, .. } => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
}

#[test]
fn secrets_never_appear_in_debug_display_or_errors() {
    let config = load(MINIMAL);
    for text in [format!("{config}"), format!("{config:?}")] {
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("2de4e77aab89c0c2570bb8bb90824f5cf2a5204a"));
    }
    let err = load_err(&MINIMAL.replace("0ff9dad0fcf28\"", "0ff9dad0fcf2802\""));
    assert!(
        !err.to_string().contains("2de4e77aab89c0c2570bb8bb90824f5c"),
        "{err}"
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_described_by_its_kind_never_echoed() {
    let key = "2de4e77aab89c0c2570bb8bb90824f5cf2a5204a975905fee450ff9dad0fcf28";
    for (from, to, key_name, kind) in [
        (
            format!("\"{key}\""),
            format!("[\"{key}\"]"),
            "stacks_private_key",
            "an array",
        ),
        (
            format!("\"{key}\""),
            format!("{{ k = \"{key}\" }}"),
            "stacks_private_key",
            "a table",
        ),
        (
            "\"hunter2-secret\"".to_string(),
            "[\"hunter2-secret\"]".to_string(),
            "auth_password",
            "an array",
        ),
    ] {
        let err = load_err(&MINIMAL.replacen(&from, &to, 1));
        let text = err.to_string();
        assert!(
            !text.contains("2de4e77aab89c0c2") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(
            matches!(&err, ConfigError::BadValue { key, value, .. }
                if *key == key_name && *value == format!("<redacted: {kind}>")),
            "{err:?}"
        );
    }
}

#[test]
fn an_unknown_key_name_that_looks_like_a_private_key_is_not_echoed() {
    let key = "2de4e77aab89c0c2570bb8bb90824f5cf2a5204a975905fee450ff9dad0fcf28";
    let err = load_err(&with_line(&format!("\"{key}\" = true")));
    assert!(!err.to_string().contains("2de4e77aab89c0c2"), "{err}");
    assert!(
        err.to_string().contains("<redacted: 64 hex digits>"),
        "{err}"
    );
    let err = load_err(&with_line("stacks_private_keys = \"x\""));
    assert!(
        err.to_string()
            .contains("unknown key `stacks_private_keys`"),
        "{err}"
    );
}

#[test]
fn malformed_toml_is_an_error_not_a_panic() {
    assert!(matches!(load_err("node_host = "), ConfigError::Toml(_)));
    assert!(matches!(load_err("\u{0}\u{1}"), ConfigError::Toml(_)));
}

/// Found by the `config_toml` fuzz target: the TOML parser's message for an unterminated
/// string spans two lines; the error is one line and says where.
#[test]
fn a_toml_error_is_one_line_with_its_position() {
    let text = "network = \"testnet\"\nnode_host = \"127.0.0.1:20443\nendpoint = 1\n";
    let err = load_err(text).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("config is not valid TOML: invalid"),
        "{err}"
    );
    assert!(err.contains("(line 2, column "), "{err}");
}

/// Quoted keys and values may hold newlines; an error naming them stays on one line.
#[test]
fn an_error_quoting_the_file_stays_on_one_line() {
    for text in [
        "\"node\\nhost\" = 1\n",
        "node_host = [\"a\\nb\"]\n",
        "event_allowed_sources = [\"10.0.0.0/8\\n\"]\n",
        "event_allowed_sources = [[\"x\\ny\"]]\n",
    ] {
        let err = load_err(text).to_string();
        assert_eq!(err.lines().count(), 1, "{text}: {err}");
    }
}

#[test]
fn node_host_validation() {
    for ok in [
        "127.0.0.1:20443",
        "localhost:20443",
        "[::1]:20443",
        "node.example",
        "[::1]",
    ] {
        assert!(is_valid_node_host(ok), "{ok}");
    }
    for bad in ["", "http://x", "a b:1", "host:port", "[zz]:1", "x:70000"] {
        assert!(!is_valid_node_host(bad), "{bad}");
    }
}

/// Every field of a loaded config, so two loads can be compared whole (a new field that is
/// not listed here does not compile).
fn dump(c: &GlobalConfig) -> String {
    let GlobalConfig {
        node_host,
        endpoint,
        stacks_private_key: _,
        stacks_address,
        network,
        event_timeout,
        auth_password: _,
        db_path,
        metrics_endpoint,
        first_proposal_burn_block_timing,
        block_proposal_timeout,
        chain_id,
        tenure_last_block_proposal_timeout,
        block_proposal_validation_timeout,
        tenure_idle_timeout,
        read_count_idle_timeout,
        tenure_idle_timeout_buffer,
        block_proposal_max_age_secs,
        reorg_attempts_activity_timeout,
        proposal_wait_for_parent_time,
        dry_run,
        validate_with_replay_tx,
        reset_replay_set_after_fork_blocks,
        capitulate_miner_view_timeout,
        stackerdb_timeout,
        event_allowed_sources,
        ha,
    } = c;
    format!(
        "{node_host:?} {endpoint:?} {stacks_address} {network:?} {event_timeout:?} {db_path:?} \
         {metrics_endpoint:?} {first_proposal_burn_block_timing:?} {block_proposal_timeout:?} \
         {chain_id:?} {tenure_last_block_proposal_timeout:?} {block_proposal_validation_timeout:?} \
         {tenure_idle_timeout:?} {read_count_idle_timeout:?} {tenure_idle_timeout_buffer:?} \
         {block_proposal_max_age_secs:?} {reorg_attempts_activity_timeout:?} \
         {proposal_wait_for_parent_time:?} {dry_run:?} {validate_with_replay_tx:?} \
         {reset_replay_set_after_fork_blocks:?} {capitulate_miner_view_timeout:?} \
         {stackerdb_timeout:?} {event_allowed_sources} {ha:?}"
    )
}

#[test]
fn every_key_is_documented_in_order() {
    let documented: Vec<&str> = keys::KEY_DOCS.iter().map(|d| d.key).collect();
    assert_eq!(documented, CONFIG_KEYS);
    for doc in keys::KEY_DOCS {
        assert!(!doc.meaning.is_empty(), "{} has no meaning", doc.key);
        assert_eq!(
            doc.required,
            doc.default.is_none() && every_required_key().contains(&doc.key),
            "{}: required iff the loader refuses a config without it",
            doc.key
        );
    }
}

/// The keys without which the loader refuses a config.
fn every_required_key() -> Vec<&'static str> {
    CONFIG_KEYS
        .iter()
        .copied()
        .filter(|key| {
            let without: String = MINIMAL
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .collect::<Vec<_>>()
                .join("\n");
            matches!(
                GlobalConfig::load_from_str(&without),
                Err(ConfigError::MissingKey(k)) if k == *key
            )
        })
        .collect()
}

#[test]
fn every_documented_default_is_the_loaders() {
    for doc in keys::KEY_DOCS {
        let Some(default) = doc.default else {
            continue;
        };
        // The active/standby keys need `db_url` beside them.
        let base = if doc.key.starts_with("ha_") {
            with_line("db_url = \"postgresql://u:p@h/d\"")
        } else {
            MINIMAL.to_string()
        };
        let with_line = |line: &str| format!("{base}{line}\n");
        let baseline = dump(&load(&base));
        let explicit = dump(&load(&with_line(&format!("{} = {default}", doc.key))));
        assert_eq!(
            explicit, baseline,
            "`{}`: the documented default {default} is not what the loader uses",
            doc.key
        );
        // And the key does something: another value changes the config.
        let other = match default {
            "false" => "true".to_string(),
            "true" => "false".to_string(),
            list if list.starts_with('[') => "[\"any\"]".to_string(),
            n => (n.parse::<u64>().expect("a numeric default") + 1).to_string(),
        };
        let changed = dump(&load(&with_line(&format!("{} = {other}", doc.key))));
        assert_ne!(changed, baseline, "`{}` has no effect", doc.key);
    }
}

#[test]
fn db_url_makes_the_signer_an_instance_of_an_active_standby_pair() {
    let c = load(&with_line(
        "db_url = \"postgresql://signer:pg-secret@db.internal:5432/signers\"\nha_instance_name = \"signer-a\"",
    ));
    let ha = c.ha.as_ref().unwrap();
    assert_eq!(ha.instance, "signer-a");
    assert_eq!(ha.lease, Duration::from_millis(crate::ha::DEFAULT_LEASE_MS));
    assert_eq!(
        ha.renew,
        Duration::from_millis(crate::ha::DEFAULT_LEASE_RENEW_MS)
    );
    let summary = c.config_to_log_string();
    assert!(summary.contains(
        "Shared database (active/standby): postgresql://signer:***@db.internal:5432/signers\n"
    ));
    assert!(summary.contains("Instance name: signer-a\n"));
    assert!(!summary.contains("pg-secret"));
    assert!(!format!("{ha:?}").contains("pg-secret"));
    assert_eq!(load(MINIMAL).ha, None);
    assert!(!load(MINIMAL)
        .config_to_log_string()
        .contains("Shared database"));
}

#[test]
fn the_lease_keys_are_checked_and_need_db_url() {
    let url = "db_url = \"postgres://u:p@h/d\"";
    let c = load(&with_line(&format!("{url}\nha_lease_ms = 900")));
    let ha = c.ha.unwrap();
    assert_eq!(
        ha.renew,
        Duration::from_millis(300),
        "a third of a short lease"
    );
    assert!(ha.instance.ends_with(&format!(":{}", std::process::id())));
    for (extra, key) in [
        ("ha_lease_ms = 50", "ha_lease_ms"),
        (
            "ha_lease_ms = 1000\nha_lease_renew_ms = 600",
            "ha_lease_renew_ms",
        ),
        ("ha_lease_renew_ms = 0", "ha_lease_renew_ms"),
        ("ha_instance_name = \"  \"", "ha_instance_name"),
    ] {
        match load_err(&with_line(&format!("{url}\n{extra}"))) {
            ConfigError::BadValue { key: k, .. } => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: {other:?}"),
        }
    }
    for extra in ["ha_lease_ms = 3000", "ha_instance_name = \"a\""] {
        let err = load_err(&with_line(extra)).to_string();
        assert!(err.contains("set without db_url"), "{err}");
    }
    let err = load_err(&with_line("db_url = \"mysql://u:hidden@h/d\"")).to_string();
    assert!(err.contains("db_url") && !err.contains("hidden"), "{err}");
}

#[test]
fn db_url_tls_parameters_are_checked_at_load() {
    let ok = load(&with_line(
        "db_url = \"postgresql://u:p@db.internal/d?sslmode=verify-full\"",
    ));
    assert!(ok.ha.is_some());
    for (url, says) in [
        (
            "postgresql://u:hidden@h/d?sslrootcert=/etc/ca.pem",
            "sslmode=verify-full",
        ),
        (
            "postgresql://u:hidden@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
        (
            "postgresql://u:hidden@h/d?sslmode=sometimes",
            "sslmode=sometimes",
        ),
        ("postgresql://u:hidden@h/d?sslcert=/etc/c.pem", "sslcert"),
    ] {
        let err = load_err(&with_line(&format!("db_url = \"{url}\""))).to_string();
        assert!(
            err.contains("db_url") && err.contains(says) && !err.contains("hidden"),
            "{url}: {err}"
        );
    }
}

#[test]
fn db_path_may_name_a_postgresql_database_checked_at_load_and_shown_without_password() {
    let text = MINIMAL.replace(
        "db_path = \"/tmp/signer.sqlite\"",
        "db_path = \"postgresql://signer:pg-secret@db.internal:5432/views\"",
    );
    let config = load(&text);
    assert_eq!(
        config.db_path,
        PathBuf::from("postgresql://signer:pg-secret@db.internal:5432/views")
    );
    let shown = config.config_to_log_string();
    assert!(
        shown.contains("Database path: postgresql://signer:***@db.internal:5432/views"),
        "{shown}"
    );
    assert!(!shown.contains("pg-secret"), "{shown}");
    let text = MINIMAL.replace(
        "db_path = \"/tmp/signer.sqlite\"",
        "db_path = \"postgresql://signer:pg-secret@db.internal/views?sslmode=sometimes\"",
    );
    let err = load_err(&text).to_string();
    assert!(
        err.contains("db_path") && err.contains("sslmode=sometimes") && !err.contains("pg-secret"),
        "{err}"
    );
}

#[test]
fn without_db_path_a_named_instance_keeps_its_signer_database_in_its_own_schema_of_db_url() {
    let without_path: String = MINIMAL
        .lines()
        .filter(|l| !l.starts_with("db_path "))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!(
        "{without_path}db_url = \"postgresql://signer:pw@db.internal/signers\"\nha_instance_name = \"Signer-A.1\"\n"
    );
    assert_eq!(
        load(&text).db_path,
        PathBuf::from(
            "postgresql://signer:pw@db.internal/signers?options=-csearch_path%3Dview_signer_a_1"
        )
    );
    let text = format!(
        "{without_path}db_url = \"postgresql://signer:pw@db.internal/signers?sslmode=disable\"\nha_instance_name = \"b\"\n"
    );
    assert_eq!(
        load(&text).db_path,
        PathBuf::from("postgresql://signer:pw@db.internal/signers?sslmode=disable&options=-csearch_path%3Dview_b")
    );
    // An unnamed instance's default name changes with every process: no default schema.
    let text = format!("{without_path}db_url = \"postgresql://signer:pw@db.internal/signers\"\n");
    let err = load_err(&text).to_string();
    assert!(
        err.contains("db_path") && err.contains("ha_instance_name"),
        "{err}"
    );
}
