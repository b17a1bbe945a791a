//! Scenario files: a TOML list of `[[step]]` tables run in order against a
//! [`RunningMockNode`] (burn blocks, proposals with deviations, expectations, waits,
//! validator knobs, injected signer messages, endpoints down and up, node faults). The format is
//! documented in `docs/mock-node.md` ("Scenario files").

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use libsigner::chain::hex::hex_bytes;
use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, MessageSignature, Sha512Trunc256Sum, StacksBlockId,
    StacksPrivateKey,
};
use libsigner::v0::messages::{BlockResponse, RejectReason, ValidateRejectCode};
use serde::Deserialize;

use super::activity::{Activity, ActivityEntry};
use super::faults::{EventReplay, RpcFault};
use super::miner::{BlockKind, BlockOverrides, ProposeOptions};
use super::node::RunningMockNode;
use super::overrides::{CannedAnswer, InfoOverride, RpcAnswer};
use super::stackerdb::sign_chunk;
use super::state::{BurnBlockOptions, NodeState};
use super::validator::{ForcedRejection, ValidationAnswer};
use super::wire::messages;
use super::wire::{pox_treatment_ones, SignerMessage, TenureChangeCause};
use crate::client::api::{BlockValidateResponse, StacksEpochId};

/// A parsed scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The steps, in order.
    #[serde(default)]
    pub step: Vec<Step>,
}

/// A burn block reference: a label given to an earlier `burn_block` step, or a hex hash.
pub type BurnRef = String;

