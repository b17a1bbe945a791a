//! The safety fixture cases, written out here and generated into
//! `stacks-signer/tests/fixtures/safety/*.json`.
//!
//! Every expectation below is written from the rules (docs/compatibility.md, "Safety: the
//! own-vote record"), never recorded from a run.

use std::collections::BTreeMap;

use super::format::{
    BlockDef, Config, Expect, Fixture, Reason, RecordedVote, ReferenceRow, Refusal, Step, VoteKind,
};
use crate::signerdb_support::block;

/// The time of the first step of most cases (seconds since the Unix epoch).
pub const T0: u64 = 1_700_000_000;
/// The window of most cases (seconds).
const WINDOW: u64 = 30;

/// The blocks cases may name: label, tenure byte, height, variant, reward cycle.
///
/// A, B, C are siblings (tenure 1, height 5); D and E are the heights above and below them;
/// X, X2, Y, Z are in tenure 2 (X and X2 siblings at height 5); P and Q are siblings of
/// reward cycle 40, R and R2 of 41, S is in 43.
const BLOCKS: &[(&str, u8, u64, u8, u64)] = &[
    ("A", 1, 5, 1, 42),
    ("B", 1, 5, 2, 42),
    ("C", 1, 5, 3, 42),
    ("D", 1, 6, 1, 42),
    ("E", 1, 4, 1, 42),
    ("X", 2, 5, 1, 42),
    ("X2", 2, 5, 2, 42),
    ("Y", 2, 6, 1, 42),
    ("Z", 2, 7, 1, 42),
    ("P", 3, 5, 1, 40),
    ("Q", 3, 5, 2, 40),
    ("R", 4, 5, 1, 41),
    ("R2", 4, 5, 2, 41),
    ("S", 5, 5, 1, 43),
];

fn block_def(label: &str) -> BlockDef {
    let &(_, tenure, height, variant, cycle) = BLOCKS
        .iter()
        .find(|b| b.0 == label)
        .unwrap_or_else(|| panic!("no block {label} in the case table"));
    BlockDef::of(&block(tenure, height, variant).header, cycle)
}

/// A case under construction.
struct Case {
    name: &'static str,
    description: &'static str,
    window: u64,
    steps: Vec<Step>,
}

fn case(name: &'static str, description: &'static str) -> Case {
    Case {
        name,
        description,
        window: WINDOW,
        steps: Vec::new(),
    }
}

impl Case {
    fn window(mut self, secs: u64) -> Self {
        self.window = secs;
        self
    }

    fn steps(mut self, steps: Vec<Step>) -> Self {
        self.steps.extend(steps);
        self
    }

    fn build(self) -> Fixture {
        let mut blocks = BTreeMap::new();
        for step in &self.steps {
            for label in step.labels() {
                blocks
                    .entry(label.to_string())
                    .or_insert_with(|| block_def(label));
            }
        }
        Fixture {
            name: self.name.to_string(),
            description: self.description.to_string(),
            config: Config {
                window_secs: self.window,
            },
            blocks,
            steps: self.steps,
        }
    }
}

/// A vote step under construction.
struct V {
    block: &'static str,
    vote: VoteKind,
    reason: Option<Reason>,
    at: u64,
    tip: Option<u64>,
}

fn pre(block: &'static str, at: u64) -> V {
    V {
        block,
        vote: VoteKind::PreCommit,
        reason: None,
        at,
        tip: None,
    }
}

fn acc(block: &'static str, at: u64) -> V {
    V {
        vote: VoteKind::Accept,
        ..pre(block, at)
    }
}

fn rej(block: &'static str, reason: Reason, at: u64) -> V {
    V {
        vote: VoteKind::Reject,
        reason: Some(reason),
        ..pre(block, at)
    }
}

impl V {
    /// The node's tip height of the tenure, as the signer learnt it.
    fn tip(mut self, height: u64) -> Self {
        self.tip = Some(height);
        self
    }

    fn step(self, expect: Expect, refusal: Option<Refusal>, with: Option<&str>) -> Step {
        Step::Vote {
            block: self.block.to_string(),
            vote: self.vote,
            reason: self.reason,
            at: self.at,
            tenure_tip_height: self.tip,
            expect,
            refusal,
            conflicts_with: with.map(str::to_string),
        }
    }

    fn ok(self) -> Step {
        self.step(Expect::Recorded, None, None)
    }

    fn refused(self, refusal: Refusal) -> Step {
        self.step(Expect::Refused, Some(refusal), None)
    }

    fn conflict(self, with: &str) -> Step {
        self.step(Expect::Refused, Some(Refusal::ConflictingBlock), Some(with))
    }

    fn flip_a(self) -> Step {
        self.refused(Refusal::AlreadyAccepted)
    }

    fn flip_r(self) -> Step {
        self.refused(Refusal::AlreadyRejected)
    }

    fn floor(self) -> Step {
        self.refused(Refusal::BelowPruneFloor)
    }
}

fn restart() -> Step {
    Step::Restart
}

