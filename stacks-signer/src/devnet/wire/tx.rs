//! The transactions the mock miner puts in blocks — tenure changes, Nakamoto coinbases and STX
//! transfers — single-signature, signed with the reference's sighash chain, as libsigner
//! `StacksTransaction`s.

use libsigner::chain::{
    Hash160, MessageSignature, PrincipalData, Sha512Trunc256Sum, StacksAddress, StacksPrivateKey,
    StacksPublicKey, StacksTransaction, TenureChangePayload,
};
use libsigner::codec::StacksMessageCodec;

const AUTH_STANDARD: u8 = 0x04;
const HASH_MODE_P2PKH: u8 = 0x00;
const KEY_ENCODING_COMPRESSED: u8 = 0x00;
const ANCHOR_ON_CHAIN_ONLY: u8 = 0x01;
const ANCHOR_ANY: u8 = 0x03;
const POST_CONDITION_DENY: u8 = 0x02;
const PAYLOAD_TOKEN_TRANSFER: u8 = 0;
const PAYLOAD_TENURE_CHANGE: u8 = 7;
const PAYLOAD_NAKAMOTO_COINBASE: u8 = 8;
/// Fee of the mock's transfers.
pub const TRANSFER_FEE: u64 = 180;

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

    /// Signs as the reference does: `presign = H(txid(cleared) || 0x04 || fee || nonce)`,
    /// then decodes the result with libsigner's codec.
    fn sign(self, key: &StacksPrivateKey, nonce: u64, fee: u64) -> StacksTransaction {
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
        StacksTransaction::consensus_deserialize(&mut bytes.as_slice())
            .expect("the mock's transaction shapes always decode")
    }
}

/// A tenure-change transaction signed by the miner.
pub fn tenure_change(
    key: &StacksPrivateKey,
    mainnet: bool,
    chain_id: u32,
    nonce: u64,
    change: &TenureChangePayload,
) -> StacksTransaction {
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
) -> StacksTransaction {
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
) -> StacksTransaction {
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
    .sign(key, nonce, TRANSFER_FEE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libsigner::chain::{ConsensusHash, StacksBlockId, TenureChangeCause};

    #[test]
    fn every_kind_verifies_and_keeps_its_fields() {
        let key = StacksPrivateKey::from_seed(b"transfer");
        let pkh = Hash160::from_node_public_key(&StacksPublicKey::from_private(&key));
        let to = StacksAddress::burn_address(false);
        let transfer = token_transfer(&key, false, 0x8000_0000, 3, &to, 1000);
        transfer.verify().unwrap();
        assert_eq!(transfer.get_origin_nonce(), 3);
        assert_eq!(transfer.get_tx_fee(), TRANSFER_FEE);
        assert_eq!(transfer.origin_address().bytes(), &pkh);
        let change = TenureChangePayload {
            tenure_consensus_hash: ConsensusHash([1; 20]),
            prev_tenure_consensus_hash: ConsensusHash([2; 20]),
            burn_view_consensus_hash: ConsensusHash([3; 20]),
            previous_tenure_end: StacksBlockId([4; 32]),
            previous_tenure_blocks: 5,
            cause: TenureChangeCause::BlockFound,
            pubkey_hash: pkh,
        };
        let tc = tenure_change(&key, true, 1, 0, &change);
        tc.verify().unwrap();
        assert!(tc.is_mainnet());
        assert_eq!(tc.try_as_tenure_change(), Some(&change));
        let coinbase = nakamoto_coinbase(&key, false, 0x8000_0000, 1, [9; 32]);
        coinbase.verify().unwrap();
        assert!(coinbase
            .try_as_coinbase()
            .is_some_and(|(_, _, vrf)| vrf.is_some()));
    }
}
