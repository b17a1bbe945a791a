//! The monitoring HTTP server on `metrics_endpoint`: the reference's routes (`/metrics`,
//! `/info`, `/heartbeat`, `/`, 404 otherwise) and `/status.json`.
//!
//! It runs on its own threads (`signer_metrics` accepts, one short-lived thread per request,
//! at most [`MAX_CONNECTIONS`] at once), so a slow scrape or a `/heartbeat` waiting on a dead
//! node never holds up another request, and never the signer. Requests are bounded: a head of
//! at most [`MAX_HEAD_LEN`] bytes within [`REQUEST_DEADLINE`]; bodies are never read. Routing
//! is on the exact request target (a query string makes it another target), any method, as
//! the reference.
//!
//! The node-derived gauges (`stacks_signer_stacks_node_height`, `..._current_reward_cycle`,
//! `..._stx_balance`, `..._nonce`) are refreshed from the node when the server starts and
//! every [`REFRESH_INTERVAL`] by a background thread (`signer_metrics_refresh`); the
//! reference refreshes them at most once a minute, and only while answering a request. The
//! node height and reward cycle also follow the signer's own node calls and events between
//! refreshes. The process and database gauges are read at each `/metrics` request.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use libsigner::chain::hex::to_hex;
use libsigner::chain::StacksPublicKey;
use libsigner::VERSION_STRING;
use serde_json::json;
use slog::{debug, error, info, warn, Logger};

use super::actions;
use super::metrics::metrics;
use super::process;
use super::status::StatusBoard;
use crate::client::{ClientError, StacksClient};
use crate::config::GlobalConfig;
use crate::signerdb::{OwnVoteRecord, SharedSignerDb, SignerDb};

/// How many requests are served at once; more connections are closed.
pub const MAX_CONNECTIONS: usize = 16;

/// The largest request head read.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// How long a client has to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// How often the node-derived gauges are refreshed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// How long `/heartbeat` waits for the node's `/v2/info`.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request waits for the database before answering without its figures.
const DB_WAIT: Duration = Duration::from_millis(500);

/// The content type of the Prometheus text exposition.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type of the plain answers (`OK`, `Not Found`, `/info`), as the reference's.
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";

