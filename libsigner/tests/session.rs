//! `StackerDBSession` against a real local HTTP server (tiny_http): every method, the paths
//! it requests, 404 as `None`, HTTP error codes, timeouts, the signer-contract size limit,
//! malformed replies and connection reuse.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use libsigner::chain::{QualifiedContractIdentifier, Sha512Trunc256Sum, StacksPrivateKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::{SlotMetadata, StackerDBChunkAckData, StackerDBChunkData};
use libsigner::v0::messages::SignerMessage;
use libsigner::{RPCError, SignerSession, StackerDBSession};

const TIMEOUT: Duration = Duration::from_secs(5);
const TESTNET_BOOT: &str = "ST000000000000000000002AMW42H";

/// What the mock node saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    content_type: Option<String>,
    body: Vec<u8>,
    remote: Option<SocketAddr>,
}

/// A mock node: answers each path from `routes` (404 for unknown paths) and records requests.
struct MockNode {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn mock_node(routes: HashMap<String, (u16, Vec<u8>)>) -> MockNode {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = Vec::new();
            request.as_reader().read_to_end(&mut body).unwrap();
            log.lock().unwrap().push(Seen {
                method: request.method().to_string(),
                url: request.url().to_string(),
                content_type: request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Content-Type"))
                    .map(|h| h.value.to_string()),
                body,
                remote: request.remote_addr().copied(),
            });
            let (status, reply) = routes
                .get(request.url())
                .cloned()
                .unwrap_or((404, b"not found".to_vec()));
            let _ = request.respond(tiny_http::Response::from_data(reply).with_status_code(status));
        }
    });
    MockNode { addr, seen }
}

fn signers_contract() -> QualifiedContractIdentifier {
    QualifiedContractIdentifier::boot_contract("signers-0-1", false).unwrap()
}

fn miners_contract() -> QualifiedContractIdentifier {
    QualifiedContractIdentifier::boot_contract("miners", false).unwrap()
}

fn session(node: &MockNode, contract: QualifiedContractIdentifier) -> StackerDBSession {
    StackerDBSession::new(&node.addr.to_string(), contract, TIMEOUT)
}

fn base(name: &str) -> String {
    format!("/v2/stackerdb/{TESTNET_BOOT}/{name}")
}

fn routes(entries: &[(String, u16, Vec<u8>)]) -> HashMap<String, (u16, Vec<u8>)> {
    entries
        .iter()
        .map(|(path, status, body)| (path.clone(), (*status, body.clone())))
        .collect()
}

fn signed_chunk(slot_id: u32, version: u32, data: &[u8]) -> StackerDBChunkData {
    let mut chunk = StackerDBChunkData::new(slot_id, version, data.to_vec());
    chunk
        .sign(&StacksPrivateKey::from_seed(b"session test"))
        .unwrap();
    chunk
}

#[test]
fn list_chunks_gets_the_metadata_path_and_parses_slots() {
    let chunk = signed_chunk(0, 3, b"hello");
    let slots = vec![
        chunk.get_slot_metadata(),
        SlotMetadata::new_unsigned(1, 0, Sha512Trunc256Sum([0; 32])),
    ];
    let node = mock_node(routes(&[(
        base("signers-0-1"),
        200,
        serde_json::to_vec(&slots).unwrap(),
    )]));
    let listed = session(&node, signers_contract()).list_chunks().unwrap();
    assert_eq!(listed, slots);
    let seen = node.seen.lock().unwrap();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, base("signers-0-1"));
}

#[test]
fn get_chunks_maps_404_to_none_per_slot() {
    let node = mock_node(routes(&[
        (
            format!("{}/0/1", base("signers-0-1")),
            200,
            b"first".to_vec(),
        ),
        (format!("{}/2/5", base("signers-0-1")), 200, Vec::new()),
    ]));
    let mut session = session(&node, signers_contract());
    let chunks = session.get_chunks(&[(0, 1), (1, 1), (2, 5)]).unwrap();
    assert_eq!(
        chunks,
        vec![Some(b"first".to_vec()), None, Some(Vec::new())]
    );
    assert_eq!(session.get_chunk(0, 1).unwrap(), Some(b"first".to_vec()));
    assert_eq!(session.get_chunk(9, 9).unwrap(), None);
}

