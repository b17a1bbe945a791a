//! The safety fixture format (see `docs/testing.md`, "Safety fixtures"): the JSON shape of a
//! fixture file, and the checks a file must pass beyond its shape.

use std::collections::{BTreeMap, BTreeSet};

use libsigner::chain::hex::{hex_array, hex_bytes, to_hex};
use libsigner::chain::{NakamotoBlockHeader, Sha512Trunc256Sum};
use libsigner::codec::StacksMessageCodec;
use serde::{Deserialize, Deserializer, Serialize};

/// One fixture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The case's name: the file's name without `.json`.
    pub name: String,
    /// What the case pins, in a sentence or two.
    pub description: String,
    /// The signer's settings for the whole case.
    pub config: Config,
    /// The blocks the steps refer to, by label.
    pub blocks: BTreeMap<String, BlockDef>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// The signer's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The sibling rule's window (`tenure_last_block_proposal_timeout`), whole seconds.
    pub window_secs: u64,
}

/// A block: its identity for the rules, and its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDef {
    /// Its tenure (hex, 20 bytes).
    pub consensus_hash: String,
    /// Its Stacks height (`chain_length`).
    pub height: u64,
    /// The reward cycle it is proposed in.
    pub reward_cycle: u64,
    /// Its signer signature hash (hex, 32 bytes): the block's identity.
    pub signer_signature_hash: String,
    /// Its Nakamoto block header in the consensus encoding (hex). The block has no
    /// transactions (`tx_merkle_root` is the empty tree's).
    pub header: String,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The signer asks to cast a vote; the implementation must record or refuse it.
    Vote {
        /// The block's label.
        block: String,
        /// The vote.
        vote: VoteKind,
        /// The rejection's reason (only for `reject`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
        /// The time of the vote (seconds since the Unix epoch).
        at: u64,
        /// The node's tip height of the block's tenure, if the signer could learn it.
        #[serde(default)]
        tenure_tip_height: Option<u64>,
        /// The outcome.
        expect: Expect,
        /// Why it is refused (only with `expect: refused`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
        /// The sibling a `conflicting_block` refusal names, when only one can be named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conflicts_with: Option<String>,
    },
    /// The signer process stops and starts again on the same database.
    Restart,
    /// The network accepted the block: the signer set's signatures reached the threshold.
    NetworkAccepted {
        /// The block's label.
        block: String,
        /// When the signer saw it (seconds).
        at: u64,
    },
    /// The network rejected the block.
    NetworkRejected {
        /// The block's label.
        block: String,
        /// When the signer saw it (seconds).
        at: u64,
    },
    /// The signer prunes what it keeps of reward cycles before `min_reward_cycle`.
    Prune {
        /// The oldest reward cycle kept.
        min_reward_cycle: u64,
    },
    /// The signer starts on a reference signer's database (schema 18) holding these block
    /// rows and takes it over. Only as the first step.
    ImportReferenceDb {
        /// The rows of the reference's `blocks` table.
        rows: Vec<ReferenceRow>,
    },
    /// What the signer's record holds about a block now.
    ExpectRecord {
        /// The block's label.
        block: String,
        /// The signer's current vote on it.
        vote: RecordedVote,
        /// When it first pre-committed to the block (checked only when present).
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        pre_committed_at: Option<Option<u64>>,
        /// When it first signed the block (checked only when present).
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        signed_at: Option<Option<u64>>,
        /// When it first rejected the block (checked only when present).
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        rejected_at: Option<Option<u64>>,
        /// The reason of its latest rejection (checked only when present).
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        reject_reason: Option<Option<Reason>>,
    },
}

/// A field that is present (possibly `null`) reads as `Some`; an absent one defaults to `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl Step {
    /// The step's `op`.
    pub fn op(&self) -> &'static str {
        match self {
            Step::Vote { .. } => "vote",
            Step::Restart => "restart",
            Step::NetworkAccepted { .. } => "network_accepted",
            Step::NetworkRejected { .. } => "network_rejected",
            Step::Prune { .. } => "prune",
            Step::ImportReferenceDb { .. } => "import_reference_db",
            Step::ExpectRecord { .. } => "expect_record",
        }
    }

    /// The labels of the blocks the step names.
    pub fn labels(&self) -> Vec<&str> {
        match self {
            Step::Vote {
                block,
                conflicts_with,
                ..
            } => std::iter::once(block.as_str())
                .chain(conflicts_with.as_deref())
                .collect(),
            Step::NetworkAccepted { block, .. }
            | Step::NetworkRejected { block, .. }
            | Step::ExpectRecord { block, .. } => vec![block.as_str()],
            Step::ImportReferenceDb { rows } => rows.iter().map(|r| r.block.as_str()).collect(),
            Step::Restart | Step::Prune { .. } => Vec::new(),
        }
    }
}

