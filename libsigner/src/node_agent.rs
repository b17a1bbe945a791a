//! The HTTP agent a signer talks to its Stacks node with: ureq, over TCP sockets that
//! acknowledge what they receive at once.
//!
//! Why: a server that writes an answer's head and body in two writes with Nagle's algorithm
//! on sends the body only once the client has acknowledged the head. On a kept-alive
//! connection Linux delays that acknowledgement (up to 40 ms, "delayed ACK"), so every answer
//! would take 40 ms or more. Setting `TCP_QUICKACK` before each read makes the kernel
//! acknowledge the head as soon as it is read, and the body follows immediately; the
//! connection stays pooled. Linux resets the option by itself (whenever the socket sends
//! right after receiving), hence "before each read". On other systems the option does not
//! exist and the socket behaves as ureq's own.
//!
//! The transport is otherwise ureq's plain TCP transport: `TCP_NODELAY` (ureq's default),
//! connect/read/write timeouts from ureq's timeout budget, TLS through ureq's rustls
//! connector for `https` URLs. Proxies are not supported (the signer's agents disable them).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ureq::config::Config;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, RustlsConnector,
    ShutdownHandle, Transport,
};
use ureq::{Agent, Error, Timeout};

/// An agent with `config` whose connections acknowledge received data at once (see the
/// module documentation).
pub fn node_agent(config: Config) -> Agent {
    Agent::with_parts(
        config,
        QuickAckConnector.chain(RustlsConnector::default()),
        DefaultResolver::default(),
    )
}

/// Opens the TCP connection (the first link of the connector chain).
#[derive(Debug)]
struct QuickAckConnector;

impl Connector<()> for QuickAckConnector {
    type Out = QuickAckTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, Error> {
        let timeout = details.timeout.not_zero().map(|t| *t);
        let mut last_error = None;
        for addr in details.addrs.iter() {
            let connected = match timeout {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(addr),
            };
            match connected {
                Ok(stream) => {
                    if details.config.no_delay() {
                        stream.set_nodelay(true)?;
                    }
                    let transport = QuickAckTransport {
                        stream: Arc::new(stream),
                        buffers: LazyBuffers::new(
                            details.config.input_buffer_size(),
                            details.config.output_buffer_size(),
                        ),
                        read_timeout: None,
                        write_timeout: None,
                    };
                    let handle: Weak<dyn ShutdownHandle> =
                        Arc::downgrade(&transport.stream) as Weak<dyn ShutdownHandle>;
                    (details.register_shutdown)(handle)?;
                    return Ok(Some(transport));
                }
                Err(e) if is_timeout(&e) => {
                    last_error = Some(Error::Timeout(details.timeout.reason))
                }
                Err(e) => last_error = Some(Error::Io(e)),
            }
        }
        Err(last_error.unwrap_or(Error::ConnectionFailed))
    }
}

/// A TCP connection that sets `TCP_QUICKACK` before every read.
struct QuickAckTransport {
    /// Shared (weakly) with the agent's shutdown handle.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The timeouts currently set on the socket, to skip redundant system calls.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for QuickAckTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuickAckTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// The socket timeout for the next I/O, or the timeout error if the budget is spent.
fn io_limit(timeout: &NextTimeout) -> Result<Option<Duration>, Error> {
    if timeout.after.is_zero() {
        return Err(Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|t| *t))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn io_error(e: io::Error, reason: Timeout) -> Error {
    if is_timeout(&e) {
        Error::Timeout(reason)
    } else {
        Error::Io(e)
    }
}

/// Asks the kernel to acknowledge received data at once (Linux); best effort.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quick_ack(_stream: &TcpStream) {}

impl Transport for QuickAckTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = timeout.for_write();
        let limit = io_limit(&timeout)?;
        if limit != self.write_timeout {
            self.stream.set_write_timeout(limit)?;
            self.write_timeout = limit;
        }
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = timeout.for_read();
        let limit = io_limit(&timeout)?;
        if limit != self.read_timeout {
            self.stream.set_read_timeout(limit)?;
            self.read_timeout = limit;
        }
        quick_ack(&self.stream);
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| io_error(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open and idle: nothing to read, and reading would block.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let idle = matches!(
            self.stream.peek(&mut byte),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        self.stream.set_nonblocking(false).is_ok() && idle
    }
}