#[test]
fn get_latest_chunks_request_the_slot_path() {
    let node = mock_node(routes(&[(
        format!("{}/4", base("signers-0-1")),
        200,
        b"latest".to_vec(),
    )]));
    let mut session = session(&node, signers_contract());
    assert_eq!(
        session.get_latest_chunks(&[4, 5]).unwrap(),
        vec![Some(b"latest".to_vec()), None]
    );
    assert_eq!(
        session.get_latest_chunk(4).unwrap(),
        Some(b"latest".to_vec())
    );
    let urls: Vec<String> = node
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.url.clone())
        .collect();
    assert_eq!(urls[0], format!("{}/4", base("signers-0-1")));
    assert_eq!(urls[1], format!("{}/5", base("signers-0-1")));
}

#[test]
fn signer_contract_chunks_over_two_mib_are_treated_as_absent() {
    let limit = 2 * 1024 * 1024;
    let node = mock_node(routes(&[
        (format!("{}/0", base("signers-0-1")), 200, vec![7; limit]),
        (
            format!("{}/1", base("signers-0-1")),
            200,
            vec![7; limit + 1],
        ),
        (format!("{}/0", base("miners")), 200, vec![7; limit + 1]),
    ]));
    let mut signers = session(&node, signers_contract());
    let chunks = signers.get_latest_chunks(&[0, 1]).unwrap();
    assert_eq!(chunks[0].as_ref().map(Vec::len), Some(limit));
    assert_eq!(chunks[1], None);
    // Other contracts are limited to 16 MiB only.
    let mut miners = session(&node, miners_contract());
    assert_eq!(
        miners.get_latest_chunk(0).unwrap().map(|c| c.len()),
        Some(limit + 1)
    );
}

#[test]
fn put_chunk_posts_json_and_parses_the_ack() {
    let chunk = signed_chunk(3, 2, b"payload");
    let ack = StackerDBChunkAckData {
        accepted: true,
        reason: None,
        metadata: Some(chunk.get_slot_metadata()),
        code: None,
    };
    let node = mock_node(routes(&[(
        format!("{}/chunks", base("signers-0-1")),
        200,
        serde_json::to_vec(&ack).unwrap(),
    )]));
    let got = session(&node, signers_contract())
        .put_chunk(&chunk)
        .unwrap();
    assert_eq!(got, ack);
    let seen = node.seen.lock().unwrap();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    let posted: StackerDBChunkData = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(posted, chunk);
}

#[test]
fn a_rejected_chunk_ack_is_returned_not_an_error() {
    let reason = r#"{"code":1,"message":"NoSuchSlot","reason":"No such StackerDB slot"}"#;
    let body = format!(
        r#"{{"accepted":false,"reason":{},"code":1}}"#,
        serde_json::to_string(reason).unwrap()
    );
    let node = mock_node(routes(&[(
        format!("{}/chunks", base("signers-0-1")),
        200,
        body.into_bytes(),
    )]));
    let ack = session(&node, signers_contract())
        .put_chunk(&signed_chunk(99, 1, b"x"))
        .unwrap();
    assert!(!ack.accepted);
    assert_eq!(ack.code, Some(1));
    assert_eq!(ack.reason.as_deref(), Some(reason));
}

#[test]
fn non_200_replies_are_http_errors() {
    let node = mock_node(routes(&[
        (base("signers-0-1"), 500, b"boom".to_vec()),
        (format!("{}/0/1", base("signers-0-1")), 403, Vec::new()),
        (format!("{}/0", base("signers-0-1")), 503, Vec::new()),
        (format!("{}/chunks", base("signers-0-1")), 400, Vec::new()),
    ]));
    let mut session = session(&node, signers_contract());
    assert!(matches!(
        session.list_chunks(),
        Err(RPCError::HttpError(500))
    ));
    assert!(matches!(
        session.get_chunk(0, 1),
        Err(RPCError::HttpError(403))
    ));
    assert!(matches!(
        session.get_latest_chunk(0),
        Err(RPCError::HttpError(503))
    ));
    assert!(matches!(
        session.put_chunk(&signed_chunk(0, 1, b"x")),
        Err(RPCError::HttpError(400))
    ));
    // A 404 on the listing is an error too (only chunk reads map 404 to None).
    let mut other = StackerDBSession::new(&node.addr.to_string(), miners_contract(), TIMEOUT);
    assert!(matches!(other.list_chunks(), Err(RPCError::HttpError(404))));
}

