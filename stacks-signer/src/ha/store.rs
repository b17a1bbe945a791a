//! The connection to the shared database and what every part of [`crate::ha`] needs from it.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libsigner::chain::StacksPublicKey;
use postgres::{Client, NoTls};

use super::lease::LeaseState;
use super::tls::{self, ConnectPlan};
use super::{redact_url, schema, HaConfig};
use crate::signerdb::SignerDbError;

/// How long connecting, and any one statement, may take before it fails: a shared database
/// that hangs must not hang the signer (a vote that cannot be recorded is not published).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// One signer key's view of the shared database: its connection, the key, this instance's
/// name, and whether this instance holds the lease (kept by a [`super::LeaseKeeper`]).
pub struct SharedStore {
    config: HaConfig,
    /// The client's URL and TLS, from `config.db_url`.
    plan: ConnectPlan,
    /// The key's compressed public key (33 bytes): the rows of this key.
    signer_key: Vec<u8>,
    /// The connection votes and slot versions use; reopened after it breaks.
    client: Mutex<Option<Client>>,
    /// Whether this instance holds the lease, and until when it may assume so.
    lease: Mutex<LocalLease>,
    /// Set once the first lease attempt finished (so callers can wait for it).
    lease_known: AtomicBool,
    /// The last failed attempt to connect, and why: calls within [`RECONNECT_PAUSE`] of it
    /// fail at once instead of each waiting for an unreachable server.
    connect_failure: Mutex<Option<(Instant, String)>>,
}

/// How long after a failed connection attempt the next one is made.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// What this instance last learnt about the lease.
#[derive(Debug, Clone)]
struct LocalLease {
    state: LeaseState,
    /// While held: the instant after which this instance stops assuming it still holds it
    /// (the lease's length after the renewal was sent, less a margin).
    valid_until: Option<Instant>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("config", &self.config)
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

/// A PostgreSQL error as a [`SignerDbError`].
pub(crate) fn shared_error(e: postgres::Error) -> SignerDbError {
    SignerDbError::Shared(pg_detail(&e))
}

/// What a PostgreSQL error says: the server's code and message, or the client's error with
/// its causes (a failed TLS handshake says which check failed).
pub(crate) fn pg_detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// A new connection to `plan`'s server (`url` as configured, for errors with its password
/// hidden), with keep-alives and the statement and lock timeouts set; the error on one line.
pub(crate) fn connect(plan: &ConnectPlan, url: &str, application: &str) -> Result<Client, String> {
    let mut pg = postgres::Config::from_str(&plan.url)
        .map_err(|e| format!("bad URL {}: {e}", redact_url(url)))?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(STATEMENT_TIMEOUT);
    }
    pg.keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .tcp_user_timeout(STATEMENT_TIMEOUT)
        .application_name(application);
    let connected = match &plan.tls {
        Some(tls) => pg.connect(tls.clone()),
        None => pg.connect(NoTls),
    };
    let mut client = connected
        .map_err(|e| format!("cannot connect to {}: {}", redact_url(url), pg_detail(&e)))?;
    let ms = STATEMENT_TIMEOUT.as_millis();
    client
        .batch_execute(&format!(
            "SET statement_timeout = {ms}; SET lock_timeout = {ms}; \
             SET idle_in_transaction_session_timeout = {}; SET synchronous_commit = on",
            ms * 2
        ))
        .map_err(|e| pg_detail(&e))?;
    Ok(client)
}

impl SharedStore {
    /// Connects to `config.db_url`, migrates the shared schema, and returns the store of
    /// `public_key`'s rows. Holds no lease yet: start a [`super::LeaseKeeper`].
    pub fn connect(
        config: &HaConfig,
        public_key: &StacksPublicKey,
    ) -> Result<Arc<Self>, SignerDbError> {
        let plan = tls::plan(&config.db_url).map_err(|e| {
            SignerDbError::Shared(format!("db_url {}: {e}", redact_url(&config.db_url)))
        })?;
        let store = Self {
            config: config.clone(),
            plan,
            signer_key: public_key.to_bytes_compressed(),
            client: Mutex::new(None),
            lease: Mutex::new(LocalLease {
                state: LeaseState::Unknown("not tried yet".into()),
                valid_until: None,
            }),
            lease_known: AtomicBool::new(false),
            connect_failure: Mutex::new(None),
        };
        let mut client = store.open_client()?;
        schema::migrate(&mut client)?;
        *store.client_slot() = Some(client);
        Ok(Arc::new(store))
    }

