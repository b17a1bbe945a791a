//! `inspect`: decode wire bytes (a StackerDB chunk, a signer message, a Nakamoto block, a
//! transaction or a Clarity value) and print them as JSON with their derived hashes.
//!
//! The report is one JSON object with a `kind` field naming what the bytes decoded as, the
//! decoded structure under that kind's name, and the hashes an operator would otherwise have
//! to compute by hand (txid; block id, signer signature hash, miner key; chunk data hash,
//! signer key and addresses, and the chunk's payload decoded as a signer message).

use std::io::{Read, Write};

use libsigner::chain::hex::{hex_bytes, to_hex};
use libsigner::chain::{NakamotoBlock, StacksAddress, StacksTransaction, Value};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;
use libsigner::v0::messages::SignerMessage;
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::CommandError;
use crate::cli::{InspectArgs, InspectKind};

/// The kinds tried, in order, when `--as` is not given.
const ALL_KINDS: [InspectKind; 5] = [
    InspectKind::Chunk,
    InspectKind::Message,
    InspectKind::Block,
    InspectKind::Tx,
    InspectKind::Value,
];

fn kind_name(kind: InspectKind) -> &'static str {
    match kind {
        InspectKind::Chunk => "chunk",
        InspectKind::Message => "message",
        InspectKind::Block => "block",
        InspectKind::Tx => "tx",
        InspectKind::Value => "value",
    }
}

/// Decodes exactly `bytes` as one `T`: trailing bytes are an error.
fn decode_exact<T: StacksMessageCodec>(bytes: &[u8]) -> Result<T, String> {
    let mut cursor = bytes;
    let item = T::consensus_deserialize(&mut cursor).map_err(|e| e.to_string())?;
    if !cursor.is_empty() {
        return Err(format!(
            "{} trailing bytes after a {}-byte encoding",
            cursor.len(),
            bytes.len() - cursor.len()
        ));
    }
    Ok(item)
}

fn to_json<T: Serialize>(item: &T) -> Result<Json, String> {
    serde_json::to_value(item).map_err(|e| format!("cannot render as JSON: {e}"))
}

/// The report of a Nakamoto block.
fn block_report(block: &NakamotoBlock) -> Result<Json, String> {
    let header = &block.header;
    let txids: Vec<String> = block.txids().iter().map(|t| t.to_hex()).collect();
    Ok(json!({
        "kind": "block",
        "block": to_json(block)?,
        "block_id": block.block_id().to_hex(),
        "block_hash": header.block_hash().to_hex(),
        "signer_signature_hash": header.signer_signature_hash().to_hex(),
        "miner_signature_hash": header.miner_signature_hash().to_hex(),
        "miner_public_key": header.recover_miner_pk().map(|pk| to_hex(&pk.to_bytes_compressed())),
        "tx_merkle_root_computed": block.compute_tx_merkle_root().to_hex(),
        "txids": txids,
    }))
}

/// The report of a v0 signer message (with the block report when it carries a block).
fn message_report(message: &SignerMessage) -> Result<Json, String> {
    let (type_name, block) = match message {
        SignerMessage::BlockProposal(p) => ("BlockProposal", Some(&p.block)),
        SignerMessage::BlockResponse(_) => ("BlockResponse", None),
        SignerMessage::BlockPushed(b) => ("BlockPushed", Some(b)),
        SignerMessage::MockSignature(_) => ("MockSignature", None),
        SignerMessage::MockProposal(_) => ("MockProposal", None),
        SignerMessage::MockBlock(_) => ("MockBlock", None),
        SignerMessage::StateMachineUpdate(_) => ("StateMachineUpdate", None),
        SignerMessage::BlockPreCommit(_) => ("BlockPreCommit", None),
    };
    let mut report = json!({
        "kind": "message",
        "type": type_name,
        "message": to_json(message)?,
    });
    if let (Some(block), Some(map)) = (block, report.as_object_mut()) {
        map.insert("block".into(), block_report(block)?);
    }
    Ok(report)
}

/// The report of a StackerDB chunk, its signer and its payload.
fn chunk_report(chunk: &StackerDBChunkData) -> Result<Json, String> {
    let signer = chunk.recover_pk().ok();
    let message = decode_exact::<SignerMessage>(&chunk.data)
        .ok()
        .map(|m| message_report(&m))
        .transpose()?;
    Ok(json!({
        "kind": "chunk",
        "chunk": to_json(chunk)?,
        "data_len": chunk.data.len(),
        "data_hash": chunk.data_hash().to_hex(),
        "auth_digest": chunk.auth_digest().to_hex(),
        "signer_public_key": signer.as_ref().map(|pk| to_hex(&pk.to_bytes_compressed())),
        "signer_address_mainnet": signer.as_ref().map(|pk| StacksAddress::p2pkh(true, pk).to_string()),
        "signer_address_testnet": signer.as_ref().map(|pk| StacksAddress::p2pkh(false, pk).to_string()),
        "message": message,
    }))
}

/// Decodes `bytes` as `kind` and builds its report.
pub fn report_as(kind: InspectKind, bytes: &[u8]) -> Result<Json, String> {
    match kind {
        InspectKind::Chunk => chunk_report(&decode_exact(bytes)?),
        InspectKind::Message => message_report(&decode_exact(bytes)?),
        InspectKind::Block => block_report(&decode_exact(bytes)?),
        InspectKind::Tx => {
            let tx: StacksTransaction = decode_exact(bytes)?;
            Ok(json!({ "kind": "tx", "tx": to_json(&tx)?, "txid": tx.txid().to_hex() }))
        }
        InspectKind::Value => {
            let value: Value = decode_exact(bytes)?;
            Ok(json!({ "kind": "value", "value": to_json(&value)? }))
        }
    }
}

/// Decodes `bytes` as `kind`, or as the first of chunk, message, block, tx, value that
/// decodes exactly.
pub fn report(kind: Option<InspectKind>, bytes: &[u8]) -> Result<Json, CommandError> {
    if let Some(kind) = kind {
        return report_as(kind, bytes)
            .map_err(|e| CommandError(format!("not a valid {}: {e}", kind_name(kind))));
    }
    let mut failures = Vec::new();
    for kind in ALL_KINDS {
        match report_as(kind, bytes) {
            Ok(report) => return Ok(report),
            Err(e) => failures.push(format!("{}: {e}", kind_name(kind))),
        }
    }
    Err(CommandError(format!(
        "input decodes as none of chunk, message, block, tx, value ({})",
        failures.join("; ")
    )))
}

/// Reads the input bytes: hex from the argument or stdin, or raw bytes from a file or stdin
/// with `--binary`.
fn read_input(args: &InspectArgs) -> Result<Vec<u8>, CommandError> {
    let raw = if args.input == "-" {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| CommandError(format!("cannot read stdin: {e}")))?;
        raw
    } else if args.binary {
        std::fs::read(&args.input)
            .map_err(|e| CommandError(format!("cannot read {}: {e}", args.input)))?
    } else {
        args.input.clone().into_bytes()
    };
    if args.binary {
        return Ok(raw);
    }
    let text = String::from_utf8(raw)
        .map_err(|_| CommandError("input is not hex text (use --binary for raw bytes)".into()))?;
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    hex_bytes(text).map_err(|e| CommandError(format!("input is not valid hex: {e}")))
}

/// Decodes the input and prints the JSON report, pretty-printed.
pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let bytes = read_input(args)?;
    let report = report(args.kind, &bytes)?;
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| CommandError(format!("cannot render as JSON: {e}")))?;
    writeln!(out, "{text}")?;
    Ok(())
}
