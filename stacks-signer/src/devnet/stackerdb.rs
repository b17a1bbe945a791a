//! The node's StackerDB replicas (`miners` and `signers-{0,1}-{0..12}`): slot ownership,
//! reconfiguration, and the write rules of `try_replace_chunk` in the node's order.

use std::collections::BTreeMap;

use libsigner::chain::{Hash160, MessageSignature, Sha512Trunc256Sum, StacksPrivateKey};

use crate::client::api::{SlotMetadata, StackerDBChunkAckData, StackerDBChunkData};

/// Message ids per signer (`SIGNER_SLOTS_PER_USER`): `signers-{p}-{0..13}`.
pub const SIGNER_SLOTS_PER_USER: u32 = 13;
pub use libsigner::stackerdb::STACKERDB_MAX_CHUNK_SIZE;
/// The `miners` contract's name.
pub const MINERS_DB: &str = "miners";
/// Slots per miner in `miners` (`MINER_SLOT_COUNT`): proposal, pushed block.
pub const MINER_SLOT_COUNT: u32 = 2;

/// The name of the signers' contract for reward-cycle parity `parity` and message id `msg_id`.
pub fn signers_db_name(parity: u64, msg_id: u32) -> String {
    format!("signers-{parity}-{msg_id}")
}

/// A chunk signed by `key`, ready to post.
pub fn sign_chunk(
    key: &StacksPrivateKey,
    slot_id: u32,
    slot_version: u32,
    data: Vec<u8>,
) -> StackerDBChunkData {
    let mut chunk = StackerDBChunkData::new(slot_id, slot_version, data);
    // Signing a 32-byte digest with a valid key cannot fail; an unsigned chunk is refused.
    let _ = chunk.sign(key);
    chunk
}

/// One slot: its owner and what was last written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Hash160 of the key allowed to write it.
    pub owner: Hash160,
    /// The stored version (0 when never written).
    pub version: u32,
    /// The stored chunk.
    pub data: Vec<u8>,
    /// `sha512_256(data)`, zeros when never written.
    pub data_hash: Sha512Trunc256Sum,
    /// The writer's signature, zeros when never written.
    pub signature: MessageSignature,
}

impl Slot {
    fn fresh(owner: Hash160) -> Self {
        Slot {
            owner,
            version: 0,
            data: Vec::new(),
            data_hash: Sha512Trunc256Sum::zero(),
            signature: MessageSignature::empty(),
        }
    }

    /// The slot's metadata as the RPC reports it.
    pub fn metadata(&self, slot_id: u32) -> SlotMetadata {
        SlotMetadata {
            slot_id,
            slot_version: self.version,
            data_hash: self.data_hash,
            signature: self.signature,
        }
    }
}

/// Why a write was refused (the node's `net::Error` variants that matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkRejection {
    /// The data is over [`STACKERDB_MAX_CHUNK_SIZE`].
    TooBig,
    /// The slot id is past the slot count.
    NoSuchSlot,
    /// The signature does not recover to a key.
    Unrecoverable,
    /// The recovered key does not own the slot.
    BadSlotSigner,
    /// The version is not above the stored one.
    Stale,
}

impl ChunkRejection {
    /// The ack code: derived only from "does the slot exist" and "is it a bad signer".
    pub fn code(self, slot_exists: bool) -> u32 {
        match (slot_exists, self) {
            (false, _) => 1,
            (true, ChunkRejection::BadSlotSigner) => 2,
            (true, _) => 0,
        }
    }
}

/// The ack for a refused write.
pub fn rejection_ack(code: u32, metadata: Option<SlotMetadata>) -> StackerDBChunkAckData {
    libsigner::stackerdb::StackerDBErrorCodes::from_code(code)
        .unwrap_or(libsigner::stackerdb::StackerDBErrorCodes::DataAlreadyExists)
        .ack(metadata)
}

/// One StackerDB replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackerDb {
    /// The slots, by id.
    pub slots: Vec<Slot>,
}

impl StackerDb {
    /// Sets the slot owners: unchanged owners keep their data and version, changed or new
    /// slots are reset, slots past the new count are dropped.
    pub fn reconfigure(&mut self, owners: &[Hash160]) {
        self.slots.truncate(owners.len());
        for (i, owner) in owners.iter().enumerate() {
            match self.slots.get_mut(i) {
                Some(slot) if &slot.owner == owner => {}
                Some(slot) => *slot = Slot::fresh(*owner),
                None => self.slots.push(Slot::fresh(*owner)),
            }
        }
    }

    /// Applies the write rules in the node's order; on success stores the chunk and returns
    /// its metadata. On failure returns the ack to send.
    pub fn put_chunk(
        &mut self,
        chunk: &StackerDBChunkData,
    ) -> Result<SlotMetadata, Box<StackerDBChunkAckData>> {
        let exists = (chunk.slot_id as usize) < self.slots.len();
        let refuse = |slots: &[Slot], why: ChunkRejection| {
            let code = why.code(exists);
            let md = slots
                .get(chunk.slot_id as usize)
                .map(|s| s.metadata(chunk.slot_id));
            Box::new(rejection_ack(code, if exists { md } else { None }))
        };
        if chunk.data.len() > STACKERDB_MAX_CHUNK_SIZE as usize {
            return Err(refuse(&self.slots, ChunkRejection::TooBig));
        }
        let Some(slot) = self.slots.get(chunk.slot_id as usize) else {
            return Err(refuse(&self.slots, ChunkRejection::NoSuchSlot));
        };
        let signer = match chunk.recover_pk() {
            Ok(pk) => Hash160::from_node_public_key(&pk),
            Err(_) => return Err(refuse(&self.slots, ChunkRejection::Unrecoverable)),
        };
        if signer != slot.owner {
            return Err(refuse(&self.slots, ChunkRejection::BadSlotSigner));
        }
        if chunk.slot_version <= slot.version {
            return Err(refuse(&self.slots, ChunkRejection::Stale));
        }
        let stored = Slot {
            owner: slot.owner,
            version: chunk.slot_version,
            data: chunk.data.clone(),
            data_hash: Sha512Trunc256Sum::from_data(&chunk.data),
            signature: chunk.sig,
        };
        let md = stored.metadata(chunk.slot_id);
        if let Some(slot) = self.slots.get_mut(chunk.slot_id as usize) {
            *slot = stored;
        }
        Ok(md)
    }
}

