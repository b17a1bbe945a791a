//! The HTTP endpoint the node's event dispatcher POSTs to.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use slog::{debug, error, info, o, warn, Logger};

use crate::error::EventError;
use crate::stackerdb::StackerDBChunksEvent;

use super::http::{Admit, HttpRequest, HttpServer};
use super::payloads::{BlockValidateResponse, BurnBlockEvent, StacksBlockEvent};
use super::sources::SourceFilter;
use super::stop::{EventStopSignaler, SignerStopSignaler};
use super::{SignerEvent, SignerEventTrait};

/// A source of [`SignerEvent`]s that forwards them to consumers until stopped.
pub trait EventReceiver<T: SignerEventTrait> {
    /// What stops this receiver from another thread.
    type ST: EventStopSignaler + Send + Sync;

    /// Starts listening on `addr`; returns the address actually bound (so port 0 works).
    fn bind(&mut self, addr: SocketAddr) -> Result<SocketAddr, EventError>;

    /// Blocks for the next request and turns it into an event.
    fn next_event(&mut self) -> Result<SignerEvent<T>, EventError>;

    /// Adds a channel every event is forwarded to.
    fn add_consumer(&mut self, event_out: Sender<SignerEvent<T>>);

    /// Sends `event` to every consumer; `false` if there is none or one has hung up.
    fn forward_event(&mut self, event: SignerEvent<T>) -> bool;

    /// Whether the receiver has been told to stop.
    fn is_stopped(&self) -> bool;

    /// A handle that stops this receiver; requires [`EventReceiver::bind`] first.
    fn get_stop_signaler(&mut self) -> Result<Self::ST, EventError>;

    /// Where [`EventReceiver::main_loop`] logs; nowhere unless the receiver says otherwise.
    fn logger(&self) -> Logger {
        Logger::root(slog::Discard, o!())
    }

    /// Receives and forwards events until stopped or until a consumer hangs up.
    /// Requests that are not events are skipped; bodies that do not decode are logged and
    /// skipped.
    fn main_loop(&mut self) {
        let logger = self.logger();
        while !self.is_stopped() {
            match self.next_event() {
                Ok(event) => {
                    if !self.forward_event(event) {
                        info!(logger, "Failed to forward event");
                        break;
                    }
                }
                Err(EventError::UnrecognizedEvent(_)) => continue,
                Err(EventError::Terminated) => {
                    info!(logger, "Caught termination signal");
                    break;
                }
                Err(e) => {
                    // `next_event` logged it (a warning at most once a minute).
                    debug!(logger, "Failed to receive next event: {e:?}");
                    continue;
                }
            }
        }
        info!(logger, "Event receiver main loop exit");
    }
}

/// The event receiver of a signer: an HTTP server for the node's event dispatcher.
///
/// Everything read from a client is bounded: bodies of at most [`crate::MAX_EVENT_BODY_LEN`]
/// bytes, request heads of at most 64 KiB, 64 requests in flight (16 of them kept for
/// clients allowed to send events), a 60 s deadline per
/// request; each connection is read on its own thread, so a slow client delays no one.
///
/// Endpoints (exact paths; a query string makes a path unknown):
/// - `/status`, any method: answers `200 OK` and yields [`SignerEvent::StatusCheck`];
/// - any other non-POST request: dropped unanswered, which sends `500` (as tiny_http);
/// - POST `/stackerdb_chunks`, `/proposal_response`, `/new_burn_block`, `/new_block`: answered
///   `200` (empty) **before** the body is decoded, so the node never retries an event that
///   does not decode; the body then becomes an event or an error;
/// - POST `/shutdown`: stops the receiver;
/// - POST to any other path: `200`, yielding [`EventError::UnrecognizedEvent`].
///
/// Every request but `/status` must come from a client its [`SourceFilter`] admits (by
/// default every client, as the reference); any other is answered `403` and yields no event.
/// Refusals are counted ([`SignerEventReceiver::refused_requests`]) and logged at most once
/// per source per minute. Requests dropped because they are not valid events (malformed,
/// oversized, truncated, undecodable) are logged as a warning at most once a minute, with
/// the number dropped since the last one; the others are debug lines.
pub struct SignerEventReceiver<T: SignerEventTrait> {
    http_server: Option<HttpServer>,
    source_filter: SourceFilter,
    local_addr: Option<SocketAddr>,
    out_channels: Vec<Sender<SignerEvent<T>>>,
    stop_flag: Arc<AtomicBool>,
    is_mainnet: bool,
    logger: Logger,
    dropped: DropLog,
    phantom: PhantomData<T>,
}

/// How often a dropped request is logged as a warning: anyone may send the endpoint
/// garbage, and one warning per request would let them fill the log.
pub const DROPPED_REQUEST_WARNING_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(60);

/// Requests dropped since the last warning about one.
#[derive(Debug, Default)]
struct DropLog {
    last_warning: Option<std::time::Instant>,
    not_logged: u64,
}

