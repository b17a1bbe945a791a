//! A scripted HTTP server on loopback, for what the mock node never does: answers chosen by the
//! test (malformed, inconsistent, endlessly rejecting), with every request recorded.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use libsigner::chain::StacksPrivateKey;
use stacks_signer::client::StacksClient;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Route = dyn Fn(&str, &str, &[u8]) -> (u16, String) + Send + Sync;

/// A server answering every request with `route(method, url, body)` and recording it.
pub struct Scripted {
    server: Arc<tiny_http::Server>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    /// Starts the server on a free loopback port.
    pub fn start(
        route: impl Fn(&str, &str, &[u8]) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let seen = Arc::new(Mutex::new(vec![]));
        let route: Box<Route> = Box::new(route);
        let (s, log) = (Arc::clone(&server), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            while let Ok(mut req) = s.recv() {
                let mut body = vec![];
                let _ = req.as_reader().read_to_end(&mut body);
                let method = req.method().to_string();
                let url = req.url().to_string();
                let (status, text) = route(&method, &url, &body);
                log.lock().unwrap().push(Seen {
                    method,
                    url,
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                });
                let _ =
                    req.respond(tiny_http::Response::from_string(text).with_status_code(status));
            }
        });
        Self {
            server,
            seen,
            thread: Some(thread),
        }
    }

    /// `ip:port` of the server.
    pub fn host(&self) -> String {
        self.server.server_addr().to_ip().unwrap().to_string()
    }

    /// A testnet client of this server, sending `auth` as its `Authorization` header.
    pub fn client(&self, auth: &str) -> StacksClient {
        StacksClient::new(
            &StacksPrivateKey::from_seed(b"scripted"),
            &self.host(),
            auth.into(),
            false,
            0x8000_0000,
        )
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
