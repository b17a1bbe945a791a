//! Scenario steps end to end, through `ScenarioRunner` against a running mock node: what each
//! step makes observers (a raw recorder and libsigner's `SignerEventReceiver`), the RPC
//! endpoints and the activity record see — injected signer messages, endpoints down and up,
//! burn forks and reorgs, every `propose` deviation (the proposal as decoded by libsigner, the
//! simulated signers' verdict and the validator's answer), the validator knobs, and the
//! `wait` / `expect_block` steps with their one-line errors.

mod mock_node_common;

use std::time::{Duration, Instant};

use libsigner::chain::hex::to_hex;
use libsigner::chain::{
    ConsensusHash, Hash160, Sha512Trunc256Sum, StacksBlockId, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;
use libsigner::v0::messages::{BlockProposal, BlockResponse, SignerMessage};
use libsigner::SignerEvent;
use mock_node_common::{get, post_block_proposal, request, HttpResponse, Observer, SignerEvents};
use serde_json::{json, Value};
use stacks_signer::client::api::{
    BlockValidateResponse, RPCPeerInfoData, SortitionInfo, ValidateRejectCode,
};
use stacks_signer::devnet::record::entry_json;
use stacks_signer::devnet::scenario::{Scenario, ScenarioRunner};
use stacks_signer::devnet::wire::{NakamotoBlock, TenureChangeCause};
use stacks_signer::devnet::{
    ActivityEntry, MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec,
};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Scenario steps: a burn block won by miner 0 (labelled `t1`) and its tenure-start block,
/// signed and processed.
const FIRST_TENURE: &str = r#"
[[step]]
type = "burn_block"
winner = 0
label = "t1"
[[step]]
type = "propose"
kind = "tenure_start"
[[step]]
type = "expect_block"
"#;

fn node_with(signers: Vec<SignerSpec>, observers: &[String]) -> RunningMockNode {
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    for o in observers {
        config.observers.push(ObserverSpec::signer(o.clone()));
    }
    MockNode::start(config).unwrap()
}

fn external_signers(n: usize) -> Vec<SignerSpec> {
    (0..n)
        .map(|i| {
            let key = StacksPrivateKey::from_seed(format!("scenario external {i}").as_bytes());
            SignerSpec::external(StacksPublicKey::from_private(&key), 1)
        })
        .collect()
}

fn run(runner: &mut ScenarioRunner, text: &str) -> Result<(), String> {
    runner.run(&Scenario::parse(text).unwrap_or_else(|e| panic!("{e}")))
}

fn decode(data: &[u8]) -> SignerMessage {
    SignerMessage::consensus_deserialize(&mut &data[..]).expect("libsigner decodes the chunk")
}

/// Every `/stackerdb_chunks` chunk the raw observer received for boot contract `name` (the
/// node's `contract_id` is `{"issuer": [version, bytes], "name": ...}`).
fn chunks_of(observer: &Observer, name: &str) -> Vec<StackerDBChunkData> {
    observer
        .events_on("/stackerdb_chunks")
        .into_iter()
        .filter(|e| {
            e.body["contract_id"]["name"] == name
                && e.body["contract_id"]["issuer"] == json!([26, vec![0u8; 20]])
        })
        .flat_map(|e| {
            serde_json::from_value::<Vec<StackerDBChunkData>>(e.body["modified_slots"].clone())
                .unwrap()
        })
        .collect()
}

/// The proposal with signer signature hash `hash` as the observer got it from the `miners`
/// StackerDB (decoded by libsigner), with the slot it was written to.
fn observed_proposal(
    node: &RunningMockNode,
    observer: &Observer,
    hash: &Sha512Trunc256Sum,
) -> (u32, BlockProposal) {
    assert!(node.wait_events_delivered(TIMEOUT));
    chunks_of(observer, "miners")
        .into_iter()
        .find_map(|chunk| match decode(&chunk.data) {
            SignerMessage::BlockProposal(p) if &p.block.header.signer_signature_hash() == hash => {
                Some((chunk.slot_id, p))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no proposal {hash} reached the observer"))
}

/// The reject reasons (`Debug` of the response data's `reject_reason`, e.g.
/// `ValidationFailed(UnknownParent)` or `PubkeyHashMismatch`) of the signers' rejections of
/// `hash` the observer received.
fn rejections(
    node: &RunningMockNode,
    observer: &Observer,
    hash: &Sha512Trunc256Sum,
) -> Vec<String> {
    assert!(node.wait_events_delivered(TIMEOUT));
    chunks_of(observer, "signers-0-1")
        .into_iter()
        .filter_map(|chunk| match decode(&chunk.data) {
            SignerMessage::BlockResponse(BlockResponse::Rejected(r))
                if &r.signer_signature_hash == hash =>
            {
                Some(format!("{:?}", r.response_data.reject_reason))
            }
            _ => None,
        })
        .collect()
}

fn post_proposal(node: &RunningMockNode, block: &NakamotoBlock) -> HttpResponse {
    post_block_proposal(node.addr(), block)
}

fn validation_results(observer: &Observer, hash: &Sha512Trunc256Sum) -> Vec<BlockValidateResponse> {
    let hash = json!(hash.to_hex());
    observer
        .events_on("/proposal_response")
        .into_iter()
        .filter(|e| e.body["signer_signature_hash"] == hash)
        .map(|e| serde_json::from_value(e.body).unwrap())
        .collect()
}

/// Waits for the `n`th (1-based) `/proposal_response` about `hash`.
fn nth_validation_result(
    observer: &Observer,
    hash: &Sha512Trunc256Sum,
    n: usize,
) -> BlockValidateResponse {
    assert!(
        observer.wait_for(TIMEOUT, |_| validation_results(observer, hash).len() >= n),
        "no validation result {n} for {hash}"
    );
    validation_results(observer, hash).remove(n - 1)
}

fn record_lines(entries: &std::sync::mpsc::Receiver<ActivityEntry>) -> Vec<Value> {
    entries.try_iter().map(|e| entry_json(&e)).collect()
}

#[test]
fn inject_writes_a_simulated_signers_chunk_that_observers_and_the_record_see() {
    let raw = Observer::start();
    let mut libsigner_events = SignerEvents::start();
    let mut signers = SignerSpec::generated(3, 0);
    signers.extend(external_signers(1));
    let node = node_with(
        signers,
        &[raw.endpoint(), libsigner_events.endpoint.to_string()],
    );
    let activity = node.subscribe();
    let set = node.with_state(|s| s.reward_sets.get(12).unwrap().clone());
    let simulated: Vec<u32> = (0..4)
        .filter(|i| set.signers[*i as usize].private_key.is_some())
        .collect();
    let external = (0..4).find(|i| !simulated.contains(i)).unwrap();
    let (rejecter, committer) = (simulated[0], simulated[1]);
    let pre_commit = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([7; 32]));
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    run(
        &mut runner,
        &format!(
            r#"
[[step]]
type = "burn_block"
winner = 0
[[step]]
type = "propose"
kind = "tenure_start"
label = "start"
[[step]]
type = "inject"
signer = {rejecter}
message = "reject"
block = "start"
[[step]]
type = "inject"
signer = {committer}
message_id = 3
data = "{}"
"#,
            to_hex(&pre_commit.serialize_to_vec())
        ),
    )
    .unwrap();
    let start = runner.proposal(Some("start")).unwrap();

    // The raw observer: `/stackerdb_chunks` on the right contract and slot.
    assert!(node.wait_events_delivered(TIMEOUT));
    let injected = chunks_of(&raw, "signers-0-1")
        .into_iter()
        .filter(|c| c.slot_id == rejecter)
        .find_map(|c| match decode(&c.data) {
            SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => Some(r),
            _ => None,
        })
        .expect("the injected rejection reached the observer in the signer's slot");
    assert_eq!(injected.signer_signature_hash, start);
    assert_eq!(injected.reason, "injected rejection");
    let raw_commit = chunks_of(&raw, "signers-0-3")
        .into_iter()
        .find(|c| c.slot_id == committer && decode(&c.data) == pre_commit)
        .expect("the injected raw chunk reached the observer");
    let writer = raw_commit.recover_pk().unwrap();
    assert_eq!(set.index_of_key(&writer), Some(committer as usize));

    // libsigner's receiver: the same messages, attributed to the signer's key.
    let rejecter_key = set.signers[rejecter as usize].public_key;
    let committer_key = set.signers[committer as usize].public_key;
    libsigner_events.collect_until(TIMEOUT, |seen| {
        let has = |key: &StacksPublicKey, want: &dyn Fn(&SignerMessage) -> bool| {
            seen.iter().any(|e| {
                matches!(e, SignerEvent::SignerMessages { signer_set: 0, messages, .. }
                    if messages.iter().any(|(pk, m)| pk == key && want(m)))
            })
        };
        has(&rejecter_key, &|m| {
            matches!(m, SignerMessage::BlockResponse(BlockResponse::Rejected(r))
                if r.signer_signature_hash == start && r.reason == "injected rejection")
        }) && has(&committer_key, &|m| m == &pre_commit)
    });

    // The record has both writes.
    let lines = record_lines(&activity);
    let writes: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "ChunkWrite" && l["source"] == "internal")
        .collect();
    assert!(writes.iter().any(|l| l["contract"] == "signers-0-1"
        && l["slot_id"] == rejecter
        && l["accepted"] == true
        && l["message"]["kind"] == "BlockRejected"
        && l["message"]["body"]["BlockResponse"]["Rejected"]["reason"] == "injected rejection"));
    assert!(writes.iter().any(|l| l["contract"] == "signers-0-3"
        && l["slot_id"] == committer
        && l["message"]["kind"] == "BlockPreCommit"));

    // Only simulated signers of the set can be injected as.
    let err = run(
        &mut runner,
        &format!("[[step]]\ntype = \"inject\"\nsigner = {external}\nmessage = \"accept\"\n"),
    )
    .unwrap_err();
    assert!(err.contains("is not simulated"), "{err}");
    let err = run(
        &mut runner,
        "[[step]]\ntype = \"inject\"\nsigner = 9\nmessage = \"accept\"\n",
    )
    .unwrap_err();
    assert!(err.contains("no signer 9"), "{err}");
}

#[test]
fn endpoint_down_answers_503_on_the_prefix_until_endpoint_up() {
    let node = node_with(SignerSpec::generated(1, 0), &[]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    assert_eq!(get(node.addr(), "/v2/info").status, 200);
    run(
        &mut runner,
        "[[step]]\ntype = \"endpoint_down\"\npath = \"/v2/info\"\n[[step]]\ntype = \"endpoint_down\"\npath = \"/v2/stackerdb\"\n",
    )
    .unwrap();
    // Every path under the prefix answers 503 (and the server still closes the connection,
    // which `request` checks); other endpoints keep working.
    let down = get(node.addr(), "/v2/info");
    assert_eq!(
        (down.status, down.text().as_str()),
        (503, "Service Unavailable")
    );
    let chunks = "/v2/stackerdb/ST000000000000000000002AMW42H/signers-0-1";
    assert_eq!(get(node.addr(), chunks).status, 503);
    assert_eq!(
        request(
            node.addr(),
            "POST",
            &format!("{chunks}/chunks"),
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .status,
        503
    );
    assert_eq!(get(node.addr(), "/v2/pox").status, 200);
    // libsigner's session sees the failure too.
    let mut session = libsigner::StackerDBSession::new(
        &node.node_host(),
        libsigner::chain::QualifiedContractIdentifier::boot_contract("signers-0-1", false).unwrap(),
        Duration::from_secs(5),
    );
    assert!(libsigner::SignerSession::list_chunks(&mut session).is_err());

    run(
        &mut runner,
        "[[step]]\ntype = \"endpoint_up\"\npath = \"/v2/info\"\n",
    )
    .unwrap();
    let info: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
    assert_eq!(info.burn_block_height, 344);
    assert_eq!(get(node.addr(), chunks).status, 503, "still down");
    run(
        &mut runner,
        "[[step]]\ntype = \"endpoint_up\"\npath = \"/v2/stackerdb\"\n",
    )
    .unwrap();
    assert_eq!(get(node.addr(), chunks).status, 200);
    assert_eq!(
        libsigner::SignerSession::list_chunks(&mut session)
            .unwrap()
            .len(),
        1
    );
}

fn prefixed(bytes: &[u8]) -> String {
    format!("0x{}", to_hex(bytes))
}

#[test]
fn burn_fork_steps_move_info_sortitions_and_burn_block_events_to_the_fork() {
    let observer = Observer::start();
    let node = node_with(SignerSpec::generated(3, 0), &[observer.endpoint()]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    run(
        &mut runner,
        r#"
[[step]]
type = "burn_block"
winner = 0
label = "a"
[[step]]
type = "propose"
label = "in_a"
[[step]]
type = "expect_block"
[[step]]
type = "burn_block"
winner = 1
label = "b"
[[step]]
type = "propose"
label = "in_b"
[[step]]
type = "expect_block"
[[step]]
type = "burn_block"
winner = 0
parent = "a"
label = "fork"
"#,
    )
    .unwrap();
    let (a_hash, a_ch) = runner.burn_block("a").unwrap();
    let (b_hash, b_ch) = runner.burn_block("b").unwrap();
    let (fork_hash, fork_ch) = runner.burn_block("fork").unwrap();
    let in_a = node
        .wait_for_block(&runner.proposal(Some("in_a")).unwrap(), TIMEOUT)
        .unwrap();

    // The fork block, at b's height, is the tip; the Stacks tip falls back to tenure a.
    let info: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
    assert_eq!(info.burn_block_height, 346);
    assert_eq!(info.pox_consensus, fork_ch);
    assert_eq!(info.stacks_tip_consensus_hash, a_ch);
    assert_eq!(info.stacks_tip_height, in_a.height());
    let tip: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions").parse();
    assert_eq!(tip[0].consensus_hash, fork_ch);
    assert_eq!(tip[0].burn_block_hash, fork_hash);
    assert_eq!(tip[0].stacks_parent_ch, Some(a_ch));
    let last: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/latest_and_last").parse();
    assert_eq!(
        (last[0].consensus_hash, last[1].consensus_hash),
        (fork_ch, a_ch)
    );
    let at_346: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions/burn_height/346").parse();
    assert_eq!(at_346[0].consensus_hash, fork_ch);
    let orphaned: Vec<SortitionInfo> =
        get(node.addr(), &format!("/v3/sortitions/consensus/{b_ch}")).parse();
    assert_eq!(orphaned[0].burn_block_hash, b_hash);

    let burn_event = |hash: &libsigner::chain::BurnchainHeaderHash| {
        let hash = prefixed(&hash.0);
        move |e: &mock_node_common::ReceivedEvent| {
            e.path == "/new_burn_block" && e.body["burn_block_hash"] == hash.as_str()
        }
    };
    assert!(observer.wait_for(TIMEOUT, |e| e.iter().any(burn_event(&fork_hash))));
    let event = observer
        .events()
        .into_iter()
        .find(burn_event(&fork_hash))
        .unwrap();
    assert_eq!(event.body["burn_block_height"], 346);
    assert_eq!(event.body["parent_burn_block_hash"], prefixed(&a_hash.0));
    assert_eq!(event.body["consensus_hash"], prefixed(&fork_ch.0));

    // Mining continues on the fork: the fork's winner starts a tenure on tenure a.
    run(
        &mut runner,
        "[[step]]\ntype = \"propose\"\nkind = \"tenure_start\"\nlabel = \"on_fork\"\n[[step]]\ntype = \"expect_block\"\n",
    )
    .unwrap();
    let on_fork = node
        .wait_for_block(&runner.proposal(Some("on_fork")).unwrap(), TIMEOUT)
        .unwrap();
    assert_eq!(on_fork.tenure(), fork_ch);
    assert_eq!(on_fork.block.header.parent_block_id, in_a.id);

    // A reorg back to b: the record of b's tenure is canonical again, and announced.
    let before = observer.events_on("/new_burn_block").len();
    run(
        &mut runner,
        "[[step]]\ntype = \"set_burn_tip\"\nblock = \"b\"\n",
    )
    .unwrap();
    let info: RPCPeerInfoData = get(node.addr(), "/v2/info").parse();
    assert_eq!(info.pox_consensus, b_ch);
    assert_eq!(info.stacks_tip_consensus_hash, b_ch);
    let tip: Vec<SortitionInfo> = get(node.addr(), "/v3/sortitions").parse();
    assert_eq!(tip[0].consensus_hash, b_ch);
    assert!(observer.wait_for(TIMEOUT, |e| e
        .iter()
        .filter(|e| e.path == "/new_burn_block")
        .count()
        > before));
    let last_event = observer.events_on("/new_burn_block").pop().unwrap();
    assert_eq!(last_event.body["burn_block_hash"], prefixed(&b_hash.0));

    // A fork step naming an unknown block fails with the name.
    let err = run(
        &mut runner,
        "[[step]]\ntype = \"burn_block\"\nparent = \"nowhere\"\n",
    )
    .unwrap_err();
    assert_eq!(err, "step 1 (burn_block): unknown burn block `nowhere`");
}

/// What the simulated signers do with a deviating proposal.
#[derive(Debug, Clone, Copy)]
enum Signers {
    /// Every simulated signer rejects it with this reject reason (`Debug` form).
    Reject(&'static str),
    /// They accept it and it is processed.
    Process,
    /// Nobody answers (no signer of the proposal's cycle): never processed.
    Ignore,
}

/// What the validator answers when the proposed block is posted to `/v3/block_proposal`.
#[derive(Debug, Clone, Copy)]
enum Validator {
    Ok,
    RejectWith(ValidateRejectCode, &'static str),
    Status(u16),
}

/// What a test can check a proposal against: the chain as it was before it was made.
struct Before {
    miner_pkh: Hash160,
    tip: stacks_signer::devnet::stacks_chain::StoredBlock,
    signer_count: u16,
    now: u64,
}

type Check = Box<dyn Fn(&BlockProposal, &Before)>;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn tenure_change(block: &NakamotoBlock) -> &stacks_signer::devnet::wire::TenureChangePayload {
    block
        .try_get_tenure_change_payload()
        .expect("a tenure change")
}

fn recovered_pkh(block: &NakamotoBlock) -> Hash160 {
    Hash160::from_node_public_key(&block.header.recover_miner_pk().unwrap())
}

#[test]
fn every_propose_deviation_reaches_the_observer_and_is_judged_as_documented() {
    let observer = Observer::start();
    let node = node_with(SignerSpec::generated(3, 0), &[observer.endpoint()]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    run(&mut runner, FIRST_TENURE).unwrap();
    let (_, t1_ch) = runner.burn_block("t1").unwrap();
    let other_key = StacksPrivateKey::from_seed(b"scenario other miner key");
    let other_pkh = Hash160::from_node_public_key(&StacksPublicKey::from_private(&other_key));
    let genesis_tip = node.with_state(|s| s.stacks.tip().unwrap().block.header.parent_block_id);
    let future = now_secs() + 3600;
    let foreign_ch = ConsensusHash([0x42; 20]);
    let cause_cases = [
        ("extended", TenureChangeCause::Extended),
        ("extended_runtime", TenureChangeCause::ExtendedRuntime),
        ("extended_read_count", TenureChangeCause::ExtendedReadCount),
        (
            "extended_read_length",
            TenureChangeCause::ExtendedReadLength,
        ),
        (
            "extended_write_count",
            TenureChangeCause::ExtendedWriteCount,
        ),
        (
            "extended_write_length",
            TenureChangeCause::ExtendedWriteLength,
        ),
    ];
    use ValidateRejectCode as V;
    let mut cases: Vec<(String, String, Check, Signers, Validator)> = vec![
        (
            "wrong_miner_key".into(),
            "wrong_miner_key = true".into(),
            Box::new(|p, b| assert_ne!(recovered_pkh(&p.block), b.miner_pkh)),
            Signers::Reject("PubkeyHashMismatch"),
            Validator::RejectWith(
                V::ChainstateError,
                "Chainstate Error: Invalid miner signature",
            ),
        ),
        (
            "miner_key".into(),
            format!("miner_key = \"{}\"", other_key.to_hex()),
            Box::new(move |p, _| assert_eq!(recovered_pkh(&p.block), other_pkh)),
            Signers::Reject("PubkeyHashMismatch"),
            Validator::RejectWith(
                V::ChainstateError,
                "Chainstate Error: Invalid miner signature",
            ),
        ),
        (
            "pox_treatment_zero".into(),
            "pox_treatment_zero = 1".into(),
            Box::new(|p, b| {
                let bits = &p.block.header.pox_treatment;
                assert_eq!(bits.len(), b.signer_count);
                let got: Vec<bool> = (0..b.signer_count).map(|i| bits.get(i).unwrap()).collect();
                assert_eq!(got, vec![true, false, true]);
            }),
            Signers::Reject("InvalidBitvec"),
            // The node rebuilds the block with an all-ones bit vector, so the hash differs.
            Validator::RejectWith(V::BadBlockHash, "Block hash is not as expected"),
        ),
        (
            "bad_parent".into(),
            "bad_parent = true".into(),
            Box::new(|p, _| {
                assert_eq!(p.block.header.parent_block_id, StacksBlockId([0xbd; 32]));
                // Without a known parent the miner counts from height 0.
                assert_eq!(p.block.header.chain_length, 1);
            }),
            // As the reference signer: not higher than its tenure's tip, so refused before
            // validation (the wire code is `SortitionViewMismatch`).
            Signers::Reject("InvalidParentBlock"),
            Validator::RejectWith(V::UnknownParent, "Unknown parent block"),
        ),
        (
            "parent_block_id".into(),
            format!("parent_block_id = \"{genesis_tip}\""),
            Box::new(move |p, _| assert_eq!(p.block.header.parent_block_id, genesis_tip)),
            Signers::Reject("InvalidParentBlock"),
            // The block's burn view is its parent's, older than its tenure's sortition, so
            // the tenure is not on the burn view's fork.
            Validator::RejectWith(
                V::NonCanonicalTenure,
                "Tenure consensus hash is not on the canonical Bitcoin fork",
            ),
        ),
        (
            "consensus_hash".into(),
            format!("consensus_hash = \"{foreign_ch}\""),
            Box::new(move |p, _| assert_eq!(p.block.header.consensus_hash, foreign_ch)),
            Signers::Reject("SortitionViewMismatch"),
            // A block without a tenure change keeps its parent's burn view, which is known;
            // the unknown tenure is not on that burn view's fork.
            Validator::RejectWith(
                V::NonCanonicalTenure,
                "Tenure consensus hash is not on the canonical Bitcoin fork",
            ),
        ),
        (
            "stale_timestamp_secs".into(),
            "stale_timestamp_secs = 3600".into(),
            Box::new(|p, b| {
                let t = p.block.header.timestamp;
                assert!(t + 3600 >= b.now && t + 3600 <= now_secs(), "{t}");
                assert!(t < b.tip.block.header.timestamp);
            }),
            Signers::Reject("ValidationFailed(InvalidTimestamp)"),
            // Older than `block_proposal_max_age_secs`: refused before validation.
            Validator::Status(422),
        ),
        (
            "timestamp".into(),
            format!("timestamp = {future}"),
            Box::new(move |p, _| assert_eq!(p.block.header.timestamp, future)),
            Signers::Reject("ValidationFailed(InvalidTimestamp)"),
            Validator::RejectWith(
                V::InvalidTimestamp,
                "Block timestamp is too far into the future",
            ),
        ),
        (
            "chain_length".into(),
            "chain_length = 99".into(),
            Box::new(|p, _| assert_eq!(p.block.header.chain_length, 99)),
            Signers::Reject("ValidationFailed(BadBlockHash)"),
            // The node rebuilds the block at its parent's height + 1, so the hash differs.
            Validator::RejectWith(V::BadBlockHash, "Block hash is not as expected"),
        ),
        (
            "duplicate_tenure_change".into(),
            "duplicate_tenure_change = true".into(),
            Box::new(move |p, b| {
                let tc = tenure_change(&p.block);
                assert_eq!(tc.cause, TenureChangeCause::BlockFound);
                assert_eq!(tc.tenure_consensus_hash, b.tip.tenure());
                assert_eq!(p.block.header.parent_block_id, b.tip.id);
                // A complete second tenure start (with a coinbase) in a started tenure.
                assert_eq!(p.block.is_wellformed_tenure_start_block(), Ok(true));
            }),
            Signers::Reject("DuplicateBlockFound"),
            // The node checks a tenure-start block's parent against the parent's own tenure
            // (here: this tenure, whose tip it is); the tenure change's contents are checked
            // only when a block is appended, not when a proposal is validated.
            Validator::Ok,
        ),
        (
            "reward_cycle".into(),
            "reward_cycle = 13".into(),
            Box::new(|p, _| assert_eq!(p.reward_cycle, 13)),
            Signers::Ignore,
            Validator::Ok,
        ),
        (
            "reward_cycle_offset".into(),
            "reward_cycle_offset = -1".into(),
            Box::new(|p, _| assert_eq!(p.reward_cycle, 11)),
            Signers::Ignore,
            Validator::Ok,
        ),
    ];
    for (cause, expected) in cause_cases {
        // Right after the tenure start, with the same burn view: `Extended` and
        // `ExtendedReadCount` have not waited out their idle timeouts, the SIP-034 causes are
        // not supported by the reference signer.
        cases.push((
            format!("extend {cause}"),
            format!("kind = \"extend\"\ncause = \"{cause}\""),
            Box::new(move |p, b| {
                let tc = tenure_change(&p.block);
                assert_eq!(tc.cause, expected);
                assert_eq!(tc.tenure_consensus_hash, b.tip.tenure());
                assert_eq!(tc.previous_tenure_end, b.tip.id);
            }),
            Signers::Reject("InvalidTenureExtend"),
            Validator::Ok,
        ));
    }
    // Last, as they follow a new burn block (without a sortition): an extend that keeps the
    // tenure's burn view (an older burn block than the tip), one that moves it to the tip,
    // and then one that moves it back (older than its parent's).
    cases.push((
        "burn_view".into(),
        "kind = \"extend\"\nburn_view = \"t1\"".into(),
        Box::new(move |p, _| {
            assert_eq!(tenure_change(&p.block).burn_view_consensus_hash, t1_ch);
        }),
        Signers::Reject("InvalidTenureExtend"),
        // The parent's burn view is t1 too, so it connects.
        Validator::Ok,
    ));
    cases.push((
        "extend to the new burn view".into(),
        "kind = \"extend\"".into(),
        Box::new(move |p, _| {
            assert_ne!(tenure_change(&p.block).burn_view_consensus_hash, t1_ch);
        }),
        Signers::Process,
        Validator::Ok,
    ));
    cases.push((
        "burn_view older than the parent's".into(),
        "kind = \"extend\"\nburn_view = \"t1\"".into(),
        Box::new(move |p, _| {
            assert_eq!(tenure_change(&p.block).burn_view_consensus_hash, t1_ch);
        }),
        // It changes the tenure's burn view, so the signer check passes; the node refuses it.
        Signers::Reject("ValidationFailed(ChainstateError)"),
        Validator::RejectWith(
            V::ChainstateError,
            "Chainstate Error: Failed to load burn view of parent block ID",
        ),
    ));

    for (name, fields, check, signers, validator) in cases {
        if name == "burn_view" {
            run(&mut runner, "[[step]]\ntype = \"burn_block\"\n").unwrap();
        }
        let before = node.with_state(|s| Before {
            miner_pkh: s.tenure_miner_pkh(&t1_ch).unwrap(),
            tip: s.stacks.tip().unwrap().clone(),
            signer_count: s.reward_sets.get(12).unwrap().signers.len() as u16,
            now: now_secs(),
        });
        let kind = if fields.contains("kind =") {
            String::new()
        } else {
            "kind = \"continue\"\n".into()
        };
        let expect = match signers {
            Signers::Reject(_) => "outcome = \"rejected\"",
            Signers::Process => "outcome = \"processed\"",
            Signers::Ignore => "outcome = \"not_processed\"\ntimeout_secs = 1",
        };
        run(
            &mut runner,
            &format!(
                "[[step]]\ntype = \"propose\"\nlabel = \"case\"\n{kind}{fields}\n[[step]]\ntype = \"expect_block\"\n{expect}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let hash = runner.proposal(Some("case")).unwrap();

        // The proposal as the observer got it: in the current miner's proposal slot, with
        // the deviation.
        let (slot, proposal) = observed_proposal(&node, &observer, &hash);
        let miner_slot = node.with_state(|s| s.current_miner_slot_index().unwrap());
        assert_eq!(slot, 2 * miner_slot, "{name}");
        check(&proposal, &before);

        // The simulated signers' verdict.
        let reasons = rejections(&node, &observer, &hash);
        match signers {
            Signers::Reject(reason) => {
                assert_eq!(reasons, vec![reason.to_string(); 3], "{name}")
            }
            Signers::Process | Signers::Ignore => {
                assert!(reasons.is_empty(), "{name}: {reasons:?}")
            }
        }

        // The validator, for blocks not processed (a processed block no longer extends
        // its tenure's tip).
        if matches!(signers, Signers::Process) {
            continue;
        }
        let resp = post_proposal(&node, &proposal.block);
        match validator {
            Validator::Status(code) => assert_eq!(resp.status, code, "{name}: {}", resp.text()),
            Validator::Ok => {
                assert_eq!(resp.status, 202, "{name}");
                let result = nth_validation_result(&observer, &hash, 1);
                assert!(
                    matches!(result, BlockValidateResponse::Ok(_)),
                    "{name}: {result:?}"
                );
            }
            Validator::RejectWith(code, reason) => {
                assert_eq!(resp.status, 202, "{name}");
                match nth_validation_result(&observer, &hash, 1) {
                    BlockValidateResponse::Reject(r) => {
                        assert_eq!((r.reason_code, r.reason.as_str()), (code, reason), "{name}")
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn a_wrong_merkle_root_makes_the_proposal_undecodable_so_nobody_signs_it() {
    let observer = Observer::start();
    let node = node_with(SignerSpec::generated(3, 0), &[observer.endpoint()]);
    let activity = node.subscribe();
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    let root = "11".repeat(32);
    run(
        &mut runner,
        &format!(
            r#"
[[step]]
type = "burn_block"
winner = 0
[[step]]
type = "propose"
kind = "tenure_start"
tx_merkle_root = "{root}"
[[step]]
type = "expect_block"
outcome = "not_processed"
timeout_secs = 1
"#
        ),
    )
    .unwrap();
    assert!(node.wait_events_delivered(TIMEOUT));
    let chunks = chunks_of(&observer, "miners");
    assert_eq!(chunks.len(), 1);
    // libsigner (as the node's codec) refuses the block for its Merkle root.
    let err = SignerMessage::consensus_deserialize(&mut &chunks[0].data[..]).unwrap_err();
    assert!(err.to_string().contains("Merkle"), "{err}");
    // The root is in the chunk as written.
    assert!(to_hex(&chunks[0].data).contains(&root));
    let lines = record_lines(&activity);
    let write = lines
        .iter()
        .find(|l| l["event"] == "ChunkWrite" && l["contract"] == "miners")
        .unwrap();
    assert!(write["message"]["undecodable"]
        .as_str()
        .unwrap()
        .contains("Merkle"));
    assert!(!lines.iter().any(|l| l["event"] == "ChunkWrite"
        && l["contract"].as_str().unwrap().starts_with("signers-0-1")));
}

#[test]
fn validation_steps_force_rejections_stall_answer_429_and_delay() {
    // External signers only: the proposal stays unsigned and can be validated repeatedly.
    let observer = Observer::start();
    let node = node_with(external_signers(3), &[observer.endpoint()]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    run(
        &mut runner,
        "[[step]]\ntype = \"burn_block\"\nwinner = 0\n[[step]]\ntype = \"propose\"\nkind = \"tenure_start\"\nlabel = \"p\"\n",
    )
    .unwrap();
    let hash = runner.proposal(Some("p")).unwrap();
    let (_, proposal) = observed_proposal(&node, &observer, &hash);
    let block = proposal.block;
    let answered = std::cell::Cell::new(0);
    let validate = |expect_status: u16| -> Option<BlockValidateResponse> {
        let resp = post_proposal(&node, &block);
        assert_eq!(resp.status, expect_status, "{}", resp.text());
        (expect_status == 202).then(|| {
            answered.set(answered.get() + 1);
            nth_validation_result(&observer, &hash, answered.get())
        })
    };

    // reject, bound to a labelled block, consumed by one validation.
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\nreject = \"BadTransaction\"\nreason = \"poisoned\"\nblock = \"p\"\n",
    )
    .unwrap();
    match validate(202).unwrap() {
        BlockValidateResponse::Reject(r) => {
            assert_eq!(
                (r.reason_code, r.reason.as_str()),
                (ValidateRejectCode::BadTransaction, "poisoned")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(validate(202), Some(BlockValidateResponse::Ok(_))));

    // busy: n answers of 429, then accepted again.
    run(&mut runner, "[[step]]\ntype = \"validation\"\nbusy = 2\n").unwrap();
    assert_eq!(validate(429), None);
    assert_eq!(validate(429), None);
    assert!(matches!(validate(202), Some(BlockValidateResponse::Ok(_))));

    // stall: accepted (202) but never answered, until `stall = false`.
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\nstall = true\n",
    )
    .unwrap();
    assert_eq!(post_proposal(&node, &block).status, 202);
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.wait_events_delivered(TIMEOUT));
    assert_eq!(validation_results(&observer, &hash).len(), answered.get());
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\nstall = false\n",
    )
    .unwrap();
    assert!(matches!(validate(202), Some(BlockValidateResponse::Ok(_))));

    // delay_ms: the result reports at least that long a validation.
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\ndelay_ms = 300\n",
    )
    .unwrap();
    match validate(202).unwrap() {
        BlockValidateResponse::Ok(ok) => assert!(ok.validation_time_ms >= 300, "{ok:?}"),
        other => panic!("{other:?}"),
    }
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\ndelay_ms = 0\n",
    )
    .unwrap();

    // reject without a block: the next proposal, with the default reason.
    run(
        &mut runner,
        "[[step]]\ntype = \"validation\"\nreject = \"InvalidBlock\"\n[[step]]\ntype = \"propose\"\nkind = \"tenure_start\"\nlabel = \"q\"\n",
    )
    .unwrap();
    let q = runner.proposal(Some("q")).unwrap();
    assert_ne!(q, hash);
    let (_, next) = observed_proposal(&node, &observer, &q);
    assert_eq!(post_proposal(&node, &next.block).status, 202);
    match nth_validation_result(&observer, &q, 1) {
        BlockValidateResponse::Reject(r) => assert_eq!(
            (r.reason_code, r.reason.as_str()),
            (
                ValidateRejectCode::InvalidBlock,
                "forced rejection: InvalidBlock"
            )
        ),
        other => panic!("{other:?}"),
    }
    // The earlier block is not affected.
    assert!(matches!(validate(202), Some(BlockValidateResponse::Ok(_))));
}

#[test]
fn wait_and_expect_block_pass_when_satisfied_and_fail_with_one_line_naming_the_step() {
    let node = node_with(SignerSpec::generated(3, 0), &[]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    let err = run(&mut runner, "[[step]]\ntype = \"expect_block\"\n").unwrap_err();
    assert_eq!(err, "step 1 (expect_block): no proposal yet");

    let started = Instant::now();
    run(
        &mut runner,
        r#"
[[step]]
type = "wait"
secs = 0.3
[[step]]
type = "burn_block"
winner = 0
[[step]]
type = "propose"
label = "good"
[[step]]
type = "expect_block"
block = "good"
[[step]]
type = "propose"
kind = "continue"
bad_parent = true
label = "bad"
[[step]]
type = "expect_block"
block = "bad"
outcome = "rejected"
[[step]]
type = "propose"
kind = "continue"
reward_cycle = 13
label = "unsigned"
[[step]]
type = "expect_block"
outcome = "not_processed"
timeout_secs = 0.5
"#,
    )
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "wait slept"
    );
    let good = runner.proposal(Some("good")).unwrap();
    let bad = runner.proposal(Some("bad")).unwrap();
    let unsigned = runner.proposal(Some("unsigned")).unwrap();

    let failures = [
        (
            "[[step]]\ntype = \"wait\"\nsecs = 0\n[[step]]\ntype = \"expect_block\"\nblock = \"bad\"\ntimeout_secs = 0.5\n".to_string(),
            format!("step 2 (expect_block): block {bad} was not processed within 500ms"),
        ),
        (
            "[[step]]\ntype = \"expect_block\"\nblock = \"good\"\noutcome = \"rejected\"\ntimeout_secs = 0.5\n".to_string(),
            format!("step 1 (expect_block): block {good} was not rejected within 500ms"),
        ),
        (
            "[[step]]\ntype = \"expect_block\"\nblock = \"good\"\noutcome = \"not_processed\"\ntimeout_secs = 0.5\n".to_string(),
            format!("step 1 (expect_block): block {good} was processed"),
        ),
        (
            "[[step]]\ntype = \"expect_block\"\ntimeout_secs = 0.5\n".to_string(),
            format!("step 1 (expect_block): block {unsigned} was not processed within 500ms"),
        ),
        (
            "[[step]]\ntype = \"expect_block\"\nblock = \"nope\"\n".to_string(),
            "step 1 (expect_block): unknown block label `nope`".to_string(),
        ),
    ];
    for (text, expected) in failures {
        let err = run(&mut runner, &text).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.lines().count(), 1);
    }
    // Bad values fail at parse time, naming the step.
    for (text, needle) in [
        (
            "[[step]]\ntype = \"wait\"\nsecs = -1\n",
            "step 1 (wait): `secs` must be a non-negative number",
        ),
        (
            "[[step]]\ntype = \"expect_block\"\noutcome = \"eventually\"\n",
            "step 1 (expect_block): unknown outcome `eventually`",
        ),
        (
            "[[step]]\ntype = \"wait\"\n",
            "line 1: missing field `secs`",
        ),
    ] {
        let err = Scenario::parse(text).unwrap_err();
        assert!(err.starts_with(needle), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn an_extend_keeping_the_burn_view_is_refused_until_the_tenure_idle_timeout_has_passed() {
    use stacks_signer::devnet::signers::TENURE_IDLE_TIMEOUT_SECS;
    use stacks_signer::devnet::BurnBlockOptions;
    let observer = Observer::start();
    let start = now_secs();
    let mut config = MockNodeConfig {
        signers: SignerSpec::generated(2, 0),
        fixed_clock_secs: Some(start),
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    let steps = format!(
        "{FIRST_TENURE}{}",
        r#"
[[step]]
type = "propose"
kind = "extend"
burn_view = "t1"
label = "early"
[[step]]
type = "expect_block"
outcome = "rejected"
"#
    );
    run(&mut runner, &steps).unwrap();
    let early = runner.proposal(Some("early")).unwrap();
    assert_eq!(
        rejections(&node, &observer, &early),
        vec!["InvalidTenureExtend".to_string(); 2]
    );
    // A burn block without a sortition moves the node's clock past the idle timeout.
    node.advance_burn_block(&BurnBlockOptions {
        timestamp: Some(start + TENURE_IDLE_TIMEOUT_SECS + 10),
        ..BurnBlockOptions::default()
    })
    .unwrap();
    run(
        &mut runner,
        r#"
[[step]]
type = "propose"
kind = "extend"
burn_view = "t1"
label = "idle"
[[step]]
type = "expect_block"
block = "idle"
"#,
    )
    .unwrap();
    let idle = runner.proposal(Some("idle")).unwrap();
    assert!(rejections(&node, &observer, &idle).is_empty());
}

#[test]
fn a_burn_view_on_a_continue_block_is_a_one_line_error() {
    let text = "[[step]]\ntype = \"propose\"\nkind = \"continue\"\nburn_view = \"t1\"\n";
    let err = Scenario::parse(text).unwrap_err();
    assert!(err.starts_with("step 1 (propose):"), "{err}");
    assert!(err.contains("burn_view") && !err.contains('\n'), "{err}");
    // An automatic kind that turns out to be `continue` fails when the step runs.
    let node = node_with(SignerSpec::generated(1, 0), &[]);
    let mut runner = ScenarioRunner::new(&node, TIMEOUT);
    run(
        &mut runner,
        "[[step]]\ntype = \"burn_block\"\nwinner = 0\nlabel = \"t1\"\n[[step]]\ntype = \"propose\"\n[[step]]\ntype = \"expect_block\"\n",
    )
    .unwrap();
    let err = run(
        &mut runner,
        "[[step]]\ntype = \"propose\"\nburn_view = \"t1\"\n",
    )
    .unwrap_err();
    assert!(err.contains("burn_view") && !err.contains('\n'), "{err}");
}