impl DropLog {
    /// Whether this drop is logged as a warning; if so, how many were not since the last.
    fn warn_now(&mut self, now: std::time::Instant) -> Option<u64> {
        let due = self
            .last_warning
            .is_none_or(|at| now.saturating_duration_since(at) >= DROPPED_REQUEST_WARNING_INTERVAL);
        if due {
            self.last_warning = Some(now);
            Some(std::mem::take(&mut self.not_logged))
        } else {
            self.not_logged += 1;
            None
        }
    }
}

impl<T: SignerEventTrait> SignerEventReceiver<T> {
    /// An unbound receiver for mainnet or testnet events; logs nothing until
    /// [`SignerEventReceiver::set_logger`].
    pub fn new(is_mainnet: bool) -> Self {
        Self {
            http_server: None,
            source_filter: SourceFilter::allow_all(),
            local_addr: None,
            out_channels: vec![],
            stop_flag: Arc::new(AtomicBool::new(false)),
            is_mainnet,
            logger: Logger::root(slog::Discard, o!()),
            dropped: DropLog::default(),
            phantom: PhantomData,
        }
    }

    /// Logs requests, dropped bodies and stops to `logger`.
    pub fn set_logger(&mut self, logger: Logger) {
        self.logger = logger;
    }

    /// Accepts events only from clients `filter` admits (`/status` stays open to every
    /// client). Takes effect at [`EventReceiver::bind`]; set it before.
    pub fn set_source_filter(&mut self, filter: SourceFilter) {
        self.source_filter = filter;
    }

    /// The clients this receiver accepts events from (a handle: clones share its refusal
    /// counter).
    pub fn source_filter(&self) -> &SourceFilter {
        &self.source_filter
    }

    /// How many requests were refused (`403`) because of their client's address.
    pub fn refused_requests(&self) -> u64 {
        self.source_filter.refused_requests()
    }

    /// The check every request passes before it is read further: `/status` is open to all;
    /// once the receiver is stopping anything is let through (the stop signaler's wake-up
    /// comes from the receiver's own address, and the receiver then drops it); otherwise
    /// the source filter decides, and a refusal is counted and logged (rate-limited).
    fn admit_check(&self) -> Admit {
        let filter = self.source_filter.clone();
        let stop_flag = self.stop_flag.clone();
        let logger = self.logger.clone();
        Arc::new(move |url: &str, peer| {
            if url == "/status" || stop_flag.load(Ordering::SeqCst) || filter.admits(peer) {
                return true;
            }
            if let Some(not_logged) = filter.record_refusal(peer) {
                warn!(logger, "Refused an event request from a source that is not allowed to send events";
                    "source" => %peer,
                    "path" => url,
                    "allowed_sources" => %filter,
                    "refused_since_last_logged" => not_logged,
                    "refused_total" => filter.refused_requests());
            }
            false
        })
    }

    /// Whether this receiver expects mainnet events.
    pub fn is_mainnet(&self) -> bool {
        self.is_mainnet
    }

    /// The address bound by [`EventReceiver::bind`], if any.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    fn handle_request(&mut self, request: HttpRequest) -> Result<SignerEvent<T>, EventError> {
        let url = request.url.clone();
        debug!(self.logger, "event request"; "method" => &request.method, "url" => &url);
        if url == "/status" {
            let content_type = Some("text/plain; charset=UTF-8");
            if let Err(e) = request.respond(200, content_type, b"OK") {
                warn!(self.logger, "failed to answer /status"; "error" => %e);
            }
            return Ok(SignerEvent::StatusCheck);
        }
        if request.method != "POST" {
            // Dropped unanswered: the client gets 500.
            return Err(EventError::MalformedRequest(format!(
                "Unrecognized method '{}'",
                request.method
            )));
        }
        match url.as_str() {
            path if EVENT_PATHS.contains(&path) => self.process_event(request),
            "/shutdown" => {
                info!(self.logger, "event receiver told to shut down");
                self.stop_flag.store(true, Ordering::SeqCst);
                Err(EventError::Terminated)
            }
            _ => {
                respond_empty(&self.logger, request, 200);
                Err(EventError::UnrecognizedEvent(url))
            }
        }
    }

    /// Reads the body, acknowledges it, then turns it into an event ([`parse_event`]).
    fn process_event(&mut self, mut request: HttpRequest) -> Result<SignerEvent<T>, EventError> {
        let url = request.url.clone();
        let body = std::mem::replace(&mut request.body, Ok(Vec::new()));
        respond_empty(&self.logger, request, 200);
        let body = body.map_err(EventError::MalformedRequest)?;
        parse_event(&url, &body)
    }
}

/// The paths the node POSTs event bodies to: `/stackerdb_chunks`, `/proposal_response`,
/// `/new_burn_block` and `/new_block`.
pub const EVENT_PATHS: [&str; 4] = [
    "/stackerdb_chunks",
    "/proposal_response",
    "/new_burn_block",
    "/new_block",
];

