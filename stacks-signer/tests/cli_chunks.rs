//! The StackerDB subcommands against a real local HTTP server.

mod cli_support;

use std::sync::{Arc, Mutex};
use std::thread;

use cli_support::{run, run_with_stdin, SIGNER0_KEY};
use libsigner::chain::hex::to_hex;
use libsigner::chain::{MessageSignature, Sha512Trunc256Sum};
use libsigner::stackerdb::{SlotMetadata, StackerDBChunkAckData};

const CONTRACT: &str = "ST000000000000000000002AMW42H.signers-1-1";
const PREFIX: &str = "/v2/stackerdb/ST000000000000000000002AMW42H/signers-1-1";
/// The reference study's put-chunk vector: slot 0, version 1, data `hello`, signer-0 key.
const HELLO_SIG: &str = "0195f0b1f58ebc70b2891a07d812a46ed649c9d168e16f29711b3fe24a93e26f686cf5c243740901afc7cd9a10ca8ae46c47537e303d114dce0133cf64809813d5";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    body: Vec<u8>,
}

/// A local node stand-in answering each request with `reply(method, url, body)`.
struct Node {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Node {
    fn start(reply: impl Fn(&Seen) -> (u16, Vec<u8>) + Send + 'static) -> Node {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (srv, log) = (server.clone(), seen.clone());
        let handle = thread::spawn(move || {
            for mut request in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let item = Seen {
                    method: request.method().to_string(),
                    url: request.url().to_string(),
                    body,
                };
                let (code, payload) = reply(&item);
                log.lock().unwrap().push(item);
                let _ =
                    request.respond(tiny_http::Response::from_data(payload).with_status_code(code));
            }
        });
        Node {
            addr,
            seen,
            server,
            handle: Some(handle),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn db_args<'a>(node: &'a Node, command: &'a str) -> Vec<&'a str> {
    vec![command, "--host", node.addr.as_str(), "-c", CONTRACT]
}

#[test]
fn get_chunk_prints_hex_without_newline() {
    let node = Node::start(|s| {
        if s.url.ends_with("/3/7") {
            (200, vec![0x01, 0x02, 0xff])
        } else {
            (404, Vec::new())
        }
    });
    let mut args = db_args(&node, "get-chunk");
    args.extend(["--slot-id", "3", "--slot-version", "7"]);
    assert_eq!(run(&args).ok(), "0102ff");
    let mut args = db_args(&node, "get-chunk");
    args.extend([
        "--slot-id",
        "3",
        "--slot-version",
        "8",
        "--stackerdb-timeout-secs",
        "5",
    ]);
    assert_eq!(run(&args).ok(), "");
    let seen = node.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, format!("{PREFIX}/3/7"));
    assert_eq!(seen[1].url, format!("{PREFIX}/3/8"));
}

#[test]
fn get_latest_chunk_and_http_errors() {
    let node = Node::start(|s| match s.url.rsplit('/').next() {
        Some("1") => (200, b"latest".to_vec()),
        Some("2") => (404, Vec::new()),
        _ => (500, b"boom".to_vec()),
    });
    let mut args = db_args(&node, "get-latest-chunk");
    args.extend(["--slot-id", "1"]);
    assert_eq!(run(&args).ok(), to_hex(b"latest"));
    let mut args = db_args(&node, "get-latest-chunk");
    args.extend(["--slot-id", "2"]);
    assert_eq!(run(&args).ok(), "");
    let mut args = db_args(&node, "get-latest-chunk");
    args.extend(["--slot-id", "9"]);
    let e = run(&args);
    assert!(e.one_line_error().contains("500"), "{}", e.stderr);
    assert_eq!(node.seen()[0].url, format!("{PREFIX}/1"));
}

#[test]
fn list_chunks_prints_hex_of_json() {
    let slots = vec![
        SlotMetadata {
            slot_id: 0,
            slot_version: 4,
            data_hash: Sha512Trunc256Sum([7; 32]),
            signature: MessageSignature([1; 65]),
        },
        SlotMetadata::new_unsigned(1, 0, Sha512Trunc256Sum([0; 32])),
    ];
    let body = serde_json::to_vec(&slots).unwrap();
    let node = Node::start(move |_| (200, body.clone()));
    let r = run(&db_args(&node, "list-chunks"));
    let expected = to_hex(serde_json::to_string(&slots).unwrap().as_bytes());
    assert_eq!(r.ok(), format!("{expected}\n"));
    assert_eq!(node.seen()[0].url, PREFIX);
}

fn ack_reply(s: &Seen) -> (u16, Vec<u8>) {
    let chunk: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    let ack = serde_json::json!({
        "accepted": true,
        "metadata": {
            "slot_id": chunk["slot_id"],
            "slot_version": chunk["slot_version"],
            "data_hash": "e30d87cfa2a75db545eac4d61baf970366a8357c7f72fa95b52d0accb698f13a",
            "signature": chunk["sig"],
        }
    });
    (200, serde_json::to_vec(&ack).unwrap())
}

#[test]
fn put_chunk_signs_the_reference_vector() {
    let node = Node::start(ack_reply);
    let mut args = db_args(&node, "put-chunk");
    args.extend([
        "-p",
        SIGNER0_KEY,
        "--slot-id",
        "0",
        "--slot-version",
        "1",
        "Cn8eVZg",
    ]);
    let out = run(&args).ok().to_string();
    let seen = node.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].url, format!("{PREFIX}/chunks"));
    let body = String::from_utf8(seen[0].body.clone()).unwrap();
    assert_eq!(
        body,
        format!(
            "{{\"slot_id\":0,\"slot_version\":1,\"sig\":\"{HELLO_SIG}\",\"data\":\"68656c6c6f\"}}"
        )
    );
    let ack: StackerDBChunkAckData = serde_json::from_str(out.trim_end()).unwrap();
    assert!(ack.accepted);
    assert_eq!(out, format!("{}\n", serde_json::to_string(&ack).unwrap()));
    assert!(out.starts_with("{\"accepted\":true,\"metadata\":{\"slot_id\":0,\"slot_version\":1,"));
}

