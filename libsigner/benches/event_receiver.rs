//! The first leg of a signer's proposal-to-vote latency: from the node opening a connection
//! to deliver a block proposal (`POST /stackerdb_chunks` on the `.miners` contract) to the
//! decoded `SignerEvent::MinerMessages` arriving on the run loop's channel. Each iteration is
//! a fresh loopback connection, as the node's event dispatcher makes.
//!
//! Run: `cargo bench -p libsigner --bench event_receiver`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use libsigner::v0::messages::SignerMessage;
use libsigner::{EventReceiver, EventStopSignaler, SignerEvent, SignerEventReceiver};

/// A recorded node event carrying a miner's block proposal, from the reference vectors.
fn proposal_event_body() -> (String, bool) {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../tests/vectors/events.json")).unwrap();
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| {
            case["path"] == "/stackerdb_chunks"
                && case["expected"].to_string().contains("MinerMessages")
                && case["expected"].to_string().contains("BlockProposal")
        })
        .expect("a miners-contract proposal event in the vectors");
    let body = case["body"].as_str().unwrap().to_string();
    let issuer_version = serde_json::from_str::<serde_json::Value>(&body).unwrap()["contract_id"]
        ["issuer"][0]
        .as_u64()
        .unwrap();
    (body, issuer_version == 22)
}

fn post(addr: SocketAddr, request: &[u8]) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

fn wait_for_proposal(events: &Receiver<SignerEvent<SignerMessage>>) {
    match events.recv_timeout(Duration::from_secs(5)).unwrap() {
        SignerEvent::MinerMessages(messages) => assert!(!messages.is_empty()),
        other => panic!("unexpected event {other:?}"),
    }
}

fn event_receiver(c: &mut Criterion) {
    let (body, mainnet) = proposal_event_body();
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(mainnet);
    let (send, events) = channel();
    receiver.add_consumer(send);
    let addr = receiver.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut stop = receiver.get_stop_signaler().unwrap();
    let server = thread::spawn(move || receiver.main_loop());
    let request = format!(
        "POST /stackerdb_chunks HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );

    let mut group = c.benchmark_group("event_receiver");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("proposal_post_to_run_loop_channel", |b| {
        b.iter(|| {
            post(addr, request.as_bytes());
            wait_for_proposal(&events);
        })
    });
    group.finish();
    stop.send();
    server.join().unwrap();
}

criterion_group!(benches, event_receiver);
criterion_main!(benches);
