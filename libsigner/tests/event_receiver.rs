//! The event receiver's HTTP behaviour: `/status`, non-POST requests, unknown paths,
//! `/shutdown`, acknowledgement before decoding, consumers, stopping, and robustness against
//! thousands of malformed requests.

mod http_client;

use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use http_client::{post, request, send_raw};
use libsigner::v0::messages::SignerMessage;
use libsigner::{
    EventError, EventReceiver, EventStopSignaler, SignerEvent, SignerEventReceiver,
    SignerStopSignaler, MAX_EVENT_BODY_LEN,
};

type Outcome = Result<SignerEvent<SignerMessage>, EventError>;

const WAIT: Duration = Duration::from_secs(30);

fn bound_receiver() -> (SignerEventReceiver<SignerMessage>, SocketAddr) {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(false);
    let addr = receiver.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (receiver, addr)
}

/// A receiver whose every `next_event` outcome goes to the returned channel, until it
/// terminates.
fn start_receiver() -> (SocketAddr, Receiver<Outcome>, SignerStopSignaler) {
    let (mut receiver, addr) = bound_receiver();
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

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

#[test]
fn bind_returns_the_port_actually_bound() {
    let (receiver, addr) = bound_receiver();
    assert_ne!(addr.port(), 0);
    assert_eq!(receiver.local_addr(), Some(addr));
}

#[test]
fn binding_a_port_in_use_is_an_error_not_a_panic() {
    let (_receiver, addr) = bound_receiver();
    let mut second = SignerEventReceiver::<SignerMessage>::new(false);
    assert!(matches!(second.bind(addr), Err(EventError::IO(_))));
}

#[test]
fn an_unbound_receiver_has_no_events_and_no_stop_signaler() {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(true);
    assert!(matches!(receiver.next_event(), Err(EventError::NotBound)));
    assert!(matches!(
        receiver.get_stop_signaler(),
        Err(EventError::NotBound)
    ));
}

#[test]
fn status_answers_ok_with_any_method_and_yields_status_check() {
    let (addr, outcomes, mut stop) = start_receiver();
    for method in ["GET", "POST", "PUT"] {
        let reply = request(addr, method, "/status", b"").unwrap();
        assert_eq!(reply.status, 200, "{method}");
        assert_eq!(reply.body, b"OK", "{method}");
        assert!(matches!(
            outcomes.recv_timeout(WAIT).unwrap(),
            Ok(SignerEvent::StatusCheck)
        ));
    }
    stop.send();
}

#[test]
fn non_post_requests_get_500_and_a_malformed_request_error() {
    let (addr, outcomes, mut stop) = start_receiver();
    for method in ["GET", "PUT", "DELETE"] {
        let reply = request(addr, method, "/new_block", b"{}").unwrap();
        assert_eq!(reply.status, 500, "{method}");
        assert!(reply.body.is_empty(), "{method}");
        match outcomes.recv_timeout(WAIT).unwrap() {
            Err(EventError::MalformedRequest(text)) => {
                assert_eq!(text, format!("Unrecognized method '{method}'"))
            }
            other => panic!("{method}: {other:?}"),
        }
    }
    stop.send();
}

#[test]
fn unknown_paths_get_200_and_an_unrecognized_event_error() {
    let (addr, outcomes, mut stop) = start_receiver();
    for path in ["/nope", "/new_block?x=1", "/"] {
        let reply = post(addr, path, b"{}").unwrap();
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.body.is_empty());
        match outcomes.recv_timeout(WAIT).unwrap() {
            Err(EventError::UnrecognizedEvent(url)) => assert_eq!(url, path),
            other => panic!("{path}: {other:?}"),
        }
    }
    stop.send();
}

