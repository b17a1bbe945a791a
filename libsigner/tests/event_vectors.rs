//! Every case of `vectors/events.json`, POSTed over real HTTP to a bound
//! `SignerEventReceiver<SignerMessage>`: each body is acknowledged with an empty 200, and the
//! event it becomes matches the reference's summary (or fails with the recorded error kind).

mod common;
mod http_client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::Duration;

use common::{hex_encode, label, load_cases};
use libsigner::chain::NakamotoBlock;
use libsigner::v0::messages::*;
use libsigner::{
    BlockValidateResponse, EventError, EventReceiver, EventStopSignaler, SignerEvent,
    SignerEventReceiver,
};
use serde_json::Value;

type Outcome = Result<SignerEvent<SignerMessage>, EventError>;

fn hex_of<T: AsRef<[u8]>>(value: T) -> String {
    hex_encode(value.as_ref())
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Binds a receiver on an ephemeral port; every `next_event` outcome goes to the channel.
fn start_receiver() -> (SocketAddr, Receiver<Outcome>, libsigner::SignerStopSignaler) {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(false);
    let addr = receiver.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_ne!(addr.port(), 0);
    let stop = receiver.get_stop_signaler().unwrap();
    let (tx, rx) = channel();
    thread::spawn(move || loop {
        let outcome = receiver.next_event();
        let terminated = matches!(outcome, Err(EventError::Terminated));
        if tx.send(outcome).is_err() || terminated {
            break;
        }
    });
    (addr, rx, stop)
}

fn check_block(block: &NakamotoBlock, expected: &Value, what: &str) {
    assert_eq!(
        hex_of(block.header.signer_signature_hash()),
        expected["block_signer_signature_hash"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(block.block_id()),
        expected["block_id"].as_str().unwrap(),
        "{what}"
    );
    let txids: Vec<String> = block.txids().iter().map(hex_of).collect();
    assert_eq!(txids, strings(&expected["block_txids"]), "{what}");
}

fn variant_name(message: &SignerMessage) -> &'static str {
    match message {
        SignerMessage::BlockResponse(BlockResponse::Accepted(_)) => "BlockResponse/Accepted",
        SignerMessage::BlockResponse(BlockResponse::Rejected(_)) => "BlockResponse/Rejected",
        SignerMessage::MockProposal(_) => "MockProposal",
        SignerMessage::MockSignature(_) => "MockSignature",
        SignerMessage::MockBlock(_) => "MockBlock",
        SignerMessage::StateMachineUpdate(_) => "StateMachineUpdate",
        SignerMessage::BlockPreCommit(_) => "BlockPreCommit",
        SignerMessage::BlockProposal(_) => "BlockProposal",
        SignerMessage::BlockPushed(_) => "BlockPushed",
    }
}

/// Variant, message id and the key fields of one message against its summary.
fn check_message(message: &SignerMessage, expected: &Value, what: &str) {
    assert_eq!(variant_name(message), expected["variant"], "{what}");
    assert_eq!(
        message.msg_id().map(|id| u64::from(id.to_u8())),
        expected["msg_id"].as_u64(),
        "{what}: msg_id"
    );
    match message {
        SignerMessage::BlockProposal(proposal) => {
            check_block(&proposal.block, expected, what);
            assert_eq!(proposal.burn_height, expected["burn_height"], "{what}");
            assert_eq!(proposal.reward_cycle, expected["reward_cycle"], "{what}");
            let data = &proposal.block_proposal_data;
            assert_eq!(u64::from(data.version), expected["data_version"], "{what}");
            assert_eq!(data.server_version, expected["server_version"], "{what}");
            assert_eq!(
                hex_of(&data.unknown_bytes),
                expected["unknown_bytes"],
                "{what}"
            );
        }
        SignerMessage::BlockPushed(block) => check_block(block, expected, what),
        SignerMessage::BlockResponse(BlockResponse::Accepted(accepted)) => {
            assert_eq!(expected["accepted"], true, "{what}");
            assert_eq!(
                hex_of(accepted.signer_signature_hash),
                expected["signer_signature_hash"],
                "{what}"
            );
            assert_eq!(accepted.signature.to_hex(), expected["signature"], "{what}");
            assert_eq!(
                accepted.metadata.server_version, expected["server_version"],
                "{what}"
            );
            assert_eq!(
                message_tenure_extend(message),
                expected["tenure_extend_timestamp"].as_u64(),
                "{what}"
            );
        }
        SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) => {
            assert_eq!(expected["accepted"], false, "{what}");
            assert_eq!(
                hex_of(rejection.signer_signature_hash),
                expected["signer_signature_hash"],
                "{what}"
            );
            assert_eq!(rejection.reason, expected["reason"], "{what}");
            assert_eq!(rejection.chain_id, expected["chain_id"], "{what}");
            assert_eq!(
                rejection.signature.to_hex(),
                expected["signature"],
                "{what}"
            );
            assert_eq!(
                rejection.metadata.server_version, expected["server_version"],
                "{what}"
            );
            assert_eq!(
                message_tenure_extend(message),
                expected["tenure_extend_timestamp"].as_u64(),
                "{what}"
            );
        }
        SignerMessage::StateMachineUpdate(update) => {
            assert_eq!(
                update.active_signer_protocol_version, expected["active_signer_protocol_version"],
                "{what}"
            );
            assert_eq!(
                update.local_supported_signer_protocol_version,
                expected["local_supported_signer_protocol_version"],
                "{what}"
            );
            let (burn_block, height) = update.content.burn_block_view();
            assert_eq!(hex_of(burn_block), expected["burn_block"], "{what}");
            assert_eq!(height, expected["burn_block_height"], "{what}");
            let txids: Vec<String> = update
                .content
                .tx_replay_set()
                .unwrap_or_default()
                .iter()
                .map(|tx| hex_of(tx.txid()))
                .collect();
            assert_eq!(txids, strings(&expected["replay_txids"]), "{what}");
        }
        SignerMessage::BlockPreCommit(hash) => {
            assert_eq!(hex_of(hash), expected["signer_signature_hash"], "{what}")
        }
        other => panic!("{what}: no event vector carries {}", variant_name(other)),
    }
}

