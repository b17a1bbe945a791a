//! Event delivery to observers: one queue and one thread per observer, so each observer gets
//! events in production order; each event is retried with a bounded backoff until the
//! observer answers exactly `200` (or once, with `disable_retries`), and delivery stops on
//! shutdown. A test may pause delivery and resume it with the queued events reordered
//! ([`EventReplay`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::ObserverSpec;
use super::faults::EventReplay;

/// The event paths the node posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventPath {
    /// `/new_burn_block` (keys `burn_blocks`, `*`).
    NewBurnBlock,
    /// `/new_block` (every observer).
    NewBlock,
    /// `/stackerdb_chunks` (key `stackerdb`).
    StackerDbChunks,
    /// `/proposal_response` (key `block_proposal`).
    ProposalResponse,
    /// `/status` (every observer): a probe only tests send (a signer's receiver answers it
    /// and yields a status-check event).
    StatusCheck,
}

impl EventPath {
    /// The URL path.
    pub fn path(&self) -> &'static str {
        match self {
            EventPath::NewBurnBlock => "/new_burn_block",
            EventPath::NewBlock => "/new_block",
            EventPath::StackerDbChunks => "/stackerdb_chunks",
            EventPath::ProposalResponse => "/proposal_response",
            EventPath::StatusCheck => "/status",
        }
    }

    /// Whether an observer registered with `keys` receives this path.
    pub fn wanted_by(&self, keys: &[String]) -> bool {
        let has = |k: &str| keys.iter().any(|key| key == k);
        match self {
            EventPath::NewBlock | EventPath::StatusCheck => true,
            EventPath::NewBurnBlock => has("burn_blocks") || has("*"),
            EventPath::StackerDbChunks => has("stackerdb"),
            EventPath::ProposalResponse => has("block_proposal"),
        }
    }
}

/// Counters of one observer's deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObserverStats {
    /// Events acknowledged with 200.
    pub delivered: u64,
    /// Failed attempts (connection errors, timeouts, non-200 answers).
    pub failed_attempts: u64,
    /// Events given up on (`disable_retries` only).
    pub dropped: u64,
    /// Events waiting (including the one being sent).
    pub pending: usize,
}

struct Queue {
    items: VecDeque<(EventPath, Arc<Vec<u8>>)>,
    in_flight: bool,
    stats: ObserverStats,
}

struct ObserverLane {
    spec: ObserverSpec,
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// Sends events to every registered observer.
pub struct Dispatcher {
    lanes: Mutex<Vec<Arc<ObserverLane>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shutdown: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

impl Dispatcher {
    /// A dispatcher for `observers`, with its delivery threads started.
    pub fn new(observers: &[ObserverSpec]) -> Self {
        let dispatcher = Dispatcher {
            lanes: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            shutdown: Arc::new(AtomicBool::new(false)),
            paused: Arc::new(AtomicBool::new(false)),
        };
        for spec in observers {
            dispatcher.add_observer(spec.clone());
        }
        dispatcher
    }

    /// Registers another observer; it receives events produced from now on.
    pub fn add_observer(&self, spec: ObserverSpec) {
        let lane = Arc::new(ObserverLane {
            spec,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                in_flight: false,
                stats: ObserverStats::default(),
            }),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&lane);
        let shutdown = Arc::clone(&self.shutdown);
        let paused = Arc::clone(&self.paused);
        let handle = std::thread::Builder::new()
            .name(format!("mock-node-observer-{}", lane.spec.endpoint))
            .spawn(move || deliver_loop(&worker, &shutdown, &paused));
        if let Ok(handle) = handle {
            lock(&self.threads).push(handle);
        }
        lock(&self.lanes).push(lane);
    }

    /// Whether some observer would receive `path`.
    pub fn has_observer_for(&self, path: EventPath) -> bool {
        lock(&self.lanes)
            .iter()
            .any(|lane| path.wanted_by(&lane.spec.keys))
    }

    /// Queues `body` for every observer that wants `path`; returns how many.
    pub fn dispatch(&self, path: EventPath, body: Vec<u8>) -> usize {
        let body = Arc::new(body);
        let mut count = 0;
        for lane in lock(&self.lanes).iter() {
            if path.wanted_by(&lane.spec.keys) {
                lock(&lane.queue).items.push_back((path, Arc::clone(&body)));
                lane.wake.notify_all();
                count += 1;
            }
        }
        count
    }

