//! `get-chunk`, `get-latest-chunk`, `list-chunks`, `put-chunk`: direct StackerDB access
//! through the node's RPC interface.

use std::io::{Read, Write};
use std::time::Duration;

use libsigner::chain::b58;
use libsigner::chain::hex::to_hex;
use libsigner::stackerdb::StackerDBChunkData;
use libsigner::{RPCError, SignerSession, StackerDBSession};

use super::CommandError;
use crate::cli::{GetChunkArgs, GetLatestChunkArgs, PutChunkArgs, StackerDBArgs};

fn rpc_error(what: &str, e: RPCError) -> CommandError {
    CommandError(format!("{what}: {e}"))
}

/// A session with the args' contract on the args' node, checked reachable.
fn session(args: &StackerDBArgs) -> Result<StackerDBSession, CommandError> {
    let mut session = StackerDBSession::new(
        &args.host,
        args.contract.clone(),
        Duration::from_secs(args.stackerdb_timeout_secs),
    );
    session
        .connect(args.host.clone(), args.contract.clone())
        .map_err(|e| rpc_error(&format!("cannot connect to {}", args.host), e))?;
    Ok(session)
}

/// Writes a chunk as hex with no trailing newline; nothing when there is no chunk.
fn write_chunk(chunk: Option<Vec<u8>>, out: &mut dyn Write) -> Result<(), CommandError> {
    if let Some(chunk) = chunk {
        out.write_all(to_hex(&chunk).as_bytes())?;
    }
    Ok(())
}

/// Prints the chunk at `(slot_id, slot_version)` as hex, without a newline.
pub fn get_chunk(args: &GetChunkArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let chunk = session(&args.db_args)?
        .get_chunk(args.slot_id, args.slot_version)
        .map_err(|e| rpc_error("cannot get chunk", e))?;
    write_chunk(chunk, out)
}

/// Prints the latest chunk of `slot_id` as hex, without a newline.
pub fn get_latest_chunk(
    args: &GetLatestChunkArgs,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let chunk = session(&args.db_args)?
        .get_latest_chunk(args.slot_id)
        .map_err(|e| rpc_error("cannot get chunk", e))?;
    write_chunk(chunk, out)
}

/// Prints the hex of the JSON list of slot metadata, and a newline.
pub fn list_chunks(args: &StackerDBArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let slots = session(args)?
        .list_chunks()
        .map_err(|e| rpc_error("cannot list chunks", e))?;
    let json = serde_json::to_string(&slots)
        .map_err(|e| CommandError(format!("cannot encode the slot list: {e}")))?;
    writeln!(out, "{}", to_hex(json.as_bytes()))?;
    Ok(())
}

/// Decodes `put-chunk`'s data argument: base58 (no checksum), or `-` for all of stdin
/// (untrimmed, as the reference).
pub fn decode_data(data: &str) -> Result<Vec<u8>, CommandError> {
    let text = if data == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CommandError(format!("Failed to read data from stdin: {e}")))?;
        text
    } else {
        data.to_string()
    };
    b58::decode(&text).map_err(|e| CommandError(format!("Failed to decode provided data: {e}")))
}

/// Signs and uploads a chunk, printing the node's acknowledgement as JSON.
pub fn put_chunk(args: &PutChunkArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let data = decode_data(&args.data)?;
    let mut chunk = StackerDBChunkData::new(args.slot_id, args.slot_version, data);
    chunk
        .sign(&args.private_key)
        .map_err(|e| CommandError(format!("cannot sign the chunk: {e}")))?;
    let ack = session(&args.db_args)?
        .put_chunk(&chunk)
        .map_err(|e| rpc_error("cannot put chunk", e))?;
    let json = serde_json::to_string(&ack)
        .map_err(|e| CommandError(format!("cannot encode the acknowledgement: {e}")))?;
    writeln!(out, "{json}")?;
    Ok(())
}
