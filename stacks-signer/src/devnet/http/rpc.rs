//! Read-only RPC handlers: `/v2/info`, `/v2/pox`, `/v3/stacker_set`, the `.signers`
//! read-only calls, sortitions, tenure fork info and tips, accounts, and `/v3/signer`.

use std::sync::Arc;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, PrincipalData, StacksAddress, StacksPublicKey,
};

use super::super::clarity_values;
use super::super::node::Shared;
use super::super::overrides::{reason_phrase, RpcAnswer};
use super::super::views;
use super::{parse_decimal, parse_hex_param, Reply, Request};
use crate::client::api::{
    AccountEntryResponse, BlockHeaderWithMetadata, CallReadOnlyRequestBody, CallReadOnlyResponse,
    GetSignerResponse, GetStackersResponse, NodeErrorResponse, StacksBlockHeaderTypes,
};

pub(super) fn info(req: &Request, shared: &Arc<Shared>) -> Reply {
    if !req.body.is_empty() {
        return Reply::text(400, "Invalid Http request: expected 0-length body");
    }
    Reply::json(200, &shared.with_state(|s| views::answered_peer_info(s)))
}

pub(super) fn pox(shared: &Arc<Shared>) -> Reply {
    Reply::json(
        200,
        &shared.with_state(|s| {
            let mut info = views::pox_info(s);
            if let Some(epoch) = s.overrides.pox_epoch {
                info.current_epoch = epoch;
                for entry in &mut info.epochs {
                    entry.epoch_id = epoch;
                }
            }
            info
        }),
    )
}

/// The reply for an overridden answer.
fn answer_reply<T: serde::Serialize>(answer: &RpcAnswer<T>) -> Reply {
    match answer {
        RpcAnswer::Value(value) => Reply::json(200, value),
        RpcAnswer::Status(status) => Reply::text(*status, reason_phrase(*status)),
    }
}

pub(super) fn stacker_set(req: &Request, shared: &Arc<Shared>, cycle: &str) -> Reply {
    let Some(cycle) = parse_decimal(cycle, 10) else {
        return Reply::not_found();
    };
    if !req.body.is_empty() {
        return Reply::text(400, "Invalid Http request: expected 0-length body");
    }
    let set = shared.with_state(|s| s.reward_set_json(cycle));
    match set {
        Some(stacker_set) => Reply::json(200, &GetStackersResponse { stacker_set }),
        None => Reply::json(
            400,
            &NodeErrorResponse {
                response: "error".into(),
                err_type: "not_available_try_again".into(),
                err_msg: "Could not read reward set. Prepare phase may not have started for this cycle yet. Err = PoXAnchorBlockRequired".into(),
            },
        ),
    }
}

pub(super) fn call_read(
    req: &Request,
    shared: &Arc<Shared>,
    addr: &str,
    contract: &str,
    function: &str,
) -> Reply {
    if !req.content_type_is("application/json") {
        return Reply::text(400, "Invalid content-type: expected application/json");
    }
    if req.body.is_empty() || req.body_too_long {
        return Reply::text(400, "Invalid Http request: invalid body length");
    }
    let Ok(body) = serde_json::from_slice::<CallReadOnlyRequestBody>(&req.body) else {
        return Reply::text(400, "Failed to parse JSON body");
    };
    let Some(address) = StacksAddress::from_string(addr) else {
        return Reply::not_found();
    };
    shared.with_state(|s| {
        let fail = |cause: String| {
            Reply::json(
                200,
                &CallReadOnlyResponse {
                    okay: false,
                    result: None,
                    cause: Some(cause),
                },
            )
        };
        let ok = |bytes: Vec<u8>| {
            Reply::json(
                200,
                &CallReadOnlyResponse {
                    okay: true,
                    result: Some(format!("0x{}", to_hex(&bytes))),
                    cause: None,
                },
            )
        };
        if !address.is_burn() || contract != "signers" {
            return fail(format!("Unchecked(NoSuchContract(\"{addr}.{contract}\"))"));
        }
        match function {
            "get-last-set-cycle" => {
                if !body.arguments.is_empty() {
                    return fail(format!(
                        "Unchecked(IncorrectArgumentCount(0, {}))",
                        body.arguments.len()
                    ));
                }
                ok(clarity_values::ok_uint(u128::from(
                    s.reward_sets.last_set_cycle().unwrap_or(0),
                )))
            }
            "stackerdb-get-signer-slots-page" => {
                let [arg] = body.arguments.as_slice() else {
                    return fail(format!(
                        "Unchecked(IncorrectArgumentCount(1, {}))",
                        body.arguments.len()
                    ));
                };
                let Some(page) = clarity_values::parse_uint_arg(arg) else {
                    return fail("Unchecked(TypeValueError(UIntType, ...))".into());
                };
                if page >= 2 {
                    return ok(clarity_values::err_uint(1));
                }
                let addresses = s
                    .reward_sets
                    .page(page as u64)
                    .map(|set| set.addresses(s.config.mainnet))
                    .unwrap_or_default();
                ok(clarity_values::signer_slots_page(&addresses))
            }
            other => fail(format!("Unchecked(UndefinedFunction(\"{other}\"))")),
        }
    })
}

