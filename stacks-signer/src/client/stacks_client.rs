//! `StacksClient`: the signer's client for the Stacks node's RPC endpoints, with the
//! reference's request shapes, `Authorization` header and retry policy, and a timeout on every
//! request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libsigner::chain::{
    ConsensusHash, NakamotoBlock, QualifiedContractIdentifier, StacksAddress, StacksPrivateKey,
    StacksPublicKey, StacksTransaction, Value, SIGNERS_NAME,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::PeerInfo;
use libsigner::NakamotoSignerEntry;
use slog::Logger;
use ureq::http::Response;
use ureq::{Agent, Body};

use super::api::{
    AccountEntryResponse, BlockHeaderWithMetadata, NakamotoBlockProposal, RPCPoxInfoData,
    SortitionInfo, StacksEpochId, TenureForkingInfo,
};
use super::error::ClientError;
use super::health::{NodeHealth, SLOW_ANSWER};
use super::parse;
use super::retry::{retry_with_exponential_backoff, RetryError};
use crate::config::GlobalConfig;
use crate::monitoring::actions::new_rpc_call_timer;

/// The reference's per-request timeout (reqwest's blocking default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body read (fork info may carry whole tenures).
const MAX_BODY_LEN: u64 = 128 * 1024 * 1024;

/// Mainnet's chain id.
const CHAIN_ID_MAINNET: u32 = 0x0000_0001;

/// The chain id a testnet signer uses when the node reports none.
const CHAIN_ID_TESTNET: u32 = 0x8000_0000;

/// A signer's slot in the signers' StackerDBs (its index in the `.signers` slot page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignerSlotID(pub u32);

