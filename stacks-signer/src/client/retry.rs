//! The reference's retry policy: exponential backoff (128 ms initial interval, ×1.5, at most
//! 16.384 s between attempts, randomization 0.5) that gives up once 5 s have elapsed.
//!
//! Transient errors are retried; permanent ones are returned at once. When the time budget is
//! exhausted the last transient error is returned. Unlike the `backoff` crate, an attempt is
//! never scheduled past the budget, so a call returns within `max_elapsed` (plus the last
//! attempt's own duration).

use std::time::{Duration, Instant};

/// Whether an error should be retried.
#[derive(Debug)]
pub enum RetryError<E> {
    /// Retry (transport errors, and the per-endpoint exceptions).
    Transient(E),
    /// Return at once.
    Permanent(E),
}

impl<E> RetryError<E> {
    /// The wrapped error.
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Transient(e) | RetryError::Permanent(e) => e,
        }
    }
}

/// The backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The first interval.
    pub initial_interval: Duration,
    /// Each interval is the previous one times this.
    pub multiplier: f64,
    /// The cap on one interval.
    pub max_interval: Duration,
    /// Give up once this much time has elapsed since the first attempt.
    pub max_elapsed: Duration,
    /// Each wait is the interval times a random factor in `[1 - r, 1 + r]`.
    pub randomization_factor: f64,
}

impl Default for BackoffPolicy {
    /// The reference's policy.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(128),
            multiplier: 1.5,
            max_interval: Duration::from_millis(16_384),
            max_elapsed: Duration::from_secs(5),
            randomization_factor: 0.5,
        }
    }
}

/// Time and randomness for [`retry_with_clock`], injectable so tests need not sleep.
pub trait RetryClock {
    /// Time elapsed since the clock was created.
    fn elapsed(&self) -> Duration;
    /// Waits `duration`.
    fn sleep(&mut self, duration: Duration);
    /// A number in `[0, 1)` for jitter.
    fn random(&mut self) -> f64;
}

/// The wall clock, with jitter from a small xorshift generator seeded by the time.
#[derive(Debug)]
pub struct SystemClock {
    start: Instant,
    state: u64,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self {
            start: Instant::now(),
            state: seed | 1,
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryClock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration)
    }

    fn random(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Calls `f` until it succeeds, fails permanently, or the budget of `policy` runs out
/// (then the last error is returned), waiting between attempts as `policy` says.
pub fn retry_with_clock<T, E: std::fmt::Debug, C: RetryClock>(
    policy: &BackoffPolicy,
    clock: &mut C,
    mut f: impl FnMut() -> Result<T, RetryError<E>>,
) -> Result<T, E> {
    let start = clock.elapsed();
    let mut interval = policy.initial_interval;
    loop {
        let err = match f() {
            Ok(v) => return Ok(v),
            Err(RetryError::Permanent(e)) => return Err(e),
            Err(RetryError::Transient(e)) => e,
        };
        let elapsed = clock.elapsed().saturating_sub(start);
        let r = policy.randomization_factor.clamp(0.0, 1.0);
        let factor = 1.0 - r + 2.0 * r * clock.random();
        let wait = interval.mul_f64(factor.max(0.0));
        if elapsed + wait > policy.max_elapsed {
            return Err(err);
        }
        clock.sleep(wait);
        interval = interval.mul_f64(policy.multiplier).min(policy.max_interval);
    }
}

/// [`retry_with_clock`] with the reference's policy and the wall clock.
pub fn retry_with_exponential_backoff<T, E: std::fmt::Debug>(
    f: impl FnMut() -> Result<T, RetryError<E>>,
) -> Result<T, E> {
    retry_with_clock(&BackoffPolicy::default(), &mut SystemClock::new(), f)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeClock {
        now: Duration,
        sleeps: Vec<Duration>,
    }

    impl RetryClock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.now
        }
        fn sleep(&mut self, d: Duration) {
            self.now += d;
            self.sleeps.push(d);
        }
        fn random(&mut self) -> f64 {
            0.5
        }
    }

    fn clock() -> FakeClock {
        FakeClock {
            now: Duration::ZERO,
            sleeps: vec![],
        }
    }

    #[test]
    fn transient_errors_back_off_and_give_up_after_five_seconds() {
        let mut c = clock();
        let mut calls = 0;
        let r: Result<(), u32> = retry_with_clock(&BackoffPolicy::default(), &mut c, || {
            calls += 1;
            Err(RetryError::Transient(calls))
        });
        assert_eq!(r, Err(calls));
        // 128, 192, 288, 432, 648, 972, 1458 ms: total 4118; the next (2187) would pass 5 s.
        let expected: Vec<u64> = vec![128, 192, 288, 432, 648, 972, 1458];
        let got: Vec<u64> = c.sleeps.iter().map(|d| d.as_millis() as u64).collect();
        assert_eq!(got, expected);
        assert_eq!(calls, 8);
        assert!(c.now <= Duration::from_secs(5));
    }

    #[test]
    fn permanent_error_returns_at_once() {
        let mut c = clock();
        let mut calls = 0;
        let r: Result<(), &str> = retry_with_clock(&BackoffPolicy::default(), &mut c, || {
            calls += 1;
            Err(RetryError::Permanent("no"))
        });
        assert_eq!(r, Err("no"));
        assert_eq!(calls, 1);
        assert!(c.sleeps.is_empty());
    }

    #[test]
    fn success_after_retries() {
        let mut c = clock();
        let mut calls = 0;
        let r: Result<u32, &str> = retry_with_clock(&BackoffPolicy::default(), &mut c, || {
            calls += 1;
            if calls < 3 {
                Err(RetryError::Transient("down"))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r, Ok(7));
        assert_eq!(c.sleeps.len(), 2);
    }

    #[test]
    fn interval_is_capped_and_jitter_bounded() {
        let policy = BackoffPolicy {
            max_elapsed: Duration::from_secs(1000),
            ..BackoffPolicy::default()
        };
        let mut c = clock();
        let mut calls = 0;
        let _: Result<(), ()> = retry_with_clock(&policy, &mut c, || {
            calls += 1;
            Err(RetryError::Transient(()))
        });
        assert!(c.sleeps.iter().all(|d| *d <= Duration::from_millis(16_384)));
        assert_eq!(*c.sleeps.last().unwrap(), Duration::from_millis(16_384));
        let mut s = SystemClock::new();
        for _ in 0..1000 {
            let x = s.random();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