fn net_acc(block: &str, at: u64) -> Step {
    Step::NetworkAccepted {
        block: block.to_string(),
        at,
    }
}

fn net_rej(block: &str, at: u64) -> Step {
    Step::NetworkRejected {
        block: block.to_string(),
        at,
    }
}

fn prune(min_reward_cycle: u64) -> Step {
    Step::Prune { min_reward_cycle }
}

fn import(rows: Vec<ReferenceRow>) -> Step {
    Step::ImportReferenceDb { rows }
}

fn row(block: &str, state: &str, proposed_time: u64) -> ReferenceRow {
    ReferenceRow {
        block: block.to_string(),
        state: state.to_string(),
        valid: None,
        signed_self: None,
        signed_group: None,
        proposed_time,
        reject_reason: None,
    }
}

/// A reference row the reference's own vote left: valid, `signed_self` at `at`.
fn voted_row(block: &str, state: &str, at: u64) -> ReferenceRow {
    ReferenceRow {
        valid: Some(true),
        signed_self: Some(at),
        ..row(block, state, at.saturating_sub(2))
    }
}

/// An `expect_record` step under construction.
struct R {
    block: &'static str,
    vote: RecordedVote,
    pre: Option<Option<u64>>,
    signed: Option<Option<u64>>,
    rejected: Option<Option<u64>>,
    reason: Option<Option<Reason>>,
}

fn record(block: &'static str, vote: RecordedVote) -> R {
    R {
        block,
        vote,
        pre: None,
        signed: None,
        rejected: None,
        reason: None,
    }
}

fn no_record(block: &'static str) -> Step {
    record(block, RecordedVote::None).s()
}

fn favourable(block: &'static str) -> R {
    record(block, RecordedVote::Favourable)
}

fn rejection(block: &'static str) -> R {
    record(block, RecordedVote::Rejection)
}

impl R {
    fn pre(mut self, at: Option<u64>) -> Self {
        self.pre = Some(at);
        self
    }

    fn signed(mut self, at: Option<u64>) -> Self {
        self.signed = Some(at);
        self
    }

    fn rejected(mut self, at: Option<u64>) -> Self {
        self.rejected = Some(at);
        self
    }

    fn reason(mut self, reason: Option<Reason>) -> Self {
        self.reason = Some(reason);
        self
    }

    fn s(self) -> Step {
        Step::ExpectRecord {
            block: self.block.to_string(),
            vote: self.vote,
            pre_committed_at: self.pre,
            signed_at: self.signed,
            rejected_at: self.rejected,
            reject_reason: self.reason,
        }
    }
}

use Reason::*;

/// Every case, in the order `docs/testing.md` lists them.
pub fn all() -> Vec<Fixture> {
    [
        resign_cases(),
        sibling_cases(),
        reorg_cases(),
        restart_cases(),
        flip_cases(),
        clock_cases(),
        prune_cases(),
        import_cases(),
    ]
    .into_iter()
    .flatten()
    .map(Case::build)
    .collect()
}

/// Re-signing the same block: always allowed, the first times kept.
fn resign_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
        "resign_pre_commit_repeats",
        "A pre-commit repeated, even long after and with the tenure tip unknown, is recorded; the record keeps the first time.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("A", t + 1).ok(),
        pre("A", t + 100 * w).ok(),
        favourable("A").pre(Some(t)).signed(None).rejected(None).s(),
    ]),
        case(
        "resign_signature_repeats",
        "A signature repeated, whatever the time and the tenure tip, is recorded; the record keeps the first time.",
    ).steps(vec![
        acc("A", t).ok(),
        acc("A", t + 1).ok(),
        acc("A", t + 1000).tip(9).ok(),
        favourable("A").pre(None).signed(Some(t)).rejected(None).s(),
    ]),
        case(
        "resign_pre_commit_then_signature",
        "The signature after this signer's own pre-commit is recorded, and so is its repetition.",
    ).steps(vec![
        pre("A", t).ok(),
        acc("A", t + 2).ok(),
        acc("A", t + 3).ok(),
        favourable("A").pre(Some(t)).signed(Some(t + 2)).s(),
    ]),
        case(
        "resign_pre_commit_after_signature",
        "A pre-commit after a signature of the same block commits to nothing new and is recorded.",
    ).steps(vec![
        acc("A", t).ok(),
        pre("A", t + 1).ok(),
        favourable("A").pre(Some(t + 1)).signed(Some(t)).s(),
    ]),
        case(
        "resign_rejection_repeats_with_a_new_reason",
        "A repeated rejection is recorded with its new reason; the first rejection time is kept.",
    ).steps(vec![
        rej("A", InvalidMiner, t).ok(),
        rej("A", ReorgNotAllowed, t + 5).ok(),
        rejection("A").pre(None).signed(None).rejected(Some(t)).reason(Some(ReorgNotAllowed)).s(),
    ]),
        case(
            "resign_after_a_restart",
            "After a restart the signer may repeat the votes it published before it.",
        )
        .steps(vec![
            acc("A", t).ok(),
            restart(),
            acc("A", t + 1).ok(),
            pre("A", t + 2).ok(),
        ]),
        case(
            "resign_own_block_after_the_network_accepted_it",
            "A block's own global acceptance is not a sibling: its votes may be repeated.",
        )
        .steps(vec![
            pre("A", t).ok(),
            acc("A", t + 1).ok(),
            net_acc("A", t + 2),
            acc("A", t + 3).ok(),
            pre("A", t + 4).ok(),
        ]),
        case(
        "resign_first_signature_of_a_network_accepted_block",
        "A first signature after a pre-commit is recorded when the network accepted that same block.",
    ).steps(vec![
        pre("A", t).ok(),
        net_acc("A", t + 1),
        acc("A", t + 2).ok(),
    ]),
        case(
        "resign_repeated_votes_after_a_sibling_was_accepted",
        "Once a sibling is accepted by the network, votes this signer already published on its block may still be repeated: they commit to nothing new.",
    ).steps(vec![
        pre("A", t).ok(),
        acc("A", t + 1).ok(),
        net_acc("B", t + 2),
        acc("A", t + 3).ok(),
        pre("A", t + 4).ok(),
    ]),
    ]
}