impl std::fmt::Display for SignerSlotID {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The current reward cycle as derived from `/v2/pox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewardCycleInfo {
    /// The current reward cycle.
    pub reward_cycle: u64,
    /// The total reward cycle length (reward + prepare phase).
    pub reward_cycle_length: u64,
    /// The prepare phase length.
    pub prepare_phase_block_length: u64,
    /// The first burn block height of PoX.
    pub first_burnchain_block_height: u64,
    /// The burn block height when this was queried.
    pub last_burnchain_block_height: u64,
}

impl RewardCycleInfo {
    /// The reward cycle of a burn height (0 if the cycle length is 0).
    pub fn get_reward_cycle(&self, burnchain_block_height: u64) -> u64 {
        let blocks_mined = burnchain_block_height.saturating_sub(self.first_burnchain_block_height);
        blocks_mined
            .checked_div(self.reward_cycle_length)
            .unwrap_or(0)
    }

    /// The first burn block height of `reward_cycle`.
    pub fn first_burn_height_of(&self, reward_cycle: u64) -> u64 {
        self.first_burnchain_block_height
            .saturating_add(reward_cycle.saturating_mul(self.reward_cycle_length))
    }

    /// Whether a burn height is in this reward cycle.
    pub fn is_in_reward_cycle(&self, burnchain_block_height: u64) -> bool {
        self.get_reward_cycle(burnchain_block_height) == self.reward_cycle
    }

    /// Whether a burn height is in the prepare phase of the next cycle (the last
    /// `prepare_phase_block_length` blocks of this one).
    pub fn is_in_next_prepare_phase(&self, burnchain_block_height: u64) -> bool {
        if self.reward_cycle_length == 0 {
            return false;
        }
        let effective = burnchain_block_height.saturating_sub(self.first_burnchain_block_height);
        let reward_index = effective % self.reward_cycle_length;
        reward_index
            >= self
                .reward_cycle_length
                .saturating_sub(self.prepare_phase_block_length)
            && self.get_reward_cycle(burnchain_block_height) == self.reward_cycle
    }
}

/// The signer's client for the Stacks node's RPC interface.
#[derive(Debug, Clone)]
pub struct StacksClient {
    stacks_address: StacksAddress,
    http_origin: String,
    chain_id: u32,
    /// Whether the node is on mainnet.
    pub mainnet: bool,
    auth_password: String,
    agent: Agent,
    logger: Logger,
    /// The node's health, shared by every client of the node (see [`super::health`]).
    health: Arc<NodeHealth>,
}

impl From<&GlobalConfig> for StacksClient {
    fn from(config: &GlobalConfig) -> Self {
        Self {
            stacks_address: config.stacks_address,
            http_origin: config.http_origin(),
            chain_id: config.to_chain_id(),
            mainnet: config.network.is_mainnet(),
            auth_password: config.auth_password.clone(),
            agent: new_agent(DEFAULT_REQUEST_TIMEOUT),
            logger: crate::logging::discard(),
            health: NodeHealth::for_node(&config.http_origin()),
        }
    }
}

/// Marks a response that took longer than [`SLOW_ANSWER`] to arrive (already reported as a
/// failure: reading it does not end the fault).
#[derive(Debug, Clone, Copy)]
struct SlowAnswer;

/// Pooled connections that acknowledge answers at once (see [`libsigner::node_agent`]).
fn new_agent(timeout: Duration) -> Agent {
    let config = Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build();
    libsigner::node_agent(config)
}

/// A transport error is worth retrying; anything else is not.
fn transient(e: ClientError) -> RetryError<ClientError> {
    match e {
        ClientError::HttpError(_) => RetryError::Transient(e),
        other => RetryError::Permanent(other),
    }
}

fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_BODY_LEN)
        .read_to_end(&mut out)
        .map_err(|e| ClientError::HttpError(format!("error reading response body: {e}")))?;
    Ok(out)
}

/// Reads the body and hands it to one of the [`parse`] functions.
fn decode<T>(
    response: &mut Response<Body>,
    parse: impl FnOnce(&[u8]) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let body = read_body(response)?;
    parse(&body)
}

/// Fails with `RequestFailure` on a non-2xx status.
fn check_status(response: &Response<Body>) -> Result<(), ClientError> {
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(ClientError::RequestFailure(status.as_u16()))
    }
}

impl StacksClient {
    /// A client for the node at `node_host` (`ip:port`) signing as `stacks_private_key`.
    pub fn new(
        stacks_private_key: &StacksPrivateKey,
        node_host: &str,
        auth_password: String,
        mainnet: bool,
        chain_id: u32,
    ) -> Self {
        let pubkey = StacksPublicKey::from_private(stacks_private_key);
        let http_origin = format!("http://{node_host}");
        Self {
            stacks_address: StacksAddress::p2pkh(mainnet, &pubkey),
            health: NodeHealth::for_node(&http_origin),
            http_origin,
            chain_id,
            mainnet,
            auth_password,
            agent: new_agent(DEFAULT_REQUEST_TIMEOUT),
            logger: crate::logging::discard(),
        }
    }

    /// A client whose network is learnt from the node's `/v2/info` (`network_id == 1` is
    /// mainnet; otherwise testnet with `chain_id = network_id`), as `monitor-signers` does.
    pub fn try_from_host(
        stacks_private_key: &StacksPrivateKey,
        node_host: &str,
        auth_password: String,
    ) -> Result<Self, ClientError> {
        let mut client = Self::new(
            stacks_private_key,
            node_host,
            auth_password,
            true,
            CHAIN_ID_MAINNET,
        );
        let info = client.get_peer_info()?;
        if info.network_id == CHAIN_ID_MAINNET {
            client.mainnet = true;
            client.chain_id = CHAIN_ID_MAINNET;
        } else {
            client.mainnet = false;
            client.chain_id = if info.network_id == 0 {
                CHAIN_ID_TESTNET
            } else {
                info.network_id
            };
        }
        let pubkey = StacksPublicKey::from_private(stacks_private_key);
        client.stacks_address = StacksAddress::p2pkh(client.mainnet, &pubkey);
        Ok(client)
    }

    /// The same client logging its warnings to `logger` (by default it logs nothing).
    pub fn with_logger(mut self, logger: Logger) -> Self {
        self.logger = logger;
        self
    }

    /// The same client with a different per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = new_agent(timeout);
        self
    }

    /// Whether the node is failing right now (see [`super::health`]): callers log their own
    /// errors about it at debug level, the fault having been reported once already.
    pub fn node_is_failing(&self) -> bool {
        self.health.is_failing()
    }

    /// The signer's own Stacks address.
    pub fn get_signer_address(&self) -> &StacksAddress {
        &self.stacks_address
    }

    /// The chain id sent with block proposals.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }

    /// The node's RPC origin, `http://{node_host}`.
    pub fn http_origin(&self) -> &str {
        &self.http_origin
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_origin)
    }

    fn get(&self, path: &str) -> Result<Response<Body>, ClientError> {
        let started = Instant::now();
        let result = self.agent.get(self.url(path)).call();
        self.observe(&format!("GET {path}"), started, result)
    }

    /// Reports a request's outcome to the node's health (see [`super::health`]): a
    /// transport error, a `5xx` or a slow answer is a failure; any other non-2xx is an
    /// answer; a 2xx is judged once its body is read ([`Self::decode`], [`Self::answered`]).
    fn observe(
        &self,
        what: &str,
        started: Instant,
        result: Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, ClientError> {
        match result {
            Err(e) => {
                let e = ClientError::from(e);
                self.health.failed(&self.logger, what, &e.to_string());
                Err(e)
            }
            Ok(mut response) => {
                let status = response.status();
                let elapsed = started.elapsed();
                if status.is_server_error() {
                    self.health
                        .failed(&self.logger, what, &format!("answered {status}"));
                } else if elapsed > SLOW_ANSWER {
                    self.health.answered_in(&self.logger, what, elapsed);
                    response.extensions_mut().insert(SlowAnswer);
                } else if !status.is_success() {
                    self.health.answered(&self.logger, what);
                }
                Ok(response)
            }
        }
    }

    /// Reports a 2xx answer that needs no decoding as an answer (unless it was slow).
    fn answered(&self, what: &str, response: &Response<Body>) {
        if response.extensions().get::<SlowAnswer>().is_none() {
            self.health.answered(&self.logger, what);
        }
    }

    /// Decodes a JSON answer to `what`; an undecodable answer is a failure of the node.
    fn decode<T>(
        &self,
        what: &str,
        response: &mut Response<Body>,
        parse: impl FnOnce(&[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let result = decode(response, parse);
        match &result {
            Ok(_) => self.answered(what, response),
            Err(e) => self
                .health
                .failed(&self.logger, what, &format!("undecodable answer: {e}")),
        }
        result
    }

    /// GET `path`, non-2xx → `RequestFailure`, then parse the body.
    fn get_json<T>(
        &self,
        path: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut response = self.get(path)?;
        check_status(&response)?;
        self.decode(&format!("GET {path}"), &mut response, parse)
    }

    /// [`Self::get_json`] retrying transport errors only: an error status or an undecodable
    /// body is returned at once, as in the reference.
    fn get_json_retry<T>(
        &self,
        path: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut response =
            retry_with_exponential_backoff(|| self.get(path).map_err(RetryError::Transient))?;
        check_status(&response)?;
        self.decode(&format!("GET {path}"), &mut response, parse)
    }

    /// `GET /v2/info`: the node's view of the chains (retried).
    pub fn get_peer_info(&self) -> Result<PeerInfo, ClientError> {
        let _timer = new_rpc_call_timer("/v2/info");
        let info = self.get_json_retry("/v2/info", parse::peer_info)?;
        if let Ok(height) = i64::try_from(info.stacks_tip_height) {
            crate::monitoring::actions::update_stacks_tip_height(height);
        }
        Ok(info)
    }

    /// `GET /v2/pox` (retried).
    pub fn get_pox_data(&self) -> Result<RPCPoxInfoData, ClientError> {
        let _timer = new_rpc_call_timer("/v2/pox");
        let pox = self.get_json_retry("/v2/pox", parse::pox_info)?;
        if let Ok(reward_cycle) = i64::try_from(pox.reward_cycle_id) {
            crate::monitoring::actions::update_reward_cycle(reward_cycle);
        }
        Ok(pox)
    }

    /// The current reward cycle, computed from `/v2/pox` as the reference does; an error if
    /// the reported cycle length is 0.
    pub fn get_current_reward_cycle_info(&self) -> Result<RewardCycleInfo, ClientError> {
        let pox = self.get_pox_data()?;
        reward_cycle_info_from_pox(&pox)
    }

    /// The node's current epoch (from `/v2/pox`).
    pub fn get_node_epoch(&self) -> Result<StacksEpochId, ClientError> {
        Ok(self.get_pox_data()?.current_epoch)
    }

    /// `GET /v3/stacker_set/{reward_cycle}`: the cycle's signers (`None` if it has none).
    /// Transport errors are retried; an error status is logged with the node's `err_msg`
    /// and returned as `RequestFailure`.
    pub fn get_reward_set_signers(
        &self,
        reward_cycle: u64,
    ) -> Result<Option<Vec<NakamotoSignerEntry>>, ClientError> {
        let path = format!("/v3/stacker_set/{reward_cycle}");
        let _timer = new_rpc_call_timer("/v3/stacker_set/:reward_cycle");
        let send = || -> Result<Option<Vec<NakamotoSignerEntry>>, RetryError<ClientError>> {
            let mut response = self.get(&path).map_err(transient)?;
            let status = response.status();
            if !status.is_success() {
                let err_msg = decode(&mut response, parse::node_error_message)
                    .map_err(RetryError::Permanent)?;
                slog::warn!(
                    self.logger,
                    "Got error response ({}): {}",
                    status.as_u16(),
                    err_msg
                );
                return Err(RetryError::Permanent(ClientError::RequestFailure(
                    status.as_u16(),
                )));
            }
            self.decode(&format!("GET {path}"), &mut response, parse::stacker_set)
                .map_err(RetryError::Permanent)
        };
        retry_with_exponential_backoff(send)
    }

    /// `GET /v3/tenures/tip_metadata/{consensus_hash}`: the highest block of a tenure (not
    /// retried).
    pub fn get_tenure_tip(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<BlockHeaderWithMetadata, ClientError> {
        let _timer = new_rpc_call_timer("/v3/tenures/tip_metadata/:consensus_hash");
        self.get_json(
            &format!("/v3/tenures/tip_metadata/{}", consensus_hash.to_hex()),
            parse::tenure_tip_metadata,
        )
    }

    fn get_fork_info_step(
        &self,
        start: &ConsensusHash,
        stop: &ConsensusHash,
    ) -> Result<VecDeque<TenureForkingInfo>, ClientError> {
        let _timer = new_rpc_call_timer("/v3/tenures/fork_info/:start/:stop");
        self.get_json_retry(
            &format!("/v3/tenures/fork_info/{}/{}", start.to_hex(), stop.to_hex()),
            parse::fork_info,
        )
    }

    /// The tenures from `last_sortition` back to `chosen_parent` (newest first), fetched in as
    /// many `/v3/tenures/fork_info` calls as the node's depth limit requires.
    pub fn get_tenure_forking_info(
        &self,
        chosen_parent: &ConsensusHash,
        last_sortition: &ConsensusHash,
    ) -> Result<Vec<TenureForkingInfo>, ClientError> {
        let mut tenures = self.get_fork_info_step(chosen_parent, last_sortition)?;
        if tenures.is_empty() {
            return Ok(vec![]);
        }
        let incomplete = || {
            ClientError::InvalidResponse(
                "Could not fetch forking info all the way back to the requested chosen_parent"
                    .into(),
            )
        };
        let mut seen: HashSet<ConsensusHash> = tenures.iter().map(|t| t.consensus_hash).collect();
        while let Some(last) = tenures.back() {
            if last.consensus_hash == *chosen_parent {
                break;
            }
            let stop = last.consensus_hash;
            let mut next = self.get_fork_info_step(chosen_parent, &stop)?;
            // The first element repeats the tenure we asked from.
            if next.pop_front().is_none() || next.is_empty() {
                return Err(incomplete());
            }
            // A node that walks in circles must not keep us here forever (the reference
            // would loop): every further tenure must be new.
            if next.iter().any(|t| !seen.insert(t.consensus_hash)) {
                return Err(incomplete());
            }
            tenures.extend(next);
        }
        Ok(tenures.into())
    }

    /// `GET /v3/sortitions/latest_and_last`: the latest winning sortition and, if it names
    /// one, the last sortition before it (not retried).
    pub fn get_current_and_last_sortition(
        &self,
    ) -> Result<(SortitionInfo, Option<SortitionInfo>), ClientError> {
        let timer = new_rpc_call_timer("/v3/sortitions/latest_and_last");
        let result = self.get_json(
            "/v3/sortitions/latest_and_last",
            parse::current_and_last_sortition,
        );
        timer.stop_and_record();
        result
    }

    /// `GET /v3/sortitions/consensus/{consensus_hash}` (not retried).
    pub fn get_sortition_by_consensus_hash(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<SortitionInfo, ClientError> {
        let timer = new_rpc_call_timer("/v3/sortitions/consensus/:consensus_hash");
        let result = self.get_json(
            &format!("/v3/sortitions/consensus/{}", consensus_hash.to_hex()),
            parse::sortition_by_consensus_hash,
        );
        timer.stop_and_record();
        result
    }

    /// `GET /v2/accounts/{address}?proof=0` (retried).
    pub fn get_account_entry(
        &self,
        address: &StacksAddress,
    ) -> Result<AccountEntryResponse, ClientError> {
        let _timer = new_rpc_call_timer("/v2/accounts/:principal");
        self.get_json_retry(
            &format!("/v2/accounts/{address}?proof=0"),
            parse::account_entry,
        )
    }

    /// `POST /v3/block_proposal`: asks the node to validate `block` (the result arrives on
    /// the event observer). Transport errors are retried; any 2xx is success and anything
    /// else is `RequestFailure`.
    pub fn submit_block_for_validation(
        &self,
        block: NakamotoBlock,
        replay_txs: Option<Vec<StacksTransaction>>,
    ) -> Result<(), ClientError> {
        let replay_txs = match replay_txs {
            Some(txs) => Some(serde_json::to_value(txs).map_err(|e| {
                ClientError::UnexpectedResponseFormat(format!(
                    "could not encode replay transactions: {e}"
                ))
            })?),
            None => None,
        };
        let proposal = NakamotoBlockProposal {
            block: libsigner::chain::hex::to_hex(&block.serialize_to_vec()),
            chain_id: self.chain_id,
            replay_txs,
        };
        let body = serde_json::to_vec(&proposal).map_err(|e| {
            ClientError::UnexpectedResponseFormat(format!("could not encode proposal: {e}"))
        })?;
        let url = self.url("/v3/block_proposal");
        let _timer = new_rpc_call_timer("/v3/block_proposal");
        let what = "POST /v3/block_proposal";
        retry_with_exponential_backoff(|| {
            let started = Instant::now();
            let result = self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Authorization", &self.auth_password)
                .send(&body[..]);
            let mut response = self.observe(what, started, result).map_err(transient)?;
            check_status(&response).map_err(RetryError::Permanent)?;
            // Reading the (small) answer lets the connection go back to the pool. An answer
            // that is not JSON does not undo an accepted submission, but it is no sign that
            // the node recovered from a fault either: the node's health counts it a failure.
            let answer = read_body(&mut response);
            match answer {
                Ok(bytes) if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() => {
                    self.answered(what, &response)
                }
                _ => self
                    .health
                    .failed(&self.logger, what, "the answer is not JSON"),
            }
            Ok(())
        })
    }

    /// `POST /v3/blocks/upload/?broadcast=1`: hands a signed block to the node. Transport
    /// errors and error statuses are both retried. Returns whether the node accepted it.
    pub fn post_block(&self, block: &NakamotoBlock) -> Result<bool, ClientError> {
        let body = block.serialize_to_vec();
        let url = self.url("/v3/blocks/upload/?broadcast=1");
        let _timer = new_rpc_call_timer("/v3/blocks/upload/?broadcast=1");
        let what = "POST /v3/blocks/upload";
        retry_with_exponential_backoff(|| {
            let started = Instant::now();
            let result = self
                .agent
                .post(&url)
                .header("Content-Type", "application/octet-stream")
                .header("Authorization", &self.auth_password)
                .send(&body[..]);
            let mut response = self.observe(what, started, result).map_err(transient)?;
            check_status(&response).map_err(RetryError::Transient)?;
            self.decode(what, &mut response, parse::block_accepted)
                .map_err(RetryError::Permanent)
        })
    }

    /// `POST /v2/contracts/call-read/{address}/{contract}/{function}` with the signer as
    /// sender (not retried): the function's result.
    pub fn read_only_contract_call(
        &self,
        contract_addr: &StacksAddress,
        contract_name: &str,
        function_name: &str,
        function_args: &[Value],
    ) -> Result<Value, ClientError> {
        let args = function_args
            .iter()
            .map(|a| a.serialize_to_hex())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ClientError::ReadOnlyFailure(
                    "Failed to serialize Clarity function arguments".into(),
                )
            })?;
        let body = serde_json::json!({
            "arguments": args,
            "sender": self.stacks_address.to_string(),
        })
        .to_string();
        let url = self.url(&format!(
            "/v2/contracts/call-read/{contract_addr}/{contract_name}/{function_name}"
        ));
        let _timer = new_rpc_call_timer(&format!(
            "/v2/contracts/call-read/:principal/{contract_name}/{function_name}"
        ));
        let what =
            format!("POST /v2/contracts/call-read/{contract_addr}/{contract_name}/{function_name}");
        let started = Instant::now();
        let result = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        let mut response = self.observe(&what, started, result)?;
        check_status(&response)?;
        self.decode(&what, &mut response, |body| {
            parse::read_only_result(function_name, body)
        })
    }

    fn signers_contract(&self) -> Result<QualifiedContractIdentifier, ClientError> {
        QualifiedContractIdentifier::boot_contract(SIGNERS_NAME, self.mainnet)
            .map_err(|e| ClientError::MalformedContractData(e.to_string()))
    }

    /// The last reward cycle whose signer set `.signers` holds (`get-last-set-cycle`).
    pub fn get_last_set_cycle(&self) -> Result<u128, ClientError> {
        let contract = self.signers_contract()?;
        let value = self.read_only_contract_call(
            &contract.issuer_address(),
            contract.name.as_str(),
            "get-last-set-cycle",
            &[],
        )?;
        parse::last_set_cycle(value)
    }

    /// One page of a signers StackerDB's slots (`stackerdb-get-signer-slots-page`): each
    /// signer's address and slot count, in slot order.
    pub fn get_stackerdb_signer_slots(
        &self,
        stackerdb_contract: &QualifiedContractIdentifier,
        page: u32,
    ) -> Result<Vec<(StacksAddress, u128)>, ClientError> {
        let value = self.read_only_contract_call(
            &stackerdb_contract.issuer_address(),
            stackerdb_contract.name.as_str(),
            "stackerdb-get-signer-slots-page",
            &[Value::UInt(page.into())],
        )?;
        parse_signer_slots(value)
    }

    /// The signers of `reward_cycle` and their slot ids (their index in the `.signers` page
    /// of the cycle's parity).
    pub fn get_parsed_signer_slots(
        &self,
        reward_cycle: u64,
    ) -> Result<HashMap<StacksAddress, SignerSlotID>, ClientError> {
        let contract = self.signers_contract()?;
        let page = u32::try_from(reward_cycle % 2).unwrap_or(0);
        let slots = self.get_stackerdb_signer_slots(&contract, page)?;
        let mut out = HashMap::with_capacity(slots.len());
        for (index, (address, _)) in slots.into_iter().enumerate() {
            let id = u32::try_from(index)
                .map_err(|_| ClientError::MalformedContractData("too many signer slots".into()))?;
            out.insert(address, SignerSlotID(id));
        }
        Ok(out)
    }
}

/// The reference's reward-cycle arithmetic over `/v2/pox`, with an error instead of a
/// division by zero.
pub fn reward_cycle_info_from_pox(pox: &RPCPoxInfoData) -> Result<RewardCycleInfo, ClientError> {
    let blocks_mined = pox
        .current_burnchain_block_height
        .saturating_sub(pox.first_burnchain_block_height);
    let reward_cycle_length = pox
        .reward_phase_block_length
        .saturating_add(pox.prepare_phase_block_length);
    let reward_cycle = blocks_mined
        .checked_div(reward_cycle_length)
        .ok_or_else(|| {
            ClientError::InvalidResponse("the node reports a reward cycle length of 0".into())
        })?;
    Ok(RewardCycleInfo {
        reward_cycle,
        reward_cycle_length,
        prepare_phase_block_length: pox.prepare_phase_block_length,
        first_burnchain_block_height: pox.first_burnchain_block_height,
        last_burnchain_block_height: pox.current_burnchain_block_height,
    })
}

/// Parses `(ok (list {signer: principal, num-slots: uint}))` ([`parse::signer_slots`]).
pub use super::parse::signer_slots as parse_signer_slots;
