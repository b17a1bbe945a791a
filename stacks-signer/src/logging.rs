//! The signer's log: `slog` records on stderr, in the reference signer's line format or as
//! JSON, so that log shippers and greps written for the reference keep working.
//!
//! Environment (read once, at start):
//! - `STACKS_LOG_JSON=1`: one JSON object per line (`msg`, `level`, `ts`, `file`, `line`,
//!   `thread` and every key of the record).
//! - `STACKS_LOG_DEBUG=1` (or `BLOCKSTACK_DEBUG=1`): debug level; `STACKS_LOG_TRACE=1`:
//!   trace; `STACKS_LOG_CRITONLY=1`: critical only. Info otherwise.
//!
//! The terminal format is the reference's:
//! `INFO [1700000000.123456] [stacks-signer/src/runloop.rs:120] [signer_runloop:30000] message, key: value`.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use slog::{o, Drain, Level, Logger, OwnedKVList, Record, KV};

/// What the environment asks of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// One JSON object per line instead of the terminal format.
    pub json: bool,
    /// The most verbose level written.
    pub level: Level,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            json: false,
            level: Level::Info,
        }
    }
}

impl LogSettings {
    /// The settings from the process environment (see the [module documentation](self)).
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// The settings from `lookup`, which answers an environment variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |key: &str| lookup(key).as_deref() == Some("1");
        let level = if set("STACKS_LOG_TRACE") {
            Level::Trace
        } else if set("STACKS_LOG_DEBUG") || set("BLOCKSTACK_DEBUG") {
            Level::Debug
        } else if set("STACKS_LOG_CRITONLY") {
            Level::Critical
        } else {
            Level::Info
        };
        Self {
            json: set("STACKS_LOG_JSON"),
            level,
        }
    }
}

/// The logger the daemon uses: `settings` applied, written to stderr.
pub fn stderr_logger(settings: LogSettings) -> Logger {
    logger_to(settings, io::stderr())
}

/// A logger with `settings` that writes its lines to `out` (one `write` per line).
pub fn logger_to<W: Write + Send + 'static>(settings: LogSettings, out: W) -> Logger {
    if settings.json {
        let drain = slog_json::Json::default(out);
        let drain = Mutex::new(drain).map(slog::Fuse);
        let drain = slog::LevelFilter::new(drain, settings.level).ignore_res();
        Logger::root(
            drain,
            o!(
                "file" => slog::FnValue(|info: &Record| info.file()),
                "line" => slog::FnValue(|info: &Record| info.line()),
                "thread" => slog::FnValue(|_: &Record| current_thread_name()),
            ),
        )
    } else {
        let drain = slog::LevelFilter::new(LineDrain::new(out), settings.level).ignore_res();
        Logger::root(drain, o!())
    }
}

/// A logger that drops everything (library default when the caller gives none).
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

fn current_thread_name() -> String {
    let current = thread::current();
    match current.name() {
        Some(name) => name.to_string(),
        None => format!("{:?}", current.id()),
    }
}

/// Writes records in the reference's terminal line format.
struct LineDrain<W: Write> {
    out: Mutex<W>,
}

impl<W: Write> LineDrain<W> {
    fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write> Drain for LineDrain<W> {
    type Ok = ();
    type Err = io::Error;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), io::Error> {
        let line = format_line(record, values, SystemTime::now(), &current_thread_name());
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(line.as_bytes())?;
        out.flush()
    }
}

/// One log line (with its newline) as the reference prints it.
fn format_line(record: &Record<'_>, values: &OwnedKVList, now: SystemTime, thread: &str) -> String {
    let elapsed = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = format!(
        "{} [{:5}.{:06}] [{}:{}] [{}] {}",
        record.level().as_short_str(),
        elapsed.as_secs(),
        elapsed.subsec_micros(),
        record.file(),
        record.line(),
        thread,
        record.msg()
    );
    let mut pairs = PairCollector::default();
    // Records serialize their pairs last-first; each list is reversed back to written order.
    let _ = record.kv().serialize(record, &mut pairs);
    pairs.end_group();
    let _ = values.serialize(record, &mut pairs);
    pairs.end_group();
    for (key, value) in pairs.done {
        line.push_str(", ");
        line.push_str(&key);
        line.push_str(": ");
        line.push_str(&value);
    }
    line.push('\n');
    line
}

#[derive(Default)]
struct PairCollector {
    group: Vec<(String, String)>,
    done: Vec<(String, String)>,
}

impl PairCollector {
    fn end_group(&mut self) {
        self.group.reverse();
        self.done.append(&mut self.group);
    }
}

impl slog::Serializer for PairCollector {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        self.group.push((key.to_string(), val.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use slog::{debug, info, warn};

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn environment_selects_format_and_level_as_the_reference() {
        assert_eq!(settings(&[]), LogSettings::default());
        assert_eq!(settings(&[("STACKS_LOG_DEBUG", "1")]).level, Level::Debug);
        assert_eq!(settings(&[("BLOCKSTACK_DEBUG", "1")]).level, Level::Debug);
        assert_eq!(settings(&[("STACKS_LOG_TRACE", "1")]).level, Level::Trace);
        assert_eq!(
            settings(&[("STACKS_LOG_CRITONLY", "1")]).level,
            Level::Critical
        );
        assert_eq!(settings(&[("STACKS_LOG_DEBUG", "true")]).level, Level::Info);
        assert!(settings(&[("STACKS_LOG_JSON", "1")]).json);
        assert!(!settings(&[("STACKS_LOG_JSON", "0")]).json);
    }

    #[test]
    fn terminal_lines_follow_the_reference_format_with_pairs_in_written_order() {
        let out = Captured::default();
        let log = logger_to(LogSettings::default(), out.clone()).new(o!("signer" => 3));
        info!(log, "Block proposal received"; "block_id" => "abc", "height" => 7);
        let text = out.text();
        assert!(text.starts_with("INFO ["), "{text}");
        assert!(text.contains("] [stacks-signer/src/logging.rs:"), "{text}");
        assert!(
            text.ends_with("] Block proposal received, block_id: abc, height: 7, signer: 3\n"),
            "{text}"
        );
        let thread_part = format!("[{}]", current_thread_name());
        assert!(text.contains(&thread_part), "{text}");
    }

    #[test]
    fn level_filter_drops_debug_unless_asked() {
        let out = Captured::default();
        let log = logger_to(LogSettings::default(), out.clone());
        debug!(log, "hidden");
        warn!(log, "shown");
        let text = out.text();
        assert!(!text.contains("hidden"));
        assert!(text.starts_with("WARN "), "{text}");

        let out = Captured::default();
        let log = logger_to(settings(&[("STACKS_LOG_DEBUG", "1")]), out.clone());
        debug!(log, "now shown");
        assert!(out.text().starts_with("DEBG "), "{}", out.text());
    }

    #[test]
    fn json_lines_carry_message_level_location_thread_and_pairs() {
        let out = Captured::default();
        let log = logger_to(settings(&[("STACKS_LOG_JSON", "1")]), out.clone());
        info!(log, "Signer is registered"; "reward_cycle" => 12);
        let text = out.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(value["msg"], "Signer is registered");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["reward_cycle"], 12);
        assert_eq!(value["file"], "stacks-signer/src/logging.rs");
        assert!(value["line"].as_u64().is_some());
        assert_eq!(value["thread"], current_thread_name());
        assert!(value["ts"].is_string());
    }
}