/// A different block at the same height (a sibling: same tenure, same height).
fn sibling_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
        "sibling_pre_commit_inside_the_window_is_refused",
        "A pre-commit to a sibling of a block this signer pre-committed to is refused inside the window, even with the tenure tip below the height; the refusal leaves no record.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + 1).tip(4).conflict("A"),
        pre("B", t + w - 1).tip(4).conflict("A"),
        no_record("B"),
    ]),
        case(
            "sibling_signature_inside_the_window_is_refused",
            "A signature of a sibling of a block this signer signed is refused inside the window.",
        )
        .steps(vec![
            acc("A", t).ok(),
            acc("B", t + w - 1).tip(4).conflict("A"),
        ]),
        case(
        "sibling_after_the_window_with_the_tenure_tip_unknown_is_refused",
        "After the window a sibling is still refused while the node's tip of the tenure is unknown.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + 120 * w).conflict("A"),
        acc("B", t + 120 * w).conflict("A"),
    ]),
        case(
        "sibling_after_the_window_with_the_tenure_tip_at_or_above_the_height_is_refused",
        "After the window a sibling is refused while the tenure tip is at or above the height (the block voted for may be canonical).",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w + 1).tip(5).conflict("A"),
        pre("B", t + w + 1).tip(6).conflict("A"),
        pre("B", t + w + 1).tip(100).conflict("A"),
    ]),
        case(
        "sibling_after_the_window_with_the_tenure_tip_below_is_recorded",
        "Exactly the window later (whole seconds) and with the tenure tip below the height, a sibling may be voted for.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        favourable("B").pre(Some(t + w)).s(),
    ]),
        case(
            "sibling_window_follows_the_configured_timeout",
            "The window is the configured tenure_last_block_proposal_timeout (here 120 s).",
        )
        .window(120)
        .steps(vec![
            pre("A", t).ok(),
            pre("B", t + 119).tip(4).conflict("A"),
            pre("B", t + 120).tip(4).ok(),
        ]),
        case(
        "sibling_window_counts_from_the_first_favourable_vote",
        "The window runs from the sibling's first favourable vote (its pre-commit), not from its later signature.",
    ).steps(vec![
        pre("A", t).ok(),
        acc("A", t + w - 1).ok(),
        pre("B", t + w).tip(4).ok(),
    ]),
        case(
            "sibling_third_is_blocked_by_the_second",
            "Once the signer moved on to a second sibling, that one blocks a third in turn.",
        )
        .steps(vec![
            pre("A", t).ok(),
            pre("B", t + w).tip(4).ok(),
            pre("C", t + w + 1).tip(4).conflict("B"),
            pre("C", t + 2 * w).tip(4).ok(),
        ]),
        case(
        "sibling_accepted_by_the_network_refuses_whatever_the_time_and_tip",
        "A sibling the network accepted refuses every first favourable vote, whatever the time and the tenure tip.",
    ).steps(vec![
        net_acc("A", t),
        pre("B", t + 1).tip(4).conflict("A"),
        acc("B", t + 100_000).tip(0).conflict("A"),
        no_record("B"),
    ]),
        case(
            "sibling_rejected_by_the_network_does_not_block",
            "A sibling the network rejected does not stand in the way.",
        )
        .steps(vec![
            net_rej("A", t),
            pre("B", t + 1).ok(),
            acc("B", t + 2).ok(),
        ]),
        case(
            "sibling_rejected_by_this_signer_does_not_block",
            "A sibling this signer rejected does not stand in the way.",
        )
        .steps(vec![
            rej("A", InvalidParentBlock, t).ok(),
            pre("B", t + 1).ok(),
            acc("B", t + 2).ok(),
        ]),
        case(
        "sibling_rejection_is_always_allowed",
        "Rejecting a sibling of a block this signer signed, or of one the network accepted, is recorded.",
    ).steps(vec![
        acc("A", t).ok(),
        rej("B", SortitionViewMismatch, t + 1).ok(),
        net_acc("A", t + 2),
        rej("C", SortitionViewMismatch, t + 3).ok(),
    ]),
        case(
        "sibling_refused_leaves_no_record_and_may_then_be_rejected",
        "A refused vote changes nothing; the sibling may then be rejected (the v0 signer answers SortitionViewMismatch).",
    ).steps(vec![
        pre("A", t).ok(),
        acc("B", t + 1).conflict("A"),
        no_record("B"),
        rej("B", SortitionViewMismatch, t + 2).ok(),
        rejection("B").rejected(Some(t + 2)).s(),
    ]),
        case(
        "sibling_refusals_do_not_stop_signing_the_first_block",
        "Siblings refused after a pre-commit leave no vote behind: the block pre-committed to may still be signed.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + 1).conflict("A"),
        pre("C", t + 2).conflict("A"),
        acc("A", t + 3).ok(),
    ]),
        case(
        "sibling_accepted_by_the_network_refuses_a_first_signature_after_a_pre_commit",
        "Once the network accepted a sibling, the signature a pre-commit promised is refused: it could only help a second block at the height.",
    ).steps(vec![
        pre("A", t).ok(),
        net_acc("B", t + 1),
        acc("A", t + 2).tip(4).conflict("B"),
        favourable("A").pre(Some(t)).signed(None).s(),
    ]),
        case(
        "sibling_moved_to_refuses_a_signature_of_the_block_left",
        "After the window the signer pre-committed to a sibling; signing the block it left is refused while that sibling stands (inside its window, or the tenure tip not known to be below).",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        acc("A", t + w + 1).tip(4).conflict("B"),
        acc("A", t + 20 * w).conflict("B"),
        favourable("A").signed(None).s(),
    ]),
        case(
        "sibling_moved_to_may_be_signed",
        "The sibling the signer moved on to may be signed: the older pre-commit was left behind when it was pre-committed to.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        acc("B", t + w + 1).ok(),
    ]),
        case(
        "sibling_left_may_be_signed_once_the_newer_one_is_stale_then_blocks_it",
        "Once the newer sibling is outside its window with the tip below, the older pre-commit may be signed; that signature then blocks the newer one's signature while the tip is unknown.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        acc("A", t + 2 * w).tip(4).ok(),
        acc("B", t + 2 * w + 1).conflict("A"),
    ]),
        case(
        "sibling_signed_earlier_refuses_a_later_siblings_signature_while_it_stands",
        "A signed sibling blocks the first signature of a block pre-committed to after it, until it is outside the window with the tenure tip below.",
    ).steps(vec![
        acc("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        acc("B", t + w + 1).conflict("A"),
        acc("B", t + w + 1).tip(5).conflict("A"),
        acc("B", t + w + 2).tip(4).ok(),
    ]),
    ]
}

