//! Chaos: at random moments (a Poisson process of `--chaos-rate` kills per second) SIGKILL
//! a random running signer, wait a moment, and start it again on its database. One signer
//! is down at a time, so a network that can lose one signer's weight stays live; what the
//! kills may not break is safety, which the equivocation check verifies afterwards.
//!
//! With `--standby` the victim is the active instance (the lease holder, asked of the
//! shared database) of a random pair whose standby has been up for [`WARM_UP`] (a standby
//! that has just started has not caught up with the chain yet: it is not the warm standby a
//! failover relies on), and it stays down for twice the lease, so that its standby takes
//! over; it then comes back as the standby.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::rng::DevnetRng;

/// Sleeps for `duration` unless `stop` is set first; returns whether it slept it all.
pub fn sleep_unless(stop: &AtomicBool, duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    !stop.load(Ordering::SeqCst)
}

/// How long a standby must have been running before chaos kills its active.
pub const WARM_UP: Duration = Duration::from_secs(3);

/// The active/standby pairs chaos kills the actives of (`--standby`).
#[derive(Debug, Clone)]
pub struct StandbyPairs {
    /// The shared database.
    pub db_url: String,
    /// The signing lease.
    pub lease: Duration,
    /// Each pair's key (compressed public key bytes).
    pub keys: Vec<Vec<u8>>,
}

impl StandbyPairs {
    /// The process of the pair of `key` that holds its lease now, if it runs.
    fn active(
        &self,
        fleet: &Fleet,
        client: &mut Option<postgres::Client>,
        key: &[u8],
    ) -> Option<usize> {
        if client.as_ref().is_none_or(postgres::Client::is_closed) {
            *client = postgres::Client::connect(&self.db_url, postgres::NoTls).ok();
        }
        let state = crate::ha::lease::current_holder(client.as_mut()?, key).ok()?;
        let crate::ha::LeaseState::HeldBy {
            holder,
            expires_in_ms,
        } = state
        else {
            return None;
        };
        let process = fleet.process_of_instance(&holder)?;
        let warm = fleet
            .partners(process)
            .iter()
            .all(|p| fleet.up_for(*p).is_some_and(|up| up >= WARM_UP));
        (expires_in_ms > 0 && warm && fleet.is_running(process)).then_some(process)
    }
}

/// Starts the chaos thread. It ends when `stop` is set (a signer it killed just before is
/// left down); restart failures are pushed to `errors`.
pub fn spawn_chaos(
    fleet: Arc<Fleet>,
    rate: f64,
    seed: u64,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    standby: Option<StandbyPairs>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = DevnetRng::new(seed, "chaos");
        let mut client = None;
        loop {
            if !sleep_unless(&stop, rng.exponential(rate)) {
                return;
            }
            let victim = match &standby {
                Some(pairs) if !pairs.keys.is_empty() => {
                    let key = &pairs.keys[rng.below(pairs.keys.len() as u64) as usize];
                    match pairs.active(&fleet, &mut client, key) {
                        Some(process) => process,
                        None => continue,
                    }
                }
                _ => {
                    let running: Vec<usize> =
                        (0..fleet.len()).filter(|i| fleet.is_running(*i)).collect();
                    if running.is_empty() {
                        continue;
                    }
                    running[rng.below(running.len() as u64) as usize]
                }
            };
            if !fleet.kill(victim) {
                continue;
            }
            // Down for a moment: long enough for the network to notice, short enough
            // that the next kill usually finds it back. An active stays down until its
            // standby has taken over.
            let down = rng.between_ms(50, 400)
                + standby
                    .as_ref()
                    .map_or(Duration::ZERO, |pairs| pairs.lease * 2);
            if !sleep_unless(&stop, down) {
                return;
            }
            if let Err(e) = fleet.restart(victim) {
                let mut errors = errors.lock().unwrap_or_else(|p| p.into_inner());
                errors.push(format!(
                    "chaos could not restart signer {}: {e}",
                    fleet.signer_index(victim)
                ));
                return;
            }
        }
    })
}
