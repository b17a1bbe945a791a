//! The mock node's fault stimuli, seen from a plain HTTP client and observer: per-path slow,
//! garbage and error answers until cleared, a refusing RPC port that reopens on the same
//! address, and paused events replayed in another order; and the scenario steps for them.

mod mock_node_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mock_node_common::Observer;
use stacks_signer::devnet::scenario::{Scenario, ScenarioRunner};
use stacks_signer::devnet::{
    EventReplay, MockNode, MockNodeConfig, ObserverSpec, RpcFault, RunningMockNode,
};

/// `GET path`: the status and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let status = String::from_utf8_lossy(&raw[..head_end])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, raw[head_end..].to_vec()))
}

fn node(refusable_rpc: bool, observers: Vec<ObserverSpec>) -> RunningMockNode {
    let mut config = MockNodeConfig::with_simulated_signers(2);
    config.refusable_rpc = refusable_rpc;
    config.observers = observers;
    MockNode::start(config).expect("the mock node starts")
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok()
}

#[test]
fn rpc_faults_answer_slowly_with_garbage_or_an_error_status_until_cleared() {
    let node = node(false, vec![]);
    let addr = node.addr();

    node.set_rpc_fault(
        "/v2/info",
        Some(RpcFault::Delay(Duration::from_millis(800))),
    );
    let started = Instant::now();
    let (status, body) = get(addr, "/v2/info").expect("answered");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(status, 200);
    assert!(is_json(&body), "a slow answer is still the node's answer");
    // Other paths are not affected.
    let started = Instant::now();
    assert_eq!(get(addr, "/v2/pox").expect("answered").0, 200);
    assert!(started.elapsed() < Duration::from_millis(800));

    node.set_rpc_fault("/v2/info", Some(RpcFault::Garbage));
    let (status, body) = get(addr, "/v2/info").expect("answered");
    assert_eq!(status, 200);
    assert!(!is_json(&body), "garbage is not JSON");

    node.set_rpc_fault("/", Some(RpcFault::Status(500)));
    node.set_rpc_fault("/v2/info", None);
    let (status, body) = get(addr, "/v2/info").expect("answered");
    assert_eq!(
        (status, body.as_slice()),
        (500, &b"Internal Server Error"[..])
    );

    node.set_rpc_fault("/", None);
    let (status, body) = get(addr, "/v2/info").expect("answered");
    assert_eq!(status, 200);
    assert!(is_json(&body));
    assert!(
        node.request_count(Some("GET"), "/v2/info") >= 4,
        "faulty requests count too"
    );
}

#[test]
fn a_refusing_rpc_port_refuses_connections_and_reopens_on_the_same_address() {
    let node = node(true, vec![]);
    let addr = node.addr();
    assert_eq!(get(addr, "/v2/info").expect("answered").0, 200);
    node.set_rpc_refusing(true).expect("the port closes");
    let err = get(addr, "/v2/info").expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    node.set_rpc_refusing(false).expect("the port reopens");
    assert_eq!(get(addr, "/v2/info").expect("answered").0, 200);

    let plain = self::node(false, vec![]);
    assert!(
        plain.set_rpc_refusing(true).is_err(),
        "refusing needs refusable_rpc"
    );
}

#[test]
fn paused_events_are_held_then_replayed_newest_first() {
    let observer = Observer::start();
    let node = node(false, vec![ObserverSpec::signer(observer.endpoint())]);
    node.mine_burn_block(Some(0)).expect("a burn block");
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    let before = observer.events_on("/new_burn_block").len();

    node.pause_events();
    for _ in 0..3 {
        node.mine_burn_block(None).expect("a burn block");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        observer.events_on("/new_burn_block").len(),
        before,
        "nothing is delivered while paused"
    );
    node.resume_events(EventReplay::Reversed);
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    let heights: Vec<u64> = observer
        .events_on("/new_burn_block")
        .iter()
        .skip(before)
        .map(|e| e.body["burn_block_height"].as_u64().expect("a height"))
        .collect();
    assert_eq!(heights.len(), 3);
    assert!(
        heights.windows(2).all(|w| w[0] > w[1]),
        "newest first: {heights:?}"
    );
}

#[test]
fn scenario_steps_set_and_clear_rpc_faults_and_pause_and_replay_events() {
    let observer = Observer::start();
    let node = node(false, vec![ObserverSpec::signer(observer.endpoint())]);
    let addr = node.addr();
    let run = |text: &str| {
        let scenario = Scenario::parse(text).unwrap_or_else(|e| panic!("{e}"));
        ScenarioRunner::new(&node, Duration::from_secs(10)).run(&scenario)
    };
    run("[[step]]\ntype = \"rpc_fault\"\npath = \"/v2/info\"\nfault = \"status\"\nstatus = 502\n")
        .expect("runs");
    assert_eq!(get(addr, "/v2/info").expect("answered").0, 502);
    run("[[step]]\ntype = \"rpc_fault\"\npath = \"/v2/info\"\nfault = \"garbage\"\n")
        .expect("runs");
    assert!(!is_json(&get(addr, "/v2/info").expect("answered").1));
    run("[[step]]\ntype = \"rpc_fault\"\npath = \"/v2/info\"\nclear = true\n").expect("runs");
    assert_eq!(get(addr, "/v2/info").expect("answered").0, 200);
    let err = run("[[step]]\ntype = \"rpc_fault\"\nfault = \"melt\"\n").expect_err("unknown");
    assert!(err.contains("slow, garbage or status"), "{err}");

    run("[[step]]\ntype = \"pause_events\"\n[[step]]\ntype = \"burn_block\"\n[[step]]\ntype = \"burn_block\"\n")
        .expect("runs");
    let before = observer.events_on("/new_burn_block").len();
    run("[[step]]\ntype = \"resume_events\"\norder = \"reversed\"\n").expect("runs");
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    let heights: Vec<u64> = observer
        .events_on("/new_burn_block")
        .iter()
        .skip(before)
        .map(|e| e.body["burn_block_height"].as_u64().expect("a height"))
        .collect();
    assert_eq!(heights.len(), 2);
    assert!(heights[0] > heights[1], "newest first: {heights:?}");
}