#[test]
fn undecodable_bodies_are_acknowledged_before_decoding_then_dropped() {
    let (addr, outcomes, mut stop) = start_receiver();
    for path in [
        "/stackerdb_chunks",
        "/proposal_response",
        "/new_burn_block",
        "/new_block",
    ] {
        let reply = post(addr, path, b"{not json").unwrap();
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.body.is_empty(), "{path}");
        match outcomes.recv_timeout(WAIT).unwrap() {
            Err(EventError::Deserialize(text)) => {
                assert!(text.starts_with("Could not decode body to JSON"), "{text}")
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    // A body that is not UTF-8 is acknowledged too, and refused as malformed.
    let reply = post(addr, "/new_block", &[0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(reply.status, 200);
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Err(EventError::MalformedRequest(_))
    ));
    stop.send();
}

#[test]
fn shutdown_stops_the_receiver() {
    let (mut receiver, addr) = bound_receiver();
    let client = thread::spawn(move || post(addr, "/shutdown", b"bye"));
    assert!(matches!(receiver.next_event(), Err(EventError::Terminated)));
    assert!(receiver.is_stopped());
    assert!(matches!(receiver.next_event(), Err(EventError::Terminated)));
    assert_eq!(client.join().unwrap().unwrap().status, 500);
}

#[test]
fn the_stop_signaler_wakes_a_blocked_main_loop() {
    let (mut receiver, _addr) = bound_receiver();
    let (tx, _rx) = channel();
    receiver.add_consumer(tx);
    let mut stop = receiver.get_stop_signaler().unwrap();
    let (done_tx, done_rx) = channel();
    thread::spawn(move || {
        receiver.main_loop();
        done_tx.send(receiver.is_stopped()).unwrap();
    });
    thread::sleep(Duration::from_millis(100));
    stop.send();
    assert!(done_rx.recv_timeout(WAIT).unwrap());
}

#[test]
fn events_are_forwarded_to_every_consumer_and_fail_without_one() {
    let (mut receiver, _addr) = bound_receiver();
    assert!(!receiver.forward_event(SignerEvent::StatusCheck));
    let (tx1, rx1) = channel();
    let (tx2, rx2) = channel();
    receiver.add_consumer(tx1);
    receiver.add_consumer(tx2);
    assert!(receiver.forward_event(SignerEvent::StatusCheck));
    assert_eq!(rx1.try_recv().unwrap(), SignerEvent::StatusCheck);
    assert_eq!(rx2.try_recv().unwrap(), SignerEvent::StatusCheck);
    drop(rx2);
    assert!(!receiver.forward_event(SignerEvent::StatusCheck));
}

#[test]
fn main_loop_forwards_events_and_skips_bad_requests() {
    let (mut receiver, addr) = bound_receiver();
    let (tx, rx) = channel();
    receiver.add_consumer(tx);
    let mut stop = receiver.get_stop_signaler().unwrap();
    let handle = thread::spawn(move || receiver.main_loop());
    post(addr, "/new_block", b"garbage").unwrap();
    post(addr, "/unknown", b"").unwrap();
    request(addr, "GET", "/status", b"").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), SignerEvent::StatusCheck);
    stop.send();
    handle.join().unwrap();
}

#[test]
fn bodies_over_the_limit_are_dropped_with_an_error() {
    let (addr, outcomes, mut stop) = start_receiver();
    let body = vec![b' '; MAX_EVENT_BODY_LEN + 1];
    let reply = post(addr, "/new_block", &body).unwrap();
    assert_eq!(reply.status, 200);
    match outcomes.recv_timeout(WAIT).unwrap() {
        Err(EventError::MalformedRequest(text)) => assert!(text.contains("limit"), "{text}"),
        other => panic!("{other:?}"),
    }
    stop.send();
}