/// One scenario step; `type` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Adds a burn block.
    BurnBlock {
        /// The winning miner's index (omit for a burn block without a sortition winner).
        winner: Option<usize>,
        /// Build on this burn block (label or hash) instead of the tip: a fork.
        parent: Option<BurnRef>,
        /// The tenure the winner builds on (`stacks_parent_ch`): a burn block label or a
        /// consensus hash (hex); default the canonical Stacks tip's tenure.
        stacks_parent: Option<String>,
        /// Name this burn block for later steps.
        label: Option<String>,
    },
    /// Makes a known burn block (label or hash) the canonical tip.
    SetBurnTip {
        /// The burn block.
        block: BurnRef,
    },
    /// The miner proposes a block.
    Propose {
        /// `tenure_start`, `continue` or `extend` (default: automatic).
        kind: Option<String>,
        /// The tenure-change cause of an `extend` (`extended`, `extended_runtime`,
        /// `extended_read_count`, `extended_read_length`, `extended_write_count`,
        /// `extended_write_length`; default `extended`).
        cause: Option<String>,
        /// Name the proposal for `expect_block`/`inject`/`validation`.
        label: Option<String>,
        /// Sign the block with a key that is not the miner's.
        wrong_miner_key: Option<bool>,
        /// Sign the block with this private key (hex).
        miner_key: Option<String>,
        /// Clear this bit of `pox_treatment` (index into the reward set).
        pox_treatment_zero: Option<u16>,
        /// Parent block id (hex).
        parent_block_id: Option<String>,
        /// Build on a parent that does not exist.
        bad_parent: Option<bool>,
        /// Absolute block timestamp.
        timestamp: Option<u64>,
        /// Block timestamp this many seconds before now (stale).
        stale_timestamp_secs: Option<u64>,
        /// Add a second `BlockFound` tenure change.
        duplicate_tenure_change: Option<bool>,
        /// The reward cycle written in the proposal.
        reward_cycle: Option<u64>,
        /// Added to the reward cycle written in the proposal.
        reward_cycle_offset: Option<i64>,
        /// Header consensus hash (hex).
        consensus_hash: Option<String>,
        /// Chain length.
        chain_length: Option<u64>,
        /// A wrong `tx_merkle_root` (hex).
        tx_merkle_root: Option<String>,
        /// The tenure change's burn view (burn block label, or consensus hash hex).
        burn_view: Option<String>,
        /// Replace the miner signature with these 65 bytes (hex; e.g. `01` followed by 64
        /// bytes with `r = 0`, from which no key can be recovered).
        miner_signature: Option<String>,
    },
    /// Waits for a proposal's outcome.
    ExpectBlock {
        /// The proposal label (default: the last proposal).
        block: Option<String>,
        /// `processed` (default), `rejected` (a signer or the validator rejected it) or
        /// `not_processed` (still unprocessed when the timeout passes).
        outcome: Option<String>,
        /// Timeout (default: the runner's).
        timeout_secs: Option<f64>,
    },
    /// Sleeps.
    Wait {
        /// Seconds (fractions allowed).
        secs: f64,
    },
    /// Validator knobs.
    Validation {
        /// Force a rejection with this `ValidateRejectCode` name (e.g. `InvalidBlock`).
        reject: Option<String>,
        /// The rejection's reason text.
        reason: Option<String>,
        /// Only for this labelled proposal (default: the next proposal).
        block: Option<String>,
        /// Accept proposals but never answer (true) or answer again (false).
        stall: Option<bool>,
        /// Answer the next n proposals with 429.
        busy: Option<u32>,
        /// Delay every validation result by this many milliseconds.
        delay_ms: Option<u64>,
        /// Hold every accepted request until an `answer_validation` step (true) or validate
        /// as usual again (false).
        manual: Option<bool>,
    },
    /// Answers a validation request held in manual mode.
    AnswerValidation {
        /// The proposal (label; default the last proposal).
        block: Option<String>,
        /// Reject with this `ValidateRejectCode` name (default: Ok).
        reject: Option<String>,
        /// The rejection's reason text (default `forced rejection: CODE`).
        reason: Option<String>,
        /// An Ok's `validation_time_ms` (default 0).
        validation_time_ms: Option<u64>,
        /// An Ok with a zero execution cost.
        cost_zero: Option<bool>,
        /// Answer what the simulated validator's checks say.
        checked: Option<bool>,
        /// How long to wait for the request to arrive (default: the runner's timeout).
        timeout_secs: Option<f64>,
    },
    /// Writes a signer message chunk as a simulated or puppet signer.
    Inject {
        /// The signer's index in the current reward set (its slot id); must be simulated or
        /// a puppet.
        signer: u32,
        /// The message id (the `signers-{p}-{id}` StackerDB); default from the message kind.
        message_id: Option<u32>,
        /// Raw chunk data (hex).
        data: Option<String>,
        /// Or a message built here: `accept`, `reject` or `pre_commit`.
        message: Option<String>,
        /// The proposal the message is about (label; default the last proposal).
        block: Option<String>,
        /// The reward cycle whose StackerDB to write (default: the current one).
        cycle: Option<u64>,
        /// For `message = "reject"`: the `RejectReason` (e.g. `ReorgNotAllowed`,
        /// `ConnectivityIssues`), written as libsigner's `BlockRejection::new` builds it.
        /// Default: a `ValidationFailed(InvalidBlock)` rejection with text `injected
        /// rejection`.
        reason: Option<String>,
    },
    /// Sends one `/stackerdb_chunks` event carrying the given chunks, as they are (any key,
    /// not stored, not seen by the miner or the simulated signers).
    InjectChunks {
        /// The contract name (e.g. `signers-0-3`).
        contract: String,
        /// The chunks, in order.
        chunk: Vec<ChunkStep>,
    },
    /// The miner writes the labelled proposal again, at a higher slot version.
    Repropose {
        /// The proposal (label; default the last proposal).
        block: Option<String>,
    },
    /// The miner writes `BlockPushed` of the labelled proposal (with the signatures collected
    /// so far; as processed, if it was) into its pushed-block slot.
    PushBlock {
        /// The proposal (label; default the last proposal).
        block: Option<String>,
    },
    /// The miner writes a `MockProposal` of the node's `/v2/info` view.
    MockProposal {
        /// The miner's index (default: the current winner).
        miner: Option<usize>,
    },
    /// Processes the labelled proposal now (appended, `/new_block` sent), whatever its
    /// signatures.
    ProcessBlock {
        /// The proposal (label; default the last proposal).
        block: Option<String>,
    },
    /// Sends a `/status` probe to every observer.
    StatusCheck {},
    /// Overrides `/v2/info` fields (each omitted field keeps the node's value; `clear`
    /// removes the override).
    Info {
        /// `stacks_tip_height`.
        stacks_tip_height: Option<u64>,
        /// `burn_block_height`.
        burn_block_height: Option<u64>,
        /// `pox_consensus`: a burn block label or consensus hash (hex).
        pox_consensus: Option<String>,
        /// Remove the override.
        clear: Option<bool>,
    },
    /// Makes `/v2/pox` report another `current_epoch` (omitted: the node's own again).
    PoxEpoch {
        /// The epoch name, e.g. `Epoch25`.
        epoch: Option<String>,
    },
    /// Overrides a tenure's `/v3/tenures/tip_metadata` answer.
    TenureTip {
        /// The tenure: a burn block label or consensus hash (hex).
        tenure: String,
        /// Answer this error status.
        status: Option<u16>,
        /// Or this proposal's header (label) as the tip.
        block: Option<String>,
        /// The tip's burn view (burn block label or consensus hash; default the tenure).
        burn_view: Option<String>,
        /// Remove the override.
        clear: Option<bool>,
    },
    /// Answers a path with a fixed answer before any routing.
    Respond {
        /// The method (default `GET`).
        method: Option<String>,
        /// The exact path, without the query (e.g. `/v3/sortitions/latest_and_last`).
        path: String,
        /// The status (default 200).
        status: Option<u16>,
        /// The body: JSON if it parses as JSON, else plain text (default: the status's
        /// reason phrase).
        body: Option<String>,
        /// Remove the answer.
        clear: Option<bool>,
    },
    /// Answers 503 on paths starting with `path`.
    EndpointDown {
        /// Path prefix, e.g. `/v3/block_proposal`.
        path: String,
    },
    /// Brings an endpoint back.
    EndpointUp {
        /// The prefix given to `endpoint_down`.
        path: String,
    },
    /// A node fault on paths starting with `path` ([`RunningMockNode::set_rpc_fault`]).
    RpcFault {
        /// Path prefix (default `/`: every endpoint).
        path: Option<String>,
        /// `slow` (answers after `secs`), `garbage` (200 with a body that is not JSON) or
        /// `status` (that `status`, default 500).
        fault: Option<String>,
        /// For `slow`: seconds per answer (default 10).
        secs: Option<f64>,
        /// For `status`: the status code (default 500).
        status: Option<u16>,
        /// Remove the prefix's fault.
        clear: Option<bool>,
    },
    /// Pauses event delivery ([`RunningMockNode::pause_events`]).
    PauseEvents {},
    /// Resumes event delivery ([`RunningMockNode::resume_events`]).
    ResumeEvents {
        /// `in_order` (default), `reversed` or `shuffled` (with `seed`, default 0).
        order: Option<String>,
        /// The shuffle's seed.
        seed: Option<u64>,
    },
    /// Mines tenures as `--tenures` does.
    Tenures {
        /// How many.
        tenures: usize,
        /// Blocks per tenure (default 1).
        blocks_per_tenure: Option<usize>,
    },
}

