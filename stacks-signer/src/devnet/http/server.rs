//! The mock node's HTTP/1.1 server: every accepted connection gets its own thread at once
//! and is kept alive between requests, as the node's own server does.
//!
//! tiny_http 0.12 (used before) hands accepted connections to a thread pool whose
//! bookkeeping can queue a new connection behind kept-alive ones: when two connections
//! arrive while one pool thread is about to wake, the second waits until some other
//! connection closes. Signers keep their connections alive (ureq drops an idle one after
//! 15 s), so on a loaded machine a signer's request could wait 15 to 20 s for its first
//! byte, and a devnet block missed that signer's vote.
//!
//! Bounds: request heads of at most [`MAX_HEAD_LEN`] bytes, bodies of at most
//! [`MAX_BODY_LEN`] bytes (a longer one is cut there, flagged `body_too_long`, answered, and
//! its connection closed), at most [`MAX_CONNECTIONS`] connections at once (more are closed
//! as they arrive), and a request (or the wait for the next one on an idle connection)
//! must arrive within [`REQUEST_DEADLINE`]. At most `handlers` requests are answered at
//! once (`http_threads`); the others wait their turn, as on a node with a fixed pool.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Reply, Request, MAX_BODY_LEN};
use crate::devnet::overrides::reason_phrase;

/// The largest request line plus headers.
pub const MAX_HEAD_LEN: usize = 64 * 1024;

/// How many connections may be open at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client has to send a whole request, counted from the end of the previous one
/// on its connection (so it is also how long an idle kept-alive connection stays open).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(120);

/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// How long, and how many bytes, a connection closed by the server is read after its last
/// answer (see [`serve_connection`]).
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_LEN: u64 = 4 * MAX_BODY_LEN as u64;

/// How long writing an answer may take (a client that stops reading is dropped).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers one request.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server; [`HttpServer::stop`] (or dropping it) closes every connection and
/// waits for the threads.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Connections>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Connections {
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    next_id: u64,
    by_id: HashMap<u64, (TcpStream, JoinHandle<()>)>,
}

/// A counting gate: no more callers inside [`Gate::pass`] at once than it has permits.
struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A permit taken from a [`Gate`], given back when dropped (even if the handler panics).
struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

impl Gate {
    /// Runs `f` once a permit is free.
    fn pass<R>(&self, f: impl FnOnce() -> R) -> R {
        let _permit = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            while *free == 0 {
                free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
            }
            *free -= 1;
            Permit(self)
        };
        f()
    }
}

impl HttpServer {
    /// Serves `listener` with `handler`, at most `handlers` requests at a time.
    pub fn start(listener: TcpListener, handlers: usize, handler: Handler) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Connections::default());
        let gate = Arc::new(Gate {
            free: Mutex::new(handlers.max(1)),
            freed: Condvar::new(),
        });
        let accept = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name("mock-node-http-accept".into())
                .spawn(move || accept_loop(&listener, &stop, &connections, &gate, &handler))?
        };
        Ok(HttpServer {
            addr,
            stop,
            connections,
            accept: Some(accept),
        })
    }

    /// Stops accepting, cuts every open connection and waits for all threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(accept) = self.accept.take() else {
            return;
        };
        // The accept loop blocks in accept(): a connection of our own wakes it. Should that
        // fail, the thread is left to end with the process rather than waited for forever.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = accept.join();
        }
        let open: Vec<(TcpStream, JoinHandle<()>)> = {
            let mut open = self.connections.lock();
            open.by_id.drain().map(|(_, c)| c).collect()
        };
        for (stream, _) in &open {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, thread) in open {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenConnections> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &Arc<AtomicBool>,
    connections: &Arc<Connections>,
    gate: &Arc<Gate>,
    handler: &Handler,
) {
    for incoming in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = incoming else {
            // Out of descriptors and the like: back off rather than spin.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let Ok(tracked) = stream.try_clone() else {
            continue;
        };
        let mut open = connections.lock();
        if open.by_id.len() >= MAX_CONNECTIONS {
            continue;
        }
        let id = open.next_id;
        open.next_id += 1;
        let thread = {
            let stop = Arc::clone(stop);
            let connections = Arc::clone(connections);
            let gate = Arc::clone(gate);
            let handler = Arc::clone(handler);
            std::thread::Builder::new()
                .name("mock-node-http".into())
                .spawn(move || {
                    serve_connection(stream, &stop, &gate, &handler);
                    connections.lock().by_id.remove(&id);
                })
        };
        if let Ok(thread) = thread {
            open.by_id.insert(id, (tracked, thread));
        }
    }
}