pub(super) fn sortitions(shared: &Arc<Shared>, key: Option<&str>, value: Option<&str>) -> Reply {
    let valid_key = |k: &str| {
        (1..=15).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    if key.is_some_and(|k| !valid_key(k))
        || value.is_some_and(|v| {
            !(1..=64).contains(&v.len())
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    {
        return Reply::not_found();
    }
    shared.with_state(|s| {
        let found = match (key, value) {
            (None, _) => Some(vec![s.burn_tip().sortition_info()]),
            (Some("latest_and_last"), None) => {
                if let Some(answer) = &s.overrides.latest_and_last {
                    return answer_reply(answer);
                }
                Some(views::latest_and_last(s))
            }
            (Some("consensus"), Some(v)) => {
                let Some(ch) = parse_hex_param::<20>(v) else {
                    return Reply::text(400, "Invalid consensus hash");
                };
                s.burnchain
                    .by_consensus_hash(&ConsensusHash(ch))
                    .map(|b| vec![b.sortition_info()])
            }
            (Some("burn"), Some(v)) => {
                let Some(hash) = parse_hex_param::<32>(v) else {
                    return Reply::text(400, "Invalid burn block hash");
                };
                s.burnchain
                    .get(&BurnchainHeaderHash(hash))
                    .map(|b| vec![b.sortition_info()])
            }
            (Some("burn_height"), Some(v)) => {
                let Some(height) = parse_decimal(v, 20) else {
                    return Reply::text(400, "Invalid burn block height");
                };
                s.burnchain
                    .canonical_at_height(height)
                    .map(|b| vec![b.sortition_info()])
            }
            _ => return Reply::text(400, "Invalid sortition query"),
        };
        match found {
            Some(list) => Reply::json(200, &list),
            None => Reply::text(404, "Could not find snapshot"),
        }
    })
}

pub(super) fn fork_info(shared: &Arc<Shared>, start: &str, stop: &str) -> Reply {
    let (Some(start), Some(stop)) = (parse_hex_param::<20>(start), parse_hex_param::<20>(stop))
    else {
        return Reply::not_found();
    };
    let (start, stop) = (ConsensusHash(start), ConsensusHash(stop));
    shared.with_state(|s| {
        if let Some(answer) = s.overrides.fork_info.get(&(start, stop)) {
            return answer_reply(answer);
        }
        match views::fork_info(s, &start, &stop) {
            Ok(list) => Reply::json(200, &list),
            Err(views::ForkInfoError::NotFound(ch)) => {
                Reply::text(404, format!("Could not find snapshot Some({ch})"))
            }
            Err(views::ForkInfoError::NotSameFork) => Reply::json(
                400,
                &"Supplied start and end sortitions are not in the same sortition fork",
            ),
        }
    })
}

pub(super) fn tenure_tip(shared: &Arc<Shared>, ch: &str, with_metadata: bool) -> Reply {
    let Some(ch) = parse_hex_param::<20>(ch) else {
        return Reply::not_found();
    };
    let ch = ConsensusHash(ch);
    shared.with_state(|s| match s.overrides.tenure_tips.get(&ch) {
        Some(RpcAnswer::Status(404)) => Reply::text(404, format!("No blocks in tenure {ch}")),
        Some(RpcAnswer::Status(status)) => Reply::text(*status, reason_phrase(*status)),
        Some(RpcAnswer::Value(meta)) => tenure_tip_reply(meta.clone(), with_metadata),
        None => match views::tenure_tip_metadata(s, &ch) {
            Some(meta) => tenure_tip_reply(meta, with_metadata),
            None => Reply::text(404, format!("No blocks in tenure {ch}")),
        },
    })
}

/// `/v3/tenures/tip_metadata` (`with_metadata`) or `/v3/tenures/tip` for `meta`.
fn tenure_tip_reply(meta: BlockHeaderWithMetadata, with_metadata: bool) -> Reply {
    if with_metadata {
        return Reply::json(200, &meta);
    }
    match meta.anchored_header {
        StacksBlockHeaderTypes::Nakamoto(header) => {
            Reply::json(200, &serde_json::json!({ "Nakamoto": header }))
        }
        other => Reply::json(200, &other),
    }
}

pub(super) fn account(shared: &Arc<Shared>, principal: &str) -> Reply {
    let Ok(principal) = PrincipalData::parse(principal) else {
        return Reply::text(400, "Failed to parse principal");
    };
    let nonce = shared.with_state(|s| {
        s.miners
            .iter()
            .find(|m| PrincipalData::from(m.address) == principal)
            .map(|m| m.nonce)
            .unwrap_or(0)
    });
    Reply::json(200, &AccountEntryResponse::new(0, nonce))
}

pub(super) fn signer_blocks(shared: &Arc<Shared>, pk: &str, cycle: &str) -> Reply {
    let well_formed = pk.len() == 66
        && (pk.starts_with("02") || pk.starts_with("03"))
        && pk
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let (true, Some(cycle)) = (well_formed, parse_decimal(cycle, 10)) else {
        return Reply::not_found();
    };
    let Ok(key) = StacksPublicKey::from_hex(pk) else {
        return Reply::text(404, "Invalid signer public key");
    };
    let count = shared.with_state(|s| {
        let Some(index) = s
            .reward_sets
            .get(cycle)
            .and_then(|set| set.index_of_key(&key))
        else {
            return 0;
        };
        s.stacks
            .all()
            .filter(|b| b.reward_cycle == cycle)
            .filter(|b| {
                b.signer_bitvec
                    .as_ref()
                    .is_some_and(|bits| bits.get(index as u16) == Some(true))
            })
            .count() as u64
    });
    Reply::json(
        200,
        &GetSignerResponse {
            blocks_signed: count,
        },
    )
}