#[test]
fn malformed_json_replies_are_deserialize_errors() {
    let node = mock_node(routes(&[
        (base("signers-0-1"), 200, b"[{\"slot_id\":".to_vec()),
        (
            format!("{}/chunks", base("signers-0-1")),
            200,
            b"{}".to_vec(),
        ),
    ]));
    let mut session = session(&node, signers_contract());
    assert!(matches!(
        session.list_chunks(),
        Err(RPCError::Deserialize(_))
    ));
    assert!(matches!(
        session.put_chunk(&signed_chunk(0, 1, b"x")),
        Err(RPCError::Deserialize(_))
    ));
}

#[test]
fn get_latest_decodes_the_chunk_or_reports_the_codec_failure() {
    let message = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([9; 32]));
    let node = mock_node(routes(&[
        (
            format!("{}/0", base("signers-0-1")),
            200,
            message.serialize_to_vec(),
        ),
        (format!("{}/1", base("signers-0-1")), 200, vec![0xee, 1, 2]),
    ]));
    let mut session = session(&node, signers_contract());
    assert_eq!(
        session.get_latest::<SignerMessage>(0).unwrap(),
        Some(message)
    );
    assert_eq!(session.get_latest::<SignerMessage>(2).unwrap(), None);
    match session.get_latest::<SignerMessage>(1) {
        Err(RPCError::Deserialize(text)) => assert!(
            text.starts_with("StacksMessageCodec::consensus_deserialize failure: "),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold connections without ever answering.
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let timeout = Duration::from_millis(500);
    let mut session = StackerDBSession::new(&addr.to_string(), signers_contract(), timeout);
    let started = Instant::now();
    let result = session.get_latest_chunk(0);
    let elapsed = started.elapsed();
    match result {
        Err(RPCError::IO(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(elapsed < timeout * 6, "{elapsed:?}");
}

#[test]
fn an_unreachable_node_is_an_io_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut session = StackerDBSession::new(&addr.to_string(), signers_contract(), TIMEOUT);
    assert!(matches!(session.list_chunks(), Err(RPCError::IO(_))));
    assert!(matches!(
        session.connect(addr.to_string(), signers_contract()),
        Err(RPCError::IO(_))
    ));
}

#[test]
fn connect_retargets_the_session() {
    let node = mock_node(routes(&[(
        format!("{}/0", base("miners")),
        200,
        b"m".to_vec(),
    )]));
    let mut session = StackerDBSession::new("127.0.0.1:1", signers_contract(), TIMEOUT);
    session
        .connect(node.addr.to_string(), miners_contract())
        .unwrap();
    assert_eq!(session.host, node.addr.to_string());
    assert_eq!(session.stackerdb_contract_id, miners_contract());
    assert_eq!(session.get_latest_chunk(0).unwrap(), Some(b"m".to_vec()));
}

#[test]
fn consecutive_calls_reuse_one_connection() {
    let node = mock_node(routes(&[(
        format!("{}/0", base("signers-0-1")),
        200,
        b"c".to_vec(),
    )]));
    let mut session = session(&node, signers_contract());
    for _ in 0..5 {
        assert_eq!(session.get_latest_chunk(0).unwrap(), Some(b"c".to_vec()));
    }
    let remotes: Vec<_> = node.seen.lock().unwrap().iter().map(|s| s.remote).collect();
    assert_eq!(remotes.len(), 5);
    assert!(remotes.iter().all(|r| *r == remotes[0]), "{remotes:?}");
}