/// Why a `burn_view` on a `continue` block is refused (it has no tenure change to carry it).
pub const BURN_VIEW_WITHOUT_TENURE_CHANGE: &str =
    "`burn_view` needs a tenure change (kind `tenure_start` or `extend`); a `continue` block has none";

impl Scenario {
    /// Parses a scenario; errors are one line naming the unknown type or field.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let message = e.message().replace('\n', " ");
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        for (i, step) in scenario.step.iter().enumerate() {
            step.check()
                .map_err(|e| format!("step {} ({}): {e}", i + 1, step.name()))?;
        }
        Ok(scenario)
    }
}

impl Step {
    /// The step's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Step::BurnBlock { .. } => "burn_block",
            Step::SetBurnTip { .. } => "set_burn_tip",
            Step::Propose { .. } => "propose",
            Step::ExpectBlock { .. } => "expect_block",
            Step::Wait { .. } => "wait",
            Step::Validation { .. } => "validation",
            Step::Inject { .. } => "inject",
            Step::EndpointDown { .. } => "endpoint_down",
            Step::EndpointUp { .. } => "endpoint_up",
            Step::RpcFault { .. } => "rpc_fault",
            Step::PauseEvents {} => "pause_events",
            Step::ResumeEvents { .. } => "resume_events",
            Step::Tenures { .. } => "tenures",
            Step::AnswerValidation { .. } => "answer_validation",
            Step::InjectChunks { .. } => "inject_chunks",
            Step::Repropose { .. } => "repropose",
            Step::PushBlock { .. } => "push_block",
            Step::MockProposal { .. } => "mock_proposal",
            Step::ProcessBlock { .. } => "process_block",
            Step::StatusCheck {} => "status_check",
            Step::Info { .. } => "info",
            Step::PoxEpoch { .. } => "pox_epoch",
            Step::TenureTip { .. } => "tenure_tip",
            Step::Respond { .. } => "respond",
        }
    }

    /// Value checks that need no node.
    fn check(&self) -> Result<(), String> {
        match self {
            Step::Propose {
                kind,
                cause,
                burn_view,
                ..
            } => {
                let kind = parse_kind(kind.as_deref(), cause.as_deref())?;
                if burn_view.is_some() && kind == Some(BlockKind::Continue) {
                    return Err(BURN_VIEW_WITHOUT_TENURE_CHANGE.into());
                }
                Ok(())
            }
            Step::ExpectBlock { outcome, .. } => match outcome.as_deref() {
                None | Some("processed" | "rejected" | "not_processed") => Ok(()),
                Some(other) => Err(format!(
                    "unknown outcome `{other}` (processed, rejected, not_processed)"
                )),
            },
            Step::Wait { secs } if !secs.is_finite() || *secs < 0.0 => {
                Err("`secs` must be a non-negative number".into())
            }
            Step::Validation {
                reject: Some(code), ..
            } => parse_code(code).map(|_| ()),
            Step::Inject {
                data,
                message,
                reason,
                ..
            } => {
                if let Some(reason) = reason {
                    if message.as_deref() != Some("reject") {
                        return Err("`reason` goes with `message = \"reject\"`".into());
                    }
                    parse_reject_reason(reason)?;
                }
                match (data, message.as_deref()) {
                    (Some(_), None) | (None, Some("accept" | "reject" | "pre_commit")) => Ok(()),
                    (None, Some(other)) => Err(format!(
                        "unknown message `{other}` (accept, reject, pre_commit)"
                    )),
                    _ => Err("give exactly one of `data` and `message`".into()),
                }
            }
            Step::AnswerValidation {
                reject,
                validation_time_ms,
                cost_zero,
                checked,
                reason,
                ..
            } => {
                let ok_fields = validation_time_ms.is_some() || cost_zero.is_some();
                if let Some(code) = reject {
                    parse_code(code)?;
                }
                match (reject.is_some(), ok_fields, checked == &Some(true)) {
                    (true, true, _) | (true, _, true) | (_, true, true) => {
                        Err("give at most one of `reject`, the Ok fields and `checked`".into())
                    }
                    (false, _, _) if reason.is_some() => Err("`reason` goes with `reject`".into()),
                    _ => Ok(()),
                }
            }
            Step::InjectChunks { chunk, .. } => {
                if chunk.is_empty() {
                    return Err("give at least one `chunk`".into());
                }
                for c in chunk {
                    if c.key.is_some() == c.signer.is_some() {
                        return Err("each chunk needs exactly one of `key` and `signer`".into());
                    }
                }
                Ok(())
            }
            Step::PoxEpoch { epoch: Some(e) } => parse_epoch(e).map(|_| ()),
            Step::TenureTip {
                status,
                block,
                clear,
                ..
            } => match (status.is_some(), block.is_some(), clear == &Some(true)) {
                (true, false, false) | (false, true, false) | (false, false, true) => Ok(()),
                _ => Err("give exactly one of `status`, `block` and `clear = true`".into()),
            },
            _ => Ok(()),
        }
    }
}