/// Reads from the socket, waiting through read timeouts until the request deadline or
/// the stop flag.
struct PatientReader<'a> {
    stream: TcpStream,
    stop: &'a AtomicBool,
    deadline: Instant,
}

impl Read for PatientReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.stop.load(Ordering::SeqCst) || Instant::now() >= self.deadline {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "request deadline"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

fn serve_connection(stream: TcpStream, stop: &AtomicBool, gate: &Gate, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(PatientReader {
        stream,
        stop,
        deadline: Instant::now(),
    });
    while !stop.load(Ordering::SeqCst) {
        reader.get_mut().deadline = Instant::now() + REQUEST_DEADLINE;
        let (reply, keep_alive) = match read_request(&mut reader, &mut writer) {
            Ok(None) => return,
            Ok(Some((request, keep_alive))) => (gate.pass(|| handler(&request)), keep_alive),
            Err(Refusal(status)) => (Reply::text(status, reason_phrase(status)), false),
        };
        if write_reply(&mut writer, &reply, !keep_alive).is_err() {
            return;
        }
        if !keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            // Closing with unread input would reset the connection, and the client could
            // lose the answer: read (a bounded amount of) what it still sends.
            reader.get_mut().deadline = Instant::now() + DRAIN_TIME;
            let _ = io::copy(&mut reader.take(DRAIN_LEN), &mut io::sink());
            return;
        }
    }
}

/// A request the server answers itself with this status, then closes the connection.
struct Refusal(u16);

/// Reads the next request and whether the connection stays open after its answer;
/// `Ok(None)` when the client closed (or went quiet) between requests, or the connection
/// broke mid-request (nothing to answer then).
fn read_request(
    reader: &mut BufReader<PatientReader<'_>>,
    writer: &mut TcpStream,
) -> Result<Option<(Request, bool)>, Refusal> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let head = String::from_utf8(head).map_err(|_| Refusal(400))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal(400));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(Refusal(505)),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Refusal(400));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Refusal(400))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let connection = header("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let keep_alive = if http11 {
        !connection.split(',').any(|t| t.trim() == "close")
    } else {
        connection.split(',').any(|t| t.trim() == "keep-alive")
    };
    if http11
        && header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return Ok(None);
    }
    let chunked = header("transfer-encoding").is_some_and(|v| {
        v.to_ascii_lowercase()
            .split(',')
            .any(|t| t.trim() == "chunked")
    });
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let length = match header("content-length") {
            None => 0,
            Some(v) => v.parse::<u64>().map_err(|_| Refusal(400))?,
        };
        read_exact_up_to(reader, length)
    };
    let Some((body, complete)) = body else {
        return Ok(None);
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body_too_long: !complete,
        body,
    };
    // The rest of a body cut short is never read: the connection cannot carry another request.
    Ok(Some((request, keep_alive && complete)))
}

/// Reads up to the blank line ending a request head; `Ok(None)` if the connection ends
/// before a whole head arrived.
fn read_head(reader: &mut impl BufRead) -> Result<Option<Vec<u8>>, Refusal> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let room = (MAX_HEAD_LEN + 1).saturating_sub(head.len()) as u64;
        match reader.by_ref().take(room).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
        let blank = line == b"\r\n" || line == b"\n";
        if blank && head.is_empty() {
            // Tolerated before a request line (RFC 9112 §2.2).
            continue;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD_LEN {
            return Err(Refusal(431));
        }
        if blank {
            return Ok(Some(head));
        }
        if !line.ends_with(b"\n") {
            return Ok(None);
        }
    }
}

/// Reads a `Content-Length` body: the body and whether it was whole (at most
/// [`MAX_BODY_LEN`] bytes); `None` if the connection ends first.
fn read_exact_up_to(reader: &mut impl Read, length: u64) -> Option<(Vec<u8>, bool)> {
    let wanted = length.min(MAX_BODY_LEN as u64 + 1);
    let mut body = Vec::new();
    match reader.take(wanted).read_to_end(&mut body) {
        Ok(n) if n as u64 == wanted => Some((body, length <= MAX_BODY_LEN as u64)),
        _ => None,
    }
}