#[test]
fn a_huge_content_length_with_a_small_body_is_dropped_and_serving_continues() {
    let (addr, outcomes, mut stop) = start_receiver();
    for length in [
        u64::MAX.to_string(),
        (1u64 << 50).to_string(),
        (MAX_EVENT_BODY_LEN + 1).to_string(),
        "2000".to_string(),
    ] {
        let raw = format!(
            "POST /new_block HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{\"a\":1}}"
        );
        let _ = send_raw(addr, raw.as_bytes());
        let reply = request(addr, "GET", "/status", b"").unwrap();
        assert_eq!(reply.body, b"OK", "after Content-Length {length}");
    }
    let mut saw_status = 0;
    while let Ok(outcome) = outcomes.recv_timeout(Duration::from_secs(1)) {
        if matches!(outcome, Ok(SignerEvent::StatusCheck)) {
            saw_status += 1;
        }
    }
    assert_eq!(saw_status, 4);
    stop.send();
}

#[test]
fn an_idle_connection_does_not_block_other_requests() {
    let (addr, outcomes, mut stop) = start_receiver();
    let _idle = std::net::TcpStream::connect(addr).unwrap();
    let _half = {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut s, b"POST /new_block HTTP/1.1\r\nContent-Len").unwrap();
        s
    };
    let reply = request(addr, "GET", "/status", b"").unwrap();
    assert_eq!(reply.body, b"OK");
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Ok(SignerEvent::StatusCheck)
    ));
    stop.send();
}

#[test]
fn chunked_bodies_are_decoded() {
    let (addr, outcomes, mut stop) = start_receiver();
    let raw = b"POST /new_block HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{not\r\n5\r\n json\r\n0\r\n\r\n";
    let reply = send_raw(addr, raw).unwrap();
    assert_eq!(reply.status, 200);
    match outcomes.recv_timeout(WAIT).unwrap() {
        Err(EventError::Deserialize(text)) => assert!(text.contains("JSON"), "{text}"),
        other => panic!("{other:?}"),
    }
    stop.send();
}

