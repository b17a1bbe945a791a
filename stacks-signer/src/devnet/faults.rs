//! Node faults a test injects: per-path RPC faults (a slow answer, garbage JSON, an error
//! status), the whole RPC port refusing connections (through a relay the node can close),
//! and the order in which a paused event stream is replayed.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the node does to requests whose path starts with a faulty prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFault {
    /// Waits this long, then answers as usual (a slow node).
    Delay(Duration),
    /// Answers `200` with `Content-Type: application/json` and a body that is not JSON.
    Garbage,
    /// Answers this status with its reason phrase as a text body (e.g. `500`).
    Status(u16),
}

/// The body of a [`RpcFault::Garbage`] answer: JSON cut short, then binary noise.
pub const GARBAGE_BODY: &[u8] =
    b"{\"peer_version\": 402653196, \"pox_consensus\": [\x00\xff garbage";

/// The order in which events queued while delivery was paused are sent on resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReplay {
    /// As produced.
    InOrder,
    /// Newest first.
    Reversed,
    /// A shuffle determined by the seed (the same seed, the same order).
    Shuffled(u64),
}

impl EventReplay {
    /// Reorders `items` as this replay says.
    pub fn apply<T>(&self, items: &mut [T]) {
        match *self {
            EventReplay::InOrder => {}
            EventReplay::Reversed => items.reverse(),
            EventReplay::Shuffled(seed) => {
                let mut x = seed | 1;
                for i in (1..items.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let j = (x % (i as u64 + 1)) as usize;
                    items.swap(i, j);
                }
            }
        }
    }
}

/// A TCP relay in front of the RPC server: it accepts on the node's public address and
/// copies each connection to and from the HTTP server's private one. Closing it closes the
/// listener and every relayed connection, so clients get "connection refused" (and a reset
/// kept-alive connection) until it is opened again on the same address.
pub(crate) struct FrontDoor {
    public: SocketAddr,
    upstream: SocketAddr,
    inner: Mutex<DoorState>,
}

struct DoorState {
    open: Option<OpenDoor>,
}

struct OpenDoor {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Connections>>,
}

/// The relayed connections (both sockets of each), by id, so closing the door can cut them.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, (TcpStream, TcpStream)>,
}

impl FrontDoor {
    /// Binds `bind` and relays to `upstream`.
    pub(crate) fn open(bind: &str, upstream: SocketAddr) -> Result<FrontDoor, String> {
        let listener = TcpListener::bind(bind).map_err(|e| format!("cannot bind {bind}: {e}"))?;
        let public = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let open = start(listener, upstream)?;
        Ok(FrontDoor {
            public,
            upstream,
            inner: Mutex::new(DoorState { open: Some(open) }),
        })
    }

    /// The public address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.public
    }

    /// Closes the listener and every relayed connection (`refusing`), or binds the public
    /// address again.
    pub(crate) fn set_refusing(&self, refusing: bool) -> Result<(), String> {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match (refusing, state.open.take()) {
            (true, Some(open)) => {
                close(open);
                Ok(())
            }
            (true, None) => Ok(()),
            (false, Some(open)) => {
                state.open = Some(open);
                Ok(())
            }
            (false, None) => {
                let listener = TcpListener::bind(self.public)
                    .map_err(|e| format!("cannot bind {} again: {e}", self.public))?;
                state.open = Some(start(listener, self.upstream)?);
                Ok(())
            }
        }
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = state.open.take() {
            close(open);
        }
    }
}

fn close(open: OpenDoor) {
    open.stop.store(true, Ordering::SeqCst);
    let _ = open.accept.join();
    let open_connections = std::mem::take(&mut lock(&open.connections).open);
    for (client, server) in open_connections.into_values() {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn start(listener: TcpListener, upstream: SocketAddr) -> Result<OpenDoor, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the listener non-blocking: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(Mutex::new(Connections::default()));
    let accept = {
        let stop = Arc::clone(&stop);
        let connections = Arc::clone(&connections);
        std::thread::Builder::new()
            .name("mock-node-front-door".into())
            .spawn(move || accept_loop(&listener, upstream, &stop, &connections))
            .map_err(|e| format!("cannot start the relay thread: {e}"))?
    };
    Ok(OpenDoor {
        stop,
        accept,
        connections,
    })
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    stop: &AtomicBool,
    connections: &Arc<Mutex<Connections>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                // A connection that cannot be relayed is dropped; the others go on.
                let _ = relay(client, upstream, connections);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    connections: &Arc<Mutex<Connections>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_nodelay(true)?;
    let server = TcpStream::connect(upstream)?;
    server.set_nodelay(true)?;
    let id = {
        let mut list = lock(connections);
        list.next_id += 1;
        let id = list.next_id;
        list.open
            .insert(id, (client.try_clone()?, server.try_clone()?));
        id
    };
    let (client_read, server_write) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::Builder::new()
        .name("mock-node-relay-up".into())
        .spawn(move || pump(client_read, server_write));
    let down_connections = Arc::clone(connections);
    std::thread::Builder::new()
        .name("mock-node-relay-down".into())
        .spawn(move || {
            pump(server, client);
            // Both directions are over once this one is and the other has ended.
            if let Ok(up) = up {
                let _ = up.join();
            }
            lock(&down_connections).open.remove(&id);
        })?;
    Ok(())
}

/// Copies `from` into `to` until either side closes, then closes both directions.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_shuffle_repeats_and_reversed_is_newest_first() {
        let mut a: Vec<u32> = (0..10).collect();
        let mut b = a.clone();
        EventReplay::Shuffled(7).apply(&mut a);
        EventReplay::Shuffled(7).apply(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..10).collect::<Vec<_>>());
        let mut c: Vec<u32> = (0..3).collect();
        EventReplay::Reversed.apply(&mut c);
        assert_eq!(c, [2, 1, 0]);
    }

    #[test]
    fn a_closed_front_door_refuses_and_reopens_on_the_same_port() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let door = FrontDoor::open("127.0.0.1:0", upstream.local_addr().unwrap()).unwrap();
        let mut client = TcpStream::connect(door.addr()).unwrap();
        let (mut served, _) = upstream.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        door.set_refusing(true).unwrap();
        let err = TcpStream::connect(door.addr()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // The relayed connection was closed too.
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        door.set_refusing(false).unwrap();
        assert!(TcpStream::connect(door.addr()).is_ok());
    }
}
