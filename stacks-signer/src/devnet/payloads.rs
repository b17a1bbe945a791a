//! The bodies of the events the node posts (§2 of the node interface), built through
//! `serde_json::Value` so every object's keys come out sorted, as the node's do.

use libsigner::chain::hex::to_hex;
use libsigner::chain::QualifiedContractIdentifier;
use libsigner::codec::StacksMessageCodec;
use serde_json::{json, Value};

use super::burnchain::BurnBlock;
use super::reward_sets::RewardSet;
use super::stacks_chain::StoredBlock;
use crate::client::api::{BlockValidateResponse, StackerDBChunkData};

fn prefixed(bytes: &[u8]) -> String {
    format!("0x{}", to_hex(bytes))
}

const ZERO_COST: fn() -> Value = || json!({"write_length": 0, "write_count": 0, "read_length": 0, "read_count": 0, "runtime": 0});

/// `/new_burn_block` for `block` (no PoX payouts in the mock).
pub fn new_burn_block(block: &BurnBlock) -> Value {
    json!({
        "burn_block_hash": prefixed(&block.hash.0),
        "burn_block_height": block.height,
        "reward_recipients": [],
        "reward_slot_holders": [],
        "burn_amount": block.winner.as_ref().map(|w| w.burn_spent).unwrap_or(0),
        "consensus_hash": prefixed(&block.consensus_hash.0),
        "parent_burn_block_hash": prefixed(&block.parent_hash.0),
    })
}

/// A reward set as `/new_block` carries it (amounts as strings, unlike `/v3/stacker_set`).
fn reward_set_for_event(set: &RewardSet) -> Value {
    let signers: Vec<Value> = set
        .signers
        .iter()
        .map(|s| {
            json!({
                "signing_key": to_hex(&s.key_bytes),
                "stacked_amt": s.stacked_amt.to_string(),
                "weight": s.weight,
            })
        })
        .collect();
    json!({
        "rewarded_addresses": [],
        "start_cycle_state": {"missed_reward_slots": []},
        "signers": signers,
        "pox_ustx_threshold": set.pox_ustx_threshold.to_string(),
    })
}

/// What `/new_block` needs besides the block itself.
pub struct NewBlockContext<'a> {
    /// The block's tenure's burn block.
    pub burn_block: &'a BurnBlock,
    /// That burn block's parent, if known.
    pub parent_burn_block: Option<&'a BurnBlock>,
    /// The parent Stacks block, if known.
    pub parent: Option<&'a StoredBlock>,
    /// The reward set this block computed, if any.
    pub computed_reward_set: Option<&'a RewardSet>,
}

/// `/new_block` for a processed Nakamoto block.
pub fn new_block(stored: &StoredBlock, ctx: &NewBlockContext<'_>) -> Value {
    let header = &stored.block.header;
    let transactions: Vec<Value> = stored
        .block
        .txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            json!({
                "txid": prefixed(&tx.txid().0),
                "tx_index": i,
                "status": "success",
                "raw_result": "0x0703",
                "raw_tx": prefixed(&tx.serialize_to_vec()),
                "contract_interface": null,
                "burnchain_op": null,
                "execution_cost": ZERO_COST(),
                "microblock_sequence": null,
                "microblock_hash": null,
                "microblock_parent_hash": null,
                "vm_error": null,
            })
        })
        .collect();
    let parent_hash = ctx
        .parent
        .map(|p| p.block.header.block_hash().0)
        .unwrap_or([0; 32]);
    let (pbb_hash, pbb_height, pbb_time) = match ctx.parent_burn_block {
        Some(p) => (p.hash.0, p.height, p.timestamp),
        None => (
            ctx.burn_block.parent_hash.0,
            ctx.burn_block.height.saturating_sub(1),
            ctx.burn_block.timestamp.saturating_sub(1),
        ),
    };
    let miner_txid = ctx
        .burn_block
        .winner
        .as_ref()
        .map(|w| w.commit_txid.0)
        .unwrap_or([0; 32]);
    json!({
        "block_hash": prefixed(&header.block_hash().0),
        "block_height": header.chain_length,
        "block_time": header.timestamp,
        "burn_block_hash": prefixed(&ctx.burn_block.hash.0),
        "burn_block_height": ctx.burn_block.height,
        "miner_txid": prefixed(&miner_txid),
        "burn_block_time": ctx.burn_block.timestamp,
        "index_block_hash": prefixed(&stored.id.0),
        "parent_block_hash": prefixed(&parent_hash),
        "parent_index_block_hash": prefixed(&header.parent_block_id.0),
        "parent_microblock": prefixed(&[0u8; 32]),
        "parent_microblock_sequence": 0,
        "matured_miner_rewards": [],
        "events": [],
        "transactions": transactions,
        "parent_burn_block_hash": prefixed(&pbb_hash),
        "parent_burn_block_height": pbb_height,
        "parent_burn_block_timestamp": pbb_time,
        "anchored_cost": ZERO_COST(),
        "confirmed_microblocks_cost": ZERO_COST(),
        "pox_v1_unlock_height": 2,
        "pox_v2_unlock_height": 3,
        "pox_v3_unlock_height": 4,
        "signer_bitvec": stored.signer_bitvec.as_ref().map(|b| to_hex(&b.serialize_to_vec())),
        "reward_set": ctx.computed_reward_set.map(reward_set_for_event),
        "cycle_number": ctx.computed_reward_set.map(|s| s.cycle),
        "tenure_height": stored.tenure_height,
        "consensus_hash": prefixed(&header.consensus_hash.0),
        "signer_signature_hash": prefixed(&header.signer_signature_hash().0),
        "miner_signature": prefixed(&header.miner_signature.0),
        "signer_signature": header.signer_signature.iter().map(|s| s.to_hex()).collect::<Vec<_>>(),
    })
}

/// `/stackerdb_chunks` for chunks written to boot contract `contract`.
pub fn stackerdb_chunks(
    contract: &QualifiedContractIdentifier,
    chunks: &[StackerDBChunkData],
) -> Value {
    json!({
        "contract_id": contract,
        "modified_slots": chunks,
    })
}

/// `/proposal_response`.
pub fn proposal_response(response: &BlockValidateResponse) -> Value {
    serde_json::to_value(response).unwrap_or(Value::Null)
}