/// Reorgs: blocks of other tenures or heights are not siblings.
fn reorg_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
        "reorg_same_height_in_another_tenure_is_not_a_sibling",
        "A block at the same height in another tenure does not conflict with the own-vote rules.",
    ).steps(vec![
        acc("A", t).ok(),
        pre("X", t + 1).ok(),
        acc("X", t + 2).ok(),
    ]),
        case(
            "reorg_other_heights_of_the_tenure_are_not_siblings",
            "Blocks above and below in the same tenure do not conflict.",
        )
        .steps(vec![
            acc("A", t).ok(),
            acc("D", t + 1).ok(),
            acc("E", t + 2).ok(),
        ]),
        case(
        "reorg_network_accepted_block_of_another_tenure_does_not_block",
        "A block the network accepted in another tenure at the same height does not stand in the way.",
    ).steps(vec![
        net_acc("X", t),
        pre("A", t + 1).ok(),
        acc("A", t + 2).ok(),
    ]),
        case(
        "reorg_new_tenure_rebuilding_signed_heights",
        "A new tenure that builds again at heights this signer signed in the previous tenure is not refused by the own-vote record (tenure-level reorg checks belong to the v0 logic, e.g. ReorgNotAllowed).",
    ).steps(vec![
        acc("A", t).ok(),
        acc("D", t + 10).ok(),
        pre("Y", t + 20).ok(),
        acc("Y", t + 21).ok(),
        acc("Z", t + 30).ok(),
    ]),
        case(
        "reorg_inside_a_tenure_after_the_node_dropped_the_block",
        "The block signed never reached the node (tip below); after the window a sibling is signed and accepted by the network; then a third sibling is refused and the first block cannot be rejected.",
    ).steps(vec![
        acc("A", t).ok(),
        pre("B", t + w + 10).tip(4).ok(),
        acc("B", t + w + 11).tip(4).ok(),
        net_acc("B", t + w + 15),
        acc("C", t + 100 * w).tip(5).conflict("B"),
        rej("A", ReorgNotAllowed, t + 100 * w).flip_a(),
    ]),
        case(
        "reorg_chain_of_tenures_signed_block_by_block",
        "An ordinary chain: each block pre-committed to, signed and accepted, across two tenures.",
    ).steps(vec![
        pre("A", t).ok(),
        acc("A", t + 1).ok(),
        net_acc("A", t + 2),
        pre("D", t + 10).tip(5).ok(),
        acc("D", t + 11).tip(5).ok(),
        net_acc("D", t + 12),
        pre("Z", t + 20).ok(),
        acc("Z", t + 21).ok(),
    ]),
        case(
            "reorg_siblings_are_judged_per_tenure",
            "The sibling rule applies inside each tenure separately.",
        )
        .steps(vec![
            pre("A", t).ok(),
            pre("X", t + 1).ok(),
            pre("B", t + 2).tip(4).conflict("A"),
            pre("X2", t + 3).tip(4).conflict("X"),
        ]),
    ]
}