/// Every StackerDB the node hosts, by contract name (all issued by the boot address).
#[derive(Debug, Clone, Default)]
pub struct StackerDbs {
    dbs: BTreeMap<String, StackerDb>,
}

impl StackerDbs {
    /// `miners` and the 26 signer contracts, all without slots.
    pub fn new() -> Self {
        let mut dbs = BTreeMap::new();
        dbs.insert(MINERS_DB.to_string(), StackerDb::default());
        for parity in 0..2 {
            for msg_id in 0..SIGNER_SLOTS_PER_USER {
                dbs.insert(signers_db_name(parity, msg_id), StackerDb::default());
            }
        }
        StackerDbs { dbs }
    }

    /// The contract names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.dbs.keys()
    }

    /// A replica by name.
    pub fn get(&self, name: &str) -> Option<&StackerDb> {
        self.dbs.get(name)
    }

    /// A replica by name, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut StackerDb> {
        self.dbs.get_mut(name)
    }

    /// Sets the owners of every `signers-{parity}-*` contract (one slot per signer).
    pub fn reconfigure_signers(&mut self, parity: u64, owners: &[Hash160]) {
        for msg_id in 0..SIGNER_SLOTS_PER_USER {
            if let Some(db) = self.dbs.get_mut(&signers_db_name(parity, msg_id)) {
                db.reconfigure(owners);
            }
        }
    }

    /// Sets the owners of `miners` (two slots per miner index).
    pub fn reconfigure_miners(&mut self, miners: &[Hash160]) {
        let owners: Vec<Hash160> = miners
            .iter()
            .flat_map(|m| std::iter::repeat_n(*m, MINER_SLOT_COUNT as usize))
            .collect();
        if let Some(db) = self.dbs.get_mut(MINERS_DB) {
            db.reconfigure(&owners);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libsigner::chain::StacksPublicKey;

    fn db_for(key: &StacksPrivateKey) -> StackerDb {
        let mut db = StackerDb::default();
        db.reconfigure(&[Hash160::from_node_public_key(
            &StacksPublicKey::from_private(key),
        )]);
        db
    }

    #[test]
    fn fresh_slot_rejects_version_zero_then_accepts_higher_versions() {
        let key = StacksPrivateKey::from_seed(b"w");
        let mut db = db_for(&key);
        let ack = db.put_chunk(&sign_chunk(&key, 0, 0, vec![1])).unwrap_err();
        assert_eq!(ack.code, Some(0));
        assert_eq!(ack.metadata.as_ref().unwrap().slot_version, 0);
        assert_eq!(
            ack.reason.as_deref(),
            Some(
                r#"{"code":0,"message":"DataAlreadyExists","reason":"Data for this slot and version already exist"}"#
            )
        );
        let md = db.put_chunk(&sign_chunk(&key, 0, 5, vec![1, 2])).unwrap();
        assert_eq!(md.slot_version, 5);
        assert_eq!(md.data_hash, Sha512Trunc256Sum::from_data(&[1, 2]));
        assert!(db.put_chunk(&sign_chunk(&key, 0, 5, vec![3])).is_err());
        assert!(db.put_chunk(&sign_chunk(&key, 0, 9, vec![3])).is_ok());
    }

    #[test]
    fn wrong_key_is_bad_signer_and_missing_slot_has_no_metadata() {
        let key = StacksPrivateKey::from_seed(b"w");
        let other = StacksPrivateKey::from_seed(b"x");
        let mut db = db_for(&key);
        let ack = db
            .put_chunk(&sign_chunk(&other, 0, 1, vec![1]))
            .unwrap_err();
        assert_eq!(ack.code, Some(2));
        assert!(ack.metadata.is_some());
        let ack = db.put_chunk(&sign_chunk(&key, 3, 1, vec![1])).unwrap_err();
        assert_eq!(ack.code, Some(1));
        assert!(ack.metadata.is_none());
        assert_eq!(
            serde_json::to_string(&ack).unwrap(),
            r#"{"accepted":false,"reason":"{\"code\":1,\"message\":\"NoSuchSlot\",\"reason\":\"No such StackerDB slot\"}","code":1}"#
        );
    }

    #[test]
    fn reconfigure_keeps_unchanged_owners_and_resets_changed_ones() {
        let a = StacksPrivateKey::from_seed(b"a");
        let b = StacksPrivateKey::from_seed(b"b");
        let ha = Hash160::from_node_public_key(&StacksPublicKey::from_private(&a));
        let hb = Hash160::from_node_public_key(&StacksPublicKey::from_private(&b));
        let mut db = StackerDb::default();
        db.reconfigure(&[ha, hb]);
        db.put_chunk(&sign_chunk(&a, 0, 3, vec![1])).unwrap();
        db.put_chunk(&sign_chunk(&b, 1, 4, vec![1])).unwrap();
        db.reconfigure(&[ha, ha, hb]);
        assert_eq!(db.slots[0].version, 3);
        assert_eq!(db.slots[1].version, 0);
        assert_eq!(db.slots[2].version, 0);
        db.reconfigure(&[ha]);
        assert_eq!(db.slots.len(), 1);
    }
}