fn parse_kind(kind: Option<&str>, cause: Option<&str>) -> Result<Option<BlockKind>, String> {
    let cause = match cause.unwrap_or("extended") {
        "extended" => TenureChangeCause::Extended,
        "extended_runtime" => TenureChangeCause::ExtendedRuntime,
        "extended_read_count" => TenureChangeCause::ExtendedReadCount,
        "extended_read_length" => TenureChangeCause::ExtendedReadLength,
        "extended_write_count" => TenureChangeCause::ExtendedWriteCount,
        "extended_write_length" => TenureChangeCause::ExtendedWriteLength,
        other => return Err(format!("unknown tenure extend cause `{other}`")),
    };
    match kind {
        None => Ok(None),
        Some("tenure_start") => Ok(Some(BlockKind::TenureStart)),
        Some("continue") => Ok(Some(BlockKind::Continue)),
        Some("extend") => Ok(Some(BlockKind::Extend(cause))),
        Some(other) => Err(format!(
            "unknown block kind `{other}` (tenure_start, continue, extend)"
        )),
    }
}

/// A raw chunk of an `inject_chunks` step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkStep {
    /// The slot id.
    pub slot: u32,
    /// The chunk data (hex).
    pub data: String,
    /// Sign with this private key (hex), in the set or not.
    pub key: Option<String>,
    /// Or with the key of this simulated or puppet signer of the current cycle.
    pub signer: Option<u32>,
    /// The slot version (default: the slot's next).
    pub version: Option<u32>,
}

/// A `RejectReason` by its variant name (`ConnectivityIssues` carries the text
/// `injected`; variants with other data are refused).
fn parse_reject_reason(name: &str) -> Result<RejectReason, String> {
    if name == "ConnectivityIssues" {
        return Ok(RejectReason::ConnectivityIssues("injected".into()));
    }
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| format!("unknown reject reason `{name}`"))
}

fn parse_epoch(name: &str) -> Result<StacksEpochId, String> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| format!("unknown epoch `{name}` (e.g. Epoch25, Epoch33)"))
}

fn parse_code(code: &str) -> Result<ValidateRejectCode, String> {
    serde_json::from_value(serde_json::Value::String(code.to_string()))
        .map_err(|_| format!("unknown reject code `{code}`"))
}

fn hex_err<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("invalid {what}: {e}"))
}

/// Runs scenarios against a node, remembering labels and what the signers did.
pub struct ScenarioRunner<'a> {
    node: &'a RunningMockNode,
    timeout: Duration,
    activity: Receiver<ActivityEntry>,
    burn_labels: HashMap<String, (BurnchainHeaderHash, ConsensusHash)>,
    block_labels: HashMap<String, Sha512Trunc256Sum>,
    last_proposal: Option<Sha512Trunc256Sum>,
    rejected: HashSet<Sha512Trunc256Sum>,
}

