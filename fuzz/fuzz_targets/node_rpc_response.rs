//! A shape selector byte and any body: every parse the node client applies to an RPC
//! response body (`stacks_signer::client::parse`, the StackerDB replies of
//! `libsigner::stackerdb`, and what the signer derives from them at once) never panics, and
//! returns a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::chain::{ConsensusHash, NakamotoBlock};
use libsigner::codec::read_next;
use libsigner::stackerdb::{parse_chunk_ack, parse_slot_metadata_list};
use stacks_signer::chainstate::TenureTip;
use stacks_signer::client::parse;
use stacks_signer::client::stacks_client::reward_cycle_info_from_pox;

/// How many shapes the selector chooses from.
const SHAPES: u8 = 13;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % SHAPES {
        // GET /v2/info
        0 => {
            let _ = parse::peer_info(body);
        }
        // GET /v2/pox, and the reward cycle computed from it
        1 => {
            if let Ok(pox) = parse::pox_info(body) {
                if let Ok(info) = reward_cycle_info_from_pox(&pox) {
                    let _ = info.is_in_next_prepare_phase(pox.current_burnchain_block_height);
                    let _ = info.first_burn_height_of(info.reward_cycle.saturating_add(1));
                }
            }
        }
        // GET /v3/stacker_set/{cycle}, 200 and error bodies
        2 => {
            let _ = parse::stacker_set(body);
        }
        3 => {
            let _ = parse::node_error_message(body);
        }
        // GET /v3/tenures/tip_metadata/{ch}, and the tenure tip made of it
        4 => {
            if let Ok(metadata) = parse::tenure_tip_metadata(body) {
                let _ = TenureTip::from_metadata(&ConsensusHash::from([7; 20]), metadata);
            }
        }
        // GET /v3/tenures/fork_info/{start}/{stop}, and the blocks each tenure carries
        5 => {
            if let Ok(tenures) = parse::fork_info(body) {
                for tenure in tenures {
                    if let Some(bytes) = &tenure.nakamoto_blocks {
                        let _ = read_next::<Vec<NakamotoBlock>, _>(&mut bytes.as_slice());
                    }
                }
            }
        }
        // GET /v3/sortitions/latest_and_last and /v3/sortitions/consensus/{ch}
        6 => {
            let _ = parse::current_and_last_sortition(body);
        }
        7 => {
            let _ = parse::sortition_by_consensus_hash(body);
        }
        // GET /v2/accounts/{address}
        8 => {
            if let Ok(account) = parse::account_entry(body) {
                let _ = account.balance_ustx();
            }
        }
        // POST /v3/blocks/upload/
        9 => {
            let _ = parse::block_accepted(body);
        }
        // POST /v2/contracts/call-read/..., and the two results the signer reads
        10 => {
            if let Ok(value) = parse::read_only_result("fuzz", body) {
                let _ = parse::last_set_cycle(value.clone());
                let _ = parse::signer_slots(value);
            }
        }
        // StackerDB: GET .../chunks metadata, POST .../chunks ack
        11 => {
            let _ = parse_slot_metadata_list(body);
        }
        _ => {
            let _ = parse_chunk_ack(body);
        }
    }
});