/// Restarts: the record is on disk.
fn restart_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
            "restart_keeps_a_favourable_vote",
            "A signature survives a restart and still refuses a sibling.",
        )
        .steps(vec![
            acc("A", t).ok(),
            restart(),
            pre("B", t + 1).tip(4).conflict("A"),
            favourable("A").signed(Some(t)).s(),
        ]),
        case(
            "restart_keeps_a_rejection",
            "A rejection survives a restart and still refuses a signature.",
        )
        .steps(vec![
            rej("A", InvalidMiner, t).ok(),
            restart(),
            acc("A", t + 1).flip_r(),
            rejection("A")
                .rejected(Some(t))
                .reason(Some(InvalidMiner))
                .s(),
        ]),
        case(
            "restart_keeps_a_pre_commit_against_a_flip",
            "A pre-commit survives a restart and still refuses a rejection.",
        )
        .steps(vec![
            pre("A", t).ok(),
            restart(),
            rej("A", ConnectivityIssues, t + 1).flip_a(),
        ]),
        case(
            "restart_keeps_the_window_start",
            "The window runs from the recorded time across restarts.",
        )
        .steps(vec![
            pre("A", t).ok(),
            restart(),
            restart(),
            pre("B", t + w - 1).tip(4).conflict("A"),
            restart(),
            pre("B", t + w).tip(4).ok(),
        ]),
        case(
            "restart_keeps_the_network_acceptance",
            "A sibling the network accepted still refuses after a restart.",
        )
        .steps(vec![
            net_acc("A", t),
            restart(),
            pre("B", t + 1).conflict("A"),
        ]),
        case(
            "restart_between_every_step",
            "A restart between each step changes no outcome.",
        )
        .steps(vec![
            pre("A", t).ok(),
            restart(),
            acc("A", t + 1).ok(),
            restart(),
            rej("A", InvalidMiner, t + 2).flip_a(),
            restart(),
            pre("B", t + 3).conflict("A"),
            restart(),
            favourable("A")
                .pre(Some(t))
                .signed(Some(t + 1))
                .rejected(None)
                .s(),
            no_record("B"),
        ]),
        case(
            "restart_after_a_refusal_finds_nothing_recorded",
            "A refused vote is not on record after a restart; the block may then be rejected.",
        )
        .steps(vec![
            pre("A", t).ok(),
            pre("B", t + 1).conflict("A"),
            restart(),
            no_record("B"),
            rej("B", SortitionViewMismatch, t + 2).ok(),
        ]),
    ]
}

