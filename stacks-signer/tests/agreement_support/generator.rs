//! The seeded scenario generator of the agreement tests: from a seed, a mock-node scenario
//! (the `--scenario` TOML format of `docs/mock-node.md`) of random interleavings of burn
//! blocks with and without winners, burn forks, proposals of every kind with every `propose`
//! deviation, validation rejections, stalls, delays and 429s, peers' votes, blocks processed
//! or pushed, re-proposals, endpoint outages, status checks and waits.
//!
//! The same seed always gives the same text, so a disagreement is reproduced from its seed
//! alone (or from the file the tests write next to their report).

use std::fmt::Write as _;

/// The puppets P1…P3 of the world the scenarios run in; a scenario names P`i`'s slot as
/// `@P{i}@`, which the harness replaces with the slot the node gave it.
pub const PUPPETS: [u32; 3] = [1, 2, 3];

/// How many signers the reward set has (S0, P1…P3, the simulated Q).
pub const SIGNERS: u16 = 5;

/// A small deterministic generator (xorshift64*), so the scenarios do not depend on a crate's
/// version of a random algorithm.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; zero is mapped away from the fixed point).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A generated scenario: its seed, its steps as scenario TOML, and a one-line summary of each
/// step (for reports).
#[derive(Debug, Clone)]
pub struct Generated {
    /// The seed it was generated from.
    pub seed: u64,
    /// The scenario file's text.
    pub toml: String,
    /// Each step, one line, in order.
    pub steps: Vec<String>,
}

/// Which stimuli a scenario may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stimuli {
    /// Everything, including what only a signer talking to the node over HTTP notices
    /// (endpoint outages, 429s, validation stalls and delays) and waits.
    All,
    /// Only what the mock node's simulated signers see too: burn blocks, proposals with
    /// every deviation, forced validation rejections, peers' votes, blocks processed, pushed
    /// or re-proposed, status checks.
    SeenBySimulatedSigners,
}

/// What the generator remembers while it writes a scenario.
struct Draft {
    stimuli: Stimuli,
    rng: Rng,
    toml: String,
    steps: Vec<String>,
    burn_labels: Vec<String>,
    proposals: usize,
    stalled: bool,
    down: Vec<(&'static str, usize)>,
}

const REJECT_CODES: [&str; 6] = [
    "InvalidBlock",
    "ChainstateError",
    "UnknownParent",
    "NonCanonicalTenure",
    "InvalidTimestamp",
    "BadBlockHash",
];

const PEER_REJECT_REASONS: [&str; 5] = [
    "ReorgNotAllowed",
    "InvalidParentBlock",
    "ConnectivityIssues",
    "SortitionViewMismatch",
    "",
];

const ENDPOINTS: [&str; 4] = [
    "/v3/block_proposal",
    "/v2/info",
    "/v3/sortitions",
    "/v3/tenures",
];

impl Draft {
    fn step(&mut self, summary: String, body: &str) {
        self.toml.push_str("[[step]]\n");
        self.toml.push_str(body);
        if !body.ends_with('\n') {
            self.toml.push('\n');
        }
        self.steps.push(summary);
    }

    fn last_proposal(&self) -> Option<String> {
        self.proposals.checked_sub(1).map(|i| format!("p{i}"))
    }

    fn some_proposal(&mut self) -> Option<String> {
        if self.proposals == 0 {
            return None;
        }
        // Mostly the last one, sometimes an older one.
        if self.rng.chance(75) {
            self.last_proposal()
        } else {
            Some(format!("p{}", self.rng.below(self.proposals as u64)))
        }
    }

    fn burn_block(&mut self) {
        let label = format!("b{}", self.burn_labels.len());
        let roll = self.rng.below(100);
        let mut body = String::from("type = \"burn_block\"\n");
        let mut summary = String::from("burn block");
        if roll < 72 {
            let winner = self.rng.below(2);
            let _ = writeln!(body, "winner = {winner}");
            let _ = write!(summary, " won by M{winner}");
        } else if roll < 86 {
            summary.push_str(" without a winner");
        } else {
            let winner = self.rng.below(2);
            let _ = writeln!(body, "winner = {winner}");
            let _ = write!(summary, " won by M{winner}");
            if self.burn_labels.len() >= 2 {
                let back = self.burn_labels.len() - 2;
                let parent = self.burn_labels[back].clone();
                let _ = writeln!(body, "parent = \"{parent}\"");
                let _ = write!(summary, ", forking from {parent}");
            }
        }
        let _ = writeln!(body, "label = \"{label}\"");
        let _ = write!(summary, " ({label})");
        self.burn_labels.push(label);
        self.step(summary, &body);
    }