/// Turns the body the node POSTed to `path` into an event, as [`SignerEventReceiver`] does
/// once it has acknowledged the request: the body must be UTF-8 JSON of the path's shape
/// ([`crate::stackerdb::StackerDBChunksEvent`], [`BlockValidateResponse`], [`BurnBlockEvent`],
/// [`StacksBlockEvent`]). A path that is not one of [`EVENT_PATHS`] (`/status` and
/// `/shutdown` carry no body and are the receiver's business) yields
/// [`EventError::UnrecognizedEvent`]. Never panics, whatever the body.
pub fn parse_event<T: SignerEventTrait>(
    path: &str,
    body: &[u8],
) -> Result<SignerEvent<T>, EventError> {
    match path {
        "/stackerdb_chunks" => decode_body::<StackerDBChunksEvent>(body)?.try_into(),
        "/proposal_response" => Ok(decode_body::<BlockValidateResponse>(body)?.into()),
        "/new_burn_block" => Ok(decode_body::<BurnBlockEvent>(body)?.into()),
        "/new_block" => Ok(decode_body::<StacksBlockEvent>(body)?.into()),
        _ => Err(EventError::UnrecognizedEvent(path.to_string())),
    }
}

/// Decodes a UTF-8 JSON event body as `B`.
fn decode_body<B: DeserializeOwned>(body: &[u8]) -> Result<B, EventError> {
    if std::str::from_utf8(body).is_err() {
        return Err(EventError::MalformedRequest("Body is not UTF-8".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| EventError::Deserialize(format!("Could not decode body to JSON: {e:?}")))
}

fn respond_empty(logger: &Logger, request: HttpRequest, status: u16) {
    if let Err(e) = request.respond(status, None, b"") {
        warn!(logger, "failed to acknowledge event"; "error" => %e);
    }
}

impl<T: SignerEventTrait> EventReceiver<T> for SignerEventReceiver<T> {
    type ST = SignerStopSignaler;

    fn logger(&self) -> Logger {
        self.logger.clone()
    }

    fn bind(&mut self, addr: SocketAddr) -> Result<SocketAddr, EventError> {
        let filter = self.source_filter.clone();
        let stop_flag = self.stop_flag.clone();
        let source = Arc::new(move |peer| {
            stop_flag.load(Ordering::SeqCst) || filter.admits_without_resolving(peer)
        });
        let server = HttpServer::bind(addr, self.admit_check(), source)?;
        let local_addr = server.local_addr();
        self.http_server = Some(server);
        self.local_addr = Some(local_addr);
        info!(self.logger, "event receiver listening"; "addr" => %local_addr);
        Ok(local_addr)
    }

    fn next_event(&mut self) -> Result<SignerEvent<T>, EventError> {
        if self.is_stopped() {
            return Err(EventError::Terminated);
        }
        let request = {
            let server = self.http_server.as_ref().ok_or(EventError::NotBound)?;
            server.recv()?
        };
        if self.is_stopped() {
            // Woken by the stop signaler (or a request that raced it): drop and stop.
            return Err(EventError::Terminated);
        }
        let result = self.handle_request(request);
        if let Err(e) = &result {
            match e {
                EventError::UnrecognizedEvent(_) | EventError::Terminated => {}
                other => match self.dropped.warn_now(std::time::Instant::now()) {
                    Some(not_logged) => {
                        warn!(self.logger, "Dropped an event request that is not a valid event";
                        "error" => %other,
                        "dropped_since_last_logged" => not_logged,
                        "note" => "further ones are logged at debug level for a minute")
                    }
                    None => {
                        debug!(self.logger, "Dropped an event request that is not a valid event"; "error" => %other)
                    }
                },
            }
        }
        result
    }

    fn add_consumer(&mut self, event_out: Sender<SignerEvent<T>>) {
        self.out_channels.push(event_out);
    }

    fn forward_event(&mut self, event: SignerEvent<T>) -> bool {
        match self.out_channels.as_slice() {
            [] => {
                error!(self.logger, "no consumer for events");
                false
            }
            [only] => only.send(event).is_ok(),
            many => many.iter().all(|out| out.send(event.clone()).is_ok()),
        }
    }

    fn is_stopped(&self) -> bool {
        self.stop_flag.load(Ordering::SeqCst)
    }

    fn get_stop_signaler(&mut self) -> Result<SignerStopSignaler, EventError> {
        let local_addr = self.local_addr.ok_or(EventError::NotBound)?;
        Ok(SignerStopSignaler::new(self.stop_flag.clone(), local_addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_flood_of_dropped_requests_is_one_warning_a_minute_with_the_count_since() {
        let mut log = DropLog::default();
        let t0 = Instant::now();
        assert_eq!(log.warn_now(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(log.warn_now(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(
            log.warn_now(t0 + DROPPED_REQUEST_WARNING_INTERVAL),
            Some(1000)
        );
        assert_eq!(log.warn_now(t0 + DROPPED_REQUEST_WARNING_INTERVAL), None);
    }
}