/// Reads a chunked body (trailers skipped), cut at [`MAX_BODY_LEN`] + 1 bytes.
fn read_chunked(reader: &mut impl BufRead) -> Result<Option<(Vec<u8>, bool)>, Refusal> {
    let mut body = Vec::new();
    loop {
        let mut size_line = Vec::new();
        match reader.by_ref().take(1024).read_until(b'\n', &mut size_line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
        let text = std::str::from_utf8(&size_line).map_err(|_| Refusal(400))?;
        let size_text = text.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| Refusal(400))?;
        if size == 0 {
            // Trailers end with a blank line.
            loop {
                let mut line = Vec::new();
                match reader.by_ref().take(8192).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return Ok(None),
                    Ok(_) if line == b"\r\n" || line == b"\n" => return Ok(Some((body, true))),
                    Ok(_) => {}
                }
            }
        }
        let room = (MAX_BODY_LEN as u64 + 1).saturating_sub(body.len() as u64);
        if size > room {
            let mut tail = Vec::new();
            let _ = reader.take(room).read_to_end(&mut tail);
            body.extend_from_slice(&tail);
            return Ok(Some((body, false)));
        }
        match reader.by_ref().take(size).read_to_end(&mut body) {
            Ok(n) if n as u64 == size => {}
            _ => return Ok(None),
        }
        let mut crlf = Vec::new();
        match reader.by_ref().take(2).read_until(b'\n', &mut crlf) {
            Ok(_) if crlf == b"\r\n" || crlf == b"\n" => {}
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => return Err(Refusal(400)),
        }
    }
}