/// A deterministic xorshift generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// One random or malformed request.
fn malformed_request(rng: &mut Rng, vectors: &[(String, String)]) -> Vec<u8> {
    let paths = [
        "/stackerdb_chunks",
        "/proposal_response",
        "/new_burn_block",
        "/new_block",
        "/status",
        "/nope",
    ];
    let path = paths[rng.below(paths.len() as u64) as usize];
    match rng.below(8) {
        // Pure garbage on the wire.
        0 => {
            let len = rng.below(600) as usize;
            rng.bytes(len)
        }
        // A valid head with a random body.
        1 => {
            let len = rng.below(2000) as usize;
            let body = rng.bytes(len);
            let mut raw = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend(body);
            raw
        }
        // A real event body, truncated (the declared length is the full one).
        2 => {
            let (path, body) = &vectors[rng.below(vectors.len() as u64) as usize];
            let cut = rng.below(body.len() as u64 + 1) as usize;
            let mut raw = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend_from_slice(&body.as_bytes()[..cut]);
            raw
        }
        // A huge declared length with a small body.
        3 => {
            let length = match rng.below(3) {
                0 => u64::MAX,
                1 => 1 << (20 + rng.below(43)),
                _ => rng.next(),
            };
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}")
                .into_bytes()
        }
        // A real event body sent to the wrong endpoint.
        4 => {
            let (_, body) = &vectors[rng.below(vectors.len() as u64) as usize];
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        // A real event body with some bytes flipped.
        5 => {
            let (path, body) = &vectors[rng.below(vectors.len() as u64) as usize];
            let mut body = body.clone().into_bytes();
            for _ in 0..=rng.below(4) {
                if !body.is_empty() {
                    let at = rng.below(body.len() as u64) as usize;
                    body[at] = rng.next() as u8;
                }
            }
            let mut raw = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend(body);
            raw
        }
        // Broken heads: bad lengths, bad chunking, odd methods, endless headers.
        6 => match rng.below(6) {
            5 => format!(
                "POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n{:x}\r\nab",
                rng.next() >> rng.below(64)
            )
            .into_bytes(),
            0 => format!("POST {path} HTTP/1.1\r\nContent-Length: -5\r\n\r\n").into_bytes(),
            1 => format!(
                "POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nab"
            )
            .into_bytes(),
            2 => format!("BREW {path} HTTP/1.1\r\n\r\n").into_bytes(),
            3 => {
                let mut raw = format!("POST {path} HTTP/1.1\r\n").into_bytes();
                raw.extend(b"X: y\r\n".repeat(12_000));
                raw
            }
            _ => format!(
                "POST {path} HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
            )
            .into_bytes(),
        },
        // Valid JSON of the wrong shape.
        _ => {
            let body = ["{}", "[]", "null", "{\"result\":\"Ok\"}", "\"x\"", "1e999"]
                [rng.below(6) as usize];
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    }
}

#[test]
fn ten_thousand_malformed_requests_leave_it_serving_with_flat_memory() {
    let (mut receiver, addr) = bound_receiver();
    let (tx, rx) = channel();
    receiver.add_consumer(tx);
    let mut stop = receiver.get_stop_signaler().unwrap();
    let handle = thread::spawn(move || receiver.main_loop());
    let drain = thread::spawn(move || rx.iter().count());

    let vectors: Vec<(String, String)> = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/events.json"
        ))
        .unwrap(),
    )
    .unwrap()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["body"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut rss_after_warmup = 0;
    let started = Instant::now();
    for i in 0..10_000 {
        let raw = malformed_request(&mut rng, &vectors);
        // Replies (or resets) do not matter here; staying up does.
        let _ = send_raw(addr, &raw);
        if i == 1_000 {
            rss_after_warmup = rss_kib();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "too slow at request {i}"
        );
    }
    let reply = request(addr, "GET", "/status", b"").unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"OK");
    let rss_end = rss_kib();
    eprintln!("RSS after 1,000 requests: {rss_after_warmup} KiB; after 10,000: {rss_end} KiB");
    assert!(
        rss_end < rss_after_warmup + 64 * 1024,
        "RSS grew from {rss_after_warmup} KiB to {rss_end} KiB"
    );
    stop.send();
    handle.join().unwrap();
    assert!(
        drain.join().unwrap() >= 1,
        "the final /status was forwarded"
    );
}

#[test]
fn a_receiver_bound_to_the_wildcard_address_can_be_stopped() {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(false);
    let addr = receiver.bind("0.0.0.0:0".parse().unwrap()).unwrap();
    assert!(addr.ip().is_unspecified());
    let (tx, _rx) = channel();
    receiver.add_consumer(tx);
    let mut stop = receiver.get_stop_signaler().unwrap();
    let (done_tx, done_rx) = channel();
    thread::spawn(move || {
        receiver.main_loop();
        done_tx.send(()).unwrap();
    });
    stop.send();
    done_rx.recv_timeout(WAIT).unwrap();
}

#[test]
fn expect_100_continue_gets_an_interim_answer_then_the_acknowledgement() {
    let (addr, outcomes, mut stop) = start_receiver();
    let raw = b"POST /new_block HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}";
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut stream, raw).unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{reply}"
    );
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Err(EventError::Deserialize(_))
    ));
    stop.send();
}

#[test]
fn connections_beyond_the_limit_are_closed_and_serving_resumes_when_clients_leave() {
    let (addr, outcomes, mut stop) = start_receiver();
    let idle: Vec<_> = (0..64)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    // Over the limit: closed without an answer.
    assert!(request(addr, "GET", "/status", b"").is_err());
    drop(idle);
    let deadline = Instant::now() + WAIT;
    loop {
        match request(addr, "GET", "/status", b"") {
            Ok(reply) => {
                assert_eq!(reply.body, b"OK");
                break;
            }
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("still refused: {e}"),
        }
    }
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Ok(SignerEvent::StatusCheck)
    ));
    stop.send();
}