#[test]
fn put_chunk_reads_stdin_and_reports_rejections() {
    let node = Node::start(|_| {
        (200, br#"{"accepted":false,"reason":"Data for this slot and version already exist","code":0}"#.to_vec())
    });
    let mut args = db_args(&node, "put-chunk");
    args.extend([
        "--private-key",
        SIGNER0_KEY,
        "--slot-id",
        "0",
        "--slot-version",
        "1",
        "-",
    ]);
    let r = run_with_stdin(&args, b"Cn8eVZg");
    assert_eq!(
        r.ok(),
        "{\"accepted\":false,\"reason\":\"Data for this slot and version already exist\",\"code\":0}\n"
    );
    assert!(String::from_utf8_lossy(&node.seen()[0].body).contains(HELLO_SIG));
    // stdin is not trimmed: a trailing newline is not base58.
    let e = run_with_stdin(&args, b"Cn8eVZg\n");
    assert!(e
        .one_line_error()
        .contains("Failed to decode provided data"));
    assert_eq!(node.seen().len(), 1);
}

#[test]
fn put_chunk_input_errors() {
    let node = Node::start(ack_reply);
    let mut args = db_args(&node, "put-chunk");
    args.extend([
        "-p",
        SIGNER0_KEY,
        "--slot-id",
        "0",
        "--slot-version",
        "1",
        "0OIl",
    ]);
    assert!(run(&args)
        .one_line_error()
        .contains("Failed to decode provided data"));
    for key in ["00", "zz", &format!("{}02", &SIGNER0_KEY[..64])] {
        let mut args = db_args(&node, "put-chunk");
        args.extend([
            "-p",
            key,
            "--slot-id",
            "0",
            "--slot-version",
            "1",
            "Cn8eVZg",
        ]);
        assert!(run(&args).one_line_error().contains("Invalid private key"));
    }
    let mut args = db_args(&node, "put-chunk");
    args.extend(["-p", SIGNER0_KEY, "--slot-id", "0", "--slot-version", "1"]);
    assert!(run(&args).one_line_error().contains("<DATA>"));
    assert!(node.seen().is_empty());
}

#[test]
fn unreachable_node_is_one_line_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    for cmd in ["list-chunks", "get-latest-chunk"] {
        let mut args = vec![
            cmd,
            "--host",
            host.as_str(),
            "-c",
            CONTRACT,
            "--stackerdb-timeout-secs",
            "2",
        ];
        if cmd == "get-latest-chunk" {
            args.extend(["--slot-id", "0"]);
        }
        run(&args).one_line_error();
    }
}