fn message_tenure_extend(message: &SignerMessage) -> Option<u64> {
    match message {
        SignerMessage::BlockResponse(response) => Some(response.get_tenure_extend_timestamp()),
        _ => None,
    }
}

fn check_validation(response: &BlockValidateResponse, expected: &Value, what: &str) {
    assert_eq!(
        hex_of(response.signer_signature_hash()),
        expected["signer_signature_hash"],
        "{what}"
    );
    match response {
        BlockValidateResponse::Ok(ok) => {
            assert_eq!(expected["result"], "Ok", "{what}");
            assert_eq!(
                serde_json::to_value(ok.cost).unwrap(),
                expected["cost"],
                "{what}"
            );
            assert_eq!(ok.size, expected["size"], "{what}");
            assert_eq!(
                ok.validation_time_ms, expected["validation_time_ms"],
                "{what}"
            );
            assert_eq!(
                ok.replay_tx_hash,
                expected["replay_tx_hash"].as_u64(),
                "{what}"
            );
            assert_eq!(
                ok.replay_tx_exhausted, expected["replay_tx_exhausted"],
                "{what}"
            );
        }
        BlockValidateResponse::Reject(reject) => {
            assert_eq!(expected["result"], "Reject", "{what}");
            assert_eq!(reject.reason, expected["reason"], "{what}");
            assert_eq!(
                serde_json::to_value(reject.reason_code).unwrap(),
                expected["reason_code"],
                "{what}"
            );
            assert_eq!(
                reject.reason_code.to_u8(),
                expected["reason_code_u8"],
                "{what}"
            );
        }
    }
}