    fn validation_knob(&mut self) {
        let roll = self.rng.below(100);
        if self.stimuli == Stimuli::SeenBySimulatedSigners {
            let code = *self.rng.pick(&REJECT_CODES);
            return self.step(
                format!("the next validation rejects with {code}"),
                &format!("type = \"validation\"\nreject = \"{code}\"\n"),
            );
        }
        if self.stalled || roll < 15 {
            let on = !self.stalled;
            self.stalled = on;
            self.step(
                format!("validation stall = {on}"),
                &format!("type = \"validation\"\nstall = {on}\n"),
            );
        } else if roll < 55 {
            let code = *self.rng.pick(&REJECT_CODES);
            self.step(
                format!("the next validation rejects with {code}"),
                &format!("type = \"validation\"\nreject = \"{code}\"\n"),
            );
        } else if roll < 80 {
            let n = 1 + self.rng.below(2);
            self.step(
                format!("the next {n} validation requests get 429"),
                &format!("type = \"validation\"\nbusy = {n}\n"),
            );
        } else {
            let ms = [0u64, 200, 700][self.rng.below(3) as usize];
            self.step(
                format!("validation answers delayed by {ms} ms"),
                &format!("type = \"validation\"\ndelay_ms = {ms}\n"),
            );
        }
    }

    fn propose(&mut self) {
        let label = format!("p{}", self.proposals);
        self.proposals += 1;
        let mut body = String::from("type = \"propose\"\n");
        let kind = match self.rng.below(100) {
            0..=44 => None,
            45..=59 => Some("tenure_start"),
            60..=82 => Some("continue"),
            _ => Some("extend"),
        };
        let mut summary = format!("propose {label}: {}", kind.unwrap_or("automatic"));
        if let Some(kind) = kind {
            let _ = writeln!(body, "kind = \"{kind}\"");
        }
        if kind == Some("extend") {
            let cause = *self.rng.pick(&[
                "extended",
                "extended",
                "extended",
                "extended_read_count",
                "extended_runtime",
            ]);
            let _ = writeln!(body, "cause = \"{cause}\"");
            let _ = write!(summary, " ({cause})");
        }
        if self.rng.chance(45) {
            let deviation = match self.rng.below(10) {
                0 => "wrong_miner_key = true".to_string(),
                1 => format!("pox_treatment_zero = {}", self.rng.below(SIGNERS as u64)),
                2 => "bad_parent = true".to_string(),
                3 => format!("stale_timestamp_secs = {}", 30 + self.rng.below(900)),
                4 => format!("chain_length = {}", 1 + self.rng.below(40)),
                5 if kind == Some("continue") => "duplicate_tenure_change = true".to_string(),
                6 => format!(
                    "consensus_hash = \"{:016x}{:016x}{:08x}\"",
                    self.rng.next_u64(),
                    self.rng.next_u64(),
                    self.rng.below(u32::MAX as u64)
                ),
                7 if kind == Some("extend") || kind == Some("tenure_start") => {
                    let older = self
                        .burn_labels
                        .get(self.burn_labels.len().saturating_sub(2))
                        .cloned()
                        .unwrap_or_else(|| "b0".into());
                    format!("burn_view = \"{older}\"")
                }
                8 => "reward_cycle_offset = 1".to_string(),
                _ => format!(
                    "miner_signature = \"01{}{}\"",
                    "00".repeat(32),
                    "11".repeat(32)
                ),
            };
            let _ = writeln!(body, "{deviation}");
            let _ = write!(summary, ", {}", deviation.split(" =").next().unwrap_or(""));
        }
        let _ = writeln!(body, "label = \"{label}\"");
        self.step(summary, &body);
    }

    fn peer_votes(&mut self) {
        let Some(block) = self.some_proposal() else {
            return self.status_check();
        };
        let count = 1 + self.rng.below(3) as usize;
        let message = *self.rng.pick(&["accept", "accept", "reject", "pre_commit"]);
        let reason = if message == "reject" {
            *self.rng.pick(&PEER_REJECT_REASONS)
        } else {
            ""
        };
        for &signer in &PUPPETS[..count] {
            let mut body = format!(
                "type = \"inject\"\nsigner = @P{signer}@\nmessage = \"{message}\"\nblock = \"{block}\"\n"
            );
            if !reason.is_empty() {
                let _ = writeln!(body, "reason = \"{reason}\"");
            }
            self.step(
                format!("P{signer} sends {message} {reason} about {block}"),
                &body,
            );
        }
    }

