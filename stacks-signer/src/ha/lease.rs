//! The lease: which instance of a key publishes. One row per key in `ha_lease` names the
//! holder and when its hold expires, by the database's clock; the holder renews it, and any
//! instance takes it once it has expired. Every change of holder increments the row's `term`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::Client;
use slog::{error, info, warn, Logger};

use super::store::{shared_error, SharedStore};

/// What an instance knows about its key's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// This instance holds it, in this term.
    Held {
        /// The lease's term (how many times it changed hands, plus one).
        term: i64,
    },
    /// Another instance holds it.
    HeldBy {
        /// The holder's instance name.
        holder: String,
        /// Milliseconds until its hold expires unless renewed.
        expires_in_ms: i64,
    },
    /// The shared database could not be asked (why): this instance does not publish.
    Unknown(String),
}

impl LeaseState {
    /// The holder's name, when known (`me` when this instance holds it).
    pub fn holder<'a>(&'a self, me: &'a str) -> Option<&'a str> {
        match self {
            LeaseState::Held { .. } => Some(me),
            LeaseState::HeldBy { holder, .. } => Some(holder),
            LeaseState::Unknown(_) => None,
        }
    }
}

/// Takes or renews the lease of `signer_key` for `instance`, for `lease`: held when nobody
/// else holds an unexpired one.
pub fn try_hold(
    client: &mut Client,
    signer_key: &[u8],
    instance: &str,
    lease: Duration,
) -> Result<LeaseState, postgres::Error> {
    let lease_ms = lease.as_millis() as f64;
    let held = client.query_opt(
        "INSERT INTO ha_lease AS l (signer_key, holder, expires_at, term, acquired_at) \
         VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond', 1, \
                 clock_timestamp()) \
         ON CONFLICT (signer_key) DO UPDATE SET \
           holder = excluded.holder, \
           expires_at = excluded.expires_at, \
           term = CASE WHEN l.holder = excluded.holder AND l.expires_at >= clock_timestamp() \
                  THEN l.term ELSE l.term + 1 END, \
           acquired_at = CASE WHEN l.holder = excluded.holder \
                  AND l.expires_at >= clock_timestamp() \
                  THEN l.acquired_at ELSE excluded.acquired_at END \
         WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp() \
         RETURNING term",
        &[&signer_key, &instance, &lease_ms],
    )?;
    if let Some(row) = held {
        return Ok(LeaseState::Held { term: row.get(0) });
    }
    current_holder(client, signer_key)
}

/// Who holds the lease of `signer_key` now.
pub fn current_holder(
    client: &mut Client,
    signer_key: &[u8],
) -> Result<LeaseState, postgres::Error> {
    let row = client.query_opt(
        "SELECT holder, GREATEST(0, (extract(epoch FROM expires_at - clock_timestamp()) \
         * 1000)::bigint) FROM ha_lease WHERE signer_key = $1",
        &[&signer_key],
    )?;
    Ok(match row {
        Some(row) => LeaseState::HeldBy {
            holder: row.get(0),
            expires_in_ms: row.get(1),
        },
        None => LeaseState::Unknown("no instance ever held the lease".into()),
    })
}

/// Gives up the lease of `signer_key` if `instance` holds it (a clean stop), so that a
/// standby takes over at its next attempt instead of after the lease runs out.
pub fn release(
    client: &mut Client,
    signer_key: &[u8],
    instance: &str,
) -> Result<bool, postgres::Error> {
    let n = client.execute(
        "UPDATE ha_lease SET expires_at = clock_timestamp() - interval '1 millisecond' \
         WHERE signer_key = $1 AND holder = $2",
        &[&signer_key, &instance],
    )?;
    Ok(n > 0)
}

/// The thread that keeps an instance's lease: it tries to take or renew it every
/// `ha_lease_renew_ms`, records the outcome in the [`SharedStore`] and logs each change of
/// holder. Dropping it stops the thread and gives the lease up if this instance holds it.
#[derive(Debug)]
pub struct LeaseKeeper {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl LeaseKeeper {
    /// Starts keeping `store`'s lease, on a connection of its own (so that a slow vote
    /// never delays a renewal).
    pub fn start(store: Arc<SharedStore>, logger: Logger) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ha_lease".into())
            .spawn(move || keep(&store, &logger, &flag))?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and releases the lease if held.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The keeper's loop.
fn keep(store: &SharedStore, logger: &Logger, stop: &AtomicBool) {
    let mut client: Option<Client> = None;
    let renew = store.config().renew;
    while !stop.load(Ordering::Acquire) {
        let sent_at = Instant::now();
        let state = attempt(store, &mut client);
        let previous = store.set_lease(state.clone(), sent_at);
        log_change(store, logger, &previous, &state);
        // Sleep in short steps so that a stop is prompt.
        let deadline = sent_at + renew;
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }
    if let Some(client) = client.as_mut() {
        if matches!(store.lease_state(), LeaseState::Held { .. }) {
            store.set_lease(LeaseState::Unknown("stopped".into()), Instant::now());
            match release(client, store.signer_key(), store.instance()) {
                Ok(true) => info!(logger, "HA: released the signing lease on stop";
                    "instance" => store.instance()),
                Ok(false) => {}
                Err(e) => warn!(logger, "HA: could not release the signing lease on stop: {}",
                    shared_error(e); "instance" => store.instance()),
            }
        }
    }
}

/// One attempt to take or renew the lease, reconnecting if needed.
fn attempt(store: &SharedStore, client: &mut Option<Client>) -> LeaseState {
    let connection = match client {
        Some(c) if !c.is_closed() => c,
        _ => match store.open_client() {
            Ok(c) => client.insert(c),
            Err(e) => return LeaseState::Unknown(e.to_string()),
        },
    };
    match try_hold(
        connection,
        store.signer_key(),
        store.instance(),
        store.config().lease,
    ) {
        Ok(state) => state,
        Err(e) => {
            if connection.is_closed() {
                *client = None;
            }
            LeaseState::Unknown(shared_error(e).to_string())
        }
    }
}

/// Logs a change of holder (or of reachability), not every renewal.
fn log_change(store: &SharedStore, logger: &Logger, previous: &LeaseState, now: &LeaseState) {
    let me = store.instance();
    match (previous, now) {
        (LeaseState::Held { term: a }, LeaseState::Held { term: b }) if a == b => {}
        (_, LeaseState::Held { term }) => {
            let from = match previous {
                LeaseState::HeldBy { holder, .. } => format!("after {holder}'s lease ran out"),
                LeaseState::Held { .. } => "again after its own lease ran out".into(),
                LeaseState::Unknown(_) => {
                    "at start or after the shared database answered again".into()
                }
            };
            info!(logger, "HA: this instance now holds the signing lease and publishes ({from})";
                "instance" => me, "term" => term);
        }
        (LeaseState::HeldBy { holder: a, .. }, LeaseState::HeldBy { holder: b, .. }) if a == b => {}
        (LeaseState::Held { .. }, LeaseState::HeldBy { holder, .. }) => {
            error!(logger, "HA: lost the signing lease to {holder} (it ran out before this instance renewed it); standing by, publishing nothing";
                "instance" => me);
        }
        (_, LeaseState::HeldBy { holder, .. }) => {
            info!(logger, "HA: standing by: {holder} holds the signing lease; this instance follows every event and publishes nothing";
                "instance" => me);
        }
        (LeaseState::Unknown(_), LeaseState::Unknown(_)) => {}
        (_, LeaseState::Unknown(why)) => {
            warn!(logger, "HA: cannot reach the shared database, so this instance publishes nothing until it answers: {why}";
                "instance" => me);
        }
    }
}
