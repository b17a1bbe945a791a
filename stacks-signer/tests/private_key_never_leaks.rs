//! The signer's private key never reaches a log, a metric, the status page, an error or a
//! panic message, at any log level, and never reaches the database file.
//!
//! `stacks-signer run` child processes at trace level (the reference line format, then JSON
//! lines) sign a few tenures of blocks from the in-process mock node with `metrics_endpoint`
//! set; `/metrics`, `/status.json` and `/info` are scraped; `check-config` runs on the good
//! config, and `run` and `check-config` on configs that are wrong in ways that put the key, or
//! something near it, in front of the parser. Every output (stdout, stderr, each scrape, the
//! database and its WAL) is searched for the key: its hex (with and without the `01`
//! compression suffix, any case, and any 16-digit stretch of it), its raw bytes, and its WIF
//! (base58check of `0x80` / `0xef` || key || `0x01`, and without the `01`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libsigner::chain::hex::to_hex;
use libsigner::chain::{DoubleSha256, StacksPrivateKey, StacksPublicKey};
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};

/// Base58 (the Bitcoin alphabet) of `bytes`.
fn base58(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    // Repeated division of the big-endian number by 58.
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n('1', zeros)
        .chain(digits.iter().rev().map(|d| ALPHABET[*d as usize] as char))
        .collect()
}

/// Base58check: `payload` followed by the first four bytes of its double SHA-256.
fn base58check(payload: &[u8]) -> String {
    let checksum = DoubleSha256::from_data(payload);
    let mut bytes = payload.to_vec();
    bytes.extend_from_slice(&checksum.as_bytes()[..4]);
    base58(&bytes)
}

/// The WIF of the 32 secret bytes: `version` (0x80 mainnet, 0xef testnet), the key, and `01`
/// when the public key is compressed.
fn wif(secret: &[u8; 32], version: u8, compressed: bool) -> String {
    let mut payload = vec![version];
    payload.extend_from_slice(secret);
    if compressed {
        payload.push(0x01);
    }
    base58check(&payload)
}

#[test]
fn wif_is_computed_as_bitcoin_computes_it() {
    let mut one = [0u8; 32];
    one[31] = 1;
    assert_eq!(
        wif(&one, 0x80, true),
        "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn"
    );
    assert_eq!(
        wif(&one, 0x80, false),
        "5HpHagT65TZzG1PH3CSu63k8DbpvD8s5ip4nEB3kEsreAnchuDf"
    );
    assert_eq!(
        wif(&one, 0xef, true),
        "cMahea7zqjxrtgAbB7LSGbcQUr1uX1ojuat9jZodMN87JcbXMTcA"
    );
    assert_eq!(
        wif(&one, 0xef, false),
        "91avARGdfge8E4tZfYLoxeJ5sGBdNJQH4kvjJoQFacbgwmaKkrx"
    );
}

/// Every form of the key searched for.
struct KeyForms {
    secret: [u8; 32],
    /// Lower-case hex stretches, searched in lower-cased text.
    hex: Vec<(String, String)>,
    /// Case-sensitive forms (WIF).
    exact: Vec<(String, String)>,
}

impl KeyForms {
    fn of(key: &StacksPrivateKey) -> Self {
        let secret = key.as_slice();
        let hex = to_hex(&secret);
        let mut hex_forms = vec![
            ("hex (uncompressed form)".to_string(), hex.clone()),
            ("hex (compressed form)".to_string(), format!("{hex}01")),
        ];
        // Any 16-digit stretch: a key cut short, wrapped, or quoted in pieces.
        for start in 0..=hex.len() - 16 {
            hex_forms.push((
                format!("hex digits {start}..{}", start + 16),
                hex[start..start + 16].to_string(),
            ));
        }
        let mut exact = Vec::new();
        for (version, network) in [(0x80, "mainnet"), (0xef, "testnet")] {
            for compressed in [true, false] {
                exact.push((
                    format!(
                        "WIF ({network}, {})",
                        if compressed {
                            "compressed"
                        } else {
                            "uncompressed"
                        }
                    ),
                    wif(&secret, version, compressed),
                ));
            }
        }
        Self {
            secret,
            hex: hex_forms,
            exact,
        }
    }

