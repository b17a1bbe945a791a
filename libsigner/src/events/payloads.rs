//! The JSON bodies the node POSTs to the observer endpoints, and their conversion into
//! [`SignerEvent`]s.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::chain::hex::{hex_bytes, serde_prefix_hex, serde_prefix_opt_hex};
use crate::chain::{
    BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, MessageSignature, Sha512Trunc256Sum,
    StacksBlockId, StacksTransaction,
};
use crate::codec::StacksMessageCodec;
use crate::error::EventError;
use crate::stackerdb::StackerDBChunksEvent;
use crate::v0::messages::ValidateRejectCode;

use super::{SignerEvent, SignerEventTrait};

/// The cost of evaluating a block, as the node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecutionCost {
    /// Bytes written.
    pub write_length: u64,
    /// Write operations.
    pub write_count: u64,
    /// Bytes read.
    pub read_length: u64,
    /// Read operations.
    pub read_count: u64,
    /// Runtime cost units.
    pub runtime: u64,
}

/// A block proposal the node found valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockValidateOk {
    /// The proposal's signer signature hash.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// The cost of evaluating the block.
    pub cost: ExecutionCost,
    /// The block's size in bytes.
    pub size: u64,
    /// How long validation took.
    pub validation_time_ms: u64,
    /// The hash of the transaction replay set the block was validated against, if any.
    #[serde(default)]
    pub replay_tx_hash: Option<u64>,
    /// Whether the block exhausted the replay set.
    pub replay_tx_exhausted: bool,
}

/// A block proposal the node rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockValidateReject {
    /// The proposal's signer signature hash.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// The node's explanation.
    pub reason: String,
    /// Why the block was rejected (JSON: the variant name).
    pub reason_code: ValidateRejectCode,
}

/// The body of `/proposal_response`: tagged by `"result"` (`"Ok"` or `"Reject"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result")]
pub enum BlockValidateResponse {
    /// The block is valid.
    Ok(BlockValidateOk),
    /// The block is invalid.
    Reject(BlockValidateReject),
}

impl BlockValidateResponse {
    /// The signer signature hash of the proposal this answers.
    pub fn signer_signature_hash(&self) -> &Sha512Trunc256Sum {
        match self {
            Self::Ok(ok) => &ok.signer_signature_hash,
            Self::Reject(reject) => &reject.signer_signature_hash,
        }
    }
}

/// The body of `/new_burn_block`. Every field is required; hashes are `0x`-prefixed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BurnBlockEvent {
    /// The burn block's hash.
    #[serde(with = "serde_prefix_hex")]
    pub burn_block_hash: BurnchainHeaderHash,
    /// The burn block's height.
    pub burn_block_height: u64,
    /// The PoX reward recipients (any JSON).
    pub reward_recipients: Vec<serde_json::Value>,
    /// The reward slot holders' addresses.
    pub reward_slot_holders: Vec<String>,
    /// The amount burnt.
    pub burn_amount: u64,
    /// The sortition's consensus hash.
    #[serde(with = "serde_prefix_hex")]
    pub consensus_hash: ConsensusHash,
    /// The parent burn block's hash.
    #[serde(with = "serde_prefix_hex")]
    pub parent_burn_block_hash: BurnchainHeaderHash,
}

/// The body of `/new_block` (only the fields a signer uses; the rest is ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StacksBlockEvent {
    #[serde(with = "serde_prefix_hex")]
    index_block_hash: StacksBlockId,
    #[serde(with = "serde_prefix_opt_hex", default)]
    signer_signature_hash: Option<Sha512Trunc256Sum>,
    #[serde(with = "serde_prefix_hex")]
    consensus_hash: ConsensusHash,
    #[serde(with = "serde_prefix_hex")]
    #[allow(dead_code)] // required in the body, but a signer has no use for it
    block_hash: BlockHeaderHash,
    block_height: u64,
    /// The block's transactions, decoded from each entry's `raw_tx`; burnchain operations
    /// (`raw_tx` of `0x00`) are left out.
    #[serde(deserialize_with = "deserialize_raw_txs")]
    pub transactions: Vec<StacksTransaction>,
    #[serde(default, deserialize_with = "deserialize_signer_signatures")]
    signer_signature: Vec<MessageSignature>,
}

impl StacksBlockEvent {
    /// The block's signer signatures as the node sent them, unverified (see
    /// [`SignerEvent::NewBlock`]).
    pub fn signer_signature(&self) -> &[MessageSignature] {
        &self.signer_signature
    }
}

