//! Whether the Stacks node answers, and what the log says about it.
//!
//! Every request to the node's RPC (the [`super::StacksClient`] calls and the StackerDB
//! reads and writes) reports how it went. When the node starts failing — the connection is
//! refused or times out, it answers `5xx`, it answers something that does not decode, or it
//! takes longer than [`SLOW_ANSWER`] — one warning says what failed and why; each further
//! failure (every retry) is a debug line; the first good answer afterwards logs one info line
//! saying how long the fault lasted and how many requests failed. A `4xx` is an answer (the
//! node is up and refused the request): it ends a fault.
//!
//! The state is kept per node (its RPC origin) for the whole process, so every client of one
//! node shares it, whichever client noticed the fault first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use slog::{debug, info, warn, Logger};

/// An answer slower than this counts as a fault ("slow").
pub const SLOW_ANSWER: Duration = Duration::from_secs(5);

/// The message of the warning logged when the node starts failing.
pub const FAULT_STARTED_MSG: &str = "Stacks node RPC is failing";

/// The message of the debug line logged for each further failure.
pub const FAULT_CONTINUES_MSG: &str = "Stacks node RPC still failing";

/// The message of the info line logged when the node answers again.
pub const FAULT_ENDED_MSG: &str = "Stacks node RPC recovered";

/// A fault in progress.
#[derive(Debug, Clone)]
struct Fault {
    since: Instant,
    failures: u64,
    first: String,
}

/// What a reported outcome changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The node was answering and now failed.
    Started,
    /// It was failing and failed again (the `n`th failure of the fault).
    Continues(u64),
    /// It was failing and answered.
    Ended {
        /// How long the fault lasted.
        lasted: Duration,
        /// How many requests failed during it.
        failures: u64,
        /// The first failure (`request: error`).
        first: String,
    },
    /// It was answering and answered.
    Unchanged,
}

/// What is known of one node.
#[derive(Debug, Default)]
struct State {
    /// The fault in progress.
    fault: Option<Fault>,
    /// When the node last answered in time.
    last_answer: Option<Instant>,
}

/// The RPC health of one node.
#[derive(Debug, Default)]
pub struct NodeHealth {
    state: Mutex<State>,
}

impl NodeHealth {
    /// The process-wide health of the node at `origin` (e.g. `http://127.0.0.1:20443`).
    pub fn for_node(origin: &str) -> Arc<NodeHealth> {
        static NODES: OnceLock<Mutex<HashMap<String, Arc<NodeHealth>>>> = OnceLock::new();
        let nodes = NODES.get_or_init(Mutex::default);
        let mut nodes = nodes.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(nodes.entry(origin.to_string()).or_default())
    }

