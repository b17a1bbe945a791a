//! Which client addresses may POST events to a [`super::SignerEventReceiver`].
//!
//! The node's event dispatcher is the only legitimate sender of `/new_block`,
//! `/new_burn_block` and `/proposal_response`, and none of these is signed: whoever can reach
//! the endpoint can make a signer believe them. A [`SourceFilter`] lets a receiver accept
//! requests only from given addresses and CIDR ranges, plus the addresses a host name (the
//! node's) resolves to, re-resolved when a request is refused so that a node whose DNS name
//! moves keeps working. Refused requests are counted; the caller logs them at most once per
//! source per [`REFUSAL_LOG_INTERVAL`].

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a refused source is logged at most (the refusals in between are counted and
/// reported with the next log line of that source).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How often the allowed host names are resolved again at most, when a request from an
/// address not (or no longer) theirs is refused.
pub const RERESOLVE_INTERVAL: Duration = Duration::from_secs(5);

/// How many refused sources are remembered for log rate limiting; beyond that, refusals of
/// new sources are counted but not logged until older entries expire.
const MAX_TRACKED_SOURCES: usize = 1024;

/// An IP address range in CIDR form: an address and how many leading bits must match.
///
/// Parsed from `10.0.0.0/8`, `fd00::/8`, or a bare address (`192.0.2.7`, `::1`: the
/// address alone). Host bits beyond the prefix are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
/// An IPv4-mapped IPv6 client address (`::ffff:192.0.2.7`, as a dual-stack listener reports
/// IPv4 clients) matches the IPv4 ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    network: IpAddr,
    prefix_len: u8,
}

/// Why a text is not an [`IpRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an IP address or CIDR range ({reason})")]
pub struct IpRangeError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn max_prefix(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn masked(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

impl IpRange {
    /// The range of `prefix_len` leading bits of `addr`; `None` if `prefix_len` exceeds the
    /// address's length (32 or 128).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= max_prefix(&addr)).then(|| Self {
            network: masked(addr, prefix_len),
            prefix_len,
        })
    }

    /// The range holding `addr` alone.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            network: addr,
            prefix_len: max_prefix(&addr),
        }
    }

    /// The loopback ranges: `127.0.0.0/8` and `::1`.
    pub fn loopback() -> [Self; 2] {
        [
            Self {
                network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix_len: 8,
            },
            Self::host(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]
    }

    /// The range's first address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// How many leading bits an address must share with [`IpRange::network`].
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                masked(ip, self.prefix_len) == self.network
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| IpRangeError {
            text: text.to_string(),
            reason,
        };
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| error("not an IPv4 or IPv6 address"))?;
        match prefix_text {
            None => Ok(Self::host(addr)),
            Some(prefix) => {
                let prefix_len: u8 = prefix
                    .parse()
                    .map_err(|_| error("the prefix length is not a number"))?;
                Self::new(addr, prefix_len).ok_or_else(|| {
                    error(
                        "the prefix length exceeds the address length (32 for IPv4, 128 for IPv6)",
                    )
                })
            }
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len == max_prefix(&self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix_len)
        }
    }
}

/// Resolves a host name to the addresses it stands for now.
type Resolver = Box<dyn Fn() -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// A host name whose addresses are allowed.
struct AllowedHost {
    name: String,
    resolve: Resolver,
}

/// The addresses of `host` (`name:port`, `name`, `ip:port`, `ip`, `[ipv6]:port`), as the
/// system resolver gives them now.
fn resolve_host(host: &str) -> io::Result<Vec<IpAddr>> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(vec![addr.ip()]);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = match host.to_socket_addrs() {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        // No port (or an empty one): resolve the name alone.
        Err(_) => (host.trim_end_matches(':'), 0).to_socket_addrs()?.collect(),
    };
    let mut ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip().to_canonical()).collect();
    ips.sort();
    ips.dedup();
    Ok(ips)
}

/// What the filter last learnt of its host names.
#[derive(Default)]
struct Resolved {
    /// Each host's addresses from its last successful resolution.
    addresses: Vec<Vec<IpAddr>>,
    /// When a resolution last started.
    last_attempt: Option<Instant>,
}

/// When a refused source was last logged and how many refusals were not logged since.
struct RefusalLog {
    last_logged: Instant,
    suppressed: u64,
}

enum Policy {
    AllowAll,
    Only {
        ranges: Vec<IpRange>,
        hosts: Vec<AllowedHost>,
    },
}

struct Inner {
    policy: Policy,
    resolved: Mutex<Resolved>,
    refused: AtomicU64,
    refusal_logs: Mutex<HashMap<IpAddr, RefusalLog>>,
}