/// `signer_signature`: a list of 130-digit hex strings (the node writes them without `0x`; a
/// `0x` prefix is accepted too). Leniently: the reference never reads the field, so whatever
/// it holds must not make the event fail; an entry that is not a signature is left out, and
/// anything but a list (e.g. `null`) is an empty list.
fn deserialize_signer_signatures<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<MessageSignature>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let serde_json::Value::Array(entries) = value else {
        return Ok(Vec::new());
    };
    Ok(entries
        .iter()
        .filter_map(|entry| {
            let text = entry.as_str()?;
            MessageSignature::from_hex(text.strip_prefix("0x").unwrap_or(text)).ok()
        })
        .collect())
}

/// One entry of `/new_block`'s `transactions`; everything but `raw_tx` is ignored.
#[derive(Deserialize)]
struct NewBlockTransaction {
    raw_tx: String,
}

impl NewBlockTransaction {
    /// The decoded transaction, or `None` for a burnchain operation. As the reference, the
    /// first two characters (normally `0x`) are dropped without being checked.
    fn decode(&self) -> Result<Option<StacksTransaction>, String> {
        let digits = self
            .raw_tx
            .get(2..)
            .ok_or_else(|| "expected a hex string of at least length 2".to_string())?;
        if digits == "00" {
            return Ok(None);
        }
        let bytes = hex_bytes(digits).map_err(|e| format!("Failed to deserialize raw tx: {e}"))?;
        StacksTransaction::consensus_deserialize(&mut bytes.as_slice())
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

fn deserialize_raw_txs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<StacksTransaction>, D::Error> {
    let entries: Vec<NewBlockTransaction> = Deserialize::deserialize(d)?;
    let mut txs = Vec::new();
    for entry in &entries {
        if let Some(tx) = entry.decode().map_err(serde::de::Error::custom)? {
            txs.push(tx);
        }
    }
    Ok(txs)
}

/// `signers-{set}-{id}` → `(set, id)`: exactly three `-`-separated parts, the last two u32s
/// (Rust's integer parsing, so a leading `+` is accepted, as the reference).
fn parse_signers_contract_name(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.split('-');
    let _prefix = parts.next()?;
    let signer_set = parts.next()?.parse().ok()?;
    let message_id = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((signer_set, message_id))
}

impl<T: SignerEventTrait> TryFrom<StackerDBChunksEvent> for SignerEvent<T> {
    type Error = EventError;

    fn try_from(event: StackerDBChunksEvent) -> Result<Self, Self::Error> {
        let contract = &event.contract_id;
        let name = contract.name.as_str();
        if contract.is_boot() && name == "miners" {
            // Miner chunks are not authenticated here: a signer checks the proposal itself.
            let messages = event
                .modified_slots
                .iter()
                .filter_map(|chunk| T::consensus_deserialize(&mut chunk.data.as_slice()).ok())
                .collect();
            return Ok(SignerEvent::MinerMessages(messages));
        }
        if contract.is_boot() && name.starts_with("signers") {
            let Some((signer_set, _message_id)) = parse_signers_contract_name(name) else {
                return Err(EventError::UnrecognizedStackerDBContract(event.contract_id));
            };
            let messages = event
                .modified_slots
                .iter()
                .filter_map(|chunk| {
                    let public_key = chunk.recover_pk().ok()?;
                    let message = T::consensus_deserialize(&mut chunk.data.as_slice()).ok()?;
                    Some((public_key, message))
                })
                .collect();
            return Ok(SignerEvent::SignerMessages {
                signer_set,
                messages,
                received_time: SystemTime::now(),
            });
        }
        Err(EventError::UnrecognizedStackerDBContract(event.contract_id))
    }
}

impl<T: SignerEventTrait> From<BlockValidateResponse> for SignerEvent<T> {
    fn from(response: BlockValidateResponse) -> Self {
        SignerEvent::BlockValidationResponse(response)
    }
}

impl<T: SignerEventTrait> From<BurnBlockEvent> for SignerEvent<T> {
    fn from(event: BurnBlockEvent) -> Self {
        SignerEvent::NewBurnBlock {
            burn_height: event.burn_block_height,
            burn_header_hash: event.burn_block_hash,
            consensus_hash: event.consensus_hash,
            received_time: SystemTime::now(),
            parent_burn_block_hash: event.parent_burn_block_hash,
        }
    }
}

impl<T: SignerEventTrait> From<StacksBlockEvent> for SignerEvent<T> {
    fn from(event: StacksBlockEvent) -> Self {
        SignerEvent::NewBlock {
            block_id: event.index_block_hash,
            consensus_hash: event.consensus_hash,
            signer_sighash: event.signer_signature_hash,
            block_height: event.block_height,
            transactions: event.transactions,
            signer_signature: event.signer_signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signers_contract_names_parse_like_the_reference() {
        assert_eq!(parse_signers_contract_name("signers-1-12"), Some((1, 12)));
        assert_eq!(parse_signers_contract_name("signers-+1-2"), Some((1, 2)));
        assert_eq!(parse_signers_contract_name("signers-x-1"), None);
        assert_eq!(parse_signers_contract_name("signers-1-1-1"), None);
        assert_eq!(parse_signers_contract_name("signers"), None);
        assert_eq!(parse_signers_contract_name("signers-4294967296-1"), None);
    }

    fn block_body(signer_signature: &str) -> String {
        let hash = format!("0x{}", "11".repeat(32));
        let mut body = format!(
            r#"{{"index_block_hash":"{hash}","consensus_hash":"0x{ch}","block_hash":"{hash}","block_height":7,"signer_signature_hash":"{hash}","transactions":[]"#,
            ch = "22".repeat(20),
        );
        if !signer_signature.is_empty() {
            body.push_str(&format!(r#","signer_signature":{signer_signature}"#));
        }
        body.push('}');
        body
    }

    #[test]
    fn new_block_signer_signatures_are_read_leniently_and_never_fail_the_event() {
        let sig = "01".repeat(65);
        let decode = |list: &str| -> Vec<MessageSignature> {
            let event: StacksBlockEvent = serde_json::from_str(&block_body(list)).unwrap();
            event.signer_signature().to_vec()
        };
        let one = MessageSignature([1; 65]);
        assert_eq!(decode(&format!(r#"["{sig}"]"#)), [one]);
        assert_eq!(decode(&format!(r#"["0x{sig}", "{sig}"]"#)), [one, one]);
        assert_eq!(decode(""), [], "absent");
        assert_eq!(decode("null"), []);
        assert_eq!(decode(r#""not a list""#), []);
        assert_eq!(
            decode(&format!(
                r#"["zz", 7, null, "{}", "{sig}"]"#,
                "01".repeat(64)
            )),
            [one],
            "entries that are not 65 hex bytes are left out"
        );
        let event: StacksBlockEvent = serde_json::from_str(&block_body(r#"["01"]"#)).unwrap();
        let SignerEvent::<crate::v0::messages::SignerMessage>::NewBlock {
            signer_signature, ..
        } = SignerEvent::from(event)
        else {
            panic!("not a NewBlock");
        };
        assert!(signer_signature.is_empty());
    }

    #[test]
    fn raw_tx_of_0x00_is_a_burn_operation_and_the_prefix_is_unchecked() {
        let burn = NewBlockTransaction {
            raw_tx: "0x00".into(),
        };
        assert_eq!(burn.decode(), Ok(None));
        let unchecked = NewBlockTransaction {
            raw_tx: "zz00".into(),
        };
        assert_eq!(unchecked.decode(), Ok(None));
        let short = NewBlockTransaction { raw_tx: "0".into() };
        assert!(short.decode().is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn validate_code() -> impl Strategy<Value = ValidateRejectCode> {
        (0u8..=10).prop_map(|n| ValidateRejectCode::from_u8(n).unwrap())
    }

    fn response() -> impl Strategy<Value = BlockValidateResponse> {
        let hash = any::<[u8; 32]>().prop_map(Sha512Trunc256Sum);
        let ok = (
            hash.clone(),
            any::<[u64; 5]>(),
            any::<u64>(),
            any::<u64>(),
            any::<Option<u64>>(),
            any::<bool>(),
        )
            .prop_map(|(hash, c, size, ms, replay, exhausted)| {
                BlockValidateResponse::Ok(BlockValidateOk {
                    signer_signature_hash: hash,
                    cost: ExecutionCost {
                        write_length: c[0],
                        write_count: c[1],
                        read_length: c[2],
                        read_count: c[3],
                        runtime: c[4],
                    },
                    size,
                    validation_time_ms: ms,
                    replay_tx_hash: replay,
                    replay_tx_exhausted: exhausted,
                })
            });
        let reject = (hash, ".*", validate_code()).prop_map(|(hash, reason, code)| {
            BlockValidateResponse::Reject(BlockValidateReject {
                signer_signature_hash: hash,
                reason,
                reason_code: code,
            })
        });
        prop_oneof![ok, reject]
    }

    proptest! {
        #[test]
        fn validation_responses_round_trip_through_json(response in response()) {
            let json = serde_json::to_vec(&response).unwrap();
            let back: BlockValidateResponse = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(back, response);
        }

        #[test]
        fn arbitrary_event_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = serde_json::from_slice::<BlockValidateResponse>(&body);
            let _ = serde_json::from_slice::<BurnBlockEvent>(&body);
            let _ = serde_json::from_slice::<StacksBlockEvent>(&body);
            if let Ok(event) = serde_json::from_slice::<StackerDBChunksEvent>(&body) {
                let _ = SignerEvent::<crate::v0::messages::SignerMessage>::try_from(event);
            }
        }
    }
}