    /// A new connection, with the statement and lock timeouts set.
    pub(crate) fn open_client(&self) -> Result<Client, SignerDbError> {
        connect(
            &self.plan,
            &self.config.db_url,
            &format!("stacks-signer {}", self.config.instance),
        )
        .map_err(SignerDbError::Shared)
    }

    fn client_slot(&self) -> MutexGuard<'_, Option<Client>> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the store's connection (reconnecting first if it broke); a connection
    /// that breaks during `f` is dropped, to be reopened by the next call.
    pub(crate) fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, SignerDbError>,
    ) -> Result<T, SignerDbError> {
        let mut slot = self.client_slot();
        let client = match slot.as_mut() {
            Some(client) if !client.is_closed() => client,
            _ => slot.insert(self.reconnect()?),
        };
        let out = f(client);
        if out.is_err() && client.is_closed() {
            *slot = None;
        }
        out
    }

    /// A new connection, unless the last attempt failed less than [`RECONNECT_PAUSE`] ago.
    fn reconnect(&self) -> Result<Client, SignerDbError> {
        let mut failure = self
            .connect_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((at, why)) = failure.as_ref() {
            if at.elapsed() < RECONNECT_PAUSE {
                return Err(SignerDbError::Shared(why.clone()));
            }
        }
        match self.open_client() {
            Ok(client) => {
                *failure = None;
                Ok(client)
            }
            Err(e) => {
                *failure = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &HaConfig {
        &self.config
    }

    /// Where the roots trusted for the shared database's certificate come from, when the
    /// connection uses TLS (`sslmode=require`, `verify-ca` or `verify-full` in `db_url`).
    pub fn tls_roots(&self) -> Option<&str> {
        self.plan.roots.as_deref()
    }

    /// Whether the server reports this store's connection as encrypted (`pg_stat_ssl`).
    pub fn connection_is_encrypted(&self) -> Result<bool, SignerDbError> {
        self.with_client(|client| {
            let row = client
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .map_err(shared_error)?;
            Ok(row.get::<_, bool>(0))
        })
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.config.instance
    }

    /// The key's compressed public key bytes, as the shared tables store it.
    pub fn signer_key(&self) -> &[u8] {
        &self.signer_key
    }

    /// Whether `public_key` is this store's key.
    pub fn is_key(&self, public_key: &StacksPublicKey) -> bool {
        public_key.to_bytes_compressed() == self.signer_key
    }

    /// Whether this instance holds the lease now, as far as it knows: its last renewal
    /// succeeded and the lease it got has not run out. (The shared record checks the lease
    /// again in every vote's transaction.)
    pub fn is_active(&self) -> bool {
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner());
        matches!(lease.state, LeaseState::Held { .. })
            && lease.valid_until.is_some_and(|t| Instant::now() < t)
    }

    /// What this instance last learnt about the lease.
    pub fn lease_state(&self) -> LeaseState {
        self.lease
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state
            .clone()
    }

    /// Whether the first lease attempt has finished.
    pub fn lease_known(&self) -> bool {
        self.lease_known.load(Ordering::Acquire)
    }

    /// Records the outcome of a lease attempt sent at `sent_at`; returns the previous state.
    pub(crate) fn set_lease(&self, state: LeaseState, sent_at: Instant) -> LeaseState {
        let mut lease = self.lease.lock().unwrap_or_else(|e| e.into_inner());
        lease.valid_until = match state {
            // A fifth of the lease as margin: the holder stops before anyone may take over.
            LeaseState::Held { .. } => Some(sent_at + self.config.lease * 4 / 5),
            _ => None,
        };
        let previous = std::mem::replace(&mut lease.state, state);
        self.lease_known.store(true, Ordering::Release);
        previous
    }
}
