//! A tiny raw HTTP/1.1 client for the network tests: one request per connection
//! (`Connection: close`), so tests control every byte sent.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed reply: status code and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `raw` as is and reads the reply until the server closes the connection.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Reply> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    exchange(stream, raw)
}

/// [`send_raw`] from a socket bound to `source` first (e.g. `127.0.0.2`: on Linux all of
/// `127.0.0.0/8` is loopback).
pub fn send_raw_from(source: IpAddr, addr: SocketAddr, raw: &[u8]) -> std::io::Result<Reply> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(10))?;
    exchange(socket.into(), raw)
}

/// [`request`] from a socket bound to `source`.
pub fn request_from(
    source: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<Reply> {
    send_raw_from(source, addr, &raw_request(addr, method, path, body))
}

fn raw_request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn exchange(mut stream: TcpStream, raw: &[u8]) -> std::io::Result<Reply> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(raw)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    parse_reply(&reply)
}

/// Sends `method path` with `body` (and a matching Content-Length).
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<Reply> {
    send_raw(addr, &raw_request(addr, method, path, body))
}

/// POSTs `body` to `path`.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> std::io::Result<Reply> {
    request(addr, "POST", path, body)
}

fn parse_reply(reply: &[u8]) -> std::io::Result<Reply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let head_end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&reply[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    Ok(Reply {
        status,
        body: reply[head_end + 4..].to_vec(),
    })
}
