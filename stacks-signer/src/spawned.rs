//! A running signer process: its database, event receiver and run loop wired together, each
//! on its own thread (what `stacks-signer run` starts).

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use libsigner::chain::StacksPublicKey;
use libsigner::{
    EventError, RunningSigner, Signer, SignerEventReceiver, SignerEventTrait, SignerStopSignaler,
    SourceFilter, VERSION_STRING,
};
use slog::{info, warn, Logger};

use crate::client::StacksClient;
use crate::config::GlobalConfig;
use crate::ha::{redact_url, LeaseKeeper, SharedStore};
use crate::monitoring::{start_serving_monitoring_metrics, MonitoringServer};
use crate::runloop::RunLoop;
use crate::signer::{SignerContext, SignerResult, SignerTrait};
use crate::signerdb::{SignerDb, SignerDbError, REFERENCE_SCHEMA_VERSION, SCHEMA_VERSION};

/// Why a signer could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The database could not be opened (or is held by another signer).
    #[error("{0}")]
    Db(#[from] SignerDbError),
    /// The event receiver could not be bound or its threads started.
    #[error("cannot start the event receiver on {endpoint}: {source}")]
    Event {
        /// The configured `endpoint`.
        endpoint: SocketAddr,
        /// What failed.
        source: EventError,
    },
}

/// A started signer. Stop it with [`SpawnedSigner::stop`] (or a POST to `/shutdown`, or a
/// signal through [`SpawnedSigner::stop_signaler`]); status checks answered on `/status`
/// arrive on [`SpawnedSigner::results`].
pub struct SpawnedSigner<S, T>
where
    S: SignerTrait<T> + Send + 'static,
    T: SignerEventTrait + 'static,
{
    running: RunningSigner<SignerEventReceiver<T>, SignerResult, T>,
    results: Receiver<SignerResult>,
    monitoring: Option<MonitoringServer>,
    source_filter: SourceFilter,
    /// Keeps the signing lease of an active/standby pair (`db_url` set); dropped last, which
    /// gives the lease up so that a standby takes over at once.
    lease: Option<LeaseKeeper>,
    _signer: PhantomData<fn() -> S>,
}

impl<S, T> fmt::Debug for SpawnedSigner<S, T>
where
    S: SignerTrait<T> + Send + 'static,
    T: SignerEventTrait + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnedSigner")
            .field("endpoint", &self.running.local_addr())
            .finish_non_exhaustive()
    }
}

