//! A small HTTP/1.1 server for the event receiver.
//!
//! tiny_http 0.12 (the reference's server) cannot be used safely here: when a request body is
//! not read to its declared `Content-Length`, its reader's destructor allocates a buffer of the
//! *declared* remaining size, so one request with a huge `Content-Length` panics or aborts the
//! process. This server bounds everything it reads from a client:
//! - at most [`MAX_CONNECTIONS`] requests in flight; more connections are closed at once; of
//!   those, [`RESERVED_FOR_EVENT_SOURCES`] are kept for clients allowed to send events, so a
//!   flood from elsewhere (which can only ask `/status`) cannot shut the node out;
//! - request heads of at most [`MAX_HEAD_LEN`] bytes, bodies of at most
//!   [`MAX_EVENT_BODY_LEN`] bytes (larger ones are discarded while streaming, never stored);
//! - every read has a timeout, and a request must arrive within [`REQUEST_DEADLINE`].
//!
//! Each connection is read on its own thread and carries one request
//! (`Connection: close`); the receiver answers it from its own thread. A request dropped
//! without an answer is answered `500`, as tiny_http does. A request the server's [`Admit`]
//! check refuses (by its target and the client's address) is answered `403` on its
//! connection thread, its body thrown away unstored, and never reaches the receiver.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The largest event body accepted (64 MiB: a full 16 MiB StackerDB chunk hex-encodes to
/// 32 MiB, and `/new_block` bodies carry every transaction's events). Larger bodies are
/// acknowledged and dropped with [`crate::EventError::MalformedRequest`].
pub const MAX_EVENT_BODY_LEN: usize = 64 * 1024 * 1024;

/// The largest request line plus headers.
pub(crate) const MAX_HEAD_LEN: usize = 64 * 1024;

/// How many requests may be read or waiting for an answer at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// How many of [`MAX_CONNECTIONS`] only clients allowed to send events may take.
pub(crate) const RESERVED_FOR_EVENT_SOURCES: usize = 16;

/// Whether a client's address may send events (decided at once, without waiting on DNS).
pub(crate) type EventSource = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// How long a client has to send a whole request.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// How many bytes of an oversized body are read and thrown away (so the client sees the
/// answer rather than a reset) before the connection is simply closed.
const MAX_DISCARD_LEN: u64 = 4 * MAX_EVENT_BODY_LEN as u64;

/// Timeout of each socket read or write.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// Decides, from a request's target and its client's address, whether the request may reach
/// the receiver; `false` answers it `403`.
pub(crate) type Admit = Arc<dyn Fn(&str, IpAddr) -> bool + Send + Sync>;

/// The body of a `403` answer.
const FORBIDDEN_BODY: &[u8] = b"Forbidden: this signer does not accept events from this address\n";

/// One received request: method, target, and its body (or why it could not be read).
pub(crate) struct HttpRequest {
    pub method: String,
    pub url: String,
    pub body: Result<Vec<u8>, String>,
    stream: Option<TcpStream>,
    _slot: ConnectionSlot,
}

impl HttpRequest {
    /// Answers with `status`, an optional content type and `body`, then closes.
    pub fn respond(
        mut self,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<()> {
        match self.stream.take() {
            Some(stream) => write_response(stream, status, content_type, body),
            None => Ok(()),
        }
    }
}

impl Drop for HttpRequest {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = write_response(stream, 500, None, b"");
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        _ => "",
    }
}

