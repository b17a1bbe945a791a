//! `event_allowed_sources`: which addresses may POST node events to the signer's endpoint.
//!
//! Not a reference key. `/new_block`, `/new_burn_block` and `/proposal_response` are not
//! signed, so a signer believes whoever can reach its endpoint; by default it accepts them
//! only from loopback and from the node (`node_host`'s addresses). `/status` stays open to
//! every client.

use std::fmt;

use libsigner::{IpRange, SourceFilter};
use toml::Value as TomlValue;

use super::ConfigError;

/// The key's name.
pub const EVENT_ALLOWED_SOURCES_KEY: &str = "event_allowed_sources";

/// What a bad value of the key is told it should be.
const EXPECTED: &str = "a list of IP addresses, CIDR ranges (\"10.0.0.0/8\"), \"loopback\" and \
                        \"node_host\"; or [\"any\"] alone to accept events from every address";

/// One entry of `event_allowed_sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// `"loopback"`: `127.0.0.0/8` and `::1`.
    Loopback,
    /// `"node_host"`: the addresses `node_host` resolves to (at start, and again when a
    /// request from another address is refused, at most every 5 s).
    NodeHost,
    /// An address or CIDR range.
    Range(IpRange),
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventSource::Loopback => f.write_str("loopback"),
            EventSource::NodeHost => f.write_str("node_host"),
            EventSource::Range(range) => write!(f, "{range}"),
        }
    }
}

/// The value of `event_allowed_sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAllowedSources {
    /// `["any"]`: every address (the reference signer's behaviour).
    Any,
    /// Only these sources.
    Only(Vec<EventSource>),
}

impl Default for EventAllowedSources {
    /// `["loopback", "node_host"]`.
    fn default() -> Self {
        EventAllowedSources::Only(vec![EventSource::Loopback, EventSource::NodeHost])
    }
}

fn bad(value: String) -> ConfigError {
    ConfigError::BadValue {
        key: EVENT_ALLOWED_SOURCES_KEY,
        value: super::one_line(&value),
        expected: EXPECTED,
    }
}

impl EventAllowedSources {
    /// Parses the key's TOML value: a non-empty list of strings, each an IP address, a CIDR
    /// range, `"loopback"` or `"node_host"`; or `["any"]`. Any other value is one
    /// [`ConfigError::BadValue`] naming the offending entry.
    pub fn from_toml(value: &TomlValue) -> Result<Self, ConfigError> {
        let TomlValue::Array(entries) = value else {
            return Err(bad(value.to_string()));
        };
        if entries.is_empty() {
            return Err(bad(
                "[] (an empty list would refuse the node too)".to_string()
            ));
        }
        let mut sources = Vec::with_capacity(entries.len());
        for entry in entries {
            let TomlValue::String(text) = entry else {
                return Err(bad(entry.to_string()));
            };
            let source =
                match text.trim() {
                    "any" if entries.len() == 1 => return Ok(EventAllowedSources::Any),
                    "any" => return Err(bad(format!("{value} (\"any\" must be the only entry)"))),
                    "loopback" => EventSource::Loopback,
                    "node_host" => EventSource::NodeHost,
                    other => EventSource::Range(other.parse().map_err(
                        |e: libsigner::IpRangeError| bad(format!("{text:?} ({})", e.reason)),
                    )?),
                };
            sources.push(source);
        }
        Ok(EventAllowedSources::Only(sources))
    }

    /// Whether every address may send events.
    pub fn is_any(&self) -> bool {
        matches!(self, EventAllowedSources::Any)
    }

    /// The event receiver's filter for these sources, `node_host` being the configured
    /// node (resolved now).
    pub fn to_filter(&self, node_host: &str) -> SourceFilter {
        let EventAllowedSources::Only(sources) = self else {
            return SourceFilter::allow_all();
        };
        let mut ranges = Vec::new();
        let mut hosts = Vec::new();
        for source in sources {
            match source {
                EventSource::Loopback => ranges.extend(IpRange::loopback()),
                EventSource::NodeHost => hosts.push(node_host.to_string()),
                EventSource::Range(range) => ranges.push(*range),
            }
        }
        ranges.dedup();
        hosts.dedup();
        SourceFilter::new(ranges, hosts)
    }
}

