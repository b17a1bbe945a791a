//! What the unit tests of the voting logic share: a stand-in for the node's RPCs with
//! scripted answers and call counts, builders for miner-signed Nakamoto blocks, and a fresh
//! database.

#![allow(dead_code)]
use std::cell::RefCell;
use std::collections::HashMap;

use libsigner::chain::{
    BitVec, BurnchainHeaderHash, CoinbasePayload, ConsensusHash, Hash160, NakamotoBlock,
    NakamotoBlockHeader, SortitionId, StacksAddress, StacksBlockId, StacksPrivateKey,
    StacksPublicKey, StacksTransaction, TenureChangeCause, TenureChangePayload, TransactionAuth,
    TransactionPayload, TransactionSpendingCondition, TransactionVersion, VRFProof,
};
use libsigner::v0::messages::PeerInfo;

use crate::chainstate::{CurrentAndLastSortition, NodeRpc, TenureTip};
use crate::client::api::{SortitionInfo, TenureForkingInfo};
use crate::client::{ClientError, RewardCycleInfo};
use crate::signerdb::SignerDb;

/// A node stand-in: every answer is scripted (an unscripted call fails as an unreachable node
/// would), and every call is counted by its RPC name.
#[derive(Debug)]
pub struct FakeNode {
    /// The signer's address the node reports.
    pub address: StacksAddress,
    /// `/v2/info`.
    pub peer_info: RefCell<Option<PeerInfo>>,
    /// `latest_and_last`.
    pub sortitions: RefCell<Option<CurrentAndLastSortition>>,
    /// Tenure tips by consensus hash.
    pub tenure_tips: RefCell<HashMap<ConsensusHash, TenureTip>>,
    /// Fork info by `(chosen_parent, last_sortition)`.
    pub fork_info: RefCell<HashMap<(ConsensusHash, ConsensusHash), Vec<TenureForkingInfo>>>,
    /// `/v2/pox`'s reward cycle.
    pub reward_cycle_info: RefCell<Option<RewardCycleInfo>>,
    /// Calls so far, by RPC name (`peer_info`, `sortitions`, `tenure_tip`, `fork_info`,
    /// `reward_cycle_info`).
    pub calls: RefCell<HashMap<&'static str, usize>>,
}

fn unreachable_node() -> ClientError {
    ClientError::HttpError("connection refused (test node has no answer scripted)".into())
}

impl FakeNode {
    /// A node that answers nothing yet, for the signer at `address`.
    pub fn new(address: StacksAddress) -> Self {
        Self {
            address,
            peer_info: RefCell::new(None),
            sortitions: RefCell::new(None),
            tenure_tips: RefCell::new(HashMap::new()),
            fork_info: RefCell::new(HashMap::new()),
            reward_cycle_info: RefCell::new(None),
            calls: RefCell::new(HashMap::new()),
        }
    }

    /// How many times `rpc` was called.
    pub fn calls(&self, rpc: &str) -> usize {
        self.calls.borrow().get(rpc).copied().unwrap_or(0)
    }

    fn count(&self, rpc: &'static str) {
        *self.calls.borrow_mut().entry(rpc).or_insert(0) += 1;
    }

    /// Scripts the tip of tenure `consensus_hash`.
    pub fn set_tenure_tip(&self, consensus_hash: ConsensusHash, tip: TenureTip) {
        self.tenure_tips.borrow_mut().insert(consensus_hash, tip);
    }

    /// Scripts `latest_and_last`.
    pub fn set_sortitions(&self, current: SortitionInfo, last: Option<SortitionInfo>) {
        *self.sortitions.borrow_mut() = Some(CurrentAndLastSortition {
            current_sortition: current,
            last_sortition: last,
        });
    }
}

impl NodeRpc for FakeNode {
    fn signer_address(&self) -> &StacksAddress {
        &self.address
    }

    fn get_peer_info(&self) -> Result<PeerInfo, ClientError> {
        self.count("peer_info");
        self.peer_info.borrow().clone().ok_or_else(unreachable_node)
    }

    fn get_current_and_last_sortition(&self) -> Result<CurrentAndLastSortition, ClientError> {
        self.count("sortitions");
        self.sortitions
            .borrow()
            .clone()
            .ok_or_else(unreachable_node)
    }

    fn get_tenure_tip(&self, consensus_hash: &ConsensusHash) -> Result<TenureTip, ClientError> {
        self.count("tenure_tip");
        self.tenure_tips
            .borrow()
            .get(consensus_hash)
            .cloned()
            .ok_or(ClientError::RequestFailure(404))
    }

    fn get_tenure_forking_info(
        &self,
        chosen_parent: &ConsensusHash,
        last_sortition: &ConsensusHash,
    ) -> Result<Vec<TenureForkingInfo>, ClientError> {
        self.count("fork_info");
        self.fork_info
            .borrow()
            .get(&(*chosen_parent, *last_sortition))
            .cloned()
            .ok_or_else(unreachable_node)
    }

    fn get_current_reward_cycle_info(&self) -> Result<RewardCycleInfo, ClientError> {
        self.count("reward_cycle_info");
        self.reward_cycle_info
            .borrow()
            .as_ref()
            .copied()
            .ok_or_else(unreachable_node)
    }
}

/// A consensus hash of all `n` bytes.
pub fn ch(n: u8) -> ConsensusHash {
    ConsensusHash([n; 20])
}

/// A testnet single-sig address with hash `[n; 20]`.
pub fn addr(n: u8) -> StacksAddress {
    StacksAddress::new(26, Hash160::from([n; 20])).expect("valid address version")
}

/// A miner key from a seed byte.
pub fn miner_key(n: u8) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(&[n; 32])
}

