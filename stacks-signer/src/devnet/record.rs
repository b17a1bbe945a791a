//! The JSON-lines record of a mock node run: one object per line for every activity entry
//! (chunk writes with their decoded `SignerMessage` summary, validation requests and
//! results, uploads, burn blocks, proposals, processed blocks), written and flushed as it
//! happens, so the records of two signer implementations run on one scenario can be diffed.
//!
//! Each line is `{"seq": n, "at_ms": t, "event": "<Kind>", ...the activity's fields}`; chunk
//! writes also carry `"message"`, the decoded message summary (or `{"undecodable": "..."}`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::activity::{Activity, ActivityEntry};
use super::wire::messages;
use super::wire::SignerMessage;

/// A short JSON summary of a signer message: its kind and the fields a comparison needs
/// (blocks are reduced to their signer signature hash, height and consensus hash).
pub fn message_summary(message: &SignerMessage) -> Value {
    let kind = messages::kind(message);
    let block_summary = |block: &super::wire::NakamotoBlock| {
        json!({
            "signer_signature_hash": block.header.signer_signature_hash().to_string(),
            "block_id": block.header.block_id().to_string(),
            "chain_length": block.header.chain_length,
            "consensus_hash": block.header.consensus_hash.to_string(),
        })
    };
    match message {
        SignerMessage::BlockProposal(p) => json!({
            "kind": kind,
            "block": block_summary(&p.block),
            "burn_height": p.burn_height,
            "reward_cycle": p.reward_cycle,
        }),
        SignerMessage::BlockPushed(b) => json!({ "kind": kind, "block": block_summary(b) }),
        other => {
            let body = serde_json::to_value(other).unwrap_or(Value::Null);
            json!({ "kind": kind, "body": body })
        }
    }
}

/// The JSON object of one record line (without `seq`).
pub fn entry_json(entry: &ActivityEntry) -> Value {
    let mut obj = Map::new();
    obj.insert("at_ms".into(), json!(entry.at_ms));
    let activity = serde_json::to_value(&entry.activity).unwrap_or(Value::Null);
    let (event, fields) = match activity {
        Value::Object(map) if map.len() == 1 => {
            let (k, v) = map.into_iter().next().expect("one entry");
            (k, v)
        }
        Value::String(kind) => (kind, Value::Null),
        other => ("Unknown".to_string(), other),
    };
    obj.insert("event".into(), Value::String(event));
    match fields {
        Value::Object(map) => obj.extend(map),
        Value::Null => {}
        other => {
            obj.insert("value".into(), other);
        }
    }
    if let Activity::ChunkWrite { data, .. } = &entry.activity {
        let summary = match messages::decode(data) {
            Ok(message) => message_summary(&message),
            Err(e) => json!({ "undecodable": e.to_string() }),
        };
        obj.insert("message".into(), summary);
    }
    Value::Object(obj)
}

/// Writes `entries` to `out` as JSON lines, flushing after every line, until the channel
/// closes or `stop` is set and nothing is left to read. Returns how many lines were written.
pub fn write_records(
    entries: Receiver<ActivityEntry>,
    mut out: impl Write,
    stop: Arc<AtomicBool>,
) -> std::io::Result<u64> {
    let mut seq = 0u64;
    loop {
        let entry = match entries.recv_timeout(Duration::from_millis(50)) {
            Ok(entry) => entry,
            Err(RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => break,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut value = entry_json(&entry);
        if let Value::Object(map) = &mut value {
            map.insert("seq".into(), json!(seq));
        }
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
        out.flush()?;
        seq += 1;
    }
    Ok(seq)
}

/// Runs [`write_records`] on its own thread; it ends once the node is dropped or `stop` is
/// set and the backlog is written.
pub fn spawn_recorder(
    entries: Receiver<ActivityEntry>,
    out: impl Write + Send + 'static,
    stop: Arc<AtomicBool>,
) -> JoinHandle<std::io::Result<u64>> {
    std::thread::spawn(move || write_records(entries, out, stop))
}