    /// Every form of the key found in `bytes` (the output called `what`).
    fn find_in(&self, what: &str, bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let lower = text.to_ascii_lowercase();
        let mut found = Vec::new();
        let stretches: Vec<&str> = self
            .hex
            .iter()
            .filter(|(_, needle)| lower.contains(needle.as_str()))
            .map(|(form, _)| form.as_str())
            .collect();
        if let Some(first) = stretches.first() {
            found.push(format!(
                "{what}: the key's {first} (and {} more of its hex forms)",
                stretches.len() - 1
            ));
        }
        for (form, needle) in &self.exact {
            if text.contains(needle.as_str()) {
                found.push(format!("{what}: the key's {form}"));
            }
        }
        if bytes.windows(32).any(|w| w == self.secret) {
            found.push(format!("{what}: the key's raw bytes"));
        }
        found
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The body of `GET path` (status line and headers included), or the error.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    Ok(raw)
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The trace-level environment of a child, as text lines or JSON lines.
fn log_env(command: &mut Command, json: bool) -> &mut Command {
    command
        .env("STACKS_LOG_TRACE", "1")
        .env_remove("STACKS_LOG_DEBUG")
        .env_remove("STACKS_LOG_CRITONLY")
        .env("RUST_BACKTRACE", "1");
    if json {
        command.env("STACKS_LOG_JSON", "1")
    } else {
        command.env_remove("STACKS_LOG_JSON")
    }
}

/// Runs a `stacks-signer` command to completion (at most 60 s) with its outputs in `dir`;
/// returns what it wrote on stdout and stderr, named.
fn run_to_end(dir: &Path, name: &str, args: &[&str], json: bool) -> Vec<(String, Vec<u8>)> {
    let (out, err) = (
        dir.join(format!("{name}.stdout")),
        dir.join(format!("{name}.stderr")),
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_stacks-signer"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    let mut child = log_env(&mut command, json)
        .spawn()
        .expect("the signer binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("child status").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    vec![
        (
            format!("{name}: stdout"),
            std::fs::read(&out).unwrap_or_default(),
        ),
        (
            format!("{name}: stderr"),
            std::fs::read(&err).unwrap_or_default(),
        ),
    ]
}

/// A `stacks-signer run` child whose outputs go to files; killed on drop.
struct RunningSigner {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for RunningSigner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RunningSigner {
    fn start(dir: &Path, config: &Path, name: &str, json: bool) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_stacks-signer"));
        command
            .args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        let child = log_env(&mut command, json)
            .spawn()
            .expect("the signer binary starts");
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Stops the process and returns its outputs, named.
    fn finish(mut self, name: &str) -> Vec<(String, Vec<u8>)> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        vec![
            (
                format!("{name}: stdout"),
                std::fs::read(&self.stdout).unwrap_or_default(),
            ),
            (
                format!("{name}: stderr"),
                std::fs::read(&self.stderr).unwrap_or_default(),
            ),
        ]
    }
}

/// The monitoring pages of a running signer, named.
fn scrape(metrics: SocketAddr, name: &str) -> Vec<(String, Vec<u8>)> {
    ["/metrics", "/status.json", "/info", "/heartbeat"]
        .iter()
        .map(|path| {
            let body = get(metrics, path).unwrap_or_else(|e| format!("<{path} failed: {e}>"));
            (format!("{name}: GET {path}"), body.into_bytes())
        })
        .collect()
}

/// The files of the database at `db` (the database, its WAL and shared memory, the lock).
fn database_files(db: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(dir) = db.parent() else {
        return out;
    };
    let stem = db
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    for entry in std::fs::read_dir(dir)
        .expect("the database directory")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(&stem) {
            out.push((
                format!("database file {name}"),
                std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
    }
    out
}

fn config_text(key_value: &str, node_host: &str, port: u16, metrics: u16, db: &Path) -> String {
    format!(
        "stacks_private_key = {key_value}\nnode_host = \"{node_host}\"\n\
         endpoint = \"127.0.0.1:{port}\"\nnetwork = \"testnet\"\nauth_password = \"12345\"\n\
         db_path = \"{}\"\nmetrics_endpoint = \"127.0.0.1:{metrics}\"\nevent_timeout_ms = 200\n",
        db.display()
    )
}

#[test]
fn the_private_key_reaches_no_log_metric_page_error_or_database_at_trace_level() {
    let key = StacksPrivateKey::from_seed(b"never-leaks");
    let forms = KeyForms::of(&key);
    // Our signer is needed for the threshold (3 of 3 weight): it validates, pre-commits and
    // signs every block.
    let signers = vec![
        SignerSpec::external(StacksPublicKey::from_private(&key), 1),
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"leak-peer-1"), 1),
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"leak-peer-2"), 1),
    ];
    let (port, metrics_port) = (free_port(), free_port());
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let mut node_config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    node_config
        .observers
        .push(ObserverSpec::signer(format!("127.0.0.1:{port}")));
    let node: RunningMockNode = MockNode::start(node_config).expect("mock node starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("signer.sqlite");
    let config = dir.path().join("signer.toml");
    std::fs::write(
        &config,
        config_text(
            &format!("\"{}\"", key.to_hex()),
            &node.node_host(),
            port,
            metrics_port,
            &db,
        ),
    )
    .expect("config written");
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();

    // Trace level, the reference's line format, then JSON lines on the same database.
    for (run, json, tenures) in [("run (trace)", false, 2), ("run (trace, JSON)", true, 1)] {
        let signer = RunningSigner::start(dir.path(), &config, run, json);
        wait_until("the metrics server", Duration::from_secs(30), || {
            get(metrics, "/").is_ok_and(|a| a.contains("200 OK"))
        });
        let mined = node
            .mine_tenures(tenures, 3, Duration::from_secs(60))
            .expect("our signer signs every block");
        assert_eq!(mined.len(), tenures * 3);
        node.wait_events_delivered(Duration::from_secs(5));
        outputs.extend(scrape(metrics, run));
        let logs = signer.finish(run);
        // The signer has no trace records of its own: trace level shows as debug records.
        let stderr = String::from_utf8_lossy(&logs[1].1).to_string();
        let debug = if json { "\"level\":\"DEBG\"" } else { "DEBG [" };
        assert!(
            stderr.contains(debug),
            "{run} wrote no debug record:\n{stderr}"
        );
        outputs.extend(logs);
    }
    outputs.extend(database_files(&db));

    let config_arg = config.to_string_lossy().to_string();
    let checked = run_to_end(
        dir.path(),
        "check-config",
        &["check-config", "-c", &config_arg],
        false,
    );
    assert!(
        String::from_utf8_lossy(&checked[0].1).contains("Config:"),
        "check-config printed no config: {checked:?}"
    );
    outputs.extend(checked);

    // Configs wrong in ways that put the key, or text near it, before the parser.
    let hex = key.to_hex();
    let secret_hex = to_hex(&key.as_slice());
    let bad_configs: Vec<(&str, String)> = vec![
        ("an array", format!("[\"{hex}\"]")),
        ("an inline table", format!("{{ key = \"{hex}\" }}")),
        ("no closing quote", format!("\"{hex}")),
        (
            "a typo in the hex",
            format!("\"{}z\"", &hex[..hex.len() - 1]),
        ),
        ("one digit short", format!("\"{}\"", &hex[..hex.len() - 1])),
        ("a bad suffix", format!("\"{secret_hex}02\"")),
        ("a WIF", format!("\"{}\"", wif(&key.as_slice(), 0xef, true))),
        ("a bare word", hex.clone()),
        (
            "given twice",
            format!("\"{hex}\"\nstacks_private_key = \"{hex}\""),
        ),
    ];
    for (i, (what, value)) in bad_configs.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(
            &path,
            config_text(value, &node.node_host(), port, metrics_port, &db),
        )
        .expect("bad config written");
        let path = path.to_string_lossy().to_string();
        for json in [false, true] {
            outputs.extend(run_to_end(
                dir.path(),
                &format!("run with the key as {what} (json: {json})"),
                &["run", "--config", &path],
                json,
            ));
        }
        outputs.extend(run_to_end(
            dir.path(),
            &format!("check-config with the key as {what}"),
            &["check-config", "-c", &path],
            false,
        ));
    }
    // The key right, another key wrong; and the key under a misspelt name.
    let other_errors: Vec<(&str, String)> = vec![
        (
            "a bad node_host",
            config_text(
                &format!("\"{hex}\""),
                "not a host!",
                port,
                metrics_port,
                &db,
            ),
        ),
        (
            "the key as a key name",
            config_text(
                &format!("\"{hex}\""),
                &node.node_host(),
                port,
                metrics_port,
                &db,
            ) + &format!("\"{hex}\" = true\n"),
        ),
        (
            "a misspelt key name",
            config_text(
                &format!("\"{hex}\""),
                &node.node_host(),
                port,
                metrics_port,
                &db,
            )
            .replace("stacks_private_key", "stacks_privat_key"),
        ),
    ];
    for (i, (what, text)) in other_errors.iter().enumerate() {
        let path = dir.path().join(format!("other-{i}.toml"));
        std::fs::write(&path, text).expect("config written");
        let path = path.to_string_lossy().to_string();
        outputs.extend(run_to_end(
            dir.path(),
            &format!("run with {what}"),
            &["run", "--config", &path],
            false,
        ));
        outputs.extend(run_to_end(
            dir.path(),
            &format!("check-config with {what}"),
            &["check-config", "-c", &path],
            false,
        ));
    }

    let leaks: Vec<String> = outputs
        .iter()
        .flat_map(|(what, bytes)| forms.find_in(what, bytes))
        .collect();
    assert!(
        leaks.is_empty(),
        "the private key leaked:\n{}",
        leaks.join("\n")
    );
    let searched: usize = outputs.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{} outputs, {searched} bytes searched for {} forms of the key",
        outputs.len(),
        forms.hex.len() + forms.exact.len() + 1
    );
}