/// Writes an answer in one write (head and body together, so no write waits on the
/// client's delayed ACK).
fn write_reply(writer: &mut TcpStream, reply: &Reply, close: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
        reply.status,
        reason_phrase(reply.status),
        reply.content_type,
        reply.body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(&reply.body);
    writer.write_all(&out)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answering `200` with `method path?query len(body)`, and its address.
    fn echo_server(handlers: usize) -> (HttpServer, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Handler = Arc::new(|r: &Request| {
            Reply::text(
                200,
                format!(
                    "{} {}?{} {} {}",
                    r.method,
                    r.path,
                    r.query,
                    r.body.len(),
                    r.body_too_long
                ),
            )
        });
        (
            HttpServer::start(listener, handlers, handler).unwrap(),
            addr,
        )
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// A connection as a writer and a buffered reader.
    fn open(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
        let stream = connect(addr);
        (stream.try_clone().unwrap(), BufReader::new(stream))
    }

    /// Reads one answer (head and `Content-Length` body): status, head, body.
    fn read_answer(reader: &mut BufReader<TcpStream>) -> (u16, String, String) {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "closed mid-answer"
            );
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (status, head, String::from_utf8(body).unwrap())
    }

    fn closed(reader: &mut BufReader<TcpStream>) -> bool {
        let mut rest = Vec::new();
        matches!(reader.read_to_end(&mut rest), Ok(0))
    }

    #[test]
    fn one_connection_carries_many_requests_and_bodies_of_either_framing() {
        let (_server, addr) = echo_server(4);
        let (mut writer, mut reader) = open(addr);
        for i in 0..50 {
            write!(writer, "GET /v2/info?n={i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let (status, _, body) = read_answer(&mut reader);
            assert_eq!((status, body), (200, format!("GET /v2/info?n={i} 0 false")));
        }
        writer
            .write_all(b"GET /bare-lf HTTP/1.1\nHost: x\n\n")
            .unwrap();
        assert_eq!(read_answer(&mut reader).2, "GET /bare-lf? 0 false");
        writer
            .write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        assert_eq!(read_answer(&mut reader).2, "POST /a? 5 false");
        writer
            .write_all(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n")
            .unwrap();
        assert_eq!(read_answer(&mut reader).2, "POST /b? 7 false");
        writer
            .write_all(b"POST /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        let mut interim = String::new();
        reader.read_line(&mut interim).unwrap();
        assert_eq!(interim, "HTTP/1.1 100 Continue\r\n");
        reader.read_line(&mut interim).unwrap();
        writer.write_all(b"ok").unwrap();
        assert_eq!(read_answer(&mut reader).2, "POST /c? 2 false");
    }

    #[test]
    fn connection_close_and_http_1_0_end_the_connection_after_the_answer() {
        let (_server, addr) = echo_server(4);
        for request in [
            "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /x HTTP/1.0\r\n\r\n",
        ] {
            let (mut writer, mut reader) = open(addr);
            writer.write_all(request.as_bytes()).unwrap();
            let (status, head, _) = read_answer(&mut reader);
            assert_eq!(status, 200);
            assert!(head.contains("Connection: close\r\n"), "{head}");
            assert!(closed(&mut reader), "{request:?} left the connection open");
        }
    }

    #[test]
    fn malformed_and_oversized_requests_get_an_error_and_a_closed_connection() {
        let (_server, addr) = echo_server(4);
        let huge_head = format!("GET /x HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_LEN));
        let cases: [(&[u8], u16); 5] = [
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET /x HTTP/2.0\r\n\r\n", 505),
            (b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nContent-Length: many\r\n\r\n", 400),
            (huge_head.as_bytes(), 431),
        ];
        for (request, expected) in cases {
            let (mut writer, mut reader) = open(addr);
            writer.write_all(request).unwrap();
            let (status, _, _) = read_answer(&mut reader);
            assert_eq!(status, expected, "{:?}", String::from_utf8_lossy(request));
            assert!(closed(&mut reader));
        }
    }

    #[test]
    fn a_body_over_the_limit_reaches_the_handler_flagged_and_cut_then_the_connection_closes() {
        let (_server, addr) = echo_server(4);
        let (mut writer, mut reader) = open(addr);
        let declared = MAX_BODY_LEN + 10;
        write!(
            writer,
            "POST /big HTTP/1.1\r\nContent-Length: {declared}\r\n\r\n"
        )
        .unwrap();
        writer.write_all(&vec![b'x'; MAX_BODY_LEN + 1]).unwrap();
        let (status, _, body) = read_answer(&mut reader);
        assert_eq!(status, 200);
        assert_eq!(body, format!("POST /big? {} true", MAX_BODY_LEN + 1));
        assert!(closed(&mut reader));
    }

    /// The failure that replaced tiny_http: connections held open by clients between
    /// requests must never keep a new connection from being answered.
    #[test]
    fn idle_kept_alive_connections_never_delay_new_connections() {
        let (_server, addr) = echo_server(2);
        let mut idle = Vec::new();
        for _ in 0..32 {
            let (mut writer, mut reader) = open(addr);
            writer.write_all(b"GET /warm HTTP/1.1\r\n\r\n").unwrap();
            assert_eq!(read_answer(&mut reader).0, 200);
            idle.push(reader);
        }
        // Connected before the server accepts any of them: a burst.
        let burst: Vec<TcpStream> = (0..32).map(|_| connect(addr)).collect();
        for stream in &burst {
            (&*stream).write_all(b"GET /new HTTP/1.1\r\n\r\n").unwrap();
        }
        for stream in burst {
            // Each read would time out (5 s) if its connection were queued behind the idle ones.
            let (status, _, body) = read_answer(&mut BufReader::new(stream));
            assert_eq!((status, body.as_str()), (200, "GET /new? 0 false"));
        }
        assert_eq!(idle.len(), 32);
    }

    #[test]
    fn stopping_cuts_idle_connections_and_returns_promptly() {
        let (mut server, addr) = echo_server(1);
        let (mut writer, mut reader) = open(addr);
        writer.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_answer(&mut reader).0, 200);
        let started = Instant::now();
        server.stop();
        assert!(closed(&mut reader));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn requests_beyond_the_handler_limit_wait_their_turn_and_all_are_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        let seen = Arc::clone(&running);
        let handler: Handler = Arc::new(move |_: &Request| {
            {
                let mut r = seen.lock().unwrap();
                r.0 += 1;
                r.1 = r.1.max(r.0);
            }
            // Long enough that the handlers overlap even on a loaded machine.
            std::thread::sleep(Duration::from_millis(200));
            seen.lock().unwrap().0 -= 1;
            Reply::text(200, "ok")
        });
        let _server = HttpServer::start(listener, 2, handler).unwrap();
        let clients: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    let stream = connect(addr);
                    let mut writer = stream.try_clone().unwrap();
                    writer.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
                    read_answer(&mut BufReader::new(stream)).0
                })
            })
            .collect();
        for c in clients {
            assert_eq!(c.join().unwrap(), 200);
        }
        assert_eq!(
            running.lock().unwrap().1,
            2,
            "at most 2 handlers ran at once"
        );
    }
}