impl fmt::Display for EventAllowedSources {
    /// As written in the config: `any`, or the entries comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventAllowedSources::Any => f.write_str("any"),
            EventAllowedSources::Only(sources) => {
                let parts: Vec<String> = sources.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::config::GlobalConfig;

    fn config_text(node_host: &str, sources: Option<&str>) -> String {
        let mut text = format!(
            "stacks_private_key = \"2de4e77aab89c0c2570bb8bb90824f5cf2a5204a975905fee450ff9dad0fcf28\"\n\
             node_host = \"{node_host}\"\nendpoint = \"127.0.0.1:30000\"\nnetwork = \"testnet\"\n\
             auth_password = \"pw\"\ndb_path = \":memory:\"\n"
        );
        if let Some(sources) = sources {
            text.push_str(&format!("event_allowed_sources = {sources}\n"));
        }
        text
    }

    fn load(node_host: &str, sources: Option<&str>) -> Result<GlobalConfig, ConfigError> {
        GlobalConfig::load_from_str(&config_text(node_host, sources)).map(|(config, _)| config)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn by_default_events_come_from_loopback_and_the_node_host() {
        let config = load("192.0.2.10:20443", None).unwrap();
        assert_eq!(config.event_allowed_sources, EventAllowedSources::default());
        assert_eq!(
            config.event_allowed_sources.to_string(),
            "loopback, node_host"
        );
        let filter = config.event_source_filter();
        assert!(filter.admits(ip("127.0.0.1")));
        assert!(filter.admits(ip("127.3.2.1")));
        assert!(filter.admits(ip("::1")));
        assert!(filter.admits(ip("192.0.2.10")), "node_host");
        assert!(!filter.admits(ip("192.0.2.11")));
        assert_eq!(
            filter.to_string(),
            "127.0.0.0/8, ::1, 192.0.2.10:20443 (192.0.2.10)"
        );
    }

    #[test]
    fn a_node_host_name_is_resolved() {
        let config = load("localhost:20443", None).unwrap();
        let filter = config.event_source_filter();
        let (name, addresses) = filter.hosts().remove(0);
        assert_eq!(name, "localhost:20443");
        assert!(addresses.contains(&ip("127.0.0.1")), "{addresses:?}");
    }

    #[test]
    fn addresses_and_cidr_ranges_are_the_only_sources_when_listed() {
        let config = load(
            "192.0.2.10:20443",
            Some(r#"["10.0.0.0/8", " 192.0.2.7 ", "fd00::/8", "node_host"]"#),
        )
        .unwrap();
        assert_eq!(
            config.event_allowed_sources.to_string(),
            "10.0.0.0/8, 192.0.2.7, fd00::/8, node_host"
        );
        let filter = config.event_source_filter();
        assert!(filter.admits(ip("10.200.0.1")));
        assert!(filter.admits(ip("192.0.2.7")));
        assert!(filter.admits(ip("fd12::1")));
        assert!(filter.admits(ip("192.0.2.10")));
        assert!(!filter.admits(ip("127.0.0.1")), "loopback only when listed");
        let only_one = load("192.0.2.10:20443", Some(r#"["127.0.0.1"]"#)).unwrap();
        let filter = only_one.event_source_filter();
        assert!(filter.admits(ip("127.0.0.1")));
        assert!(!filter.admits(ip("127.0.0.2")));
        assert!(
            !filter.admits(ip("192.0.2.10")),
            "node_host only when listed"
        );
    }

    #[test]
    fn any_alone_accepts_every_source_as_the_reference() {
        let config = load("192.0.2.10:20443", Some(r#"["any"]"#)).unwrap();
        assert!(config.event_allowed_sources.is_any());
        let filter = config.event_source_filter();
        assert!(filter.is_allow_all());
        assert!(filter.admits(ip("203.0.113.1")));
        assert_eq!(filter.to_string(), "any");
    }

    #[test]
    fn bad_values_are_one_error_naming_the_key_and_the_entry() {
        for (value, shown) in [
            (r#""any""#, r#""any""#),
            ("[]", "[]"),
            (r#"["any", "loopback"]"#, "\"any\" must be the only entry"),
            (
                r#"["10.0.0.0/33"]"#,
                r#""10.0.0.0/33" (the prefix length exceeds"#,
            ),
            (
                r#"["nodehost"]"#,
                r#""nodehost" (not an IPv4 or IPv6 address)"#,
            ),
            (r#"["10.0.0.1:8080"]"#, r#""10.0.0.1:8080""#),
            ("[1]", "1"),
        ] {
            let err = load("192.0.2.10:20443", Some(value)).unwrap_err();
            let ConfigError::BadValue {
                key, value: got, ..
            } = &err
            else {
                panic!("{value}: {err:?}");
            };
            assert_eq!(*key, EVENT_ALLOWED_SOURCES_KEY, "{value}");
            assert!(got.contains(shown), "{value}: {got}");
            assert!(err.to_string().contains("CIDR ranges"), "{err}");
        }
        let err = load("192.0.2.10:20443", Some(r#"["nodehost"]"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for `event_allowed_sources`: \"nodehost\" (not an IPv4 or IPv6 address) \
             (expected a list of IP addresses, CIDR ranges (\"10.0.0.0/8\"), \"loopback\" and \
             \"node_host\"; or [\"any\"] alone to accept events from every address)"
        );
    }
}