/// Which client addresses a [`super::SignerEventReceiver`] accepts events from: every one
/// ([`SourceFilter::allow_all`], the default), or given addresses and CIDR ranges plus the
/// addresses of given host names (the node's), re-resolved when a request is refused, at
/// most every [`RERESOLVE_INTERVAL`], so that a node whose DNS name moves keeps working.
/// Refused requests are counted; [`SourceFilter::record_refusal`] says when to log them
/// (once per source per [`REFUSAL_LOG_INTERVAL`]). Cheap to clone: clones share the refusal
/// counter and the resolved addresses.
///
/// ```
/// use libsigner::{IpRange, SourceFilter};
///
/// let filter = SourceFilter::new(
///     IpRange::loopback().into_iter().chain(["10.0.0.0/8".parse().unwrap()]),
///     ["127.0.0.1:20443"],
/// );
/// assert!(filter.admits("10.1.2.3".parse().unwrap()));
/// assert!(!filter.admits("192.0.2.1".parse().unwrap()));
/// assert!(SourceFilter::allow_all().admits("192.0.2.1".parse().unwrap()));
/// ```
#[derive(Clone)]
pub struct SourceFilter {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SourceFilter {
    /// Admits every client (the reference signer's behaviour, and the receiver's default).
    pub fn allow_all() -> Self {
        Self::with_policy(Policy::AllowAll)
    }

    /// Admits clients in `ranges` and at the addresses each of `hosts` resolves to
    /// (`name:port`, `name`, or an address). The hosts are resolved now; a host that does
    /// not resolve (or whose addresses change) is resolved again when a request is refused,
    /// at most every [`RERESOLVE_INTERVAL`].
    pub fn new<R, H>(ranges: R, hosts: H) -> Self
    where
        R: IntoIterator<Item = IpRange>,
        H: IntoIterator,
        H::Item: Into<String>,
    {
        let hosts = hosts
            .into_iter()
            .map(|name| {
                let name: String = name.into();
                let target = name.clone();
                AllowedHost {
                    name,
                    resolve: Box::new(move || resolve_host(&target)),
                }
            })
            .collect();
        Self::only(ranges.into_iter().collect(), hosts)
    }

    /// [`SourceFilter::new`] with one host whose addresses `resolve` gives (tests, or a
    /// caller with its own name service).
    pub fn with_resolver(
        ranges: impl IntoIterator<Item = IpRange>,
        host_name: impl Into<String>,
        resolve: impl Fn() -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> Self {
        let host = AllowedHost {
            name: host_name.into(),
            resolve: Box::new(resolve),
        };
        Self::only(ranges.into_iter().collect(), vec![host])
    }

    fn only(ranges: Vec<IpRange>, hosts: Vec<AllowedHost>) -> Self {
        let filter = Self::with_policy(Policy::Only { ranges, hosts });
        filter.resolve_hosts();
        filter
    }

    fn with_policy(policy: Policy) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy,
                resolved: Mutex::new(Resolved::default()),
                refused: AtomicU64::new(0),
                refusal_logs: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether every client is admitted.
    pub fn is_allow_all(&self) -> bool {
        matches!(self.inner.policy, Policy::AllowAll)
    }

    /// The fixed ranges admitted (empty for [`SourceFilter::allow_all`]).
    pub fn ranges(&self) -> &[IpRange] {
        match &self.inner.policy {
            Policy::AllowAll => &[],
            Policy::Only { ranges, .. } => ranges,
        }
    }

    /// Each allowed host name with the addresses it last resolved to (empty if it never
    /// resolved).
    pub fn hosts(&self) -> Vec<(String, Vec<IpAddr>)> {
        let Policy::Only { hosts, .. } = &self.inner.policy else {
            return Vec::new();
        };
        let resolved = lock(&self.inner.resolved);
        hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let addresses = resolved.addresses.get(i).cloned().unwrap_or_default();
                (host.name.clone(), addresses)
            })
            .collect()
    }

    /// Resolves every host now; a host that fails keeps the addresses it had.
    fn resolve_hosts(&self) {
        let Policy::Only { hosts, .. } = &self.inner.policy else {
            return;
        };
        if hosts.is_empty() {
            return;
        }
        lock(&self.inner.resolved).last_attempt = Some(Instant::now());
        // Resolved without the lock: a slow name service delays only this request.
        let results: Vec<Option<Vec<IpAddr>>> =
            hosts.iter().map(|host| (host.resolve)().ok()).collect();
        let mut resolved = lock(&self.inner.resolved);
        resolved.addresses.resize(hosts.len(), Vec::new());
        for (slot, result) in resolved.addresses.iter_mut().zip(results) {
            if let Some(mut addresses) = result {
                for address in &mut addresses {
                    *address = address.to_canonical();
                }
                *slot = addresses;
            }
        }
    }

