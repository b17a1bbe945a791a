//! Chaos: at random moments (a Poisson process of `--chaos-rate` kills per second) SIGKILL
//! a random running signer, wait a moment, and start it again on its database. One signer
//! is down at a time, so a network that can lose one signer's weight stays live; what the
//! kills may not break is safety, which the equivocation check verifies afterwards.

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

/// Starts the chaos thread. It ends when `stop` is set (a signer it killed just before is
/// left down); restart failures are pushed to `errors`.
pub fn spawn_chaos(
    fleet: Arc<Fleet>,
    rate: f64,
    seed: u64,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = DevnetRng::new(seed, "chaos");
        loop {
            if !sleep_unless(&stop, rng.exponential(rate)) {
                return;
            }
            let running: Vec<usize> = (0..fleet.len()).filter(|i| fleet.is_running(*i)).collect();
            if running.is_empty() {
                continue;
            }
            let victim = running[rng.below(running.len() as u64) as usize];
            if !fleet.kill(victim) {
                continue;
            }
            // Down for a moment: long enough for the network to notice, short enough
            // that the next kill usually finds it back.
            if !sleep_unless(&stop, rng.between_ms(50, 400)) {
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
