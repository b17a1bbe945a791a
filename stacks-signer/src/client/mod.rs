//! Talking to the Stacks node: the JSON shapes of its RPC endpoints (and, as they land, the
//! RPC client and the StackerDB client).

pub mod api;