    /// Each observer's endpoint and counters.
    pub fn stats(&self) -> Vec<(String, ObserverStats)> {
        lock(&self.lanes)
            .iter()
            .map(|lane| {
                let q = lock(&lane.queue);
                let mut stats = q.stats.clone();
                stats.pending = q.items.len();
                (lane.spec.endpoint.clone(), stats)
            })
            .collect()
    }

    /// Waits until every queued event was delivered (or dropped); `false` on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let lanes: Vec<_> = lock(&self.lanes).clone();
        for lane in lanes {
            let mut q = lock(&lane.queue);
            while !q.items.is_empty() {
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                q = match lane.wake.wait_timeout(q, deadline - now) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
        }
        true
    }

    /// Pauses delivery: events are queued, none is sent (an event being sent when this is
    /// called is still delivered), until [`Dispatcher::resume`].
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Whether delivery is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Reorders each observer's queued events as `replay` says, then resumes delivery.
    pub fn resume(&self, replay: EventReplay) {
        for lane in lock(&self.lanes).iter() {
            let mut q = lock(&lane.queue);
            // An event whose delivery is under way keeps its place at the front.
            let skip = usize::from(q.in_flight);
            let items = q.items.make_contiguous();
            if items.len() > skip {
                replay.apply(&mut items[skip..]);
            }
        }
        self.paused.store(false, Ordering::SeqCst);
        for lane in lock(&self.lanes).iter() {
            lane.wake.notify_all();
        }
    }

    /// Stops every delivery thread (undelivered events are abandoned).
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for lane in lock(&self.lanes).iter() {
            lane.wake.notify_all();
        }
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn deliver_loop(lane: &ObserverLane, shutdown: &AtomicBool, paused: &AtomicBool) {
    let timeout = Duration::from_millis(lane.spec.timeout_ms.max(1));
    loop {
        let next = {
            let mut q = lock(&lane.queue);
            loop {
                if shutdown.load(Ordering::SeqCst) {
                    return;
                }
                if !paused.load(Ordering::SeqCst) {
                    if let Some(item) = q.items.front().cloned() {
                        q.in_flight = true;
                        break item;
                    }
                }
                q = match lane.wake.wait_timeout(q, Duration::from_millis(200)) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
        };
        let (path, body) = next;
        let mut backoff = Duration::from_millis(100);
        let mut attempt: u64 = 0;
        let delivered = loop {
            if shutdown.load(Ordering::SeqCst) {
                return;
            }
            match post(&lane.spec.endpoint, path.path(), &body, timeout) {
                Ok(200) => break true,
                _ => {
                    lock(&lane.queue).stats.failed_attempts += 1;
                    if lane.spec.disable_retries {
                        break false;
                    }
                }
            }
            attempt += 1;
            sleep_unless_shutdown(backoff, shutdown);
            let jitter = Duration::from_millis(attempt.wrapping_mul(37) % 100);
            backoff = (backoff * 2 + jitter).min(timeout * 3);
        };
        let mut q = lock(&lane.queue);
        q.items.pop_front();
        q.in_flight = false;
        if delivered {
            q.stats.delivered += 1;
        } else {
            q.stats.dropped += 1;
        }
        lane.wake.notify_all();
    }
}

fn sleep_unless_shutdown(total: Duration, shutdown: &AtomicBool) {
    let deadline = Instant::now() + total;
    while Instant::now() < deadline {
        if shutdown.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10).min(deadline - Instant::now()));
    }
}

/// Posts `body` as JSON to `http://{endpoint}{path}` and returns the status code.
///
/// The request goes out in one write on a socket with `TCP_NODELAY`, so its body never waits
/// for the observer to acknowledge its head (Nagle's algorithm against a delayed ACK).
pub fn post(endpoint: &str, path: &str, body: &[u8], timeout: Duration) -> std::io::Result<u16> {
    let addr = endpoint
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("endpoint has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {endpoint}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    stream.flush()?;
    read_status(&mut stream)
}

/// Reads the status line of an HTTP response.
fn read_status(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n") && buf.len() < 1024 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(std::io::Error::other("malformed HTTP status line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_keys_matrix() {
        let signer: Vec<String> = vec![
            "stackerdb".into(),
            "block_proposal".into(),
            "burn_blocks".into(),
        ];
        let star: Vec<String> = vec!["*".into()];
        assert!(EventPath::NewBlock.wanted_by(&[]));
        assert!(EventPath::StackerDbChunks.wanted_by(&signer));
        assert!(!EventPath::StackerDbChunks.wanted_by(&star));
        assert!(!EventPath::ProposalResponse.wanted_by(&star));
        assert!(EventPath::NewBurnBlock.wanted_by(&star));
        assert!(!EventPath::NewBurnBlock.wanted_by(&[]));
    }
}
