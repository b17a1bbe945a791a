//! Block routes: `/v3/block_proposal` (auth, 202/429/422/400/401, result later through
//! `/proposal_response`) and `/v3/blocks/upload/` (auth, octet-stream, signature threshold).

use std::sync::Arc;
use std::time::{Duration, Instant};

use libsigner::chain::hex::hex_bytes;

use super::super::activity::Activity;
use super::super::dispatcher::EventPath;
use super::super::node::Shared;
use super::super::payloads;
use super::super::validator::{check_block, validate, HeldValidation, MAX_HELD_VALIDATIONS};
use super::super::wire::NakamotoBlock;
use super::{Reply, Request};
use crate::client::api::{BlockProposalResponse, NakamotoBlockProposal, StacksBlockAcceptedData};

fn proposal_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &BlockProposalResponse {
            result: "Error".into(),
            message: format!("Could not process block proposal request: {message}"),
        },
    )
}

/// Decodes a block with the node's codec checks (unique txids, matching Merkle root).
fn decode_block(bytes: &[u8]) -> Result<NakamotoBlock, String> {
    super::super::wire::decode_block(bytes).map_err(|e| e.to_string())
}

fn check_auth(req: &Request, token: &Option<String>) -> Option<Reply> {
    match token {
        None => Some(Reply::text(400, "Bad Request.")),
        Some(token) if req.header("authorization") != Some(token.as_str()) => {
            Some(Reply::text(401, "Unauthorized"))
        }
        Some(_) => None,
    }
}

pub(super) fn block_proposal(req: &Request, shared: &Arc<Shared>) -> Reply {
    let (reply, hash, recorded) = block_proposal_inner(req, shared);
    if !recorded {
        shared.with_state(|s| {
            s.activity.emit(Activity::ValidationRequested {
                signer_signature_hash: hash,
                status: reply.status,
            })
        });
    }
    reply
}

/// The reply, the proposal's signer signature hash when it decoded, and whether the
/// `ValidationRequested` activity was already emitted (an accepted proposal is recorded under
/// the same lock that starts its validation, so the record lists the request before the
/// result however fast the validator answers).
fn block_proposal_inner(
    req: &Request,
    shared: &Arc<Shared>,
) -> (Reply, Option<libsigner::chain::Sha512Trunc256Sum>, bool) {
    let token = shared.with_state(|s| s.config.auth_token.clone());
    if let Some(reply) = check_auth(req, &token) {
        return (reply, None, false);
    }
    if req.body.is_empty() || req.body_too_long {
        return (
            Reply::text(400, "Invalid Http request: invalid body length"),
            None,
            false,
        );
    }
    if !req.content_type_is("application/json") {
        return (
            Reply::text(400, "Invalid content-type: expected application/json"),
            None,
            false,
        );
    }
    let proposal = match serde_json::from_slice::<NakamotoBlockProposal>(&req.body) {
        Ok(p) => p,
        Err(e) => {
            return (
                Reply::text(400, format!("Failed to parse body: {e}")),
                None,
                false,
            )
        }
    };
    let block = match hex_bytes(&proposal.block)
        .map_err(|e| e.to_string())
        .and_then(|b| decode_block(&b))
    {
        Ok(b) => b,
        Err(e) => {
            return (
                Reply::text(400, format!("Failed to parse body: {e}")),
                None,
                false,
            )
        }
    };
    if block.header.is_shadow_block() {
        return (
            Reply::text(
                400,
                "Failed to parse body: shadow blocks cannot be proposed",
            ),
            None,
            false,
        );
    }
    let hash = block.header.signer_signature_hash();
    let has_observer = shared
        .dispatcher
        .has_observer_for(EventPath::ProposalResponse);
    let accepted = shared.with_state(|s| {
        if s.validation.busy_responses > 0 {
            s.validation.busy_responses -= 1;
            return Err(proposal_error(429, "Proposal currently being evaluated"));
        }
        if s.validation.in_progress {
            return Err(proposal_error(429, "Proposal currently being evaluated"));
        }
        if block
            .header
            .timestamp
            .saturating_add(s.config.block_proposal_max_age_secs)
            < s.now_secs()
        {
            return Err(proposal_error(422, "Block proposal is too old to process."));
        }
        if !has_observer {
            return Err(proposal_error(
                400,
                "No `observer` registered for receiving proposal callbacks",
            ));
        }
        if s.validation.manual {
            // Held until a test answers; the validator stays free.
            if s.validation.held.len() >= MAX_HELD_VALIDATIONS {
                return Err(proposal_error(429, "Proposal currently being evaluated"));
            }
            s.validation.held.push(HeldValidation {
                block,
                chain_id: proposal.chain_id,
                received: Instant::now(),
            });
            s.activity.emit(Activity::ValidationRequested {
                signer_signature_hash: Some(hash),
                status: 202,
            });
            return Ok(());
        }
        // Start the validator while holding the state lock: its result needs the lock, so it
        // is recorded after this request whatever the delay.
        let worker = Arc::clone(shared);
        let chain_id = proposal.chain_id;
        let (delay, stall) = (s.validation.delay, s.validation.stall);
        let spawned = std::thread::Builder::new()
            .name("mock-node-validator".into())
            .spawn(move || run_validation(&worker, block, chain_id, delay, stall));
        if spawned.is_err() {
            return Err(Reply::text(500, "Failed to start validation"));
        }
        s.validation.in_progress = true;
        s.activity.emit(Activity::ValidationRequested {
            signer_signature_hash: Some(hash),
            status: 202,
        });
        Ok(())
    });
    if let Err(reply) = accepted {
        return (reply, Some(hash), false);
    }
    (
        Reply::json(
            202,
            &BlockProposalResponse {
                result: "Accepted".into(),
                message:
                    "Block proposal is processing, result will be returned via the event observer"
                        .into(),
            },
        ),
        Some(hash),
        true,
    )
}