impl<'a> ScenarioRunner<'a> {
    /// A runner for `node`; `timeout` bounds every wait without its own timeout.
    pub fn new(node: &'a RunningMockNode, timeout: Duration) -> Self {
        ScenarioRunner {
            node,
            timeout,
            activity: node.subscribe(),
            burn_labels: HashMap::new(),
            block_labels: HashMap::new(),
            last_proposal: None,
            rejected: HashSet::new(),
        }
    }

    /// The signer signature hash of the proposal labelled `label` (`None`: the last one).
    pub fn proposal(&self, label: Option<&str>) -> Option<Sha512Trunc256Sum> {
        self.block(label).ok()
    }

    /// The hash and consensus hash of the burn block labelled `label`.
    pub fn burn_block(&self, label: &str) -> Option<(BurnchainHeaderHash, ConsensusHash)> {
        self.burn_labels.get(label).copied()
    }

    /// Runs every step; the error names the failing step.
    pub fn run(&mut self, scenario: &Scenario) -> Result<(), String> {
        for (i, step) in scenario.step.iter().enumerate() {
            self.step(step)
                .map_err(|e| format!("step {} ({}): {e}", i + 1, step.name()))?;
        }
        Ok(())
    }

    fn drain(&mut self) {
        while let Ok(entry) = self.activity.try_recv() {
            match entry.activity {
                Activity::ValidationResult(BlockValidateResponse::Reject(r)) => {
                    self.rejected.insert(r.signer_signature_hash);
                }
                Activity::ChunkWrite { data, .. } => {
                    if let Ok(SignerMessage::BlockResponse(BlockResponse::Rejected(r))) =
                        messages::decode(&data)
                    {
                        self.rejected.insert(r.signer_signature_hash);
                    }
                }
                _ => {}
            }
        }
    }

    fn burn(&self, r: &str) -> Result<(BurnchainHeaderHash, ConsensusHash), String> {
        if let Some(found) = self.burn_labels.get(r) {
            return Ok(*found);
        }
        let hash =
            BurnchainHeaderHash::from_hex(r).map_err(|_| format!("unknown burn block `{r}`"))?;
        let ch = self
            .node
            .with_state(|s| s.burnchain.get(&hash).map(|b| b.consensus_hash))
            .ok_or_else(|| format!("unknown burn block `{r}`"))?;
        Ok((hash, ch))
    }

    /// A consensus hash named by a burn block label or given as hex.
    fn consensus_hash(&self, r: &str) -> Result<ConsensusHash, String> {
        if let Some((_, ch)) = self.burn_labels.get(r) {
            return Ok(*ch);
        }
        ConsensusHash::from_hex(r)
            .map_err(|_| format!("`{r}` is neither a burn block label nor a consensus hash"))
    }

    fn block(&self, label: Option<&str>) -> Result<Sha512Trunc256Sum, String> {
        match label {
            Some(l) => self
                .block_labels
                .get(l)
                .copied()
                .ok_or_else(|| format!("unknown block label `{l}`")),
            None => self
                .last_proposal
                .ok_or_else(|| "no proposal yet".to_string()),
        }
    }