    /// Whether `ip` may send events as far as the filter knows now, without resolving
    /// `node_host` again (for decisions that must not wait, such as which connections to
    /// keep when the receiver is full).
    pub fn admits_without_resolving(&self, ip: IpAddr) -> bool {
        self.admits_now(ip.to_canonical())
    }

    fn admits_now(&self, ip: IpAddr) -> bool {
        match &self.inner.policy {
            Policy::AllowAll => true,
            Policy::Only { ranges, .. } => {
                ranges.iter().any(|range| range.contains(ip))
                    || lock(&self.inner.resolved)
                        .addresses
                        .iter()
                        .flatten()
                        .any(|address| *address == ip)
            }
        }
    }

    /// Whether a request from `ip` is admitted. When it is not and the filter has host
    /// names not resolved in the last [`RERESOLVE_INTERVAL`], they are resolved again first
    /// (this call then waits for the name service).
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.admits_now(ip) {
            return true;
        }
        let Policy::Only { hosts, .. } = &self.inner.policy else {
            return true;
        };
        if hosts.is_empty() {
            return false;
        }
        let due = {
            let mut resolved = lock(&self.inner.resolved);
            let due = resolved
                .last_attempt
                .is_none_or(|at| at.elapsed() >= RERESOLVE_INTERVAL);
            if due {
                // Claimed here, so concurrent refusals do not all resolve.
                resolved.last_attempt = Some(Instant::now());
            }
            due
        };
        if due {
            self.resolve_hosts();
            return self.admits_now(ip);
        }
        false
    }

    /// Counts a refused request from `ip`. Returns `Some(n)` when the refusal should be
    /// logged now (the first from `ip`, or the first after [`REFUSAL_LOG_INTERVAL`]), `n`
    /// being how many refusals from `ip` were not logged since its last log line; `None`
    /// when it should not be logged.
    pub fn record_refusal(&self, ip: IpAddr) -> Option<u64> {
        self.record_refusal_at(ip.to_canonical(), Instant::now())
    }

    fn record_refusal_at(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let mut logs = lock(&self.inner.refusal_logs);
        if let Some(entry) = logs.get_mut(&ip) {
            if now.saturating_duration_since(entry.last_logged) < REFUSAL_LOG_INTERVAL {
                entry.suppressed = entry.suppressed.saturating_add(1);
                return None;
            }
            let suppressed = entry.suppressed;
            entry.last_logged = now;
            entry.suppressed = 0;
            return Some(suppressed);
        }
        if logs.len() >= MAX_TRACKED_SOURCES {
            logs.retain(|_, entry| {
                now.saturating_duration_since(entry.last_logged) < REFUSAL_LOG_INTERVAL
            });
            if logs.len() >= MAX_TRACKED_SOURCES {
                return None;
            }
        }
        logs.insert(
            ip,
            RefusalLog {
                last_logged: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    /// How many requests this filter (and its clones) refused.
    pub fn refused_requests(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

impl Default for SourceFilter {
    /// [`SourceFilter::allow_all`].
    fn default() -> Self {
        Self::allow_all()
    }
}

impl fmt::Display for SourceFilter {
    /// `any`, or the ranges then each host as `name (addresses)`, comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_allow_all() {
            return f.write_str("any");
        }
        let mut parts: Vec<String> = self.ranges().iter().map(ToString::to_string).collect();
        for (name, addresses) in self.hosts() {
            let addresses = if addresses.is_empty() {
                "does not resolve now".to_string()
            } else {
                addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            parts.push(format!("{name} ({addresses})"));
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(", "))
    }
}

impl fmt::Debug for SourceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceFilter({self})")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn range(text: &str) -> IpRange {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_addresses_and_cidrs_and_clear_host_bits() {
        assert_eq!(range("192.0.2.7"), IpRange::host(ip("192.0.2.7")));
        assert_eq!(range("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(range("fd00::1/8").to_string(), "fd00::/8");
        assert_eq!(range("::1").to_string(), "::1");
        assert_eq!(range("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(range("192.0.2.7/32").to_string(), "192.0.2.7");
        for bad in [
            "",
            "any",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0/8",
            "host:1",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_contain_their_addresses_only_and_map_ipv4_in_ipv6() {
        let ten = range("10.0.0.0/8");
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(!ten.contains(ip("::1")));
        assert!(range("0.0.0.0/0").contains(ip("203.0.113.9")));
        let [v4, v6] = IpRange::loopback();
        assert!(v4.contains(ip("127.0.0.2")));
        assert!(v6.contains(ip("::1")));
        assert!(!v4.contains(ip("128.0.0.1")));
    }

    #[test]
    fn a_filter_admits_its_ranges_and_its_hosts_addresses_only() {
        let filter = SourceFilter::with_resolver([range("127.0.0.1")], "node:20443", || {
            Ok(vec![ip("192.0.2.10")])
        });
        assert!(filter.admits(ip("127.0.0.1")));
        assert!(filter.admits(ip("192.0.2.10")));
        assert!(filter.admits(ip("::ffff:192.0.2.10")));
        assert!(!filter.admits(ip("127.0.0.2")));
        assert_eq!(filter.to_string(), "127.0.0.1, node:20443 (192.0.2.10)");
        assert!(SourceFilter::default().admits(ip("198.51.100.1")));
        assert_eq!(SourceFilter::default().to_string(), "any");
    }

    #[test]
    fn a_refused_request_re_resolves_the_hosts_at_most_every_interval() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        // The node moves from .10 to .11 after the first resolution.
        let filter = SourceFilter::with_resolver([], "node", move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            Ok(vec![if n == 0 {
                ip("192.0.2.10")
            } else {
                ip("192.0.2.11")
            }])
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1, "resolved at start");
        assert!(filter.admits(ip("192.0.2.10")));
        // Resolved at start just now: a refusal does not resolve again yet.
        assert!(!filter.admits(ip("192.0.2.11")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Once the interval has passed, the next refusal resolves again and admits.
        lock(&filter.inner.resolved).last_attempt = Some(Instant::now() - RERESOLVE_INTERVAL);
        assert!(filter.admits(ip("192.0.2.11")));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(!filter.admits(ip("192.0.2.10")), "the old address is gone");
    }

    #[test]
    fn a_host_that_does_not_resolve_is_resolved_again_and_keeps_its_last_addresses() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let filter = SourceFilter::with_resolver([], "node", move || {
            match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Err(io::Error::other("no name service")),
                1 => Ok(vec![ip("192.0.2.10")]),
                _ => Err(io::Error::other("no name service")),
            }
        });
        assert_eq!(filter.to_string(), "node (does not resolve now)");
        lock(&filter.inner.resolved).last_attempt = Some(Instant::now() - RERESOLVE_INTERVAL);
        assert!(filter.admits(ip("192.0.2.10")), "resolved on the refusal");
        lock(&filter.inner.resolved).last_attempt = Some(Instant::now() - RERESOLVE_INTERVAL);
        assert!(!filter.admits(ip("192.0.2.99")));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(
            filter.admits(ip("192.0.2.10")),
            "a failed resolution keeps the addresses"
        );
    }

    #[test]
    fn refusals_are_counted_each_and_logged_once_per_source_per_minute() {
        let filter = SourceFilter::new([range("127.0.0.1")], Vec::<String>::new());
        let start = Instant::now();
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        assert_eq!(filter.record_refusal_at(a, start), Some(0));
        assert_eq!(
            filter.record_refusal_at(a, start + Duration::from_secs(1)),
            None
        );
        assert_eq!(
            filter.record_refusal_at(b, start + Duration::from_secs(2)),
            Some(0)
        );
        assert_eq!(
            filter.record_refusal_at(a, start + Duration::from_secs(59)),
            None
        );
        assert_eq!(
            filter.record_refusal_at(a, start + REFUSAL_LOG_INTERVAL),
            Some(2),
            "the next log line reports the two refusals not logged"
        );
        assert_eq!(filter.refused_requests(), 5);
        assert_eq!(
            filter.clone().refused_requests(),
            5,
            "clones share the counter"
        );
    }

    #[test]
    fn the_refusal_log_table_is_bounded() {
        let filter = SourceFilter::new([], Vec::<String>::new());
        let now = Instant::now();
        for i in 0..MAX_TRACKED_SOURCES as u32 {
            let source = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(filter.record_refusal_at(source, now), Some(0));
        }
        let newcomer = ip("192.0.2.1");
        assert_eq!(filter.record_refusal_at(newcomer, now), None, "table full");
        let later = now + REFUSAL_LOG_INTERVAL;
        assert_eq!(
            filter.record_refusal_at(newcomer, later),
            Some(0),
            "expired entries make room"
        );
        assert_eq!(
            filter.refused_requests(),
            MAX_TRACKED_SOURCES as u64 + 2,
            "every refusal is counted"
        );
    }
}