/// A vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// A `BlockPreCommit`.
    PreCommit,
    /// A `BlockResponse::Accepted` (the signature).
    Accept,
    /// A `BlockResponse::Rejected`.
    Reject,
}

/// A vote step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Recorded: the signer may publish it.
    Recorded,
    /// Refused: the signer must not publish it, and nothing changes.
    Refused,
}

/// Why a vote is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A sibling (same tenure, same height) stands in the way.
    ConflictingBlock,
    /// The signer rejected the block, and this is a signature without a pre-commit since.
    AlreadyRejected,
    /// The signer pre-committed to or signed the block, and this is a rejection.
    AlreadyAccepted,
    /// The block's reward cycle is below the pruning floor.
    BelowPruneFloor,
}

/// A rejection reason (the reference's `RejectReason` names in snake case; those that carry
/// no data, plus `connectivity_issues`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `ConnectivityIssues` (wire code 1).
    ConnectivityIssues,
    /// `RejectedInPriorRound` (2).
    RejectedInPriorRound,
    /// `NoSortitionView` (3).
    NoSortitionView,
    /// `SortitionViewMismatch` (4).
    SortitionViewMismatch,
    /// `ReorgNotAllowed` (6).
    ReorgNotAllowed,
    /// `InvalidMiner` (9).
    InvalidMiner,
    /// `InvalidParentBlock` (11).
    InvalidParentBlock,
    /// `DuplicateBlockFound` (12).
    DuplicateBlockFound,
    /// `InvalidTenureExtend` (13).
    InvalidTenureExtend,
    /// `NoSignerConsensus` (15).
    NoSignerConsensus,
}

/// What a record says the signer's current vote on a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedVote {
    /// No record of the block.
    None,
    /// A pre-commit or a signature (whatever came before).
    Favourable,
    /// A rejection (and no favourable vote since).
    Rejection,
}

/// A row of the reference signer's `blocks` table (schema 18), as far as the rules read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRow {
    /// The block's label.
    pub block: String,
    /// The reference's `state` column: `Unprocessed`, `LocallyAccepted`, `LocallyRejected`,
    /// `GloballyAccepted`, `GloballyRejected` or `PreCommitted`.
    pub state: String,
    /// The `valid` column.
    #[serde(default)]
    pub valid: Option<bool>,
    /// The `signed_self` column (seconds).
    #[serde(default)]
    pub signed_self: Option<u64>,
    /// The `signed_group` column (seconds).
    #[serde(default)]
    pub signed_group: Option<u64>,
    /// The `proposed_time` column (seconds).
    pub proposed_time: u64,
    /// The `reject_reason` of the row's `block_info`.
    #[serde(default)]
    pub reject_reason: Option<Reason>,
}

/// The reference's `state` values.
pub const REFERENCE_STATES: &[&str] = &[
    "Unprocessed",
    "LocallyAccepted",
    "LocallyRejected",
    "GloballyAccepted",
    "GloballyRejected",
    "PreCommitted",
];

impl BlockDef {
    /// The definition of the block with this header, proposed in `reward_cycle`.
    pub fn of(header: &NakamotoBlockHeader, reward_cycle: u64) -> Self {
        Self {
            consensus_hash: to_hex(header.consensus_hash.as_bytes()),
            height: header.chain_length,
            reward_cycle,
            signer_signature_hash: to_hex(header.signer_signature_hash().as_bytes()),
            header: to_hex(&header.serialize_to_vec()),
        }
    }

    /// The decoded header, checked against the other fields.
    pub fn decode(&self) -> Result<NakamotoBlockHeader, String> {
        let bytes = hex_bytes(&self.header).map_err(|e| format!("header: {e}"))?;
        let mut reader = bytes.as_slice();
        let header = NakamotoBlockHeader::consensus_deserialize(&mut reader)
            .map_err(|e| format!("header does not decode: {e}"))?;
        if !reader.is_empty() {
            return Err(format!(
                "header has {} bytes after its encoding",
                reader.len()
            ));
        }
        let ch: [u8; 20] =
            hex_array(&self.consensus_hash).map_err(|e| format!("consensus_hash: {e}"))?;
        let hash: [u8; 32] = hex_array(&self.signer_signature_hash)
            .map_err(|e| format!("signer_signature_hash: {e}"))?;
        if header.consensus_hash.as_bytes() != &ch {
            return Err("consensus_hash is not the header's".into());
        }
        if header.chain_length != self.height {
            return Err(format!(
                "height {} is not the header's chain_length {}",
                self.height, header.chain_length
            ));
        }
        if header.signer_signature_hash() != Sha512Trunc256Sum::from(hash) {
            return Err(format!(
                "signer_signature_hash is not the header's ({})",
                header.signer_signature_hash()
            ));
        }
        if header.tx_merkle_root != Sha512Trunc256Sum::from([0; 32]) {
            return Err("tx_merkle_root is not the empty tree's (all zero)".into());
        }
        Ok(header)
    }
}

