//! Spawning a `Signer`: events POSTed over HTTP reach the run loop, intermediate results
//! come out of the result channel, and the signer stops (by its own result, by `stop`, or by
//! SIGTERM) and joins.

mod http_client;

use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use http_client::{post, request};
use libsigner::v0::messages::SignerMessage;
use libsigner::{
    set_runloop_signal_handler, EventError, Signer, SignerEvent, SignerEventReceiver, SignerRunLoop,
};

const WAIT: Duration = Duration::from_secs(30);

fn burn_block_body(height: u64) -> String {
    let hash = "11".repeat(32);
    format!(
        r#"{{"burn_amount":1,"burn_block_hash":"0x{hash}","burn_block_height":{height},"consensus_hash":"0x{}","parent_burn_block_hash":"0x{hash}","reward_recipients":[],"reward_slot_holders":[]}}"#,
        "22".repeat(20)
    )
}

/// Reports each burn height it sees; finishes with the number of events when it sees
/// `stop_at`; counts passes without an event.
struct BurnHeightLoop {
    timeout: Duration,
    events: u64,
    idle_passes: u64,
    stop_at: u64,
    stop_after_idle: Option<u64>,
}

impl BurnHeightLoop {
    fn new(stop_at: u64) -> Self {
        Self {
            timeout: Duration::from_millis(50),
            events: 0,
            idle_passes: 0,
            stop_at,
            stop_after_idle: None,
        }
    }
}

impl SignerRunLoop<u64, SignerMessage> for BurnHeightLoop {
    fn set_event_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn get_event_timeout(&self) -> Duration {
        self.timeout
    }

    fn run_one_pass(
        &mut self,
        event: Option<SignerEvent<SignerMessage>>,
        res: &Sender<u64>,
    ) -> Option<u64> {
        let Some(event) = event else {
            self.idle_passes += 1;
            return self
                .stop_after_idle
                .filter(|n| self.idle_passes >= *n)
                .map(|_| self.idle_passes);
        };
        self.events += 1;
        if let SignerEvent::NewBurnBlock { burn_height, .. } = event {
            res.send(burn_height).unwrap();
            if burn_height == self.stop_at {
                return Some(self.events);
            }
        }
        None
    }
}

type TestSigner = Signer<u64, BurnHeightLoop, SignerEventReceiver<SignerMessage>, SignerMessage>;

fn signer(runloop: BurnHeightLoop) -> (TestSigner, std::sync::mpsc::Receiver<u64>) {
    let (res_tx, res_rx) = channel();
    let receiver = SignerEventReceiver::<SignerMessage>::new(false);
    (Signer::new(runloop, receiver, res_tx), res_rx)
}

#[test]
fn events_posted_over_http_reach_the_run_loop_and_its_result_ends_the_signer() {
    let (mut signer, results) = signer(BurnHeightLoop::new(3));
    let running = signer.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = running.local_addr();
    assert_ne!(addr.port(), 0);

    assert_eq!(request(addr, "GET", "/status", b"").unwrap().body, b"OK");
    post(addr, "/new_block", b"not json").unwrap();
    for height in 1..=3 {
        let reply = post(addr, "/new_burn_block", burn_block_body(height).as_bytes()).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(results.recv_timeout(WAIT).unwrap(), height);
    }
    // StatusCheck plus three burn blocks; the undecodable body never reached the loop.
    assert_eq!(running.join(), Some(4));
}

#[test]
fn stop_ends_an_idle_signer_without_a_result() {
    let (mut signer, _results) = signer(BurnHeightLoop::new(u64::MAX));
    let running = signer.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(running.stop(), None);
}

#[test]
fn the_run_loop_is_called_on_timeouts_without_events() {
    let mut runloop = BurnHeightLoop::new(u64::MAX);
    runloop.set_event_timeout(Duration::from_millis(10));
    assert_eq!(runloop.get_event_timeout(), Duration::from_millis(10));
    runloop.stop_after_idle = Some(5);
    let (mut signer, _results) = signer(runloop);
    let running = signer.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(running.join(), Some(5));
}

#[test]
fn a_signer_spawns_once() {
    let (mut signer, _results) = signer(BurnHeightLoop::new(u64::MAX));
    let running = signer.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(matches!(
        signer.spawn("127.0.0.1:0".parse().unwrap()),
        Err(EventError::AlreadyRunning)
    ));
    assert_eq!(running.stop(), None);
}

#[test]
fn spawning_on_a_port_in_use_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut signer, _results) = signer(BurnHeightLoop::new(u64::MAX));
    assert!(matches!(
        signer.spawn(taken.local_addr().unwrap()),
        Err(EventError::IO(_))
    ));
}

#[test]
fn sigterm_stops_the_signer_gracefully_and_the_handler_installs_once() {
    let (mut signer, _results) = signer(BurnHeightLoop::new(u64::MAX));
    let running = signer.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    set_runloop_signal_handler(running.stop_signaler()).unwrap();
    assert!(matches!(
        set_runloop_signal_handler(running.stop_signaler()),
        Err(EventError::AlreadyRunning)
    ));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The handler stops the receiver; the run loop sees its channel close and ends.
    assert_eq!(running.join(), None);
}
