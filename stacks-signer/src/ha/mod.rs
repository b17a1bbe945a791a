//! High availability: an active/standby pair (or more) of `stacks-signer run` processes on one
//! signer key, sharing a PostgreSQL database, of which exactly one publishes at a time.
//!
//! Each instance keeps its own [`SignerDb`](crate::signerdb::SignerDb) (`db_path`: a SQLite
//! file, or a PostgreSQL database or schema of its own) for its view of the chain, and every
//! instance processes every event, so a standby's view is warm. What the instances share is in PostgreSQL (`db_url`):
//! * **the lease** ([`lease`]): one row per key naming the holder and when its hold expires
//!   (by the database's clock, so the instances' clocks do not matter). The holder renews it
//!   every `ha_lease_renew_ms`; when it has not for `ha_lease_ms`, any other instance takes
//!   it. Only the holder publishes.
//! * **the own-vote record** ([`votes`]): every pre-commit, signature and rejection of the
//!   key, checked against the record and written in one `SERIALIZABLE` transaction that also
//!   checks the lease, before the vote leaves the process. A second table gives each block
//!   this key voted for at one height a sequence number under a unique constraint, the last
//!   guard should two transactions ever both pass the checks. An old active that lost its
//!   lease without knowing it (paused, cut off) finds its write refused and publishes
//!   nothing; safety rests on the record, never on the lease.
//! * **StackerDB slot versions** ([`slots`]): the last version the key wrote to each slot, so
//!   a new active continues the sequence.
//!
//! The `SignerDb` rules ([`crate::signerdb::SignerDb::record_own_vote`]) run first, on the
//! instance's own view (which blocks the network accepted); then the shared record's rules,
//! the ones that depend only on this key's own votes; then the local write.

pub mod cluster;
pub mod lease;
pub mod schema;
pub mod slots;
pub mod store;
pub mod tls;
pub mod votes;

use std::time::Duration;

pub use lease::{LeaseKeeper, LeaseState};
pub use store::SharedStore;

/// Default time a lease lasts without renewal (`ha_lease_ms`).
pub const DEFAULT_LEASE_MS: u64 = 3_000;
/// Default interval between renewals of a held lease (`ha_lease_renew_ms`).
pub const DEFAULT_LEASE_RENEW_MS: u64 = 1_000;

/// The `[ha]`-related keys of the configuration: set when `db_url` is.
#[derive(Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// `postgresql://…` (or `postgres://…`) URL of the shared database.
    pub db_url: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How often the holder renews it (less than `lease`).
    pub renew: Duration,
    /// This instance's name in the lease row and the logs (`ha_instance_name`; by default
    /// the host name and the process id).
    pub instance: String,
}

impl std::fmt::Debug for HaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaConfig")
            .field("db_url", &redact_url(&self.db_url))
            .field("lease", &self.lease)
            .field("renew", &self.renew)
            .field("instance", &self.instance)
            .finish()
    }
}

/// The default instance name: `<host name>:<process id>`.
pub fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "signer".to_string());
    format!("{host}:{}", std::process::id())
}

/// The signer database (`db_path`) of instance `instance` of a pair that gives none: its own
/// schema `view_<instance>` of `db_url`'s database (lower case, other characters than
/// letters, digits and `_` written `_`). `None` when `db_url` already has `options=` (the
/// schema is chosen through it).
pub fn own_schema_url(db_url: &str, instance: &str) -> Option<String> {
    if db_url.contains("options=") {
        return None;
    }
    let schema: String = instance
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    let separator = if db_url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{db_url}{separator}options=-csearch_path%3Dview_{schema}"
    ))
}

/// `url` with its password replaced by `***`, for logs and `check-config`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_is_never_shown() {
        assert_eq!(
            redact_url("postgresql://signer:s3cret@db.example:5432/signers"),
            "postgresql://signer:***@db.example:5432/signers"
        );
        assert_eq!(
            redact_url("postgresql://signer@db.example/signers"),
            "postgresql://signer@db.example/signers"
        );
        assert_eq!(redact_url("host=/tmp user=x"), "host=/tmp user=x");
    }

    #[test]
    fn the_default_instance_name_carries_the_process_id() {
        assert!(default_instance_name().ends_with(&format!(":{}", std::process::id())));
    }
}
