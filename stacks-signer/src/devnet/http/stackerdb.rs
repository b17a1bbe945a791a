//! StackerDB routes: slot metadata, latest chunk, chunk by version, replicas, and chunk
//! uploads with the node's write rules and acks.

use std::sync::Arc;

use libsigner::chain::StacksAddress;

use super::super::activity::ChunkSource;
use super::super::node::Shared;
use super::super::views::node_key;
use super::{parse_decimal, Reply, Request};
use crate::client::api::{NeighborAddress, StackerDBChunkData};

/// Whether `addr` is this network's boot address and `name` a hosted contract.
fn hosted(shared: &Arc<Shared>, addr: &str, name: &str) -> bool {
    shared.with_state(|s| {
        StacksAddress::from_string(addr)
            .is_some_and(|a| a == StacksAddress::burn_address(s.config.mainnet))
            && s.stackerdbs.get(name).is_some()
    })
}

pub(super) fn metadata(shared: &Arc<Shared>, addr: &str, name: &str) -> Reply {
    if !hosted(shared, addr, name) {
        return Reply::text(404, "StackerDB contract not found");
    }
    match shared.with_state(|s| s.slot_metadata(name)) {
        Some(list) => Reply::json(200, &list),
        None => Reply::text(404, "StackerDB contract not found"),
    }
}

pub(super) fn replicas(shared: &Arc<Shared>, addr: &str, name: &str) -> Reply {
    if !hosted(shared, addr, name) {
        return Reply::json(200, &Vec::<NeighborAddress>::new());
    }
    let seed = shared.with_state(|s| s.config.seed);
    let pk = libsigner::chain::StacksPublicKey::from_private(&node_key(seed));
    Reply::json(
        200,
        &vec![NeighborAddress {
            ip: shared.local_addr.ip().to_string(),
            port: shared.local_addr.port(),
            public_key_hash: libsigner::chain::Hash160::from_node_public_key(&pk),
        }],
    )
}

pub(super) fn get_chunk(
    shared: &Arc<Shared>,
    addr: &str,
    name: &str,
    slot: &str,
    version: Option<&str>,
) -> Reply {
    const NOT_FOUND: &str = "StackerDB contract or chunk not found";
    let (Some(slot), version) = (
        parse_decimal(slot, 10).and_then(|v| u32::try_from(v).ok()),
        version.map(|v| parse_decimal(v, 10).and_then(|v| u32::try_from(v).ok())),
    ) else {
        return Reply::not_found();
    };
    if version == Some(None) {
        return Reply::not_found();
    }
    if !hosted(shared, addr, name) {
        return Reply::text(404, NOT_FOUND);
    }
    let stored = shared.with_state(|s| {
        s.stackerdbs
            .get(name)
            .and_then(|db| db.slots.get(slot as usize))
            .map(|slot| (slot.version, slot.data.clone()))
    });
    match (stored, version.flatten()) {
        (Some((_, data)), None) => Reply::bytes(200, data),
        (Some((stored, data)), Some(wanted)) if stored == wanted => Reply::bytes(200, data),
        _ => Reply::text(404, NOT_FOUND),
    }
}

pub(super) fn post_chunk(req: &Request, shared: &Arc<Shared>, addr: &str, name: &str) -> Reply {
    if req.body.is_empty() || req.body_too_long {
        return Reply::text(400, "Invalid Http request: invalid body length");
    }
    let Ok(chunk) = serde_json::from_slice::<StackerDBChunkData>(&req.body) else {
        return Reply::text(400, "Failed to parse StackerDB chunk body");
    };
    if !hosted(shared, addr, name) {
        return Reply::text(404, "StackerDB not found");
    }
    match shared.with_state(|s| s.write_chunk(name, &chunk, ChunkSource::Rpc)) {
        Ok(ack) => Reply::json(200, &ack),
        Err(_) => Reply::text(404, "StackerDB not found"),
    }
}
