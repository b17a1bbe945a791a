//! Stopping an event receiver from another thread.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::http::dialable;

/// Something that tells a running event receiver to stop.
pub trait EventStopSignaler {
    /// Asks the receiver to stop; it returns from its loop soon after.
    fn send(&mut self);
}

/// Stops a [`super::SignerEventReceiver`]: sets its stop flag, then wakes its blocked
/// `recv` with a `POST /shutdown` to its own address.
#[derive(Debug, Clone)]
pub struct SignerStopSignaler {
    stop_flag: Arc<AtomicBool>,
    local_addr: SocketAddr,
}

/// How long waking the receiver may take before we give up (the flag is set regardless).
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl SignerStopSignaler {
    /// A signaler for the receiver owning `stop_flag` and listening on `local_addr`.
    pub fn new(stop_flag: Arc<AtomicBool>, local_addr: SocketAddr) -> Self {
        Self {
            stop_flag,
            local_addr,
        }
    }

    fn wake_receiver(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&dialable(self.local_addr), WAKE_TIMEOUT)?;
        stream.set_write_timeout(Some(WAKE_TIMEOUT))?;
        let body = "stop";
        let request = format!(
            "POST /shutdown HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
            self.local_addr,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        stream.flush()
    }
}

impl EventStopSignaler for SignerStopSignaler {
    fn send(&mut self) {
        self.stop_flag.store(true, Ordering::SeqCst);
        if let Err(e) = self.wake_receiver() {
            // The receiver also checks the flag on its own; it stops at its next wake-up.
            eprintln!(
                "libsigner: could not wake the event receiver at {}: {e}",
                self.local_addr
            );
        }
    }
}