/// Hash160 of a key's compressed public key (what a sortition names as its winner).
pub fn pkh(key: &StacksPrivateKey) -> Hash160 {
    Hash160::from_data(&StacksPublicKey::from_private(key).to_bytes_compressed())
}

/// A winning sortition of tenure `consensus_hash` by `miner`, building on `parent`, after
/// `last` (burn block hash `[n; 32]` where `n` is the first byte of `consensus_hash`).
pub fn sortition(
    consensus_hash: ConsensusHash,
    miner: &StacksPrivateKey,
    parent: ConsensusHash,
    last: ConsensusHash,
) -> SortitionInfo {
    let n = consensus_hash.0[0];
    SortitionInfo {
        burn_block_hash: BurnchainHeaderHash([n; 32]),
        burn_block_height: u64::from(n),
        burn_header_timestamp: 0,
        sortition_id: SortitionId([n; 32]),
        parent_sortition_id: SortitionId([n.wrapping_sub(1); 32]),
        consensus_hash,
        was_sortition: true,
        miner_pk_hash160: Some(pkh(miner)),
        stacks_parent_ch: Some(parent),
        last_sortition_ch: Some(last),
        committed_block_hash: None,
        vrf_seed: None,
    }
}

/// A tenure tip at `height` with `burn_view`.
pub fn tip(block: &NakamotoBlock, burn_view: Option<ConsensusHash>) -> TenureTip {
    TenureTip {
        height: block.header.chain_length,
        block_id: block.block_id(),
        signer_signature_hash: Some(block.header.signer_signature_hash()),
        burn_view,
    }
}

fn tx(payload: TransactionPayload, nonce: u64) -> StacksTransaction {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"test transactions"));
    let mut cond = TransactionSpendingCondition::new_singlesig_p2pkh(key)
        .expect("a compressed key makes a single-sig condition");
    cond.set_nonce(nonce);
    StacksTransaction::new(
        TransactionVersion::Testnet,
        TransactionAuth::Standard(cond),
        payload,
    )
}

/// A tenure change.
pub fn tenure_change_tx(payload: TenureChangePayload) -> StacksTransaction {
    let nonce = u64::from(payload.cause.to_u8());
    tx(TransactionPayload::TenureChange(payload), nonce)
}

/// A Nakamoto coinbase.
pub fn coinbase_tx() -> StacksTransaction {
    let mut proof = [0u8; 80];
    proof[0] = 0x58;
    proof[1..32].fill(0x66);
    let proof = VRFProof::from_slice(&proof).expect("a valid Gamma point");
    tx(
        TransactionPayload::Coinbase(CoinbasePayload([9; 32]), None, Some(proof)),
        1000,
    )
}

/// Builds blocks; every block is signed by `miner` with an all-ones bitvec of 10 signers.
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    /// The block's header (consensus hash, parent, height, timestamp).
    pub header: NakamotoBlockHeader,
    /// The transactions.
    pub txs: Vec<StacksTransaction>,
    /// Who signs as miner.
    pub miner: StacksPrivateKey,
}

impl BlockBuilder {
    /// A block of tenure `consensus_hash` at `height`, built on `parent`, signed by `miner`,
    /// with no transactions yet (add a tenure change with the methods below).
    pub fn new(
        consensus_hash: ConsensusHash,
        height: u64,
        parent: StacksBlockId,
        miner: &StacksPrivateKey,
    ) -> Self {
        let mut header = NakamotoBlockHeader::empty();
        header.consensus_hash = consensus_hash;
        header.chain_length = height;
        header.parent_block_id = parent;
        header.timestamp = crate::clock::now_secs();
        header.pox_treatment = BitVec::ones(10).expect("10 bits fit");
        Self {
            header,
            txs: vec![],
            miner: miner.clone(),
        }
    }

    /// Makes it a tenure-start block (BlockFound tenure change following `prev_tenure`, then
    /// a coinbase).
    pub fn tenure_start(mut self, prev_tenure: ConsensusHash) -> Self {
        let payload = TenureChangePayload {
            tenure_consensus_hash: self.header.consensus_hash,
            prev_tenure_consensus_hash: prev_tenure,
            burn_view_consensus_hash: self.header.consensus_hash,
            previous_tenure_end: self.header.parent_block_id,
            previous_tenure_blocks: 1,
            cause: TenureChangeCause::BlockFound,
            pubkey_hash: pkh(&self.miner),
        };
        self.txs = vec![tenure_change_tx(payload), coinbase_tx()];
        self
    }

    /// Makes it a tenure extend of `cause` naming `burn_view`.
    pub fn extend(mut self, cause: TenureChangeCause, burn_view: ConsensusHash) -> Self {
        let payload = TenureChangePayload {
            tenure_consensus_hash: self.header.consensus_hash,
            prev_tenure_consensus_hash: self.header.consensus_hash,
            burn_view_consensus_hash: burn_view,
            previous_tenure_end: self.header.parent_block_id,
            previous_tenure_blocks: 1,
            cause,
            pubkey_hash: pkh(&self.miner),
        };
        self.txs = vec![tenure_change_tx(payload)];
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, timestamp: u64) -> Self {
        self.header.timestamp = timestamp;
        self
    }

    /// The signed block.
    pub fn build(self) -> NakamotoBlock {
        let mut block = NakamotoBlock {
            header: self.header,
            txs: self.txs,
        };
        block.header.tx_merkle_root = block.compute_tx_merkle_root();
        block
            .header
            .sign_miner(&self.miner)
            .expect("a valid key signs");
        block
    }
}

/// A fresh in-memory database.
pub fn memory_db() -> SignerDb {
    SignerDb::open(crate::signerdb::IN_MEMORY_PATH).expect("an in-memory database opens")
}

/// A logger that drops everything.
pub fn log() -> slog::Logger {
    crate::logging::discard()
}