/// Flips: a vote contradicting one published on the same block.
fn flip_cases() -> Vec<Case> {
    let t = T0;
    vec![
        case(
            "flip_rejection_after_a_signature_is_refused",
            "A rejection of a block this signer signed is refused and changes nothing.",
        )
        .steps(vec![
            acc("A", t).ok(),
            rej("A", InvalidMiner, t + 1).flip_a(),
            favourable("A").rejected(None).reason(None).s(),
        ]),
        case(
        "flip_rejection_after_a_pre_commit_is_refused",
        "A rejection (e.g. a validation timeout's ConnectivityIssues) of a block pre-committed to is refused.",
    ).steps(vec![
        pre("A", t).ok(),
        rej("A", ConnectivityIssues, t + 1).flip_a(),
    ]),
        case(
            "flip_signature_after_a_rejection_is_refused",
            "A signature of a block this signer rejected is refused and changes nothing.",
        )
        .steps(vec![
            rej("A", InvalidMiner, t).ok(),
            acc("A", t + 1).flip_r(),
            rejection("A").signed(None).s(),
        ]),
        case(
        "flip_pre_commit_after_a_rejection_then_signature",
        "A pre-commit (a fresh validation) turns a rejection into a favourable vote; the signature may follow; a rejection after it is refused.",
    ).steps(vec![
        rej("A", NoSortitionView, t).ok(),
        pre("A", t + 1).ok(),
        acc("A", t + 2).ok(),
        rej("A", InvalidMiner, t + 3).flip_a(),
        favourable("A").pre(Some(t + 1)).signed(Some(t + 2)).rejected(Some(t)).reason(Some(NoSortitionView)).s(),
    ]),
        case(
        "flip_pre_commit_after_a_rejection_is_checked_against_siblings",
        "A pre-commit after a rejection is a first favourable vote: a sibling voted for refuses it.",
    ).steps(vec![
        acc("B", t).ok(),
        rej("A", InvalidParentBlock, t).ok(),
        pre("A", t + 1).tip(4).conflict("B"),
        rejection("A").s(),
    ]),
        case(
            "flip_signature_after_a_rejection_stays_refused_across_time_and_restarts",
            "Neither time nor a restart nor the tenure tip lets a signature follow a rejection.",
        )
        .steps(vec![
            rej("A", InvalidMiner, t).ok(),
            restart(),
            acc("A", t + 10_000).tip(0).flip_r(),
        ]),
        case(
        "flip_rejection_after_the_network_rejected_a_block_signed_is_refused",
        "The reference answers a re-proposal of a block it signed, then saw rejected, with RejectedInPriorRound; here that rejection is refused.",
    ).steps(vec![
        acc("A", t).ok(),
        net_rej("A", t + 1),
        rej("A", RejectedInPriorRound, t + 2).flip_a(),
    ]),
        case(
        "flip_signature_after_the_network_accepted_a_block_rejected_is_refused",
        "The reference signs a re-proposal of a block it rejected once the signer set accepted it; here that signature is refused.",
    ).steps(vec![
        rej("A", InvalidMiner, t).ok(),
        net_acc("A", t + 1),
        acc("A", t + 2).flip_r(),
    ]),
    ]
}

/// The clock going backwards.
fn clock_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
            "clock_back_keeps_a_sibling_inside_the_window",
            "A clock that went back reads as \"just now\": the sibling still blocks.",
        )
        .steps(vec![
            pre("A", t).ok(),
            pre("B", t - 1000).tip(4).conflict("A"),
        ]),
        case(
            "clock_back_then_forward_past_the_window",
            "After the clock comes back past the window, the sibling may be voted for.",
        )
        .steps(vec![
            pre("A", t).ok(),
            pre("B", t - 100).tip(4).conflict("A"),
            pre("B", t + w).tip(4).ok(),
        ]),
        case(
        "clock_ahead_then_back_blocks_until_the_window_after_the_future_vote",
        "A vote stamped by a clock that ran ahead blocks siblings until the window after that stamp.",
    ).steps(vec![
        pre("A", t + 10_000).ok(),
        pre("B", t + 100).tip(4).conflict("A"),
        pre("B", t + 10_000 + w - 1).tip(4).conflict("A"),
        pre("B", t + 10_000 + w).tip(4).ok(),
    ]),
        case(
        "clock_back_keeps_the_first_favourable_times",
        "Votes repeated with an earlier clock keep the first times; a later first signature is stamped with the clock as it is.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("A", t - 50).ok(),
        acc("A", t - 40).ok(),
        rej("A", InvalidMiner, t - 60).flip_a(),
        favourable("A").pre(Some(t)).signed(Some(t - 40)).rejected(None).s(),
    ]),
        case(
        "clock_back_keeps_the_first_rejection_time",
        "A rejection repeated with an earlier clock keeps the first time and takes the new reason.",
    ).steps(vec![
        rej("A", InvalidMiner, t).ok(),
        rej("A", InvalidParentBlock, t - 10).ok(),
        rejection("A").rejected(Some(t)).reason(Some(InvalidParentBlock)).s(),
    ]),
        case(
        "clock_back_keeps_a_newer_sibling_blocking_the_block_left",
        "With the clock back, the sibling moved to reads as just voted for: signing the block left is refused.",
    ).steps(vec![
        pre("A", t).ok(),
        pre("B", t + w).tip(4).ok(),
        acc("A", t - 500).tip(4).conflict("B"),
    ]),
    ]
}