    /// Runs one step.
    pub fn step(&mut self, step: &Step) -> Result<(), String> {
        let node = self.node;
        match step {
            Step::BurnBlock {
                winner,
                parent,
                stacks_parent,
                label,
            } => {
                let parent = match parent {
                    Some(p) => Some(self.burn(p)?.0),
                    None => None,
                };
                let stacks_parent_ch = match stacks_parent {
                    Some(t) => Some(self.consensus_hash(t)?),
                    None => None,
                };
                let block = node.advance_burn_block(&BurnBlockOptions {
                    winner: *winner,
                    parent,
                    stacks_parent_ch,
                    ..BurnBlockOptions::default()
                })?;
                if let Some(label) = label {
                    self.burn_labels
                        .insert(label.clone(), (block.hash, block.consensus_hash));
                }
            }
            Step::SetBurnTip { block } => {
                let (hash, _) = self.burn(block)?;
                node.set_burn_tip(&hash)?;
            }
            Step::Propose {
                kind,
                cause,
                label,
                wrong_miner_key,
                miner_key,
                pox_treatment_zero,
                parent_block_id,
                bad_parent,
                timestamp,
                stale_timestamp_secs,
                duplicate_tenure_change,
                reward_cycle,
                reward_cycle_offset,
                consensus_hash,
                chain_length,
                tx_merkle_root,
                burn_view,
                miner_signature,
            } => {
                let mut o = BlockOverrides {
                    timestamp: *timestamp,
                    chain_length: *chain_length,
                    reward_cycle: *reward_cycle,
                    duplicate_tenure_change: duplicate_tenure_change.unwrap_or(false),
                    ..BlockOverrides::default()
                };
                if wrong_miner_key == &Some(true) {
                    o.miner_key = Some(StacksPrivateKey::from_seed(
                        b"mock-node scenario wrong miner",
                    ));
                }
                if let Some(k) = miner_key {
                    o.miner_key = Some(hex_err("miner_key", StacksPrivateKey::from_hex(k))?);
                }
                if let Some(bit) = pox_treatment_zero {
                    let len = node.with_state(|s| {
                        let cycle = s.current_cycle();
                        s.reward_sets
                            .get(cycle)
                            .map(|r| r.signers.len())
                            .unwrap_or(1)
                    });
                    let mut bits = pox_treatment_ones(len);
                    bits.set(*bit, false)
                        .map_err(|e| format!("pox_treatment_zero {bit}: {e:?}"))?;
                    o.pox_treatment = Some(bits);
                }
                if let Some(p) = parent_block_id {
                    o.parent_block_id =
                        Some(hex_err("parent_block_id", StacksBlockId::from_hex(p))?);
                }
                if bad_parent == &Some(true) {
                    o.parent_block_id = Some(StacksBlockId([0xbd; 32]));
                }
                if let Some(secs) = stale_timestamp_secs {
                    o.timestamp = Some(node.with_state(|s| s.now_secs()).saturating_sub(*secs));
                }
                if let Some(offset) = reward_cycle_offset {
                    let cycle = node.with_state(|s| s.current_cycle());
                    o.reward_cycle = Some(cycle.saturating_add_signed(*offset));
                }
                if let Some(ch) = consensus_hash {
                    o.consensus_hash =
                        Some(hex_err("consensus_hash", ConsensusHash::from_hex(ch))?);
                }
                if let Some(root) = tx_merkle_root {
                    o.tx_merkle_root = Some(hex_err(
                        "tx_merkle_root",
                        Sha512Trunc256Sum::from_hex(root),
                    )?);
                }
                if let Some(sig) = miner_signature {
                    o.miner_signature =
                        Some(hex_err("miner_signature", MessageSignature::from_hex(sig))?);
                }
                if let Some(view) = burn_view {
                    o.burn_view = Some(match self.burn_labels.get(view) {
                        Some((_, ch)) => *ch,
                        None => hex_err("burn_view", ConsensusHash::from_hex(view))?,
                    });
                }
                let proposal = node.propose_block(&ProposeOptions {
                    kind: parse_kind(kind.as_deref(), cause.as_deref())?,
                    overrides: o,
                })?;
                let hash = proposal.signer_signature_hash;
                self.last_proposal = Some(hash);
                if let Some(label) = label {
                    self.block_labels.insert(label.clone(), hash);
                }
            }
            Step::ExpectBlock {
                block,
                outcome,
                timeout_secs,
            } => {
                let hash = self.block(block.as_deref())?;
                let timeout = timeout_secs
                    .map(Duration::from_secs_f64)
                    .unwrap_or(self.timeout);
                let deadline = Instant::now() + timeout;
                let processed = |n: &RunningMockNode| {
                    n.with_state(|s: &mut NodeState| {
                        s.stacks
                            .all()
                            .any(|b| b.block.header.signer_signature_hash() == hash)
                    })
                };
                match outcome.as_deref().unwrap_or("processed") {
                    "processed" => {
                        if node.wait_for_block(&hash, timeout).is_none() {
                            return Err(format!(
                                "block {hash} was not processed within {timeout:?}"
                            ));
                        }
                    }
                    "rejected" => loop {
                        self.drain();
                        if self.rejected.contains(&hash) {
                            break;
                        }
                        if Instant::now() >= deadline {
                            return Err(format!(
                                "block {hash} was not rejected within {timeout:?}"
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    },
                    _ => {
                        while Instant::now() < deadline {
                            if processed(node) {
                                return Err(format!("block {hash} was processed"));
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            }
            Step::Wait { secs } => std::thread::sleep(Duration::from_secs_f64(*secs)),
            Step::Validation {
                reject,
                reason,
                block,
                stall,
                busy,
                delay_ms,
                manual,
            } => {
                if let Some(code) = reject {
                    let signer_signature_hash = match block {
                        Some(l) => Some(self.block(Some(l))?),
                        None => None,
                    };
                    node.force_rejection(ForcedRejection {
                        signer_signature_hash,
                        code: parse_code(code)?,
                        reason: reason
                            .clone()
                            .unwrap_or_else(|| format!("forced rejection: {code}")),
                    });
                }
                if let Some(stall) = stall {
                    node.set_validation_stall(*stall);
                }
                if let Some(n) = busy {
                    node.set_busy_responses(*n);
                }
                if let Some(ms) = delay_ms {
                    node.set_validation_delay(Duration::from_millis(*ms));
                }
                if let Some(manual) = manual {
                    node.set_manual_validation(*manual);
                }
            }
            Step::AnswerValidation {
                block,
                reject,
                reason,
                validation_time_ms,
                cost_zero,
                checked,
                timeout_secs,
            } => {
                let hash = self.block(block.as_deref())?;
                let timeout = timeout_secs
                    .map(Duration::from_secs_f64)
                    .unwrap_or(self.timeout);
                if !node.wait_for_held_validation(&hash, timeout) {
                    return Err(format!(
                        "no validation request for {hash} was held within {timeout:?}"
                    ));
                }
                let answer = match (reject, checked) {
                    (Some(code), _) => ValidationAnswer::Reject {
                        code: parse_code(code)?,
                        reason: reason
                            .clone()
                            .unwrap_or_else(|| format!("forced rejection: {code}")),
                    },
                    (None, Some(true)) => ValidationAnswer::Checked,
                    _ => ValidationAnswer::Ok {
                        validation_time_ms: validation_time_ms.unwrap_or(0),
                        cost_zero: cost_zero.unwrap_or(false),
                    },
                };
                node.answer_validation(&hash, answer)?;
            }
            Step::Inject { .. } => self.inject(step)?,
            Step::InjectChunks { contract, chunk } => {
                let mut chunks = Vec::new();
                for c in chunk {
                    let data = hex_err("data", hex_bytes(&c.data))?;
                    let key = match (&c.key, c.signer) {
                        (Some(k), _) => hex_err("key", StacksPrivateKey::from_hex(k))?,
                        (None, Some(i)) => {
                            node.with_state(|s| s.held_signer_key(s.current_cycle(), i))?
                        }
                        (None, None) => return Err("a chunk needs `key` or `signer`".into()),
                    };
                    let mut built = node.signed_chunk(contract, c.slot, &key, data.clone());
                    if let Some(version) = c.version {
                        built = sign_chunk(&key, c.slot, version, data);
                    }
                    chunks.push(built);
                }
                node.inject_chunks(contract, &chunks)?;
            }
            Step::Repropose { block } => {
                let hash = self.block(block.as_deref())?;
                let ack = node.repropose(&hash)?;
                if !ack.accepted {
                    return Err(format!("chunk refused: {}", ack.reason.unwrap_or_default()));
                }
            }
            Step::PushBlock { block } => {
                let hash = self.block(block.as_deref())?;
                let pushed = node
                    .with_state(|s| {
                        let stored = s
                            .stacks
                            .all()
                            .find(|b| b.block.header.signer_signature_hash() == hash)
                            .map(|b| b.block.clone());
                        stored.or_else(|| {
                            s.pending.get(&hash).map(|p| {
                                let mut block = p.block.clone();
                                block.header.signer_signature =
                                    p.signatures.values().copied().collect();
                                block
                            })
                        })
                    })
                    .ok_or_else(|| format!("no proposal {hash}"))?;
                node.push_block(&pushed)?;
            }
            Step::MockProposal { miner } => {
                node.propose_mock(*miner)?;
            }
            Step::ProcessBlock { block } => {
                let hash = self.block(block.as_deref())?;
                node.process_proposed_block(&hash)?;
            }
            Step::StatusCheck {} => node.send_status_check(),
            Step::Info {
                stacks_tip_height,
                burn_block_height,
                pox_consensus,
                clear,
            } => {
                let info = if clear == &Some(true) {
                    InfoOverride::default()
                } else {
                    InfoOverride {
                        stacks_tip_height: *stacks_tip_height,
                        burn_block_height: *burn_block_height,
                        pox_consensus: match pox_consensus {
                            Some(c) => Some(self.consensus_hash(c)?),
                            None => None,
                        },
                        ..InfoOverride::default()
                    }
                };
                node.set_info_override(info);
            }
            Step::PoxEpoch { epoch } => {
                let epoch = match epoch {
                    Some(e) => Some(parse_epoch(e)?),
                    None => None,
                };
                node.set_pox_epoch_override(epoch);
            }
            Step::TenureTip {
                tenure,
                status,
                block,
                burn_view,
                clear: _,
            } => {
                let ch = self.consensus_hash(tenure)?;
                let answer = match (status, block) {
                    (Some(status), _) => Some(RpcAnswer::Status(*status)),
                    (None, Some(label)) => {
                        let hash = self.block(Some(label))?;
                        let header = node
                            .with_state(|s| s.pending.get(&hash).map(|p| p.block.header.clone()))
                            .ok_or_else(|| format!("no proposal {hash}"))?;
                        let view = match burn_view {
                            Some(v) => self.consensus_hash(v)?,
                            None => ch,
                        };
                        Some(RpcAnswer::tenure_tip(&header, Some(view)))
                    }
                    (None, None) => None,
                };
                node.set_tenure_tip_override(&ch, answer);
            }
            Step::Respond {
                method,
                path,
                status,
                body,
                clear,
            } => {
                let method = method.as_deref().unwrap_or("GET");
                let answer = if clear == &Some(true) {
                    None
                } else {
                    let status = status.unwrap_or(200);
                    Some(match body {
                        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                            Ok(json) => CannedAnswer::json(status, &json),
                            Err(_) => CannedAnswer::text(status, text.clone()),
                        },
                        None => CannedAnswer::status(status),
                    })
                };
                node.set_canned_answer(method, path, answer);
            }
            Step::EndpointDown { path } => node.set_endpoint_down(path, true),
            Step::EndpointUp { path } => node.set_endpoint_down(path, false),
            Step::RpcFault {
                path,
                fault,
                secs,
                status,
                clear,
            } => {
                let path = path.as_deref().unwrap_or("/");
                let fault = if clear == &Some(true) {
                    None
                } else {
                    Some(match fault.as_deref() {
                        Some("slow") => {
                            let secs = secs.unwrap_or(10.0);
                            let delay = Duration::try_from_secs_f64(secs)
                                .map_err(|_| format!("rpc_fault: bad secs {secs}"))?;
                            RpcFault::Delay(delay)
                        }
                        Some("garbage") => RpcFault::Garbage,
                        Some("status") => RpcFault::Status(status.unwrap_or(500)),
                        other => {
                            return Err(format!(
                                "rpc_fault: fault must be slow, garbage or status, not {other:?}"
                            ))
                        }
                    })
                };
                node.set_rpc_fault(path, fault);
            }
            Step::PauseEvents {} => node.pause_events(),
            Step::ResumeEvents { order, seed } => {
                let replay = match order.as_deref() {
                    None | Some("in_order") => EventReplay::InOrder,
                    Some("reversed") => EventReplay::Reversed,
                    Some("shuffled") => EventReplay::Shuffled(seed.unwrap_or(0)),
                    Some(other) => {
                        return Err(format!(
                            "resume_events: order must be in_order, reversed or shuffled, not {other:?}"
                        ))
                    }
                };
                node.resume_events(replay);
            }
            Step::Tenures {
                tenures,
                blocks_per_tenure,
            } => {
                node.mine_tenures(*tenures, blocks_per_tenure.unwrap_or(1), self.timeout)?;
            }
        }
        Ok(())
    }

    /// Runs an `inject` step (any other step is ignored).
    fn inject(&mut self, step: &Step) -> Result<(), String> {
        let Step::Inject {
            signer,
            message_id,
            data,
            message,
            block,
            cycle,
            reason,
        } = step
        else {
            return Ok(());
        };
        let (signer, message_id, cycle) = (*signer, *message_id, *cycle);
        let (data, message) = (data.as_deref(), message.as_deref());
        let hash = match message {
            Some(_) => Some(self.block(block.as_deref())?),
            None => None,
        };
        let reason = reason.as_deref().map(parse_reject_reason).transpose()?;
        self.node.with_state(|s| {
            let cycle = cycle.unwrap_or_else(|| s.current_cycle());
            let key = s.held_signer_key(cycle, signer)?;
            let mainnet = s.config.mainnet;
            let version = s.config.server_version.clone();
            let (bytes, default_id) = match (data, message, hash) {
                (Some(hex), _, _) => (hex_err("data", hex_bytes(hex))?, 1),
                (None, Some("pre_commit"), Some(h)) => (messages::block_pre_commit(&h), 3),
                (None, Some("accept"), Some(h)) => {
                    let sig = key.sign(&h.0).map_err(|e| format!("signing failed: {e}"))?;
                    (
                        messages::block_accepted(&h, &sig, "", u64::MAX, u64::MAX),
                        1,
                    )
                }
                (None, Some(_), Some(h)) if reason.is_some() => (
                    messages::signer_rejection(
                        &key,
                        &h,
                        reason.clone().unwrap_or(RejectReason::NotRejected),
                        mainnet,
                        &version,
                        (u64::MAX, u64::MAX),
                    ),
                    1,
                ),
                (None, Some(_), Some(h)) => (
                    messages::block_rejection(
                        &key,
                        &h,
                        "injected rejection",
                        ValidateRejectCode::InvalidBlock,
                        mainnet,
                        "",
                        (u64::MAX, u64::MAX),
                    ),
                    1,
                ),
                _ => return Err("nothing to inject".to_string()),
            };
            let contract = NodeState::signers_contract(cycle, message_id.unwrap_or(default_id));
            let ack = s
                .write_internal(&contract, signer, &key, bytes)
                .map_err(|_| format!("no StackerDB {contract}"))?;
            if ack.accepted {
                Ok(())
            } else {
                Err(format!("chunk refused: {}", ack.reason.unwrap_or_default()))
            }
        })
    }
}
