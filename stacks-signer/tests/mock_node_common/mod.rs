//! Helpers shared by the mock-node integration tests: a raw HTTP client that behaves like
//! libsigner's `StackerDBSession` (one connection per request, `Connection: close`, read to
//! EOF) and an event observer that records what it receives and can be told to fail.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "does not decode ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on a fresh connection with `Connection: close` and reads until EOF
/// (failing if the server does not close within 5 s), as libsigner's session does.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: libsigner/0.1\r\nAccept: */*\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("the server must close the connection after answering");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header terminator");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..line_end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    request(addr, "GET", path, &[], b"")
}

pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> HttpResponse {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// `POST /v3/block_proposal` of `block` (testnet chain id, the default auth token).
pub fn post_block_proposal(
    addr: SocketAddr,
    block: &libsigner::chain::NakamotoBlock,
) -> HttpResponse {
    let body = serde_json::json!({
        "block": libsigner::chain::hex::to_hex(&libsigner::codec::StacksMessageCodec::serialize_to_vec(block)),
        "chain_id": 0x8000_0000u32,
        "replay_txs": null,
    });
    request(
        addr,
        "POST",
        "/v3/block_proposal",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "12345"),
        ],
        body.to_string().as_bytes(),
    )
}

/// One event an observer received.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub path: String,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
}

/// A recording event observer. `fail_next` makes it answer the next N requests with a
/// status other than 200.
pub struct Observer {
    pub addr: SocketAddr,
    events: Arc<Mutex<Vec<ReceivedEvent>>>,
    failures: Arc<Mutex<VecDeque<u16>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Observer {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(bind: &str) -> Self {
        let server = tiny_http::Server::http(bind).expect("observer bind");
        let addr = server.server_addr().to_ip().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ev, fl, st) = (events.clone(), failures.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let mut raw = Vec::new();
                let _ = req.as_reader().read_to_end(&mut raw);
                let status = fl.lock().unwrap().pop_front().unwrap_or(200);
                if status == 200 {
                    ev.lock().unwrap().push(ReceivedEvent {
                        path: req.url().to_string(),
                        body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
                        raw,
                    });
                }
                let _ = req.respond(tiny_http::Response::empty(status));
            }
        });
        Observer {
            addr,
            events,
            failures,
            stop,
            handle: Some(handle),
        }
    }

    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn fail_next(&self, statuses: &[u16]) {
        self.failures
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    pub fn events(&self) -> Vec<ReceivedEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn events_on(&self, path: &str) -> Vec<ReceivedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.path == path)
            .collect()
    }

    /// Waits until `pred` holds for the received events.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[ReceivedEvent]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.events()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A libsigner `SignerEventReceiver` bound on a free port, run on its own thread, that keeps
/// every decoded event it forwards (stopped on drop).
pub struct SignerEvents {
    pub endpoint: SocketAddr,
    events:
        std::sync::mpsc::Receiver<libsigner::SignerEvent<libsigner::v0::messages::SignerMessage>>,
    pub seen: Vec<libsigner::SignerEvent<libsigner::v0::messages::SignerMessage>>,
    stop: Option<libsigner::SignerStopSignaler>,
    handle: Option<JoinHandle<()>>,
}

impl SignerEvents {
    pub fn start() -> Self {
        use libsigner::EventReceiver;
        let mut receiver =
            libsigner::SignerEventReceiver::<libsigner::v0::messages::SignerMessage>::new(false);
        let endpoint = receiver.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        receiver.add_consumer(tx);
        let stop = receiver.get_stop_signaler().unwrap();
        let handle = std::thread::spawn(move || receiver.main_loop());
        SignerEvents {
            endpoint,
            events,
            seen: Vec::new(),
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Collects events until `done` holds for everything received so far; panics after
    /// `timeout`.
    pub fn collect_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&[libsigner::SignerEvent<libsigner::v0::messages::SignerMessage>]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out; got {} events", self.seen.len());
            if let Ok(event) = self
                .events
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.seen.push(event);
            }
        }
    }
}

impl Drop for SignerEvents {
    fn drop(&mut self) {
        use libsigner::EventStopSignaler;
        if let Some(mut stop) = self.stop.take() {
            stop.send();
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The lines of a mock node's `--record` file, each parsed as JSON.
pub fn read_record(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("record written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