/// Why the monitoring server did not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// `metrics_endpoint` is not set.
    #[error("Prometheus endpoint not configured.")]
    EndpointNotConfigured,
    /// The endpoint could not be bound (in use, or not an address of this host).
    #[error("Already bound to an address: cannot listen on {endpoint}: {source}")]
    AlreadyBound {
        /// The configured `metrics_endpoint`.
        endpoint: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start the monitoring server's thread: {0}")]
    Thread(io::Error),
    /// The node could not be asked for the node-derived gauges.
    #[error("Error fetching data from stacks node: {0}")]
    FetchError(#[from] ClientError),
}

/// What the request handlers need.
struct Context {
    local_addr: SocketAddr,
    stacks_client: StacksClient,
    heartbeat_agent: ureq::Agent,
    node_origin: String,
    network: String,
    public_key_hex: String,
    stx_address: String,
    db: SharedSignerDb,
    board: StatusBoard,
    started_ms: u64,
    logger: Logger,
}

/// A running monitoring server. Dropping it stops its threads (the port is released once
/// the accept thread has seen the stop).
#[derive(Debug)]
pub struct MonitoringServer {
    local_addr: SocketAddr,
    closed: Arc<AtomicBool>,
    stop_refresh: Option<Sender<()>>,
}

/// Starts the monitoring server when `config.metrics_endpoint` is set. A server that cannot
/// start logs one error (`Monitoring: Error in metrics server: ...`) and the signer goes on
/// without it (`None`).
pub fn start_serving_monitoring_metrics(
    config: &GlobalConfig,
    stacks_client: StacksClient,
    db: SharedSignerDb,
    board: StatusBoard,
    logger: &Logger,
) -> Option<MonitoringServer> {
    config.metrics_endpoint?;
    match MonitoringServer::start(config, stacks_client, db, board, logger.clone()) {
        Ok(server) => Some(server),
        Err(e) => {
            error!(logger, "Monitoring: Error in metrics server: {e}";
                "metrics_endpoint" => ?config.metrics_endpoint);
            None
        }
    }
}

impl MonitoringServer {
    /// Binds `config.metrics_endpoint` and starts serving. `stacks_client` (the signer's own,
    /// sharing its pooled connections) refreshes the node-derived gauges.
    pub fn start(
        config: &GlobalConfig,
        stacks_client: StacksClient,
        db: SharedSignerDb,
        board: StatusBoard,
        logger: Logger,
    ) -> Result<Self, MonitoringError> {
        let endpoint = config
            .metrics_endpoint
            .ok_or(MonitoringError::EndpointNotConfigured)?;
        let listener = TcpListener::bind(endpoint)
            .map_err(|source| MonitoringError::AlreadyBound { endpoint, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| MonitoringError::AlreadyBound { endpoint, source })?;
        let mut public_key = StacksPublicKey::from_private(&config.stacks_private_key);
        public_key.set_compressed(true);
        let heartbeat_agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(HEARTBEAT_TIMEOUT))
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(None)
                // One fresh connection per heartbeat, closed after it: nothing idles on the
                // node between heartbeats.
                .max_idle_connections(0)
                .max_idle_connections_per_host(0)
                .build(),
        );
        let metrics = metrics();
        let context = Arc::new(Context {
            local_addr,
            stacks_client,
            heartbeat_agent,
            node_origin: config.http_origin(),
            network: config.network.to_string(),
            public_key_hex: to_hex(&public_key.to_bytes_compressed()),
            stx_address: config.stacks_address.to_string(),
            db,
            board,
            started_ms: (metrics.process_start_time_seconds.get() * 1000.0) as u64,
            logger,
        });

        let closed = Arc::new(AtomicBool::new(false));
        let accept_context = context.clone();
        let accept_closed = closed.clone();
        thread::Builder::new()
            .name("signer_metrics".into())
            .spawn(move || accept_loop(listener, accept_context, accept_closed))
            .map_err(MonitoringError::Thread)?;

        let (stop_refresh, stopped) = channel::<()>();
        let refresh_context = context.clone();
        let refresh = thread::Builder::new()
            .name("signer_metrics_refresh".into())
            .spawn(move || loop {
                if let Err(e) = update_metrics(&refresh_context.stacks_client) {
                    crate::warn_unless_node_failing!(
                        refresh_context.stacks_client.node_is_failing(),
                        refresh_context.logger,
                        "Monitoring: Error updating metrics: {e}"
                    );
                }
                match stopped.recv_timeout(REFRESH_INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    _ => return,
                }
            });
        let server = Self {
            local_addr,
            closed,
            stop_refresh: Some(stop_refresh),
        };
        if let Err(e) = refresh {
            warn!(context.logger, "Monitoring: cannot start the metrics refresh thread; node-derived gauges follow the signer's own node calls only: {e}");
        }
        info!(
            context.logger,
            "Signer monitoring server ({local_addr}): Starting Prometheus metrics server"
        );
        Ok(server)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for MonitoringServer {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stop_refresh.take();
        // Wake the accept loop so it sees the flag and releases the port.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

impl std::fmt::Display for MonitoringServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer monitoring server ({})", self.local_addr)
    }
}

/// Refreshes the node-derived gauges (the reference's `update_metrics`): tip height, reward
/// cycle, and this signer's nonce and balance. The first failure stops the refresh.
pub fn update_metrics(client: &StacksClient) -> Result<(), MonitoringError> {
    let peer_info = client.get_peer_info()?;
    if let Ok(height) = i64::try_from(peer_info.stacks_tip_height) {
        actions::update_stacks_tip_height(height);
    }
    let pox = client.get_pox_data()?;
    if let Ok(reward_cycle) = i64::try_from(pox.reward_cycle_id) {
        actions::update_reward_cycle(reward_cycle);
    }
    let account = client.get_account_entry(client.get_signer_address())?;
    let digits = account
        .balance
        .strip_prefix("0x")
        .unwrap_or(&account.balance);
    let balance = i64::from_str_radix(digits, 16).map_err(|e| {
        ClientError::MalformedClarityValue(format!(
            "Failed to parse balance: {} with err: {e}",
            account.balance
        ))
    })?;
    actions::update_signer_nonce(account.nonce);
    actions::update_signer_stx_balance(balance);
    Ok(())
}

/// Counts a request in flight until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, context: Arc<Context>, closed: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept failures (out of descriptors): back off briefly.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let admitted = active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_CONNECTIONS).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            continue; // too many in flight: the stream is closed on drop
        }
        let slot = Slot(active.clone());
        let context = context.clone();
        let _ = thread::Builder::new()
            .name("signer_metrics_conn".into())
            .spawn(move || {
                let _slot = slot;
                serve(stream, &context);
            });
    }
}

