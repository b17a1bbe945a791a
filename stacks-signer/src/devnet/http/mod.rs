//! The RPC server: request intake ([`server`]: kept-alive connections, bounded reads),
//! routing by method and path, and replies with the node's content types. Nothing a client
//! sends can panic a handler.

mod blocks;
mod rpc;
pub(crate) mod server;
mod stackerdb;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use libsigner::codec::MAX_MESSAGE_LEN;
use serde::Serialize;

use super::faults::{RpcFault, GARBAGE_BODY};
use super::node::Shared;
use super::overrides::reason_phrase;
use server::HttpServer;

/// Largest request body read (the node's `MAX_PAYLOAD_LEN`, 16 MiB + 1); larger is a 400.
pub const MAX_BODY_LEN: usize = MAX_MESSAGE_LEN as usize;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, text: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            body: text.into().into_bytes(),
        }
    }

    /// A binary answer.
    pub fn bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: "application/octet-stream",
            body,
        }
    }

    /// 404 for an unknown path.
    pub fn not_found() -> Reply {
        Reply::text(404, "Not found")
    }
}

/// A request as the handlers see it.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string (without `?`).
    pub query: String,
    /// Header (lowercased name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_BODY_LEN`] + 1 bytes were read).
    pub body: Vec<u8>,
    /// Whether the body was longer than [`MAX_BODY_LEN`].
    pub body_too_long: bool,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the `Content-Type` is `expected` (parameters such as `; charset` ignored).
    pub fn content_type_is(&self, expected: &str) -> bool {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
    }

    /// The value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

/// Binds the RPC server's listening socket to `addr`.
pub(crate) fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))
}

/// Serves the node's RPC on `listener`, at most `handlers` requests at a time.
pub(crate) fn serve(
    listener: TcpListener,
    handlers: usize,
    shared: &Arc<Shared>,
) -> Result<HttpServer, String> {
    let shared = Arc::clone(shared);
    HttpServer::start(
        listener,
        handlers,
        Arc::new(move |request: &Request| route(request, &shared)),
    )
    .map_err(|e| format!("cannot start the HTTP server: {e}"))
}

fn route(req: &Request, shared: &Arc<Shared>) -> Reply {
    let canned = shared.with_state(|s| {
        s.requests.record(&req.method, &req.path);
        s.overrides.canned(&req.method, &req.path).cloned()
    });
    if let Some(answer) = canned {
        return Reply {
            status: answer.status,
            content_type: answer.content_type,
            body: answer.body,
        };
    }
    let down = shared
        .down_endpoints
        .lock()
        .map(|set| set.iter().any(|p| req.path.starts_with(p.as_str())))
        .unwrap_or(false);
    if down {
        return Reply::text(503, "Service Unavailable");
    }
    let fault = shared.rpc_faults.lock().ok().and_then(|faults| {
        faults
            .iter()
            .find(|(prefix, _)| req.path.starts_with(prefix.as_str()))
            .map(|(_, fault)| *fault)
    });
    match fault {
        Some(RpcFault::Garbage) => {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: GARBAGE_BODY.to_vec(),
            }
        }
        Some(RpcFault::Status(status)) => return Reply::text(status, reason_phrase(status)),
        Some(RpcFault::Delay(delay)) => sleep_unless_shutdown(delay, shared),
        None => {}
    }
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["v2", "info"]) => rpc::info(req, shared),
        ("GET", ["v2", "pox"]) => rpc::pox(shared),
        ("GET", ["v3", "stacker_set", cycle]) => rpc::stacker_set(req, shared, cycle),
        ("POST", ["v2", "contracts", "call-read", addr, contract, function]) => {
            rpc::call_read(req, shared, addr, contract, function)
        }
        ("GET", ["v3", "sortitions"]) => rpc::sortitions(shared, None, None),
        ("GET", ["v3", "sortitions", key]) => rpc::sortitions(shared, Some(key), None),
        ("GET", ["v3", "sortitions", key, value]) => {
            rpc::sortitions(shared, Some(key), Some(value))
        }
        ("GET", ["v3", "tenures", "fork_info", start, stop]) => rpc::fork_info(shared, start, stop),
        ("GET", ["v3", "tenures", "tip_metadata", ch]) => rpc::tenure_tip(shared, ch, true),
        ("GET", ["v3", "tenures", "tip", ch]) => rpc::tenure_tip(shared, ch, false),
        ("GET", ["v2", "accounts", principal]) => rpc::account(shared, principal),
        ("GET", ["v3", "signer", pk, cycle]) => rpc::signer_blocks(shared, pk, cycle),
        ("POST", ["v3", "block_proposal"]) => blocks::block_proposal(req, shared),
        ("POST", ["v3", "blocks", "upload"]) | ("POST", ["v3", "blocks", "upload", ""]) => {
            blocks::upload(req, shared)
        }
        ("GET", ["v2", "stackerdb", addr, name]) => stackerdb::metadata(shared, addr, name),
        ("GET", ["v2", "stackerdb", addr, name, "replicas"]) => {
            stackerdb::replicas(shared, addr, name)
        }
        ("POST", ["v2", "stackerdb", addr, name, "chunks"]) => {
            stackerdb::post_chunk(req, shared, addr, name)
        }
        ("GET", ["v2", "stackerdb", addr, name, slot]) => {
            stackerdb::get_chunk(shared, addr, name, slot, None)
        }
        ("GET", ["v2", "stackerdb", addr, name, slot, version]) => {
            stackerdb::get_chunk(shared, addr, name, slot, Some(version))
        }
        _ => Reply::not_found(),
    }
}

/// Sleeps `delay` (a slow node), waking early when the node stops.
fn sleep_unless_shutdown(delay: Duration, shared: &Shared) {
    let deadline = std::time::Instant::now() + delay;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Parses exactly `N` bytes of lowercase/uppercase hex (the routes' `[0-9a-f]{2N}`).
pub(crate) fn parse_hex_param<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    libsigner::chain::hex::hex_array::<N>(text).ok()
}

/// Parses a decimal route parameter of at most `max_digits` digits.
pub(crate) fn parse_decimal(text: &str, max_digits: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bound_server_reports_its_address_and_a_bad_address_is_a_clear_error() {
        let listener = super::bind("127.0.0.1:0").unwrap();
        assert!(listener.local_addr().unwrap().port() > 0);
        let err = super::bind("not an address").err().unwrap();
        assert!(err.starts_with("cannot bind not an address: "), "{err}");
    }
}
