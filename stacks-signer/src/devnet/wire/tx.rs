//! The transactions the mock miner puts in blocks (tenure changes, Nakamoto coinbases, STX
//! transfers), signed with a single key, and a decoder for exactly those shapes.

use libsigner::chain::{
    ConsensusHash, Hash160, MessageSignature, PrincipalData, Sha512Trunc256Sum, StacksAddress,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, Txid,
};
use libsigner::codec::{read_bytes, Error as CodecError, StacksMessageCodec};

use super::read;

const AUTH_STANDARD: u8 = 0x04;
const HASH_MODE_P2PKH: u8 = 0x00;
const KEY_ENCODING_COMPRESSED: u8 = 0x00;
const ANCHOR_ON_CHAIN_ONLY: u8 = 0x01;
const ANCHOR_ANY: u8 = 0x03;
const POST_CONDITION_DENY: u8 = 0x02;
const PAYLOAD_TOKEN_TRANSFER: u8 = 0;
const PAYLOAD_COINBASE: u8 = 4;
const PAYLOAD_TENURE_CHANGE: u8 = 7;
const PAYLOAD_NAKAMOTO_COINBASE: u8 = 8;

/// A VRF proof that decodes (Gamma = the Ed25519 base point, a canonical scalar); the mock
/// never evaluates VRFs.
const MOCK_VRF_PROOF: [u8; 80] = {
    let mut proof = [0u8; 80];
    proof[0] = 0x58;
    let mut i = 1;
    while i < 32 {
        proof[i] = 0x66;
        i += 1;
    }
    proof[48] = 1;
    proof
};

/// Why a tenure change happened (`TenureChangeCause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TenureChangeCause {
    /// A new sortition winner starts its tenure.
    BlockFound = 0,
    /// The tenure's budget is reset (burn view changed or time passed).
    Extended = 1,
    /// Runtime budget extension.
    ExtendedRuntime = 2,
    /// Read-count budget extension.
    ExtendedReadCount = 3,
    /// Read-length budget extension.
    ExtendedReadLength = 4,
    /// Write-count budget extension.
    ExtendedWriteCount = 5,
    /// Write-length budget extension.
    ExtendedWriteLength = 6,
}

impl TenureChangeCause {
    fn from_u8(byte: u8) -> Option<Self> {
        use TenureChangeCause::*;
        [
            BlockFound,
            Extended,
            ExtendedRuntime,
            ExtendedReadCount,
            ExtendedReadLength,
            ExtendedWriteCount,
            ExtendedWriteLength,
        ]
        .into_iter()
        .find(|c| *c as u8 == byte)
    }
}

/// A tenure-change payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenureChange {
    /// The tenure this starts or extends.
    pub tenure_consensus_hash: ConsensusHash,
    /// The previous tenure.
    pub prev_tenure_consensus_hash: ConsensusHash,
    /// The burn view the miner saw.
    pub burn_view_consensus_hash: ConsensusHash,
    /// The last block of the previous tenure.
    pub previous_tenure_end: StacksBlockId,
    /// How many blocks the previous tenure had.
    pub previous_tenure_blocks: u32,
    /// Why.
    pub cause: TenureChangeCause,
    /// Hash160 of the miner's key.
    pub pubkey_hash: Hash160,
}

/// What a decoded transaction does, as far as the mock cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxPayloadKind {
    /// An STX transfer.
    TokenTransfer {
        /// The recipient.
        recipient: PrincipalData,
        /// µSTX.
        amount: u64,
    },
    /// A (Nakamoto or older) coinbase.
    Coinbase,
    /// A tenure change.
    TenureChange(TenureChange),
}

/// A single-signature transaction: its consensus bytes and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTransaction {
    bytes: Vec<u8>,
    /// The payload, decoded.
    pub payload: TxPayloadKind,
    /// The origin's hash160.
    pub origin: Hash160,
    /// The origin's nonce.
    pub nonce: u64,
}

struct Unsigned {
    mainnet: bool,
    chain_id: u32,
    anchor_mode: u8,
    payload: Vec<u8>,
}