/// Pruning: what goes, and the floor that keeps the rules whole.
fn prune_cases() -> Vec<Case> {
    let t = T0;
    vec![
        case(
            "prune_removes_votes_of_older_reward_cycles",
            "Pruning to reward cycle 41 removes this signer's votes of cycle 40.",
        )
        .steps(vec![
            acc("P", t).ok(),
            rej("Q", InvalidMiner, t).ok(),
            prune(41),
            no_record("P"),
            no_record("Q"),
        ]),
        case(
            "prune_keeps_votes_of_kept_reward_cycles",
            "Votes of the oldest kept cycle and later stay, and still refuse siblings.",
        )
        .steps(vec![
            acc("R", t).ok(),
            acc("S", t).ok(),
            prune(41),
            favourable("R").signed(Some(t)).s(),
            favourable("S").signed(Some(t)).s(),
            pre("R2", t + 1).tip(4).conflict("R"),
        ]),
        case(
        "prune_floor_refuses_a_sibling_of_a_pruned_vote",
        "After pruning, the vote that would have refused a sibling is gone; the pruning floor refuses every vote of the pruned cycle instead, so no equivocation slips through.",
    ).steps(vec![
        acc("P", t).ok(),
        prune(41),
        pre("Q", t + 1).tip(4).floor(),
        acc("Q", t + 100_000).tip(0).floor(),
        no_record("Q"),
    ]),
        case(
        "prune_floor_refuses_any_vote_on_a_pruned_block",
        "Below the floor neither a flip (rejecting a pruned pre-commit) nor a repeat is recorded.",
    ).steps(vec![
        pre("P", t).ok(),
        prune(41),
        rej("P", InvalidMiner, t + 1).floor(),
        acc("P", t + 2).floor(),
        pre("P", t + 3).floor(),
        no_record("P"),
    ]),
        case(
            "prune_floor_refuses_the_flip_of_a_pruned_rejection",
            "A rejection pruned away cannot be followed by a signature of the block.",
        )
        .steps(vec![
            rej("P", InvalidMiner, t).ok(),
            prune(41),
            acc("P", t + 1).floor(),
        ]),
        case(
            "prune_floor_survives_a_restart",
            "The pruning floor is on disk.",
        )
        .steps(vec![
            acc("P", t).ok(),
            prune(41),
            restart(),
            pre("Q", t + 1).tip(4).floor(),
        ]),
        case(
            "prune_floor_never_goes_down",
            "Pruning with an older horizon does not lower the floor.",
        )
        .steps(vec![
            prune(43),
            prune(41),
            acc("R", t).floor(),
            acc("S", t).ok(),
        ]),
        case(
        "prune_keeps_the_vote_on_the_network_accepted_tip",
        "The vote on the canonical tip (the highest block the network accepted) is kept below the horizon; votes of its cycle are refused all the same.",
    ).steps(vec![
        acc("P", t).ok(),
        net_acc("P", t + 1),
        prune(41),
        favourable("P").signed(Some(t)).s(),
        pre("Q", t + 2).tip(4).floor(),
    ]),
        case(
            "prune_at_the_floor_cycle_votes_as_usual",
            "Blocks of the floor's cycle and later are voted on under the usual rules.",
        )
        .steps(vec![
            prune(41),
            acc("R", t).ok(),
            pre("R2", t + 1).tip(4).conflict("R"),
            acc("S", t + 2).ok(),
        ]),
        case(
            "prune_below_every_vote_removes_nothing",
            "A horizon at the oldest cycle voted on removes no vote.",
        )
        .steps(vec![
            acc("P", t).ok(),
            prune(40),
            favourable("P").signed(Some(t)).s(),
            pre("Q", t + 1).tip(4).conflict("P"),
        ]),
    ]
}