    /// Whether a fault is in progress.
    pub fn is_failing(&self) -> bool {
        self.lock().fault.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure at `now` of `what` (e.g. `GET /v2/info`) because of `why`.
    pub fn record_failure_at(&self, now: Instant, what: &str, why: &str) -> Transition {
        let mut state = self.lock();
        match state.fault.as_mut() {
            Some(f) => {
                f.failures += 1;
                Transition::Continues(f.failures)
            }
            None => {
                state.fault = Some(Fault {
                    since: now,
                    failures: 1,
                    first: format!("{what}: {why}"),
                });
                Transition::Started
            }
        }
    }

    /// Records an answer at `now`.
    pub fn record_answer_at(&self, now: Instant) -> Transition {
        let mut state = self.lock();
        state.last_answer = Some(now);
        match state.fault.take() {
            Some(f) => Transition::Ended {
                lasted: now.saturating_duration_since(f.since),
                failures: f.failures,
                first: f.first,
            },
            None => Transition::Unchanged,
        }
    }

    /// Records and logs a failure of `what` because of `why`.
    pub fn failed(&self, logger: &Logger, what: &str, why: &str) {
        match self.record_failure_at(Instant::now(), what, why) {
            Transition::Started => warn!(logger, "{FAULT_STARTED_MSG}: {what}: {why}";
                "request" => what, "error" => why,
                "note" => "retries are logged at debug level; one line follows when the node answers again"),
            Transition::Continues(n) => debug!(logger, "{FAULT_CONTINUES_MSG}";
                "request" => what, "error" => why, "failures" => n),
            Transition::Ended { .. } | Transition::Unchanged => {}
        }
    }

    /// Records and logs an answer to `what` (ending a fault, if one is in progress).
    pub fn answered(&self, logger: &Logger, what: &str) {
        if let Transition::Ended {
            lasted,
            failures,
            first,
        } = self.record_answer_at(Instant::now())
        {
            info!(logger, "{FAULT_ENDED_MSG} after {:.1} s", lasted.as_secs_f64();
                "failed_requests" => failures, "first_failure" => first, "answered" => what);
        }
    }

    /// Records and logs an answer to `what` that took `elapsed`: slower than
    /// [`SLOW_ANSWER`] is a failure ("slow"), else an answer.
    ///
    /// A slow answer to a request sent before the node last answered in time is the tail of
    /// a fault already over (or of one that never was): it is logged at debug level only.
    pub fn answered_in(&self, logger: &Logger, what: &str, elapsed: Duration) {
        if elapsed > SLOW_ANSWER {
            if self.answered_since(Instant::now().checked_sub(elapsed)) {
                debug!(logger, "Stacks node RPC: a request sent before the node last answered in time came back slowly";
                    "request" => what, "secs" => elapsed.as_secs_f64());
                return;
            }
            self.failed(
                logger,
                what,
                &format!("slow: answered after {:.1} s", elapsed.as_secs_f64()),
            );
        } else {
            self.answered(logger, what);
        }
    }
}

/// Logs at warn level like `slog::warn!`, or at debug level when `$failing` (the node is
/// failing, and [`NodeHealth`] has already said so once): a caller's warning about a failed
/// node call would otherwise repeat the fault once per call.
#[macro_export]
macro_rules! warn_unless_node_failing {
    ($failing:expr, $logger:expr, $($args:tt)+) => {
        if $failing {
            slog::debug!($logger, $($args)+)
        } else {
            slog::warn!($logger, $($args)+)
        }
    };
}

impl NodeHealth {
    /// Whether the node answered in time after `sent` (`None`: long ago).
    fn answered_since(&self, sent: Option<Instant>) -> bool {
        match (self.lock().last_answer, sent) {
            (Some(answer), Some(sent)) => answer > sent,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_fault_starts_once_continues_per_failure_and_ends_at_the_first_answer() {
        let health = NodeHealth::default();
        let t0 = Instant::now();
        assert_eq!(health.record_answer_at(t0), Transition::Unchanged);
        assert_eq!(
            health.record_failure_at(t0, "GET /v2/info", "connection refused"),
            Transition::Started
        );
        assert!(health.is_failing());
        assert_eq!(
            health.record_failure_at(t0, "GET /v2/info", "connection refused"),
            Transition::Continues(2)
        );
        assert_eq!(
            health.record_answer_at(t0 + Duration::from_secs(60)),
            Transition::Ended {
                lasted: Duration::from_secs(60),
                failures: 2,
                first: "GET /v2/info: connection refused".into()
            }
        );
        assert!(!health.is_failing());
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_hundred_retries_log_one_warning_and_one_recovery_line_at_info() {
        let capture = Capture::default();
        let logger = crate::logging::logger_to(
            crate::logging::LogSettings {
                json: true,
                level: slog::Level::Info,
            },
            capture.clone(),
        );
        let health = NodeHealth::default();
        for _ in 0..100 {
            health.failed(&logger, "GET /v2/info", "connection refused");
        }
        health.answered_in(&logger, "GET /v2/info", Duration::from_millis(3));
        health.answered(&logger, "GET /v2/pox");
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains(FAULT_STARTED_MSG) && lines[0].contains("connection refused"));
        assert!(lines[0].contains("\"level\":\"WARN\""));
        assert!(lines[1].contains(FAULT_ENDED_MSG) && lines[1].contains("\"failed_requests\":100"));
    }

    #[test]
    fn a_slow_answer_to_a_request_sent_before_a_quick_answer_starts_no_fault() {
        let logger = crate::logging::discard();
        let health = NodeHealth::default();
        health.answered_in(&logger, "GET /v2/pox", Duration::from_millis(10));
        // Sent ten seconds ago, before the quick answer just now.
        health.answered_in(&logger, "GET /v2/info", Duration::from_secs(10));
        assert!(!health.is_failing());
    }

    #[test]
    fn a_slow_answer_is_a_fault_and_a_quick_one_ends_it() {
        let logger = crate::logging::discard();
        let health = NodeHealth::default();
        health.answered_in(&logger, "GET /v2/info", Duration::from_secs(10));
        assert!(health.is_failing());
        health.answered_in(&logger, "GET /v2/info", Duration::from_millis(10));
        assert!(!health.is_failing());
    }
}