    fn block_event(&mut self) {
        let Some(block) = self.some_proposal() else {
            return self.status_check();
        };
        if self.rng.chance(34) {
            // The network signs the block: its signatures reach 70% without S0 and the node
            // processes it (a node never processes a block its signers did not sign, so a
            // bare `process_block` is left out).
            for &signer in &PUPPETS {
                self.step(
                    format!("P{signer} sends accept about {block}"),
                    &format!(
                        "type = \"inject\"\nsigner = @P{signer}@\nmessage = \"accept\"\nblock = \"{block}\"\n"
                    ),
                );
            }
            return;
        }
        let (kind, what) = match self.rng.below(2) {
            0 => ("push_block", "the miner pushes"),
            _ => ("repropose", "the miner re-proposes"),
        };
        self.step(
            format!("{what} {block}"),
            &format!("type = \"{kind}\"\nblock = \"{block}\"\n"),
        );
    }

    fn outage(&mut self) {
        let path = *self.rng.pick(&ENDPOINTS);
        if self.down.iter().any(|(p, _)| *p == path) {
            return self.status_check();
        }
        let lasts = 1 + self.rng.below(3) as usize;
        self.down.push((path, self.steps.len() + lasts));
        self.step(
            format!("{path} answers 503"),
            &format!("type = \"endpoint_down\"\npath = \"{path}\"\n"),
        );
    }

    fn restore_endpoints(&mut self, all: bool) {
        let now = self.steps.len();
        let (due, keep): (Vec<_>, Vec<_>) = self
            .down
            .drain(..)
            .partition(|(_, until)| all || *until <= now);
        self.down = keep;
        for (path, _) in due {
            self.step(
                format!("{path} answers again"),
                &format!("type = \"endpoint_up\"\npath = \"{path}\"\n"),
            );
        }
    }

    fn wait(&mut self) {
        let secs = *self.rng.pick(&[0.5f64, 1.0, 2.0, 3.5]);
        self.step(
            format!("wait {secs} s"),
            &format!("type = \"wait\"\nsecs = {secs}\n"),
        );
    }

    fn status_check(&mut self) {
        self.step("status check".into(), "type = \"status_check\"\n");
    }
}

/// The scenario of `seed` with every stimulus: between 6 and 16 generated steps after the
/// world's setup (the first step is always a burn block with a winner, so that there is a
/// tenure to propose in), and a last proposal.
pub fn generate(seed: u64) -> Generated {
    generate_with(seed, Stimuli::All)
}

/// The scenario of `seed` using only `stimuli`.
pub fn generate_with(seed: u64, stimuli: Stimuli) -> Generated {
    let mut draft = Draft {
        stimuli,
        rng: Rng::new(seed),
        toml: String::new(),
        steps: Vec::new(),
        burn_labels: Vec::new(),
        proposals: 0,
        stalled: false,
        down: Vec::new(),
    };
    let winner = draft.rng.below(2);
    draft.burn_labels.push("b0".into());
    draft.step(
        format!("burn block won by M{winner} (b0)"),
        &format!("type = \"burn_block\"\nwinner = {winner}\nlabel = \"b0\"\n"),
    );
    let length = 6 + draft.rng.below(11) as usize;
    while draft.steps.len() < length {
        draft.restore_endpoints(false);
        match draft.rng.below(100) {
            0..=13 => draft.burn_block(),
            14..=47 => draft.propose(),
            48..=57 => draft.validation_knob(),
            58..=73 => draft.peer_votes(),
            74..=83 => draft.block_event(),
            84..=88 if stimuli == Stimuli::All => draft.outage(),
            89..=95 if stimuli == Stimuli::All => draft.wait(),
            _ => draft.status_check(),
        }
    }
    draft.restore_endpoints(true);
    if draft.stalled {
        draft.step(
            "validation stall = false".into(),
            "type = \"validation\"\nstall = false\n",
        );
    }
    // A last proposal after everything, so that every scenario ends with a decision.
    draft.propose();
    Generated {
        seed,
        toml: draft.toml,
        steps: draft.steps,
    }
}