/// Taking over a reference signer's database (schema 18).
fn import_cases() -> Vec<Case> {
    let t = T0;
    let w = WINDOW;
    vec![
        case(
        "import_pre_committed_row_is_a_pre_commit",
        "A PreCommitted row with signed_self is this signer's pre-commit: it refuses a sibling and a rejection; the signature may follow.",
    ).steps(vec![
        import(vec![voted_row("A", "PreCommitted", t)]),
        favourable("A").pre(Some(t)).signed(None).rejected(None).s(),
        rej("A", InvalidMiner, t + 1).flip_a(),
        pre("B", t + 1).tip(4).conflict("A"),
        acc("A", t + 2).ok(),
    ]),
        case(
        "import_locally_accepted_row_is_a_signature",
        "A LocallyAccepted row with signed_self is this signer's signature, enforced by the sibling rule.",
    ).steps(vec![
        import(vec![voted_row("A", "LocallyAccepted", t)]),
        favourable("A").pre(None).signed(Some(t)).s(),
        pre("B", t + 120 * w).conflict("A"),
        pre("B", t + 120 * w).tip(4).ok(),
    ]),
        case(
        "import_locally_rejected_row_is_a_rejection",
        "A LocallyRejected invalid row is this signer's rejection, stamped with the proposal time: a signature is refused, a fresh pre-commit is not.",
    ).steps(vec![
        import(vec![ReferenceRow {
            valid: Some(false),
            reject_reason: Some(InvalidMiner),
            ..row("A", "LocallyRejected", t)
        }]),
        rejection("A").rejected(Some(t)).reason(Some(InvalidMiner)).s(),
        acc("A", t + 1).flip_r(),
        pre("A", t + 2).ok(),
        acc("A", t + 3).ok(),
    ]),
        case(
        "import_globally_accepted_sibling_blocks_first_votes",
        "A row the network accepted (signed_group, no signed_self) is no vote of this signer, but it refuses every sibling.",
    ).steps(vec![
        import(vec![ReferenceRow {
            valid: Some(true),
            signed_group: Some(t),
            ..row("A", "GloballyAccepted", t - 5)
        }]),
        no_record("A"),
        pre("B", t + 1).tip(4).conflict("A"),
    ]),
        case(
        "import_globally_accepted_row_signed_by_this_signer",
        "A GloballyAccepted row with signed_self is this signer's signature: a rejection is refused.",
    ).steps(vec![
        import(vec![ReferenceRow {
            signed_group: Some(t + 1),
            ..voted_row("A", "GloballyAccepted", t)
        }]),
        favourable("A").signed(Some(t)).s(),
        rej("A", RejectedInPriorRound, t + 2).flip_a(),
    ]),
        case(
            "import_unprocessed_row_is_no_vote",
            "An Unprocessed row holds no vote: the block is judged afresh.",
        )
        .steps(vec![
            import(vec![row("A", "Unprocessed", t)]),
            no_record("A"),
            rej("A", InvalidMiner, t + 1).ok(),
            acc("A", t + 2).flip_r(),
        ]),
        case(
        "import_globally_rejected_row_backfills_no_vote",
        "A GloballyRejected row may hide this signer's rejection (the global state overwrote it); it is read as no vote and blocks no sibling.",
    ).steps(vec![
        import(vec![ReferenceRow {
            valid: Some(false),
            ..row("A", "GloballyRejected", t)
        }]),
        no_record("A"),
        pre("B", t + 1).ok(),
    ]),
        case(
        "import_two_pre_committed_siblings_only_the_newer_may_be_signed",
        "The reference pre-commits to two tenure-start siblings one after the other (v0-logic 11.1); after the takeover only the newer may be signed, and once it is the older stays refused.",
    ).steps(vec![
        import(vec![
            voted_row("A", "PreCommitted", t),
            voted_row("B", "PreCommitted", t + 5),
        ]),
        acc("A", t + 10).conflict("B"),
        acc("B", t + 11).ok(),
        acc("A", t + 12).tip(4).conflict("B"),
    ]),
        case(
        "import_signed_and_pre_committed_siblings_allow_no_second_signature",
        "A signed row and a pre-committed sibling after it: the sibling's signature is refused while the signed block stands; the signed one may be repeated.",
    ).steps(vec![
        import(vec![
            voted_row("A", "LocallyAccepted", t),
            voted_row("B", "PreCommitted", t + 5),
        ]),
        acc("B", t + 10).conflict("A"),
        acc("A", t + 11).ok(),
    ]),
        case(
            "import_then_restart_keeps_the_backfilled_votes",
            "The votes read from the reference rows are on disk after the takeover.",
        )
        .steps(vec![
            import(vec![voted_row("A", "PreCommitted", t)]),
            restart(),
            pre("B", t + 1).tip(4).conflict("A"),
            rej("A", InvalidMiner, t + 1).flip_a(),
        ]),
        case(
            "import_then_prune_sets_the_floor",
            "Backfilled votes are pruned like any other, and the floor refuses the pruned cycle.",
        )
        .steps(vec![
            import(vec![
                voted_row("P", "LocallyAccepted", t),
                voted_row("R", "PreCommitted", t),
            ]),
            prune(41),
            no_record("P"),
            favourable("R").pre(Some(t)).s(),
            pre("Q", t + 1).tip(4).floor(),
        ]),
        case(
            "import_window_counts_from_signed_self",
            "The window of a backfilled vote runs from the reference's signed_self.",
        )
        .steps(vec![
            import(vec![voted_row("A", "PreCommitted", t)]),
            pre("B", t + w - 1).tip(4).conflict("A"),
            pre("B", t + w).tip(4).ok(),
        ]),
        case(
            "import_empty_reference_database",
            "An empty reference database is taken over and then used as usual.",
        )
        .steps(vec![
            import(Vec::new()),
            pre("A", t).ok(),
            restart(),
            rej("A", InvalidMiner, t + 1).flip_a(),
        ]),
    ]
}

/// The groups of cases, by name prefix, as `docs/testing.md` lists them.
pub const GROUPS: &[(&str, &str)] = &[
    ("resign_", "Re-signing the same block"),
    (
        "sibling_",
        "A different block at the same height (siblings)",
    ),
    ("reorg_", "Reorgs: other tenures and other heights"),
    ("restart_", "Restarts between steps"),
    ("flip_", "Flips: a vote contradicting one on the same block"),
    ("clock_", "The clock going backwards"),
    ("prune_", "Pruning and the pruning floor"),
    ("import_", "A reference signer's database taken over"),
];

/// The case list of `docs/testing.md`: each group with its cases, one line each.
pub fn markdown_list(cases: &[Fixture]) -> String {
    let mut out = String::new();
    for (prefix, title) in GROUPS {
        let group: Vec<&Fixture> = cases
            .iter()
            .filter(|c| c.name.starts_with(prefix))
            .collect();
        out.push_str(&format!(
            "**{title}** ({})

",
            group.len()
        ));
        for case in group {
            out.push_str(&format!("- `{}`: {}\n", case.name, case.description));
        }
        out.push('\n');
    }
    out
}
