//! Test stimuli on the RPC side: answers a test substitutes for the node's own (`/v2/info`
//! fields, `/v2/pox`'s epoch, a tenure's tip, a fork-info pair, `latest_and_last`, or any
//! path's whole answer), each kept until cleared, and counters of the requests the node
//! received per method and path.

use std::collections::HashMap;

use libsigner::chain::{BlockHeaderHash, ConsensusHash, NakamotoBlockHeader};
use serde::Serialize;

use crate::client::api::{
    BlockHeaderWithMetadata, RPCPeerInfoData, SortitionInfo, StacksBlockHeaderTypes, StacksEpochId,
    TenureForkingInfo,
};

/// Most distinct (method, path) pairs counted one by one; requests to further paths are
/// counted together (so a client cannot grow the table without bound).
pub const MAX_COUNTED_PATHS: usize = 4096;

/// A whole HTTP answer a test substitutes for the node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedAnswer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl CannedAnswer {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        CannedAnswer {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        CannedAnswer {
            status,
            content_type: "text/plain",
            body: text.into().into_bytes(),
        }
    }

    /// A plain-text answer whose body is the status's reason phrase (`Internal Server
    /// Error` for 500).
    pub fn status(status: u16) -> Self {
        CannedAnswer::text(status, reason_phrase(status))
    }
}

/// The reason phrase of common status codes (`Error` for other errors, `OK` for other
/// successes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        100..=399 => "OK",
        _ => "Error",
    }
}

/// An endpoint's substituted answer: a value in the node's JSON shape (status 200), or an
/// error status with a plain-text body.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcAnswer<T> {
    /// Answer 200 with this value.
    Value(T),
    /// Answer this status (its reason phrase as a text body, or for a tenure tip the node's
    /// 404 text).
    Status(u16),
}

impl RpcAnswer<BlockHeaderWithMetadata> {
    /// A tenure tip answer: `header` as the tenure's highest block, with `burn_view`.
    pub fn tenure_tip(header: &NakamotoBlockHeader, burn_view: Option<ConsensusHash>) -> Self {
        RpcAnswer::Value(BlockHeaderWithMetadata {
            anchored_header: StacksBlockHeaderTypes::Nakamoto(Box::new(header.clone())),
            burn_view,
        })
    }
}

/// `/v2/info` fields a test overrides (each `None` keeps the node's value). With
/// `burn_block_height` and `pox_consensus` set to an older burn block, the node looks as if
/// it had not processed the newest burn block yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoOverride {
    /// `stacks_tip_height`.
    pub stacks_tip_height: Option<u64>,
    /// `stacks_tip` (the tip's block hash).
    pub stacks_tip: Option<BlockHeaderHash>,
    /// `stacks_tip_consensus_hash`.
    pub stacks_tip_consensus_hash: Option<ConsensusHash>,
    /// `burn_block_height`.
    pub burn_block_height: Option<u64>,
    /// `pox_consensus`.
    pub pox_consensus: Option<ConsensusHash>,
}

impl InfoOverride {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self == &InfoOverride::default()
    }

    /// Writes the overridden fields into `info`.
    pub fn apply(&self, info: &mut RPCPeerInfoData) {
        if let Some(v) = self.stacks_tip_height {
            info.stacks_tip_height = v;
        }
        if let Some(v) = self.stacks_tip {
            info.stacks_tip = v;
        }
        if let Some(v) = self.stacks_tip_consensus_hash {
            info.stacks_tip_consensus_hash = v;
        }
        if let Some(v) = self.burn_block_height {
            info.burn_block_height = v;
        }
        if let Some(v) = self.pox_consensus {
            info.pox_consensus = v;
        }
    }
}