impl Unsigned {
    fn encode(&self, signer: &Hash160, nonce: u64, fee: u64, sig: &MessageSignature) -> Vec<u8> {
        let mut out = Vec::with_capacity(180 + self.payload.len());
        out.push(if self.mainnet { 0x00 } else { 0x80 });
        out.extend_from_slice(&self.chain_id.to_be_bytes());
        out.push(AUTH_STANDARD);
        out.push(HASH_MODE_P2PKH);
        out.extend_from_slice(&signer.0);
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&fee.to_be_bytes());
        out.push(KEY_ENCODING_COMPRESSED);
        out.extend_from_slice(&sig.0);
        out.push(self.anchor_mode);
        out.push(POST_CONDITION_DENY);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Signs as the reference does: `presign = H(txid(cleared) || 0x04 || fee || nonce)`.
    fn sign(self, key: &StacksPrivateKey, nonce: u64, fee: u64) -> MockTransaction {
        let signer = Hash160::from_node_public_key(&StacksPublicKey::from_private(key));
        let cleared = self.encode(&signer, 0, 0, &MessageSignature::empty());
        let initial = Sha512Trunc256Sum::from_data(&cleared);
        let presign = Sha512Trunc256Sum::from_parts(&[
            &initial.0,
            &[AUTH_STANDARD],
            &fee.to_be_bytes(),
            &nonce.to_be_bytes(),
        ]);
        // Signing a 32-byte digest with a valid key cannot fail.
        let sig = key
            .sign(&presign.0)
            .unwrap_or_else(|_| MessageSignature::empty());
        let bytes = self.encode(&signer, nonce, fee, &sig);
        let mut slice = bytes.as_slice();
        // The bytes were just built from a known shape; decoding them cannot fail.
        MockTransaction::read(&mut slice).unwrap_or(MockTransaction {
            bytes: Vec::new(),
            payload: TxPayloadKind::Coinbase,
            origin: signer,
            nonce,
        })
    }
}

impl MockTransaction {
    /// A tenure-change transaction signed by the miner.
    pub fn tenure_change(
        key: &StacksPrivateKey,
        mainnet: bool,
        chain_id: u32,
        nonce: u64,
        change: &TenureChange,
    ) -> Self {
        let mut payload = vec![PAYLOAD_TENURE_CHANGE];
        payload.extend_from_slice(&change.tenure_consensus_hash.0);
        payload.extend_from_slice(&change.prev_tenure_consensus_hash.0);
        payload.extend_from_slice(&change.burn_view_consensus_hash.0);
        payload.extend_from_slice(&change.previous_tenure_end.0);
        payload.extend_from_slice(&change.previous_tenure_blocks.to_be_bytes());
        payload.push(change.cause as u8);
        payload.extend_from_slice(&change.pubkey_hash.0);
        Unsigned {
            mainnet,
            chain_id,
            anchor_mode: ANCHOR_ON_CHAIN_ONLY,
            payload,
        }
        .sign(key, nonce, 0)
    }

    /// A Nakamoto coinbase (no alternate recipient) signed by the miner.
    pub fn nakamoto_coinbase(
        key: &StacksPrivateKey,
        mainnet: bool,
        chain_id: u32,
        nonce: u64,
        tag: [u8; 32],
    ) -> Self {
        let mut payload = vec![PAYLOAD_NAKAMOTO_COINBASE];
        payload.extend_from_slice(&tag);
        payload.push(0x09);
        payload.extend_from_slice(&MOCK_VRF_PROOF);
        Unsigned {
            mainnet,
            chain_id,
            anchor_mode: ANCHOR_ON_CHAIN_ONLY,
            payload,
        }
        .sign(key, nonce, 0)
    }

    /// An STX transfer signed by `key`.
    pub fn token_transfer(
        key: &StacksPrivateKey,
        mainnet: bool,
        chain_id: u32,
        nonce: u64,
        recipient: &StacksAddress,
        amount: u64,
    ) -> Self {
        let mut payload = vec![PAYLOAD_TOKEN_TRANSFER];
        payload.extend_from_slice(&PrincipalData::from(*recipient).serialize_to_vec());
        payload.extend_from_slice(&amount.to_be_bytes());
        payload.extend_from_slice(&[0u8; 34]);
        Unsigned {
            mainnet,
            chain_id,
            anchor_mode: ANCHOR_ANY,
            payload,
        }
        .sign(key, nonce, 180)
    }

    /// The consensus bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The txid: `sha512_256(bytes)`.
    pub fn txid(&self) -> Txid {
        Txid::from_tx_bytes(&self.bytes)
    }

    /// The tenure change, if this is one.
    pub fn tenure_change_payload(&self) -> Option<&TenureChange> {
        match &self.payload {
            TxPayloadKind::TenureChange(tc) => Some(tc),
            _ => None,
        }
    }

