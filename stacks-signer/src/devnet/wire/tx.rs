//! The transactions the mock miner puts in blocks (tenure changes, Nakamoto coinbases, STX
//! transfers), signed with a single key; decoding goes through libsigner's transaction codec.

use libsigner::chain::{
    Hash160, MessageSignature, PrincipalData, Sha512Trunc256Sum, StacksAddress, StacksPrivateKey,
    StacksPublicKey, StacksTransaction, TransactionPayload, Txid,
};
use libsigner::codec::{Error as CodecError, StacksMessageCodec};

const AUTH_STANDARD: u8 = 0x04;
const HASH_MODE_P2PKH: u8 = 0x00;
const KEY_ENCODING_COMPRESSED: u8 = 0x00;
const ANCHOR_ON_CHAIN_ONLY: u8 = 0x01;
const ANCHOR_ANY: u8 = 0x03;
const POST_CONDITION_DENY: u8 = 0x02;
const PAYLOAD_TOKEN_TRANSFER: u8 = 0;
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

pub use libsigner::chain::{TenureChangeCause, TenureChangePayload as TenureChange};

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
    /// Anything else (by the reference's payload name).
    Other(&'static str),
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
        payload.extend_from_slice(&change.serialize_to_vec());
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

    /// Reads one transaction from the front of `fd` with libsigner's transaction codec. The
    /// stored bytes are the re-encoding (as the txid is, in the reference).
    pub fn read(fd: &mut &[u8]) -> Result<Self, CodecError> {
        let tx = StacksTransaction::consensus_deserialize(fd)?;
        let payload = match &tx.payload {
            TransactionPayload::TokenTransfer(recipient, amount, _) => {
                TxPayloadKind::TokenTransfer {
                    recipient: recipient.clone(),
                    amount: *amount,
                }
            }
            TransactionPayload::Coinbase(..) => TxPayloadKind::Coinbase,
            TransactionPayload::TenureChange(tc) => TxPayloadKind::TenureChange(tc.clone()),
            other => TxPayloadKind::Other(other.name()),
        };
        Ok(MockTransaction {
            bytes: tx.serialize_to_vec(),
            payload,
            origin: *tx.auth.origin().signer(),
            nonce: tx.get_origin_nonce(),
        })
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