fn run_validation(
    shared: &Arc<Shared>,
    block: NakamotoBlock,
    chain_id: u32,
    delay: Duration,
    stall: bool,
) {
    let started = Instant::now();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    shared.with_state(|s| {
        s.validation.in_progress = false;
        if stall {
            return;
        }
        let elapsed = started.elapsed().as_millis() as u64;
        let response = validate(s, &block, chain_id, elapsed);
        s.outbox.push((
            EventPath::ProposalResponse,
            payloads::proposal_response(&response),
        ));
        s.activity.emit(Activity::ValidationResult(response));
    });
}

pub(super) fn upload(req: &Request, shared: &Arc<Shared>) -> Reply {
    let (reply, block_id, accepted) = upload_inner(req, shared);
    shared.with_state(|s| {
        s.activity.emit(Activity::BlockUploaded {
            block_id,
            status: reply.status,
            accepted,
        })
    });
    reply
}

fn upload_inner(
    req: &Request,
    shared: &Arc<Shared>,
) -> (Reply, Option<libsigner::chain::StacksBlockId>, Option<bool>) {
    let broadcast = req.query_param("broadcast") == Some("1");
    let token = shared.with_state(|s| s.config.auth_token.clone());
    let auth = req.header("authorization");
    let authorized = token.as_deref().is_some_and(|t| auth == Some(t));
    if (broadcast || auth.is_some()) && !authorized {
        return (Reply::text(401, "Unauthorized"), None, None);
    }
    if !req.content_type_is("application/octet-stream") {
        return (
            Reply::text(
                400,
                "Invalid content-type: expected application/octet-stream",
            ),
            None,
            None,
        );
    }
    if req.body.is_empty() || req.body_too_long {
        return (
            Reply::text(400, "Invalid Http request: invalid body length"),
            None,
            None,
        );
    }
    let block = match decode_block(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return (
                Reply::text(
                    400,
                    format!("Failed to deserialize posted transaction: {e}"),
                ),
                None,
                None,
            )
        }
    };
    let id = block.header.block_id();
    let outcome = shared.with_state(|s| {
        if s.stacks.contains(&id) {
            return Ok(broadcast);
        }
        if !s.process_uploads {
            return Ok(true);
        }
        let hash = block.header.signer_signature_hash();
        let cycle = s
            .pending
            .get(&hash)
            .map(|p| p.reward_cycle)
            .or_else(|| {
                s.burnchain
                    .by_consensus_hash(&block.header.consensus_hash)
                    .map(|b| s.config.pox.cycle_of(b.height))
            })
            .unwrap_or_else(|| s.current_cycle());
        let (weight, _) = s.verify_signer_signatures(&block, cycle)?;
        let threshold = s
            .reward_sets
            .get(cycle)
            .map(|set| set.threshold_weight())
            .unwrap_or(u64::MAX);
        if weight < threshold {
            return Err(format!(
                "Not enough signatures: signed weight {weight} is below the threshold {threshold}"
            ));
        }
        if check_block(s, &block, s.config.chain_id).is_err() {
            return Ok(false);
        }
        if let Some(p) = s.pending.get_mut(&hash) {
            p.processed = true;
        }
        s.process_block(block, cycle).map(|_| true)
    });
    match outcome {
        Ok(accepted) => (
            Reply::json(
                200,
                &StacksBlockAcceptedData {
                    stacks_block_id: id,
                    accepted,
                },
            ),
            Some(id),
            Some(accepted),
        ),
        Err(e) => (Reply::text(400, e), Some(id), None),
    }
}
