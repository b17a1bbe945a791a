//! The mock node delivers events to each observer in production order, with the node's
//! bodies, and keeps retrying an event until the observer answers 200 (non-200 answers and a
//! down observer alike).

mod mock_node_common;

use std::net::TcpListener;
use std::time::Duration;

use mock_node_common::Observer;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec};

fn node_with(observers: Vec<ObserverSpec>) -> stacks_signer::devnet::RunningMockNode {
    let mut config = MockNodeConfig::with_simulated_signers(2);
    config.observers = observers;
    MockNode::start(config).unwrap()
}

fn heights(events: &[mock_node_common::ReceivedEvent]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.path == "/new_burn_block")
        .map(|e| e.body["burn_block_height"].as_u64().unwrap())
        .collect()
}

#[test]
fn burn_block_events_arrive_in_order_with_the_info_view_already_updated() {
    let observer = Observer::start();
    let node = node_with(vec![ObserverSpec::signer(observer.endpoint())]);
    for i in 0..5 {
        node.mine_burn_block(if i % 2 == 0 { Some(0) } else { None })
            .unwrap();
    }
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    assert_eq!(heights(&observer.events()), vec![345, 346, 347, 348, 349]);
    let last = observer.events_on("/new_burn_block").pop().unwrap();
    let tip = node.burn_tip();
    assert_eq!(
        last.body["consensus_hash"].as_str().unwrap(),
        format!("0x{}", tip.consensus_hash)
    );
    assert_eq!(
        last.body["parent_burn_block_hash"].as_str().unwrap(),
        format!("0x{}", tip.parent_hash)
    );
    assert_eq!(last.body["reward_recipients"], serde_json::json!([]));
    // Keys come out sorted, as the node builds bodies through a JSON value.
    let text = String::from_utf8(last.raw).unwrap();
    assert!(text.starts_with("{\"burn_amount\":"), "{text}");
}

#[test]
fn an_event_refused_with_non_200_is_retried_and_order_is_kept() {
    let observer = Observer::start();
    let node = node_with(vec![ObserverSpec::signer(observer.endpoint())]);
    // 202 counts as a failure too.
    observer.fail_next(&[500, 202, 404]);
    for _ in 0..3 {
        node.mine_burn_block(Some(0)).unwrap();
    }
    assert!(node.wait_events_delivered(Duration::from_secs(20)));
    assert_eq!(heights(&observer.events()), vec![345, 346, 347]);
    let stats = node.observer_stats();
    assert_eq!(stats[0].1.failed_attempts, 3);
    assert_eq!(stats[0].1.delivered, observer.events().len() as u64);
}

#[test]
fn events_for_an_observer_that_is_down_are_delivered_once_it_comes_up() {
    // Reserve a port, then free it so nothing listens there yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("127.0.0.1:{port}");
    let mut spec = ObserverSpec::signer(endpoint.clone());
    spec.timeout_ms = 200;
    let node = node_with(vec![spec]);
    node.mine_burn_block(Some(0)).unwrap();
    node.mine_burn_block(Some(1)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(node.observer_stats()[0].1.failed_attempts >= 1);
    assert_eq!(node.observer_stats()[0].1.delivered, 0);
    let observer = Observer::start_on(&endpoint);
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    assert_eq!(heights(&observer.events()), vec![345, 346]);
}

#[test]
fn observers_get_only_the_paths_their_keys_select() {
    let signer = Observer::start();
    let plain = Observer::start();
    let node = node_with(vec![
        ObserverSpec::signer(signer.endpoint()),
        ObserverSpec {
            endpoint: plain.endpoint(),
            keys: vec!["stx".into()],
            timeout_ms: 1000,
            disable_retries: false,
        },
    ]);
    node.mine_tenures(1, 1, Duration::from_secs(10)).unwrap();
    assert!(node.wait_events_delivered(Duration::from_secs(10)));
    let paths = |o: &Observer| {
        let mut p: Vec<String> = o.events().into_iter().map(|e| e.path).collect();
        p.dedup();
        p
    };
    assert!(paths(&signer).contains(&"/new_burn_block".to_string()));
    assert!(paths(&signer).contains(&"/stackerdb_chunks".to_string()));
    assert!(paths(&signer).contains(&"/new_block".to_string()));
    assert_eq!(paths(&plain), vec!["/new_block".to_string()]);
}