impl Fixture {
    /// The checks beyond the JSON shape; `file_stem` is the file's name without `.json`.
    /// Returns every problem found.
    pub fn check(&self, file_stem: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name != file_stem {
            problems.push(format!(
                "name {:?} is not the file name {file_stem:?}",
                self.name
            ));
        }
        if self.description.trim().is_empty() {
            problems.push("empty description".into());
        }
        if self.config.window_secs == 0 {
            problems.push("config.window_secs must be positive".into());
        }
        let mut hashes = BTreeSet::new();
        for (label, def) in &self.blocks {
            if label.is_empty() {
                problems.push("a block with an empty label".into());
            }
            if let Err(e) = def.decode() {
                problems.push(format!("block {label}: {e}"));
            }
            if !hashes.insert(def.signer_signature_hash.to_ascii_lowercase()) {
                problems.push(format!("block {label}: the same block as another label"));
            }
        }
        if self.steps.is_empty() {
            problems.push("no steps".into());
        }
        if !self.steps.iter().any(|s| matches!(s, Step::Vote { .. })) {
            problems.push("no vote step".into());
        }
        let mut used = BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("step {i} ({})", step.op());
            for label in step.labels() {
                used.insert(label.to_string());
                if !self.blocks.contains_key(label) {
                    problems.push(format!("{at}: unknown block {label:?}"));
                }
            }
            match step {
                Step::Vote {
                    vote,
                    reason,
                    expect,
                    refusal,
                    conflicts_with,
                    ..
                } => {
                    if (*vote == VoteKind::Reject) != reason.is_some() {
                        problems.push(format!("{at}: a reason goes with reject, and only there"));
                    }
                    if (*expect == Expect::Refused) != refusal.is_some() {
                        problems.push(format!(
                            "{at}: a refusal goes with expect: refused, and only there"
                        ));
                    }
                    if conflicts_with.is_some() && *refusal != Some(Refusal::ConflictingBlock) {
                        problems.push(format!(
                            "{at}: conflicts_with goes only with a conflicting_block refusal"
                        ));
                    }
                }
                Step::ImportReferenceDb { rows } => {
                    if i != 0 {
                        problems.push(format!("{at}: only the first step may import"));
                    }
                    let mut seen = BTreeSet::new();
                    for row in rows {
                        if !REFERENCE_STATES.contains(&row.state.as_str()) {
                            problems.push(format!("{at}: unknown state {:?}", row.state));
                        }
                        if !seen.insert(row.block.as_str()) {
                            problems.push(format!("{at}: two rows of block {}", row.block));
                        }
                    }
                }
                Step::ExpectRecord {
                    vote,
                    pre_committed_at,
                    signed_at,
                    rejected_at,
                    reject_reason,
                    ..
                } => {
                    let fields = [
                        pre_committed_at.is_some(),
                        signed_at.is_some(),
                        rejected_at.is_some(),
                        reject_reason.is_some(),
                    ];
                    if *vote == RecordedVote::None && fields.iter().any(|f| *f) {
                        problems.push(format!("{at}: no vote, so no times or reason"));
                    }
                }
                Step::Restart
                | Step::Prune { .. }
                | Step::NetworkAccepted { .. }
                | Step::NetworkRejected { .. } => {}
            }
        }
        for label in self.blocks.keys() {
            if !used.contains(label) {
                problems.push(format!("block {label} is never used"));
            }
        }
        problems
    }

    /// The number of vote steps.
    pub fn votes(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Vote { .. }))
            .count()
    }

    /// The file's text: the fields in order, one block and one step per line.
    pub fn to_file_text(&self) -> String {
        let mut out = String::from("{\n");
        out.push_str(&format!("  \"name\": {},\n", json(&self.name)));
        out.push_str(&format!(
            "  \"description\": {},\n",
            json(&self.description)
        ));
        out.push_str(&format!("  \"config\": {},\n", json(&self.config)));
        out.push_str("  \"blocks\": {\n");
        let blocks: Vec<String> = self
            .blocks
            .iter()
            .map(|(label, def)| format!("    {}: {}", json(label), json(def)))
            .collect();
        out.push_str(&blocks.join(",\n"));
        out.push_str("\n  },\n  \"steps\": [\n");
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|step| format!("    {}", json(step)))
            .collect();
        out.push_str(&steps.join(",\n"));
        out.push_str("\n  ]\n}\n");
        out
    }
}

/// `value` as compact JSON.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"<{e}>\""))
}