    /// Reads one transaction of a supported shape from the front of `fd`.
    pub fn read(fd: &mut &[u8]) -> Result<Self, CodecError> {
        let start: &[u8] = fd;
        let _version: u8 = read(fd)?;
        let _chain_id: u32 = read(fd)?;
        let auth: u8 = read(fd)?;
        if auth != AUTH_STANDARD {
            return Err(unsupported("sponsored authorization"));
        }
        let hash_mode: u8 = read(fd)?;
        if hash_mode != HASH_MODE_P2PKH && hash_mode != 0x02 {
            return Err(unsupported("multisig authorization"));
        }
        let origin: Hash160 = read(fd)?;
        let nonce: u64 = read(fd)?;
        let _fee: u64 = read(fd)?;
        let key_encoding: u8 = read(fd)?;
        if key_encoding > 1 {
            return Err(CodecError::DeserializeError("bad key encoding".into()));
        }
        let _sig: MessageSignature = read(fd)?;
        let anchor: u8 = read(fd)?;
        if !(1..=3).contains(&anchor) {
            return Err(CodecError::DeserializeError("bad anchor mode".into()));
        }
        let pc_mode: u8 = read(fd)?;
        if !(1..=2).contains(&pc_mode) {
            return Err(CodecError::DeserializeError(
                "bad post-condition mode".into(),
            ));
        }
        let post_conditions: u32 = read(fd)?;
        if post_conditions != 0 {
            return Err(unsupported("post conditions"));
        }
        let payload = read_payload(fd)?;
        let used = start.len() - fd.len();
        Ok(MockTransaction {
            bytes: start[..used].to_vec(),
            payload,
            origin,
            nonce,
        })
    }
}

fn unsupported(what: &str) -> CodecError {
    CodecError::DeserializeError(format!("mock node does not decode {what}"))
}

fn read_payload(fd: &mut &[u8]) -> Result<TxPayloadKind, CodecError> {
    let id: u8 = read(fd)?;
    match id {
        PAYLOAD_TOKEN_TRANSFER => {
            let recipient = PrincipalData::consensus_deserialize(fd)?;
            let amount: u64 = read(fd)?;
            let _memo = read_bytes(fd, 34)?;
            Ok(TxPayloadKind::TokenTransfer { recipient, amount })
        }
        PAYLOAD_COINBASE => {
            let _tag = read_bytes(fd, 32)?;
            Ok(TxPayloadKind::Coinbase)
        }
        PAYLOAD_NAKAMOTO_COINBASE => {
            let _tag = read_bytes(fd, 32)?;
            let opt: u8 = read(fd)?;
            match opt {
                0x09 => {}
                0x0a => {
                    let prefix: u8 = read(fd)?;
                    PrincipalData::read_value_body(prefix, fd)?;
                }
                _ => return Err(unsupported("coinbase recipient")),
            }
            let _proof = read_bytes(fd, 80)?;
            Ok(TxPayloadKind::Coinbase)
        }
        PAYLOAD_TENURE_CHANGE => {
            let tenure_consensus_hash = read(fd)?;
            let prev_tenure_consensus_hash = read(fd)?;
            let burn_view_consensus_hash = read(fd)?;
            let previous_tenure_end = read(fd)?;
            let previous_tenure_blocks = read(fd)?;
            let cause_byte: u8 = read(fd)?;
            let cause = TenureChangeCause::from_u8(cause_byte)
                .ok_or_else(|| CodecError::DeserializeError("bad tenure change cause".into()))?;
            let pubkey_hash = read(fd)?;
            Ok(TxPayloadKind::TenureChange(TenureChange {
                tenure_consensus_hash,
                prev_tenure_consensus_hash,
                burn_view_consensus_hash,
                previous_tenure_end,
                previous_tenure_blocks,
                cause,
                pubkey_hash,
            }))
        }
        other => Err(unsupported(&format!("payload type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_round_trips_and_its_signature_recovers_the_origin_key() {
        let key = StacksPrivateKey::from_seed(b"transfer");
        let pk = StacksPublicKey::from_private(&key);
        let to = StacksAddress::burn_address(false);
        let tx = MockTransaction::token_transfer(&key, false, 0x8000_0000, 3, &to, 1000);
        assert_eq!(tx.nonce, 3);
        assert_eq!(tx.origin, Hash160::from_node_public_key(&pk));
        let mut slice = tx.bytes();
        let again = MockTransaction::read(&mut slice).unwrap();
        assert!(slice.is_empty());
        assert_eq!(again, tx);
        // Recompute the presign hash and recover the key from the stored signature.
        let bytes = tx.bytes();
        let sig = MessageSignature::from_raw(&bytes[44..109]).unwrap();
        let mut cleared = bytes.to_vec();
        cleared[27..43].fill(0);
        cleared[44..109].fill(0);
        let initial = Sha512Trunc256Sum::from_data(&cleared);
        let presign = Sha512Trunc256Sum::from_parts(&[
            &initial.0,
            &[AUTH_STANDARD],
            &180u64.to_be_bytes(),
            &3u64.to_be_bytes(),
        ]);
        let recovered = StacksPublicKey::recover_to_pubkey(&presign.0, &sig).unwrap();
        assert_eq!(recovered.to_bytes_compressed(), pk.to_bytes_compressed());
    }
}
