//! `get-chunk`, `get-latest-chunk`, `list-chunks`, `put-chunk`: direct StackerDB access.

use std::io::Write;

use super::CommandError;
use crate::cli::{GetChunkArgs, GetLatestChunkArgs, PutChunkArgs, StackerDBArgs};

fn pending() -> Result<(), CommandError> {
    Err(CommandError(
        "StackerDB access is not available in this build yet".into(),
    ))
}

/// Prints the chunk at `(slot_id, slot_version)` as hex, without a newline.
pub fn get_chunk(_args: &GetChunkArgs, _out: &mut dyn Write) -> Result<(), CommandError> {
    pending()
}

/// Prints the latest chunk of `slot_id` as hex, without a newline.
pub fn get_latest_chunk(
    _args: &GetLatestChunkArgs,
    _out: &mut dyn Write,
) -> Result<(), CommandError> {
    pending()
}

/// Prints the hex of the JSON list of slot metadata.
pub fn list_chunks(_args: &StackerDBArgs, _out: &mut dyn Write) -> Result<(), CommandError> {
    pending()
}

/// Signs and uploads a chunk, printing the node's acknowledgement as JSON.
pub fn put_chunk(_args: &PutChunkArgs, _out: &mut dyn Write) -> Result<(), CommandError> {
    pending()
}