impl<S, T> SpawnedSigner<S, T>
where
    S: SignerTrait<T> + Send + 'static,
    S::Shared: Send,
    T: SignerEventTrait + 'static,
{
    /// Opens (and locks) the database at `config.db_path`, binds the event receiver to
    /// `config.endpoint` and starts the threads.
    pub fn new(config: GlobalConfig, logger: Logger) -> Result<Self, SpawnError> {
        info!(
            logger,
            "Stacks signer version {:?}",
            VERSION_STRING.as_str()
        );
        info!(logger, "Starting signer with config: {config}");
        warn!(logger, "Reminder: the signer is primarily designed for use with a local or dedicated Stacks node. Please see https://docs.stacks.co/guides-and-tutorials/running-a-signer#preflight-setup for more information.");
        let mut db = SignerDb::open(&config.db_path)?;
        log_database_opened(&db, &logger);
        let lease = match &config.ha {
            Some(ha) => {
                let public_key = StacksPublicKey::from_private(&config.stacks_private_key);
                let store = SharedStore::connect(ha, &public_key)?;
                info!(logger, "HA: connected to the shared database {} as instance {:?}; publishing only while holding the signing lease", redact_url(&ha.db_url), ha.instance;
                    "ha_lease_ms" => ha.lease.as_millis() as u64,
                    "ha_lease_renew_ms" => ha.renew.as_millis() as u64,
                    "tls" => store.tls_roots().map_or_else(|| "off".to_string(), |roots| format!("verified against {roots}")));
                db.attach_shared(store.clone());
                Some(LeaseKeeper::start(store, logger.clone()).map_err(|e| {
                    SignerDbError::Shared(format!("cannot start the lease thread: {e}"))
                })?)
            }
            None => None,
        };
        let context = SignerContext {
            stacks_client: StacksClient::from(&config).with_logger(logger.clone()),
            db: Arc::new(Mutex::new(db)),
            logger,
        };
        let mut spawned = Self::with_context(config, context)?;
        spawned.lease = lease;
        Ok(spawned)
    }

    /// Starts a signer with an already built context (a database handle the caller opened).
    pub fn with_context(config: GlobalConfig, context: SignerContext) -> Result<Self, SpawnError> {
        let endpoint = config.endpoint;
        let mut receiver = SignerEventReceiver::new(config.network.is_mainnet());
        receiver.set_logger(context.logger.clone());
        let source_filter = config.event_source_filter();
        info!(context.logger, "Accepting node events from: {source_filter}";
            "event_allowed_sources" => %config.event_allowed_sources);
        receiver.set_source_filter(source_filter.clone());
        crate::monitoring::actions::watch_event_source_filter(source_filter.clone());
        let runloop: RunLoop<S, T> = RunLoop::new(config.clone(), context.clone());
        // Metrics are registered before the first event so every series starts at 0.
        let _ = crate::monitoring::metrics::metrics();
        let monitoring = start_serving_monitoring_metrics(
            &config,
            context.stacks_client.clone(),
            context.db.clone(),
            runloop.status_board(),
            &context.logger,
        );
        let (results_send, results) = channel();
        let running = Signer::new(runloop, receiver, results_send)
            .spawn(endpoint)
            .map_err(|source| SpawnError::Event { endpoint, source })?;
        Ok(Self {
            running,
            results,
            monitoring,
            source_filter,
            lease: None,
            _signer: PhantomData,
        })
    }

    /// Where the monitoring server listens, when `metrics_endpoint` is set and it started.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.monitoring.as_ref().map(MonitoringServer::local_addr)
    }

    /// Where the event receiver listens (the bound port when `endpoint` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// How many event requests the endpoint refused (`403`) because their source is not in
    /// `event_allowed_sources`.
    pub fn refused_event_requests(&self) -> u64 {
        self.source_filter.refused_requests()
    }

    /// The run loop's results: one [`SignerResult::StatusCheck`] per `/status` request.
    pub fn results(&self) -> &Receiver<SignerResult> {
        &self.results
    }

    /// A handle that stops the signer from elsewhere (a signal handler).
    pub fn stop_signaler(&self) -> SignerStopSignaler {
        self.running.stop_signaler()
    }

    /// Stops the event receiver and waits for both threads (the monitoring server stops
    /// with them).
    pub fn stop(self) {
        self.running.stop();
    }

    /// Waits until the signer stops (a `/shutdown` request or a stop signal).
    ///
    /// Nobody reads [`SpawnedSigner::results`] meanwhile, so they are drained and dropped on
    /// a thread of their own: every `/status` request (open to every client) yields one, and
    /// kept they would grow the process's memory without bound.
    pub fn join(self) {
        let Self {
            running,
            results,
            monitoring,
            ..
        } = self;
        // Ends when the run loop drops its sender (or with the process).
        let _ = std::thread::Builder::new()
            .name("signer_results".into())
            .spawn(move || while results.recv().is_ok() {});
        running.join();
        drop(monitoring);
    }
}

/// Says in one line what opening the database did: created it, took over a reference
/// signer's database (converting its schema), upgraded it, or opened it as it was.
fn log_database_opened(db: &SignerDb, logger: &Logger) {
    let path = db.path().display();
    match db.schema_version_at_open() {
        0 => info!(
            logger,
            "Created a new signer database at {path} (schema version {SCHEMA_VERSION})"
        ),
        REFERENCE_SCHEMA_VERSION => info!(
            logger,
            "Took over the reference signer's database at {path}: converted it from schema version {REFERENCE_SCHEMA_VERSION} (reference stacks-signer) to schema version {SCHEMA_VERSION}, keeping its blocks, votes, burn blocks and StackerDB slot versions; the reference signer cannot open it any more (keep a copy of the original to switch back)"
        ),
        SCHEMA_VERSION => info!(
            logger,
            "Opened the signer database at {path} (schema version {SCHEMA_VERSION})"
        ),
        found => info!(
            logger,
            "Upgraded the signer database at {path} from schema version {found} to schema version {SCHEMA_VERSION}"
        ),
    }
}