/// Every answer override in force.
#[derive(Debug, Clone, Default)]
pub struct RpcOverrides {
    /// `/v2/info` fields.
    pub info: InfoOverride,
    /// `/v2/pox`'s `current_epoch` (and its one `epochs` entry).
    pub pox_epoch: Option<StacksEpochId>,
    /// `/v3/tenures/tip_metadata/{ch}` and `/v3/tenures/tip/{ch}` per tenure.
    pub tenure_tips: HashMap<ConsensusHash, RpcAnswer<BlockHeaderWithMetadata>>,
    /// `/v3/tenures/fork_info/{start}/{stop}` per (start, stop).
    pub fork_info: HashMap<(ConsensusHash, ConsensusHash), RpcAnswer<Vec<TenureForkingInfo>>>,
    /// `/v3/sortitions/latest_and_last`.
    pub latest_and_last: Option<RpcAnswer<Vec<SortitionInfo>>>,
    /// Whole answers by (method, exact path without the query), checked before routing.
    pub paths: HashMap<(String, String), CannedAnswer>,
}

impl RpcOverrides {
    /// The whole answer substituted for `method path`, if any.
    pub fn canned(&self, method: &str, path: &str) -> Option<&CannedAnswer> {
        if self.paths.is_empty() {
            return None;
        }
        self.paths
            .get(&(method.to_ascii_uppercase(), path.to_string()))
    }

    /// Removes every override.
    pub fn clear(&mut self) {
        *self = RpcOverrides::default();
    }
}

/// How many requests the node received, per (method, path without the query).
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    by_path: HashMap<(String, String), u64>,
    overflow: u64,
}

impl RequestCounts {
    /// Counts one request.
    pub fn record(&mut self, method: &str, path: &str) {
        let key = (method.to_ascii_uppercase(), path.to_string());
        if let Some(n) = self.by_path.get_mut(&key) {
            *n += 1;
        } else if self.by_path.len() < MAX_COUNTED_PATHS {
            self.by_path.insert(key, 1);
        } else {
            self.overflow += 1;
        }
    }

    /// Requests with `method` (any method for `None`) whose path starts with `prefix`.
    /// Requests beyond [`MAX_COUNTED_PATHS`] distinct paths count only for an empty prefix.
    pub fn count(&self, method: Option<&str>, prefix: &str) -> u64 {
        let counted: u64 = self
            .by_path
            .iter()
            .filter(|((m, p), _)| {
                method.is_none_or(|want| m.eq_ignore_ascii_case(want)) && p.starts_with(prefix)
            })
            .map(|(_, n)| *n)
            .sum();
        if prefix.is_empty() && method.is_none() {
            counted + self.overflow
        } else {
            counted
        }
    }

    /// Forgets every count.
    pub fn reset(&mut self) {
        *self = RequestCounts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_per_method_and_path_prefix() {
        let mut counts = RequestCounts::default();
        counts.record("GET", "/v3/sortitions/latest_and_last");
        counts.record("get", "/v3/sortitions/latest_and_last");
        counts.record("GET", "/v3/sortitions");
        counts.record("POST", "/v3/block_proposal");
        assert_eq!(
            counts.count(Some("GET"), "/v3/sortitions/latest_and_last"),
            2
        );
        assert_eq!(counts.count(Some("GET"), "/v3/sortitions"), 3);
        assert_eq!(counts.count(Some("POST"), "/v3/sortitions"), 0);
        assert_eq!(counts.count(None, ""), 4);
        counts.reset();
        assert_eq!(counts.count(None, ""), 0);
    }

    #[test]
    fn distinct_paths_beyond_the_cap_count_only_in_the_total() {
        let mut counts = RequestCounts::default();
        for i in 0..MAX_COUNTED_PATHS + 3 {
            counts.record("GET", &format!("/p/{i}"));
        }
        assert_eq!(counts.count(None, ""), MAX_COUNTED_PATHS as u64 + 3);
        assert_eq!(counts.count(Some("GET"), "/p/"), MAX_COUNTED_PATHS as u64);
    }

    #[test]
    fn info_override_is_empty_until_a_field_is_set() {
        let mut info = InfoOverride::default();
        assert!(info.is_empty());
        info.stacks_tip_height = Some(9);
        assert!(!info.is_empty());
    }
}
