//! The node client's parsing of RPC response bodies, as pure functions of the bytes read:
//! [`super::StacksClient`] reads a body and hands it to one of these, so each can be tested
//! (and fuzzed, `fuzz/fuzz_targets/node_rpc_response.rs`) without a node. None panics,
//! whatever the bytes; a body that does not have the endpoint's shape is an error.

use std::collections::VecDeque;

use libsigner::chain::{PrincipalData, StacksAddress, Value};
use libsigner::v0::messages::PeerInfo;
use libsigner::NakamotoSignerEntry;
use serde::de::DeserializeOwned;

use super::api::{
    AccountEntryResponse, BlockHeaderWithMetadata, CallReadOnlyResponse, GetStackersResponse,
    RPCPoxInfoData, SortitionInfo, StacksBlockAcceptedData, TenureForkingInfo,
};
use super::error::ClientError;

/// Decodes a JSON body as `T` (`HttpError("error decoding response body: ...")` if it is not).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    Ok(serde_json::from_slice(body)?)
}

/// `GET /v2/info`.
pub fn peer_info(body: &[u8]) -> Result<PeerInfo, ClientError> {
    json(body)
}

/// `GET /v2/pox`.
pub fn pox_info(body: &[u8]) -> Result<RPCPoxInfoData, ClientError> {
    json(body)
}

/// `GET /v3/stacker_set/{cycle}` answered 200: the cycle's signers (`None` if it has none).
pub fn stacker_set(body: &[u8]) -> Result<Option<Vec<NakamotoSignerEntry>>, ClientError> {
    let stackers: GetStackersResponse = json(body)?;
    Ok(stackers.stacker_set.signers)
}

/// `GET /v3/stacker_set/{cycle}` answered with an error status: the node's `err_msg` (the
/// other fields of [`NodeErrorResponse`](super::api::NodeErrorResponse) are not required).
pub fn node_error_message(body: &[u8]) -> Result<String, ClientError> {
    #[derive(serde::Deserialize)]
    struct ErrMsg {
        err_msg: String,
    }
    let err: ErrMsg = json(body)?;
    Ok(err.err_msg)
}

/// `GET /v3/tenures/tip_metadata/{consensus_hash}`.
pub fn tenure_tip_metadata(body: &[u8]) -> Result<BlockHeaderWithMetadata, ClientError> {
    json(body)
}

/// One page of `GET /v3/tenures/fork_info/{start}/{stop}`, newest tenure first.
pub fn fork_info(body: &[u8]) -> Result<VecDeque<TenureForkingInfo>, ClientError> {
    json(body)
}

/// `GET /v3/sortitions/latest_and_last`: the latest sortition, which must be a winning one,
/// and the last sortition before it when the latest names one (then it must be there).
pub fn current_and_last_sortition(
    body: &[u8],
) -> Result<(SortitionInfo, Option<SortitionInfo>), ClientError> {
    let mut infos: VecDeque<SortitionInfo> = json(body)?;
    let Some(current) = infos.pop_front() else {
        return Err(ClientError::UnexpectedResponseFormat(
            "Empty SortitionInfo returned".into(),
        ));
    };
    if !current.was_sortition {
        return Err(ClientError::UnexpectedResponseFormat(
            "'Current' SortitionInfo returned which was not a winning sortition".into(),
        ));
    }
    let last = if current.last_sortition_ch.is_some() {
        let Some(last) = infos.pop_back() else {
            return Err(ClientError::UnexpectedResponseFormat(
                "'Current' SortitionInfo has `last_sortition_ch` field, but corresponding data not returned".into(),
            ));
        };
        Some(last)
    } else {
        None
    };
    Ok((current, last))
}

/// `GET /v3/sortitions/consensus/{consensus_hash}`: the first (only) element.
pub fn sortition_by_consensus_hash(body: &[u8]) -> Result<SortitionInfo, ClientError> {
    let infos: Vec<SortitionInfo> = json(body)?;
    infos
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::UnexpectedResponseFormat("Empty SortitionInfo returned".into()))
}

/// `GET /v2/accounts/{address}?proof=0`.
pub fn account_entry(body: &[u8]) -> Result<AccountEntryResponse, ClientError> {
    json(body)
}

/// `POST /v3/blocks/upload/`: whether the node accepted the block.
pub fn block_accepted(body: &[u8]) -> Result<bool, ClientError> {
    let accepted: StacksBlockAcceptedData = json(body)?;
    Ok(accepted.accepted)
}

/// `POST /v2/contracts/call-read/...` of `function_name`: the result value, or
/// `ReadOnlyFailure` with the node's cause when the call did not run.
pub fn read_only_result(function_name: &str, body: &[u8]) -> Result<Value, ClientError> {
    let call: CallReadOnlyResponse = json(body)?;
    if !call.okay {
        let cause = call.cause.unwrap_or_else(|| "unknown".to_string());
        return Err(ClientError::ReadOnlyFailure(format!(
            "{function_name}: {cause}"
        )));
    }
    let hex = call.result.unwrap_or_default();
    Value::try_deserialize_hex_untyped(strip_0x(&hex))
        .map_err(|e| ClientError::MalformedClarityValue(e.to_string()))
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x").unwrap_or(s)
}

fn type_error(expected: &str, value: &Value) -> ClientError {
    ClientError::ClarityError(format!("Expecting {expected}, got {value:?}"))
}

fn expect_ok(value: Value) -> Result<Value, ClientError> {
    match value {
        Value::Response(r) if r.committed => Ok(*r.data),
        other => Err(type_error("(ok ..)", &other)),
    }
}

fn expect_u128(value: Value) -> Result<u128, ClientError> {
    match value {
        Value::UInt(v) => Ok(v),
        other => Err(type_error("uint", &other)),
    }
}

/// `get-last-set-cycle`'s result: `(ok uint)`.
pub fn last_set_cycle(value: Value) -> Result<u128, ClientError> {
    expect_u128(expect_ok(value)?)
}

/// Parses `(ok (list {signer: principal, num-slots: uint}))`; a contract principal among the
/// signers is an error (the reference panics).
pub fn signer_slots(value: Value) -> Result<Vec<(StacksAddress, u128)>, ClientError> {
    let list = match expect_ok(value)? {
        Value::Sequence(libsigner::chain::SequenceData::List(list)) => list.data,
        other => return Err(type_error("list", &other)),
    };
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Tuple(tuple) = &entry else {
            return Err(type_error("tuple", &entry));
        };
        let signer = tuple
            .get("signer")
            .ok_or_else(|| ClientError::ClarityError("missing tuple field `signer`".into()))?;
        let address = match signer {
            Value::Principal(PrincipalData::Standard(p)) => StacksAddress::from(p),
            Value::Principal(PrincipalData::Contract(_)) => {
                return Err(ClientError::MalformedContractData(
                    "Signers stackerdb contract is corrupted: a signer is a contract principal"
                        .into(),
                ))
            }
            other => return Err(type_error("principal", other)),
        };
        let num_slots = tuple
            .get("num-slots")
            .cloned()
            .ok_or_else(|| ClientError::ClarityError("missing tuple field `num-slots`".into()))
            .and_then(expect_u128)?;
        out.push((address, num_slots));
    }
    Ok(out)
}