fn write_response(
    mut stream: TcpStream,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    match stream.shutdown(Shutdown::Write) {
        // The peer read its answer and closed first: the response was delivered.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Counts a request in flight until dropped.
struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    /// A slot if fewer than `limit` are taken.
    fn acquire(active: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(active.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A listening server; requests are taken with [`HttpServer::recv`].
pub(crate) struct HttpServer {
    local_addr: SocketAddr,
    requests: Receiver<HttpRequest>,
    closed: Arc<AtomicBool>,
}

impl HttpServer {
    /// Listens on `addr` (port 0 picks a free port); every request must pass `admit`; the
    /// last [`RESERVED_FOR_EVENT_SOURCES`] connection slots go only to clients `source`
    /// accepts.
    pub fn bind(addr: SocketAddr, admit: Admit, source: EventSource) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let closed = Arc::new(AtomicBool::new(false));
        // Rendezvous: a parsed request waits on its own thread until the receiver takes it.
        let (sender, requests) = sync_channel(0);
        let accept_closed = closed.clone();
        thread::Builder::new()
            .name(format!("event_http_accept:{}", local_addr.port()))
            .spawn(move || accept_loop(listener, sender, accept_closed, admit, source))?;
        Ok(Self {
            local_addr,
            requests,
            closed,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks for the next request.
    pub fn recv(&self) -> io::Result<HttpRequest> {
        self.requests
            .recv()
            .map_err(|_| io::Error::other("the HTTP server has stopped"))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and releases the port.
        let _ = TcpStream::connect_timeout(&dialable(self.local_addr), Duration::from_secs(1));
    }
}

/// The address to dial to reach a server bound to `addr`: a wildcard address (`0.0.0.0`,
/// `[::]`) becomes the loopback address of its family.
pub(crate) fn dialable(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    addr
}

fn accept_loop(
    listener: TcpListener,
    sender: SyncSender<HttpRequest>,
    closed: Arc<AtomicBool>,
    admit: Admit,
    source: EventSource,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept failures (e.g. out of descriptors): back off briefly.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let limit = match stream.peer_addr() {
            Ok(peer) if source(peer.ip()) => MAX_CONNECTIONS,
            _ => MAX_CONNECTIONS - RESERVED_FOR_EVENT_SOURCES,
        };
        let Some(slot) = ConnectionSlot::acquire(&active, limit) else {
            continue; // too many in flight: the stream is closed on drop
        };
        let sender = sender.clone();
        let admit = admit.clone();
        let _ = thread::Builder::new()
            .name("event_http_conn".into())
            .spawn(move || {
                if let Some(request) = read_request(stream, slot, &admit) {
                    let _ = sender.send(request);
                }
            });
    }
}

/// Reads one request; a malformed head is answered `400` here and yields `None`, as does a
/// request `admit` refuses (answered `403` by [`refuse`], its body never stored).
fn read_request(stream: TcpStream, slot: ConnectionSlot, admit: &Admit) -> Option<HttpRequest> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    let peer = stream.peer_addr().ok()?.ip();
    let reader_stream = stream.try_clone().ok()?;
    let mut reader = BufReader::new(DeadlineReader {
        stream: reader_stream,
        deadline,
    });
    let head = match read_head(&mut reader) {
        Ok(head) => head,
        Err(_) => {
            let _ = write_response(stream, 400, None, b"");
            return None;
        }
    };
    if !admit(&head.url, peer) {
        refuse(&mut reader, &head, stream);
        return None;
    }
    let body = read_body(&mut reader, &head);
    Some(HttpRequest {
        method: head.method,
        url: head.url,
        body,
        stream: Some(stream),
        _slot: slot,
    })
}

/// Answers a refused request `403`. A body announced by `Content-Length` is read and thrown
/// away first (bounded as any body), so that the client sees the answer rather than a
/// connection reset; nothing of it is stored. A client that waits for `100 Continue` is
/// answered at once and sends no body; a chunked body is not read.
fn refuse(reader: &mut BufReader<DeadlineReader>, head: &RequestHead, stream: TcpStream) {
    if !head.expects_continue {
        if let Some(length) = head.content_length {
            discard(reader, length.min(MAX_DISCARD_LEN));
        }
    }
    let _ = write_response(
        stream,
        403,
        Some("text/plain; charset=UTF-8"),
        FORBIDDEN_BODY,
    );
}

/// A socket reader that fails once the request deadline has passed.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request deadline"));
        }
        self.stream.set_read_timeout(Some(left.min(IO_TIMEOUT)))?;
        self.stream.read(buf)
    }
}

struct RequestHead {
    method: String,
    url: String,
    content_length: Option<u64>,
    chunked: bool,
    expects_continue: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one CRLF- (or LF-) terminated line within the remaining head budget.
fn read_line<R: BufRead>(reader: &mut R, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut line)?;
    *budget = budget.saturating_sub(read);
    if line.last() != Some(&b'\n') {
        return Err(bad("request head too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("request head is not UTF-8"))
}

fn read_head<R: BufRead>(reader: &mut R) -> io::Result<RequestHead> {
    let mut budget = MAX_HEAD_LEN;
    let request_line = read_line(reader, &mut budget)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(url), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("bad request line"));
    };
    if method.is_empty() || !url.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(bad("bad request line"));
    }
    let mut head = RequestHead {
        method: method.to_string(),
        url: url.to_string(),
        content_length: None,
        chunked: false,
        expects_continue: false,
    };
    loop {
        let line = read_line(reader, &mut budget)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value.parse().map_err(|_| bad("bad Content-Length"))?;
            if head.content_length.is_some_and(|seen| seen != length) {
                return Err(bad("conflicting Content-Length"));
            }
            head.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("expect") {
            head.expects_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    Ok(head)
}

fn too_large() -> String {
    format!("Body exceeds the limit of {MAX_EVENT_BODY_LEN} bytes")
}

/// The body, bounded by [`MAX_EVENT_BODY_LEN`]; an error text if it is too large or cannot be
/// read whole.
fn read_body(
    reader: &mut BufReader<DeadlineReader>,
    head: &RequestHead,
) -> Result<Vec<u8>, String> {
    if head.expects_continue {
        let _ = reader
            .get_mut()
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if head.chunked {
        return read_chunked(reader);
    }
    let Some(length) = head.content_length else {
        return Ok(Vec::new());
    };
    if length > MAX_EVENT_BODY_LEN as u64 {
        discard(reader, length.min(MAX_DISCARD_LEN));
        return Err(too_large());
    }
    let mut body = Vec::new();
    reader
        .take(length)
        .read_to_end(&mut body)
        .map_err(|e| format!("Failed to read body: {e}"))?;
    if body.len() as u64 != length {
        return Err(format!(
            "Body truncated: {} of {length} bytes received",
            body.len()
        ));
    }
    Ok(body)
}

fn discard<R: Read>(reader: &mut R, at_most: u64) {
    let _ = io::copy(&mut reader.take(at_most), &mut io::sink());
}

fn read_chunked<R: BufRead>(reader: &mut R) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(reader, &mut budget).map_err(|e| format!("Bad chunk size: {e}"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| "Bad chunk size".to_string())?;
        if size == 0 {
            // Trailers, up to the empty line.
            let mut budget = MAX_HEAD_LEN;
            while !read_line(reader, &mut budget)
                .map_err(|e| format!("Bad chunk trailer: {e}"))?
                .is_empty()
            {}
            return Ok(body);
        }
        if (body.len() as u64).saturating_add(size) > MAX_EVENT_BODY_LEN as u64 {
            discard(reader, MAX_DISCARD_LEN);
            return Err(too_large());
        }
        let before = body.len();
        reader
            .take(size)
            .read_to_end(&mut body)
            .map_err(|e| format!("Failed to read body: {e}"))?;
        if (body.len() - before) as u64 != size {
            return Err("Body truncated".to_string());
        }
        let mut budget = 2;
        if !read_line(reader, &mut budget)
            .map_err(|_| "Bad chunk end".to_string())?
            .is_empty()
        {
            return Err("Bad chunk end".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> io::Result<RequestHead> {
        read_head(&mut raw.as_bytes())
    }

    #[test]
    fn request_heads_parse_method_target_and_body_framing() {
        let parsed =
            head("POST /new_block HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert_eq!(parsed.method, "POST");
        assert_eq!(parsed.url, "/new_block");
        assert_eq!(parsed.content_length, Some(12));
        assert!(!parsed.chunked);
        let parsed =
            head("GET /status HTTP/1.0\nTransfer-Encoding: Chunked\nExpect: 100-continue\n\n")
                .unwrap();
        assert!(parsed.chunked);
        assert!(parsed.expects_continue);
        assert_eq!(parsed.content_length, None);
    }

    #[test]
    fn malformed_heads_are_refused() {
        for raw in [
            "",
            "POST /x HTTP/1.1\r\n",                           // no end of head
            "POST /x\r\n\r\n",                                // no version
            "POST x HTTP/1.1\r\n\r\n",                        // target not a path
            "POST /x HTTP/2\r\n\r\n",                         // not HTTP/1.x
            "POST /x HTTP/1.1 extra\r\n\r\n",                 // too many parts
            "POST /x HTTP/1.1\r\nno colon\r\n\r\n",           // bad header
            "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", // bad length
            "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(head(raw).is_err(), "{raw:?}");
        }
        let endless = format!("POST /x HTTP/1.1\r\n{}", "A: b\r\n".repeat(20_000));
        assert!(head(&endless).is_err());
        let bad_utf8 = b"POST /\xff HTTP/1.1\r\n\r\n";
        assert!(read_head(&mut &bad_utf8[..]).is_err());
    }

    #[test]
    fn chunked_bodies_decode_and_are_bounded() {
        let body = read_chunked(&mut &b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"[..]);
        assert_eq!(body.unwrap(), b"abcde");
        assert!(read_chunked(&mut &b"zz\r\n"[..]).is_err());
        assert!(read_chunked(&mut &b"5\r\nab"[..]).is_err());
        assert!(read_chunked(&mut &b"2\r\nabXX0\r\n\r\n"[..]).is_err());
        assert!(read_chunked(&mut &b"ffffffffffffffff\r\nab"[..])
            .unwrap_err()
            .contains("limit"));
        assert!(read_chunked(&mut &b"1\r\na\r\nffffffffffffffff\r\nab"[..])
            .unwrap_err()
            .contains("limit"));
    }
}
