//! A minimal signer that prints every event its stacks-node sends it.
//!
//! Run it with `cargo run -p libsigner --example print_events -- [BIND_ADDR]` (default
//! `127.0.0.1:30000`), then point a node at it in the node's config:
//!
//! ```toml
//! [[events_observer]]
//! endpoint = "127.0.0.1:30000"
//! events_keys = ["stackerdb", "block_proposal", "burn_blocks"]
//! ```
//!
//! Stop it with Ctrl-C. This is the skeleton a real signer grows from: replace
//! `run_one_pass` with the signer's logic (respond to proposals, write to StackerDB with a
//! `StackerDBSession`, ...).

use std::net::SocketAddr;
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use libsigner::v0::messages::SignerMessage;
use libsigner::{
    set_runloop_signal_handler, Signer, SignerEvent, SignerEventReceiver, SignerRunLoop,
};

/// The signer's logic. `main_loop` (provided by the trait) calls `run_one_pass` once per
/// event, or with `None` when no event arrived within the event timeout, until it returns a
/// result.
struct PrintEvents {
    event_timeout: Duration,
    events_seen: u64,
}

/// What the run loop reports on the result channel (here: nothing interesting).
type Outcome = u64;

impl SignerRunLoop<Outcome, SignerMessage> for PrintEvents {
    fn set_event_timeout(&mut self, timeout: Duration) {
        self.event_timeout = timeout;
    }

    fn get_event_timeout(&self) -> Duration {
        self.event_timeout
    }

    fn run_one_pass(
        &mut self,
        event: Option<SignerEvent<SignerMessage>>,
        _results: &Sender<Outcome>,
    ) -> Option<Outcome> {
        // `None`: a timeout tick; a real signer does its periodic work here.
        let event = event?;
        self.events_seen += 1;
        match &event {
            SignerEvent::MinerMessages(messages) => {
                println!("miner messages: {} message(s)", messages.len());
                for message in messages {
                    println!("  {message:?}");
                }
            }
            SignerEvent::SignerMessages {
                signer_set,
                messages,
                ..
            } => {
                println!("signer set {signer_set}: {} message(s)", messages.len());
                for (public_key, message) in messages {
                    println!("  from {}: {message:?}", public_key.to_hex());
                }
            }
            SignerEvent::BlockValidationResponse(response) => {
                println!("block validation: {response:?}")
            }
            SignerEvent::NewBurnBlock {
                burn_height,
                burn_header_hash,
                ..
            } => println!("burn block {burn_height}: {burn_header_hash:?}"),
            SignerEvent::NewBlock {
                block_id,
                block_height,
                transactions,
                ..
            } => println!(
                "stacks block {block_height} {block_id:?}: {} transaction(s)",
                transactions.len()
            ),
            SignerEvent::StatusCheck => println!("status check"),
        }
        // Returning `Some` would stop the signer with that result.
        None
    }
}

fn main() {
    let bind_addr: SocketAddr = match std::env::args().nth(1) {
        Some(arg) => match arg.parse() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("bad bind address {arg:?}: {e}");
                std::process::exit(2);
            }
        },
        None => SocketAddr::from(([127, 0, 0, 1], 30000)),
    };

    // The event receiver is the HTTP endpoint the node POSTs events to; `false` = testnet.
    let receiver = SignerEventReceiver::<SignerMessage>::new(false);
    let runloop = PrintEvents {
        event_timeout: Duration::from_secs(1),
        events_seen: 0,
    };
    // Intermediate results the run loop sends go here; this example has none.
    let (results_tx, _results_rx) = channel();

    // `spawn` binds the receiver and starts two threads: `event_receiver:{port}` (HTTP) and
    // `signer_runloop:{port}` (the logic), connected by a channel.
    let mut signer = Signer::new(runloop, receiver, results_tx);
    let running = match signer.spawn(bind_addr) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("failed to start on {bind_addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening for node events on {}", running.local_addr());

    // Ctrl-C / SIGTERM stop the receiver; the run loop then ends and `join` returns.
    if let Err(e) = set_runloop_signal_handler(running.stop_signaler()) {
        eprintln!("could not install the signal handler: {e}");
    }
    let outcome = running.join();
    println!("signer stopped (result: {outcome:?})");
}
