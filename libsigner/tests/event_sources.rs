//! The event receiver's source filter, over real sockets: clients bind `127.0.0.2` (on Linux
//! all of `127.0.0.0/8` is loopback) while only `127.0.0.1` is allowed.

mod http_client;

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::Duration;

use http_client::{request_from, send_raw_from};
use libsigner::v0::messages::SignerMessage;
use libsigner::{
    EventError, EventReceiver, EventStopSignaler, IpRange, SignerEvent, SignerEventReceiver,
    SignerStopSignaler, SourceFilter,
};

type Outcome = Result<SignerEvent<SignerMessage>, EventError>;

const WAIT: Duration = Duration::from_secs(30);

const ALLOWED: &str = "127.0.0.1";
const REFUSED: &str = "127.0.0.2";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const BURN_BLOCK: &str = r#"{"burn_block_hash":"0x1111111111111111111111111111111111111111111111111111111111111111","burn_block_height":7,"reward_recipients":[],"reward_slot_holders":[],"burn_amount":0,"consensus_hash":"0x2222222222222222222222222222222222222222","parent_burn_block_hash":"0x3333333333333333333333333333333333333333333333333333333333333333"}"#;

/// A receiver bound to `bind` accepting events from `127.0.0.1` only; every outcome of
/// `next_event` goes to the channel. Also returns the filter (a handle on its counter).
fn start_receiver(
    bind: &str,
) -> (
    SocketAddr,
    Receiver<Outcome>,
    SignerStopSignaler,
    SourceFilter,
) {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(false);
    let filter = SourceFilter::new([IpRange::host(ip(ALLOWED))], Vec::<String>::new());
    receiver.set_source_filter(filter.clone());
    let addr = receiver.bind(format!("{bind}:0").parse().unwrap()).unwrap();
    let stop = receiver.get_stop_signaler().unwrap();
    let (tx, rx) = channel();
    thread::spawn(move || loop {
        let outcome = receiver.next_event();
        let terminated = matches!(outcome, Err(EventError::Terminated));
        if tx.send(outcome).is_err() || terminated {
            break;
        }
    });
    (addr, rx, stop, filter)
}

#[test]
fn events_from_a_source_not_allowed_get_403_and_no_event() {
    let (addr, outcomes, mut stop, filter) = start_receiver("127.0.0.1");
    for path in [
        "/new_burn_block",
        "/new_block",
        "/proposal_response",
        "/stackerdb_chunks",
    ] {
        let reply = request_from(ip(REFUSED), addr, "POST", path, BURN_BLOCK.as_bytes()).unwrap();
        assert_eq!(reply.status, 403, "{path}");
        assert!(!reply.body.is_empty(), "the refusal says why");
    }
    // Not even /shutdown, nor an unknown path.
    for path in ["/shutdown", "/anything"] {
        let reply = request_from(ip(REFUSED), addr, "POST", path, b"").unwrap();
        assert_eq!(reply.status, 403, "{path}");
    }
    assert_eq!(filter.refused_requests(), 6);
    // Nothing reached the receiver: the next outcome is the allowed client's event.
    let reply = request_from(
        ip(ALLOWED),
        addr,
        "POST",
        "/new_burn_block",
        BURN_BLOCK.as_bytes(),
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    match outcomes.recv_timeout(WAIT).unwrap() {
        Ok(SignerEvent::NewBurnBlock { burn_height, .. }) => assert_eq!(burn_height, 7),
        other => panic!("expected the allowed client's burn block, got {other:?}"),
    }
    assert!(outcomes.try_recv().is_err());
    stop.send();
}

#[test]
fn status_stays_open_to_every_source() {
    let (addr, outcomes, mut stop, filter) = start_receiver("127.0.0.1");
    let reply = request_from(ip(REFUSED), addr, "GET", "/status", b"").unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"OK");
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Ok(SignerEvent::StatusCheck)
    ));
    assert_eq!(filter.refused_requests(), 0);
    stop.send();
}

#[test]
fn a_refused_body_is_read_and_thrown_away_so_the_client_sees_the_403() {
    let (addr, _outcomes, mut stop, _) = start_receiver("127.0.0.1");
    // 1 MiB: more than a socket buffer, so an unread body would reset the connection.
    let body = vec![b' '; 1 << 20];
    let reply = request_from(ip(REFUSED), addr, "POST", "/new_block", &body).unwrap();
    assert_eq!(reply.status, 403);
    // A client waiting for `100 Continue` gets the refusal instead, and sends nothing.
    let raw = format!(
        "POST /new_block HTTP/1.1\r\nHost: {addr}\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n"
    );
    let reply = send_raw_from(ip(REFUSED), addr, raw.as_bytes()).unwrap();
    assert_eq!(reply.status, 403);
    stop.send();
}

#[test]
fn the_default_filter_allows_every_source_as_the_reference() {
    let mut receiver = SignerEventReceiver::<SignerMessage>::new(false);
    assert!(receiver.source_filter().is_allow_all());
    let addr = receiver.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = thread::spawn(move || {
        request_from(
            ip(REFUSED),
            addr,
            "POST",
            "/new_burn_block",
            BURN_BLOCK.as_bytes(),
        )
        .unwrap()
        .status
    });
    assert!(matches!(
        receiver.next_event(),
        Ok(SignerEvent::NewBurnBlock { .. })
    ));
    assert_eq!(client.join().unwrap(), 200);
    assert_eq!(receiver.refused_requests(), 0);
}

#[test]
fn a_receiver_whose_own_address_is_not_allowed_can_still_be_stopped() {
    // Bound to 127.0.0.3: the stop signaler's wake-up comes from that address, which the
    // filter does not allow.
    let (_addr, outcomes, mut stop, filter) = start_receiver("127.0.0.3");
    stop.send();
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Err(EventError::Terminated)
    ));
    assert_eq!(filter.refused_requests(), 0);
}

/// An idle connection from `source`: it holds one of the receiver's slots until its request
/// deadline (or until closed), sending nothing.
fn idle_connection_from(source: IpAddr, addr: SocketAddr) -> socket2::Socket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket
}

/// Whether the receiver closed `socket` (a read finds end of file or an error), rather than
/// keeping it open waiting for a request (a read would block).
fn closed_by_receiver(socket: &socket2::Socket) -> bool {
    use std::io::Read;
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let mut stream: &socket2::Socket = socket;
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[test]
fn a_flood_of_connections_from_elsewhere_leaves_slots_for_the_node() {
    let (addr, outcomes, mut stop, _filter) = start_receiver("127.0.0.1");
    // More idle connections from a source not allowed to send events than the receiver
    // holds at once: it keeps 48 of them (their `/status` would be served) and closes the
    // rest at once.
    let flood: Vec<_> = (0..64)
        .map(|_| idle_connection_from(ip(REFUSED), addr))
        .collect();
    thread::sleep(Duration::from_millis(300));
    let closed = flood.iter().filter(|s| closed_by_receiver(s)).count();
    assert_eq!(closed, 16, "the 16 reserved slots stay free");
    // The node's events still come through.
    let node = thread::spawn(move || {
        request_from(
            ip(ALLOWED),
            addr,
            "POST",
            "/new_burn_block",
            BURN_BLOCK.as_bytes(),
        )
        .unwrap()
        .status
    });
    assert!(matches!(
        outcomes.recv_timeout(WAIT).unwrap(),
        Ok(SignerEvent::NewBurnBlock { .. })
    ));
    assert_eq!(node.join().unwrap(), 200);
    drop(flood);
    stop.send();
}