/// A socket reader that fails once the request deadline has passed.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request deadline"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// The request target of a request head, once the whole head has been read.
fn read_target<R: BufRead>(reader: &mut R) -> Option<String> {
    let mut budget = MAX_HEAD_LEN as u64;
    let mut target = None;
    loop {
        let mut line = Vec::new();
        let read = reader
            .by_ref()
            .take(budget)
            .read_until(b'\n', &mut line)
            .ok()?;
        budget = budget.saturating_sub(read as u64);
        if line.last() != Some(&b'\n') {
            return None; // truncated, or over the budget
        }
        let line = String::from_utf8(line).ok()?;
        let line = line.trim_end_matches(['\r', '\n']);
        match target {
            None => {
                let mut parts = line.split(' ');
                let (Some(method), Some(url), Some(version), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return None;
                };
                if method.is_empty() || !version.starts_with("HTTP/1.") {
                    return None;
                }
                target = Some(url.to_string());
            }
            Some(_) if line.is_empty() => return target,
            Some(_) => {}
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    }
}

fn respond(mut stream: TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    );
    let _ = stream.set_write_timeout(Some(REQUEST_DEADLINE));
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body))
        .and_then(|_| stream.flush());
    let _ = stream.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket goes away.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = io::copy(&mut stream.take(64 * 1024), &mut io::sink());
}

fn serve(stream: TcpStream, context: &Context) {
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(DeadlineReader {
        stream: reader_stream,
        deadline: Instant::now() + REQUEST_DEADLINE,
    });
    let Some(target) = read_target(&mut reader) else {
        respond(stream, 400, TEXT_CONTENT_TYPE, b"Bad Request");
        return;
    };
    debug!(
        context.logger,
        "Signer monitoring server ({}): received request {target}", context.local_addr
    );
    match target.as_str() {
        "/metrics" => {
            refresh_local_gauges(context);
            let body = metrics().gather_text();
            respond(stream, 200, METRICS_CONTENT_TYPE, body.as_bytes());
        }
        "/info" => {
            let body = json!({
                "signerPublicKey": context.public_key_hex,
                "network": context.network,
                "stxAddress": context.stx_address,
                "version": VERSION_STRING.as_str(),
            })
            .to_string();
            respond(stream, 200, TEXT_CONTENT_TYPE, body.as_bytes());
        }
        "/" => respond(stream, 200, TEXT_CONTENT_TYPE, b"OK"),
        "/heartbeat" => {
            if heartbeat(context) {
                respond(stream, 200, TEXT_CONTENT_TYPE, b"OK");
            } else {
                respond(stream, 500, TEXT_CONTENT_TYPE, b"Failed");
            }
        }
        "/status.json" => {
            let body = status_json(context).to_string();
            respond(stream, 200, "application/json", body.as_bytes());
        }
        _ => respond(stream, 404, TEXT_CONTENT_TYPE, b"Not Found"),
    }
}

