//! The life cycle of a proposed block in this signer's eyes, and which moves are allowed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a proposed block stands. The JSON and database form is the variant name; the `u8`
/// form is the reference's discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockState {
    /// Proposed, no decision yet.
    Unprocessed = 0,
    /// This signer signed it (or saw enough signatures to know it is accepted).
    LocallyAccepted = 1,
    /// This signer rejected it.
    LocallyRejected = 2,
    /// The network accepted it (enough signatures, or it is on the canonical chain).
    GloballyAccepted = 3,
    /// The network rejected it.
    GloballyRejected = 4,
    /// This signer validated it and sent its pre-commit.
    PreCommitted = 5,
}

impl BlockState {
    /// Every state, in discriminant order.
    pub const ALL: [BlockState; 6] = [
        BlockState::Unprocessed,
        BlockState::LocallyAccepted,
        BlockState::LocallyRejected,
        BlockState::GloballyAccepted,
        BlockState::GloballyRejected,
        BlockState::PreCommitted,
    ];

    /// The variant name, as stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            BlockState::Unprocessed => "Unprocessed",
            BlockState::LocallyAccepted => "LocallyAccepted",
            BlockState::LocallyRejected => "LocallyRejected",
            BlockState::GloballyAccepted => "GloballyAccepted",
            BlockState::GloballyRejected => "GloballyRejected",
            BlockState::PreCommitted => "PreCommitted",
        }
    }

    /// Whether a block in this state may move to `new`.
    ///
    /// Staying put is always allowed. Nothing returns to `Unprocessed`; the two global
    /// outcomes exclude each other and are final for the local ones; `PreCommitted` is
    /// reachable only from `Unprocessed`.
    pub fn can_move_to(self, new: BlockState) -> bool {
        use BlockState::*;
        if self == new {
            return true;
        }
        match new {
            Unprocessed => false,
            LocallyAccepted | LocallyRejected => {
                !matches!(self, GloballyAccepted | GloballyRejected)
            }
            GloballyAccepted => self != GloballyRejected,
            GloballyRejected => self != GloballyAccepted,
            PreCommitted => self == Unprocessed,
        }
    }

    /// The network has decided: globally accepted or globally rejected.
    pub fn has_reached_consensus(self) -> bool {
        matches!(
            self,
            BlockState::GloballyAccepted | BlockState::GloballyRejected
        )
    }

    /// This signer has decided: pre-committed, locally accepted or locally rejected.
    pub fn is_locally_finalized(self) -> bool {
        matches!(
            self,
            BlockState::PreCommitted | BlockState::LocallyAccepted | BlockState::LocallyRejected
        )
    }
}

impl fmt::Display for BlockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u8> for BlockState {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        BlockState::ALL
            .get(usize::from(value))
            .copied()
            .ok_or_else(|| "Invalid block state".to_string())
    }
}

impl TryFrom<&str> for BlockState {
    type Error = String;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        BlockState::ALL
            .iter()
            .copied()
            .find(|state| state.name() == value)
            .ok_or_else(|| "Unparsable block state".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::BlockState::{self, *};

    #[test]
    fn u8_and_name_forms_round_trip_and_unknowns_are_refused() {
        for (i, state) in BlockState::ALL.iter().enumerate() {
            assert_eq!(BlockState::try_from(i as u8), Ok(*state));
            assert_eq!(BlockState::try_from(state.name()), Ok(*state));
            assert_eq!(state.to_string(), state.name());
        }
        assert_eq!(BlockState::try_from(6u8), Err("Invalid block state".into()));
        assert_eq!(
            BlockState::try_from("unprocessed"),
            Err("Unparsable block state".into())
        );
    }

    #[test]
    fn json_form_is_the_variant_name() {
        assert_eq!(
            serde_json::to_string(&GloballyAccepted).unwrap(),
            "\"GloballyAccepted\""
        );
        let back: BlockState = serde_json::from_str("\"PreCommitted\"").unwrap();
        assert_eq!(back, PreCommitted);
    }

    #[test]
    fn consensus_and_local_finality_predicates() {
        let consensus: Vec<_> = BlockState::ALL
            .into_iter()
            .filter(|s| s.has_reached_consensus())
            .collect();
        assert_eq!(consensus, vec![GloballyAccepted, GloballyRejected]);
        let local: Vec<_> = BlockState::ALL
            .into_iter()
            .filter(|s| s.is_locally_finalized())
            .collect();
        assert_eq!(local, vec![LocallyAccepted, LocallyRejected, PreCommitted]);
    }
}