/// The event against the case's summary; returns the summary's event name.
fn check_event(event: &SignerEvent<SignerMessage>, expected: &Value, what: &str) -> String {
    let name = expected["event"].as_str().unwrap().to_string();
    match event {
        SignerEvent::MinerMessages(messages) => {
            assert_eq!(name, "MinerMessages", "{what}");
            let summaries = expected["messages"].as_array().unwrap();
            assert_eq!(messages.len(), summaries.len(), "{what}: message count");
            for (i, (message, summary)) in messages.iter().zip(summaries).enumerate() {
                check_message(message, summary, &format!("{what} #{i}"));
            }
        }
        SignerEvent::SignerMessages {
            signer_set,
            messages,
            ..
        } => {
            assert_eq!(name, "SignerMessages", "{what}");
            assert_eq!(*signer_set, expected["signer_set"], "{what}");
            let summaries = expected["messages"].as_array().unwrap();
            assert_eq!(messages.len(), summaries.len(), "{what}: message count");
            for (i, ((key, message), summary)) in messages.iter().zip(summaries).enumerate() {
                let what = format!("{what} #{i}");
                assert_eq!(key.to_hex(), summary["public_key"], "{what}: recovered key");
                check_message(message, summary, &what);
            }
        }
        SignerEvent::BlockValidationResponse(response) => {
            assert_eq!(name, "BlockValidationResponse", "{what}");
            check_validation(response, expected, what);
        }
        SignerEvent::NewBurnBlock {
            burn_height,
            burn_header_hash,
            consensus_hash,
            parent_burn_block_hash,
            ..
        } => {
            assert_eq!(name, "NewBurnBlock", "{what}");
            assert_eq!(*burn_height, expected["burn_height"], "{what}");
            assert_eq!(
                hex_of(burn_header_hash),
                expected["burn_header_hash"],
                "{what}"
            );
            assert_eq!(hex_of(consensus_hash), expected["consensus_hash"], "{what}");
            assert_eq!(
                hex_of(parent_burn_block_hash),
                expected["parent_burn_block_hash"],
                "{what}"
            );
        }
        SignerEvent::NewBlock {
            block_id,
            consensus_hash,
            signer_sighash,
            block_height,
            transactions,
            ..
        } => {
            assert_eq!(name, "NewBlock", "{what}");
            assert_eq!(hex_of(block_id), expected["block_id"], "{what}");
            assert_eq!(hex_of(consensus_hash), expected["consensus_hash"], "{what}");
            assert_eq!(
                signer_sighash.as_ref().map(hex_of),
                expected["signer_sighash"].as_str().map(str::to_string),
                "{what}"
            );
            assert_eq!(*block_height, expected["block_height"], "{what}");
            let txids: Vec<String> = transactions.iter().map(|tx| hex_of(tx.txid())).collect();
            assert_eq!(txids, strings(&expected["txids"]), "{what}");
        }
        SignerEvent::StatusCheck => panic!("{what}: unexpected StatusCheck"),
    }
    name
}

fn error_kind(error: &EventError) -> &'static str {
    match error {
        EventError::Deserialize(_) => "Deserialize",
        EventError::UnrecognizedStackerDBContract(_) => "UnrecognizedStackerDBContract",
        EventError::MalformedRequest(_) => "MalformedRequest",
        EventError::UnrecognizedEvent(_) => "UnrecognizedEvent",
        _ => "other",
    }
}

#[test]
fn every_event_vector_posted_over_http_becomes_the_recorded_event_or_error() {
    let (addr, outcomes, mut stop) = start_receiver();
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let cases = load_cases("events.json");
    for case in &cases {
        let what = label(case);
        let path = case["path"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let reply = http_client::post(addr, path, body.as_bytes()).unwrap();
        assert_eq!(reply.status, 200, "{what}: acknowledged");
        assert!(reply.body.is_empty(), "{what}: empty acknowledgement");
        let outcome = outcomes.recv_timeout(Duration::from_secs(30)).unwrap();
        if case["expected_error"] == true {
            let error = outcome.expect_err(&what);
            assert_eq!(error_kind(&error), case["error_kind"], "{what}: {error}");
            *errors.entry(error_kind(&error).into()).or_default() += 1;
        } else {
            let event = outcome.unwrap_or_else(|e| panic!("{what}: {e}"));
            let name = check_event(&event, &case["expected"], &what);
            if let SignerEvent::NewBlock {
                signer_signature, ..
            } = &event
            {
                // Not in the reference's summary (it ignores the field): the body's list.
                let sent: Value = serde_json::from_str(body).unwrap();
                let sent = sent["signer_signature"]
                    .as_array()
                    .map(|list| strings(&Value::Array(list.clone())))
                    .unwrap_or_default();
                let got: Vec<String> = signer_signature.iter().map(|s| s.to_hex()).collect();
                assert_eq!(got, sent, "{what}: signer signatures");
            }
            *events.entry(name).or_default() += 1;
        }
    }
    eprintln!("events checked: {events:?}; errors checked: {errors:?}");
    assert_eq!(
        events.values().sum::<usize>() + errors.values().sum::<usize>(),
        95
    );
    assert_eq!(errors.values().sum::<usize>(), 21);
    stop.send();
}