/// Whether the node answers `/v2/info` with a success status (one try, no retry).
fn heartbeat(context: &Context) -> bool {
    let url = format!("{}/v2/info", context.node_origin);
    match context.heartbeat_agent.get(&url).call() {
        Ok(mut response) if response.status().is_success() => {
            let _ = response.body_mut().read_to_vec();
            true
        }
        Ok(response) => {
            warn!(
                context.logger,
                "Monitoring: Heartbeat failed with status: {}",
                response.status()
            );
            false
        }
        Err(e) => {
            warn!(
                context.logger,
                "Monitoring: Heartbeat failed with error: {e}"
            );
            false
        }
    }
}

/// Locks the database for a moment, giving up (`None`) after [`DB_WAIT`]: a signer busy with
/// its database (or stuck) must not stop the metrics from being answered.
fn with_db<R>(db: &SharedSignerDb, f: impl FnOnce(&SignerDb) -> R) -> Option<R> {
    let deadline = Instant::now() + DB_WAIT;
    loop {
        match db.try_lock() {
            Ok(guard) => return Some(f(&guard)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                return Some(f(&poisoned.into_inner()))
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Updates the gauges read at scrape time: ages, process, database.
fn refresh_local_gauges(context: &Context) {
    let m = metrics();
    let (event, proposal, vote) = actions::liveness_ages(context.started_ms);
    m.seconds_since_last_node_event.set(event);
    m.seconds_since_last_block_proposal.set(proposal);
    m.seconds_since_last_vote_sent.set(vote);
    if let Some(rss) = process::resident_memory_bytes() {
        m.process_resident_memory_bytes
            .set(i64::try_from(rss).unwrap_or(i64::MAX));
    }
    if let Some(fds) = process::open_fds() {
        m.process_open_fds
            .set(i64::try_from(fds).unwrap_or(i64::MAX));
    }
    if let Some(max) = process::max_fds() {
        m.process_max_fds
            .set(i64::try_from(max).unwrap_or(i64::MAX));
    }
    let figures = with_db(&context.db, |db| {
        (
            db.database_size_bytes().ok(),
            db.count_pending_block_validations().ok(),
            db.standby().is_none(),
        )
    });
    if let Some((size, pending, publishing)) = figures {
        m.publishing.set(i64::from(publishing));
        if let Some(size) = size {
            m.database_size_bytes
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
        if let Some(pending) = pending {
            m.pending_block_validations
                .set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }
}

fn vote_json(record: &OwnVoteRecord) -> serde_json::Value {
    let candidates = [
        ("rejected", record.rejected_at),
        ("pre_commit", record.pre_committed_at),
        ("accepted", record.signed_at),
    ];
    // The latest of the three; on a tie the later stage of the protocol wins.
    let (vote, at) = candidates
        .iter()
        .filter_map(|(name, at)| at.map(|at| (*name, at)))
        .fold(None, |best: Option<(&str, u64)>, (name, at)| match best {
            Some((_, best_at)) if best_at > at => best,
            _ => Some((name, at)),
        })
        .unwrap_or(("none", 0));
    json!({
        "signer_signature_hash": record.signer_signature_hash.to_hex(),
        "reward_cycle": record.reward_cycle,
        "consensus_hash": record.consensus_hash.to_hex(),
        "stacks_height": record.stacks_height,
        "vote": vote,
        "at": at,
        "pre_committed_at": record.pre_committed_at,
        "signed_at": record.signed_at,
        "rejected_at": record.rejected_at,
        "reject_reason": record.reject_reason.as_ref().map(|r| r.to_string()),
    })
}

/// The `/status.json` document.
fn status_json(context: &Context) -> serde_json::Value {
    let status = context.board.snapshot();
    let db = with_db(&context.db, |db| {
        let blocks: serde_json::Map<String, serde_json::Value> = db
            .count_blocks_by_state()
            .unwrap_or_default()
            .into_iter()
            .map(|(state, count)| (state.name().to_string(), json!(count)))
            .collect();
        (
            blocks,
            db.get_last_own_vote().ok().flatten(),
            db.count_pending_block_validations().ok(),
            db.database_size_bytes().ok(),
            db.shared().map(|store| ha_json(store)),
            db.engine().name(),
        )
    });
    let (blocks_by_state, last_vote, pending, db_size, ha, engine) = match db {
        Some((blocks, vote, pending, size, ha, engine)) => (
            Some(blocks),
            vote.as_ref().map(vote_json),
            pending,
            size,
            ha,
            Some(engine),
        ),
        None => (None, None, None, None, None, None),
    };
    let current_miner = status
        .reward_cycles
        .iter()
        .find(|c| Some(c.reward_cycle) == status.current_reward_cycle)
        .and_then(|c| c.state_machine.as_ref())
        .map(|s| json!(s.current_miner));
    let (last_event, last_proposal, last_vote_sent) = actions::liveness_stamps();
    let now_ms = actions::unix_now_ms();
    let age = |stamp: Option<u64>| stamp.map(|at| now_ms.saturating_sub(at) as f64 / 1000.0);
    json!({
        "version": VERSION_STRING.as_str(),
        "network": context.network,
        "signer_public_key": context.public_key_hex,
        "stx_address": context.stx_address,
        "runloop_state": status.runloop_state,
        "current_reward_cycle": status.current_reward_cycle,
        "configured_reward_cycles": status.reward_cycles.iter().map(|c| c.reward_cycle).collect::<Vec<_>>(),
        "registered_reward_cycles": status.reward_cycles.iter().filter(|c| c.registered).map(|c| c.reward_cycle).collect::<Vec<_>>(),
        "reward_cycles": status.reward_cycles,
        "last_burn_block": status.last_burn_block,
        "current_miner": current_miner,
        "blocks_by_state": blocks_by_state,
        "pending_block_validations": pending,
        "database_engine": engine,
        "database_size_bytes": db_size,
        "last_vote": last_vote,
        "seconds_since_last_node_event": age(last_event),
        "seconds_since_last_block_proposal": age(last_proposal),
        "seconds_since_last_vote_sent": age(last_vote_sent),
        "high_availability": ha,
    })
}

/// The `high_availability` object of `/status.json` (null for a single instance).
fn ha_json(store: &crate::ha::SharedStore) -> serde_json::Value {
    let state = store.lease_state();
    let (holder, term, problem) = match &state {
        crate::ha::LeaseState::Held { term } => (Some(store.instance()), Some(*term), None),
        crate::ha::LeaseState::HeldBy { holder, .. } => (Some(holder.as_str()), None, None),
        crate::ha::LeaseState::Unknown(why) => (None, None, Some(why.as_str())),
    };
    json!({
        "instance": store.instance(),
        "active": store.is_active(),
        "lease_holder": holder,
        "lease_term": term,
        "shared_database_problem": problem,
        "shared_database": crate::ha::redact_url(&store.config().db_url),
    })
}

#[cfg(test)]
mod tests {
    use super::read_target;

    #[test]
    fn the_target_is_read_once_the_whole_head_arrived() {
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
        assert_eq!(read_target(&mut &head[..]).as_deref(), Some("/metrics"));
        let lf_only = b"GET /info HTTP/1.0\nHost: x\n\n";
        assert_eq!(read_target(&mut &lf_only[..]).as_deref(), Some("/info"));
    }

    #[test]
    fn malformed_or_unfinished_heads_are_refused() {
        assert_eq!(
            read_target(&mut &b"GET /metrics HTTP/1.1\r\nHost: x\r\n"[..]),
            None
        );
        assert_eq!(read_target(&mut &b"GET /metrics\r\n\r\n"[..]), None);
        assert_eq!(read_target(&mut &b"GET /metrics SPDY/3\r\n\r\n"[..]), None);
        let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(super::MAX_HEAD_LEN));
        assert_eq!(read_target(&mut huge.as_bytes()), None);
    }
}
